"""Named egress on EKS: the gateway's public hosts leave through an Istio egress waypoint, by name."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferstack.engine import Graph, Resource
from infra.catalog import CrdBundle, catalog
from infra.settings import Settings, parse_settings, project_config
from tests.conftest import stack_variant

CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
SERVICE_ENTRY = "kubernetes:networking.istio.io/v1:ServiceEntry"
AUTHORIZATION = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
EKS = ("core-use1", "core-usw2")
EGRESS_VARIANT = (
    "    admission: enforce\n",
    "    admission: enforce\n    egress:\n      - host: '*.example.org'\n      - host: api.example.net\n        port: 8443\n",
)
"""prod with two security.egress hosts: a wildcard and one on another port (as tests/test_netpol.py)."""


def _cluster(graph: Graph, resource: Resource) -> str:
    return graph.by_urn()[resource.provider].name.removesuffix("-k8s")


def _of(graph: Graph, token: str, cluster: str) -> list[Resource]:
    return [r for r in graph.of_type(token) if _cluster(graph, r) == cluster]


def _settings(graph: Graph) -> Settings:
    return parse_settings(project_config(graph.config.values), graph.source)


def _public_hosts_the_gateway_calls(graph: Graph, cluster: str) -> set[tuple[str, int]]:
    """The public https hosts in the cluster's LiteLLM config (its fallbacks), plus security.egress."""
    (config,) = [c for c in _of(graph, CONFIG_MAP, cluster) if c.name == f"{cluster}-gateway-litellm-config"]
    bases = re.findall(r'api_base: *"?(https://[^/"\s]+)', config.inputs["data"]["config.yaml"])
    assert bases, f"{cluster}: the gateway calls no public host"
    hosts = {(b.removeprefix("https://"), 443) for b in bases}
    return hosts | {(h.host, h.port) for h in _settings(graph).security.egress}


def _entries(graph: Graph, cluster: str) -> dict[str, dict[str, Any]]:
    return {e.inputs["spec"]["hosts"][0]: e.inputs for e in _of(graph, SERVICE_ENTRY, cluster)}


@pytest.mark.parametrize("cluster", EKS)
def test_every_public_host_the_gateway_calls_has_a_service_entry_bound_to_the_waypoint(
    prod: Graph, cluster: str
) -> None:
    expected = _public_hosts_the_gateway_calls(prod, cluster)
    entries = _entries(prod, cluster)
    assert {(host, port["number"]) for host, e in entries.items() for port in e["spec"]["ports"]} == expected
    for host, entry in entries.items():
        assert entry["metadata"]["namespace"] == "istio-egress"
        assert entry["metadata"]["labels"]["istio.io/use-waypoint"] == "waypoint"
        spec = entry["spec"]
        assert spec["hosts"] == [host]
        assert spec["location"] == "MESH_EXTERNAL"
        assert spec["resolution"] == "DNS"
        # The application's TLS goes through: no plain HTTP port, no TLS origination.
        assert {p["protocol"] for p in spec["ports"]} == {"TLS"}


def test_settings_egress_hosts_get_service_entries_and_their_ports_leave_the_waypoint(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    graph = stack_variant(tmp_path_factory, "prod", *EGRESS_VARIANT)
    entries = _entries(graph, "core-use1")
    assert {(host, port["number"]) for host, e in entries.items() for port in e["spec"]["ports"]} == (
        _public_hosts_the_gateway_calls(graph, "core-use1")
    )
    wildcard = entries["*.example.org"]
    assert wildcard["metadata"]["name"] == "wildcard.example.org"
    assert wildcard["spec"]["resolution"] == "DYNAMIC_DNS"
    assert entries["api.example.net"]["spec"]["ports"] == [
        {"number": 8443, "name": "tls-8443", "protocol": "TLS"}
    ]
    (leaves,) = [
        p.inputs["spec"]
        for p in _of(graph, NETWORK_POLICY, "core-use1")
        if p.inputs["metadata"]["name"] == "egress-waypoint-to-public-apis-out"
    ]
    assert {port["port"] for rule in leaves["egress"] for port in rule["ports"]} == {443, 8443}


@pytest.mark.parametrize("cluster", EKS)
def test_the_waypoint_is_an_istio_waypoint_gateway_created_after_the_gateway_api_crds(
    prod: Graph, cluster: str
) -> None:
    (waypoint,) = _of(prod, GATEWAY, cluster)
    assert waypoint.inputs["metadata"]["namespace"] == "istio-egress"
    assert waypoint.inputs["metadata"]["name"] == "waypoint"
    assert waypoint.inputs["spec"] == {
        "gatewayClassName": "istio-waypoint",
        "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}],
        "infrastructure": {"parametersRef": {"group": "", "kind": "ConfigMap", "name": "waypoint-options"}},
    }
    crds = _of(prod, CRD, cluster)
    bundle = catalog().crd_bundles["gateway-api"]
    assert sorted(c.inputs["metadata"]["name"] for c in crds) == sorted(
        d["metadata"]["name"] for d in bundle.documents()
    )
    assert "gateways.gateway.networking.k8s.io" in {c.inputs["metadata"]["name"] for c in crds}
    assert {c.urn for c in crds} <= set(waypoint.dependencies)
    istiod = [r for r in prod.resources if r.name == f"{cluster}-mesh-istiod"]
    assert len(istiod) == 1 and istiod[0].urn in waypoint.dependencies
    for crd in crds:
        annotations = crd.inputs["metadata"]["annotations"]
        assert annotations["gateway.networking.k8s.io/bundle-version"] == bundle.version
        assert annotations["gateway.networking.k8s.io/channel"] == "standard"
        assert "status" not in crd.inputs


@pytest.mark.parametrize("cluster", EKS)
def test_the_waypoint_runs_two_pods_over_zones_that_a_drain_cannot_both_stop(
    prod: Graph, cluster: str
) -> None:
    """istiod renders the waypoint from its template, overlaid with the ConfigMap the Gateway names
    (in the Gateway's namespace; the PodDisruptionBudget exists only when its key is given)."""
    (waypoint,) = _of(prod, GATEWAY, cluster)
    name = waypoint.inputs["spec"]["infrastructure"]["parametersRef"]["name"]
    (options,) = [
        c for c in _of(prod, "kubernetes:core/v1:ConfigMap", cluster) if c.inputs["metadata"]["name"] == name
    ]
    assert options.inputs["metadata"]["namespace"] == waypoint.inputs["metadata"]["namespace"]
    assert options.urn in waypoint.dependencies, "istiod refuses a waypoint whose options are missing"
    assert set(options.inputs["data"]) <= {
        "deployment",
        "service",
        "serviceAccount",
        "horizontalPodAutoscaler",
        "podDisruptionBudget",
    }
    deployment = yaml.safe_load(options.inputs["data"]["deployment"])["spec"]
    budget = yaml.safe_load(options.inputs["data"]["podDisruptionBudget"])["spec"]
    assert deployment["replicas"] == 2 and budget == {"minAvailable": 1}
    (spread,) = deployment["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert spread["labelSelector"] == {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "waypoint"}}


@pytest.mark.parametrize("cluster", EKS)
def test_only_the_gateways_identity_may_use_the_waypoint(prod: Graph, cluster: str) -> None:
    (policy,) = [
        p for p in _of(prod, AUTHORIZATION, cluster) if p.inputs["metadata"]["namespace"] == "istio-egress"
    ]
    assert policy.inputs["spec"] == {
        "targetRefs": [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "waypoint"}],
        "action": "ALLOW",
        "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/inference/sa/deepseek-gateway"]}}]}],
    }


def test_the_egress_namespace_is_in_the_ambient_mesh(prod: Graph) -> None:
    namespaces = [
        n
        for n in prod.of_type("kubernetes:core/v1:Namespace")
        if n.inputs["metadata"]["name"] == "istio-egress"
    ]
    assert sorted(_cluster(prod, n) for n in namespaces) == list(EKS)
    for namespace in namespaces:
        assert namespace.inputs["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient"


def test_the_egress_waypoint_meets_restricted_pod_security(prod: Graph) -> None:
    """istio-egress enforces restricted; istiod's waypoint template sets the seccomp profile restricted
    requires only from the istiod chart's gateways.seccompProfile (istio-discovery 1.30.3)."""
    namespaces = [
        n
        for n in prod.of_type("kubernetes:core/v1:Namespace")
        if n.inputs["metadata"]["name"] == "istio-egress"
    ]
    assert namespaces
    for namespace in namespaces:
        assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        cluster = _cluster(prod, namespace)
        (istiod,) = [
            r for r in _of(prod, "kubernetes:helm.sh/v3:Release", cluster) if r.inputs["name"] == "istiod"
        ]
        assert istiod.inputs["values"]["gateways"]["seccompProfile"] == {"type": "RuntimeDefault"}, cluster


def test_gke_names_its_hosts_in_policy_and_gets_no_waypoint(prod: Graph) -> None:
    assert _of(prod, GATEWAY, "burst-usc1") == []
    assert _of(prod, SERVICE_ENTRY, "burst-usc1") == []
    assert _of(prod, CRD, "burst-usc1") == []


def _bundle(tmp_path: Path, documents: list[dict[str, Any]], **row: Any) -> CrdBundle:
    path = tmp_path / "bundle.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return CrdBundle.model_validate(
        {
            "version": "v1.5.1",
            "channel": "standard",
            "file": str(path),
            "sha256": digest,
            "clouds": ["aws"],
            "requiredBy": "Istio",
            "source": "upstream",
            **row,
        }
    )


def _crd(
    version: str = "v1.5.1", channel: str = "standard", kind: str = "CustomResourceDefinition"
) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {
            "name": "gateways.gateway.networking.k8s.io",
            "annotations": {
                "gateway.networking.k8s.io/bundle-version": version,
                "gateway.networking.k8s.io/channel": channel,
            },
        },
        "spec": {},
    }


def test_a_crd_bundle_row_holds_only_the_file_it_names(tmp_path: Path) -> None:
    assert len(_bundle(tmp_path, [_crd()]).documents()) == 1
    with pytest.raises(ValueError, match="sha256"):
        _bundle(tmp_path, [_crd()], sha256="0" * 64)
    with pytest.raises(ValueError, match=r"is not v1\.5\.1 standard"):
        _bundle(tmp_path, [_crd(version="v1.4.0")])
    with pytest.raises(ValueError, match=r"is not v1\.5\.1 standard"):
        _bundle(tmp_path, [_crd(channel="experimental")])
    with pytest.raises(ValueError, match="is not a CRD"):
        _bundle(tmp_path, [_crd(kind="ValidatingAdmissionPolicy")])
    with pytest.raises(ValueError, match="exact version"):
        _bundle(tmp_path, [_crd()], version="v1.5")
