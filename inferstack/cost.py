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


def budget_config(settings: Settings | None) -> dict[str, dict[str, Any]]:
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
# Dollars per million output tokens
# --------------------------------------------------------------------------------------------------

MILLION = Decimal(1_000_000)


def _throughput(item: Item, model: str | None, stated: Mapping[str, float]) -> tuple[Decimal, str] | None:
    """Output tokens per second of one node of the pool, and where the figure comes from."""
    pool = item.pool
    if pool is None or pool.accelerator is None:
        return None
    if pool.accelerator in stated:
        return Decimal(str(stated[pool.accelerator])), "stated in budget.throughput"
    for row in price_book().tokens.get("throughput") or []:
        if (
            row["model"] == model
            and row["accelerator"] == pool.accelerator
            and int(row["devicesPerNode"]) == pool.devices_per_node
        ):
            return Decimal(str(row["outputTokensPerSecond"])), f"benchmark of {row['asOf']}"
    return None


def _per_million(monthly: Decimal, tokens_per_second: Decimal) -> float | None:
    if not tokens_per_second:
        return None
    seconds = Decimal(price_book().hours) * 3600
    return float((monthly / (tokens_per_second * seconds) * MILLION).quantize(Decimal("0.0001")))


def tokens(result: Estimate, settings: Settings | None) -> dict[str, Any]:
    """What a million output tokens cost self-hosted, at full load, against the DeepSeek public API.

    The self-hosted figures assume the pools serve at the benchmark's throughput every hour they
    run: a ceiling on efficiency, so the real cost per token is higher in proportion to idle time.
    """
    model = settings.model.name if settings is not None else None
    stated = dict(settings.budget.throughput) if settings is not None and settings.budget is not None else {}
    book = price_book()
    hours = Decimal(book.hours)
    off = Decimal(str(result.assumptions.off_peak_hours))
    rated: list[tuple[Item, Decimal, str]] = []
    missing: list[str] = []
    for item in result.priced():
        if item.pool is None or item.pool.accelerator is None:
            continue
        found = _throughput(item, model, stated)
        if found is None:
            missing.append(f"{item.name} ({item.pool.accelerator})")
        else:
            rated.append((item, *found))

    def scenario(name: str, chosen: list[tuple[Item, Decimal, str]], scale: str) -> dict[str, Any]:
        monthly = sum((i.monthly[scale] for i, _, _ in chosen), Decimal(0))
        rate = sum((Decimal(i.pool.nodes[scale]) * tps for i, tps, _ in chosen if i.pool), Decimal(0))
        return {
            "scenario": name,
            "monthlyUsd": float(monthly),
            "outputTokensPerSecond": float(rate),
            "usdPerMillionOutput": _per_million(monthly, rate),
        }

    core = [r for r in rated if r[0].pool and r[0].pool.role == "core" and r[0].pool.capacity != "spot"]
    burst = [r for r in rated if r[0].pool and r[0].pool.role == "burst"]
    rows = [scenario("core accelerators at their floor (minSize)", core, "min")]
    at_max = scenario("core at its floor, burst pools at maxSize", [], "min")
    floor, peak = rows[0], scenario("", burst, "max")
    at_max["monthlyUsd"] = floor["monthlyUsd"] + peak["monthlyUsd"]
    at_max["outputTokensPerSecond"] = floor["outputTokensPerSecond"] + peak["outputTokensPerSecond"]
    at_max["usdPerMillionOutput"] = _per_million(
        Decimal(str(at_max["monthlyUsd"])), Decimal(str(at_max["outputTokensPerSecond"]))
    )
    rows.append(at_max)
    # The whole stack at desired scale, overhead included; node-hours follow the off-peak sleep.
    node_seconds = sum(
        (
            (Decimal(i.pool.nodes["desired"]) * (hours - off) + Decimal(i.pool.nodes["min"]) * off)
            * 3600
            * tps
            for i, tps, _ in rated
            if i.pool
        ),
        Decimal(0),
    )
    stack_total = result.total("desired")
    rows.append(
        {
            "scenario": "the whole stack at desired scale (every priced item)",
            "monthlyUsd": float(stack_total),
            "outputTokensPerSecond": float(node_seconds / (hours * 3600)) if node_seconds else 0.0,
            "usdPerMillionOutput": float((stack_total / node_seconds * MILLION).quantize(Decimal("0.0001")))
            if node_seconds
            else None,
        }
    )
    api = book.tokens.get("api") or {}
    price = Decimal(str(api.get("outputUsdPerMillion", 0)))
    return {
        "model": model,
        "scenarios": rows,
        "throughput": [
            {
                "pool": i.name,
                "accelerator": i.pool.accelerator,
                "outputTokensPerSecondPerNode": float(t),
                "from": why,
            }
            for i, t, why in rated
            if i.pool
        ],
        "withoutThroughput": missing,
        "api": {**api},
        "capacityMillionOutputTokensPerMonth": float((node_seconds / MILLION).quantize(Decimal("0.1"))),
        "breakEvenMillionOutputTokensPerMonth": float((stack_total / price).quantize(Decimal("0.1")))
        if price
        else None,
    }


def tokens_lines(report: Mapping[str, Any]) -> list[str]:
    api = report["api"]
    lines = [
        f"$/M output tokens, {report['model']}, at the benchmark's throughput (full load; idle hours raise it):"
    ]
    width = max(len(r["scenario"]) for r in report["scenarios"])
    for row in report["scenarios"]:
        if row["usdPerMillionOutput"] is None:
            lines.append(f"  {row['scenario']:<{width}}  {'no throughput figure':>20}")
            continue
        lines.append(
            f"  {row['scenario']:<{width}}  {'$' + format(row['usdPerMillionOutput'], ',.4f'):>20}  "
            f"({usd(row['monthlyUsd'])} USD a month, {row['outputTokensPerSecond']:,.0f} tok/s)"
        )
    lines.append(
        f"  {'DeepSeek API, ' + api['model']:<{width}}  {'$' + format(api['outputUsdPerMillion'], '.4f'):>20}  "
        f"(list price of {api['asOf']}; input ${api['inputCacheMissUsdPerMillion']}/M on a cache miss)"
    )
    if report["capacityMillionOutputTokensPerMonth"]:
        lines.append(
            f"  at desired scale the pools can serve {report['capacityMillionOutputTokensPerMonth']:,.1f} M "
            "output tokens a month"
        )
    if report["breakEvenMillionOutputTokensPerMonth"] is not None:
        lines.append(
            f"  the stack at desired scale costs as much as {report['breakEvenMillionOutputTokensPerMonth']:,.1f} M "
            "output tokens a month from the API"
        )
    for row in report["throughput"]:
        lines.append(
            f"  throughput of {row['pool']}: {row['outputTokensPerSecondPerNode']:,.2f} tok/s per node ({row['from']})"
        )
    if report["withoutThroughput"]:
        lines.append(
            "  no throughput figure (set budget.throughput): " + ", ".join(report["withoutThroughput"])
        )
    return lines


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
    "budget_config",
    "cost_block",
    "diff",
    "estimate_graph",
]
