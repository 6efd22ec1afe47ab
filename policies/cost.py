"""What a planned stack costs a month, and the pack's cost guards (ids C1..C4, C10 of POLICY-RULES).

The estimator lives in the pack, beside the guards, because the budget guard prices the preview
the engine hands to the policy host; ``inferstack cost`` and ``inferstack plan`` call the same
function on the offline graph, so both read the same figure. It reads resource types and inputs
only (instance types, node counts, capacity types, instance classes), never the program, and the
prices only from ``pricing/*.yaml``: dated rows with a source each. A resource type is priced
here (PRICERS), or listed in pricing/types.yaml as free, usage-based or unpriced; anything priced
but without a row for its machine or region becomes an unpriced item, never a silent zero.

Self-contained for the same reason as guards.py: the policy host runs this folder with only the
folder on sys.path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

PRICING = Path(__file__).resolve().parent / "pricing"
CENT = Decimal("0.01")

PRICED, USAGE, FREE, UNPRICED = "priced", "usage", "free", "unpriced"
SCALES = ("min", "desired", "max")


# --------------------------------------------------------------------------------------------------
# Price data
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceBook:
    """The pricing tables as read from pricing/*.yaml (one place loads them)."""

    compute: Mapping[str, Any]
    services: Mapping[str, Any]
    types: Mapping[str, Any]
    tokens: Mapping[str, Any]

    @property
    def hours(self) -> int:
        return int(self.compute["hoursPerMonth"])

    @property
    def as_of(self) -> str:
        return str(self.compute["asOf"])

    def rate(self, key: str) -> Mapping[str, Any]:
        return self.services["rates"][key]

    def classify(self, token: str) -> tuple[str, str] | None:
        """(free|usage|unpriced, why) from types.yaml, or None for a type the estimator prices or nobody listed."""
        for kind in (FREE, USAGE, UNPRICED):
            for pattern, why in (self.types.get(kind) or {}).items():
                if pattern == token or (pattern.endswith("*") and token.startswith(pattern[:-1])):
                    return kind, str(why)
        return None


def _load(name: str) -> Mapping[str, Any]:
    with (PRICING / name).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@cache
def price_book() -> PriceBook:
    return PriceBook(
        compute=_load("compute.yaml"),
        services=_load("services.yaml"),
        types=_load("types.yaml"),
        tokens=_load("tokens.yaml") if (PRICING / "tokens.yaml").exists() else {},
    )


# --------------------------------------------------------------------------------------------------
# What the estimator reads, and what it returns
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One resource as the engine (or the offline graph) sees it."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    region: str | None = None
    dependencies: tuple[str, ...] = ()
    custom: bool = True


@dataclass(frozen=True)
class Assumptions:
    """What the stack states about how it is billed and used (settings: budget)."""

    spot_discount: float = 0.6
    """Taken off on-demand where no observed spot price is listed (AWS): 'up to 90%' is the cloud's claim."""
    commitment_discount: float = 0.0
    """Savings Plans, Reserved Instances or committed-use discounts: account-level, on on-demand and reserved compute."""
    off_peak_hours: float = 0.0
    """Hours a month the accelerator pools sleep down to their minimum (the off-peak schedule)."""

    def to_json(self) -> dict[str, float]:
        return {
            "spotDiscount": self.spot_discount,
            "commitmentDiscount": self.commitment_discount,
            "offPeakHoursPerMonth": self.off_peak_hours,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Assumptions:
        config = config or {}
        return cls(
            spot_discount=float(config.get("spotDiscount", cls.spot_discount)),
            commitment_discount=float(config.get("commitmentDiscount", cls.commitment_discount)),
            off_peak_hours=float(config.get("offPeakHoursPerMonth", cls.off_peak_hours)),
        )


@dataclass(frozen=True)
class Pool:
    """What the tiers and the tokens price need of a node group or node pool."""

    capacity: str  # on-demand | spot | reserved
    role: str | None  # core | burst | None (unlabelled)
    accelerator: str | None
    devices_per_node: int
    nodes: Mapping[str, int]  # min / desired / max
    hourly_node: Decimal  # as billed (spot / reserved rate)
    hourly_node_on_demand: Decimal | None


@dataclass(frozen=True)
class Item:
    urn: str
    type: str
    name: str
    category: str
    basis: str
    region: str | None = None
    monthly: Mapping[str, Decimal] = field(default_factory=dict)
    list_monthly: Mapping[str, Decimal] = field(default_factory=dict)
    """All-on-demand and without off-peak hours: what the tiers save against."""
    pool: Pool | None = None

    def usd(self, scale: str = "desired") -> float | None:
        return float(self.monthly[scale]) if scale in self.monthly else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "category": self.category,
            "monthlyUsd": self.usd("desired"),
            "basis": self.basis,
        }
        if self.monthly:
            out["monthlyUsdMin"] = self.usd("min")
            out["monthlyUsdMax"] = self.usd("max")
        if self.region:
            out["region"] = self.region
        return out


@dataclass(frozen=True)
class Estimate:
    items: list[Item]
    assumptions: Assumptions
    as_of: str

    def priced(self) -> list[Item]:
        return [i for i in self.items if i.category == PRICED]

    def of(self, category: str) -> list[Item]:
        return [i for i in self.items if i.category == category]

    def subtotal(self, scale: str = "desired") -> Decimal:
        return sum((i.monthly[scale] for i in self.priced()), Decimal(0))

    def commitment(self, scale: str = "desired") -> Decimal:
        """The account-level discount on on-demand and reserved compute (negative), from the stated assumption."""
        rate = Decimal(str(self.assumptions.commitment_discount))
        if not rate:
            return Decimal(0)
        base = sum(
            (i.monthly[scale] for i in self.priced() if i.pool and i.pool.capacity != "spot"), Decimal(0)
        )
        return -(base * rate).quantize(CENT, ROUND_HALF_UP)

    def total(self, scale: str = "desired") -> Decimal:
        return self.subtotal(scale) + self.commitment(scale)

    def tiers(self) -> list[dict[str, Any]]:
        """The saving of each tier against the same nodes all on-demand, at desired and at max scale."""
        pools = [i for i in self.priced() if i.pool and i.list_monthly]

        def saving(chosen: Iterable[Item], scale: str) -> float:
            return float(sum((i.list_monthly[scale] - i.monthly[scale] for i in chosen), Decimal(0)))

        rows: list[dict[str, Any]] = []
        for tier, capacity in (("spot", "spot"), ("reserved capacity", "reserved")):
            chosen = [i for i in pools if i.pool is not None and i.pool.capacity == capacity]
            if chosen:
                rows.append(
                    {
                        "tier": tier,
                        "pools": len(chosen),
                        "savingUsd": saving(chosen, "desired"),
                        "savingUsdAtMax": saving(chosen, "max"),
                    }
                )
        if self.assumptions.off_peak_hours:
            sleepers = [
                i for i in pools if i.pool is not None and i.pool.capacity != "spot" and i.pool.accelerator
            ]
            rows.append(
                {
                    "tier": f"auto-sleep ({self.assumptions.off_peak_hours:g} h a month at minimum size)",
                    "pools": len(sleepers),
                    "savingUsd": saving(sleepers, "desired"),
                    "savingUsdAtMax": 0.0,
                }
            )
        if self.assumptions.commitment_discount:
            rows.append(
                {
                    "tier": f"commitment discount ({self.assumptions.commitment_discount:.0%}, account-level)",
                    "pools": sum(1 for i in pools if i.pool is not None and i.pool.capacity != "spot"),
                    "savingUsd": float(-self.commitment("desired")),
                    "savingUsdAtMax": float(-self.commitment("max")),
                }
            )
        return rows

    def list_total(self, scale: str = "desired") -> Decimal:
        """Every priced item with its pools all on-demand, no off-peak sleep and no commitment."""
        return sum((i.list_monthly.get(scale, i.monthly[scale]) for i in self.priced()), Decimal(0))

    def to_json(self) -> dict[str, Any]:
        unpriced = self.of(UNPRICED)
        return {
            "estimated": True,
            "monthlyUsd": float(self.total("desired")),
            "monthlyUsdMin": float(self.total("min")),
            "monthlyUsdMax": float(self.total("max")),
            "currency": "USD",
            "hoursPerMonth": price_book().hours,
            "pricesAsOf": self.as_of,
            "assumptions": self.assumptions.to_json(),
            "items": [i.to_json() for i in self.priced()],
            "adjustments": (
                [
                    {
                        "name": "commitment discount",
                        "monthlyUsd": float(self.commitment("desired")),
                        "monthlyUsdMin": float(self.commitment("min")),
                        "monthlyUsdMax": float(self.commitment("max")),
                        "basis": f"{self.assumptions.commitment_discount:.0%} off on-demand and reserved "
                        "compute (stated assumption: Savings Plans / committed use are account-level billing)",
                    }
                ]
                if self.assumptions.commitment_discount
                else []
            ),
            "tiers": self.tiers(),
            "allOnDemandMonthlyUsd": float(self.list_total("desired")),
            "usageBased": [i.to_json() for i in self.of(USAGE)],
            "unpriced": [i.to_json() for i in unpriced],
            "complete": not unpriced,
        }


# --------------------------------------------------------------------------------------------------
# Pricers
# --------------------------------------------------------------------------------------------------


def money(value: Decimal | float | int) -> Decimal:
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def _usd(value: Decimal | float) -> str:
    return f"${Decimal(str(value)):,.2f}"


def _rate_text(price: Any) -> str:
    return f"${Decimal(str(price)).normalize():f}"


@dataclass(frozen=True)
class Context:
    book: PriceBook
    assumptions: Assumptions
    by_urn: Mapping[str, Planned]


class Unpriced(Exception):
    """A resource the estimator knows how to price, but whose machine, class or region has no row."""


def _flat(resource: Planned, ctx: Context, key: str, quantity: Decimal | int = 1, what: str = "") -> Item:
    """A fixed monthly charge from a services rate: hourly x 730, or monthly."""
    rate = ctx.book.rate(key)
    price = Decimal(str(rate["price"]))
    where = "" if not resource.region or resource.region == rate["region"] else f" ({rate['region']} rate)"
    if rate["unit"] == "hour":
        monthly = money(price * ctx.book.hours * Decimal(quantity))
        times = f"{quantity} x " if quantity != 1 else ""
        basis = f"{times}{what or key} x {ctx.book.hours} h x {_rate_text(price)}/h{where}"
    elif rate["unit"] == "month":
        monthly = money(price * Decimal(quantity))
        basis = f"{quantity} x {what or key} x {_rate_text(price)}/month{where}"
    else:
        raise ValueError(f"rate {key}: unit {rate['unit']} is not a fixed charge")
    return Item(
        resource.urn,
        resource.type,
        resource.name,
        PRICED,
        basis,
        resource.region,
        {s: monthly for s in SCALES},
    )


def _eks_cluster(resource: Planned, ctx: Context) -> Item:
    extended = str((resource.inputs.get("upgradePolicy") or {}).get("supportType", "")).upper() == "EXTENDED"
    key = "eks-cluster-extended" if extended else "eks-cluster-standard"
    what = f"EKS {resource.inputs.get('version', '')} control plane ({'extended' if extended else 'standard'} support)"
    item = _flat(resource, ctx, key, what=what)
    if not extended:
        item = replace(item, basis=item.basis + "; $0.60/h once the version enters extended support")
    return item


def _nat(resource: Planned, ctx: Context) -> Item:
    item = _flat(resource, ctx, "nat-gateway", what="NAT gateway")
    return replace(item, basis=item.basis + " + $0.045 per GB processed (usage)")


def _eip(resource: Planned, ctx: Context) -> Item:
    return _flat(resource, ctx, "public-ipv4", what="public IPv4 address")


def _endpoint(resource: Planned, ctx: Context) -> Item:
    kind = str(resource.inputs.get("vpcEndpointType") or "Gateway")
    if kind == "Gateway":
        return Item(
            resource.urn, resource.type, resource.name, FREE, "gateway endpoints are free", resource.region
        )
    azs = len(resource.inputs.get("subnetIds") or []) or 1
    item = _flat(resource, ctx, "interface-endpoint-az", azs, what=f"{kind} endpoint ENI")
    return replace(item, basis=item.basis + " + $0.01 per GB processed (usage)")


def _kms_key(resource: Planned, ctx: Context) -> Item:
    return _flat(resource, ctx, "kms-key", what="KMS key")


def _secret(resource: Planned, ctx: Context) -> Item:
    return _flat(resource, ctx, "secret", what="secret")


def _zone(resource: Planned, ctx: Context) -> Item:
    return _flat(resource, ctx, "hosted-zone", what="hosted zone")


def _health_check(resource: Planned, ctx: Context) -> Item:
    inputs = resource.inputs
    features = []
    if str(inputs.get("type", "")).startswith("HTTPS"):
        features.append("HTTPS")
    if "STR_MATCH" in str(inputs.get("type", "")) or inputs.get("searchString"):
        features.append("string match")
    if inputs.get("measureLatency"):
        features.append("latency")
    if int(inputs.get("requestInterval") or 30) == 10:
        features.append("10 s interval")
    base = _flat(resource, ctx, "health-check", what="health check")
    if not features:
        return base
    extra = _flat(resource, ctx, "health-check-feature", len(features), what="optional feature")
    monthly = {s: base.monthly[s] + extra.monthly[s] for s in SCALES}
    basis = f"{base.basis} + {extra.basis} ({', '.join(features)}); AWS-endpoint rates"
    return replace(base, monthly=monthly, basis=basis)


def _per_node(
    resource: Planned, ctx: Context, table: str, kind: str, what: str, nodes: int = 1, note: str = ""
) -> Item:
    """A managed-service node billed by the hour (``services.yaml`` table ``table``, row ``kind``), the same
    at every scale; a row of another region is used at its rate and says so."""
    row = (ctx.book.services.get(table) or {}).get(kind)
    if row is None:
        raise Unpriced(f"no price row for {what} {kind}")
    price = Decimal(str(row["price"]))
    monthly = money(price * ctx.book.hours * nodes)
    where = "" if resource.region == row["region"] else f" ({row['region']} rate)"
    basis = f"{nodes} x {kind} x {ctx.book.hours} h x {_rate_text(price)}/h{where}{note}"
    return Item(
        resource.urn,
        resource.type,
        resource.name,
        PRICED,
        basis,
        resource.region,
        {s: monthly for s in SCALES},
    )


def _aurora_instance(resource: Planned, ctx: Context) -> Item:
    klass = str(resource.inputs.get("instanceClass"))
    return _per_node(
        resource, ctx, "auroraInstances", klass, "Aurora instance class", note="; storage and I/O with use"
    )


def _cache(resource: Planned, ctx: Context) -> Item:
    node = str(resource.inputs.get("nodeType"))
    nodes = int(resource.inputs.get("numCacheClusters") or 1)
    return _per_node(resource, ctx, "cacheNodes", node, "cache node type", nodes=nodes)


def _gke_cluster(resource: Planned, ctx: Context) -> Item:
    return _flat(resource, ctx, "gke-cluster", what="GKE cluster management fee")


def _forwarding_rule(resource: Planned, ctx: Context) -> Item:
    return _flat(resource, ctx, "global-forwarding-rule", what="global forwarding rule")


def _gcp_kms_key(resource: Planned, ctx: Context) -> Item:
    return _flat(resource, ctx, "kms-key-version", what="active key version")


# --- node groups and node pools -----------------------------------------------------------------


def _region_price(row: Mapping[str, Any] | None, column: str, region: str | None) -> Decimal | None:
    if not row or not region:
        return None
    value = (row.get(column) or {}).get(region)
    return None if value is None else Decimal(str(value))


def _hours(ctx: Context, pool_nodes: Mapping[str, int], accelerated: bool) -> dict[str, Decimal]:
    """Node-hours a month at each scale; accelerator pools sleep to their minimum for the off-peak hours."""
    hours = Decimal(ctx.book.hours)
    off = Decimal(str(ctx.assumptions.off_peak_hours)) if accelerated else Decimal(0)
    low = Decimal(pool_nodes["min"])
    return {
        "min": low * hours,
        "desired": Decimal(pool_nodes["desired"]) * (hours - off) + low * off,
        "max": Decimal(pool_nodes["max"]) * hours,
    }


def _pool_item(
    resource: Planned,
    ctx: Context,
    *,
    machine: str,
    capacity: str,
    nodes: Mapping[str, int],
    on_demand: Decimal,
    billed: Decimal,
    billed_note: str,
    role: str | None,
    accelerator: str | None,
    devices: int,
    disk: tuple[Decimal, str] | None,
) -> Item:
    """A pool's monthly cost at min, desired and max, with the basis written out at desired scale."""
    node_hours = _hours(ctx, nodes, accelerator is not None)
    full = {s: Decimal(nodes[s]) * ctx.book.hours for s in SCALES}
    disk_rate = disk[0] if disk else Decimal(0)
    monthly = {s: money(node_hours[s] * billed + Decimal(nodes[s]) * disk_rate) for s in SCALES}
    list_monthly = {s: money(full[s] * on_demand + Decimal(nodes[s]) * disk_rate) for s in SCALES}
    hours_text = f"{ctx.book.hours} h"
    if accelerator and ctx.assumptions.off_peak_hours and nodes["desired"] > nodes["min"]:
        hours_text += f" less {ctx.assumptions.off_peak_hours:g} off-peak h at {nodes['min']}"
    basis = (
        f"{nodes['desired']} x {machine} {capacity} x {hours_text} x {_rate_text(billed)}/h"
        f"{billed_note} (min {nodes['min']} / max {nodes['max']} nodes)"
    )
    if disk:
        basis += f" + {disk[1]}"
    pool = Pool(
        capacity=capacity,
        role=role,
        accelerator=accelerator,
        devices_per_node=devices,
        nodes=dict(nodes),
        hourly_node=billed,
        hourly_node_on_demand=on_demand,
    )
    return Item(
        resource.urn,
        resource.type,
        resource.name,
        PRICED,
        basis,
        resource.region,
        monthly,
        list_monthly,
        pool,
    )


def _spot(ctx: Context, on_demand: Decimal, observed: Decimal | None) -> tuple[Decimal, str]:
    if observed is not None:
        return observed, " (observed spot)"
    discount = Decimal(str(ctx.assumptions.spot_discount))
    return (on_demand * (1 - discount)).quantize(
        Decimal("0.000001")
    ), f" (on-demand less assumed {discount:.0%})"


def _eks_node_group(resource: Planned, ctx: Context) -> Item:
    inputs = resource.inputs
    machine = str((inputs.get("instanceTypes") or ["?"])[0])
    scaling = inputs.get("scalingConfig") or {}
    nodes = {
        "min": int(scaling.get("minSize") or 0),
        "desired": int(scaling.get("desiredSize") or scaling.get("minSize") or 0),
        "max": int(scaling.get("maxSize") or 0),
    }
    row = (ctx.book.compute.get("aws") or {}).get(machine)
    on_demand = _region_price(row, "onDemand", resource.region)
    if on_demand is None:
        raise Unpriced(f"no on-demand price row for {machine} in {resource.region}")
    kind = str(inputs.get("capacityType") or "ON_DEMAND")
    if kind == "SPOT":
        capacity = "spot"
        billed, note = _spot(ctx, on_demand, _region_price(row, "spot", resource.region))
    elif kind == "CAPACITY_BLOCK":
        capacity = "reserved"
        billed, note = on_demand, " (Capacity Block: no Capacity Block row, on-demand rate)"
    else:
        capacity, billed, note = "on-demand", on_demand, ""
    labels = inputs.get("labels") or {}
    disk = _launch_template_disk(resource, ctx)
    return _pool_item(
        resource,
        ctx,
        machine=machine,
        capacity=capacity,
        nodes=nodes,
        on_demand=on_demand,
        billed=billed,
        billed_note=note,
        role=labels.get("inferstack.io/role"),
        accelerator=_accelerator(labels),
        devices=int(row.get("devices", 0)) if row else 0,
        disk=disk,
    )


def _launch_template_disk(resource: Planned, ctx: Context) -> tuple[Decimal, str] | None:
    """The gp3 root volume of each node, from the launch template the node group depends on."""
    for urn in resource.dependencies:
        template = ctx.by_urn.get(urn)
        if template is None or template.type != "aws:ec2/launchTemplate:LaunchTemplate":
            continue
        for mapping in template.inputs.get("blockDeviceMappings") or []:
            ebs = mapping.get("ebs") or {}
            if ebs.get("volumeType") == "gp3" and ebs.get("volumeSize"):
                rate = ctx.book.rate("ebs-gp3")
                size = Decimal(str(ebs["volumeSize"]))
                per_node = money(size * Decimal(str(rate["price"])))
                return per_node, f"{size} GiB gp3 per node x {_rate_text(rate['price'])}/GB-month"
    return None


def _accelerator(labels: Mapping[str, Any]) -> str | None:
    """The pool's accelerator from its node labels ("none" on CPU pools)."""
    value = labels.get("inferstack.io/accelerator")
    return None if value in (None, "", "none") else str(value)


_TPU_CHIPS = re.compile(r"-(\d+)t$")
_GCP_DISK_RATES = {"pd-ssd": "pd-ssd", "pd-balanced": "pd-balanced"}


def _gke_nodes(resource: Planned, ctx: Context) -> dict[str, int]:
    inputs = resource.inputs
    scaling = inputs.get("autoscaling") or {}
    locations = inputs.get("nodeLocations") or []
    if not locations:
        cluster = next(
            (
                ctx.by_urn[u]
                for u in resource.dependencies
                if u in ctx.by_urn and ctx.by_urn[u].type == "gcp:container/cluster:Cluster"
            ),
            None,
        )
        locations = (cluster.inputs.get("nodeLocations") if cluster else None) or []
    zones = max(len(locations), 1)
    if "totalMaxNodeCount" in scaling:
        low, high = int(scaling.get("totalMinNodeCount") or 0), int(scaling["totalMaxNodeCount"])
    else:
        low, high = (
            int(scaling.get("minNodeCount") or 0) * zones,
            int(scaling.get("maxNodeCount") or 0) * zones,
        )
    start = int(inputs.get("initialNodeCount") or inputs.get("nodeCount") or 0) * zones
    return {"min": low, "desired": min(max(start, low), high), "max": high}


def _gke_node_pool(resource: Planned, ctx: Context) -> Item:
    inputs = resource.inputs
    config = inputs.get("nodeConfig") or {}
    machine = str(config.get("machineType"))
    region = resource.region
    compute = ctx.book.compute
    spot = bool(config.get("spot") or config.get("preemptible"))
    reserved = (config.get("reservationAffinity") or {}).get(
        "consumeReservationType"
    ) == "SPECIFIC_RESERVATION"
    labels = config.get("labels") or {}
    chips = _TPU_CHIPS.search(machine) if machine.startswith("ct") else None
    parts: list[tuple[Decimal, Decimal | None, str]] = []  # (on-demand, observed spot, what)
    accelerator = _accelerator(labels)
    devices = 0
    if chips:
        generation = str(accelerator or "")
        row = (compute.get("gcpTpuChips") or {}).get(generation)
        per_chip = _region_price(row, "onDemand", region)
        if per_chip is None:
            raise Unpriced(f"no per-chip price row for {generation or machine} in {region}")
        devices = int(chips.group(1))
        spot_chip = _region_price(row, "spot", region)
        parts.append(
            (
                per_chip * devices,
                spot_chip * devices if spot_chip is not None else None,
                f"{devices} {generation} chips",
            )
        )
    else:
        row = (compute.get("gcp") or {}).get(machine)
        host = _region_price(row, "onDemand", region)
        if host is None:
            raise Unpriced(f"no price row for {machine} in {region}")
        parts.append((host, _region_price(row, "spot", region), "host"))
        for gpu in config.get("guestAccelerators") or []:
            count = int(gpu.get("count") or 0)
            name = str(accelerator or gpu.get("type"))
            if str(gpu.get("type", "")).endswith("mega-80gb"):
                name = "H100-MEGA"
            grow = (compute.get("gcpGpus") or {}).get(name)
            each = _region_price(grow, "onDemand", region)
            if each is None:
                raise Unpriced(f"no per-GPU price row for {name} in {region}")
            devices += count
            spot_each = _region_price(grow, "spot", region)
            parts.append(
                (each * count, spot_each * count if spot_each is not None else None, f"{count} {name}")
            )
    on_demand = sum((p[0] for p in parts), Decimal(0))
    if spot:
        observed = [p[1] for p in parts]
        if all(o is not None for o in observed):
            billed, note = sum((o for o in observed if o is not None), Decimal(0)), " (observed spot)"
        else:
            billed, note = _spot(ctx, on_demand, None)
        capacity = "spot"
    elif reserved:
        capacity, billed, note = "reserved", on_demand, " (a reservation bills at the on-demand rate)"
    else:
        capacity, billed, note = "on-demand", on_demand, ""
    if len(parts) > 1 or chips:
        note += " = " + " + ".join(p[2] for p in parts)
    disk = None
    disk_type = str(config.get("diskType") or "pd-balanced")
    size = config.get("diskSizeGb")
    if size and disk_type in _GCP_DISK_RATES:
        rate = ctx.book.rate(_GCP_DISK_RATES[disk_type])
        disk = (
            money(Decimal(str(size)) * Decimal(str(rate["price"]))),
            f"{size} GiB {disk_type} per node x {_rate_text(rate['price'])}/GB-month",
        )
    item = _pool_item(
        resource,
        ctx,
        machine=machine,
        capacity=capacity,
        nodes=_gke_nodes(resource, ctx),
        on_demand=on_demand,
        billed=billed,
        billed_note=note,
        role=labels.get("inferstack.io/role"),
        accelerator=accelerator,
        devices=devices,
        disk=disk,
    )
    if size and disk is None:
        item = replace(item, basis=item.basis + f"; boot disk ({size} GiB {disk_type}) not priced: no row")
    return item


Pricer = Callable[[Planned, Context], Item]

PRICERS: dict[str, Pricer] = {
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _eks_node_group,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:kms/key:Key": _kms_key,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:route53/zone:Zone": _zone,
    "aws:route53/healthCheck:HealthCheck": _health_check,
    "aws:rds/clusterInstance:ClusterInstance": _aurora_instance,
    "aws:elasticache/replicationGroup:ReplicationGroup": _cache,
    "gcp:container/cluster:Cluster": _gke_cluster,
    "gcp:container/nodePool:NodePool": _gke_node_pool,
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": _forwarding_rule,
    "gcp:kms/cryptoKey:CryptoKey": _gcp_kms_key,
}
"""Resource types the estimator prices from their inputs; everything else is classified in types.yaml."""


def estimate(
    resources: Iterable[Planned], assumptions: Assumptions | None = None, book: PriceBook | None = None
) -> Estimate:
    """Every custom resource as a priced, usage-based, free or unpriced item, in the order given."""
    book = book or price_book()
    assumptions = assumptions or Assumptions()
    planned = [r for r in resources if r.custom]
    ctx = Context(book, assumptions, {r.urn: r for r in planned})
    items: list[Item] = []
    for resource in planned:
        pricer = PRICERS.get(resource.type)
        if pricer is not None:
            try:
                items.append(pricer(resource, ctx))
            except Unpriced as why:
                items.append(
                    Item(resource.urn, resource.type, resource.name, UNPRICED, str(why), resource.region)
                )
            continue
        known = book.classify(resource.type)
        if known is None:
            items.append(
                Item(
                    resource.urn,
                    resource.type,
                    resource.name,
                    UNPRICED,
                    "a type the price tables do not know (add it to policies/pricing/types.yaml)",
                    resource.region,
                )
            )
        else:
            items.append(
                Item(resource.urn, resource.type, resource.name, known[0], known[1], resource.region)
            )
    return Estimate(items, assumptions, book.as_of)


# --------------------------------------------------------------------------------------------------
# The policy host's view of resources
# --------------------------------------------------------------------------------------------------


def _props(value: Any) -> Mapping[str, Any]:
    """Provider inputs arrive JSON-encoded (the engine sends provider config as strings)."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, Mapping) else {}
    return value if isinstance(value, Mapping) else {}


def planned_from_stack(args: StackValidationArgs) -> list[Planned]:
    out: list[Planned] = []
    for r in args.resources:
        provider = getattr(r, "provider", None)
        region = None
        if provider is not None:
            props = provider.props or {}
            region = props.get("region") or props.get("zone")
        if region is None:
            region = r.props.get("region") or r.props.get("location")
        out.append(
            Planned(
                urn=r.urn,
                type=r.resource_type,
                name=r.name,
                inputs=r.props,
                region=str(region) if region else None,
                dependencies=tuple(d.urn for d in (r.dependencies or [])),
                # Components (inferstack:...) and the stack itself own nothing billable.
                custom=r.resource_type != "pulumi:pulumi:Stack"
                and not r.resource_type.startswith("inferstack:"),
            )
        )
    return out


# --------------------------------------------------------------------------------------------------
# Guards
# --------------------------------------------------------------------------------------------------

COST_TAGS = ("owner", "cost-center")
"""The keys cost is allocated by; every stack's resources carry them (and environment, which shared
projects such as the bootstrap have no single value for)."""

DEFAULT_ACCELERATORS: Mapping[str, Sequence[str]] = {
    "dev": ("T4", "L4", "A10G", "L40S", "tpu-v5e"),
    "staging": ("T4", "L4", "A10G", "L40S", "A100-40GB", "A100-80GB", "H100", "tpu-v5e", "tpu-v6e"),
}
"""Accelerators a pool may carry per environment unless the policy config says otherwise; prod: any."""

DEFAULT_MAX_ACCELERATORS_PER_POOL = 64


def _config(args: StackValidationArgs) -> Mapping[str, Any]:
    try:
        return args.get_config() or {}
    except Exception:  # an older host without config support
        return {}


def _money_text(value: Decimal | float) -> str:
    return f"{Decimal(str(value)):,.2f} USD"


def _budget_limit(config: Mapping[str, Any], resources: Sequence[Planned]) -> float | None:
    """The budget from the policy config, else from the budget the stack creates in the cloud."""
    if config.get("maxMonthlyUsd") is not None:
        return float(config["maxMonthlyUsd"])
    for r in resources:
        if r.type == "aws:budgets/budget:Budget" and r.inputs.get("limitAmount"):
            try:
                return float(r.inputs["limitAmount"])
            except (TypeError, ValueError):
                continue
    return None


def _validate_budget(scale: str) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        config = _config(args)
        resources = planned_from_stack(args)
        limit = _budget_limit(config, resources)
        if limit is None:
            return
        result = estimate(resources, Assumptions.from_config(config))
        total = result.total(scale)
        if total > Decimal(str(limit)):
            where = (
                "expected at desired scale" if scale == "desired" else "at max scale (every pool at maxSize)"
            )
            unpriced = len(result.of(UNPRICED))
            report(
                f"estimated cost {where} is {_money_text(total)} a month, above the budget of "
                f"{_money_text(limit)} (budget.maxMonthlyUsd)"
                + (f"; {unpriced} resources are unpriced and not counted" if unpriced else "")
                + " (C4)",
                None,
            )

    return validate


def _pools(resources: Sequence[Planned]) -> list[tuple[Planned, Mapping[str, Any], str, int, str]]:
    """(resource, node labels, capacity, max nodes, machine) of every node group and node pool."""
    out = []
    for r in resources:
        if r.type == "aws:eks/nodeGroup:NodeGroup":
            capacity = {"SPOT": "spot", "CAPACITY_BLOCK": "reserved"}.get(
                str(r.inputs.get("capacityType")), "on-demand"
            )
            high = int((r.inputs.get("scalingConfig") or {}).get("maxSize") or 0)
            machine = str((r.inputs.get("instanceTypes") or ["?"])[0])
            out.append((r, r.inputs.get("labels") or {}, capacity, high, machine))
        elif r.type == "gcp:container/nodePool:NodePool":
            config = r.inputs.get("nodeConfig") or {}
            reserved = (config.get("reservationAffinity") or {}).get(
                "consumeReservationType"
            ) == "SPECIFIC_RESERVATION"
            capacity = (
                "spot"
                if config.get("spot") or config.get("preemptible")
                else ("reserved" if reserved else "on-demand")
            )
            scaling = r.inputs.get("autoscaling") or {}
            high = int(
                scaling.get("totalMaxNodeCount")
                or scaling.get("maxNodeCount")
                or r.inputs.get("nodeCount")
                or 0
            )
            out.append((r, config.get("labels") or {}, capacity, high, str(config.get("machineType"))))
    return out


def _devices(resource: Planned, machine: str) -> int:
    if resource.type == "gcp:container/nodePool:NodePool":
        config = resource.inputs.get("nodeConfig") or {}
        chips = _TPU_CHIPS.search(machine) if machine.startswith("ct") else None
        if chips:
            return int(chips.group(1))
        return sum(int(g.get("count") or 0) for g in config.get("guestAccelerators") or [])
    row = (price_book().compute.get("aws") or {}).get(machine) or {}
    return int(row.get("devices", 0))


def _validate_accelerator_cap(args: StackValidationArgs, report: ReportViolation) -> None:
    cap = int(_config(args).get("maxAcceleratorsPerPool", DEFAULT_MAX_ACCELERATORS_PER_POOL))
    for resource, _labels, _capacity, high, machine in _pools(planned_from_stack(args)):
        total = _devices(resource, machine) * high
        if total > cap:
            report(
                f"pool can grow to {total} accelerators ({high} x {machine}), above the cap of {cap} per pool "
                "(maxAcceleratorsPerPool) (C2)",
                resource.urn,
            )


def _validate_burst_spot(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource, labels, capacity, _high, _machine in _pools(planned_from_stack(args)):
        if labels.get("inferstack.io/role") == "burst" and _accelerator(labels) and capacity != "spot":
            report(
                f"burst accelerator pool runs {capacity}; burst capacity is spot and scales from zero (C3)",
                resource.urn,
            )


_CLUSTERS = ("aws:eks/cluster:Cluster", "gcp:container/cluster:Cluster")


def _cluster_of(resource: Planned, by_urn: Mapping[str, Planned]) -> str:
    """The cluster a pool belongs to, by the pool's dependency on it: a GKE pool names its cluster by
    an id the preview does not know, and reading it would cost the guard its mandatory run. Named as
    the cloud names it when that is known."""
    for urn in resource.dependencies:
        cluster = by_urn.get(urn)
        if cluster is not None and cluster.type in _CLUSTERS:
            try:
                return str(cluster.inputs.get("name") or cluster.name)
            except UnknownValueError:
                return cluster.name
    return resource.name


def _validate_core_floor(args: StackValidationArgs, report: ReportViolation) -> None:
    clusters: dict[str, list[tuple[str, int]]] = {}
    resources = planned_from_stack(args)
    by_urn = {r.urn: r for r in resources}
    for resource, labels, capacity, _high, _machine in _pools(resources):
        if labels.get("inferstack.io/role") != "core" or not _accelerator(labels):
            continue
        key = _cluster_of(resource, by_urn)
        if resource.type == "aws:eks/nodeGroup:NodeGroup":
            low = int((resource.inputs.get("scalingConfig") or {}).get("minSize") or 0)
        else:
            scaling = resource.inputs.get("autoscaling") or {}
            low = int(scaling.get("totalMinNodeCount") or scaling.get("minNodeCount") or 0)
        clusters.setdefault(key, []).append((capacity, low))
    for cluster, pools in sorted(clusters.items()):
        if not any(capacity != "spot" and low >= 1 for capacity, low in pools):
            report(
                f"core cluster {cluster} has no on-demand or reserved accelerator floor (minSize >= 1) (C3, custom floor)",
                None,
            )


def _environment(resources: Sequence[Planned]) -> str | None:
    for r in resources:
        if r.type == "pulumi:providers:aws":
            tags = _props(r.inputs.get("defaultTags")).get("tags") or {}
            if tags.get("environment"):
                return str(tags["environment"])
    for r in resources:
        labels = (
            (r.inputs.get("resourceLabels") or r.inputs.get("labels") or {})
            if isinstance(r.inputs, Mapping)
            else {}
        )
        if isinstance(labels, Mapping) and labels.get("environment"):
            return str(labels["environment"])
    return None


def _validate_allow_lists(args: StackValidationArgs, report: ReportViolation) -> None:
    config = _config(args)
    resources = planned_from_stack(args)
    environment = str(config.get("environment") or _environment(resources) or "")
    accelerators = (
        (config.get("allowedAccelerators") or {}).get(environment)
        if config.get("allowedAccelerators")
        else DEFAULT_ACCELERATORS.get(environment)
    )
    machines = (config.get("allowedMachineTypes") or {}).get(environment)
    for resource, labels, _capacity, _high, machine in _pools(resources):
        accelerator = _accelerator(labels)
        if accelerators is not None and accelerator and accelerator not in accelerators:
            report(
                f"{accelerator} pools are not allowed in {environment}; allowed: {', '.join(accelerators)} (C1)",
                resource.urn,
            )
        if machines is not None and machine not in machines:
            report(
                f"machine type {machine} is not allowed in {environment}; allowed: {', '.join(machines)} (C1)",
                resource.urn,
            )


_GCP_LABELS: Mapping[str, str] = {
    "gcp:container/cluster:Cluster": "resourceLabels",
    "gcp:container/nodePool:NodePool": "nodeConfig.resourceLabels",
    "gcp:sql/databaseInstance:DatabaseInstance": "settings.userLabels",
    "gcp:redis/instance:Instance": "labels",
}
"""GCP types that carry billing labels, and where (GCP has no provider-wide labels the program sets)."""


def _at(props: Mapping[str, Any], path: str) -> Any:
    value: Any = props
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _validate_cost_tags(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = planned_from_stack(args)
    for r in resources:
        if r.type == "pulumi:providers:aws":
            tags = _props(r.inputs.get("defaultTags")).get("tags") or {}
            missing = [k for k in COST_TAGS if not tags.get(k)]
            if missing:
                report(
                    f"AWS provider {r.name} does not tag every resource with {', '.join(missing)} "
                    "(defaultTags); cost allocation needs them (C10)",
                    r.urn,
                )
        elif r.type in _GCP_LABELS:
            labels = _at(r.inputs, _GCP_LABELS[r.type]) or {}
            missing = [k for k in COST_TAGS if not (isinstance(labels, Mapping) and labels.get(k))]
            if missing:
                report(
                    f"missing cost-allocation labels {', '.join(missing)} ({_GCP_LABELS[r.type]}) (C10)",
                    r.urn,
                )


_ASSUMPTION_SCHEMA: dict[str, Any] = {
    "maxMonthlyUsd": {"type": "number", "exclusiveMinimum": 0},
    "spotDiscount": {"type": "number", "minimum": 0, "maximum": 1},
    "commitmentDiscount": {"type": "number", "minimum": 0, "maximum": 1},
    "offPeakHoursPerMonth": {"type": "number", "minimum": 0, "maximum": 730},
}

POLICIES: list[StackValidationPolicy] = [
    StackValidationPolicy(
        name="cost-budget",
        description="The expected monthly cost at desired scale is within budget.maxMonthlyUsd (C4; mirrors the budget-limit of pulumi-policy-aws-cost)",
        validate=_validate_budget("desired"),
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(properties=_ASSUMPTION_SCHEMA),
        severity=Severity.HIGH,
        remediation_steps="raise budget.maxMonthlyUsd, or lower pools' desiredSize or machine types; inferstack cost STACK itemises the figure",
        tags=["cost", "C4"],
    ),
    StackValidationPolicy(
        name="cost-budget-at-max",
        description="The monthly cost with every pool at maxSize is within budget.maxMonthlyUsd (C4)",
        validate=_validate_budget("max"),
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(properties=_ASSUMPTION_SCHEMA),
        severity=Severity.MEDIUM,
        remediation_steps="lower pools' maxSize, or raise budget.maxMonthlyUsd if the stack may really grow that far",
        tags=["cost", "C4"],
    ),
    StackValidationPolicy(
        name="cost-accelerator-cap",
        description="No pool can grow past the per-pool accelerator cap (C2)",
        validate=_validate_accelerator_cap,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={"maxAcceleratorsPerPool": {"type": "integer", "minimum": 1}}
        ),
        severity=Severity.HIGH,
        remediation_steps="lower the pool's maxSize (or its machine's accelerators per node) under maxAcceleratorsPerPool",
        tags=["cost", "C2"],
    ),
    StackValidationPolicy(
        name="cost-burst-spot",
        description="Burst accelerator pools run on spot capacity (C3; mirrors requireSpotInstance of the FinOps pack)",
        validate=_validate_burst_spot,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.MEDIUM,
        remediation_steps="set capacity: spot on the burst cluster's accelerator pools",
        tags=["cost", "C3"],
    ),
    StackValidationPolicy(
        name="cost-core-floor",
        description="Every core cluster keeps an on-demand or reserved accelerator floor (C3, custom floor)",
        validate=_validate_core_floor,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        remediation_steps="give every core cluster an on-demand or reserved accelerator pool with minSize >= 1",
        tags=["cost", "C3"],
    ),
    StackValidationPolicy(
        name="cost-allow-lists",
        description="Pools use accelerators and machine types allowed in their environment (C1; mirrors requireInstanceType of the FinOps pack)",
        validate=_validate_allow_lists,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={
                "environment": {"type": "string"},
                "allowedAccelerators": {"type": "object"},
                "allowedMachineTypes": {"type": "object"},
            }
        ),
        severity=Severity.HIGH,
        remediation_steps="use an accelerator and machine type the environment allows (policies/pricing, infra/catalog)",
        tags=["cost", "C1"],
    ),
    StackValidationPolicy(
        name="cost-allocation-tags",
        description="Every taggable resource carries the owner and cost-center tags cost is allocated by (C10)",
        validate=_validate_cost_tags,
        enforcement_level=EnforcementLevel.ADVISORY,
        severity=Severity.LOW,
        remediation_steps="set the owner and cost-center tags in the stack's tags (they reach every provider's default tags and labels)",
        tags=["cost", "C10"],
    ),
]
