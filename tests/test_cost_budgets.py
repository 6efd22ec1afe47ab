"""The budget in each cloud: the stack's limit, filtered to the stack, alerting at its thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import planned, stack_variant
from tests.test_settings import broken

AWS_STACKS = {"dev": ("4000.00", "cc-inference-dev"), "prod": ("900000.00", "cc-inference-prod")}


@pytest.mark.parametrize(("stack", "expected"), AWS_STACKS.items())
def test_each_aws_stack_has_its_budget_filtered_by_its_cost_center(
    stack: str, expected: tuple[str, str]
) -> None:
    graph = planned(stack)
    (budget,) = graph.of_type("aws:budgets/budget:Budget")
    (tag,) = graph.of_type("aws:costexplorer/costAllocationTag:CostAllocationTag")
    limit, cost_center = expected
    assert budget.inputs["limitAmount"] == limit and budget.inputs["timeUnit"] == "MONTHLY"
    assert budget.inputs["costFilters"] == [
        {"name": "TagKeyValue", "values": [f"user:cost-center${cost_center}"]}
    ]
    assert budget.inputs["name"] == f"inferstack-{stack}"
    assert tag.inputs == {"status": "Active", "tagKey": "cost-center"}
    assert tag.urn in budget.dependencies, "the filter needs the tag active first"
    # Global services: reached through the stack's own first region, no provider of their own.
    assert graph.region_of(budget) == graph.region_of(tag) == "us-east-1"
    # No alert addresses in the shipped stacks: the budget tracks spend and tells nobody.
    assert "notifications" not in budget.inputs
    assert graph.of_type("gcp:billing/budget:Budget") == []


def test_alerts_go_to_the_stated_addresses_at_each_threshold(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    graph = stack_variant(
        tmp_path_factory,
        "prod",
        "maxMonthlyUsd: 900000\n",
        "maxMonthlyUsd: 900000\n    alertEmails: [finops@example.com]\n    alertThresholds: [50, 90, 110]\n",
    )
    (budget,) = graph.of_type("aws:budgets/budget:Budget")
    alerts = budget.inputs["notifications"]
    # The thresholds on actual spend, then the burn rate: the month's forecast above the budget.
    assert [(a["notificationType"], a["threshold"]) for a in alerts] == [
        ("ACTUAL", 50),
        ("ACTUAL", 90),
        ("ACTUAL", 110),
        ("FORECASTED", 100),
    ]
    assert {a["thresholdType"] for a in alerts} == {"PERCENTAGE"}
    assert all(a["subscriberEmailAddresses"] == ["finops@example.com"] for a in alerts)


def test_the_tag_activation_can_wait_for_the_first_apply(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = stack_variant(
        tmp_path_factory,
        "dev",
        "maxMonthlyUsd: 4000\n",
        "maxMonthlyUsd: 4000\n    activateCostAllocationTag: false\n",
    )
    assert graph.of_type("aws:costexplorer/costAllocationTag:CostAllocationTag") == []
    assert len(graph.of_type("aws:budgets/budget:Budget")) == 1


def test_a_billing_account_adds_the_gcp_budget(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = stack_variant(
        tmp_path_factory,
        "prod",
        "maxMonthlyUsd: 900000\n",
        "maxMonthlyUsd: 900000\n    gcpBillingAccount: 01ABCD-23EF45-6789AB\n",
    )
    (budget,) = graph.of_type("gcp:billing/budget:Budget")
    assert budget.inputs["billingAccount"] == "01ABCD-23EF45-6789AB"
    assert budget.inputs["budgetFilter"]["projects"] == ["projects/acme-inference-prod"]
    assert budget.inputs["amount"]["specifiedAmount"] == {"currencyCode": "USD", "units": "900000"}
    assert [
        (r["thresholdPercent"], r.get("spendBasis", "CURRENT_SPEND")) for r in budget.inputs["thresholdRules"]
    ] == [
        (0.5, "CURRENT_SPEND"),
        (0.8, "CURRENT_SPEND"),
        (1.0, "CURRENT_SPEND"),
        (1.0, "FORECASTED_SPEND"),
    ]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("alertThresholds", [0, 80], "budget.alertThresholds[0]: 0.0; allowed: a percentage > 0 and <= 1000"),
        ("alertThresholds", [80, 50], "budget.alertThresholds[1]: 50.0; allowed: ascending"),
        ("alertEmails", ["finops"], "budget.alertEmails[0]: 'finops' is not an e-mail address"),
        (
            "gcpBillingAccount",
            "billing-1",
            "budget.gcpBillingAccount: 'billing-1'; allowed: a billing account ID",
        ),
    ],
)
def test_a_bad_budget_alert_setting_is_refused_in_one_line(key: str, value: Any, expected: str) -> None:
    def change(values: dict[str, Any]) -> None:
        values["budget"][key] = value

    assert expected in broken("dev", change)
