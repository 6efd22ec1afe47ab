"""The estimator and its price tables: sourced rows, a hand-computed graph, nothing silently free."""

from __future__ import annotations

from decimal import Decimal

import pytest

from infra.catalog import catalog
from policies.cost import PRICERS, Assumptions, Planned, estimate, price_book
from tests.conftest import planned as planned_stack

STACKS = ["dev", "staging", "prod", "onprem"]


# --- the price tables --------------------------------------------------------------------------


def test_every_compute_row_names_a_source_a_catalogued_machine_and_region() -> None:
    book = price_book()
    sources = book.compute["sources"]
    assert book.hours == 730 and book.as_of
    for key in sources.values():
        assert key["file"] and key["url"] and key["asOf"]
    cat = catalog()
    tables = {
        "aws": (cat.aws_instance_types, set(cat.aws_regions)),
        "gcp": (cat.gcp_machine_types, set(cat.gcp_regions)),
    }
    for cloud, (machines, regions) in tables.items():
        rows = book.compute[cloud]
        assert rows, cloud
        for name, row in rows.items():
            assert name in machines, f"{cloud} {name}: not in infra/catalog/machines.yaml"
            assert row["source"] in sources, f"{name}: source {row['source']} is not listed"
            assert row["onDemand"], name
            for column in ("onDemand", "spot"):
                for region, price in (row.get(column) or {}).items():
                    assert region in regions, f"{name}: {region} is not in regions.yaml"
                    assert price > 0, f"{name} {region}"
            if cloud == "aws":
                assert row.get("devices", 0) == machines[name].accelerator_count, name


def test_accelerator_rows_name_catalogued_accelerators() -> None:
    book = price_book()
    known = set(catalog().accelerators)
    for table in ("gcpGpus", "gcpTpuChips"):
        assert book.compute[table], table
        for name, row in book.compute[table].items():
            assert name.removesuffix("-MEGA") in known, name
            assert row["source"] in book.compute["sources"], name
            assert set(row["onDemand"]) <= set(catalog().gcp_regions), name


def test_every_service_rate_names_its_source_and_row() -> None:
    services = price_book().services
    assert services["rates"]
    for key, rate in [*services["rates"].items(), *services["auroraInstances"].items()]:
        assert rate["price"] > 0, key
        assert rate["source"] in services["sources"], key
        assert rate["row"] and rate["region"], key


@pytest.mark.parametrize("stack", STACKS)
def test_every_type_a_shipped_stack_creates_is_priced_or_classified(stack: str) -> None:
    graph = planned_stack(stack)
    types = {r.type for r in graph.resources if r.custom}
    assert types
    book = price_book()
    unknown = sorted(t for t in types if t not in PRICERS and book.classify(t) is None)
    assert unknown == [], "add these to PRICERS or policies/pricing/types.yaml"


def test_a_type_nobody_classified_is_reported_not_free() -> None:
    result = estimate([Planned("urn:x", "aws:sagemaker/endpoint:Endpoint", "x", {}, "us-east-1")])
    (item,) = result.items
    assert item.category == "unpriced" and "types.yaml" in item.basis
    assert result.to_json()["complete"] is False


# --- a graph priced by hand ---------------------------------------------------------------------


def _small_graph() -> list[Planned]:
    template = Planned(
        "urn:lt",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "gpu",
        {"blockDeviceMappings": [{"ebs": {"volumeType": "gp3", "volumeSize": 100}}]},
        "us-east-1",
    )
    return [
        Planned("urn:eks", "aws:eks/cluster:Cluster", "core", {"version": "1.35"}, "us-east-1"),
        template,
        Planned(
            "urn:ng",
            "aws:eks/nodeGroup:NodeGroup",
            "gpu",
            {
                "instanceTypes": ["g6.xlarge"],
                "capacityType": "ON_DEMAND",
                "scalingConfig": {"minSize": 1, "desiredSize": 2, "maxSize": 3},
                "labels": {"inferstack.io/role": "core", "inferstack.io/accelerator": "L4"},
            },
            "us-east-1",
            dependencies=("urn:lt",),
        ),
        Planned(
            "urn:np",
            "gcp:container/nodePool:NodePool",
            "burst",
            {
                "autoscaling": {"minNodeCount": 0, "maxNodeCount": 2},
                "initialNodeCount": 0,
                "nodeLocations": ["us-central1-a"],
                "nodeConfig": {
                    "machineType": "g2-standard-8",
                    "spot": True,
                    "diskType": "pd-ssd",
                    "diskSizeGb": 100,
                    "guestAccelerators": [{"count": 1, "type": "nvidia-l4"}],
                    "labels": {"inferstack.io/role": "burst", "inferstack.io/accelerator": "L4"},
                },
            },
            "us-central1",
        ),
        Planned("urn:nat", "aws:ec2/natGateway:NatGateway", "nat", {}, "us-east-1"),
        Planned("urn:eip", "aws:ec2/eip:Eip", "nat", {"domain": "vpc"}, "us-east-1"),
        Planned(
            "urn:vpce",
            "aws:ec2/vpcEndpoint:VpcEndpoint",
            "sts",
            {"vpcEndpointType": "Interface", "subnetIds": ["a", "b"]},
            "us-east-1",
        ),
        Planned(
            "urn:s3", "aws:ec2/vpcEndpoint:VpcEndpoint", "s3", {"vpcEndpointType": "Gateway"}, "us-east-1"
        ),
        Planned("urn:kms", "aws:kms/key:Key", "k", {}, "us-east-1"),
        Planned("urn:log", "aws:cloudwatch/logGroup:LogGroup", "log", {}, "us-east-1"),
    ]


def test_a_small_graph_matches_the_hand_computed_figures_to_the_cent() -> None:
    result = estimate(_small_graph(), Assumptions())
    monthly = {i.urn: i.monthly for i in result.priced()}
    # EKS standard support: 0.10 x 730
    assert monthly["urn:eks"]["desired"] == Decimal("73.00")
    # g6.xlarge us-east-1 0.8048/h: 2 x 0.8048 x 730 = 1175.008, + 2 x 100 GiB gp3 x 0.08 = 16
    assert monthly["urn:ng"] == {
        "min": Decimal("595.50"),
        "desired": Decimal("1191.01"),
        "max": Decimal("1786.51"),
    }
    # spot g2-standard-8 us-central1: host 0.150033 + L4 0.2862 observed spot; 0 nodes until it bursts;
    # at max 2 x 0.436233 x 730 = 636.90018, + 2 x 100 GiB pd-ssd x 0.17 = 34
    assert monthly["urn:np"] == {"min": Decimal("0.00"), "desired": Decimal("0.00"), "max": Decimal("670.90")}
    assert monthly["urn:nat"]["desired"] == Decimal("32.85")  # 0.045 x 730
    assert monthly["urn:eip"]["desired"] == Decimal("3.65")  # 0.005 x 730
    assert monthly["urn:vpce"]["desired"] == Decimal("14.60")  # 2 AZs x 0.01 x 730
    assert monthly["urn:kms"]["desired"] == Decimal("1.00")
    assert {i.urn for i in result.of("free")} == {"urn:s3", "urn:lt"}
    assert {i.urn for i in result.of("usage")} == {"urn:log"}
    # 73 + 1191.01 + 0 + 32.85 + 3.65 + 14.60 + 1.00
    assert result.total("desired") == Decimal("1316.11")
    assert result.total("min") == Decimal("720.60")  # 73 + 595.50 + 52.10 fixed
    assert result.total("max") == Decimal("2582.51")  # 73 + 1786.51 + 670.90 + 52.10
    block = result.to_json()
    assert block["monthlyUsd"] == 1316.11 and block["complete"] is True
    assert "2 x g6.xlarge on-demand x 730 h x $0.8048/h" in next(
        i["basis"] for i in block["items"] if i["urn"] == "urn:ng"
    )


def test_a_machine_or_region_without_a_row_is_unpriced_not_free() -> None:
    graph = _small_graph()
    pool = next(p for p in graph if p.urn == "urn:ng")
    elsewhere = [
        Planned(pool.urn, pool.type, pool.name, pool.inputs, "eu-west-1", pool.dependencies),
        Planned("urn:m6i", pool.type, "m6i", {**pool.inputs, "instanceTypes": ["m6i.large"]}, "us-east-1"),
    ]
    result = estimate(elsewhere)
    assert [i.category for i in result.items] == ["unpriced", "unpriced"]
    assert "g6.xlarge in eu-west-1" in result.items[0].basis
    assert result.total() == 0 and result.to_json()["unpriced"]


def test_aws_spot_is_on_demand_less_the_stated_discount() -> None:
    spot = Planned(
        "urn:s",
        "aws:eks/nodeGroup:NodeGroup",
        "s",
        {"instanceTypes": ["p5en.48xlarge"], "capacityType": "SPOT", "scalingConfig": {"maxSize": 1}},
        "us-east-1",
    )
    at_60 = estimate([spot]).items[0]
    at_70 = estimate([spot], Assumptions(spot_discount=0.7)).items[0]
    assert at_60.monthly["max"] == Decimal("18482.43")  # 63.296 x (1 - 0.6) x 730 = 18482.432
    assert at_70.monthly["max"] < at_60.monthly["max"]
    assert "assumed 60%" in at_60.basis and "assumed 70%" in at_70.basis


@pytest.mark.parametrize(
    ("resource", "monthly", "basis"),
    [
        # Infracost's golden row: db.t3.large, 730 hours, $119.72
        (
            Planned(
                "urn:db",
                "aws:rds/clusterInstance:ClusterInstance",
                "db-1",
                {"instanceClass": "db.t3.large"},
                "us-east-1",
            ),
            Decimal("119.72"),
            "1 x db.t3.large x 730 h x $0.164/h; storage and I/O with use",
        ),
        # cache.m4.large at $0.156/h, two nodes, priced at the us-east-1 row from us-west-2
        (
            Planned(
                "urn:cache",
                "aws:elasticache/replicationGroup:ReplicationGroup",
                "cache",
                {"nodeType": "cache.m4.large", "numCacheClusters": 2},
                "us-west-2",
            ),
            Decimal("227.76"),
            "2 x cache.m4.large x 730 h x $0.156/h (us-east-1 rate)",
        ),
    ],
)
def test_hourly_service_nodes_are_priced_by_node_and_hour(
    resource: Planned, monthly: Decimal, basis: str
) -> None:
    (item,) = estimate([resource]).items
    assert item.basis == basis
    assert {item.monthly[s] for s in item.monthly} == {monthly}


@pytest.mark.parametrize(
    ("kind", "inputs"),
    [
        ("aws:rds/clusterInstance:ClusterInstance", {"instanceClass": "db.x9.huge"}),
        ("aws:elasticache/replicationGroup:ReplicationGroup", {"nodeType": "cache.x9.huge"}),
    ],
)
def test_a_node_class_without_a_row_is_listed_unpriced(kind: str, inputs: dict[str, str]) -> None:
    (item,) = estimate([Planned("urn:x", kind, "x", inputs, "us-east-1")]).items
    assert item.category == "unpriced" and "x9.huge" in item.basis and not item.monthly
