"""The cost guards (C1-C4, C10 of POLICY-RULES) as the pack applies them, on the shipped stacks and on broken copies."""

from __future__ import annotations

import copy
import json

import pytest

from inferstack.cost import estimate_graph
from inferstack.engine import Graph
from inferstack.policy import check_graph, policy_config
from inferstack.report import settings_of
from policies.cost import POLICIES
from tests.conftest import planned, stack_variant
from tests.test_cli import run

COST = [p.name for p in POLICIES]


def _cost_violations(graph: Graph, config: dict | None = None) -> list[dict]:
    config = policy_config(settings_of(graph)) if config is None else config
    return [v for v in check_graph(graph, POLICIES, config) if v["policy"] in COST]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "onprem"])
def test_shipped_stacks_pass_the_cost_guards(stack: str) -> None:
    graph = planned(stack)
    assert policy_config(settings_of(graph))["cost-budget"]["maxMonthlyUsd"] > 0
    assert _cost_violations(graph) == []


def test_a_budget_below_the_estimate_is_a_mandatory_violation_naming_both_figures(tmp_path_factory) -> None:
    graph = stack_variant(tmp_path_factory, "prod", "maxMonthlyUsd: 900000", "maxMonthlyUsd: 50000")
    expected = estimate_graph(graph, settings_of(graph)).total()
    found = [v for v in _cost_violations(graph) if v["policy"] == "cost-budget"]
    assert [v["enforcement"] for v in found] == ["mandatory"]
    assert f"{expected:,.2f} USD a month" in found[0]["message"]
    assert "budget of 50,000.00 USD" in found[0]["message"]


def test_a_budget_below_max_scale_only_is_advisory(tmp_path_factory) -> None:
    graph = stack_variant(tmp_path_factory, "prod", "maxMonthlyUsd: 900000", "maxMonthlyUsd: 200000")
    levels = {v["policy"]: v["enforcement"] for v in _cost_violations(graph)}
    assert levels == {"cost-budget-at-max": "advisory"}


def test_plan_exits_1_when_the_budget_is_below_the_estimate(tmp_path) -> None:
    from tests.conftest import ROOT

    text = (
        (ROOT / "stacks" / "Pulumi.dev.yaml").read_text().replace("maxMonthlyUsd: 4000", "maxMonthlyUsd: 500")
    )
    stack = tmp_path / "Pulumi.low.yaml"
    stack.write_text(text)
    result = run("plan", "low", "--config-file", str(stack))
    assert result.returncode == 1, result.stderr
    assert "mandatory cost-budget: estimated cost expected at desired scale is 1," in result.stdout
    assert "above the budget of 500.00 USD" in result.stdout


def test_the_budget_comes_from_the_cloud_budget_when_no_config_is_given() -> None:
    """A saved graph checked without the stack's settings is held to the budget it creates in AWS."""
    graph = copy.deepcopy(planned("dev"))
    (budget,) = graph.of_type("aws:budgets/budget:Budget")
    assert budget.inputs["limitAmount"] == "4000.00"
    assert _cost_violations(graph, config={}) == []
    budget.inputs["limitAmount"] = "100"
    assert {v["policy"] for v in _cost_violations(graph, config={})} == {"cost-budget", "cost-budget-at-max"}


def test_a_pool_above_the_accelerator_cap_is_caught() -> None:
    graph = planned("prod")
    capped = {"cost-accelerator-cap": {"maxAcceleratorsPerPool": 16}}
    found = [v for v in _cost_violations(graph, capped) if v["policy"] == "cost-accelerator-cap"]
    # p5en.48xlarge x 4 = 32 H200, a3-ultragpu-8g x 4 = 32 H200
    assert {v["urn"].rsplit("::", 1)[1] for v in found} == {
        "core-use1-h200",
        "core-use1-h200-spot",
        "core-usw2-h200",
        "burst-usc1-h200-spot",
    }
    assert all("32 accelerators" in v["message"] for v in found)


def test_an_on_demand_burst_pool_is_caught(tmp_path_factory) -> None:
    graph = stack_variant(
        tmp_path_factory,
        "onprem",
        "machineType: g6e.12xlarge\n          accelerator: L40S\n          capacity: spot",
        "machineType: g6e.12xlarge\n          accelerator: L40S\n          capacity: on-demand",
    )
    found = [v for v in _cost_violations(graph) if v["policy"] == "cost-burst-spot"]
    assert len(found) == 1 and found[0]["urn"].endswith("burst-use2-l40s-spot")


def test_a_core_cluster_without_an_on_demand_floor_is_caught() -> None:
    graph = copy.deepcopy(planned("dev"))
    for r in graph.of_type("aws:eks/nodeGroup:NodeGroup"):
        if r.inputs["labels"].get("inferstack.io/accelerator") == "L4":
            r.inputs["capacityType"] = "SPOT"
    found = [v for v in _cost_violations(graph) if v["policy"] == "cost-core-floor"]
    assert len(found) == 1 and "inferstack-dev-core-use1" in found[0]["message"]


def test_an_accelerator_outside_the_environment_allow_list_is_caught() -> None:
    graph = copy.deepcopy(planned("dev"))
    for r in graph.of_type("gcp:container/nodePool:NodePool"):
        if r.inputs["nodeConfig"]["labels"].get("inferstack.io/accelerator") == "L4":
            r.inputs["nodeConfig"]["labels"]["inferstack.io/accelerator"] = "H200"
    found = [v for v in _cost_violations(graph) if v["policy"] == "cost-allow-lists"]
    assert len(found) == 1 and "H200 pools are not allowed in dev" in found[0]["message"]


def test_a_machine_type_outside_a_configured_allow_list_is_caught() -> None:
    graph = planned("dev")
    config = {"cost-allow-lists": {"environment": "dev", "allowedMachineTypes": {"dev": ["g6.xlarge"]}}}
    found = [v for v in _cost_violations(graph, config) if v["policy"] == "cost-allow-lists"]
    assert {v["urn"].rsplit("::", 1)[1] for v in found} == {
        "core-use1-system",
        "burst-usc1-system",
        "burst-usc1-l4-spot",
    }


def test_missing_cost_allocation_tags_are_caught() -> None:
    graph = copy.deepcopy(planned("dev"))
    provider = graph.of_type("pulumi:providers:aws")[0]
    tags = json.loads(provider.inputs["defaultTags"])
    del tags["tags"]["cost-center"]
    provider.inputs["defaultTags"] = json.dumps(tags)
    pool = graph.of_type("gcp:container/nodePool:NodePool")[0]
    pool.inputs["nodeConfig"]["resourceLabels"].pop("owner")
    found = [v for v in _cost_violations(graph) if v["policy"] == "cost-allocation-tags"]
    assert len(found) == 2 and all(v["enforcement"] == "advisory" for v in found)
    messages = " | ".join(v["message"] for v in found)
    assert "cost-center (defaultTags)" in messages and "missing cost-allocation labels owner" in messages


def test_policy_config_can_change_a_guards_enforcement(tmp_path_factory) -> None:
    graph = stack_variant(tmp_path_factory, "prod", "maxMonthlyUsd: 900000", "maxMonthlyUsd: 50000")
    config = policy_config(settings_of(graph))
    config["cost-budget"] = {**config["cost-budget"], "enforcementLevel": "advisory"}
    found = [v for v in _cost_violations(graph, config) if v["policy"] == "cost-budget"]
    assert [v["enforcement"] for v in found] == ["advisory"]
