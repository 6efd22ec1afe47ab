"""The peer entrance: how a core gateway's fallback reaches a GKE burst cluster past the user JWT.

Every shipped stack sets ``security.jwt``. The burst cluster's ingress reads the ``Authorization``
header as a JWT, so the master key a core gateway sends there is refused. The burst cluster gets a
second ingress instead, behind ``peer.<domain>``: Cloud Armor admits only the calling gateways' NAT
addresses, no JWT is asked for, and LiteLLM checks the master key (docs/mesh.md).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from inferstack.engine import Graph, Resource
from inferstack.mocks import RESOURCE_OUTPUTS
from infra.gcp.edge import MAX_SOURCE_RANGES, GcpEdgeArgs, peer_chunks
from infra.settings import parse_settings
from tests.conftest import planned
from tests.test_settings import SOURCE, broken, raw

ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"
BACKEND = "gcp:compute/backendService:BackendService"
RELEASE = "kubernetes:helm.sh/v3:Release"
AUTHZ = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
REQUEST_AUTHN = "kubernetes:security.istio.io/v1:RequestAuthentication"
DEFAULT_PRIORITY = 2147483647


def _one(graph: Graph, token: str, name: str) -> Resource:
    found = [r for r in graph.of_type(token) if r.name == name]
    assert len(found) == 1, (token, name, [r.name for r in graph.of_type(token)])
    return found[0]


def _nat_addresses(graph: Graph, cluster: str) -> list[str]:
    """The public addresses the mock engine gave the cluster network's NAT gateways' Elastic IPs."""
    eips = [
        r for r in graph.of_type("aws:ec2/eip:Eip") if r.name.startswith(f"{cluster}-") and "-nat-" in r.name
    ]
    assert eips, cluster
    make = RESOURCE_OUTPUTS["aws:ec2/eip:Eip"]
    return [make(r.name, r.inputs, "")["publicIp"] for r in eips]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_only_the_calling_gateways_nat_addresses_reach_the_peer_entrance(stack: str) -> None:
    graph = planned(stack)
    armor = _one(graph, ARMOR, "edge-armor-peers")
    rules = armor.inputs["rules"]
    default = [r for r in rules if r["priority"] == DEFAULT_PRIORITY]
    assert len(default) == 1 and default[0]["action"] == "deny(403)"
    assert default[0]["match"]["config"]["srcIpRanges"] == ["*"]
    allowed = [cidr for r in rules if r["action"] == "allow" for cidr in r["match"]["config"]["srcIpRanges"]]
    callers = [
        c for c in ("core-use1", "core-usw2") if any(r.name.startswith(f"{c}-") for r in graph.resources)
    ]
    expected = sorted(f"{a}/32" for c in callers for a in _nat_addresses(graph, c))
    assert sorted(allowed) == expected
    assert all(len(r["match"]["config"]["srcIpRanges"]) <= MAX_SOURCE_RANGES for r in rules)
    # The peer backend carries that policy; the users' backend keeps its own (rate ban, WAF).
    peers = _one(graph, BACKEND, "edge-peers")
    users = _one(graph, BACKEND, "edge-gateways")
    assert peers.inputs["securityPolicy"] != users.inputs["securityPolicy"]
    assert peers.inputs["healthChecks"] == users.inputs["healthChecks"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_peer_name_routes_to_the_peer_negs_and_resolves_to_the_gcp_load_balancer(stack: str) -> None:
    graph = planned(stack)
    domain = "api.inference.example.com" if stack == "prod" else None
    url_map = _one(graph, "gcp:compute/uRLMap:URLMap", "edge-https")
    (rule,) = url_map.inputs["hostRules"]
    (host,) = rule["hosts"]
    assert host.startswith("peer.")
    domain = domain or host.removeprefix("peer.")
    assert host == f"peer.{domain}"
    (matcher,) = url_map.inputs["pathMatchers"]
    assert matcher["name"] == rule["pathMatcher"]
    assert matcher["defaultService"] != url_map.inputs["defaultService"]
    groups = [b["group"] for b in _one(graph, BACKEND, "edge-peers").inputs["backends"]]
    assert groups and all(
        g.endswith(f"/networkEndpointGroups/inferstack-{stack}-burst-usc1-peer") for g in groups
    )
    release = _one(graph, RELEASE, "burst-usc1-mesh-istio-peer")
    annotation = yaml.safe_load(release.inputs["values"]["service"]["annotations"]["cloud.google.com/neg"])
    assert annotation == {"exposed_ports": {"8080": {"name": f"inferstack-{stack}-burst-usc1-peer"}}}
    record = _one(graph, "aws:route53/record:Record", "edge-peer")
    assert record.inputs["name"] == host and record.inputs["type"] == "A"
    gcp_origin = [
        r
        for r in graph.of_type("aws:route53/record:Record")
        if r.inputs.get("name") == f"gcp.{domain}" and r.inputs.get("type") == "A"
    ]
    assert gcp_origin and record.inputs["records"] == gcp_origin[0].inputs["records"]


def test_the_core_gateways_fall_back_through_the_peer_name() -> None:
    graph = planned("prod")
    configs = {
        r.name: yaml.safe_load(r.inputs["data"]["config.yaml"])
        for r in graph.of_type("kubernetes:core/v1:ConfigMap")
        if r.name.endswith("-gateway-litellm-config")
    }
    assert set(configs) >= {"core-use1-gateway-litellm-config", "core-usw2-gateway-litellm-config"}
    for name in ("core-use1-gateway-litellm-config", "core-usw2-gateway-litellm-config"):
        bases = {m["model_name"]: m["litellm_params"]["api_base"] for m in configs[name]["model_list"]}
        assert bases["DeepSeek-R1@burst-usc1"] == "https://peer.api.inference.example.com/v1"
    # The burst gateway has no other GCP cluster to call: its chain goes to the public API.
    burst = configs["burst-usc1-gateway-litellm-config"]
    assert not [m for m in burst["model_list"] if m["model_name"].startswith("DeepSeek-R1@burst")]


def test_the_user_jwt_never_selects_the_peer_entrance_and_the_peer_passes_only_the_api() -> None:
    graph = planned("prod")
    for authn in graph.of_type(REQUEST_AUTHN):
        assert authn.inputs["spec"]["selector"] == {"matchLabels": {"istio": "ingress"}}
    required = [p for p in graph.of_type(AUTHZ) if p.inputs["metadata"]["name"] == "require-jwt"]
    assert required
    assert all(p.inputs["spec"]["selector"] == {"matchLabels": {"istio": "ingress"}} for p in required)
    (paths,) = [p for p in graph.of_type(AUTHZ) if p.inputs["metadata"]["name"] == "peer-paths"]
    assert paths.name.startswith("burst-usc1-")
    spec = paths.inputs["spec"]
    assert spec["selector"] == {"matchLabels": {"istio": "peer"}} and spec["action"] == "ALLOW"
    assert spec["rules"] == [
        {"to": [{"operation": {"paths": ["/v1/*"]}}]},
        {"to": [{"operation": {"methods": ["GET"], "paths": ["/health/readiness"]}}]},
    ]
    # Only the GKE burst cluster has a peer entrance; the core clusters are called by nobody.
    peers = [r.name for r in graph.of_type(RELEASE) if r.inputs["name"] == "istio-peer"]
    assert peers == ["burst-usc1-mesh-istio-peer"]


def test_an_onprem_stack_without_callers_builds_no_peer_entrance() -> None:
    graph = planned("onprem")
    assert not [r for r in graph.of_type(RELEASE) if r.inputs["name"] == "istio-peer"]
    assert not [r for r in graph.of_type(ARMOR) if r.name.endswith("peers")]


# --- settings ----------------------------------------------------------------------------------


def test_a_fallback_to_an_aws_cluster_behind_the_jwt_is_refused() -> None:
    def change(values: dict[str, Any]) -> None:
        values["gateway"] = {"fallbacks": ["core-usw2", "burst-usc1"]}

    line = broken("prod", change)
    assert "inferstack:gateway.fallbacks" in line
    assert "'core-usw2' on aws" in line and "security.jwt" in line and "GCP clusters" in line


def test_the_default_chain_to_an_aws_burst_cluster_behind_the_jwt_is_refused() -> None:
    def change(values: dict[str, Any]) -> None:
        # The second AWS cluster turned burst: by default the other core gateway falls back to it.
        values["clusters"][1].update(name="burst-usw2", role="burst")
        values["database"].pop("secondaryRegions")

    line = broken("prod", change)
    assert "inferstack:gateway.fallbacks" in line and "by default, the burst clusters" in line
    assert "'burst-usw2' on aws" in line


def test_a_gcp_gateway_never_falls_back_to_a_gcp_cluster() -> None:
    values = copy.deepcopy(raw("prod"))
    second = copy.deepcopy(values["clusters"][2])
    second.update(name="burst-use4", region="us-east4")
    second.pop("cidr", None)
    values["clusters"].append(second)
    settings = parse_settings(values, SOURCE, frozenset())
    by_name = {c.name: c for c in settings.clusters}
    assert [c.name for c in settings.fallback_clusters(by_name["core-use1"])] == ["burst-usc1", "burst-use4"]
    assert settings.fallback_clusters(by_name["burst-usc1"]) == []
    assert [c.name for c in settings.peer_clusters()] == ["burst-usc1", "burst-use4"]
    assert [c.name for c in settings.peer_callers()] == ["core-use1", "core-usw2"]


# --- the component's own checks ----------------------------------------------------------------


def _edge(**changes: Any) -> GcpEdgeArgs:
    base: dict[str, Any] = {
        "domain": "api.example.com",
        "health_check_path": "/health/readiness",
        "health_check_interval_seconds": 30,
        "peer_host": "peer.api.example.com",
        "peer_sources": ["198.51.100.7"],
    }
    return GcpEdgeArgs(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"peer_host": "peer.other.example.com"}, "one label below"),
        ({"peer_host": "a.peer.api.example.com"}, "one label below"),
        ({"peer_host": ".api.example.com"}, "one label below"),
        ({"peer_host": "pe_er.api.example.com"}, "one label below"),
        ({"peer_sources": []}, "peer_sources is empty"),
    ],
)
def test_the_gcp_edge_refuses_a_peer_name_its_certificate_does_not_cover_or_nobody_may_call(
    changes: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        _edge(**changes)


def test_a_peer_name_one_label_below_the_domain_is_taken() -> None:
    assert _edge(peer_host="peer-1.api.example.com").peer_host == "peer-1.api.example.com"
    assert _edge(peer_host=None, peer_sources=[]).peer_host is None


def test_cloud_armor_rules_hold_at_most_ten_addresses_each_in_order() -> None:
    sources = [f"198.51.100.{i}" for i in range(23)]
    chunks = peer_chunks(sources)
    assert [len(c) for c in chunks] == [10, 10, 3]
    assert [a for c in chunks for a in c] == sources
