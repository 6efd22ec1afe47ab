"""Checkov on the export of every stack, in one run, judged against a reviewed list of exceptions.

Checkov is installed in its own virtualenv (the Makefile's ``.venv-checkov``: its pinned
dependencies clash with this project's) and run as a subprocess, offline (``--skip-download``),
once over a directory holding every stack's Terraform plan and Kubernetes manifests: its start-up
costs more than the scan, so one run serves all stacks.

``policies/checkov-skips.yaml`` lists every failed check the stacks are allowed, each with the
stacks, a Terraform address pattern and the reason; ``fix: true`` marks the ones the program
should fix. A failure not listed, or a listed skip that no longer matches a failure, is an error.

    python -m inferstack.scan [STACK...]    # prints checks passed/failed per stack and the time
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inferstack.engine import Graph, plan_stack
from inferstack.project import find_project
from inferstack.tfplan import Export, export, load_map, manifests

CHECKOV_ENV = "INFERSTACK_CHECKOV"
"""Path of the checkov executable; the Makefile sets it to its own virtualenv's."""
SKIPS_FILE = Path(__file__).resolve().parents[1] / "policies" / "checkov-skips.yaml"
FRAMEWORKS = ("terraform_plan", "kubernetes")


class ScanError(Exception):
    """Checkov is missing or did not produce a report."""


def checkov_binary(root: Path | None = None) -> Path | None:
    """The checkov to run: ``$INFERSTACK_CHECKOV``, else the repository's ``.venv-checkov``, else PATH."""
    configured = os.environ.get(CHECKOV_ENV)
    if configured:
        return Path(configured)
    root = root or Path(__file__).resolve().parents[1]
    local = root / ".venv-checkov" / "bin" / "checkov"
    if local.exists():
        return local
    found = shutil.which("checkov")
    return Path(found) if found else None


@dataclass(frozen=True)
class Result:
    framework: str
    stack: str
    check: str
    resource: str
    """Terraform address (terraform_plan) or Checkov's ``Kind.namespace.name`` (kubernetes)."""
    passed: bool
    name: str = ""


@dataclass
class Scan:
    version: str
    seconds: float
    results: list[Result]
    exports: dict[str, Export] = field(default_factory=dict)
    manifests: dict[str, dict[str, str]] = field(default_factory=dict)

    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.passed]

    def evaluated(self, stack: str, framework: str = "terraform_plan") -> set[str]:
        return {r.resource for r in self.results if r.stack == stack and r.framework == framework}


def write_inputs(
    graphs: dict[str, Graph], directory: Path
) -> tuple[dict[str, Export], dict[str, dict[str, str]]]:
    """``<stack>.tfplan.json`` and ``k8s/<stack>/...yaml`` for each graph, in ``directory``."""
    exports: dict[str, Export] = {}
    rendered: dict[str, dict[str, str]] = {}
    for stack, graph in graphs.items():
        exports[stack] = export(graph)
        (directory / f"{stack}.tfplan.json").write_text(
            json.dumps(exports[stack].plan, indent=1), encoding="utf-8"
        )
        rendered[stack] = manifests(graph)
        for relative, text in rendered[stack].items():
            path = directory / "k8s" / stack / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return exports, rendered


def run_checkov(binary: Path, directory: Path) -> tuple[str, float, list[Result]]:
    """One checkov run over ``directory``; (version, seconds, results)."""
    if not binary.exists():
        raise ScanError(f"checkov not found at {binary}; `make checkov-venv` installs it")
    command = [str(binary), "-d", str(directory), "--framework", *FRAMEWORKS, "--skip-download", "-o", "json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=directory, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise ScanError(f"checkov exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    if "Failed to run check" in done.stderr:
        raise ScanError(f"a checkov check crashed on the export: {done.stderr.strip()[-2000:]}")
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    version = ""
    results: list[Result] = []
    for report in reports:
        framework = report.get("check_type", "")
        version = version or report.get("summary", {}).get("checkov_version", "")
        for key, passed in (("passed_checks", True), ("failed_checks", False)):
            for item in report.get("results", {}).get(key, []):
                results.append(
                    Result(
                        framework=framework,
                        stack=_stack_of(item["file_path"]),
                        check=item["check_id"],
                        resource=item["resource"],
                        passed=passed,
                        name=item.get("check_name", ""),
                    )
                )
    return version, seconds, results


def _stack_of(file_path: str) -> str:
    parts = Path(file_path.lstrip("/")).parts
    if parts and parts[0] == "k8s":
        return parts[1]
    return parts[-1].split(".")[0]


def scan(
    graphs: dict[str, Graph],
    directory: Path,
    binary: Path,
    extra_plans: dict[str, dict[str, Any]] | None = None,
) -> Scan:
    """Export ``graphs`` (and write ``extra_plans`` as they are) into ``directory``; one checkov run."""
    exports, rendered = write_inputs(graphs, directory)
    for name, plan in (extra_plans or {}).items():
        (directory / f"{name}.tfplan.json").write_text(json.dumps(plan), encoding="utf-8")
    version, seconds, results = run_checkov(binary, directory)
    return Scan(version=version, seconds=seconds, results=results, exports=exports, manifests=rendered)


# ---------------------------------------------------------------------------------------------
# the reviewed exceptions


@dataclass(frozen=True)
class Skip:
    check: str
    resource: str
    stacks: tuple[str, ...]
    reason: str
    fix: bool

    def matches(self, result: Result) -> bool:
        return (
            result.check == self.check
            and result.stack in self.stacks
            and fnmatch.fnmatchcase(result.resource, self.resource)
        )


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Skip(
            check=row["check"],
            resource=row["resource"],
            stacks=tuple(row["stacks"]),
            reason=" ".join(str(row["reason"]).split()),
            fix=bool(row.get("fix", False)),
        )
        for row in raw["skips"]
    ]


def unlisted(failures: list[Result], skips: list[Skip]) -> list[Result]:
    return [f for f in failures if not any(s.matches(f) for s in skips)]


def stale(failures: list[Result], skips: list[Skip], stacks: set[str]) -> list[tuple[Skip, str]]:
    """(skip, stack) pairs among the scanned stacks that match no failure: the list must not rot."""
    return [
        (skip, stack)
        for skip in skips
        for stack in skip.stacks
        if stack in stacks and not any(skip.matches(f) for f in failures if f.stack == stack)
    ]


def unevaluated(result: Scan) -> dict[str, list[str]]:
    """Exported resources no check evaluated and that the mapping table does not mark unscanned."""
    table = load_map()
    missing: dict[str, list[str]] = {}
    for stack, exported in result.exports.items():
        seen = result.evaluated(stack)
        gaps = [a for a in exported.addresses.values() if a not in seen and a not in exported.unscanned]
        for relative, text in result.manifests.get(stack, {}).items():
            doc = yaml.safe_load(text)
            kind = doc["kind"]
            if table.kubernetes.get(kind, {}).get("unscanned"):
                continue
            meta = doc.get("metadata", {})
            ident = f"{kind}.{meta.get('namespace', 'default')}.{meta.get('name')}"
            if ident not in result.evaluated(stack, "kubernetes"):
                gaps.append(f"{relative} ({ident})")
        if gaps:
            missing[stack] = sorted(gaps)
    return missing


# ---------------------------------------------------------------------------------------------
# python -m inferstack.scan


def main(argv: list[str] | None = None) -> int:
    import tempfile

    project = find_project()
    stacks = (argv if argv is not None else sys.argv[1:]) or project.stacks()
    binary = checkov_binary(project.root)
    if binary is None:
        print("error: checkov not found; `make checkov-venv` installs it", file=sys.stderr)
        return 2
    graphs = {stack: plan_stack(stack, project=project) for stack in stacks}
    bootstrap_dir = project.root / "bootstrap"
    if not (argv if argv is not None else sys.argv[1:]) and (bootstrap_dir / "Pulumi.yaml").is_file():
        # The bootstrap project's stacks (state bucket, secrets keys, CI roles), as bootstrap-<stack>.
        boot = find_project(bootstrap_dir)
        for name in boot.stacks():
            graphs[f"bootstrap-{name}"] = plan_stack(name, project=boot)
        stacks = list(graphs)
    with tempfile.TemporaryDirectory(prefix="inferstack-checkov-") as tmp:
        result = scan(graphs, Path(tmp), binary)
    skips = load_skips()
    failures = result.failures()
    width = max(10, *(len(s) for s in stacks))
    print(f"checkov {result.version}: one run over {len(stacks)} stacks in {result.seconds:.1f}s")
    print(
        f"{'stack':<{width}} {'resources':>9} {'unscanned':>9} {'passed':>7} {'failed':>7} {'listed':>7} {'checks':>7}"
    )
    for stack in stacks:
        mine = [r for r in result.results if r.stack == stack]
        failed = [r for r in mine if not r.passed]
        listed = [r for r in failed if any(s.matches(r) for s in skips)]
        exported = result.exports[stack]
        print(
            f"{stack:<{width}} {len(exported.addresses) + len(result.manifests[stack]):>9} "
            f"{len(exported.unscanned):>9} {len(mine) - len(failed):>7} {len(failed):>7} {len(listed):>7} "
            f"{len({r.check for r in mine}):>7}"
        )
    distinct = Counter(r.check for r in failures)
    print(
        f"failed checks: {len(distinct)} distinct, {len(failures)} results; skip list: {len(skips)} entries"
    )
    problems = 0
    for r in unlisted(failures, skips):
        problems += 1
        print(f"not listed: {r.stack} {r.check} {r.resource} ({r.name})")
    for skip, stack in stale(failures, skips, set(stacks)):
        problems += 1
        print(f"stale skip: {skip.check} {skip.resource} no longer fails on {stack}")
    for stack, gaps in unevaluated(result).items():
        for gap in gaps:
            problems += 1
            print(f"not evaluated by any check: {stack} {gap}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
