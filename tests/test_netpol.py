"""Default-deny networks: every namespace the program creates denies everything but the declared edges."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from inferstack import mocks
from inferstack.engine import Graph, Resource
from infra.k8s import netpol
from infra.settings import Cloud
from tests.conftest import stack_variant

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
FQDN_POLICY = "kubernetes:networking.gke.io/v1alpha1:FQDNNetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
EKS_ADDON = "aws:eks/addon:Addon"

EXPECTED_EDGES = {
    "edge-to-gateway",
    # The peer entrance of the burst GKE cluster, which the core gateways fall back to.
    "edge-to-peer",
    "peer-to-gateway",
    "peer-to-istiod",
    "prometheus-scrapes-istio-peer",
    "gateway-to-vllm",
    "gateway-to-masking",
    "gateway-to-postgres",
    "gateway-to-redis",
    "gateway-to-public-apis",
    "dns",
    "prometheus-scrapes-vllm",
    "prometheus-scrapes-gateway",
    "prometheus-scrapes-dcgm-exporter",
    "vllm-to-object-storage",
    "vllm-to-credentials",
    "keda-to-api-server",
    "api-server-to-keda",
    "keda-within",
    "keda-to-prometheus",
    "keda-to-credentials",
    "keda-to-managed-prometheus",
    "external-secrets-to-api-server",
    "api-server-to-external-secrets",
    "external-secrets-within",
    "external-secrets-to-secret-manager",
    "external-secrets-to-credentials",
    "gateway-to-vllm-hbone",
    "gateway-to-masking-hbone",
    "probes-to-inference",
    "probes-to-vllm",
    "prometheus-scrapes-vllm-hbone",
    "prometheus-scrapes-gateway-hbone",
    "prometheus-scrapes-nodes",
    "monitoring-to-api-server",
    "api-server-to-monitoring",
    "monitoring-within",
    "probes-to-monitoring",
    "monitoring-to-cloud-apis",
    "monitoring-to-credentials",
    "collector-to-api-server",
    "collector-to-credentials",
    "collector-to-managed-prometheus",
    "probes-to-collector",
    "ingress-to-gateway",
    "ingress-to-istiod",
    "ztunnel-to-istiod",
    "istio-cni-to-api-server",
    "api-server-to-istiod",
    "istiod-to-api-server",
    "istiod-to-jwks",
    "prometheus-scrapes-istiod",
    "prometheus-scrapes-ztunnel",
    "prometheus-scrapes-istio-cni",
    "prometheus-scrapes-istio-ingress",
    "gateway-to-egress-waypoint",
    "egress-waypoint-to-public-apis",
    "egress-waypoint-to-istiod",
}
"""Every path prod allows, by name. A new path must be added here on purpose."""
GATEWAY_OWN = {"presidio-analyzer", "presidio-anonymizer"}
"""The masking services' own policies, admitting only the gateway (infra/k8s/pii.py): the ingress
half of gateway-to-masking."""


def _cluster(graph: Graph, resource: Resource) -> str:
    """The cluster of an in-cluster object: its Kubernetes provider is named <cluster>-k8s."""
    provider = graph.by_urn()[resource.provider]
    return provider.name.removesuffix("-k8s")


def _policies(graph: Graph, token: str = NETWORK_POLICY) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(cluster, namespace) -> policy name -> spec."""
    found: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for p in graph.of_type(token):
        meta = p.inputs["metadata"]
        found[(_cluster(graph, p), meta["namespace"])][meta["name"]] = p.inputs["spec"]
    return found


def _edge_name(policy: str) -> str:
    return policy.removesuffix("-in").removesuffix("-out")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "onprem"])
def test_every_created_namespace_denies_by_default(stack: str, request: pytest.FixtureRequest) -> None:
    graph: Graph = request.getfixturevalue(stack)
    namespaces = {(_cluster(graph, n), n.inputs["metadata"]["name"]) for n in graph.of_type(NAMESPACE)}
    assert namespaces, "the stack creates no namespace"
    policies = _policies(graph)
    for key in sorted(namespaces):
        deny = policies.get(key, {}).get("default-deny")
        assert deny is not None, f"{key}: no default-deny NetworkPolicy"
        assert deny["podSelector"] == {}
        assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
        assert not deny.get("ingress") and not deny.get("egress"), f"{key}: default-deny allows something"


def test_prod_allows_exactly_the_declared_edges(prod: Graph) -> None:
    names = {_edge_name(n) for ns in _policies(prod).values() for n in ns} | {
        n for ns in _policies(prod, FQDN_POLICY).values() for n in ns
    }
    assert names - {"default-deny"} == EXPECTED_EDGES | GATEWAY_OWN


def test_edge_names_are_unique_and_each_says_why() -> None:
    for cloud in Cloud:
        found = netpol.edges(cloud)
        assert found
        assert len({e.name for e in found}) == len(found), cloud
        assert all(e.why for e in found)


def test_the_mesh_hook_adds_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    hbone = netpol.Edge(
        name="hbone",
        source=netpol.Peer(namespace="inference"),
        target=netpol.Peer(namespace="serving"),
        ports=((15008, "TCP"),),
        why="ztunnel tunnels between the serving namespaces",
    )
    monkeypatch.setattr(netpol, "MESH_EDGES", [hbone])
    assert hbone in netpol.edges(Cloud.AWS)
    assert hbone in netpol.edges(Cloud.GCP)


def _ingress_cidrs(spec: dict[str, Any]) -> list[str]:
    return [peer["ipBlock"]["cidr"] for rule in spec["ingress"] for peer in rule["from"] if "ipBlock" in peer]


def _egress_cidrs(spec: dict[str, Any]) -> list[str]:
    return [peer["ipBlock"]["cidr"] for rule in spec["egress"] for peer in rule["to"] if "ipBlock" in peer]


def _ports(spec: dict[str, Any], side: str) -> set[int]:
    return {p["port"] for rule in spec[side] for p in rule["ports"]}


def test_only_the_load_balancer_reaches_the_mesh_ingress(prod: Graph) -> None:
    policies = _policies(prod)
    eks = policies[("core-use1", "istio-ingress")]["edge-to-gateway-in"]
    assert eks["podSelector"] == {"matchLabels": {"istio": "ingress"}}
    assert _ports(eks, "ingress") == {8080}
    vpc = [n for n in prod.resources if n.type == "aws:ec2/vpc:Vpc" and n.name.startswith("core-use1")]
    assert len(vpc) == 1
    assert _ingress_cidrs(eks) == [vpc[0].inputs["cidrBlock"]]
    gke = policies[("burst-usc1", "istio-ingress")]["edge-to-gateway-in"]
    assert sorted(_ingress_cidrs(gke)) == ["130.211.0.0/22", "35.191.0.0/16"]
    # The load balancer no longer reaches the gateway's pods: the ingress does, over HBONE or 4000.
    assert "edge-to-gateway-in" not in policies[("core-use1", "inference")]
    to_gateway = policies[("core-use1", "inference")]["ingress-to-gateway-in"]
    assert to_gateway["ingress"][0]["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-ingress"}},
            "podSelector": {"matchLabels": {"istio": "ingress"}},
        }
    ]
    assert _ports(to_gateway, "ingress") == {4000, 15008}


def test_a_cluster_without_the_mesh_sends_the_load_balancer_to_the_gateway() -> None:
    for cloud, target, port in (
        (Cloud.EXISTING, netpol.Peer(namespace="inference", pods={"app": "deepseek"}), 4000),
        (Cloud.AWS, netpol.Peer(namespace="istio-ingress", pods={"istio": "ingress"}), 8080),
        (Cloud.GCP, netpol.Peer(namespace="istio-ingress", pods={"istio": "ingress"}), 8080),
    ):
        (edge,) = [e for e in netpol.edges(cloud) if e.name == "edge-to-gateway"]
        assert (edge.target, edge.ports) == (target, ((port, "TCP"),)), cloud


@pytest.mark.parametrize("cluster", ["core-use1", "burst-usc1"])
def test_istiod_admits_only_the_mesh_its_scraper_and_the_api_server(prod: Graph, cluster: str) -> None:
    """istio-system denies by default; istiod's xDS (15012) is open to the ingress pods and to
    ztunnel's pods, its webhook (15017) to the API server, its metrics (15014) to ``monitoring``
    only; 15010 stays closed. On EKS the egress waypoint takes its xDS there too."""
    system = _policies(prod)[(cluster, "istio-system")]
    assert system["default-deny"]["podSelector"] == {}
    istiod = {
        name: spec
        for name, spec in system.items()
        if name.endswith("-in") and spec["podSelector"] == {"matchLabels": {"app": "istiod"}}
    }
    waypoint = {"egress-waypoint-to-istiod-in"} if cluster == "core-use1" else set()
    # The GKE burst cluster has the peer entrance, which takes its configuration from istiod too.
    peer = {"peer-to-istiod-in"} if cluster == "burst-usc1" else set()
    assert set(istiod) == {
        "ingress-to-istiod-in",
        "ztunnel-to-istiod-in",
        "api-server-to-istiod-in",
        "prometheus-scrapes-istiod-in",
        *waypoint,
        *peer,
    }
    for name in peer:
        assert _ports(istiod[name], "ingress") == {15012}
        assert istiod[name]["ingress"][0]["from"] == [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-ingress"}},
                "podSelector": {"matchLabels": {"istio": "peer"}},
            }
        ]
    assert _ports(istiod.pop("prometheus-scrapes-istiod-in"), "ingress") == {15014}
    for spec in istiod.values():
        assert spec["podSelector"] == {"matchLabels": {"app": "istiod"}}
    assert _ports(istiod["ingress-to-istiod-in"], "ingress") == {15012}
    assert _ports(istiod["ztunnel-to-istiod-in"], "ingress") == {15012}
    assert _ports(istiod["api-server-to-istiod-in"], "ingress") == {15017}
    if waypoint:
        assert _ports(istiod["egress-waypoint-to-istiod-in"], "ingress") == {15012}
        assert [
            peer for rule in istiod["egress-waypoint-to-istiod-in"]["ingress"] for peer in rule["from"]
        ] == [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-egress"}},
                "podSelector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "waypoint"}},
            }
        ]
    (ztunnel,) = [peer for rule in istiod["ztunnel-to-istiod-in"]["ingress"] for peer in rule["from"]]
    assert ztunnel == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
        "podSelector": {"matchLabels": {"app": "ztunnel"}},
    }, "ztunnel is a pod of istio-system (in-pod mode), not the node"
    opened = {p for spec in system.values() if spec.get("ingress") for p in _ports(spec, "ingress")}
    assert 15010 not in opened


@pytest.mark.parametrize("cluster", ["core-use1", "burst-usc1"])
def test_ztunnel_and_the_cni_agent_leave_istio_system_only_where_ambient_needs(
    prod: Graph, cluster: str
) -> None:
    """At Istio 1.30 neither runs on the host network, so istio-system's default-deny confines them:
    without these two edges ztunnel would never get its configuration and certificates, and the CNI
    agent would never see a pod to redirect."""
    system = _policies(prod)[(cluster, "istio-system")]
    leaving = {name: spec for name, spec in system.items() if name.endswith("-out")}
    ztunnel = leaving["ztunnel-to-istiod-out"]
    assert ztunnel["podSelector"] == {"matchLabels": {"app": "ztunnel"}}
    (target,) = [peer for rule in ztunnel["egress"] for peer in rule["to"]]
    assert target["podSelector"] == {"matchLabels": {"app": "istiod"}}
    assert _ports(ztunnel, "egress") == {15012}
    cni = leaving["istio-cni-to-api-server-out"]
    assert cni["podSelector"] == {"matchLabels": {"k8s-app": "istio-cni-node"}}
    assert _ports(cni, "egress") == {443, 6443}
    assert _egress_cidrs(cni) and "0.0.0.0/0" not in _egress_cidrs(cni), "the control plane only"
    own = {name for name, spec in leaving.items() if spec["podSelector"] == ztunnel["podSelector"]}
    assert own == {"ztunnel-to-istiod-out"}, "besides DNS, ztunnel's own pod dials istiod only"


MESH_METRICS = {
    # edge -> (namespace, pods, port): the mesh components' metrics ports (Istio 1.30.3 charts).
    "prometheus-scrapes-istiod": ("istio-system", {"app": "istiod"}, 15014),
    "prometheus-scrapes-ztunnel": ("istio-system", {"app": "ztunnel"}, 15020),
    "prometheus-scrapes-istio-cni": ("istio-system", {"k8s-app": "istio-cni-node"}, 15014),
    "prometheus-scrapes-istio-ingress": ("istio-ingress", {"istio": "ingress"}, 15090),
    "prometheus-scrapes-istio-peer": ("istio-ingress", {"istio": "peer"}, 15090),
}


@pytest.mark.parametrize("cluster", ["core-use1", "burst-usc1"])
def test_monitoring_reaches_each_mesh_component_on_its_metrics_port_only(prod: Graph, cluster: str) -> None:
    """EKS's Prometheus and GKE's collector, both in ``monitoring``, scrape the mesh's own pods in
    plain text (they are outside the ambient mesh): their metrics port and nothing else, no HBONE."""
    policies = _policies(prod)
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for edge, (namespace, pods, port) in MESH_METRICS.items():
        admitted = policies[(cluster, namespace)][f"{edge}-in"]
        assert admitted["podSelector"] == {"matchLabels": pods}, edge
        (source,) = [peer for rule in admitted["ingress"] for peer in rule["from"]]
        assert source == {**monitoring, "podSelector": {"matchLabels": {}}}, "every pod of monitoring"
        assert _ports(admitted, "ingress") == {port}, edge
        leaving = policies[(cluster, "monitoring")][f"{edge}-out"]
        (target,) = [peer for rule in leaving["egress"] for peer in rule["to"]]
        assert target == {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "podSelector": {"matchLabels": pods},
        }, edge
        assert _ports(leaving, "egress") == {port}, edge
    # Nothing else in the mesh's namespaces admits the monitoring namespace.
    for namespace in ("istio-system", "istio-ingress"):
        from_monitoring = {
            name
            for name, spec in policies[(cluster, namespace)].items()
            for rule in spec.get("ingress", [])
            for peer in rule["from"]
            if peer.get("namespaceSelector") == monitoring["namespaceSelector"]
        }
        assert from_monitoring == {f"{e}-in" for e, (ns, _, _) in MESH_METRICS.items() if ns == namespace}


def test_an_existing_cluster_opens_no_mesh_scrape() -> None:
    names = {e.name for e in netpol.edges(Cloud.EXISTING)}
    assert names, "an existing cluster has edges"
    assert not names & set(MESH_METRICS)


def test_istiod_names_the_jwks_host_on_gke(prod: Graph) -> None:
    named = _policies(prod, FQDN_POLICY)[("burst-usc1", "istio-system")]["istiod-to-jwks"]
    assert named["podSelector"] == {"matchLabels": {"app": "istiod"}}
    assert named["egress"] == [
        {"matches": [{"name": "auth.example.com"}], "ports": [{"protocol": "TCP", "port": 443}]}
    ]


def test_only_the_gateway_reaches_the_model_servers(prod: Graph) -> None:
    spec = _policies(prod)[("core-use1", "serving")]["gateway-to-vllm-in"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "vllm"}}
    assert spec["ingress"][0]["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "inference"}},
            "podSelector": {"matchLabels": {"app": "deepseek"}},
        }
    ]
    assert _ports(spec, "ingress") == {8000}


def test_the_gateway_reaches_the_data_stores_in_the_core_subnets_only(prod: Graph) -> None:
    policies = _policies(prod)
    postgres = policies[("core-use1", "inference")]["gateway-to-postgres-out"]
    redis = policies[("core-use1", "inference")]["gateway-to-redis-out"]
    assert _ports(postgres, "egress") == {5432}
    assert _ports(redis, "egress") == {6379, 6378}
    cidrs = _egress_cidrs(postgres)
    assert cidrs and "0.0.0.0/0" not in cidrs
    # Both core clusters' private subnets: the Aurora writer lives in one of the peered VPCs.
    assert len(cidrs) == 6
    # A burst cluster got no data hand-over, so no path to the stores.
    assert "gateway-to-postgres-out" not in policies[("burst-usc1", "inference")]


def test_gke_names_its_public_egress_and_opens_no_address_range(prod: Graph) -> None:
    gke = {k: v for k, v in _policies(prod).items() if k[0] == "burst-usc1"}
    assert gke
    assert not [
        c
        for ns in gke.values()
        for s in ns.values()
        if s.get("egress")
        for c in _egress_cidrs(s)
        if c == "0.0.0.0/0"
    ]
    named = _policies(prod, FQDN_POLICY)
    gateway = named[("burst-usc1", "inference")]["gateway-to-public-apis"]
    assert gateway["podSelector"] == {"matchLabels": {"app": "deepseek"}}
    assert gateway["egress"] == [
        {"matches": [{"name": "api.deepseek.com"}], "ports": [{"protocol": "TCP", "port": 443}]}
    ]
    assert named[("burst-usc1", "serving")]["vllm-to-object-storage"]["egress"][0]["matches"] == [
        {"name": "storage.googleapis.com"}
    ]


def test_eks_gateway_reaches_public_names_only_through_the_egress_waypoint(prod: Graph) -> None:
    policies = _policies(prod)
    inference = policies[("core-use1", "inference")]
    assert "gateway-to-public-apis-out" not in inference
    out = inference["gateway-to-egress-waypoint-out"]
    assert out["podSelector"] == {"matchLabels": {"app": "deepseek"}}
    assert _ports(out, "egress") == {15008}
    waypoint = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-egress"}},
        "podSelector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "waypoint"}},
    }
    assert [peer for rule in out["egress"] for peer in rule["to"]] == [waypoint]
    admitted = policies[("core-use1", "istio-egress")]["gateway-to-egress-waypoint-in"]
    assert admitted["podSelector"] == {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "waypoint"}}
    assert _ports(admitted, "ingress") == {15008}
    leaves = policies[("core-use1", "istio-egress")]["egress-waypoint-to-public-apis-out"]
    assert leaves["podSelector"] == waypoint["podSelector"]
    assert _ports(leaves, "egress") == {443}
    assert _egress_cidrs(leaves) == ["0.0.0.0/0"]


def test_on_eks_only_the_waypoint_istiod_and_monitoring_open_any_address(prod: Graph) -> None:
    policies = _policies(prod)
    anywhere = {
        (key[1], name)
        for key, named in policies.items()
        if key[0] == "core-use1"
        for name, spec in named.items()
        if spec.get("egress") and "0.0.0.0/0" in _egress_cidrs(spec)
    }
    # The gateway's public names leave through the egress waypoint; the model servers reach S3's
    # ranges only; istiod's JWKS fetch (istio-system is outside the mesh, no waypoint carries it) and
    # Alertmanager (SNS) and remote write remain; Secrets Manager is reached through its endpoint.
    assert anywhere == {
        ("istio-egress", "egress-waypoint-to-public-apis-out"),
        ("istio-system", "istiod-to-jwks-out"),
        ("monitoring", "monitoring-to-cloud-apis-out"),
    }


@pytest.mark.parametrize(("cluster", "region"), [("core-use1", "us-east-1"), ("core-usw2", "us-west-2")])
def test_eks_model_servers_reach_the_regions_s3_ranges_only(prod: Graph, cluster: str, region: str) -> None:
    spec = _policies(prod)[(cluster, "serving")]["vllm-to-object-storage-out"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "vllm"}}
    assert _ports(spec, "egress") == {443}
    # What the region's managed prefix list com.amazonaws.<region>.s3 answers (the mocks refuse any
    # other list or region).
    listed = mocks.invoke(
        "aws:ec2/getManagedPrefixList:getManagedPrefixList", {"name": f"com.amazonaws.{region}.s3"}, region
    )
    assert sorted(_egress_cidrs(spec)) == sorted(e["cidr"] for e in listed["entries"])
    assert "0.0.0.0/0" not in _egress_cidrs(spec)


def test_external_secrets_reaches_secrets_manager_only_through_the_vpc_endpoint(prod: Graph) -> None:
    spec = _policies(prod)[("core-use1", "external-secrets")]["external-secrets-to-secret-manager-out"]
    assert _ports(spec, "egress") == {443}
    subnets = [
        s.inputs["cidrBlock"]
        for s in prod.of_type("aws:ec2/subnet:Subnet")
        if s.name.startswith("core-use1") and "private" in s.name
    ]
    assert subnets and sorted(_egress_cidrs(spec)) == sorted(subnets)
    endpoints = [
        e.inputs
        for e in prod.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.inputs["serviceName"] == "com.amazonaws.us-east-1.secretsmanager"
    ]
    assert len(endpoints) == 1
    assert endpoints[0]["privateDnsEnabled"] is True
    assert endpoints[0]["vpcEndpointType"] == "Interface"


def test_settings_egress_hosts_are_named_on_gke(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = stack_variant(
        tmp_path_factory,
        "prod",
        "    admission: enforce\n",
        "    admission: enforce\n    egress:\n      - host: '*.example.org'\n      - host: api.example.net\n        port: 8443\n",
    )
    spec = _policies(graph, FQDN_POLICY)[("burst-usc1", "inference")]["gateway-to-public-apis"]
    assert spec["egress"] == [
        {
            "matches": [{"name": "api.deepseek.com"}, {"pattern": "*.example.org"}],
            "ports": [{"protocol": "TCP", "port": 443}],
        },
        {"matches": [{"name": "api.example.net"}], "ports": [{"protocol": "TCP", "port": 8443}]},
    ]


def test_clusters_enforce_network_policy(prod: Graph) -> None:
    gke = prod.of_type(GKE_CLUSTER)
    assert gke
    for cluster in gke:
        assert cluster.inputs["datapathProvider"] == "ADVANCED_DATAPATH"
        assert cluster.inputs["enableFqdnNetworkPolicy"] is True
    cni = [a for a in prod.of_type(EKS_ADDON) if a.inputs["addonName"] == "vpc-cni"]
    assert len(cni) == 2
    for addon in cni:
        assert '"enableNetworkPolicy": "true"' in addon.inputs["configurationValues"]


def test_the_gateway_reaches_the_masking_services(prod: Graph) -> None:
    """Default-deny egress would otherwise cut the gateway off from its guardrail."""
    spec = _policies(prod)[("core-use1", "inference")]["gateway-to-masking-out"]
    assert spec["podSelector"] == {"matchLabels": {"app": "deepseek"}}
    assert spec["egress"][0]["to"][0]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/component": "pii-masking"}
    }
    assert _ports(spec, "egress") == {3000}


def test_in_the_ambient_mesh_each_in_mesh_edge_is_also_open_on_hbone_and_probes_arrive() -> None:
    """ztunnel carries mesh traffic to port 15008, and ambient SNATs kubelet probes to 169.254.7.127:
    without these a default-deny namespace in the mesh would drop every request and never be ready."""
    for cloud in (Cloud.AWS, Cloud.GCP):
        found = {e.name: e for e in netpol.edges(cloud)}
        for name in ("gateway-to-vllm", "gateway-to-masking"):
            plain, hbone = found[name], found[f"{name}-hbone"]
            assert (hbone.source, hbone.target, hbone.ports) == (
                plain.source,
                plain.target,
                ((15008, "TCP"),),
            )
        assert found["probes-to-vllm"].source.outside is netpol.Outside.MESH_PROBES
        assert netpol.AMBIENT_PROBE_SOURCE == ("169.254.7.127/32",)
    assert not {"gateway-to-vllm-hbone", "probes-to-vllm"} & {e.name for e in netpol.edges(Cloud.EXISTING)}


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_nothing_admits_the_gateway_from_any_source(stack: str, request: pytest.FixtureRequest) -> None:
    # Policies add up: one rule without `from` on the gateway's pods would open its port to every
    # peer and make each declared edge into it moot.
    graph: Graph = request.getfixturevalue(stack)
    rules = [
        rule
        for p in graph.of_type(NETWORK_POLICY)
        if p.inputs["metadata"]["namespace"] == netpol.INFERENCE
        and p.inputs["spec"]["podSelector"].get("matchLabels") in (None, {}, netpol.GATEWAY_PODS)
        for rule in p.inputs["spec"].get("ingress", [])
    ]
    assert rules, f"{stack}: no policy admits anything to the gateway"
    assert all(rule.get("from") for rule in rules)
