"""`inferstack check --graph F`: a saved plan judged again by the same guards, with the same exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import once, run


@pytest.fixture(scope="module")
def prod_plan() -> dict:
    result = once("plan", "prod", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_clean_saved_plan_passes(tmp_path: Path, prod_plan: dict) -> None:
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(prod_plan))
    result = run("check", "--graph", str(path), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [v for v in out["violations"] if v["enforcement"] == "mandatory"] == []
    assert out["degraded"] == []


@pytest.mark.parametrize("form", ["plan", "resources"])
def test_a_broken_saved_graph_exits_1_naming_the_resource(tmp_path: Path, prod_plan: dict, form: str) -> None:
    plan = json.loads(json.dumps(prod_plan))
    clusters = [r for r in plan["resources"] if r["type"] == "aws:eks/cluster:Cluster"]
    assert len(clusters) == 2
    broken = clusters[0]
    broken["inputs"]["vpcConfig"].update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(plan if form == "plan" else plan["resources"]))
    result = run("check", "--graph", str(path), "--json")
    assert result.returncode == 1, result.stderr
    [violation] = [v for v in json.loads(result.stdout)["violations"] if v["enforcement"] == "mandatory"]
    assert violation["urn"] == broken["urn"] and violation["enforcement"] == "mandatory"
    text = run("check", "--graph", str(path))
    assert text.returncode == 1
    # Grouped by severity, naming the rule, the resource, the rule id and the fix.
    assert text.stdout.startswith("critical (1)\n")
    assert f"mandatory eks-endpoint-private: aws:eks/cluster:Cluster {broken['name']}" in text.stdout
    assert "(S2)" in text.stdout and "\n    fix: " in text.stdout


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        ("{not json", "invalid JSON"),
        ('{"x": 1}', "neither a plan"),
        ('[{"urn": "u", "type": "t", "name": "n", "custom": "yes", "inputs": {}}]', "resources[0].custom"),
        ("[3]", "resources[0]: int"),
    ],
)
def test_a_file_that_is_no_graph_exits_2_in_one_line(tmp_path: Path, content: str, expect: str) -> None:
    path = tmp_path / "g.json"
    path.write_text(content)
    result = run("check", "--graph", str(path))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(path) in lines[0] and expect in lines[0]


def test_a_missing_or_directory_graph_exits_2(tmp_path: Path) -> None:
    assert run("check", "--graph", str(tmp_path / "none.json")).returncode == 2
    assert run("check", "--graph", str(tmp_path)).returncode == 2
