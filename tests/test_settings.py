"""The settings model: every broken stack file stops with one line naming the key and the value."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

import infra.settings
from inferstack.project import find_project, load_stack_config
from infra.catalog import build_catalog, catalog
from infra.settings import Capacity, EndpointAccess, SettingsError, parse_settings, project_config

SOURCE = "stacks/Pulumi.test.yaml"


def raw(stack: str) -> dict[str, Any]:
    project = find_project()
    config = load_stack_config(project, stack)
    return project_config(config.values)


def problems(stack: str, change: Callable[[dict[str, Any]], None]) -> list[str]:
    """The lines a broken stack file is refused with: one per problem, each naming file and key."""
    values = copy.deepcopy(raw(stack))
    change(values)
    with pytest.raises(SettingsError) as caught:
        parse_settings(values, SOURCE, frozenset({"onpremKubeconfig"}))
    lines = str(caught.value).split("\n")
    assert len(lines) == len(caught.value.problems)
    for line in lines:
        assert line.startswith(SOURCE + ": inferstack:"), line
    return lines


def broken(stack: str, change: Callable[[dict[str, Any]], None]) -> str:
    """The one line a stack file with one mistake is refused with (no follow-on noise)."""
    lines = problems(stack, change)
    assert len(lines) == 1, lines
    return lines[0]


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
    lines = problems("dev", change)
    assert any(all(fragment in line for fragment in expected) for line in lines), (case, expected, lines)
    # One mistake, one line: no problem that only follows from another, except where the one change
    # really breaks several rules (see ALSO_BROKEN).
    assert len(lines) == 1 + ALSO_BROKEN.get(case, 0), lines


ALSO_BROKEN = {
    # A secondary region makes dev's burstable class a second problem: a global database cannot use it.
    "database secondary equals primary": 1,
    # Cloud SQL in dev keeps AWS regions and an Aurora class: each is wrong for gcp in its own right.
    "database on a cloud without core": 2,
    # The AWS cluster turned burst becomes the GCP burst gateway's fallback, which the JWT refuses.
    "no core cluster": 1,
}


def test_prod_public_core_endpoint_is_refused() -> None:
    message = broken(
        "prod",
        lambda v: v["clusters"][0].update(endpointAccess="public", publicAccessCidrs=["203.0.113.0/24"]),
    )
    assert "clusters[0].endpointAccess" in message and "prod" in message


def test_prod_backup_retention_minimum() -> None:
    message = broken("prod", lambda v: v["database"].update(backupRetentionDays=7))
    assert "database.backupRetentionDays" in message and ">= 14" in message


def with_v6e(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """dev with a v6e 4x8 spot slice as clusters[1].nodePools[2] (no shipped stack has a TPU pool),
    then ``change``."""

    def apply(values: dict[str, Any]) -> None:
        values["clusters"][1]["nodePools"].append(
            {
                "name": "v6e-spot",
                "machineType": "ct6e-standard-4t",
                "accelerator": "tpu-v6e",
                "tpuTopology": "4x8",
                "capacity": "spot",
                "minSize": 0,
                "maxSize": 8,
            }
        )
        change(values)

    return apply


def test_unknown_tpu_topology_names_the_allowed_ones() -> None:
    message = broken("dev", with_v6e(lambda v: pool(v, 1, 2).update(tpuTopology="3x3")))
    assert "clusters[1].nodePools[2].tpuTopology" in message
    assert "'3x3'" in message and "4x8" in message


def test_multi_host_tpu_pool_moves_in_whole_slices() -> None:
    # ct6e-standard-4t 4x8 is 32 chips over 4-chip VMs: a slice is 8 nodes.
    message = broken("dev", with_v6e(lambda v: pool(v, 1, 2).update(maxSize=6)))
    assert "clusters[1].nodePools[2].maxSize" in message and "multiple of 8" in message


def test_model_that_does_not_fit_names_the_numbers() -> None:
    # DeepSeek-R1 (fp8) on eight A100-40GB: 320 GiB for a model that needs far more.
    def change(v: dict[str, Any]) -> None:
        pool(v, 0, 1).update(machineType="p4d.24xlarge", accelerator="A100-40GB")

    message = broken("prod", change)
    assert "clusters[0].nodePools[1].machineType" in message
    assert "DeepSeek-R1" in message and "GiB" in message and "8x A100-40GB" in message


def _kubeconfig_in_config(values: dict[str, Any]) -> dict[str, Any]:
    """onprem reading its kubeconfig from a config key instead of Secrets Manager."""
    core = values["clusters"][0]
    core.pop("kubeconfigFrom")
    core["kubeconfigSecret"] = "onpremKubeconfig"
    return values


def test_existing_cluster_needs_its_kubeconfig_secret() -> None:
    values = _kubeconfig_in_config(copy.deepcopy(raw("onprem")))
    with pytest.raises(
        SettingsError, match=r"clusters\[0\]\.kubeconfigSecret: names config key 'onpremKubeconfig'"
    ):
        parse_settings(values, SOURCE, frozenset())


def test_existing_cluster_kubeconfig_must_be_secret() -> None:
    values = {**_kubeconfig_in_config(copy.deepcopy(raw("onprem"))), "onpremKubeconfig": "apiVersion: v1"}
    with pytest.raises(SettingsError, match="inferstack:onpremKubeconfig: holds a kubeconfig in plain text"):
        parse_settings(values, SOURCE, frozenset())


# --- inputs that were planned as if they were fine --------------------------------------------


def only_line(stack: str, change: Callable[[dict[str, Any]], None], *fragments: str) -> str:
    line = broken(stack, change)
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def valid(stack: str, change: Callable[[dict[str, Any]], None]) -> None:
    values = copy.deepcopy(raw(stack))
    change(values)
    parse_settings(values, SOURCE, frozenset({"onpremKubeconfig"}))


def test_a_boolean_is_not_a_pool_size() -> None:
    only_line(
        "dev", lambda v: pool(v, 0, 0).update(maxSize=True), "nodePools[0].maxSize", "true is a boolean"
    )
    only_line("dev", lambda v: pool(v, 0, 0).update(desiredSize=False), "nodePools[0].desiredSize", "boolean")


def test_a_boolean_is_not_a_float_either() -> None:
    only_line("dev", lambda v: v["monitoring"].update(p99LatencySeconds=True), "p99LatencySeconds", "boolean")


def test_numbers_the_engine_hands_over_as_text_still_count() -> None:
    # Under the real engine a top-level integer arrives as "30".
    valid("dev", lambda v: v.update(logRetentionDays="30"))


def test_an_unquoted_version_says_to_quote_it() -> None:
    only_line(
        "dev",
        lambda v: v["clusters"][0].update(kubernetesVersion=1.35),
        "clusters[0].kubernetesVersion",
        'write it as a string: kubernetesVersion: "1.35"',
    )
    only_line(
        "dev",
        lambda v: v["database"].update(engineVersion=16.6),
        'write it as a string: engineVersion: "16.6"',
    )


def test_no_clusters_in_plain_words() -> None:
    line = only_line("dev", lambda v: v.update(clusters=[]), "inferstack:clusters")
    assert line.endswith("at least one cluster is needed")
    assert "List should have" not in line


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (lambda v: v.update(environment=3), ["environment", "3 is not allowed", "'prod'"]),
        (lambda v: pool(v, 0, 0).update(maxSize="lots"), ["maxSize", "'lots'", "a whole number"]),
        (lambda v: pool(v, 0, 0).update(maxSize=2.5), ["maxSize", "2.5", "a whole number"]),
        (lambda v: v["monitoring"].update(p99LatencySeconds="fast"), ["p99LatencySeconds", "a number"]),
        (lambda v: v["monitoring"].update(grafana="maybe"), ["grafana", "true or false"]),
        (lambda v: v["clusters"][0].update(name=7), ["clusters[0].name", 'write it as a string: name: "7"']),
        (lambda v: v["edge"].update(routing="random"), ["edge.routing", "'random'", "'failover'"]),
        (lambda v: v.update(costCenter=""), ["costCenter", "too short", "at least 1 character"]),
        (lambda v: v.update(costCenter="c" * 64), ["costCenter", "too long", "at most 63 characters"]),
        (lambda v: pool(v, 0, 0).update(diskSizeGib=10), ["diskSizeGib", "out of range", ">= 20"]),
        (lambda v: pool(v, 0, 0).update(diskSizeGib=20000), ["diskSizeGib", "out of range", "<= 16384"]),
        (lambda v: v["budget"].update(maxMonthlyUsd=0), ["maxMonthlyUsd", "out of range", "> 0"]),
        (lambda v: v.update(database="yes"), ["inferstack:database", "a mapping of keys to values"]),
        (lambda v: v["clusters"][0].update(nodePools={"a": 1}), ["nodePools", "a list"]),
        (lambda v: pool(v, 0, 0).update(labels=["a"]), ["labels", "a mapping"]),
    ],
    ids=[
        "enum",
        "int_parsing",
        "int_from_float",
        "float_parsing",
        "bool_parsing",
        "string_type",
        "literal_error",
        "string_too_short",
        "string_too_long",
        "greater_than_equal",
        "less_than_equal",
        "greater_than",
        "model_type",
        "list_type",
        "dict_type",
    ],
)
def test_every_kind_of_type_error_in_the_users_words(
    change: Callable[[dict[str, Any]], None], fragments: list[str]
) -> None:
    line = only_line("dev", change, *fragments)
    for pydantic_words in ("Input should", "validation error", "type=", "after validation"):
        assert pydantic_words not in line


def test_a_misspelt_key_is_not_also_reported_missing() -> None:
    line = only_line("dev", lambda v: pool(v, 0, 0).update(minSzie=pool(v, 0, 0).pop("minSize")), "minSzie")
    assert "did you mean 'minSize'?" in line


# --- networks --------------------------------------------------------------------------------


def test_default_networks_follow_the_cluster_index() -> None:
    settings = parse_settings(raw("prod"), SOURCE)
    assert [str(settings.network_of(c)) for c in settings.clusters] == [
        "10.16.0.0/16",
        "10.17.0.0/16",
        "10.18.0.0/16",
    ]
    assert [str(settings.control_plane_of(c)) for c in settings.clusters] == ["None", "None", "172.16.2.0/28"]


def test_two_clusters_with_the_same_network() -> None:
    def change(v: dict[str, Any]) -> None:
        v["clusters"][0]["networkCidr"] = "10.40.0.0/16"
        v["clusters"][1]["networkCidr"] = "10.40.0.0/16"

    only_line("prod", change, "clusters[1].networkCidr", "10.40.0.0/16 overlaps 10.40.0.0/16", "'core-use1'")


def test_a_network_inside_another() -> None:
    def change(v: dict[str, Any]) -> None:
        v["clusters"][0]["networkCidr"] = "10.40.0.0/14"
        v["clusters"][1]["networkCidr"] = "10.41.0.0/16"

    only_line("prod", change, "clusters[1].networkCidr", "10.41.0.0/16 overlaps 10.40.0.0/14")


def test_an_explicit_network_over_another_clusters_default() -> None:
    # prod's second cluster gets 10.17.0.0/16 by default; the first may not claim it.
    only_line(
        "prod",
        lambda v: v["clusters"][0].update(networkCidr="10.17.0.0/16"),
        "clusters[0].networkCidr",
        "default networkCidr of cluster 'core-usw2'",
    )


def test_a_network_over_the_gke_pod_and_service_ranges() -> None:
    # The GKE cluster's nodes, pods and Services are all carved from its block (10.18.0.0/16), so a
    # block over it takes its pod and Service ranges too.
    only_line(
        "prod",
        lambda v: v["clusters"][0].update(networkCidr="10.18.0.0/15"),
        "clusters[0].networkCidr",
        "'burst-usc1'",
    )


def test_a_network_over_a_gke_control_plane() -> None:
    only_line(
        "prod",
        lambda v: v["clusters"][0].update(networkCidr="172.16.0.0/12"),
        "clusters[0].networkCidr",
        "172.16.2.0/28 (GKE control plane of cluster 'burst-usc1')",
    )


def test_an_allowed_client_network_that_is_another_clusters_network() -> None:
    only_line(
        "dev",
        lambda v: v["clusters"][1].update(endpointAccess="public", publicAccessCidrs=["10.16.4.0/24"]),
        "clusters[1].publicAccessCidrs[0]",
        "'core-use1'",
    )


def test_public_client_networks_never_collide_with_cluster_networks() -> None:
    valid(
        "dev",
        lambda v: v["clusters"][1].update(endpointAccess="public", publicAccessCidrs=["203.0.113.0/24"]),
    )


@pytest.mark.parametrize(
    "pieces",
    [["0.0.0.0/1", "128.0.0.0/1"], ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"]],
    ids=["halves", "three pieces"],
)
def test_the_whole_internet_in_pieces(pieces: list[str]) -> None:
    only_line(
        "dev",
        lambda v: v["clusters"][1].update(endpointAccess="public", publicAccessCidrs=pieces),
        "clusters[1].publicAccessCidrs",
        "cover the whole internet (0.0.0.0/0)",
    )


def test_half_the_internet_is_narrower() -> None:
    valid("dev", lambda v: v["clusters"][1].update(endpointAccess="public", publicAccessCidrs=["0.0.0.0/1"]))


# --- deployers: who may reach the private control planes ---------------------------------------


def deployers(*entries: tuple[str, str]) -> Callable[[dict[str, Any]], None]:
    return lambda v: v.update(deployers=[{"cidr": c, "description": d} for c, d in entries])


def test_deployers_are_read_with_their_descriptions() -> None:
    values = copy.deepcopy(raw("prod"))
    deployers(("10.200.0.0/24", "CI runners"), ("100.64.8.0/22", "Client VPN"))(values)
    settings = parse_settings(values, SOURCE)
    assert [(str(d.network), d.description) for d in settings.deployers] == [
        ("10.200.0.0/24", "CI runners"),
        ("100.64.8.0/22", "Client VPN"),
    ]
    assert parse_settings(raw("prod"), SOURCE).deployers == []


@pytest.mark.parametrize(
    ("stack", "entries", "key", "fragment"),
    [
        ("dev", [("10.200.0.0/33", "x")], "deployers[0].cidr", "is not a CIDR block"),
        ("dev", [("runners", "x")], "deployers[0].cidr", "is not a CIDR block"),
        (
            "dev",
            [("10.200.0.1/24", "x")],
            "deployers[0].cidr",
            "host bits set; allowed: the block's first address, 10.200.0.0/24",
        ),
        ("dev", [("fd00::/8", "x")], "deployers[0].cidr", "allowed: an IPv4 block"),
        ("dev", [("0.0.0.0/0", "x")], "deployers[0].cidr", "opens the API to the internet"),
        ("prod", [("0.0.0.0/0", "x")], "deployers[0].cidr", "opens the API to the internet"),
        (
            "dev",
            [("0.0.0.0/1", "a"), ("128.0.0.0/1", "b")],
            "inferstack:deployers:",
            "together cover the whole internet (0.0.0.0/0)",
        ),
        ("dev", [("127.0.0.0/8", "x")], "deployers[0].cidr", "loopback"),
        ("prod", [("169.254.0.0/16", "x")], "deployers[0].cidr", "link-local"),
        ("prod", [("203.0.113.0/24", "office")], "deployers[0].cidr", "is not private address space"),
        ("prod", [("100.128.0.0/10", "x")], "deployers[0].cidr", "100.64.0.0/10"),
        ("staging", [("10.1.0.0/16", "a"), ("10.1.0.0/16", "b")], "deployers[1].cidr", "listed twice"),
        ("dev", [("10.1.0.0/16", "")], "deployers[0].description", "1-255 letters"),
        ("dev", [("10.1.0.0/16", "Zürich office")], "deployers[0].description", "EC2 refuses 'ü'"),
        ("dev", [("10.1.0.0/16", "x" * 256)], "deployers[0].description", "1-255 letters"),
    ],
)
def test_a_broken_deployer_is_one_line(
    stack: str, entries: list[tuple[str, str]], key: str, fragment: str
) -> None:
    only_line(stack, deployers(*entries), key, fragment)


def test_a_bare_cidr_asks_who_deploys_from_there() -> None:
    only_line(
        "dev",
        lambda v: v.update(deployers=["10.200.0.0/24"]),
        "deployers[0]",
        "is a bare CIDR",
        "description",
    )


def test_a_deployer_without_a_description() -> None:
    only_line(
        "dev",
        lambda v: v.update(deployers=[{"cidr": "10.200.0.0/24"}]),
        "deployers[0].description",
        "missing",
    )


def test_public_deployers_are_for_dev_and_staging_only() -> None:
    valid("dev", deployers(("203.0.113.0/24", "office egress over the VPN")))
    valid("staging", deployers(("203.0.113.0/24", "office egress over the VPN")))
    only_line("prod", deployers(("203.0.113.0/24", "office")), "is not private address space")


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "172.31.0.0/16", "192.168.40.0/22", "100.64.0.0/10"])
def test_prod_takes_every_private_range(cidr: str) -> None:
    valid("prod", deployers((cidr, "runner VPC")))


def test_a_deployer_inside_a_core_network_is_fine() -> None:
    """A host in a core VPC is a deployer too: the cluster security group admits only its own members."""
    valid("prod", deployers(("10.16.200.0/24", "runner in the core-use1 VPC"), ("10.16.0.0/16", "all of it")))


def test_half_the_internet_is_narrower_for_deployers_too() -> None:
    valid("dev", deployers(("0.0.0.0/1", "half")))


def test_a_broken_deployer_and_a_broken_pool_are_both_reported() -> None:
    def change(v: dict[str, Any]) -> None:
        deployers(("0.0.0.0/0", "x"))(v)
        pool(v, 0, 0).update(minSize=9)

    lines = problems("dev", change)
    assert any("deployers[0].cidr" in line for line in lines), lines
    assert any("nodePools[0].minSize" in line for line in lines), lines


# --- data stores -----------------------------------------------------------------------------


def test_database_class_that_does_not_exist() -> None:
    only_line(
        "dev", lambda v: v["database"].update(instanceClass="db.banana"), "database.instanceClass", "db.r6g"
    )
    only_line(
        "dev",
        lambda v: v["database"].update(instanceClass="db.r6g.larg"),
        "'db.r6g.larg'",
        "did you mean db.r6g.large",
    )


def test_cloud_sql_tier_that_does_not_exist() -> None:
    lines = problems("dev", lambda v: v["database"].update(cloud="gcp"))
    assert any(
        "database.instanceClass: 'db.t4g.medium': not a Cloud SQL for PostgreSQL tier" in li for li in lines
    )


def test_cache_node_type_that_does_not_exist() -> None:
    only_line("dev", lambda v: v["cache"].update(nodeType="cache.t4g.smal"), "cache.nodeType", "did you mean")
    only_line("dev", lambda v: v["cache"].update(nodeType="cache.banana"), "cache.nodeType", "cache.r7g")


# --- node labels -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        ({"Bad Key": "x"}, "name 'Bad Key'"),
        ({"-team": "x"}, "name '-team'"),
        ({"Example.com/team": "x"}, "prefix 'Example.com' is not a DNS subdomain"),
        ({"example.com/" + "n" * 64: "x"}, "at most 63"),
        ({"team": "a b"}, "value 'a b'"),
        ({"team": "v" * 64}, "is not a node label value"),
        ({"team": "x-"}, "is not a node label value"),
        ({"kubernetes.io/role": "x"}, "reserved for Kubernetes"),
        ({"topology.k8s.io/zone": "x"}, "reserved for Kubernetes"),
        ({"inferstack.io/pool": "x"}, "set by inferstack itself"),
    ],
)
def test_node_labels_kubernetes_would_refuse(labels: dict[str, str], fragment: str) -> None:
    only_line(
        "dev", lambda v: pool(v, 1, 0).update(labels=labels), "clusters[1].nodePools[0].labels.", fragment
    )


def test_node_labels_kubernetes_takes() -> None:
    labels = {
        "team": "",
        "example.com/tier": "gold",
        "node.kubernetes.io/purpose": "system",
        "a.b_c-d": "A.b_c-9",
    }
    valid("dev", lambda v: pool(v, 1, 0).update(labels=labels))


def test_eks_node_labels_have_shorter_limits() -> None:
    long_key = "example.com/" + "n" * 60  # valid for Kubernetes and GKE, longer than EKS takes
    valid("dev", lambda v: pool(v, 1, 0).update(labels={long_key: "x", "empty": ""}))
    only_line(
        "dev", lambda v: pool(v, 0, 0).update(labels={long_key: "x"}), "clusters[0].nodePools[0]", "EKS"
    )
    only_line("dev", lambda v: pool(v, 0, 0).update(labels={"empty": ""}), "clusters[0].nodePools[0]", "1-63")


# --- provider limits -------------------------------------------------------------------------


def test_eks_node_group_above_the_quota() -> None:
    valid("dev", lambda v: pool(v, 0, 0).update(maxSize=450))
    only_line("dev", lambda v: pool(v, 0, 0).update(maxSize=451), "clusters[0].nodePools[0].maxSize", "450")


def test_gke_node_pool_above_the_per_zone_limit() -> None:
    valid("dev", lambda v: pool(v, 1, 0).update(maxSize=3000))  # 1,000 in each of three zones
    only_line("dev", lambda v: pool(v, 1, 0).update(maxSize=3001), "clusters[1].nodePools[0].maxSize", "3000")


def test_gke_single_zone_tpu_pool_above_the_per_zone_limit() -> None:
    # tpu-v5e is listed in one zone of us-central1: its pool cannot spread over three.
    def change(v: dict[str, Any]) -> None:
        v["clusters"][1]["nodePools"].append(
            {
                "name": "v5e",
                "machineType": "ct5lp-hightpu-4t",
                "accelerator": "tpu-v5e",
                "tpuTopology": "2x2",
                "capacity": "spot",
                "minSize": 0,
                "maxSize": 1001,
            }
        )

    only_line("dev", change, "clusters[1].nodePools[2].maxSize", "1000 over its 1 zone")


def test_a_multi_host_tpu_pool_is_one_gke_pool_per_slice_so_no_per_pool_limit() -> None:
    # ct6e-standard-4t 4x8 spans 8 nodes per slice: 1,008 nodes are 126 GKE pools of 8.
    valid("dev", with_v6e(lambda v: pool(v, 1, 2).update(maxSize=1008)))


def test_gke_cluster_above_the_node_limit() -> None:
    def change(v: dict[str, Any]) -> None:
        for k in range(6):
            v["clusters"][1]["nodePools"].append(
                {"name": f"cpu{k}", "machineType": "e2-standard-4", "minSize": 0, "maxSize": 3000}
            )

    only_line("dev", change, "clusters[1].nodePools", "18004 nodes", "15000")


# --- tags ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["cc;inference", "cc\ninference", "cc\tinference", "cc*"])
def test_cost_center_aws_refuses(value: str) -> None:
    only_line("dev", lambda v: v.update(costCenter=value), "costCenter", "not an AWS tag value")


def test_cost_center_gcp_would_rewrite() -> None:
    only_line("dev", lambda v: v.update(costCenter="ml/infra"), "costCenter", "'ml_infra'")


def test_cost_center_without_gcp_takes_what_aws_takes() -> None:
    values = copy.deepcopy(raw("onprem"))
    values["costCenter"] = "ml/infra:42"
    parse_settings(values, SOURCE, frozenset({"onpremKubeconfig"}))


def test_cost_center_in_upper_case_stays_recognisable_on_gcp() -> None:
    valid("dev", lambda v: v.update(costCenter="CC-Inference-Dev"))


# --- what a pool is --------------------------------------------------------------------------


def test_an_accelerator_aws_nodes_are_not_built_for_is_refused() -> None:
    only_line(
        "dev",
        lambda v: pool(v, 0, 1).update(machineType="trn1.32xlarge", accelerator="Trainium"),
        "clusters[0].nodePools[1].machineType",
        "Trainium",
        "does not know how to serve on aws",
    )


def test_pool_kind_comes_from_the_catalog() -> None:
    values = copy.deepcopy(raw("dev"))
    with_v6e(lambda v: None)(values)
    settings = parse_settings(values, SOURCE)
    kinds = {(c.name, p.name): p.kind.value for c in settings.clusters for p in c.node_pools}
    assert kinds[("core-use1", "system")] == "cpu"
    assert kinds[("core-use1", "l4")] == "gpu"
    assert kinds[("burst-usc1", "v6e-spot")] == "tpu"
    assert [p.name for c in settings.clusters for p in c.node_pools if p.is_tpu] == ["v6e-spot"]


# --- all problems at once --------------------------------------------------------------------


def test_three_problems_three_lines() -> None:
    def change(v: dict[str, Any]) -> None:
        pool(v, 0, 0).update(minSize=5, maxSize=2)
        v["database"]["instanceClass"] = "db.banana"
        v["logRetentionDays"] = 10

    lines = problems("dev", change)
    assert len(lines) == 3, lines
    assert sorted(li.split(": ")[1] for li in lines) == [
        "inferstack:clusters[0].nodePools[0].minSize",
        "inferstack:database.instanceClass",
        "inferstack:logRetentionDays",
    ]


def test_a_broken_part_and_a_broken_top_level_key_are_both_reported() -> None:
    def change(v: dict[str, Any]) -> None:
        v["owner"] = "Platform Team"
        pool(v, 1, 1).update(tpuTopology="2x2")

    lines = problems("dev", change)
    assert [li.split(": ")[1] for li in lines] == [
        "inferstack:owner",
        "inferstack:clusters[1].nodePools[1].tpuTopology",
    ]


def test_settings_error_keeps_the_first_problem_for_callers() -> None:
    values = copy.deepcopy(raw("dev"))
    values["logRetentionDays"] = 10
    values["awsAccountId"] = "12"
    with pytest.raises(SettingsError) as caught:
        parse_settings(values, SOURCE)
    error = caught.value
    assert [p for p, _ in error.problems] == ["inferstack:awsAccountId", "inferstack:logRetentionDays"]
    assert (error.path, error.message) == error.problems[0]


# --- one failing case per condition of the rules above ----------------------------------------


@pytest.mark.parametrize(
    ("cidr", "fragment"),
    [
        ("banana", "is not a CIDR block"),
        ("10.40.0.1/16", "is not a CIDR block"),  # host bits set
        ("8.8.0.0/16", "a private IPv4 /16 or larger"),
        ("10.40.128.0/17", "a private IPv4 /16 or larger"),
        ("fd00::/16", "a private IPv4 /16 or larger"),
    ],
)
def test_network_cidr_that_is_not_a_private_block(cidr: str, fragment: str) -> None:
    only_line("dev", lambda v: v["clusters"][0].update(networkCidr=cidr), "clusters[0].networkCidr", fragment)


@pytest.mark.parametrize("cidr", ["banana", "203.0.113.1/24"])
def test_public_access_cidr_that_is_not_a_cidr(cidr: str) -> None:
    only_line(
        "dev",
        lambda v: v["clusters"][1].update(endpointAccess="public", publicAccessCidrs=[cidr]),
        "clusters[1].publicAccessCidrs[0]",
        "is not a CIDR block",
    )


def test_database_region_that_does_not_exist() -> None:
    only_line(
        "dev",
        lambda v: v["database"].update(primaryRegion="us-east-9"),
        "database.primaryRegion",
        "us-east-9",
    )


def test_burstable_class_in_a_global_database() -> None:
    def change(v: dict[str, Any]) -> None:
        v["database"].update(instanceClass="db.t4g.medium", secondaryRegions=["us-west-2"])

    only_line("prod", change, "database.instanceClass", "cannot join an Aurora global database")


def test_engine_version_that_is_not_a_postgres_version() -> None:
    only_line(
        "dev", lambda v: v["database"].update(engineVersion="sixteen"), "database.engineVersion", "16.10"
    )


def test_an_unquoted_version_that_lost_a_digit_says_so() -> None:
    only_line(
        "dev", lambda v: v["clusters"][0].update(kubernetesVersion=1.3), "reads an unquoted 1.30 as 1.3"
    )


def test_a_number_for_other_text_is_told_to_quote_it_without_the_version_hint() -> None:
    line = only_line("dev", lambda v: v["database"].update(instanceClass=1.5), 'instanceClass: "1.5"')
    assert "1.30" not in line


def test_health_check_path_without_slash() -> None:
    only_line("dev", lambda v: v["edge"].update(healthCheckPath="ready"), "edge.healthCheckPath", "'/'")


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        (lambda v: v["clusters"][0].pop("region"), ["clusters[0].region", "missing"]),
        (
            lambda v: v["clusters"][0].update(nodePools=[]),
            ["clusters[0].nodePools", "at least one node pool"],
        ),
        (
            lambda v: v["clusters"][0].update(kubeconfigSecret="k"),
            ["clusters[0].kubeconfigSecret", "only for"],
        ),
        (
            lambda v: pool(v, 0, 1).update(capacityReservationId="cr-0123456789abcdef0"),
            ["nodePools[1].capacityReservationId", "only for capacity: reserved"],
        ),
        (
            lambda v: pool(v, 0, 1).update(tpuTopology="2x2"),
            ["nodePools[1].tpuTopology", "not a TPU machine"],
        ),
    ],
    ids=["region missing", "no pools", "kubeconfig on aws", "reservation id on demand", "topology on gpu"],
)
def test_cluster_and_pool_conditions(change: Callable[[dict[str, Any]], None], fragments: list[str]) -> None:
    only_line("dev", change, *fragments)


def test_a_tpu_pool_without_its_topology() -> None:
    only_line(
        "dev",
        with_v6e(lambda v: pool(v, 1, 2).pop("tpuTopology")),
        "clusters[1].nodePools[2].tpuTopology",
        "missing",
    )


def test_an_existing_cluster_has_no_pools() -> None:
    def change(v: dict[str, Any]) -> None:
        v["clusters"][0]["nodePools"] = [
            {"name": "x", "machineType": "m7i.large", "minSize": 1, "maxSize": 1}
        ]

    only_line("onprem", change, "clusters[0].nodePools", "an existing cluster is not provisioned")


# --- PostgreSQL versions that can be created ---------------------------------------------------


def test_the_default_engine_version_is_one_aurora_creates() -> None:
    from infra.settings import DEFAULT_POSTGRES_VERSION

    settings = parse_settings(raw("dev"), SOURCE)
    assert settings.database is not None and settings.database.engine_version == DEFAULT_POSTGRES_VERSION
    versions = catalog().postgres_versions
    assert DEFAULT_POSTGRES_VERSION in versions.aurora_global


def test_an_aurora_version_that_no_longer_accepts_new_clusters_is_refused() -> None:
    line = only_line(
        "dev", lambda v: v["database"].update(engineVersion="16.6"), "database.engineVersion", "'16.6'"
    )
    assert "accepts new clusters" in line and "allowed: " in line and "16.10" in line
    assert "infra/catalog/postgres.yaml" in line


def test_a_version_without_global_database_support_is_refused_with_secondary_regions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No listed version is below its major's floor today; a table that lists one must refuse it
    # for a global database and accept it for a regional cluster.
    from tests.test_catalog import TABLES, raw_tables

    tables = raw_tables()
    tables["postgres.yaml"]["auroraPostgresql"]["versions"]["16.0"] = {"uncertain": True}
    table = build_catalog(*(tables[name] for name in TABLES))
    monkeypatch.setattr(infra.settings, "catalog", lambda: table)
    line = only_line(
        "prod", lambda v: v["database"].update(engineVersion="16.0"), "database.engineVersion", "'16.0'"
    )
    assert "cannot create an Aurora global database" in line and "16.10" in line
    valid("staging", lambda v: v["database"].update(engineVersion="16.0"))


def test_cloud_sql_takes_only_the_majors_it_offers() -> None:
    from tests.test_data import GCP_STACK

    values = copy.deepcopy(GCP_STACK["config"])
    values["database"]["engineVersion"] = "17.2"
    settings = parse_settings(values, SOURCE)
    assert settings.database is not None and settings.database.engine_version == "17.2"
    values["database"]["engineVersion"] = "19.1"
    with pytest.raises(SettingsError) as caught:
        parse_settings(values, SOURCE)
    (line,) = str(caught.value).split("\n")
    assert "inferstack:database.engineVersion: '19.1'" in line and "POSTGRES_19" in line and "17" in line


# --- DNS delegation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edge", "fragments"),
    [
        (
            {"hostedZoneId": "Z0EXISTING123", "parentZoneId": "Z0PARENT123"},
            ["edge.parentZoneId", "hostedZoneId", "creates"],
        ),
        ({"parentZoneId": "parent"}, ["edge.parentZoneId", "'parent'", "Z0123456789ABCDEFGHIJ"]),
        ({"parentZone": "inference.example.com"}, ["edge.parentZone", "without parentZoneId"]),
        (
            {"parentZoneId": "Z0PARENT123", "parentZone": "example.org"},
            ["edge.parentZone", "'example.org'", "dev.inference.example.com", "below"],
        ),
        (
            {"parentZoneId": "Z0PARENT123", "parentZone": "dev.inference.example.com"},
            ["edge.parentZone", "below"],
        ),
        (
            {"domain": "api.example.com", "hostedZone": "example.com", "parentZoneId": "Z0PARENT123"},
            ["edge.parentZoneId", "'com'", "registrar"],
        ),
    ],
    ids=["with an existing zone", "not a zone id", "name without id", "not above", "itself", "below a TLD"],
)
def test_delegation_settings_that_cannot_work(edge: dict[str, Any], fragments: list[str]) -> None:
    only_line("dev", lambda v: v["edge"].update(edge), *fragments)


@pytest.mark.parametrize(
    "edge",
    [
        {"parentZoneId": "Z0PARENT123"},
        {"parentZoneId": "Z0PARENT123", "parentZone": "inference.example.com"},
        {"parentZoneId": "Z0PARENT123", "parentZone": "example.com"},
    ],
)
def test_a_created_zone_may_name_its_parent(edge: dict[str, Any]) -> None:
    valid("dev", lambda v: v["edge"].update(edge))
