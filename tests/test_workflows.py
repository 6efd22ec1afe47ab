"""The GitHub workflows, checked offline: valid against GitHub's schema, clean under zizmor, every
stack file previewed, applied and drift-checked, the README's commands, and every action pinned.

Nothing here can run a workflow; what a test can hold is what the workflows say. check-jsonschema
carries GitHub's workflow schema (SchemaStore's, vendored in the package) and zizmor's offline
audits need no network, so both run here as they would anywhere.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
STACKS = sorted(
    p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (ROOT / "stacks").glob("Pulumi.*.yaml")
)
BIN = Path(sys.executable).parent
PULUMI_ACTION = "pulumi/actions"
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*?))?\s*$")
PINNED = re.compile(r"^(?P<action>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?:/[^@]+)?@(?P<sha>[0-9a-f]{40})$")
ENVIRONMENT_ORDER = ["dev", "staging", "prod"]


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


def workflow(name: str) -> dict[str, Any]:
    return load(GITHUB / "workflows" / name)


def triggers(data: dict[str, Any]) -> dict[str, Any]:
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    on = data.get("on", data.get(True))
    return on if isinstance(on, dict) else {str(on): None}


def jobs(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return data["jobs"]


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def all_steps() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in WORKFLOWS:
        for name, job in jobs(load(path)).items():
            for step in steps(job):
                yield f"{path.name}:{name}", step
    for path in ACTIONS:
        for step in load(path)["runs"]["steps"]:
            yield str(path.relative_to(ROOT)), step


def action_of(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@")[0]


def matrix_stacks(job: dict[str, Any]) -> list[str]:
    return list(job["strategy"]["matrix"]["stack"])


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, cwd=ROOT)


def test_the_files_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"pull-request.yml", "deploy.yml", "up.yml", "drift.yml"} <= names
    assert STACKS, "no stack files"


# --- schema and zizmor ---------------------------------------------------------------------------


def test_workflows_validate_against_githubs_schema() -> None:
    result = run(
        str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actions_and_dependabot_validate_against_their_schemas() -> None:
    assert ACTIONS
    actions = run(
        str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-actions", *map(str, ACTIONS)
    )
    assert actions.returncode == 0, actions.stdout + actions.stderr
    dependabot = run(
        str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(GITHUB / "dependabot.yml")
    )
    assert dependabot.returncode == 0, dependabot.stdout + dependabot.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    steps:\n      - run: true\n    timeout-minutes: soon\n")
    result = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken))
    assert result.returncode != 0


def zizmor_findings(*paths: Path) -> list[dict[str, Any]]:
    result = run(
        str(BIN / "zizmor"), "--offline", "--format", "json", "--min-severity", "medium", *map(str, paths)
    )
    assert result.stdout.strip().startswith("["), result.stderr
    return json.loads(result.stdout)


def test_zizmor_finds_nothing_at_medium_or_above() -> None:
    findings = zizmor_findings(GITHUB)
    assert findings == [], [(f["ident"], f["desc"], f["locations"][0]["symbolic"]["key"]) for f in findings]


def test_zizmor_catches_what_these_workflows_avoid(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request_target\n"
        "permissions: {}\n"
        "jobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    found = {f["ident"] for f in zizmor_findings(bad)}
    assert {"dangerous-triggers", "template-injection", "unpinned-uses", "artipacked"} <= found


# --- every stack: preview, up, drift -------------------------------------------------------------


def pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(job) if action_of(s) == PULUMI_ACTION and "command" in s.get("with", {})]


def test_every_stack_file_has_a_preview_job() -> None:
    preview = jobs(workflow("pull-request.yml"))["preview"]
    assert sorted(matrix_stacks(preview)) == STACKS
    [step] = pulumi_steps(preview)
    assert step["with"]["command"] == "preview"
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert step["with"]["policyPacks"] == "policies"
    assert step["with"]["comment-on-pr"] is True


def up_calls() -> dict[str, dict[str, Any]]:
    return {
        name: job
        for name, job in jobs(workflow("deploy.yml")).items()
        if job.get("uses") == "./.github/workflows/up.yml"
    }


def test_every_stack_file_has_an_up_job() -> None:
    calls = up_calls()
    assert sorted(job["with"]["stack"] for job in calls.values()) == STACKS
    [up] = jobs(workflow("up.yml")).values()
    [step] = pulumi_steps(up)
    assert step["with"]["command"] == "up"
    assert step["with"]["stack-name"] == "${{ inputs.stack }}"
    assert step["with"]["policyPacks"] == "policies"


def test_every_stack_file_has_a_drift_job() -> None:
    drift = jobs(workflow("drift.yml"))
    assert sorted(matrix_stacks(drift["detect"])) == STACKS
    assert sorted(matrix_stacks(drift["report"])) == STACKS
    [preview] = [s for s in steps(drift["detect"]) if "pulumi preview" in s.get("run", "")]
    assert preview["env"]["STACK"] == "${{ matrix.stack }}"
    assert '--stack "$STACK" --refresh --expect-no-changes --json' in preview["run"]
    [report] = [s for s in steps(drift["report"]) if "inferstack.drift" in s.get("run", "")]
    assert report["env"]["STACK"] == "${{ matrix.stack }}"
    assert "schedule" in triggers(workflow("drift.yml"))


def stack_environment(stack: str) -> str:
    return load(ROOT / "stacks" / f"Pulumi.{stack}.yaml")["config"]["environment"]


def test_each_up_runs_in_the_github_environment_of_its_stacks_environment() -> None:
    """The deploy role of an environment trusts only jobs bound to the GitHub environment of that name."""
    calls = up_calls()
    assert calls
    for job in calls.values():
        assert job["with"]["environment"] == stack_environment(job["with"]["stack"]), job["with"]
    [up] = jobs(workflow("up.yml")).values()
    assert up["environment"] == "${{ inputs.environment }}"


def needed(name: str, calls: dict[str, dict[str, Any]]) -> set[str]:
    direct = set(calls[name].get("needs", []))
    return direct.union(*(needed(n, calls) for n in direct)) if direct else set()


def test_up_goes_dev_then_staging_then_prod() -> None:
    calls = up_calls()
    rank = {name: ENVIRONMENT_ORDER.index(job["with"]["environment"]) for name, job in calls.items()}
    assert sorted(set(rank.values())) == [0, 1, 2]
    for name in calls:
        earlier = {other for other in calls if rank[other] < rank[name]}
        assert earlier <= needed(name, calls), f"{name} does not wait for {earlier - needed(name, calls)}"


def test_one_up_per_stack_at_a_time_and_none_cancelled() -> None:
    [up] = jobs(workflow("up.yml")).values()
    assert up["concurrency"] == {"group": "pulumi-${{ inputs.stack }}", "cancel-in-progress": False}
    assert list(triggers(workflow("deploy.yml"))) == ["push"]
    assert triggers(workflow("deploy.yml"))["push"] == {"branches": ["main"]}


def test_the_bootstrap_project_is_not_applied_by_ci() -> None:
    for where, step in all_steps():
        assert "bootstrap" not in str(step.get("run", "")), where
        assert "work-dir" not in step.get("with", {}), where


def test_the_jobs_that_reach_the_clusters_run_on_the_deploy_runner() -> None:
    runner = "codebuild-inferstack-deploy-${{ github.run_id }}-${{ github.run_attempt }}"
    reaching = [
        jobs(workflow("pull-request.yml"))["preview"],
        *jobs(workflow("up.yml")).values(),
        jobs(workflow("drift.yml"))["detect"],
    ]
    assert [job["runs-on"] for job in reaching] == [runner] * 3


# --- the README's commands -----------------------------------------------------------------------

README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_COMMANDS = re.compile(r"<!-- commands the workflows run -->\n```sh\n(?P<body>.*?)```", re.DOTALL)


def readme_ci_commands() -> list[str]:
    match = CI_COMMANDS.search(README)
    assert match, "README.md has no block of the commands the workflows run"
    return [line.split("#")[0].strip() for line in match["body"].splitlines() if line.strip()]


def rendered(step: dict[str, Any]) -> str:
    """A pulumi/actions step as the command line the action runs."""
    w = step["with"]
    words = ["pulumi", w["command"], "--stack", str(w["stack-name"]).replace(" ", "")]
    words += ["--refresh"] if w.get("refresh") else []
    words += [f"--policy-pack {p}" for p in str(w.get("policyPacks", "")).split()]
    configs = str(w.get("policyPackConfigs", "")).splitlines()
    words += [f"--policy-pack-config {c.replace(' ', '')}" for c in configs if c.strip()]
    words += ["--diff"] if w.get("diff") else []
    words += ["--expect-no-changes"] if w.get("expect-no-changes") else []
    return " ".join(words)


def workflow_commands() -> list[list[str]]:
    commands: list[str] = []
    for _, step in all_steps():
        if "run" in step:
            commands += str(step["run"]).replace("\\\n", " ").splitlines()
        if action_of(step) == PULUMI_ACTION and "command" in step.get("with", {}):
            commands.append(rendered(step))
    words = []
    for command in commands:
        try:
            split = shlex.split(command, comments=True)
        except ValueError:
            split = command.split()
        words.append([w.removeprefix(".venv/bin/") for w in split])
    return words


def is_run(command: str, commands: list[list[str]]) -> bool:
    """The command's words, in order, in one workflow command; upper-case words stand for any word."""
    want = command.split()
    for have in commands:
        for i in range(len(have) - len(want) + 1):
            if all(w.isupper() or w == h for w, h in zip(want, have[i : i + len(want)], strict=True)):
                return True
    return False


def test_the_readme_lists_the_commands_the_workflows_run() -> None:
    listed = readme_ci_commands()
    assert {"make test", "make checkov"} <= set(listed)
    assert any(c.startswith("pulumi up") for c in listed) and any(
        c.startswith("pulumi preview") for c in listed
    )
    commands = workflow_commands()
    assert [c for c in listed if not is_run(c, commands)] == []


def test_the_command_matcher_refuses_what_no_workflow_runs() -> None:
    commands = workflow_commands()
    assert is_run("pulumi up --stack STACK --policy-pack policies", commands)
    assert not is_run("pulumi up --stack STACK --policy-pack elsewhere", commands)
    assert not is_run("pulumi destroy --stack STACK", commands)


def make_recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{target}:.*\n\t(?P<recipe>.+)$", text, re.MULTILINE)
    assert match, target
    return match["recipe"].replace("$(STACK)", "STACK").replace("$(POLICY_CONFIG)", "POLICY_CONFIG")


@pytest.mark.parametrize("target", ["preview", "up"])
def test_ci_previews_and_applies_as_the_readmes_real_path_does(target: str) -> None:
    """`make preview` / `make up` (the README's real path) and the workflows run the same command."""
    assert is_run(make_recipe(target), workflow_commands())


def test_the_pull_request_job_runs_the_readmes_test_command_and_plans_every_stack() -> None:
    offline = jobs(workflow("pull-request.yml"))["offline"]
    runs = [str(s.get("run", "")) for s in steps(offline)]
    assert "make test" in runs
    [plan] = [r for r in runs if '--out "out/plans/$STACK.json"' in r]
    assert "for file in stacks/Pulumi.*.yaml" in plan and "inferstack plan" in plan
    assert 'exit "$status"' in plan  # a stack with a mandatory violation fails the job
    [upload] = [s for s in steps(offline) if action_of(s) == "actions/upload-artifact"]
    assert upload["with"]["path"] == "out/"


def test_the_cost_diff_runs_only_where_the_command_exists() -> None:
    offline = jobs(workflow("pull-request.yml"))["offline"]
    [probe] = [s for s in steps(offline) if s.get("id") == "cost"]
    assert "inferstack cost --help" in probe["run"]
    [diff] = [s for s in steps(offline) if "--against" in str(s.get("run", ""))]
    assert diff["if"] == "steps.cost.outputs.available == 'true'"


# --- hygiene -------------------------------------------------------------------------------------


def uses_lines() -> list[tuple[str, str, str | None]]:
    found = []
    for path in [*WORKFLOWS, *ACTIONS]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if m := USES.match(line):
                found.append((path.name, m["ref"], m["comment"]))
    return found


def test_every_action_is_pinned_by_commit_with_its_version() -> None:
    lines = uses_lines()
    in_yaml = [s["uses"] for _, s in all_steps() if "uses" in s] + [
        job["uses"] for path in WORKFLOWS for job in jobs(load(path)).values() if "uses" in job
    ]
    assert sorted(ref for _, ref, _ in lines) == sorted(in_yaml)  # every uses: line was read
    remote = [(f, ref, comment) for f, ref, comment in lines if not ref.startswith("./")]
    assert remote
    versions: dict[str, set[str]] = {}
    for file, ref, comment in remote:
        assert PINNED.match(ref), f"{file}: {ref} is not pinned by a full commit SHA"
        assert comment and re.fullmatch(r"v\d+\.\d+\.\d+", comment), f"{file}: {ref} has no version comment"
        versions.setdefault(ref, set()).add(comment)
    assert {ref: v for ref, v in versions.items() if len(v) > 1} == {}, "one SHA, two versions"


def test_the_pin_check_refuses_tags_and_short_shas() -> None:
    assert not PINNED.match("actions/checkout@v7.0.1")
    assert not PINNED.match("actions/checkout@3d3c42e")
    assert PINNED.match("actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1")


def test_no_workflow_runs_on_pull_request_target() -> None:
    for path in WORKFLOWS:
        assert "pull_request_target" not in triggers(load(path)), path.name
        assert "pull_request_target" not in path.read_text(encoding="utf-8").split("\njobs:")[1], path.name


def test_permissions_are_empty_by_default_and_granted_per_job() -> None:
    for path in WORKFLOWS:
        data = load(path)
        assert data["permissions"] == {}, path.name
        for name, job in jobs(data).items():
            assert isinstance(job.get("permissions"), dict), f"{path.name}:{name}"
            assert set(job["permissions"].values()) <= {"read", "write"}


def test_only_the_jobs_that_need_them_hold_write_permissions() -> None:
    granted = {
        (path.name, name, scope)
        for path in WORKFLOWS
        for name, job in jobs(load(path)).items()
        for scope, level in job["permissions"].items()
        if level == "write"
    }
    assert granted == {
        ("pull-request.yml", "preview", "id-token"),
        ("pull-request.yml", "preview", "pull-requests"),
        ("up.yml", "up", "id-token"),
        ("deploy.yml", "up-dev", "id-token"),
        ("deploy.yml", "up-staging", "id-token"),
        ("deploy.yml", "up-onprem", "id-token"),
        ("deploy.yml", "up-prod", "id-token"),
        ("drift.yml", "detect", "id-token"),
        ("drift.yml", "report", "issues"),
    }


def test_every_job_has_a_timeout() -> None:
    for path in WORKFLOWS:
        for name, job in jobs(load(path)).items():
            if "uses" in job:
                continue  # a called workflow's jobs carry their own timeouts
            assert isinstance(job.get("timeout-minutes"), int), f"{path.name}:{name}"


def test_no_untrusted_input_is_interpolated_into_a_shell() -> None:
    untrusted = re.compile(r"\$\{\{\s*(github\.event\.|github\.head_ref|inputs\.)")
    runs = [(where, str(step["run"])) for where, step in all_steps() if "run" in step]
    assert runs
    assert [where for where, script in runs if untrusted.search(script)] == []


def test_checkouts_do_not_keep_the_token() -> None:
    checkouts = [(w, s) for w, s in all_steps() if action_of(s) == "actions/checkout"]
    assert checkouts
    assert [w for w, s in checkouts if s.get("with", {}).get("persist-credentials") is not False] == []


def test_real_previews_run_only_for_branches_of_this_repository() -> None:
    preview = jobs(workflow("pull-request.yml"))["preview"]
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert "environment" not in preview  # the preview role trusts the pull_request subject


def test_pip_caches_are_keyed_on_the_dependency_files() -> None:
    setups = [(w, s) for w, s in all_steps() if action_of(s) == "actions/setup-python"]
    assert setups
    for where, step in setups:
        assert step["with"]["cache"] == "pip", where
        keys = str(step["with"]["cache-dependency-path"]).split()
        assert keys and all((ROOT / k).is_file() for k in keys), (where, keys)
        assert any(k == "pyproject.toml" or k.endswith(".txt") for k in keys), (where, keys)


def test_dependabot_keeps_every_pin_fresh() -> None:
    updates = {u["package-ecosystem"]: u for u in load(GITHUB / "dependabot.yml")["updates"]}
    assert set(updates) == {"github-actions", "pip"}
    assert {"/", "/.github/actions/*"} <= set(updates["github-actions"]["directories"])
    files = [ROOT / "pyproject.toml", *ROOT.glob("*/requirements*.txt"), *GITHUB.glob("requirements*.txt")]
    dirs = {"/" + p.parent.relative_to(ROOT).as_posix() if p.parent != ROOT else "/" for p in files}
    assert {"/", "/policies", "/.github"} <= dirs
    assert dirs <= set(updates["pip"]["directories"])


def test_the_zizmor_job_runs_online_with_the_pinned_version() -> None:
    zizmor = jobs(workflow("pull-request.yml"))["zizmor"]
    [audit] = [s for s in steps(zizmor) if str(s.get("run", "")).startswith("zizmor ")]
    assert "--offline" not in audit["run"] and audit["env"]["GH_TOKEN"] == "${{ github.token }}"
    pinned = (GITHUB / "requirements-zizmor.txt").read_text().strip()
    assert re.fullmatch(r"zizmor==\d+\.\d+\.\d+", pinned)


def test_shell_steps_fail_on_a_failure_inside_a_pipeline() -> None:
    """Without a shell named, GitHub runs `bash -e`, and `plan | tee` would hide the plan's failure."""
    with_runs = [
        path for path in WORKFLOWS if any("run" in s for j in jobs(load(path)).values() for s in steps(j))
    ]
    assert with_runs
    for path in with_runs:
        assert load(path).get("defaults", {}).get("run", {}).get("shell") == "bash", path.name
    for path in ACTIONS:
        assert all(s.get("shell") == "bash" for s in load(path)["runs"]["steps"] if "run" in s), path
