"""`inferstack plan` as a user runs it: the installed console script, a clean environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = Path(sys.executable).parent / "inferstack"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # Nothing from this test process leaks in: no PYTHONPATH, no pytest sys.path, a bare PATH.
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "COLUMNS": "200",
    }
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_plan_json_contract() -> None:
    result = run("plan", "dev", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert set(plan) >= {"project", "stack", "resources", "outputs", "violations", "cost", "summary"}
    assert plan["project"] == "inferstack" and plan["stack"] == "dev"
    urns = [r["urn"] for r in plan["resources"]]
    assert urns == sorted(urns)
    for r in plan["resources"]:
        assert set(r) >= {"urn", "type", "name", "parent", "provider", "custom", "inputs", "dependencies"}
    assert plan["summary"]["resources"] == len(plan["resources"])
    assert plan["cost"].keys() >= {"monthlyUsd", "items"}


def test_plan_summary_reads_by_cloud_and_region() -> None:
    result = run("plan", "prod")
    assert result.returncode == 0, result.stderr
    assert (
        "aws/us-east-1" in result.stdout
        and "aws/us-west-2" in result.stdout
        and "gcp/us-central1" in result.stdout
    )


def test_dev_summary_says_it_stays_small() -> None:
    result = run("plan", "dev")
    assert result.returncode == 0, result.stderr
    assert "database: single-region Aurora, no global database: us-east-1 (1 instance)" in result.stdout
    assert "cache: us-east-1: 1 node, no failover" in result.stdout
    assert "network: us-east-1: 1 NAT gateway" in result.stdout


def test_plan_from_a_subdirectory_finds_the_project(tmp_path: Path) -> None:
    result = run("plan", "dev", "--json", cwd=ROOT / "stacks")
    assert result.returncode == 0, result.stderr


def test_out_file(tmp_path: Path) -> None:
    target = tmp_path / "plans" / "dev.json"
    result = run("plan", "dev", "--out", str(target))
    assert result.returncode == 0, result.stderr
    assert json.loads(target.read_text())["stack"] == "dev"


BROKEN = {
    "invalid yaml": ("config:\n  environment: [dev\n", "invalid YAML"),
    "min above max": (None, "inferstack:clusters[0].nodePools[0].minSize"),
    "typed key of wrong type": (None, "inferstack:logRetentionDays"),
}


def _broken_file(tmp_path: Path, case: str) -> Path:
    text = (ROOT / "stacks" / "Pulumi.dev.yaml").read_text()
    if case == "invalid yaml":
        text = BROKEN[case][0]
    elif case == "min above max":
        text = text.replace("minSize: 1\n          maxSize: 3", "minSize: 5\n          maxSize: 3", 1)
    else:
        text = text.replace("logRetentionDays: 7", "logRetentionDays: [7]")
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", list(BROKEN))
def test_bad_stack_file_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    path = _broken_file(tmp_path, case)
    result = run("plan", "broken", "--config-file", str(path), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(path.name) in lines[0] and BROKEN[case][1] in lines[0]


def test_unknown_stack_exits_2() -> None:
    result = run("plan", "nosuchstack")
    assert result.returncode == 2
    assert "Pulumi.nosuchstack.yaml" in result.stderr and "Traceback" not in result.stderr


def test_program_runs_without_the_repository_on_sys_path(tmp_path: Path) -> None:
    """The host puts only infra/ first on sys.path; `infra` must come from the installed project."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys, runpy\n"
        f"assert {str(ROOT)!r} not in sys.path\n"
        "import infra.settings, inferstack.engine\n"
        "print('ok')\n"
    )
    python = shutil.which("python", path=str(SCRIPT.parent))
    assert python
    result = subprocess.run(
        [python, str(probe)], cwd=tmp_path, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert result.returncode == 0, result.stderr
