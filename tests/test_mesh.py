"""The mesh on the planned graphs: Istio ambient on every EKS and GKE cluster, mTLS STRICT where the
stack says so, the edge entering through the mesh's ingress, and a JWT required on every route but
readiness."""

from __future__ import annotations

import itertools

import pytest

from inferstack.engine import Graph, Resource
from infra.catalog import catalog
from infra.k8s import MESH_ADDONS
from tests.conftest import planned, stack_variant

RELEASE = "kubernetes:helm.sh/v3:Release"
PEER = "kubernetes:security.istio.io/v1:PeerAuthentication"
REQUEST_AUTHN = "kubernetes:security.istio.io/v1:RequestAuthentication"
AUTHZ = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
MESH_CLUSTERS = {"dev": ["core-use1", "burst-usc1"], "prod": ["core-use1", "core-usw2", "burst-usc1"]}
GKE = {"burst-usc1"}


def _mesh_releases(graph: Graph, cluster: str) -> dict[str, Resource]:
    return {r.inputs["name"]: r for r in graph.of_type(RELEASE) if r.name.startswith(f"{cluster}-mesh-")}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_eks_and_gke_cluster_runs_istio_ambient_pinned_in_order(stack: str) -> None:
    graph = planned(stack)
    index = graph.by_urn()
    clusters = sorted({r.name.split("-mesh-")[0] for r in graph.of_type(RELEASE) if "-mesh-" in r.name})
    assert clusters == sorted(MESH_CLUSTERS[stack])
    for cluster in clusters:
        found = _mesh_releases(graph, cluster)
        # The GKE burst cluster the core gateways fall back to has the peer entrance besides (test_peer.py).
        peer = found.pop("istio-peer", None)
        assert (peer is not None) == (cluster in GKE), cluster
        if peer is not None:
            # The ingress's chart and pins, released a second time; it waits for the ingress.
            ingress = found["istio-ingress"].inputs
            assert {k: peer.inputs[k] for k in ("chart", "version", "repositoryOpts", "namespace")} == {
                k: ingress[k] for k in ("chart", "version", "repositoryOpts", "namespace")
            }
            assert peer.inputs["values"]["global"] == ingress["values"]["global"]
            assert found["istio-ingress"].name in {index[u].name for u in peer.dependencies}
        assert set(found) == set(MESH_ADDONS), (cluster, found)
        for name, release in found.items():
            addon = catalog().addons[name]
            inputs = release.inputs
            assert inputs["chart"] == addon.chart and inputs["version"] == "1.30.3"
            assert inputs["repositoryOpts"]["repo"] == "https://istio-release.storage.googleapis.com/charts"
            expected_ns = "istio-ingress" if name == "istio-ingress" else "istio-system"
            assert inputs["namespace"] == expected_ns, name
            # The charts' source defaults are a testing hub and "latest": the program pins both.
            assert inputs["values"]["global"]["hub"] == "docker.io/istio"
            assert inputs["values"]["global"]["tag"] == "1.30.3"
            if name not in ("istio-base", "istio-ingress"):
                assert inputs["values"]["profile"] == "ambient", name
            if cluster in GKE:
                assert inputs["values"]["global"]["platform"] == "gke", name
            else:
                assert "platform" not in inputs["values"]["global"], name
        for name in ("ztunnel", "istio-cni"):
            assert found[name].inputs["values"]["hub"] == "docker.io/istio"
            assert found[name].inputs["values"]["tag"] == "1.30.3"
        # base -> istiod -> cni -> ztunnel -> ingress: each release waits for the one before.
        for before, after in itertools.pairwise(MESH_ADDONS):
            waits_for = {index[u].name for u in found[after].dependencies}
            assert found[before].name in waits_for, (cluster, after, before)


def test_an_existing_cluster_gets_no_mesh_and_its_eks_neighbour_does(onprem: Graph) -> None:
    meshed = {r.name.split("-mesh-")[0] for r in onprem.of_type(RELEASE) if "-mesh-" in r.name}
    assert meshed == {"burst-use2"}, "onprem-core is reached by kubeconfig: its owners run its mesh"
    assert {k[0] for k in _modes(onprem)} == {"burst-use2"}
    labelled = {
        n.name
        for n in onprem.of_type(NAMESPACE)
        if "istio.io/dataplane-mode" in (n.inputs["metadata"].get("labels") or {})
    }
    assert labelled and not any(name.startswith("onprem-core") for name in labelled)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_serving_namespaces_join_the_ambient_mesh(stack: str) -> None:
    graph = planned(stack)
    namespaces = [
        n for n in graph.of_type(NAMESPACE) if n.inputs["metadata"]["name"] in ("inference", "serving")
    ]
    assert {n.inputs["metadata"]["name"] for n in namespaces} == {"inference", "serving"}
    for namespace in namespaces:
        assert namespace.inputs["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient", namespace.name


def _modes(graph: Graph) -> dict[tuple[str, str], str]:
    """(cluster, namespace) -> the PeerAuthentication's mode."""
    return {
        (p.name.split("-mesh-")[0], p.inputs["metadata"]["namespace"]): p.inputs["spec"]["mtls"]["mode"]
        for p in graph.of_type(PEER)
    }


def test_prod_serving_namespaces_and_the_mesh_default_are_strict(prod: Graph) -> None:
    modes = _modes(prod)
    expected = {
        (cluster, namespace)
        for cluster in MESH_CLUSTERS["prod"]
        for namespace in ("istio-system", "inference", "serving")
    }
    assert expected <= set(modes)
    assert {modes[key] for key in expected} == {"STRICT"}


def test_only_eks_monitoring_takes_plain_text_from_outside_the_mesh(prod: Graph) -> None:
    """KEDA (outside the mesh) queries Prometheus and the API server calls the operator's webhook:
    EKS's monitoring namespace is PERMISSIVE, and nothing else is; GKE's collector takes no
    inbound but the kubelet's probes, so its namespace keeps the STRICT default."""
    eks = {name for name, c in prod.outputs["clusters"].items() if c["cloud"] == "aws"}
    assert eks
    relaxed = {key for key, mode in _modes(prod).items() if mode != "STRICT"}
    assert relaxed == {(cluster, "monitoring") for cluster in eks}
    assert {_modes(prod)[key] for key in relaxed} == {"PERMISSIVE"}


def test_dev_is_permissive_because_its_stack_says_so(
    dev: Graph, tmp_path_factory: pytest.TempPathFactory
) -> None:
    assert set(_modes(dev).values()) == {"PERMISSIVE"}
    strict = stack_variant(tmp_path_factory, "dev", "    mtls: permissive\n", "    mtls: strict\n")
    modes = {key: mode for key, mode in _modes(strict).items() if key[1] != "monitoring"}
    assert modes and set(modes.values()) == {"STRICT"}


def test_every_request_but_readiness_needs_a_token_at_the_ingress(prod: Graph) -> None:
    authn = prod.of_type(REQUEST_AUTHN)
    assert sorted(a.name.split("-mesh-")[0] for a in authn) == sorted(MESH_CLUSTERS["prod"])
    for resource in authn:
        assert resource.inputs["metadata"]["namespace"] == "istio-ingress"
        spec = resource.inputs["spec"]
        assert spec["selector"] == {"matchLabels": {"istio": "ingress"}}
        assert spec["jwtRules"] == [
            {
                "issuer": "https://auth.example.com/",
                "audiences": ["inferstack"],
                "jwksUri": "https://auth.example.com/.well-known/jwks.json",
            }
        ]
    required = [p for p in prod.of_type(AUTHZ) if p.inputs["metadata"]["name"] == "require-jwt"]
    assert len(required) == len(MESH_CLUSTERS["prod"])
    for policy in required:
        spec = policy.inputs["spec"]
        assert policy.inputs["metadata"]["namespace"] == "istio-ingress"
        assert spec["selector"] == {"matchLabels": {"istio": "ingress"}}
        # ALLOW: what matches no rule is denied. A principal, or exactly GET /health/readiness.
        assert spec["action"] == "ALLOW"
        assert spec["rules"] == [
            {"from": [{"source": {"requestPrincipals": ["*"]}}]},
            {"to": [{"operation": {"methods": ["GET"], "paths": ["/health/readiness"]}}]},
        ]


def test_without_a_jwt_setting_no_token_policy_is_built(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = stack_variant(
        tmp_path_factory,
        "dev",
        "    jwt:\n      issuer: https://auth.example.com/\n      audiences: [inferstack-dev]\n"
        "      jwksUri: https://auth.example.com/.well-known/jwks.json\n",
        "",
    )
    assert graph.of_type(PEER)
    assert not graph.of_type(REQUEST_AUTHN)
    assert not [p for p in graph.of_type(AUTHZ) if p.inputs["metadata"]["name"] == "require-jwt"]


def test_litellm_admits_only_the_ingress_and_the_scrapers(prod: Graph) -> None:
    policies = [p for p in prod.of_type(AUTHZ) if p.inputs["metadata"]["name"] == "litellm-from-ingress"]
    assert len(policies) == len(MESH_CLUSTERS["prod"])
    for policy in policies:
        assert policy.inputs["metadata"]["namespace"] == "inference"
        spec = policy.inputs["spec"]
        assert spec["selector"] == {"matchLabels": {"app": "deepseek"}}
        assert spec["action"] == "ALLOW"
        # The peer entrance's identity only where there is one: the GKE burst cluster.
        peer = (
            ["cluster.local/ns/istio-ingress/sa/istio-peer"] if policy.name.startswith("burst-usc1") else []
        )
        assert spec["rules"] == [
            {
                "from": [
                    {"source": {"principals": ["cluster.local/ns/istio-ingress/sa/istio-ingress", *peer]}}
                ]
            },
            # Prometheus in the mesh (EKS's, GKE's collector); never GKE's managed collectors.
            {"from": [{"source": {"namespaces": ["monitoring"]}}]},
        ]


def test_the_gateway_pods_admit_ztunnels_hbone_port_from_the_mesh_ingress(prod: Graph) -> None:
    # In the mesh ztunnel delivers the ingress's requests on 15008, not on LiteLLM's port: the
    # ingress half of the edge must admit it, from the ingress pods only.
    policies = [
        p
        for p in prod.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if p.inputs["metadata"]["name"] == "ingress-to-gateway-in"
    ]
    assert len(policies) == 3, "one per prod gateway cluster"
    for policy in policies:
        (rule,) = policy.inputs["spec"]["ingress"]
        assert {p["port"] for p in rule["ports"]} == {4000, 15008}
        assert rule["from"] == [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-ingress"}},
                "podSelector": {"matchLabels": {"istio": "ingress"}},
            }
        ]
