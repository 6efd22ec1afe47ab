"""The stack's monthly budget in AWS Budgets, with alerts at thresholds of it.

Creates an ``aws.budgets.Budget`` for the stack's monthly cost, limited to what carries the stack's
``cost-center`` tag (every resource does: the provider's default tags), with one notification per
threshold (50 / 80 / 100 % by default) and one when the month's forecast exceeds the budget (its
burn rate, ``FORECAST_PERCENT``) to the stack's alert e-mail addresses, and activates the
``cost-center`` tag key as a cost allocation tag.

Why the tag activation is here, and why it may have to wait: AWS Budgets filters by a user tag only
once the key is an active cost allocation tag ("Activating user-defined cost allocation tags",
AWS Billing User Guide), and a key can be activated only after it has appeared on a billed resource,
which takes up to 24 hours after the first resource carries it. On a new account the first apply
therefore fails on the activation; ``activate_tag=False`` (settings: ``budget.activateCostAllocationTag``)
creates the budget without it, and a later apply activates it. The activation is account-wide and
shared by every stack of the account, so a stack that is destroyed leaves it active
(``retain_on_delete``) rather than switching off the others' budgets.

AWS Budgets is a global service; the provider comes through ``opts.providers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

FORECAST_PERCENT = 100.0
"""The burn-rate alert: AWS Budgets forecasts the month's spend from its rate so far, and a forecast
above the whole budget says the stack spends faster than the budget allows, weeks before actual
spend crosses a threshold. AWS needs about five weeks of a new account's usage before it forecasts
(https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-best-practices.html), so a new
stack's first month has the actual-spend thresholds only."""

COST_TAG = "cost-center"
"""The tag key the budget filters by: set on every resource by the provider's default tags."""


@dataclass(frozen=True, kw_only=True)
class StackBudgetArgs:
    """The budget of one stack; validated before any resource exists."""

    name: str
    """The budget's name in the account (unique per account), e.g. "inferstack-prod"."""
    monthly_usd: float
    """The monthly limit in USD (settings: budget.maxMonthlyUsd)."""
    cost_center: str
    """The value of the cost-center tag the stack's resources carry."""
    thresholds: Sequence[float] = (50, 80, 100)
    """Alert at these percentages of the limit, on actual spend."""
    emails: Sequence[str] = field(default_factory=tuple)
    """Who is told; without addresses the budget tracks spend and tells nobody."""
    activate_tag: bool = True
    """Activate cost-center as a cost allocation tag (the budget's filter needs it)."""

    def __post_init__(self) -> None:
        if self.monthly_usd <= 0:
            raise ValueError(f"StackBudgetArgs.monthly_usd={self.monthly_usd!r}: a number > 0")
        if not self.cost_center:
            raise ValueError("StackBudgetArgs.cost_center: the tag value the budget filters by")


class StackBudget(pulumi.ComponentResource):
    """The stack's AWS budget, its threshold alerts, and the cost allocation tag it filters by."""

    budget_name: pulumi.Output[str]
    """Name of the budget in AWS Budgets."""

    def __init__(self, name: str, args: StackBudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:aws:StackBudget", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        depends: list[pulumi.Resource] = []
        if args.activate_tag:
            tag = aws.costexplorer.CostAllocationTag(
                f"{name}-tag",
                tag_key=COST_TAG,
                status="Active",
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            depends.append(tag)
        notifications = [
            aws.budgets.BudgetNotificationArgs(
                comparison_operator="GREATER_THAN",
                notification_type="ACTUAL",
                threshold=float(threshold),
                threshold_type="PERCENTAGE",
                subscriber_email_addresses=list(args.emails),
            )
            for threshold in args.thresholds
        ]
        notifications.append(
            aws.budgets.BudgetNotificationArgs(
                comparison_operator="GREATER_THAN",
                notification_type="FORECASTED",
                threshold=FORECAST_PERCENT,
                threshold_type="PERCENTAGE",
                subscriber_email_addresses=list(args.emails),
            )
        )
        budget = aws.budgets.Budget(
            f"{name}-budget",
            name=args.name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{args.monthly_usd:.2f}",
            limit_unit="USD",
            # "TagKeyValue" takes "user:<key>$<value>" (AWS Budgets API, CostFilters).
            cost_filters=[
                aws.budgets.BudgetCostFilterArgs(
                    name="TagKeyValue", values=[f"user:{COST_TAG}${args.cost_center}"]
                )
            ],
            notifications=notifications if args.emails else None,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=depends)),
        )
        self.budget_name = budget.name
        self.register_outputs({"budgetName": self.budget_name})
