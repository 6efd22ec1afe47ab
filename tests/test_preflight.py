"""`inferstack preflight`: each check blocks what would fail the apply and passes what would not.

Never a live account: AWS calls go to moto where it implements them (EC2 zones and offerings,
Route 53) and to botocore's Stubber with recorded responses elsewhere (Service Quotas, EKS versions,
RDS engine versions, capacity reservations); GCP calls go through the discovery client with an HTTP
object that answers from recorded responses (tests/data/preflight/prod.json).
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httplib2
import pytest
from botocore.stub import Stubber
from googleapiclient.discovery import build
from moto import mock_aws
from typer.testing import CliRunner

from inferstack.preflight import (
    Result,
    Row,
    apis,
    capacity,
    dns,
    network,
    offerings,
    quotas,
    run,
    secrets,
    versions,
)
from inferstack.preflight.render import text
from inferstack.project import find_project, load_stack_config
from infra.catalog import catalog
from infra.settings import Settings, parse_settings, project_config
from tests.conftest import planned

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "preflight"
RECORDED = json.loads((DATA / "prod.json").read_text())
PROJECT = "acme-inference-prod"
SAMPLE_MARK = "<!-- preflight sample: inferstack preflight prod against tests/data/preflight (recorded, not a live account) -->"


class RecordedHttp:
    """An httplib2.Http stand-in for the discovery client: answers GET paths from recorded bodies, else 404."""

    def __init__(self, routes: dict[str, Any], machine_types: dict[str, list[str]]) -> None:
        self.routes = dict(routes)
        for zone, names in machine_types.items():
            for name in names:
                path = f"GET /compute/v1/projects/{PROJECT}/zones/{zone}/machineTypes/{name}"
                self.routes[path] = {"kind": "compute#machineType", "name": name, "zone": zone}
        self.asked: list[str] = []

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **_: Any) -> Any:
        key = f"{method} {urlsplit(uri).path}"
        self.asked.append(key)
        if key in self.routes:
            return httplib2.Response({"status": "200"}), json.dumps(self.routes[key]).encode()
        error = {
            "error": {"code": 404, "message": f"The resource '{key}' was not found", "status": "NOT_FOUND"}
        }
        return httplib2.Response({"status": "404"}), json.dumps(error).encode()


class FakeClouds:
    """The clouds as the checks see them: moto clients, stubbed clients with recorded answers, recorded GCP."""

    def __init__(
        self,
        stubs: dict[str, list[list[Any]]] | None = None,
        gcp: dict[str, Any] | None = None,
        machine_types: dict[str, list[str]] | None = None,
        name_servers: dict[str, list[str]] | None = None,
    ) -> None:
        self.stubs = stubs if stubs is not None else copy.deepcopy(RECORDED["aws"])
        self.http = RecordedHttp(
            gcp if gcp is not None else RECORDED["gcp"],
            machine_types if machine_types is not None else RECORDED["gcpMachineTypes"],
        )
        self.ns = name_servers
        self.clients: dict[str, Any] = {}
        self.discovered: dict[tuple[str, str], Any] = {}
        self.stubbers: list[Stubber] = []

    def aws(self, service: str, region: str) -> Any:
        key = f"{service} {region}"
        if key not in self.clients:
            client = boto3.client(service, region_name=region)  # type: ignore[call-overload]
            if key in self.stubs:
                stubber = Stubber(client)
                for method, answer in self.stubs[key]:
                    if method == "error":
                        stubber.add_client_error(answer["method"], answer["code"], answer.get("message", ""))
                    else:
                        stubber.add_response(method, answer)
                stubber.activate()
                self.stubbers.append(stubber)
            self.clients[key] = client
        return self.clients[key]

    def gcp(self, api: str, version: str) -> Any:
        if (api, version) not in self.discovered:
            self.discovered[(api, version)] = build(api, version, http=self.http, static_discovery=True)
        return self.discovered[(api, version)]

    def name_servers(self, zone: str) -> list[str] | None:
        return None if self.ns is None else self.ns.get(zone, [])

    def all_answered(self) -> None:
        for stubber in self.stubbers:
            stubber.assert_no_pending_responses()


@pytest.fixture(autouse=True)
def no_live_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


def settings(stack: str = "prod", change: Callable[[dict[str, Any]], None] | None = None) -> Settings:
    values = project_config(load_stack_config(find_project(ROOT), stack).values)
    if change is not None:
        change(values)
    return parse_settings(values, f"stacks/Pulumi.{stack}.yaml", frozenset({"onpremKubeconfig"}))


def only(rows: list[Row], result: Result) -> list[Row]:
    return [r for r in rows if r.result is result]


# --- quotas ---------------------------------------------------------------------------------------


def test_ec2_quotas_block_the_spot_pool_whose_max_size_exceeds_the_quota() -> None:
    clouds = FakeClouds()
    rows = quotas.aws_quotas(settings(), clouds)
    clouds.all_answered()
    assert [(r.resource, r.result) for r in rows] == [
        ("us-east-1 Running On-Demand P instances", Result.OK),
        ("us-east-1 All P Spot Instance Requests", Result.BLOCK),
        ("us-east-1 Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", Result.OK),
        ("us-west-2 Running On-Demand P instances", Result.OK),
        ("us-west-2 Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", Result.OK),
    ]
    spot = rows[1].detail
    assert "768 vCPUs at max size (core-use1/h200-spot 4 x 192); quota 384" in spot
    assert "--quota-code L-7212CCBC --desired-value 768" in spot


def test_ec2_on_demand_quota_below_max_size_blocks() -> None:
    stubs = copy.deepcopy(RECORDED["aws"])
    stubs["service-quotas us-west-2"][0][1]["Quota"]["Value"] = 767.0
    rows = quotas.aws_quotas(settings(), FakeClouds(stubs=stubs))
    blocked = only(rows, Result.BLOCK)
    assert [r.resource for r in blocked] == [
        "us-east-1 All P Spot Instance Requests",
        "us-west-2 Running On-Demand P instances",
    ]


@pytest.mark.parametrize(
    ("machine", "family"),
    [
        ("p5en.48xlarge", "P"),
        ("g6e.12xlarge", "G and VT"),
        ("vt1.3xlarge", "G and VT"),
        ("m7i.2xlarge", "Standard"),
        ("is4gen.xlarge", "Standard"),
        ("inf2.xlarge", None),
        ("trn1.32xlarge", None),
    ],
)
def test_instance_types_map_to_their_ec2_quota_family(machine: str, family: str | None) -> None:
    assert quotas.ec2_family(machine) == family


def test_gcp_gpu_quota_counts_spot_pools_against_the_preemptible_metric() -> None:
    rows = quotas.gcp_quotas(settings(), FakeClouds())
    gpu = [r for r in rows if "GPUS" in r.resource]
    assert [(r.resource, r.result) for r in gpu] == [("us-central1 PREEMPTIBLE_NVIDIA_H200_GPUS", Result.OK)]
    assert "32 GPUs at max size (burst-usc1/h200-spot 4 x 8); quota 32" in gpu[0].detail


def test_a_tpu_pool_gets_a_warning_that_its_quota_is_not_asked() -> None:
    def v6e_only(values: dict[str, Any]) -> None:
        burst = values["clusters"][1]
        assert burst["cloud"] == "gcp"
        burst["nodePools"] = [p for p in burst["nodePools"] if not p.get("accelerator")] + [
            {
                "name": "v6e-spot",
                "machineType": "ct6e-standard-4t",
                "accelerator": "tpu-v6e",
                "tpuTopology": "4x8",
                "capacity": "spot",
                "minSize": 0,
                "maxSize": 8,
            }
        ]

    rows = quotas.gcp_quotas(settings("dev", change=v6e_only), FakeClouds(gcp={}))
    assert [(r.resource, r.result) for r in rows] == [("burst-usc1/v6e-spot", Result.WARN)]
    assert "tpu-v6e needs 32 chips at max size in us-central1" in rows[0].detail


def test_gcp_gpu_quota_below_max_size_blocks() -> None:
    routes = copy.deepcopy(RECORDED["gcp"])
    region = routes[f"GET /compute/v1/projects/{PROJECT}/regions/us-central1"]
    region["quotas"] = [q for q in region["quotas"] if q["metric"] != "PREEMPTIBLE_NVIDIA_H200_GPUS"]
    rows = quotas.gcp_quotas(settings(), FakeClouds(gcp=routes))
    blocked = only(rows, Result.BLOCK)
    assert [r.resource for r in blocked] == ["us-central1 PREEMPTIBLE_NVIDIA_H200_GPUS"]
    assert "quota 0" in blocked[0].detail and "PREEMPTIBLE_NVIDIA_H200_GPUS >= 32" in blocked[0].detail


# --- offerings ------------------------------------------------------------------------------------


def test_ec2_offerings_pass_where_moto_offers_the_types_in_the_node_groups_zones() -> None:
    rows = offerings.aws_offerings(settings(), FakeClouds(stubs={}))
    assert len(rows) == 5
    assert only(rows, Result.BLOCK) == [] and only(rows, Result.WARN) == []
    h200 = next(r for r in rows if r.resource == "core-use1/h200")
    assert h200.detail == "p5en.48xlarge offered in us-east-1a, us-east-1c"


def _zones(region: str, ids: dict[str, str]) -> list[Any]:
    return [
        "describe_availability_zones",
        {
            "AvailabilityZones": [
                {"ZoneName": name, "ZoneId": zid, "RegionName": region, "State": "available"}
                for name, zid in ids.items()
            ]
        },
    ]


def _offered(instance_type: str, *ids: str) -> list[Any]:
    return [
        "describe_instance_type_offerings",
        {
            "InstanceTypeOfferings": [
                {"InstanceType": instance_type, "LocationType": "availability-zone-id", "Location": i}
                for i in ids
            ]
        },
    ]


def test_ec2_offering_missing_from_every_zone_of_the_node_group_blocks() -> None:
    def one_pool(values: dict[str, Any]) -> None:
        values["clusters"] = [values["clusters"][0]]
        values.pop("database")
        values["clusters"][0]["nodePools"] = values["clusters"][0]["nodePools"][1:2]
        values["clusters"][0]["nodePools"][0]["minSize"] = 1
        values["clusters"][0]["nodePools"].insert(
            0, {"name": "system", "machineType": "m7i.2xlarge", "minSize": 1, "maxSize": 2}
        )

    ids = {"us-east-1a": "use1-az6", "us-east-1b": "use1-az1", "us-east-1c": "use1-az2"}
    stubs = {
        "ec2 us-east-1": [
            _zones("us-east-1", ids),
            _offered("m7i.2xlarge", "use1-az6", "use1-az1"),
            _zones("us-east-1", ids),
            _offered("p5en.48xlarge", "use1-az4"),
        ]
    }
    rows = offerings.aws_offerings(settings(change=one_pool), FakeClouds(stubs=stubs))
    assert [(r.resource, r.result) for r in rows] == [
        ("core-use1/system", Result.WARN),
        ("core-use1/h200", Result.BLOCK),
    ]
    assert "not offered in us-east-1c" in rows[0].detail
    assert "offered in none of the zones" in rows[1].detail and "use1-az4" in rows[1].detail


def test_gcp_offerings_block_a_zone_that_does_not_offer_the_machine_type() -> None:
    assert only(offerings.gcp_offerings(settings(), FakeClouds()), Result.BLOCK) == []
    machine_types = copy.deepcopy(RECORDED["gcpMachineTypes"])
    machine_types["us-central1-b"].remove("a3-ultragpu-8g")
    rows = offerings.gcp_offerings(settings(), FakeClouds(machine_types=machine_types))
    blocked = only(rows, Result.BLOCK)
    assert [r.resource for r in blocked] == ["burst-usc1/h200-spot"]
    assert "not offered to project acme-inference-prod in us-central1-b" in blocked[0].detail


# --- capacity reservations ------------------------------------------------------------------------

RESERVATION = "cr-0123456789abcdef0"


def reserved_aws(values: dict[str, Any]) -> None:
    pool = values["clusters"][0]["nodePools"][1]
    pool.update(capacity="reserved", capacityReservationId=RESERVATION, maxSize=4)


def _reservation(**change: Any) -> dict[str, Any]:
    found = {
        "CapacityReservationId": RESERVATION,
        "InstanceType": "p5en.48xlarge",
        "AvailabilityZone": "us-east-1a",
        "State": "active",
        "TotalInstanceCount": 4,
        "ReservationType": "capacity-block",
    }
    found.update(change)
    return {"CapacityReservations": [found]}


def test_an_active_matching_capacity_block_passes() -> None:
    stubs = {"ec2 us-east-1": [["describe_capacity_reservations", _reservation()]]}
    rows = capacity.aws_reservations(settings(change=reserved_aws), FakeClouds(stubs=stubs))
    assert [(r.resource, r.result) for r in rows] == [(f"core-use1/h200 {RESERVATION}", Result.OK)]


@pytest.mark.parametrize(
    ("answer", "result", "says"),
    [
        ({"State": "expired"}, Result.BLOCK, "state expired, not active"),
        (
            {"InstanceType": "p5.48xlarge"},
            Result.BLOCK,
            "instance type p5.48xlarge, the pool runs p5en.48xlarge",
        ),
        ({"AvailabilityZone": "us-east-1f"}, Result.BLOCK, "in us-east-1f, outside the cluster's zones"),
        ({"TotalInstanceCount": 2}, Result.WARN, "2 instances for maxSize 4"),
    ],
)
def test_a_capacity_block_that_does_not_fit_the_pool_is_reported(
    answer: dict[str, Any], result: Result, says: str
) -> None:
    stubs = {"ec2 us-east-1": [["describe_capacity_reservations", _reservation(**answer)]]}
    rows = capacity.aws_reservations(settings(change=reserved_aws), FakeClouds(stubs=stubs))
    assert len(rows) == 1 and rows[0].result is result and says in rows[0].detail


def test_a_capacity_block_that_does_not_exist_blocks() -> None:
    stubs = {
        "ec2 us-east-1": [
            [
                "error",
                {"method": "describe_capacity_reservations", "code": "InvalidCapacityReservationId.NotFound"},
            ]
        ]
    }
    rows = capacity.aws_reservations(settings(change=reserved_aws), FakeClouds(stubs=stubs))
    assert len(rows) == 1 and rows[0].result is Result.BLOCK and "no reservation" in rows[0].detail


def reserved_gcp(values: dict[str, Any]) -> None:
    pool = values["clusters"][2]["nodePools"][1]
    pool.update(capacity="reserved", reservationName="h200-block", reservationZone="us-central1-b", minSize=0)


def _gke_reservation(**change: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": "h200-block",
        "status": "READY",
        "specificReservationRequired": True,
        "specificReservation": {"count": "4", "instanceProperties": {"machineType": "a3-ultragpu-8g"}},
    }
    found.update(change)
    return {f"GET /compute/v1/projects/{PROJECT}/zones/us-central1-b/reservations/h200-block": found}


def test_a_ready_matching_gke_reservation_passes_and_a_missing_one_blocks() -> None:
    rows = capacity.gcp_reservations(settings(change=reserved_gcp), FakeClouds(gcp=_gke_reservation()))
    assert [(r.resource, r.result) for r in rows] == [("burst-usc1/h200-spot h200-block", Result.OK)]
    rows = capacity.gcp_reservations(settings(change=reserved_gcp), FakeClouds(gcp={}))
    assert (
        len(rows) == 1
        and rows[0].result is Result.BLOCK
        and "no reservation h200-block in us-central1-b" in rows[0].detail
    )


@pytest.mark.parametrize(
    ("change", "result", "says"),
    [
        ({"status": "CREATING"}, Result.BLOCK, "status CREATING, not READY"),
        (
            {"specificReservation": {"count": "4", "instanceProperties": {"machineType": "a3-megagpu-8g"}}},
            Result.BLOCK,
            "machine type a3-megagpu-8g",
        ),
        ({"specificReservationRequired": False}, Result.WARN, "other VMs of the project may consume it"),
        (
            {"specificReservation": {"count": "2", "instanceProperties": {"machineType": "a3-ultragpu-8g"}}},
            Result.WARN,
            "2 VMs for maxSize 4",
        ),
    ],
)
def test_a_gke_reservation_that_does_not_fit_the_pool_is_reported(
    change: dict[str, Any], result: Result, says: str
) -> None:
    rows = capacity.gcp_reservations(
        settings(change=reserved_gcp), FakeClouds(gcp=_gke_reservation(**change))
    )
    assert len(rows) == 1 and rows[0].result is result and says in rows[0].detail


def test_an_on_demand_pool_of_a_type_sold_by_reservation_warns() -> None:
    def on_demand(values: dict[str, Any]) -> None:
        values["clusters"][2]["nodePools"][1]["capacity"] = "on-demand"

    assert capacity.gcp_reservations(settings(), FakeClouds(gcp={})) == []  # the shipped pool is spot
    rows = capacity.gcp_reservations(settings(change=on_demand), FakeClouds(gcp={}))
    assert [(r.resource, r.result) for r in rows] == [("burst-usc1/h200-spot", Result.WARN)]
    assert "A3 Ultra is obtained through reservations" in rows[0].detail

    def p4de(values: dict[str, Any]) -> None:
        values["clusters"][0]["nodePools"][1].update(machineType="p4de.24xlarge", accelerator="A100-80GB")
        values["model"]["precision"] = "int4"  # so that one replica fits on 8x A100-80GB

    rows = capacity.aws_reservations(settings(change=p4de), FakeClouds(stubs={}))
    assert [(r.resource, r.result) for r in rows] == [("core-use1/h200", Result.WARN)]


# --- versions -------------------------------------------------------------------------------------


def test_eks_versions_pass_when_offered_and_block_when_not() -> None:
    rows = versions.eks_versions(settings(), FakeClouds())
    assert [(r.resource, r.result) for r in rows] == [
        ("us-east-1 EKS 1.35", Result.OK),
        ("us-west-2 EKS 1.35", Result.OK),
    ]
    stubs = copy.deepcopy(RECORDED["aws"])
    stubs["eks us-west-2"] = [["describe_cluster_versions", {"clusterVersions": []}]]
    stubs["eks us-east-1"][0][1]["clusterVersions"][0].update(
        status="extended-support", versionStatus="EXTENDED_SUPPORT"
    )
    rows = versions.eks_versions(settings(), FakeClouds(stubs=stubs))
    assert [(r.resource, r.result) for r in rows] == [
        ("us-east-1 EKS 1.35", Result.WARN),
        ("us-west-2 EKS 1.35", Result.BLOCK),
    ]


def _addon_answers(stubs: dict[str, list[list[Any]]], region: str, addon: str) -> dict[str, Any]:
    (answer,) = [
        a
        for method, a in stubs[f"eks {region}"]
        if method == "describe_addon_versions" and a["addons"][0]["addonName"] == addon
    ]
    return answer["addons"][0]


def _addon_stubs() -> dict[str, list[list[Any]]]:
    """The recorded EKS answers to DescribeAddonVersions alone, for the check run by itself."""
    return {
        key: [call for call in calls if call[0] == "describe_addon_versions"]
        for key, calls in copy.deepcopy(RECORDED["aws"]).items()
        if key.startswith("eks ")
    }


def test_every_pinned_eks_addon_must_be_offered_for_the_clusters_kubernetes_version() -> None:
    rows = versions.eks_addon_versions(settings(), FakeClouds(stubs=_addon_stubs()))
    pinned = catalog().eks_addons["1.35"]
    assert len(rows) == 2 * len(pinned) and only(rows, Result.BLOCK) == []

    stubs = _addon_stubs()
    # Not offered at all: the eksbuild suffix of a pin was guessed.
    _addon_answers(stubs, "us-east-1", "aws-ebs-csi-driver")["addonVersions"][0]["addonVersion"] = (
        "v1.64.0-eksbuild.2"
    )
    # Offered, but only for another Kubernetes version.
    _addon_answers(stubs, "us-west-2", "vpc-cni")["addonVersions"][0]["compatibilities"][0][
        "clusterVersion"
    ] = "1.34"
    blocked = only(versions.eks_addon_versions(settings(), FakeClouds(stubs=stubs)), Result.BLOCK)
    assert [r.resource for r in blocked] == [
        "us-east-1 EKS 1.35 aws-ebs-csi-driver",
        "us-west-2 EKS 1.35 vpc-cni",
    ]
    assert "eksAddons.1.35.aws-ebs-csi-driver one of v1.64.0-eksbuild.2" in blocked[0].detail
    assert "none offered" in blocked[1].detail


def test_aurora_version_must_exist_in_every_region_and_support_a_global_database() -> None:
    assert only(versions.aurora_versions(settings(), FakeClouds()), Result.BLOCK) == []
    stubs = copy.deepcopy(RECORDED["aws"])
    stubs["rds us-east-1"][0][1]["DBEngineVersions"][0]["SupportsGlobalDatabases"] = False
    stubs["rds us-west-2"] = [["describe_db_engine_versions", {"DBEngineVersions": []}]]
    rows = versions.aurora_versions(settings(), FakeClouds(stubs=stubs))
    assert [(r.resource, r.result) for r in rows] == [
        ("us-east-1 aurora-postgresql 16.10", Result.BLOCK),
        ("us-west-2 aurora-postgresql 16.10", Result.BLOCK),
    ]
    assert "global database" in rows[0].detail and "not offered in us-west-2" in rows[1].detail


def test_gke_version_must_be_a_valid_control_plane_version() -> None:
    rows = versions.gke_versions(settings(), FakeClouds())
    assert [(r.resource, r.result) for r in rows] == [("us-central1 GKE 1.35", Result.OK)]
    assert rows[0].detail == "newest 1.35.1-gke.1200"
    routes = copy.deepcopy(RECORDED["gcp"])
    routes[f"GET /v1/projects/{PROJECT}/locations/us-central1/serverConfig"]["validMasterVersions"] = [
        "1.34.4-gke.1000"
    ]
    rows = versions.gke_versions(settings(), FakeClouds(gcp=routes))
    assert rows[0].result is Result.BLOCK and "allowed" not in rows[0].detail and "1.34" in rows[0].detail


# --- GCP APIs -------------------------------------------------------------------------------------


def _services(routes: dict[str, Any]) -> list[dict[str, Any]]:
    return routes[f"GET /v1/projects/{PROJECT}/services"]["services"]


def test_apis_the_stack_enables_itself_warn_and_service_usage_off_blocks() -> None:
    rows = apis.gcp_apis(settings(), FakeClouds())
    assert [(r.resource, r.result) for r in rows] == [
        (f"{PROJECT} certificatemanager.googleapis.com", Result.WARN)
    ]
    routes = copy.deepcopy(RECORDED["gcp"])
    _services(routes).append({"config": {"name": "certificatemanager.googleapis.com"}, "state": "ENABLED"})
    rows = apis.gcp_apis(settings(), FakeClouds(gcp=routes))
    assert [r.result for r in rows] == [Result.OK]
    routes[f"GET /v1/projects/{PROJECT}/services"]["services"] = [
        s for s in _services(routes) if s["config"]["name"] != "serviceusage.googleapis.com"
    ]
    rows = apis.gcp_apis(settings(), FakeClouds(gcp=routes))
    assert [r.result for r in rows] == [Result.BLOCK] and "cannot enable" in rows[0].detail


# --- DNS delegation -------------------------------------------------------------------------------


def _zone(name: str) -> tuple[str, list[str]]:
    route53 = boto3.client("route53")
    zone = route53.create_hosted_zone(Name=name, CallerReference=name)
    return zone["HostedZone"]["Id"].split("/")[-1], sorted(zone["DelegationSet"]["NameServers"])


def test_a_zone_delegated_at_the_registrar_is_checked_through_public_dns() -> None:
    zone_id, servers = _zone("inference.example.com")
    rows = dns.delegation(settings(), FakeClouds(name_servers={"inference.example.com": servers}))
    assert [(r.resource, r.result) for r in rows] == [("inference.example.com", Result.OK)]
    rows = dns.delegation(
        settings(), FakeClouds(name_servers={"inference.example.com": ["ns1.registrar.example"]})
    )
    assert rows[0].result is Result.BLOCK and "public DNS answers NS ns1.registrar.example" in rows[0].detail
    rows = dns.delegation(settings(), FakeClouds(name_servers=None))
    assert rows[0].result is Result.WARN and "dnspython" in rows[0].detail
    assert zone_id


def test_a_zone_not_created_yet_warns_that_the_registrar_delegation_follows_the_apply() -> None:
    rows = dns.delegation(settings(), FakeClouds())
    assert [r.result for r in rows] == [Result.WARN] and "nameServers" in rows[0].detail


def test_a_named_zone_that_does_not_exist_blocks() -> None:
    def named(values: dict[str, Any]) -> None:
        values["edge"]["hostedZoneId"] = "Z0123456789ABCDEFGHIJ"

    rows = dns.delegation(settings(change=named), FakeClouds())
    assert [r.result for r in rows] == [Result.BLOCK] and "no such hosted zone" in rows[0].detail


PARENT = "Z0PARENT0000000000001"
ZONE = "Z0SUBZONE000000000001"
SERVERS = ["ns-1.awsdns-01.org", "ns-2.awsdns-02.net"]


def _parent_stubs(parent_ns: list[str] | None, zone_exists: bool = True) -> dict[str, list[list[Any]]]:
    """Route 53's answers (Stubber: moto's zone ids are not of the Z... form the settings require)."""
    parent = {
        "HostedZone": {"Id": f"/hostedzone/{PARENT}", "Name": "example.com.", "CallerReference": "p"},
        "DelegationSet": {"NameServers": ["ns-9.awsdns-09.com"]},
    }
    zones = (
        [{"Id": f"/hostedzone/{ZONE}", "Name": "inference.example.com.", "CallerReference": "z"}]
        if zone_exists
        else []
    )
    answers: list[list[Any]] = [
        ["get_hosted_zone", parent],
        ["list_hosted_zones_by_name", {"HostedZones": zones, "IsTruncated": False, "MaxItems": "1"}],
    ]
    if zone_exists:
        answers.append(
            ["get_hosted_zone", {"HostedZone": zones[0], "DelegationSet": {"NameServers": SERVERS}}]
        )
        records = (
            [
                {
                    "Name": "inference.example.com.",
                    "Type": "NS",
                    "TTL": 300,
                    "ResourceRecords": [{"Value": s} for s in parent_ns],
                }
            ]
            if parent_ns
            else []
        )
        answers.append(
            [
                "list_resource_record_sets",
                {"ResourceRecordSets": records, "IsTruncated": False, "MaxItems": "1"},
            ]
        )
    return {"route53 us-east-1": answers}


def parent_zone(values: dict[str, Any]) -> None:
    values["edge"]["parentZoneId"] = PARENT


def test_a_parent_zone_in_the_account_is_compared_with_the_sub_zones_name_servers() -> None:
    rows = dns.delegation(
        settings(change=parent_zone), FakeClouds(stubs=_parent_stubs(None, zone_exists=False))
    )
    assert [r.result for r in rows] == [Result.OK] and "created by the stack" in rows[0].detail
    rows = dns.delegation(settings(change=parent_zone), FakeClouds(stubs=_parent_stubs(SERVERS)))
    assert [r.result for r in rows] == [Result.OK] and "delegated to ns-1.awsdns-01.org" in rows[0].detail
    rows = dns.delegation(
        settings(change=parent_zone), FakeClouds(stubs=_parent_stubs(["ns-7.awsdns-07.co.uk"]))
    )
    assert rows[0].result is Result.WARN and "answers NS ns-7.awsdns-07.co.uk" in rows[0].detail


def test_a_parent_zone_that_does_not_exist_blocks() -> None:
    stubs = {"route53 us-east-1": [["error", {"method": "get_hosted_zone", "code": "NoSuchHostedZone"}]]}
    rows = dns.delegation(settings(change=parent_zone), FakeClouds(stubs=stubs))
    assert [r.result for r in rows] == [Result.BLOCK] and "no such parent zone" in rows[0].detail


# --- network path ---------------------------------------------------------------------------------

ENI = "eni-0aaaaaaaaaaaaaaa1"
RUNNER = "eni-0bbbbbbbbbbbbbbb2"


def _path_stubs(*analyses: dict[str, Any], exists: bool = True) -> dict[str, list[list[Any]]]:
    """us-east-1: the cluster and its endpoint interface, then one analysis polled until it ends."""
    cluster = {"cluster": {"name": "inferstack-prod-core-use1", "status": "ACTIVE"}}
    eks: list[list[Any]] = [
        ["describe_cluster", cluster]
        if exists
        else ["error", {"method": "describe_cluster", "code": "ResourceNotFoundException"}]
    ]
    ec2: list[list[Any]] = [
        [
            "describe_network_interfaces",
            {
                "NetworkInterfaces": [
                    {"NetworkInterfaceId": ENI, "Description": "Amazon EKS inferstack-prod-core-use1"}
                ]
            },
        ],
        [
            "create_network_insights_path",
            {"NetworkInsightsPath": {"NetworkInsightsPathId": "nip-0123456789abcdef0"}},
        ],
        [
            "start_network_insights_analysis",
            {
                "NetworkInsightsAnalysis": {
                    "NetworkInsightsAnalysisId": "nia-0123456789abcdef0",
                    "Status": "running",
                }
            },
        ],
    ]
    ec2 += [["describe_network_insights_analyses", {"NetworkInsightsAnalyses": [a]}] for a in analyses]
    ec2 += [
        ["delete_network_insights_analysis", {"NetworkInsightsAnalysisId": "nia-0123456789abcdef0"}],
        ["delete_network_insights_path", {"NetworkInsightsPathId": "nip-0123456789abcdef0"}],
    ]
    missing = ["error", {"method": "describe_cluster", "code": "ResourceNotFoundException"}]
    return {"eks us-east-1": eks, "ec2 us-east-1": ec2 if exists else [], "eks us-west-2": [missing]}


def _paths(
    stubs: dict[str, Any], sources: dict[str, str] | None = None
) -> tuple[list[Row], list[float], FakeClouds]:
    waited: list[float] = []
    clouds = FakeClouds(stubs=stubs)
    rows = network.endpoint_paths(
        settings(),
        clouds,
        eks_names=network.eks_names(planned("prod")),
        sources={"us-east-1": RUNNER} if sources is None else sources,
        wait=waited.append,
    )
    return rows, waited, clouds


def test_a_path_the_analyser_finds_passes_after_polling_and_is_cleaned_up() -> None:
    rows, waited, clouds = _paths(
        _path_stubs({"Status": "running"}, {"Status": "succeeded", "NetworkPathFound": True})
    )
    clouds.all_answered()  # the path and the analysis were deleted
    assert [(r.resource, r.result) for r in rows] == [
        ("core-use1 API endpoint", Result.OK),
        ("core-usw2 API endpoint", Result.WARN),  # not created yet
    ]
    assert waited == [5]
    assert f"{RUNNER} reaches {ENI} on 443" in rows[0].detail
    assert "inferstack-prod-core-usw2 does not exist yet" in rows[1].detail


def test_no_path_blocks_with_the_analysers_explanation() -> None:
    explained = {
        "Status": "succeeded",
        "NetworkPathFound": False,
        "Explanations": [{"ExplanationCode": "ENI_SG_RULES_MISMATCH"}],
    }
    rows, _, _ = _paths(_path_stubs(explained))
    assert rows[0].result is Result.BLOCK and f"{ENI}: ENI_SG_RULES_MISMATCH" in rows[0].detail


def test_without_a_source_in_the_region_the_path_is_not_analysed_and_says_how() -> None:
    stubs = _path_stubs()
    stubs["ec2 us-east-1"] = stubs["ec2 us-east-1"][:1]
    rows, _, _ = _paths(stubs, sources={})
    assert rows[0].result is Result.WARN and "--network-source us-east-1=" in rows[0].detail


@pytest.mark.parametrize(
    "value", ["eni-0123456789abcdef0", "us-east-1=sg-0123456789abcdef0", "mars-1=eni-0123456789abcdef0"]
)
def test_a_network_source_is_region_equals_an_analyser_source(value: str) -> None:
    with pytest.raises(ValueError, match="allowed: REGION=ID"):
        network.parse_sources([value])
    assert network.parse_sources(["us-east-1=tgw-attach-0123456789abcdef0"]) == {
        "us-east-1": "tgw-attach-0123456789abcdef0"
    }


# --- the whole run, the command, the README sample --------------------------------------------------


def test_a_run_over_prod_asks_every_family_and_blocks_on_the_spot_quota() -> None:
    clouds = FakeClouds(name_servers={})
    rows = run(settings(), clouds)
    clouds.all_answered()
    assert {r.check for r in rows} == {"quota", "offering", "version", "api", "dns", "network"}
    assert [(r.check, r.resource) for r in only(rows, Result.BLOCK)] == [
        ("quota", "us-east-1 All P Spot Instance Requests")
    ]


def test_a_refused_call_becomes_a_warning_row_and_the_other_checks_still_run() -> None:
    stubs = copy.deepcopy(RECORDED["aws"])
    stubs["service-quotas us-east-1"][1] = [
        "error",
        {"method": "get_service_quota", "code": "NoSuchResourceException", "message": "no such quota"},
    ]
    stubs["eks us-west-2"][0] = [
        "error",
        {"method": "describe_cluster_versions", "code": "AccessDeniedException"},
    ]
    rows = run(settings(), FakeClouds(stubs=stubs, name_servers={}))
    quota = [(r.resource, r.result) for r in rows if r.check == "quota" and r.resource.startswith("us-")]
    assert quota[:3] == [
        ("us-east-1 Running On-Demand P instances", Result.OK),
        ("us-east-1 All P Spot Instance Requests", Result.WARN),
        ("us-east-1 Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", Result.OK),
    ]
    refused = [r for r in rows if r.check == "version" and r.resource == "eks_versions"]
    assert (
        len(refused) == 1
        and refused[0].result is Result.WARN
        and "AccessDeniedException" in refused[0].detail
    )
    assert any(r.check == "version" and "aurora" in r.resource for r in rows)


def test_a_gcp_call_that_fails_becomes_a_warning_row() -> None:
    routes = {k: v for k, v in RECORDED["gcp"].items() if "/services" not in k}
    rows = run(settings(), FakeClouds(gcp=routes, name_servers={}))
    refused = [r for r in rows if r.check == "api"]
    assert [(r.resource, r.result) for r in refused] == [("gcp_apis", Result.WARN)]
    assert "could not ask" in refused[0].detail and "404" in refused[0].detail


# --- the secrets an operator writes ----------------------------------------------------------------


def _written(wanted: list[secrets.Wanted], state: str = "ENABLED") -> dict[str, Any]:
    """Write every wanted secret: AWS ones into moto, GCP ones as recorded Secret Manager answers."""
    routes: dict[str, Any] = {}
    for secret in wanted:
        if secret.cloud.value == "aws":
            boto3.client("secretsmanager", region_name=secret.region).create_secret(
                Name=secret.name, SecretString="sk-test"
            )
        else:
            path = f"GET /v1/projects/{PROJECT}/secrets/{secret.name}/versions/latest"
            routes[path] = {"name": path.split(" ")[1][4:], "state": state}
    return routes


def test_the_secrets_an_operator_writes_are_read_off_the_plan() -> None:
    wanted = secrets.operator_secrets(planned("prod"), settings())
    assert [(w.cloud.value, w.region, w.name) for w in wanted] == [
        ("aws", "us-east-1", "inferstack/prod/deepseek-api-key"),
        ("aws", "us-east-1", "inferstack/prod/gateway-master-key"),
        ("aws", "us-west-2", "inferstack/prod/deepseek-api-key"),
        ("aws", "us-west-2", "inferstack/prod/gateway-master-key"),
        ("gcp", "us-central1", "inferstack-prod-deepseek-api-key"),
        ("gcp", "us-central1", "inferstack-prod-gateway-master-key"),
    ]


def test_a_missing_secret_or_one_without_a_value_blocks_and_a_written_one_passes() -> None:
    wanted = [w for w in secrets.operator_secrets(planned("prod"), settings()) if w.cloud.value == "aws"]
    rows = secrets.operator_secret_rows(settings(), FakeClouds(stubs={}), wanted=wanted)
    assert {r.result for r in rows} == {Result.BLOCK}
    assert (
        "aws secretsmanager create-secret --region us-east-1 --name inferstack/prod/deepseek-api-key"
        in rows[0].detail
    )
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.create_secret(Name=wanted[0].name)  # no value yet
    _written(wanted[1:])
    rows = secrets.operator_secret_rows(settings(), FakeClouds(stubs={}), wanted=wanted)
    assert [r.result for r in rows] == [Result.BLOCK, Result.OK, Result.OK, Result.OK]
    assert rows[0].detail.startswith("exists without a value")


def test_gcp_secrets_block_when_missing_or_disabled_and_pass_when_enabled() -> None:
    wanted = [w for w in secrets.operator_secrets(planned("prod"), settings()) if w.cloud.value == "gcp"]
    assert wanted
    missing = secrets.operator_secret_rows(settings(), FakeClouds(gcp={}), wanted=wanted)
    assert {r.result for r in missing} == {Result.BLOCK} and "gcloud secrets create" in missing[0].detail
    disabled = secrets.operator_secret_rows(
        settings(), FakeClouds(gcp=_written(wanted, "DISABLED")), wanted=wanted
    )
    assert {r.result for r in disabled} == {Result.BLOCK} and "DISABLED" in disabled[0].detail
    enabled = secrets.operator_secret_rows(settings(), FakeClouds(gcp=_written(wanted)), wanted=wanted)
    assert {r.result for r in enabled} == {Result.OK}


def test_a_run_with_the_plans_secrets_adds_their_rows() -> None:
    wanted = secrets.operator_secrets(planned("prod"), settings())
    rows = run(settings(), FakeClouds(name_servers={}), operator_secrets=wanted)
    assert len([r for r in rows if r.check == "secret"]) == len(wanted)


def sample_rows() -> list[Row]:
    """The README's sample: prod against the recorded responses, before its first apply."""
    graph = planned("prod")
    return run(
        settings(),
        FakeClouds(),
        eks_names=network.eks_names(graph),
        operator_secrets=secrets.operator_secrets(graph, settings()),
    )


def readme_block(readme: str) -> str:
    match = re.search(re.escape(SAMPLE_MARK) + r"\n```text\n(.*?)```", readme, re.DOTALL)
    assert match, "README has no preflight sample block"
    return match.group(1)


def test_the_readme_sample_is_the_output_of_a_run_against_the_fixtures() -> None:
    expected = text(sample_rows())
    assert readme_block((ROOT / "README.md").read_text()) == expected, (
        "stale: python -m tests.test_preflight README.md"
    )


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, prod: Any) -> Callable[..., Any]:
    import inferstack.cli
    import inferstack.preflight.clients

    monkeypatch.setattr(inferstack.cli, "_plan", lambda stack, config_file: prod)

    def invoke(*args: str, clouds: Callable[[], Any] = lambda: FakeClouds()) -> Any:
        monkeypatch.setattr(inferstack.preflight.clients, "LiveClouds", clouds)
        return CliRunner().invoke(inferstack.cli.app, ["preflight", "prod", *args])

    return invoke


def test_the_command_prints_the_table_and_exits_1_on_a_block(cli: Callable[..., Any]) -> None:
    result = cli()
    assert result.exit_code == 1, result.output
    assert "All P Spot Instance Requests" in result.output and "blocked: fix the block rows" in result.output


def test_the_command_prints_json_and_exits_0_when_nothing_blocks(cli: Callable[..., Any]) -> None:
    stubs = copy.deepcopy(RECORDED["aws"])
    stubs["service-quotas us-east-1"][1][1]["Quota"]["Value"] = 768.0
    wanted = secrets.operator_secrets(planned("prod"), settings())
    routes = {**RECORDED["gcp"], **_written(wanted)}
    result = cli("--json", clouds=lambda: FakeClouds(stubs=stubs, gcp=routes))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["stack"] == "prod" and data["blocked"] is False
    assert {"check", "resource", "result", "detail"} == set(data["rows"][0])


def test_without_the_extra_the_command_names_it_and_exits_2(cli: Callable[..., Any]) -> None:
    from inferstack.preflight.clients import MissingExtra

    def missing() -> Any:
        raise MissingExtra("No module named 'boto3'")

    result = cli(clouds=missing)
    assert result.exit_code == 2
    assert "pip install 'inferstack[preflight]'" in result.output and "Traceback" not in result.output


def test_a_bad_network_source_exits_2(cli: Callable[..., Any]) -> None:
    result = cli("--network-source", "eni-0123")
    assert result.exit_code == 2 and "allowed: REGION=ID" in result.output


def test_without_credentials_the_command_exits_2(cli: Callable[..., Any]) -> None:
    from inferstack.preflight.clients import NoCredentials

    class NoAws(FakeClouds):
        def aws(self, service: str, region: str) -> Any:
            raise NoCredentials("no AWS credentials found")

    result = cli(clouds=NoAws)
    assert result.exit_code == 2 and "no AWS credentials found" in result.output


def test_the_rest_of_the_toolkit_never_imports_the_clouds_sdks() -> None:
    import subprocess

    code = "import sys, inferstack.cli; bad = {'boto3', 'googleapiclient'} & set(sys.modules); sys.exit(str(bad) if bad else 0)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_live_clouds_say_which_credentials_are_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from inferstack.preflight.clients import LiveClouds, NoCredentials

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    # No instance metadata or GCE metadata server is asked: nothing leaves this machine.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import google.auth.compute_engine._metadata as gce_metadata

    monkeypatch.setattr(gce_metadata, "_NO_GCE_CHECK", True)  # read from NO_GCE_CHECK at import time
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    clouds = LiveClouds()
    with pytest.raises(NoCredentials, match="no AWS credentials"):
        clouds.aws("ec2", "us-east-1")
    with pytest.raises(NoCredentials, match="no GCP credentials"):
        clouds.gcp("compute", "v1")


def test_live_clouds_hand_out_one_client_per_service_and_region() -> None:
    from inferstack.preflight.clients import LiveClouds

    clouds = LiveClouds()
    assert clouds.aws("ec2", "us-east-1") is clouds.aws("ec2", "us-east-1")
    assert clouds.aws("ec2", "us-west-2").meta.region_name == "us-west-2"


def write_sample(readme_path: Path) -> None:
    readme = readme_path.read_text()
    old = readme_block(readme)
    readme_path.write_text(
        readme.replace(
            f"{SAMPLE_MARK}\n```text\n{old}```", f"{SAMPLE_MARK}\n```text\n{text(sample_rows())}```"
        )
    )


if __name__ == "__main__":
    import os

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    with mock_aws():
        write_sample(Path(sys.argv[1]))
