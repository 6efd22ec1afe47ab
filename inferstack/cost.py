"""The cost report of a planned graph: the pack's estimator (policies.cost) applied offline.

``plan --json`` carries the estimate as its ``cost`` block, ``plan`` prints its total, and
``inferstack cost`` prints it whole; all three come from :func:`estimate_graph`, so a figure in the
plan and one in the cost report agree. ``--against`` prices a saved plan with the same tables and
prints what a change adds or saves, resource by resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rich.table import Table

from inferstack.engine import Graph
from infra.settings import Settings
from policies.cost import PRICED, UNPRICED, USAGE, Assumptions, Estimate, Item, Planned, estimate, price_book


def assumptions_of(settings: Settings | None) -> Assumptions:
    """What the stack states under ``budget`` about billing it cannot see (defaults without settings)."""
    budget = settings.budget if settings is not None else None
    if budget is None:
        return Assumptions()
    return Assumptions(
        spot_discount=budget.spot_discount,
        commitment_discount=budget.commitment_discount,
        off_peak_hours=budget.off_peak_hours_per_month,
    )


def policy_config(settings: Settings | None) -> dict[str, dict[str, Any]]:
    """The cost guards' policy config from the stack's settings, as --policy-pack-config would carry it."""
    if settings is None or settings.budget is None:
        return {}
    budget = {"maxMonthlyUsd": settings.budget.max_monthly_usd, **assumptions_of(settings).to_json()}
    return {
        "cost-budget": budget,
        "cost-budget-at-max": budget,
        "cost-allow-lists": {"environment": settings.environment.value},
    }


def planned(graph: Graph) -> list[Planned]:
    return [
        Planned(
            urn=r.urn,
            type=r.type,
            name=r.name,
            inputs=r.inputs,
            region=graph.region_of(r),
            dependencies=tuple(r.dependencies),
            custom=r.custom,
        )
        for r in graph.resources
    ]


def estimate_graph(graph: Graph, settings: Settings | None = None) -> Estimate:
    return estimate(planned(graph), assumptions_of(settings))


def cost_block(graph: Graph, settings: Settings | None = None) -> dict[str, Any]:
    return estimate_graph(graph, settings).to_json()


# --------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------


def usd(value: float | Decimal | None) -> str:
    return "-" if value is None else f"{float(value):,.2f}"


def _short(token: str) -> str:
    """aws:eks/nodeGroup:NodeGroup -> aws NodeGroup: enough to tell items apart in a table."""
    return f"{token.split(':')[0]} {token.split(':')[-1]}"


def summary_line(block: Mapping[str, Any]) -> str:
    """The plan's one cost line: the desired-scale total, the range, and what is not counted."""
    unpriced = len(block.get("unpriced") or [])
    return (
        f"cost: {usd(block['monthlyUsd'])} USD a month at desired scale "
        f"(min {usd(block['monthlyUsdMin'])}, max {usd(block['monthlyUsdMax'])}; prices of {block['pricesAsOf']})"
        + (f"; {unpriced} resources unpriced, not counted" if unpriced else "")
    )


def _rows(result: Estimate) -> list[tuple[str, str, str, dict[str, Decimal], str]]:
    """Pools and clusters one per row; other items of one type and region summed into one row."""
    rows: list[tuple[str, str, str, dict[str, Decimal], str]] = []
    groups: dict[tuple[str, str], list[Item]] = {}
    for item in result.priced():
        if item.pool is not None or item.type.endswith(":Cluster"):
            rows.append(
                (_short(item.type), item.name, item.region or "global", dict(item.monthly), item.basis)
            )
        else:
            groups.setdefault((item.type, item.region or "global"), []).append(item)
    for (token, region), members in groups.items():
        total = {s: sum((m.monthly[s] for m in members), Decimal(0)) for s in ("min", "desired", "max")}
        if len(members) == 1:
            rows.append((_short(token), members[0].name, region, total, members[0].basis))
        else:
            bases = {m.basis for m in members}
            basis = f"each: {members[0].basis}" if len(bases) == 1 else f"{members[0].basis}; and others"
            rows.append((_short(token), f"{len(members)} resources", region, total, basis))
    return sorted(rows, key=lambda r: (-r[3]["max"], -r[3]["desired"], r[0], r[1]))


def items_table(result: Estimate) -> Table:
    table = Table("resource", "name", "region", "min", "desired", "max", "basis", box=None, pad_edge=False)
    for kind, name, region, monthly, basis in _rows(result):
        table.add_row(
            kind, name, region, usd(monthly["min"]), usd(monthly["desired"]), usd(monthly["max"]), basis
        )
    if result.assumptions.commitment_discount:
        table.add_row(
            "discount",
            "commitment",
            "-",
            usd(result.commitment("min")),
            usd(result.commitment("desired")),
            usd(result.commitment("max")),
            f"{result.assumptions.commitment_discount:.0%} off on-demand and reserved compute (stated assumption)",
        )
    table.add_row(
        "total",
        "",
        "",
        usd(result.total("min")),
        usd(result.total("desired")),
        usd(result.total("max")),
        f"USD a month ({price_book().hours} h)",
    )
    return table


def listed(items: list[Item], title: str) -> list[str]:
    lines = [f"{title} ({len(items)}):"] if items else []
    by_reason: dict[tuple[str, str], list[str]] = {}
    for item in items:
        by_reason.setdefault((_short(item.type), item.basis), []).append(item.name)
    for (kind, why), names in sorted(by_reason.items()):
        lines.append(f"  {kind} {', '.join(sorted(names))}: {why}")
    return lines


def tiers_table(result: Estimate) -> Table | None:
    rows = result.tiers()
    if not rows:
        return None
    table = Table("tier", "pools", "saves at desired", "saves at max", box=None, pad_edge=False)
    for row in rows:
        table.add_row(row["tier"], str(row["pools"]), usd(row["savingUsd"]), usd(row["savingUsdAtMax"]))
    table.add_row(
        "all on-demand",
        "",
        usd(result.list_total()),
        f"{usd(result.list_total('max'))} (the same nodes, no tier)",
    )
    return table


# --------------------------------------------------------------------------------------------------
# Cost diff
# --------------------------------------------------------------------------------------------------


def _same_resource(urn: str) -> str:
    """A URN without its stack: the base plan may come from another stack file of the same stack."""
    head, _, rest = urn.partition("::")
    return head.rsplit(":", 1)[0] + "::" + rest if rest else urn


def diff(base: Estimate, head: Estimate) -> dict[str, Any]:
    """What the head plan adds or saves against the base, per resource, at desired and max scale."""
    before = {_same_resource(i.urn): i for i in base.items if i.category == PRICED}
    after = {_same_resource(i.urn): i for i in head.items if i.category == PRICED}
    rows: list[dict[str, Any]] = []
    for urn in sorted(before.keys() | after.keys()):
        old, new = before.get(urn), after.get(urn)
        change = "added" if old is None else "removed" if new is None else "changed"
        delta = {
            scale: float(
                (new.monthly[scale] if new else Decimal(0)) - (old.monthly[scale] if old else Decimal(0))
            )
            for scale in ("desired", "max")
        }
        if change == "changed" and not any(delta.values()):
            continue
        item = new or old
        assert item is not None
        rows.append(
            {
                "urn": item.urn,
                "type": item.type,
                "name": item.name,
                "change": change,
                "monthlyUsdDelta": delta["desired"],
                "monthlyUsdMaxDelta": delta["max"],
                "before": None if old is None else float(old.monthly["desired"]),
                "after": None if new is None else float(new.monthly["desired"]),
                "basis": item.basis,
            }
        )
    return {
        "before": float(base.total()),
        "after": float(head.total()),
        "monthlyUsdDelta": float(head.total() - base.total()),
        "monthlyUsdMaxDelta": float(head.total("max") - base.total("max")),
        "resources": rows,
        "unpricedBefore": len(base.of(UNPRICED)),
        "unpricedAfter": len(head.of(UNPRICED)),
    }


def diff_table(change: Mapping[str, Any]) -> Table:
    table = Table(
        "change",
        "resource",
        "name",
        "before",
        "after",
        "delta/month",
        "delta at max",
        box=None,
        pad_edge=False,
    )
    for row in sorted(change["resources"], key=lambda r: (-abs(r["monthlyUsdDelta"]), r["name"])):
        table.add_row(
            row["change"],
            _short(row["type"]),
            row["name"],
            usd(row["before"]),
            usd(row["after"]),
            f"{row['monthlyUsdDelta']:+,.2f}",
            f"{row['monthlyUsdMaxDelta']:+,.2f}",
        )
    table.add_row(
        "total",
        "",
        "",
        usd(change["before"]),
        usd(change["after"]),
        f"{change['monthlyUsdDelta']:+,.2f}",
        f"{change['monthlyUsdMaxDelta']:+,.2f}",
    )
    return table


__all__ = [
    "PRICED",
    "UNPRICED",
    "USAGE",
    "assumptions_of",
    "cost_block",
    "diff",
    "estimate_graph",
    "policy_config",
]
