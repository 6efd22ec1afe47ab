"""`inferstack cost` as a user runs it: the report, its JSON, and the diff against a saved plan."""

from __future__ import annotations

import json
from pathlib import Path

from inferstack.cost import estimate_graph
from inferstack.saved import load_graph
from tests.conftest import ROOT
from tests.test_cli import once, run

H200_NODE = 63.296 * 730 + 2048 * 0.08  # p5en.48xlarge us-east-1 a month, with its 2 TiB gp3 root volume


def test_the_report_prints_the_totals_the_json_carries() -> None:
    text, data = once("cost", "prod"), json.loads(once("cost", "prod", "--json").stdout)
    assert text.returncode == 0, text.stderr
    total = next(line for line in text.stdout.splitlines() if line.startswith("total"))
    assert [f"{data[k]:,.2f}" for k in ("monthlyUsdMin", "monthlyUsd", "monthlyUsdMax")] == total.split()[1:4]
    assert data["budgetUsd"] == 900000 and data["items"] and data["pricesAsOf"]
    # The report counts what the JSON lists as unpriced, and names every one of them.
    assert data["unpriced"], "prod has resources no dated price row covers (alarms, WAF, the ALB...)"
    assert f"unpriced, not counted ({len(data['unpriced'])}):" in text.stdout
    assert all(item["name"] in text.stdout for item in data["unpriced"])
    assert "db.r6g.xlarge" in text.stdout


def test_plan_and_cost_agree() -> None:
    plan = json.loads(once("plan", "prod", "--json").stdout)["cost"]
    report = json.loads(once("cost", "prod", "--json").stdout)
    assert plan["monthlyUsd"] == report["monthlyUsd"] and plan["monthlyUsdMax"] == report["monthlyUsdMax"]


def test_a_saved_plan_is_priced_the_same(tmp_path: Path) -> None:
    saved = tmp_path / "dev.json"
    assert run("plan", "dev", "--out", str(saved)).returncode == 0
    live = json.loads(saved.read_text())["cost"]
    assert float(estimate_graph(load_graph(saved)).total()) == live["monthlyUsd"]


def test_against_a_saved_plan_prints_what_a_change_adds(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    assert run("plan", "prod", "--out", str(base)).returncode == 0
    text = (ROOT / "stacks" / "Pulumi.prod.yaml").read_text()
    grown = text.replace(
        "capacity: on-demand\n          minSize: 1\n          maxSize: 4",
        "capacity: on-demand\n          minSize: 1\n          maxSize: 6",
        1,
    )
    assert grown != text
    head = tmp_path / "Pulumi.prod-grown.yaml"
    head.write_text(grown)
    result = run("cost", "prod-grown", "--config-file", str(head), "--against", str(base), "--json")
    assert result.returncode == 0, result.stderr
    change = json.loads(result.stdout)["against"]
    assert change["monthlyUsdDelta"] == 0
    assert round(change["monthlyUsdMaxDelta"], 2) == round(2 * H200_NODE, 2)
    (row,) = change["resources"]
    assert row["name"] == "core-use1-h200" and row["change"] == "changed"
    printed = run("cost", "prod-grown", "--config-file", str(head), "--against", str(base))
    assert f"+{2 * H200_NODE:,.2f} at max scale" in printed.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = run("cost", "nosuchstack")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    against = run("cost", "dev", "--against", str(junk))
    assert against.returncode == 2 and "junk.json" in against.stderr
    assert len(against.stderr.strip().splitlines()) == 1


def test_the_readme_shows_the_cost_of_every_shipped_stack() -> None:
    from inferstack import docs

    commands = [command for command, _ in docs.blocks((ROOT / "README.md").read_text(encoding="utf-8"))]
    for stack in ("dev", "staging", "prod", "onprem"):
        assert f"inferstack cost {stack}" in commands
    prod = dict(docs.blocks((ROOT / "README.md").read_text(encoding="utf-8")))["inferstack cost prod"]
    assert "DeepSeek API, DeepSeek-V3.2" in prod and "$/M output tokens" in prod
