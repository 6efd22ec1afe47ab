"""The stack's monthly budget in Cloud Billing, for the stack's GCP project, with threshold alerts.

Creates a ``gcp.billing.Budget`` on the billing account the stack names (settings:
``budget.gcpBillingAccount``), limited to the stack's project, with one threshold rule per alert
percentage (50 / 80 / 100 % by default) on actual spend and one on the month's forecast at 100 %
(its burn rate). Cloud Billing mails each threshold to the billing
account's administrators and users (the default IAM recipients).

Why it is optional: a budget lives on the billing account, not in the project, and creating one
needs ``billing.budgets.create`` there (roles/billing.costsManager or roles/billing.admin on the
billing account, "Create, edit, or delete budgets and budget alerts", Cloud Billing docs), which a
project deployer often does not have. A stack that does not name a billing account gets no GCP
budget; the offline budget guard still holds its estimate to the budget. The Cloud Billing Budget
API (billingbudgets.googleapis.com) must be enabled in the project the deployer's credentials bill
API calls to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True, kw_only=True)
class ProjectBudgetArgs:
    """The budget of one stack's GCP project; validated before any resource exists."""

    billing_account: str
    """The billing account ID that pays for the project, e.g. "01ABCD-23EF45-6789AB"."""
    project: str
    """The project whose spend the budget counts."""
    display_name: str
    """The budget's name on the billing account."""
    monthly_usd: float
    """The monthly limit in USD, whole dollars (rounded up)."""
    thresholds: Sequence[float] = (50, 80, 100)
    """Alert at these percentages of the limit, on actual spend."""

    def __post_init__(self) -> None:
        if self.monthly_usd <= 0:
            raise ValueError(f"ProjectBudgetArgs.monthly_usd={self.monthly_usd!r}: a number > 0")


class ProjectBudget(pulumi.ComponentResource):
    """The Cloud Billing budget of the stack's project and its threshold rules."""

    budget_id: pulumi.Output[str]
    """Resource name of the budget on the billing account."""

    def __init__(
        self, name: str, args: ProjectBudgetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("inferstack:gcp:ProjectBudget", name, None, opts)
        budget = gcp.billing.Budget(
            f"{name}-budget",
            billing_account=args.billing_account,
            display_name=args.display_name,
            amount=gcp.billing.BudgetAmountArgs(
                specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                    currency_code="USD", units=str(math.ceil(args.monthly_usd))
                )
            ),
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[f"projects/{args.project}"], calendar_period="MONTH"
            ),
            threshold_rules=[
                *(
                    gcp.billing.BudgetThresholdRuleArgs(threshold_percent=float(t) / 100)
                    for t in args.thresholds
                ),
                # The burn rate: the month's forecast above the whole budget ("FORECASTED_SPEND",
                # https://cloud.google.com/billing/docs/reference/budget/rest/v1/billingAccounts.budgets#basis).
                gcp.billing.BudgetThresholdRuleArgs(threshold_percent=1.0, spend_basis="FORECASTED_SPEND"),
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.budget_id = budget.name
        self.register_outputs({"budgetId": self.budget_id})
