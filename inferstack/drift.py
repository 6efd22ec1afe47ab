"""Tells drift from failure in a scheduled ``pulumi preview --refresh --expect-no-changes --json``,
and keeps one GitHub issue per stack that says whether the stack has drifted.

The preview's exit code cannot tell the two apart: it is non-zero both when the refreshed state
differs from what the program declares (drift) and when the preview itself failed (expired
credentials, an unreachable cluster, a program error). Its JSON can. ``pulumi preview --json``
prints one ``PreviewDigest`` (pulumi/pulumi ``sdk/go/common/display``: ``steps``, ``diagnostics``,
``changeSummary``) once the engine's event stream ends, before the CLI returns the
``--expect-no-changes`` error ("no changes were expected but changes were proposed",
``pkg/cmd/pulumi/operations/preview.go``), so a finished preview always leaves it on stdout.
(Recent CLIs also exit 7, ``ExitNoChanges``, for that error and 255 or others for failures; older
ones exit 255 for both, so the exit code is only used where the JSON leaves no doubt.)

- **drift**: the digest lists changes (the engine's own test, ``engine.HasChanges``: any step
  other than ``same``, ``read``, ``discard`` and ``read-replacement``) and no error diagnostic;
- **failure**: no digest, an error diagnostic (the preview stopped part-way, so its change list
  is incomplete), or a non-zero exit with no change to explain it;
- **clean**: exit 0 and no change.

On drift the stack's issue is opened, or its body replaced with the current changes; when the
stack is clean again it is closed with a comment. A failure leaves the issue as it is (a failed
preview says nothing about drift) and exits 1, so that the scheduled run shows red.

Run by .github/workflows/drift.yml with ``gh`` (GITHUB_TOKEN, ``issues: write``)::

    python -m inferstack.drift --stack dev --preview preview.json --exit-code 255 \\
        --repo owner/name --run-url https://github.com/owner/name/actions/runs/1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

LABEL = "drift"
NOT_CHANGES = frozenset({"same", "read", "discard", "read-replacement"})
"""Step operations that change nothing (pulumi/pulumi ``pkg/engine/update.go``, ``HasChanges``)."""
MAX_LISTED = 50
"""An issue body lists at most this many changed resources; the rest are counted."""

Kind = Literal["clean", "drift", "failure"]
Gh = Callable[[Sequence[str], str | None], str]
"""Runs ``gh ARGS`` with optional stdin and returns its stdout; raises on a non-zero exit."""


@dataclass(frozen=True)
class Change:
    op: str
    urn: str
    diff: tuple[str, ...] = ()

    @property
    def resource(self) -> str:
        """``type name`` from the URN's last two parts, which is what a reader looks for."""
        parts = self.urn.split("::")
        if len(parts) >= 4:
            return f"{parts[-2].split('$')[-1]} {parts[-1]}"
        return self.urn


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reason: str
    summary: Mapping[str, int] = field(default_factory=dict)
    changes: tuple[Change, ...] = ()


def classify(stdout: str, exit_code: int) -> Verdict:
    """What the preview found: drift, a clean stack, or a failure that says nothing about drift."""
    try:
        digest = json.loads(stdout) if stdout.strip() else None
    except json.JSONDecodeError:
        digest = None
    if not isinstance(digest, dict):
        return Verdict("failure", f"the preview printed no JSON digest (exit code {exit_code})")
    errors = [
        str(d.get("message", "")).strip()
        for d in digest.get("diagnostics") or []
        if isinstance(d, dict) and d.get("severity") == "error"
    ]
    if errors:
        return Verdict("failure", f"the preview reported {len(errors)} error(s); first: {errors[0]}")
    summary = {str(op): int(n) for op, n in (digest.get("changeSummary") or {}).items()}
    changed = {op: n for op, n in summary.items() if op not in NOT_CHANGES and n > 0}
    changes = tuple(
        Change(str(s.get("op")), str(s.get("urn")), tuple(map(str, s.get("diffReasons") or ())))
        for s in digest.get("steps") or []
        if isinstance(s, dict) and s.get("op") not in NOT_CHANGES
    )
    if changed:
        counts = ", ".join(f"{n} to {op}" for op, n in sorted(changed.items()))
        return Verdict("drift", f"the refreshed state differs from the program: {counts}", summary, changes)
    if exit_code != 0:
        return Verdict("failure", f"the preview exited {exit_code} and proposed no change", summary)
    return Verdict("clean", "no change proposed", summary)


def title(stack: str) -> str:
    return f"Drift in stack {stack}"


def issue_body(stack: str, verdict: Verdict, run_url: str) -> str:
    lines = [
        f"The scheduled `pulumi preview --refresh --expect-no-changes` of stack `{stack}` found drift: "
        f"{verdict.reason}.",
        "",
        f"Run: {run_url}",
        "",
        "| operation | resource | properties |",
        "|---|---|---|",
    ]
    for change in verdict.changes[:MAX_LISTED]:
        lines.append(f"| {change.op} | `{change.resource}` | {', '.join(change.diff) or '-'} |")
    if len(verdict.changes) > MAX_LISTED:
        lines.append(f"| ... | {len(verdict.changes) - MAX_LISTED} more in the run's log | |")
    lines += [
        "",
        "Either bring the program in line with the change made outside it, or run `pulumi up` "
        "to undo it. This issue is closed by the first scheduled run that finds no drift.",
    ]
    return "\n".join(lines) + "\n"


def open_issue(gh: Gh, repo: str, stack: str) -> int | None:
    """The number of the stack's open drift issue, matched by exact title among the label's issues."""
    listed = gh(
        [
            "issue", "list", "--repo", repo, "--label", LABEL, "--state", "open",
            "--limit", "200", "--json", "number,title",
        ],
        None,
    )  # fmt: skip
    for issue in json.loads(listed or "[]"):
        if issue.get("title") == title(stack):
            return int(issue["number"])
    return None


def report(gh: Gh, *, repo: str, stack: str, verdict: Verdict, run_url: str) -> str:
    """Open, update or close the stack's drift issue; say what was done."""
    if verdict.kind == "failure":
        return f"{stack}: preview failed, drift issue left as it is: {verdict.reason}"
    if verdict.kind == "drift":
        # Before the listing too: `gh issue create --label` refuses a label the repository lacks.
        gh(
            [
                "label", "create", LABEL, "--repo", repo, "--force", "--color", "d93f0b",
                "--description", "A stack differs from what its program declares",
            ],
            None,
        )  # fmt: skip
    number = open_issue(gh, repo, stack)
    if verdict.kind == "clean":
        if number is None:
            return f"{stack}: no drift"
        gh(
            ["issue", "close", str(number), "--repo", repo, "--comment", f"No drift any more ({run_url})."],
            None,
        )
        return f"{stack}: no drift, closed #{number}"
    body = issue_body(stack, verdict, run_url)
    if number is not None:
        gh(["issue", "edit", str(number), "--repo", repo, "--body-file", "-"], body)
        return f"{stack}: drift, updated #{number}"
    gh(
        ["issue", "create", "--repo", repo, "--title", title(stack), "--label", LABEL, "--body-file", "-"],
        body,
    )
    return f"{stack}: drift, opened an issue"


def run_gh(args: Sequence[str], stdin: str | None) -> str:
    result = subprocess.run(["gh", *args], input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"gh {' '.join(args[:2])} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def main(argv: Sequence[str] | None = None, gh: Gh = run_gh) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m inferstack.drift", description="Open, update or close a stack's drift issue."
    )
    parser.add_argument("--stack", required=True)
    parser.add_argument("--preview", required=True, type=Path, help="stdout of pulumi preview --json")
    parser.add_argument("--exit-code", required=True, type=int, help="the preview's exit code")
    parser.add_argument("--repo", required=True, help="owner/name")
    parser.add_argument("--run-url", required=True)
    args: Any = parser.parse_args(argv)
    stdout = args.preview.read_text(encoding="utf-8") if args.preview.is_file() else ""
    verdict = classify(stdout, args.exit_code)
    print(report(gh, repo=args.repo, stack=args.stack, verdict=verdict, run_url=args.run_url))
    return 1 if verdict.kind == "failure" else 0


if __name__ == "__main__":
    sys.exit(main())
