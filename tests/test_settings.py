"""The settings model: every broken stack file stops with one line naming the key and the value."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from inferstack.project import find_project, load_stack_config
from infra.settings import Capacity, EndpointAccess, SettingsError, parse_settings, project_config

SOURCE = "stacks/Pulumi.test.yaml"


def raw(stack: str) -> dict[str, Any]:
    project = find_project()
    config = load_stack_config(project, stack)
    return project_config(config.values)


def broken(stack: str, change: Callable[[dict[str, Any]], None]) -> str:
    values = copy.deepcopy(raw(stack))
    change(values)
    with pytest.raises(SettingsError) as caught:
        parse_settings(values, SOURCE, frozenset({"onpremKubeconfig"}))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(SOURCE + ": inferstack:")
    return message


def pool(values: dict[str, Any], cluster: int, index: int) -> dict[str, Any]:
    return values["clusters"][cluster]["nodePools"][index]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_stacks_are_valid(stack: str) -> None:
    settings = parse_settings(raw(stack), SOURCE)
    assert settings.environment.value == stack
    assert any(c.role.value == "core" for c in settings.clusters)


def test_prod_core_clusters_are_private_with_on_demand_floor() -> None:
    settings = parse_settings(raw("prod"), SOURCE)
    cores = [c for c in settings.clusters if c.role.value == "core"]
    assert len({c.region for c in cores}) == 2
    for cluster in cores:
        assert cluster.endpoint_access is EndpointAccess.PRIVATE
        floor = [p for p in cluster.node_pools if p.is_accelerated and p.capacity is not Capacity.SPOT]
        assert floor and all(p.min_size >= 1 for p in floor)


CASES: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    (
        "unknown top key",
        lambda v: v.update(clsuters=v.pop("clusters")),
        ["inferstack:clsuters", "'clusters'"],
    ),
    ("unknown nested key", lambda v: pool(v, 0, 0).update(minSzie=1), ["nodePools[0].minSzie", "'minSize'"]),
    ("missing environment", lambda v: v.pop("environment"), ["inferstack:environment", "missing"]),
    ("bad environment", lambda v: v.update(environment="qa"), ["inferstack:environment", "'qa'", "'prod'"]),
    ("wrong type", lambda v: pool(v, 0, 0).update(maxSize="lots"), ["nodePools[0].maxSize", "'lots'"]),
    (
        "unknown region",
        lambda v: v["clusters"][0].update(region="us-east-9"),
        ["clusters[0].region", "us-east-9", "us-east-1"],
    ),
    (
        "gcp region on aws",
        lambda v: v["clusters"][0].update(region="us-central1"),
        ["clusters[0].region", "us-central1"],
    ),
    (
        "unknown machine type",
        lambda v: pool(v, 0, 1).update(machineType="g6.xlargee"),
        ["nodePools[1].machineType", "g6.xlargee", "g6.xlarge"],
    ),
    (
        "min above max",
        lambda v: pool(v, 0, 0).update(minSize=5, maxSize=2),
        ["nodePools[0].minSize", "5", "maxSize"],
    ),
    (
        "desired outside range",
        lambda v: pool(v, 0, 0).update(desiredSize=9),
        ["nodePools[0].desiredSize", "9"],
    ),
    ("negative min", lambda v: pool(v, 0, 0).update(minSize=-1), ["nodePools[0].minSize", "-1"]),
    (
        "gpu pool without accelerator",
        lambda v: pool(v, 0, 1).pop("accelerator"),
        ["nodePools[1].accelerator", "missing", "L4"],
    ),
    (
        "accelerator that the machine lacks",
        lambda v: pool(v, 0, 0).update(accelerator="H100"),
        ["nodePools[0].accelerator", "'H100'", "m7i.large"],
    ),
    (
        "accelerator mismatch",
        lambda v: pool(v, 0, 1).update(accelerator="A10G"),
        ["nodePools[1].accelerator", "'A10G'", "L4"],
    ),
    (
        "wrong accelerator count",
        lambda v: pool(v, 0, 1).update(acceleratorCount=4),
        ["nodePools[1].acceleratorCount", "4"],
    ),
    (
        "duplicate cluster names",
        lambda v: v["clusters"][1].update(name="core-use1"),
        ["clusters[1].name", "core-use1"],
    ),
    (
        "duplicate pool names",
        lambda v: pool(v, 0, 1).update(name="system"),
        ["clusters[0].nodePools[1].name", "'system'"],
    ),
    ("no core cluster", lambda v: v["clusters"][0].update(role="burst"), ["inferstack:clusters", "core"]),
    (
        "cluster name not a DNS label",
        lambda v: v["clusters"][0].update(name="Core_1"),
        ["clusters[0].name", "Core_1"],
    ),
    ("no clusters", lambda v: v.update(clusters=[]), ["inferstack:clusters"]),
    (
        "public endpoint without cidrs",
        lambda v: v["clusters"][0].update(endpointAccess="public"),
        ["clusters[0].publicAccessCidrs", "empty"],
    ),
    (
        "endpoint open to the internet",
        lambda v: v["clusters"][0].update(endpointAccess="public", publicAccessCidrs=["0.0.0.0/0"]),
        ["clusters[0].publicAccessCidrs[0]", "0.0.0.0/0"],
    ),
    (
        "burst pool above zero with scaleFromZero",
        lambda v: pool(v, 1, 1).update(minSize=1),
        ["clusters[1].nodePools[1].minSize", "scaleFromZero"],
    ),
    (
        "core gpu only on spot",
        lambda v: pool(v, 0, 1).update(capacity="spot"),
        ["clusters[0].nodePools", "on-demand"],
    ),
    (
        "unknown capacity",
        lambda v: pool(v, 0, 1).update(capacity="preemptible"),
        ["nodePools[1].capacity", "preemptible"],
    ),
    (
        "unknown eks version",
        lambda v: v["clusters"][0].update(kubernetesVersion="1.19"),
        ["kubernetesVersion", "1.19"],
    ),
    ("gcp cluster without project", lambda v: v.update(gcpProject=""), ["inferstack:gcpProject"]),
    (
        "unknown model",
        lambda v: v["model"].update(name="DeepSeek-R9"),
        ["inferstack:model.name", "DeepSeek-R9"],
    ),
    (
        "database secondary equals primary",
        lambda v: v["database"].update(secondaryRegions=["us-east-1"]),
        ["database.secondaryRegions[0]", "us-east-1"],
    ),
    (
        "database on a cloud without core",
        lambda v: v["database"].update(cloud="gcp"),
        ["database.cloud", "'gcp'"],
    ),
    (
        "health check interval",
        lambda v: v["edge"].update(healthCheckIntervalSeconds=15),
        ["healthCheckIntervalSeconds", "15"],
    ),
    (
        "public name at the zone apex",
        lambda v: v["edge"].update(domain="dev.inference.example.com"),
        ["inferstack:edge.hostedZone", "apex"],
    ),
    (
        "global accelerator without failover",
        lambda v: v["edge"].update(awsEntry="global-accelerator", routing="latency"),
        ["inferstack:edge.routing", "'latency'", "failover"],
    ),
    (
        "bad hosted zone id",
        lambda v: v["edge"].update(hostedZoneId="zone-1"),
        ["inferstack:edge.hostedZoneId", "zone-1"],
    ),
    (
        "bad domain",
        lambda v: v["edge"].update(domain="not a domain"),
        ["inferstack:edge.domain", "not a domain"],
    ),
    (
        "log retention CloudWatch refuses",
        lambda v: v.update(logRetentionDays=10),
        ["inferstack:logRetentionDays", "10", "14"],
    ),
    (
        "no untainted system pool",
        lambda v: pool(v, 0, 0).update(minSize=0, desiredSize=0),
        ["clusters[0].nodePools", "CoreDNS"],
    ),
    (
        "reserved pool without its capacity block",
        lambda v: pool(v, 0, 1).update(capacity="reserved"),
        ["nodePools[1].capacityReservationId", "cr-"],
    ),
    (
        "reserved pool on gcp",
        lambda v: pool(v, 1, 0).update(capacity="reserved"),
        ["clusters[1].nodePools[0].capacity"],
    ),
    (
        "eks version without pinned add-ons",
        lambda v: v["clusters"][0].update(kubernetesVersion="1.32"),
        ["1.32", "1.35"],
    ),
    (
        "cluster admin not an IAM ARN",
        lambda v: v.update(clusterAdmins=["alice"]),
        ["inferstack:clusterAdmins[0]", "'alice'"],
    ),
    ("bad aws account", lambda v: v.update(awsAccountId="12"), ["inferstack:awsAccountId", "'12'"]),
]


@pytest.mark.parametrize(("case", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_broken_dev_stack(case: str, change: Callable[[dict[str, Any]], None], expected: list[str]) -> None:
    message = broken("dev", change)
    for fragment in expected:
        assert fragment in message, f"{case}: {fragment!r} not in {message!r}"


def test_prod_public_core_endpoint_is_refused() -> None:
    message = broken(
        "prod",
        lambda v: v["clusters"][0].update(endpointAccess="public", publicAccessCidrs=["203.0.113.0/24"]),
    )
    assert "clusters[0].endpointAccess" in message and "prod" in message


def test_prod_backup_retention_minimum() -> None:
    message = broken("prod", lambda v: v["database"].update(backupRetentionDays=7))
    assert "database.backupRetentionDays" in message and ">= 14" in message


def test_unknown_tpu_topology_names_the_allowed_ones() -> None:
    message = broken("prod", lambda v: pool(v, 2, 2).update(tpuTopology="3x3"))
    assert "clusters[2].nodePools[2].tpuTopology" in message
    assert "'3x3'" in message and "4x8" in message


def test_multi_host_tpu_pool_moves_in_whole_slices() -> None:
    # ct6e-standard-4t 4x8 is 32 chips over 4-chip VMs: a slice is 8 nodes.
    message = broken("prod", lambda v: pool(v, 2, 2).update(maxSize=6))
    assert "clusters[2].nodePools[2].maxSize" in message and "multiple of 8" in message


def test_model_that_does_not_fit_names_the_numbers() -> None:
    # DeepSeek-R1 (fp8) on eight A100-40GB: 320 GiB for a model that needs far more.
    def change(v: dict[str, Any]) -> None:
        pool(v, 0, 1).update(machineType="p4d.24xlarge", accelerator="A100-40GB")

    message = broken("prod", change)
    assert "clusters[0].nodePools[1].machineType" in message
    assert "DeepSeek-R1" in message and "GiB" in message and "8x A100-40GB" in message


def test_existing_cluster_needs_its_kubeconfig_secret() -> None:
    values = copy.deepcopy(raw("onprem"))
    values.pop("onpremKubeconfig")
    with pytest.raises(
        SettingsError, match=r"clusters\[0\]\.kubeconfigSecret: names config key 'onpremKubeconfig'"
    ):
        parse_settings(values, SOURCE, frozenset())


def test_existing_cluster_kubeconfig_must_be_secret() -> None:
    with pytest.raises(SettingsError, match="inferstack:onpremKubeconfig: holds a kubeconfig in plain text"):
        parse_settings(raw("onprem"), SOURCE, frozenset())
