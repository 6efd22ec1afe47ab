"""GPU pools only where the GPU is: the catalog's zones per GPU, and what the settings and the pools do with them.

GCP sells a GPU machine type in some zones of a region only (A3 Ultra / H200 in us-central1-b
alone, no L4 in us-east4-b), and AWS offers an instance type in some Availability Zones only (p5en
in two of us-east-1's six). A pool spread over a zone without its machine gets no node there.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferstack import mocks
from inferstack.engine import Graph, Resource, plan_stack
from inferstack.project import find_project
from infra.aws.nodegroups import offering_zones
from infra.catalog import DeviceKind, catalog
from infra.settings import NodePool
from tests.conftest import ROOT, planned
from tests.test_cli import run
from tests.test_settings import broken, pool, raw

SUBNET = "aws:ec2/subnet:Subnet"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EKS = "inferstack:aws:EksCluster"


# --- the catalog -----------------------------------------------------------------------------


def test_every_gcp_gpu_machine_has_zones_in_each_of_its_regions() -> None:
    c = catalog()
    for name, machine in c.gcp_machine_types.items():
        if machine.accelerator is None or c.accelerators[machine.accelerator].kind is not DeviceKind.GPU:
            continue
        assert machine.regions, name
        for region in machine.regions:
            zones = c.gcp_zones(machine.accelerator, region)
            assert zones, f"{name} ({machine.accelerator}) in {region}: no zones"
            assert set(zones) <= set(c.gcp_regions[region])


def test_gpu_zones_are_zones_of_their_region() -> None:
    c = catalog()
    for name, accelerator in c.accelerators.items():
        for region, zones in (accelerator.zones or {}).items():
            assert region in c.gcp_regions, (name, region)
            assert set(zones) <= set(c.gcp_regions[region]), (name, region)
            assert len(set(zones)) == len(zones), (name, region)


def test_every_aws_gpu_instance_type_has_az_ids_in_each_of_its_regions() -> None:
    c = catalog()
    for name, machine in c.aws_instance_types.items():
        if machine.accelerator is None or c.accelerators[machine.accelerator].kind is not DeviceKind.GPU:
            assert c.aws_az_ids(name, "us-east-1") == (), name
            continue
        for region in machine.regions or ():
            ids = c.aws_az_ids(name, region)
            assert ids, f"{name} in {region}: no AZ IDs"
            assert set(ids) <= set(c.aws_region_az_ids[region]), (name, region)


def test_az_ids_of_a_region_are_the_region_s() -> None:
    prefix = {"us-east-1": "use1", "us-west-2": "usw2", "eu-north-1": "eun1", "ap-northeast-1": "apne1"}
    for region, ids in catalog().aws_region_az_ids.items():
        assert len(ids) >= len(catalog().aws_regions[region]) >= 3, region
        if region in prefix:
            assert all(i.startswith(prefix[region] + "-az") for i in ids), region


def test_what_the_research_found_is_in_the_catalog() -> None:
    c = catalog()
    assert c.gcp_zones("H200", "us-central1") == ("us-central1-b",)
    assert c.gcp_zones("L4", "us-east4") == ("us-east4-a", "us-east4-c")
    assert "us-central1-f" not in c.gcp_zones("L4", "us-central1")
    assert c.aws_az_ids("p5en.48xlarge", "us-east-1") == ("use1-az2", "use1-az6")
    assert "usw2-az1" not in c.aws_az_ids("p5en.48xlarge", "us-west-2")
    assert "use1-az5" not in c.aws_az_ids("g6e.xlarge", "us-east-1")
    assert c.tpu_zones("H200", "us-central1") == ()  # TPU logic keeps to TPUs


def test_machines_table_is_dated_and_cites_the_zone_sources() -> None:
    text = (ROOT / "infra/catalog/machines.yaml").read_text()
    data = yaml.safe_load(text)
    assert str(data["asOf"]) >= "2026-11-30"
    sources = " ".join(data["sources"])
    for cited in (
        "gpu-regions-zones",
        "ai-zones",
        "manage-ai-zones",
        "az-ids",
        "DescribeInstanceTypeOfferings",
    ):
        assert cited in sources, cited
    assert "NOT read" in sources  # the GCP zones are not cross-checked against Google's page: say so
    assert "UNCERTAIN" in text  # g5 sizes not read row by row


def test_the_offline_account_maps_every_zone_the_stacks_use() -> None:
    for region, zones in catalog().aws_regions.items():
        mapping = mocks.AZ_IDS[region]
        assert set(zones) <= set(mapping), region
        assert set(mapping.values()) <= set(catalog().aws_region_az_ids[region]), region


# --- GKE ------------------------------------------------------------------------------------


def _gke_pool(graph: Graph, name: str) -> Resource:
    (found,) = [r for r in graph.of_type("gcp:container/nodePool:NodePool") if r.name == name]
    return found


def test_prod_gke_h200_pool_is_in_us_central1_b_only(prod: Graph) -> None:
    assert _gke_pool(prod, "burst-usc1-h200-spot").inputs["nodeLocations"] == ["us-central1-b"]


def test_staging_l4_pool_in_us_east4_leaves_out_us_east4_b(staging: Graph) -> None:
    zones = _gke_pool(staging, "burst-use4-l4x2-spot").inputs["nodeLocations"]
    assert zones == ["us-east4-a", "us-east4-c"]


# --- EKS ------------------------------------------------------------------------------------


def _subnet_zones(graph: Graph, group: Resource) -> list[str]:
    """The zones of a node group's subnets (subnet ids are the offline engine's ids of the Subnet resources)."""
    by_id = {mocks.resource_id(SUBNET, s.name): s for s in graph.of_type(SUBNET)}
    return [by_id[i].inputs["availabilityZone"] for i in group.inputs["subnetIds"]]


def _region(graph: Graph, group: Resource) -> str:
    region = graph.region_of(group)
    assert region is not None
    return region


def test_prod_p5en_node_groups_use_only_subnets_whose_az_id_offers_p5en(prod: Graph) -> None:
    groups = [g for g in prod.of_type(NODE_GROUP) if g.inputs["instanceTypes"] == ["p5en.48xlarge"]]
    assert {g.name for g in groups} >= {"core-use1-h200", "core-use1-h200-spot", "core-usw2-h200"}
    for group in groups:
        region = _region(prod, group)
        zones = _subnet_zones(prod, group)
        assert zones, group.name
        for zone in zones:
            assert mocks.AZ_IDS[region][zone] in catalog().aws_az_ids("p5en.48xlarge", region), (
                group.name,
                zone,
            )
    use1 = [g for g in groups if g.name.startswith("core-use1")]
    # The offline account: us-east-1a/b/c are use1-az4/az6/az1; p5en is in use1-az2 and az6.
    assert all(_subnet_zones(prod, g) == ["us-east-1b"] for g in use1)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "onprem"])
def test_every_eks_gpu_node_group_is_only_where_its_type_is(stack: str) -> None:
    graph = planned(stack)
    for group in graph.of_type(NODE_GROUP):
        (instance_type,) = group.inputs["instanceTypes"]
        region = _region(graph, group)
        zones = _subnet_zones(graph, group)
        machine = catalog().aws_instance_types[instance_type]
        if machine.accelerator is None:
            assert zones == catalog().aws_regions[region][:3], group.name
            continue
        offered = catalog().aws_az_ids(instance_type, region)
        assert zones and all(mocks.AZ_IDS[region][z] in offered for z in zones), (group.name, zones)


def _p5en(name: str = "h200") -> NodePool:
    return NodePool.model_validate(
        {"name": name, "machineType": "p5en.48xlarge", "accelerator": "H200", "minSize": 0, "maxSize": 2}
    )


def test_a_gpu_pool_whose_cluster_zones_all_lack_its_type_is_refused_in_one_line() -> None:
    account = {"us-east-1a": "use1-az1", "us-east-1b": "use1-az3", "us-east-1c": "use1-az4"}
    with pytest.raises(ValueError) as caught:
        offering_zones(_p5en(), cluster="core", region="us-east-1", zones=list(account), zone_ids=account)
    message = str(caught.value)
    assert "\n" not in message
    for part in ("nodePools[h200]", "p5en.48xlarge", "us-east-1a=use1-az1", "use1-az2, use1-az6"):
        assert part in message, part


_OTHER_ACCOUNT = """
import sys
from inferstack import mocks
from inferstack.engine import ProgramError, plan_stack
from inferstack.project import find_project
mocks.AZ_IDS["us-east-1"].update({"us-east-1a": "use1-az1", "us-east-1b": "use1-az3", "us-east-1c": "use1-az4"})
try:
    plan_stack("prod", project=find_project())
except ProgramError as error:
    print("bad input" if error.bad_input else "crash")
    print(error)
"""


def test_an_account_whose_cluster_zones_lack_the_type_stops_the_plan_in_one_line() -> None:
    """Another account maps us-east-1a/b/c to use1-az1/az3/az4, none with p5en: exit 2, not a node group
    that can never launch a node. (In a process of its own: a run stopped mid-way leaves Pulumi's
    runtime state behind.)"""
    result = subprocess.run(
        [sys.executable, "-c", _OTHER_ACCOUNT], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    verdict, *lines = result.stdout.splitlines()
    assert verdict == "bad input", result.stdout + result.stderr
    assert len(lines) == 1, lines
    (message,) = lines
    assert message.startswith("stacks/Pulumi.prod.yaml: cluster 'core-use1' nodePools[h200")
    assert "us-east-1b=use1-az3" in message and "use1-az2, use1-az6" in message


def test_cpu_pools_keep_every_zone() -> None:
    system = NodePool.model_validate(
        {"name": "system", "machineType": "m7i.large", "minSize": 1, "maxSize": 2}
    )
    zones = ["us-east-1a", "us-east-1b"]
    assert offering_zones(system, cluster="c", region="us-east-1", zones=zones, zone_ids={}) == tuple(zones)


# --- the settings ---------------------------------------------------------------------------


def _move(cluster: int, region: str) -> Any:
    def change(values: dict[str, Any]) -> None:
        values["clusters"][cluster]["region"] = region

    return change


def test_a_gke_gpu_pool_in_a_region_without_its_gpu_is_refused_in_one_line() -> None:
    # prod's burst cluster to us-east1: L4 and TPUs... but no A3 Ultra (H200) in any zone there.
    def change(values: dict[str, Any]) -> None:
        cluster = values["clusters"][2]
        cluster["region"] = "us-east1"
        cluster["nodePools"] = [p for p in cluster["nodePools"] if p["name"] != "v6e-spot"]

    line = broken("prod", change)
    assert "inferstack:clusters[2].nodePools[1].machineType" in line
    assert "a3-ultragpu-8g (H200) is offered in no zone of us-east1" in line
    assert "us-central1 (us-central1-b)" in line and "us-east4 (us-east4-b)" in line


def test_an_eks_gpu_pool_in_a_region_without_its_type_is_refused_in_one_line() -> None:
    def change(values: dict[str, Any]) -> None:
        pool(values, 0, 1)["machineType"] = "g6e.xlarge"
        values["clusters"][0]["region"] = "eu-west-1"
        values["database"]["primaryRegion"] = "eu-west-1"

    line = broken("staging", change)
    assert "inferstack:clusters[0].nodePools[1].machineType" in line
    assert "g6e.xlarge (L40S) is offered in no zone of eu-west-1" in line
    assert "us-east-1 (use1-az1, use1-az2, use1-az4, use1-az6)" in line


def test_the_cli_refuses_a_gpu_pool_without_a_zone_with_exit_2(tmp_path: Path) -> None:
    values = copy.deepcopy(raw("dev"))
    values["clusters"][1]["region"] = "us-east5"  # no L4 (G2) there
    path = tmp_path / "Pulumi.nogpu.yaml"
    path.write_text(yaml.safe_dump({"config": values}))
    result = run("plan", "nogpu", "--config-file", str(path))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Pulumi.nogpu.yaml" in lines[0] and "nodePools[1].machineType" in lines[0]
    assert "g2-standard-8 (L4) is offered in no zone of us-east5" in lines[0]


# --- capacity reservations on GKE -------------------------------------------------------------


def _reserve_prod_h200(values: dict[str, Any], **keys: str) -> None:
    h200 = pool(values, 2, 1)
    h200["capacity"] = "reserved"
    h200.update(keys)


def test_a_reserved_gke_pool_consumes_its_named_reservation_in_its_zone(tmp_path: Path) -> None:
    values = copy.deepcopy(raw("prod"))
    _reserve_prod_h200(values, reservationName="h200-usc1b", reservationZone="us-central1-b")
    path = tmp_path / "Pulumi.reserved.yaml"
    path.write_text(yaml.safe_dump({"config": values}))
    graph = plan_stack("reserved", config_file=path, project=find_project(ROOT))
    h200 = _gke_pool(graph, "burst-usc1-h200-spot")
    config = h200.inputs["nodeConfig"]
    assert config["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["h200-usc1b"],
    }
    assert "spot" not in config
    assert h200.inputs["nodeLocations"] == ["us-central1-b"]


@pytest.mark.parametrize(
    ("keys", "where", "says"),
    [
        ({"reservationZone": "us-central1-b"}, "reservationName", "None; a reserved GKE pool consumes one"),
        (
            {"reservationName": "Bad_Name", "reservationZone": "us-central1-b"},
            "reservationName",
            "'Bad_Name'",
        ),
        ({"reservationName": "h200"}, "reservationZone", "allowed: us-central1-b"),
        (
            {"reservationName": "h200", "reservationZone": "us-central1-a"},
            "reservationZone",
            "allowed: us-central1-b",
        ),
    ],
)
def test_a_reserved_gke_pool_must_name_its_reservation_and_a_zone_with_the_gpu(
    keys: dict[str, str], where: str, says: str
) -> None:
    line = broken("prod", lambda values: _reserve_prod_h200(values, **keys))
    assert f"inferstack:clusters[2].nodePools[1].{where}" in line and says in line


def test_reservation_keys_belong_to_their_cloud() -> None:
    def gcp_keys_on_aws(values: dict[str, Any]) -> None:
        pool(values, 0, 1)["reservationName"] = "h200"

    line = broken("prod", gcp_keys_on_aws)
    assert "nodePools[1].reservationName" in line and "only for capacity: reserved on gcp" in line
