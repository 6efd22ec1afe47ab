"""GKE clusters and node pools: the plan rules without Pulumi, then every shipped stack end to end."""

from __future__ import annotations

import ipaddress
import json

import pytest

from inferstack.engine import Graph, Resource
from inferstack.mocks import GCP_PROJECT_NUMBER
from infra.catalog import GcpMachineType, catalog, tpu_topology_chips
from infra.gcp.gke import KEY_ROTATION, NODE_ROLES, GkeClusterArgs
from infra.gcp.nodepools import Kind, boot_disk_type, plan_pool
from infra.settings import Environment, NodePool, Role
from tests.conftest import children_of, dev_with_tpu, planned

GKE_STACKS = ["dev", "staging", "prod"]
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
COMPONENT = "inferstack:gcp:GkeCluster"


# --- planning rules, no Pulumi ---------------------------------------------------------------


def _pool(**fields: object) -> NodePool:
    return NodePool.model_validate({"name": "pool", "minSize": 0, "maxSize": 1, **fields})


def _v6e(**sizes: int) -> NodePool:
    return _pool(
        name="v6e",
        machineType="ct6e-standard-4t",
        accelerator="tpu-v6e",
        tpuTopology="4x8",
        capacity="spot",
        **{"minSize": 0, "maxSize": 8, **sizes},
    )


ZONES = ["us-central1-a", "us-central1-b", "us-central1-c"]


def test_a_multi_host_tpu_pool_becomes_one_gke_pool_per_slice() -> None:
    specs = plan_pool(_v6e(maxSize=16, minSize=8), cluster="burst", region="us-central1", zones=ZONES)
    assert [s.logical_name for s in specs] == ["v6e-s0", "v6e-s1"]
    assert all(s.nodes_per_slice == 8 and s.max_nodes == 8 for s in specs)
    assert [s.min_nodes for s in specs] == [8, 0]
    assert all(s.node_locations == ("us-central1-b",) for s in specs)


def test_one_slice_keeps_the_pool_name() -> None:
    (spec,) = plan_pool(_v6e(), cluster="burst", region="us-central1", zones=ZONES)
    assert spec.logical_name == "v6e" and spec.single_zone and spec.initial_nodes_per_zone == 0


@pytest.mark.parametrize("sizes", [{"maxSize": 12}, {"maxSize": 16, "minSize": 4}, {"desiredSize": 4}])
def test_tpu_sizes_that_split_a_slice_are_rejected(sizes: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        plan_pool(_v6e(**sizes), cluster="burst", region="us-central1", zones=ZONES)


@pytest.mark.parametrize(
    ("sizes", "zones", "per_zone"),
    [
        ({"minSize": 1, "maxSize": 2}, 2, 1),
        ({"minSize": 1, "maxSize": 3}, 3, 1),
        ({"minSize": 2, "maxSize": 4}, 3, 1),
        ({"minSize": 4, "maxSize": 5}, 2, 2),
        ({"minSize": 0, "maxSize": 2}, 3, 0),
    ],
)
def test_a_pool_starts_with_its_desired_size_within_its_maximum(
    sizes: dict[str, int], zones: int, per_zone: int
) -> None:
    (spec,) = plan_pool(
        _pool(machineType="e2-standard-4", **sizes), cluster="c", region="us-central1", zones=ZONES
    )
    assert (spec.zone_count, spec.initial_nodes_per_zone) == (zones, per_zone)
    assert spec.min_nodes == sizes["minSize"] and spec.max_nodes == sizes["maxSize"]
    assert sizes["minSize"] <= spec.initial_nodes_per_zone * spec.zone_count <= sizes["maxSize"]
    assert spec.node_locations == (None if zones == len(ZONES) else tuple(ZONES[:zones]))


@pytest.mark.parametrize(
    ("machine", "disk"),
    [
        ("a3-ultragpu-8g", "hyperdisk-balanced"),
        ("ct6e-standard-4t", "hyperdisk-balanced"),
        ("ct5lp-hightpu-4t", "pd-balanced"),
        ("ct5p-hightpu-4t", "pd-balanced"),
        ("g2-standard-8", "pd-ssd"),
        ("a3-highgpu-8g", "pd-ssd"),
        ("n2-standard-8", "pd-balanced"),
    ],
)
def test_boot_disk_is_one_the_machine_supports(machine: str, disk: str) -> None:
    assert boot_disk_type(catalog().gcp_machine_types[machine]) == disk


def _args(**overrides: object) -> GkeClusterArgs:
    fields: dict[str, object] = {
        "project": "p",
        "region": "us-central1",
        "zones": ZONES,
        "kubernetes_version": "1.33",
        "network": "net",
        "subnetwork": "subnet",
        "pods_range_name": "pods",
        "services_range_name": "services",
        "node_cidr": "10.18.0.0/20",
        "pods_cidr": "10.18.128.0/17",
        "services_cidr": "10.18.16.0/20",
        "master_ipv4_cidr_block": "172.16.2.0/28",
        "node_pools": [_pool(machineType="e2-standard-4")],
        "role": Role.BURST,
        "environment": Environment.DEV,
        "labels": {"owner": "platform-team"},
        **overrides,
    }
    return GkeClusterArgs(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"master_authorized_cidrs": ["203.0.113.0/24"]}, "private endpoint admits only internal ranges"),
        ({"master_ipv4_cidr_block": "10.18.0.0/28"}, "overlaps node_cidr"),
        ({"master_ipv4_cidr_block": "172.16.0.0/24"}, "a private /28"),
        ({"release_channel": "FAST"}, "allowed: RAPID"),
        ({"labels": {"Owner": "x"}}, "GCP labels"),
    ],
)
def test_cluster_args_reject_what_gke_would(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _args(**overrides)


def test_a_public_endpoint_may_list_public_cidrs() -> None:
    assert _args(endpoint_public=True, master_authorized_cidrs=["203.0.113.0/24"]).endpoint_public


# --- the planned stacks ----------------------------------------------------------------------


def _components(graph: Graph) -> list[Resource]:
    found = graph.of_type(COMPONENT)
    assert found, f"{graph.stack}: no GKE cluster"
    return found


def _child(graph: Graph, component: Resource, token: str) -> Resource:
    found = [r for r in children_of(graph, component) if r.type == token]
    assert len(found) == 1, f"{component.name}: {len(found)} {token}"
    return found[0]


def _pools(graph: Graph, component: Resource) -> list[Resource]:
    return [r for r in children_of(graph, component) if r.type == NODE_POOL]


def _subnet(graph: Graph, name: str) -> Resource:
    (subnet,) = [s for s in graph.of_type("gcp:compute/subnetwork:Subnetwork") if s.name == f"{name}-nodes"]
    return subnet


def _min_max(pool: Resource) -> tuple[int, int]:
    scaling = pool.inputs["autoscaling"]
    if "totalMaxNodeCount" in scaling:
        return scaling.get("totalMinNodeCount", 0), scaling["totalMaxNodeCount"]
    return scaling.get("minNodeCount", 0), scaling["maxNodeCount"]


def _machine(pool: Resource) -> GcpMachineType:
    return catalog().gcp_machine_types[pool.inputs["nodeConfig"]["machineType"]]


def _kind(pool: Resource) -> Kind:
    machine = _machine(pool)
    if machine.accelerator is None:
        return Kind.CPU
    return Kind.TPU if catalog().accelerators[machine.accelerator].vendor == "google" else Kind.GPU


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_nodes_and_control_plane_are_private(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        cluster = _child(graph, component, CLUSTER)
        private = cluster.inputs["privateClusterConfig"]
        assert private["enablePrivateNodes"] is True
        assert private["enablePrivateEndpoint"] is True
        subnet = _subnet(graph, component.name)
        allowed = [b["cidrBlock"] for b in cluster.inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"]]
        assert subnet.inputs["ipCidrRange"] in allowed
        assert all(ipaddress.IPv4Network(c).subnet_of(ipaddress.IPv4Network("10.0.0.0/8")) for c in allowed)
        assert cluster.inputs["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_the_api_is_reached_through_the_dns_endpoint_with_iam_and_the_ip_endpoint_stays_private(
    stack: str,
) -> None:
    """`pulumi up` from outside the VPC reaches the API through the DNS name, gated by IAM."""
    graph = planned(stack)
    for component in _components(graph):
        cluster = _child(graph, component, CLUSTER).inputs
        endpoints = cluster.get("controlPlaneEndpointsConfig") or {}
        assert endpoints.get("dnsEndpointConfig", {}).get("allowExternalTraffic") is True, component.name
        assert endpoints.get("ipEndpointsConfig", {}).get("enabled", True) is True
        assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is True
        assert cluster["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_the_kubernetes_provider_talks_to_the_dns_endpoint_not_an_ip(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        (provider,) = [
            p for p in graph.of_type("pulumi:providers:kubernetes") if p.name == f"{component.name}-k8s"
        ]
        (entry,) = json.loads(provider.inputs["kubeconfig"])["clusters"]
        host = entry["cluster"]["server"].removeprefix("https://")
        region = _child(graph, component, CLUSTER).inputs["location"]
        assert host.endswith(f".{region}.gke.goog"), host
        with pytest.raises(ValueError):
            ipaddress.ip_address(host)
        # The DNS endpoint presents a publicly trusted certificate, not one of the cluster CA.
        assert "certificate-authority-data" not in entry["cluster"]
        assert "insecure-skip-tls-verify" not in entry["cluster"]


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_control_plane_block_is_outside_every_vpc_range(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        block = ipaddress.ip_network(
            _child(graph, component, CLUSTER).inputs["privateClusterConfig"]["masterIpv4CidrBlock"]
        )
        assert block.prefixlen == 28
        subnet = _subnet(graph, component.name)
        ranges = [
            subnet.inputs["ipCidrRange"],
            *(r["ipCidrRange"] for r in subnet.inputs["secondaryIpRanges"]),
        ]
        assert not any(block.overlaps(ipaddress.ip_network(r)) for r in ranges)


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_workload_identity_and_the_metadata_server_on_every_node(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        cluster = _child(graph, component, CLUSTER)
        assert (
            cluster.inputs["workloadIdentityConfig"]["workloadPool"]
            == f"{cluster.inputs['project']}.svc.id.goog"
        )
        configs = [cluster.inputs["nodeConfig"], *(p.inputs["nodeConfig"] for p in _pools(graph, component))]
        assert all(c["workloadMetadataConfig"]["mode"] == "GKE_METADATA" for c in configs)


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_every_node_is_shielded_and_runs_as_the_dedicated_account(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        account = _child(graph, component, "gcp:serviceaccount/account:Account")
        cluster = _child(graph, component, CLUSTER)
        email = f"{account.inputs['accountId']}@{cluster.inputs['project']}.iam.gserviceaccount.com"
        assert cluster.inputs["enableShieldedNodes"] is True
        for owner, config in [(cluster, cluster.inputs["nodeConfig"])] + [
            (p, p.inputs["nodeConfig"]) for p in _pools(graph, component)
        ]:
            assert config["serviceAccount"] == email, owner.name
            assert not config["serviceAccount"].endswith("-compute@developer.gserviceaccount.com")
            assert account.urn in owner.dependencies, owner.name
            assert config["shieldedInstanceConfig"] == {
                "enableIntegrityMonitoring": True,
                "enableSecureBoot": True,
            }
        grants = [r for r in children_of(graph, component) if r.type == "gcp:projects/iAMMember:IAMMember"]
        assert sorted(g.inputs["role"] for g in grants) == sorted(NODE_ROLES)


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_dataplane_v2_release_channel_and_no_legacy_auth(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        cluster = _child(graph, component, CLUSTER).inputs
        assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"
        assert cluster["releaseChannel"]["channel"] == "REGULAR"
        assert cluster["enableLegacyAbac"] is False
        assert cluster["masterAuth"]["clientCertificateConfig"]["issueClientCertificate"] is False
        assert cluster["removeDefaultNodePool"] is True
        assert cluster["loggingConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS", "WORKLOADS"]
        assert cluster["monitoringConfig"]["managedPrometheus"]["enabled"] is True
        assert cluster["addonsConfig"]["gcsFuseCsiDriverConfig"]["enabled"] is True


def _seconds(duration: str) -> int:
    assert duration.endswith("s")
    return int(duration[:-1])


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_secrets_are_encrypted_with_a_rotating_key_the_gke_agent_may_use(stack: str) -> None:
    graph = planned(stack)
    prod = stack == "prod"
    for component in _components(graph):
        cluster = _child(graph, component, CLUSTER)
        key = _child(graph, component, "gcp:kms/cryptoKey:CryptoKey")
        ring = _child(graph, component, "gcp:kms/keyRing:KeyRing")
        grant = _child(graph, component, "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
        encryption = cluster.inputs["databaseEncryption"]
        assert encryption["state"] == "ENCRYPTED"
        assert encryption["keyName"] and key.urn in cluster.dependencies
        assert _seconds(key.inputs["rotationPeriod"]) <= 90 * 24 * 3600 == _seconds(KEY_ROTATION)
        assert ring.inputs["location"] == graph.region_of(cluster)
        assert key.protect is prod and ring.protect is prod
        assert cluster.inputs["deletionProtection"] is prod
        assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
        assert grant.inputs["member"] == (
            f"serviceAccount:service-{GCP_PROJECT_NUMBER}@container-engine-robot.iam.gserviceaccount.com"
        )
        assert grant.urn in cluster.dependencies


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_burst_accelerator_pools_are_spot_and_scale_from_zero(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        accelerated = [p for p in _pools(graph, component) if _kind(p) is not Kind.CPU]
        assert accelerated, component.name
        for pool in accelerated:
            assert pool.inputs["nodeConfig"]["spot"] is True, pool.name
            assert _min_max(pool)[0] == 0, pool.name
            assert pool.inputs["initialNodeCount"] == 0, pool.name


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_every_pool_repairs_and_upgrades_itself(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        for pool in _pools(graph, component):
            assert pool.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}, pool.name


def test_regional_pool_sizes_are_totals_not_per_zone(prod: Graph, staging: Graph) -> None:
    (component,) = _components(prod)
    by_name = {p.name: p for p in _pools(prod, component)}
    system = by_name["burst-usc1-system"]
    assert _min_max(system) == (2, 4)
    assert "maxNodeCount" not in system.inputs["autoscaling"]
    zones = len(_child(prod, component, CLUSTER).inputs["nodeLocations"])
    assert system.inputs["initialNodeCount"] * zones <= 4
    # A GPU pool over two of the cluster's zones still counts its nodes over both together.
    (burst,) = _components(staging)
    (l4,) = [p for p in _pools(staging, burst) if p.name == "burst-use4-l4x2-spot"]
    assert len(l4.inputs["nodeLocations"]) == 2
    assert _min_max(l4) == (0, 4) and "maxNodeCount" not in l4.inputs["autoscaling"]
    assert l4.inputs["autoscaling"]["locationPolicy"] == "ANY"


def test_a_single_zone_gpu_pool_keeps_its_size(prod: Graph) -> None:
    """In one zone the per-zone limits are the pool's limits: 4 H200 nodes at most, from 0."""
    (component,) = _components(prod)
    (h200,) = [p for p in _pools(prod, component) if p.name == "burst-usc1-h200-spot"]
    assert h200.inputs["nodeLocations"] == ["us-central1-b"]
    assert h200.inputs["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 4}
    assert h200.inputs["initialNodeCount"] == 0


def test_prod_h200_pool_is_only_where_gcp_offers_h200(prod: Graph) -> None:
    """A3 Ultra (a3-ultragpu-8g) is offered in us-central1-b only; a and c would never get a node."""
    (component,) = _components(prod)
    (h200,) = [p for p in _pools(prod, component) if p.name == "burst-usc1-h200-spot"]
    assert h200.inputs["nodeLocations"] == ["us-central1-b"]


def test_staging_l4_pool_leaves_out_us_east4_b(staging: Graph) -> None:
    (component,) = _components(staging)
    (l4,) = [p for p in _pools(staging, component) if p.name == "burst-use4-l4x2-spot"]
    assert l4.inputs["nodeLocations"] == ["us-east4-a", "us-east4-c"]


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_every_gpu_pool_names_zones_that_offer_its_gpu(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        region = _child(graph, component, CLUSTER).inputs["location"]
        for pool in _pools(graph, component):
            if _kind(pool) is not Kind.GPU:
                continue
            accelerator = _machine(pool).accelerator
            assert accelerator is not None
            zones = pool.inputs.get("nodeLocations")
            assert zones, f"{pool.name}: a GPU pool must not follow the cluster's zones"
            assert set(zones) <= set(catalog().gcp_zones(accelerator, region)), pool.name


def test_gpu_pool_zones_are_the_cluster_s_zones_that_have_the_gpu() -> None:
    # A100-40GB is in us-central1 a, b, c and f: the pool keeps to the cluster's a, b, c.
    a100 = plan_pool(
        _pool(name="a100", machineType="a2-highgpu-1g", accelerator="A100-40GB", minSize=0, maxSize=2),
        cluster="c",
        region="us-central1",
        zones=ZONES,
    )
    assert a100[0].node_locations == ("us-central1-a", "us-central1-b", "us-central1-c")
    # H200 is in us-central1-b only.
    h200 = plan_pool(
        _pool(name="h200", machineType="a3-ultragpu-8g", accelerator="H200", minSize=0, maxSize=2),
        cluster="c",
        region="us-central1",
        zones=ZONES,
    )
    assert h200[0].node_locations == ("us-central1-b",) and h200[0].single_zone


def test_tpu_pools_are_one_compact_slice_in_a_tpu_zone(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = dev_with_tpu(tmp_path_factory)
    for component in _components(graph):
        tpu_pools = [p for p in _pools(graph, component) if _kind(p) is Kind.TPU]
        assert tpu_pools
        for pool in tpu_pools:
            machine = _machine(pool)
            placement = pool.inputs["placementPolicy"]
            assert placement["type"] == "COMPACT"
            assert placement["tpuTopology"] in machine.tpu_topologies
            (zone,) = pool.inputs["nodeLocations"]
            assert machine.accelerator is not None
            tpu_zones = catalog().accelerators[machine.accelerator].zones or {}
            assert any(zone in zones for zones in tpu_zones.values())
            slice_nodes = tpu_topology_chips(placement["tpuTopology"]) // machine.accelerator_count
            assert _min_max(pool)[1] == slice_nodes
            assert pool.inputs["nodeConfig"]["taints"] == [
                {"effect": "NO_SCHEDULE", "key": "google.com/tpu", "value": "present"}
            ]
            assert "guestAccelerators" not in pool.inputs["nodeConfig"]


def test_a_v6e_4x8_slice_is_one_pool_of_8_hosts(tmp_path_factory: pytest.TempPathFactory) -> None:
    (pool,) = [
        p
        for p in dev_with_tpu(tmp_path_factory).of_type(NODE_POOL)
        if p.inputs["nodeConfig"]["machineType"] == "ct6e-standard-4t"
    ]
    assert pool.inputs["placementPolicy"]["tpuTopology"] == "4x8"
    assert pool.inputs["autoscaling"] == {"maxNodeCount": 8, "minNodeCount": 0}
    assert pool.inputs["nodeLocations"] == ["us-central1-b"]
    assert pool.inputs["nodeConfig"]["diskType"] == "hyperdisk-balanced"


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_gpu_pools_get_drivers_and_the_gpu_taint(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        gpu_pools = [p for p in _pools(graph, component) if _kind(p) is Kind.GPU]
        for pool in gpu_pools:
            machine = _machine(pool)
            config = pool.inputs["nodeConfig"]
            (accelerator,) = config["guestAccelerators"]
            assert accelerator["type"] == machine.gke_accelerator_type
            assert accelerator["count"] == machine.accelerator_count
            assert accelerator["gpuDriverInstallationConfig"]["gpuDriverVersion"] in ("LATEST", "DEFAULT")
            assert {"effect": "NO_SCHEDULE", "key": "nvidia.com/gpu", "value": "present"} in config["taints"]
            assert config["labels"]["inferstack.io/accelerator"] == machine.accelerator
        cluster = _child(graph, component, CLUSTER)
        assert ("DCGM" in cluster.inputs["monitoringConfig"]["enableComponents"]) is bool(gpu_pools)


@pytest.mark.parametrize(
    ("stack", "pool", "disk"),
    [
        ("prod", "burst-usc1-h200-spot", "hyperdisk-balanced"),
        ("prod", "burst-usc1-system", "pd-balanced"),
        ("dev", "burst-usc1-l4-spot", "pd-ssd"),
        ("staging", "burst-use4-l4x2-spot", "pd-ssd"),
    ],
)
def test_boot_disks_in_the_stacks(stack: str, pool: str, disk: str) -> None:
    (found,) = [p for p in planned(stack).of_type(NODE_POOL) if p.name == pool]
    assert found.inputs["nodeConfig"]["diskType"] == disk


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_node_labels_say_pool_role_and_accelerator(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        for pool in _pools(graph, component):
            labels = pool.inputs["nodeConfig"]["labels"]
            assert pool.name.startswith(f"{component.name}-{labels['inferstack.io/pool']}")
            assert labels["inferstack.io/role"] == "burst"
            assert "inferstack.io/accelerator" in labels
            resource_labels = pool.inputs["nodeConfig"]["resourceLabels"]
            assert resource_labels["cost-center"] and resource_labels["cluster"] == component.name


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_each_cluster_has_a_kubernetes_provider_built_from_its_outputs(stack: str) -> None:
    graph = planned(stack)
    for component in _components(graph):
        cluster = _child(graph, component, CLUSTER)
        (provider,) = [
            p for p in graph.of_type("pulumi:providers:kubernetes") if p.name == f"{component.name}-k8s"
        ]
        assert provider.parent == component.urn
        assert cluster.urn in provider.dependencies
        assert provider.inputs["enableServerSideApply"] in (True, "true")
        kubeconfig = json.loads(provider.inputs["kubeconfig"])
        (entry,) = kubeconfig["clusters"]
        assert entry["cluster"]["server"].startswith("https://")
        assert kubeconfig["current-context"].endswith(f"_{cluster.name}")
        (user,) = kubeconfig["users"]
        assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
        assert user["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
        assert user["user"]["exec"]["installHint"]
        assert "token" not in user["user"] and "client-key-data" not in user["user"]


def test_prod_gke_resource_counts(prod: Graph) -> None:
    (component,) = _components(prod)
    kinds = [r.type for r in children_of(prod, component)]
    assert kinds.count(CLUSTER) == 1
    assert kinds.count(NODE_POOL) == 2
    assert kinds.count("gcp:projects/iAMMember:IAMMember") == len(NODE_ROLES)
    assert kinds.count("pulumi:providers:kubernetes") == 1


def test_a_gpu_pool_goes_to_other_zones_of_the_region_only_when_the_cluster_s_have_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from infra import settings

    offered = {"H200": ("us-central1-f",)}
    monkeypatch.setattr(settings, "catalog", lambda: _Offering(offered))
    assert settings.gke_gpu_zones("H200", "us-central1") == ("us-central1-f",)


class _Offering:
    """The catalog, with other zones for some accelerators."""

    def __init__(self, zones: dict[str, tuple[str, ...]]):
        self.zones = zones
        self.gcp_regions = catalog().gcp_regions

    def gcp_zones(self, accelerator: str, region: str) -> tuple[str, ...]:
        return self.zones[accelerator]
