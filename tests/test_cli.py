"""`inferstack plan` as a user runs it: the installed console script, a clean environment."""

from __future__ import annotations

import functools
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


@functools.cache
def once(*args: str) -> subprocess.CompletedProcess[str]:
    """``run`` for the shipped stacks, whose output does not change within a test session."""
    return run(*args)


def test_plan_json_contract() -> None:
    result = once("plan", "dev", "--json")
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


def test_verbose_plan_counts_by_cloud_and_region() -> None:
    result = once("plan", "prod", "--verbose")
    assert result.returncode == 0, result.stderr
    assert (
        "aws/us-east-1" in result.stdout
        and "aws/us-west-2" in result.stdout
        and "gcp/us-central1" in result.stdout
    )
    assert "aws:eks/nodeGroup:NodeGroup" in result.stdout
    quiet = once("plan", "prod")
    assert "aws:eks/nodeGroup:NodeGroup" not in quiet.stdout and "--verbose" in quiet.stdout


def test_dev_summary_says_it_stays_small() -> None:
    result = once("plan", "dev")
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


# --- the front door: what a person decides from, and exit codes CI can trust ----------------


def _rows(text: str, first: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.split()[:1] == [first]]


def test_default_plan_leads_with_clusters_pools_and_totals() -> None:
    result = once("plan", "prod")
    assert result.returncode == 0, result.stderr
    plan = json.loads(once("plan", "prod", "--json").stdout)
    text = result.stdout
    for cluster in plan["summary"]["clusters"]:
        row = _rows(text, cluster["name"])[0]
        assert row[:5] == [cluster["name"], cluster["cloud"], cluster["region"], cluster["role"], "private"]
    # Every pool is a row with its machine, capacity, min/desired/max and accelerators desired/max.
    pool_rows = [r for r in text.splitlines() if "on-demand" in r or " spot " in r]
    pools = [(c["name"], p) for c in plan["summary"]["clusters"] for p in c["nodePools"]]
    assert len(pool_rows) == len(pools) == 7
    for (cluster, pool), line in zip(pools, pool_rows, strict=True):
        cells = line.split()
        assert cells[:3] == [cluster, pool["name"], pool["machineType"]]
        assert f"{pool['minSize']}/{pool['desiredSize']}/{pool['maxSize']}" in cells
        if pool["accelerator"]:
            assert cells[-1] == f"{pool['acceleratorsAtDesired']}/{pool['acceleratorsAtMax']}"
    totals = plan["summary"]["accelerators"]
    assert (
        f"accelerators desired/max: {sum(totals['desired'].values())}/{sum(totals['max'].values())}" in text
    )
    assert "public name: api.inference.example.com" in text
    assert "database: Aurora global database over 2 regions" in text
    advisory = [v for v in plan["violations"] if v["enforcement"] == "advisory"]
    assert len(advisory) == len(plan["violations"])
    assert f"policy: 0 mandatory, {len(advisory)} advisory violations" in text
    cost = plan["cost"]
    assert f"cost: {cost['monthlyUsd']:,.2f} USD a month at desired scale" in text


def test_prod_can_scale_to_what_its_pools_promise() -> None:
    """The totals are the pools' arithmetic: max nodes times accelerators per node, per type."""
    plan = json.loads(once("plan", "prod", "--json").stdout)
    pools = {(c["name"], p["name"]): p for c in plan["summary"]["clusters"] for p in c["nodePools"]}
    assert pools[("core-use1", "h200")]["acceleratorsAtMax"] == 4 * 8  # p5en.48xlarge: 8x H200
    assert pools[("burst-usc1", "h200-spot")]["acceleratorsAtMax"] == 4 * 8  # a3-ultragpu-8g: 8x H200
    assert pools[("core-use1", "system")]["acceleratorsAtMax"] == 0
    assert plan["summary"]["accelerators"]["max"] == {"H200": 128}
    assert plan["summary"]["accelerators"]["desired"] == {"H200": 16}


def test_text_and_json_count_resources_the_same_way() -> None:
    text = once("plan", "dev").stdout
    summary = json.loads(once("plan", "dev", "--json").stdout)["summary"]
    assert summary["resources"] == summary["custom"] + summary["components"]
    assert (
        f"resources: {summary['resources']} registered ({summary['custom']} custom resources, "
        f"{summary['components']} components)" in text
    )


def test_cost_block_does_not_pretend_to_be_free() -> None:
    """What the tables cannot price is listed and flagged, and left out of the total rather than 0."""
    cost = json.loads(once("plan", "dev", "--json").stdout)["cost"]
    assert cost["estimated"] is True and cost["complete"] is False
    assert {i["type"] for i in cost["unpriced"]} >= {"aws:rds/clusterInstance:ClusterInstance"}
    adjustments = sum(a["monthlyUsd"] for a in cost["adjustments"])
    assert round(sum(i["monthlyUsd"] for i in cost["items"]) + adjustments, 2) == cost["monthlyUsd"]
    assert all(i["basis"] and i["urn"] for i in cost["items"])


def _stack_with_old_eks(tmp_path: Path) -> Path:
    text = (ROOT / "stacks" / "Pulumi.dev.yaml").read_text()
    assert 'kubernetesVersion: "1.35"' in text
    path = tmp_path / "Pulumi.old.yaml"
    path.write_text(text.replace('kubernetesVersion: "1.35"', 'kubernetesVersion: "1.33"', 1))
    return path


def test_warnings_are_in_the_json_with_their_resource(tmp_path: Path) -> None:
    import datetime as dt

    from infra.aws.eks import support_warning

    assert support_warning("1.33", dt.date.today()), "1.33 is still in standard support: pick another"
    path = _stack_with_old_eks(tmp_path)
    result = run("plan", "old", "--config-file", str(path), "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    [warning] = [w for w in plan["warnings"] if "EKS 1.33 left standard support" in w["message"]]
    eks = next(r for r in plan["resources"] if r["urn"] == warning["urn"])
    assert eks["type"] == "inferstack:aws:EksCluster"
    text = run("plan", "old", "--config-file", str(path))
    assert "warning: " in text.stdout and "EKS 1.33 left standard support" in text.stdout
    assert "; 2 warnings" in text.stdout  # the old EKS version, and dev's zone that nothing delegates
    # A shipped stack warns about nothing but the zone it leaves to be delegated by hand.
    [shipped] = json.loads(once("plan", "dev", "--json").stdout)["warnings"]
    assert shipped["message"].startswith("zone dev.inference.example.com is not delegated by this stack: ")


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("plan", "dev", "--config-file", "stacks"), "--config-file: 'stacks' is a directory"),
        (("plan", "dev", "--out", "stacks"), "--out: 'stacks' is a directory"),
        (("bench", "dev", "--runs", "0"), "--runs"),
        (("bench", "dev", "--runs", "-1"), "--runs"),
        (("plan",), "Missing argument 'stack'"),
        (("plan", "dev", "--bogus"), "No such option: --bogus"),
    ],
)
def test_usage_errors_exit_2_in_one_line(args: tuple[str, ...], expect: str) -> None:
    result = run(*args)
    assert result.returncode == 2, result.stderr
    line = _one_error_line(result)
    assert line.startswith("error: ") and expect in line


def test_out_file_that_cannot_be_written_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("plan", "dev", "--out", str(blocker / "plan.json"))
    assert result.returncode == 2
    assert "cannot be written" in _one_error_line(result)


def _crashing_project(tmp_path: Path) -> Path:
    """A project whose program has a bug: what a crash in inferstack's own program looks like."""
    (tmp_path / "prog").mkdir()
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text(
        "name: inferstack\nruntime: python\nmain: prog/\nstackConfigDir: stacks\n"
    )
    (tmp_path / "prog" / "__main__.py").write_text("import pulumi\n\nratio = 1 / 0\n")
    (tmp_path / "stacks" / "Pulumi.x.yaml").write_text("config: {}\n")
    return tmp_path


def test_a_crash_exits_3_in_one_line_with_the_traceback_in_a_file(tmp_path: Path) -> None:
    result = run("plan", "x", cwd=_crashing_project(tmp_path))
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    line = _one_error_line(result)
    assert line.startswith("internal error:") and "ZeroDivisionError" in line and "bug" in line
    crash = Path(line.split("the traceback is in ")[1].split(" (")[0])
    trace = crash.read_text()
    assert "Traceback" in trace and "ratio = 1 / 0" in trace
    crash.unlink()


def test_debug_shows_the_traceback_of_a_crash(tmp_path: Path) -> None:
    result = run("--debug", "plan", "x", cwd=_crashing_project(tmp_path))
    assert result.returncode == 3
    assert "Traceback" in result.stderr and "ratio = 1 / 0" in result.stderr


def test_bench_times_a_stack_and_leaves_nothing_on_stderr() -> None:
    """Several plans in one process: no loop left for the garbage collector to complain about at exit."""
    result = run("bench", "onprem", "--runs", "2")
    assert result.returncode == 0, result.stderr
    assert "onprem" in result.stdout and "overhead" in result.stdout
    assert result.stderr == ""
