"""The edge end to end: the public name, its readiness checks and failover, planned through the engine.

Stacks are the shipped ones, plus variants of prod written to a temporary stack file (Global
Accelerator entry, latency and weighted routing). Assertions go by resource type, logical name
and inputs, as the engine would be told them.
"""

from __future__ import annotations

from typing import Any

import pytest

from inferstack.engine import Graph, Resource
from infra.aws.edge import AwsEdgeArgs, GlobalAcceleratorArgs, Origin, Routing, Tier
from infra.aws.zone import PublicZoneArgs
from infra.catalog import catalog
from infra.edge import zone_name
from infra.gcp.edge import GcpEdgeArgs
from tests.conftest import children_of, planned, stack_variant

HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"
ZONE = "aws:route53/zone:Zone"
PROD_DOMAIN = "api.inference.example.com"
DEV_DOMAIN = "api.dev.inference.example.com"
ROUTING_POLICIES = ("failoverRoutingPolicies", "latencyRoutingPolicies", "weightedRoutingPolicies")


def prod_variant(tmp_path_factory: pytest.TempPathFactory, old: str, new: str) -> Graph:
    """prod with one line of its edge settings changed, planned from a temporary stack file."""
    return stack_variant(tmp_path_factory, "prod", old, new)


@pytest.fixture(scope="module")
def ga(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    return prod_variant(tmp_path_factory, "awsEntry: route53", "awsEntry: global-accelerator")


def edge_children(graph: Graph) -> list[Resource]:
    return [k for c in graph.resources if c.type.endswith(":GlobalEdge") for k in children_of(graph, c)]


def by_name(graph: Graph, token: str, name: str) -> Resource:
    found = [r for r in graph.of_type(token) if r.name == name]
    assert len(found) == 1, f"{token} {name}: {len(found)} found"
    return found[0]


def routing_records(graph: Graph) -> list[Resource]:
    return [r for r in graph.of_type(RECORD) if any(r.inputs.get(p) for p in ROUTING_POLICIES)]


def records_named(graph: Graph, name: str) -> list[Resource]:
    return [r for r in graph.of_type(RECORD) if r.inputs["name"] == name]


def failover(graph: Graph, domain: str, role: str) -> Resource:
    found = [
        r
        for r in records_named(graph, domain)
        if (r.inputs.get("failoverRoutingPolicies") or [{}])[0].get("type") == role
    ]
    assert len(found) == 1, f"{role} records for {domain}: {len(found)}"
    return found[0]


def resolved_targets(graph: Graph, record: Resource) -> set[str]:
    """Where a routing record finally sends clients: its CNAME targets, following aliases into record sets."""
    aliases: list[dict[str, Any]] = record.inputs.get("aliases") or []
    if not aliases:
        return set(record.inputs["records"])
    out: set[str] = set()
    for alias in aliases:
        members = records_named(graph, alias["name"])
        assert members, f"alias {record.name} points at {alias['name']}, which holds no record"
        for member in members:
            out |= resolved_targets(graph, member)
    return out


def health_check_of(graph: Graph, record: Resource) -> Resource:
    """The health check resource a record references (by dependency: ids are the provider's)."""
    checks = [r for r in graph.of_type(HEALTH_CHECK) if r.urn in record.dependencies]
    assert len(checks) == 1, f"{record.name}: {len(checks)} health checks among its dependencies"
    return checks[0]


# --- readiness checks ------------------------------------------------------------------------


def test_prod_health_checks_probe_gateway_readiness_from_three_regions() -> None:
    checks = planned("prod").of_type(HEALTH_CHECK)
    assert len(checks) == 3  # core-use1, core-usw2, and the GCP load balancer carrying burst-usc1
    for check in checks:
        i = check.inputs
        assert i["type"] == "HTTPS" and i["port"] == 443, check.name
        assert i["resourcePath"] == "/health/readiness", check.name
        assert i["requestInterval"] == 30 and i["failureThreshold"] == 3, check.name
        assert len(set(i["regions"])) >= 3, check.name
        assert i["enableSni"] is True and i["measureLatency"] is True, check.name


def test_every_serving_cluster_has_a_health_check_output() -> None:
    for stack, domain in (("prod", PROD_DOMAIN), ("dev", DEV_DOMAIN)):
        graph = planned(stack)
        assert graph.outputs["publicName"] == domain
        ids = graph.outputs["healthCheckIds"]
        serving = set(graph.outputs["clusters"])
        assert set(ids) == serving, stack
        assert all(isinstance(v, str) and v for v in ids.values()), stack


def test_aws_origins_are_checked_on_their_regional_name_and_gcp_on_its_address() -> None:
    graph = planned("prod")
    for cluster in ("core-use1", "core-usw2"):
        check = by_name(graph, HEALTH_CHECK, f"edge-{cluster}-health")
        assert check.inputs["fqdn"] == f"{cluster}.{PROD_DOMAIN}"
        assert "ipAddress" not in check.inputs
    gcp = by_name(graph, HEALTH_CHECK, "edge-gcp-health")
    address = graph.of_type("gcp:compute/globalAddress:GlobalAddress")[0]
    assert gcp.inputs["fqdn"] == PROD_DOMAIN  # the Host and SNI clients send
    assert address.urn in gcp.dependencies and gcp.inputs["ipAddress"]


# --- records on the public name --------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_routing_record_carries_a_health_check_or_evaluates_its_target(stack: str) -> None:
    graph = planned(stack)
    records = routing_records(graph)
    assert records
    for record in records:
        aliases = record.inputs.get("aliases") or []
        if record.inputs.get("healthCheckId"):
            health_check_of(graph, record)
        else:
            assert aliases and all(a["evaluateTargetHealth"] is True for a in aliases), record.name
            for alias in aliases:
                for member in records_named(graph, alias["name"]):
                    assert member.inputs.get("healthCheckId"), f"{member.name} behind {record.name}"


def test_prod_fails_over_from_the_aws_core_to_the_gcp_burst() -> None:
    graph = planned("prod")
    primary = failover(graph, PROD_DOMAIN, "PRIMARY")
    secondary = failover(graph, PROD_DOMAIN, "SECONDARY")
    assert resolved_targets(graph, primary) == {f"core-use1.{PROD_DOMAIN}", f"core-usw2.{PROD_DOMAIN}"}
    assert resolved_targets(graph, secondary) == {f"gcp.{PROD_DOMAIN}"}
    gcp_address = by_name(graph, RECORD, "edge-gcp-address")
    assert gcp_address.inputs["name"] == f"gcp.{PROD_DOMAIN}" and gcp_address.inputs["type"] == "A"
    # The two core regions are a latency set: clients go to the nearer ready region.
    core_set = records_named(graph, f"core.{PROD_DOMAIN}")
    assert {r.inputs["latencyRoutingPolicies"][0]["region"] for r in core_set} == {"us-east-1", "us-west-2"}


def test_dev_stays_small_and_still_fails_over_to_burst() -> None:
    graph = planned("dev")
    primary = failover(graph, DEV_DOMAIN, "PRIMARY")
    secondary = failover(graph, DEV_DOMAIN, "SECONDARY")
    assert primary.inputs["records"] == [f"core-use1.{DEV_DOMAIN}"]
    assert secondary.inputs["records"] == [f"gcp.{DEV_DOMAIN}"]
    assert health_check_of(graph, primary).inputs["fqdn"] == f"core-use1.{DEV_DOMAIN}"
    assert len(graph.of_type(HEALTH_CHECK)) == 2
    assert not records_named(graph, f"core.{DEV_DOMAIN}")
    assert not graph.of_type("aws:globalaccelerator/accelerator:Accelerator")


def test_one_record_type_per_name() -> None:
    graph = planned("prod")
    names: dict[str, set[str]] = {}
    for record in graph.of_type(RECORD):
        if isinstance(record.inputs["name"], str) and not record.inputs["name"].startswith("["):
            names.setdefault(record.inputs["name"], set()).add(record.inputs["type"])
    assert all(len(types) == 1 for types in names.values()), names


def test_hosted_zone_is_protected_in_prod_only() -> None:
    (prod_zone,) = planned("prod").of_type(ZONE)
    (dev_zone,) = planned("dev").of_type(ZONE)
    assert prod_zone.inputs["name"] == "inference.example.com" and prod_zone.protect
    assert not dev_zone.protect


def test_onprem_stack_has_no_edge() -> None:
    graph = planned("onprem")
    assert not edge_children(graph)
    assert "publicName" not in graph.outputs


# --- certificates ------------------------------------------------------------------------------


def test_acm_certificates_are_validated_by_dns_in_every_aws_serving_region() -> None:
    graph = planned("prod")
    certificates = graph.of_type("aws:acm/certificate:Certificate")
    assert {graph.region_of(c) for c in certificates} == {"us-east-1", "us-west-2"}
    validation_record = by_name(graph, RECORD, "edge-cert-validation")
    assert validation_record.inputs["type"] == "CNAME"
    validations = graph.of_type("aws:acm/certificateValidation:CertificateValidation")
    assert len(validations) == len(certificates)
    for certificate in certificates:
        assert certificate.inputs["validationMethod"] == "DNS"
        assert certificate.inputs["domainName"] == PROD_DOMAIN
        assert certificate.inputs["subjectAlternativeNames"] == [f"*.{PROD_DOMAIN}"]  # every origin name
        (validation,) = [v for v in validations if certificate.urn in v.dependencies]
        assert validation_record.urn in validation.dependencies
        assert graph.region_of(validation) == graph.region_of(certificate)


def test_gcp_certificate_is_authorised_through_a_record_in_route53() -> None:
    graph = planned("prod")
    (authorization,) = graph.of_type("gcp:certificatemanager/dnsAuthorization:DnsAuthorization")
    assert authorization.inputs["domain"] == PROD_DOMAIN
    record = by_name(graph, RECORD, "edge-gcp-cert-authorization")
    assert authorization.urn in record.dependencies
    assert record.inputs["type"] == "CNAME"
    (certificate,) = graph.of_type("gcp:certificatemanager/certificate:Certificate")
    # The wildcard covers gcp.<domain>, the name the core gateways fall back to.
    assert certificate.inputs["managed"]["domains"] == [PROD_DOMAIN, f"*.{PROD_DOMAIN}"]
    assert authorization.urn in certificate.dependencies
    # Issuance starts with the authorization check: the CNAME must be in the zone first.
    assert record.urn in certificate.dependencies
    assert not graph.of_type("gcp:compute/managedSslCertificate:ManagedSslCertificate")


# --- the GCP load balancer -----------------------------------------------------------------------


def test_every_gcp_backend_service_has_cloud_armor_and_logging() -> None:
    graph = planned("prod")
    policies = {p.urn: p for p in graph.of_type("gcp:compute/securityPolicy:SecurityPolicy")}
    backends = graph.of_type("gcp:compute/backendService:BackendService")
    assert backends
    for backend in backends:
        i = backend.inputs
        # HTTP to the gateway pods inside Google's network, which encrypts it (infra/gcp/edge.py).
        assert i["loadBalancingScheme"] == "EXTERNAL_MANAGED" and i["protocol"] == "HTTP"
        assert i["securityPolicy"] and any(urn in backend.dependencies for urn in policies), backend.name
        assert i["logConfig"] == {"enable": True, "sampleRate": 1}
        assert i["healthChecks"]
    (ready,) = graph.of_type("gcp:compute/healthCheck:HealthCheck")
    assert ready.inputs["httpHealthCheck"]["requestPath"] == "/health/readiness"
    assert ready.inputs["checkIntervalSec"] == 30


def test_cloud_armor_bans_floods_on_the_api_and_previews_the_waf() -> None:
    (policy,) = [
        p
        for p in planned("prod").of_type("gcp:compute/securityPolicy:SecurityPolicy")
        if p.name == "edge-armor"
    ]
    rules = {r["priority"]: r for r in policy.inputs["rules"]}
    default = rules[2147483647]
    assert default["action"] == "allow" and default["match"]["config"]["srcIpRanges"] == ["*"]
    (ban,) = [r for r in rules.values() if r["action"] == "rate_based_ban"]
    assert "request.path.startsWith('/v1/')" in ban["match"]["expr"]["expression"]
    assert ban["rateLimitOptions"]["exceedAction"] == "deny(429)"
    assert ban["rateLimitOptions"]["enforceOnKey"] == "IP"
    waf = [
        r
        for r in rules.values()
        if "evaluatePreconfiguredWaf" in r["match"].get("expr", {}).get("expression", "")
    ]
    assert {"sqli", "xss"} <= {r["match"]["expr"]["expression"].split("'")[1].split("-")[0] for r in waf}
    assert all(r["preview"] is True for r in waf)


def test_gcp_load_balancer_serves_tls_1_2_and_refuses_plain_http() -> None:
    """No port 80: a redirect would answer only after the client sent its key in clear text."""
    graph = planned("prod")
    (ssl_policy,) = graph.of_type("gcp:compute/sSLPolicy:SSLPolicy")
    assert ssl_policy.inputs["minTlsVersion"] == "TLS_1_2"
    assert ssl_policy.inputs["profile"] in ("MODERN", "RESTRICTED")
    (proxy,) = graph.of_type("gcp:compute/targetHttpsProxy:TargetHttpsProxy")
    assert ssl_policy.urn in proxy.dependencies and proxy.inputs["certificateMap"]
    rules = graph.of_type("gcp:compute/globalForwardingRule:GlobalForwardingRule")
    assert [r.inputs["portRange"] for r in rules] == ["443"]
    assert rules[0].inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    assert proxy.urn in rules[0].dependencies
    assert graph.of_type("gcp:compute/targetHttpProxy:TargetHttpProxy") == []


# --- variants of prod ------------------------------------------------------------------------------


def test_global_accelerator_fronts_every_aws_core_region_with_30s_checks(ga: Graph) -> None:
    (accelerator,) = ga.of_type("aws:globalaccelerator/accelerator:Accelerator")
    (listener,) = ga.of_type("aws:globalaccelerator/listener:Listener")
    assert listener.inputs["protocol"] == "TCP"
    assert listener.inputs["portRanges"] == [{"fromPort": 443, "toPort": 443}]
    groups = ga.of_type("aws:globalaccelerator/endpointGroup:EndpointGroup")
    assert sorted(g.inputs["endpointGroupRegion"] for g in groups) == ["us-east-1", "us-west-2"]
    for group in groups:
        i = group.inputs
        assert i["healthCheckIntervalSeconds"] == 30 and i["thresholdCount"] == 3
        assert i["healthCheckProtocol"] == "HTTPS" and i["healthCheckPath"] == "/health/readiness"
        assert i["trafficDialPercentage"] == 100
        assert listener.urn in group.dependencies
    for resource in (accelerator, listener, *groups):
        assert ga.region_of(resource) == "us-west-2", resource.name  # the Global Accelerator API region


def test_global_accelerator_is_the_primary_and_fails_over_when_no_core_is_ready(ga: Graph) -> None:
    primary = failover(ga, PROD_DOMAIN, "PRIMARY")
    (accelerator,) = ga.of_type("aws:globalaccelerator/accelerator:Accelerator")
    assert accelerator.urn in primary.dependencies
    assert primary.inputs["records"][0].endswith(".awsglobalaccelerator.com")
    check = health_check_of(ga, primary)
    assert check.inputs["type"] == "CALCULATED" and check.inputs["childHealthThreshold"] == 1
    core = {by_name(ga, HEALTH_CHECK, f"edge-{c}-health").urn for c in ("core-use1", "core-usw2")}
    assert core == {d for d in check.dependencies if d in core}
    assert resolved_targets(ga, failover(ga, PROD_DOMAIN, "SECONDARY")) == {f"gcp.{PROD_DOMAIN}"}


def test_latency_routing_answers_with_the_nearest_ready_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    graph = prod_variant(tmp_path_factory, "routing: failover", "routing: latency")
    records = records_named(graph, PROD_DOMAIN)
    regions = {r.inputs["setIdentifier"]: r.inputs["latencyRoutingPolicies"][0]["region"] for r in records}
    assert regions == {
        "core-use1": "us-east-1",
        "core-usw2": "us-west-2",
        "gcp": catalog().nearest_aws_region["us-central1"],
    }
    assert all(r.inputs["healthCheckId"] for r in records)


def test_weighted_routing_sends_a_tenth_to_burst(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = prod_variant(tmp_path_factory, "routing: failover", "routing: weighted")
    records = records_named(graph, PROD_DOMAIN)
    weights = {r.inputs["setIdentifier"]: r.inputs["weightedRoutingPolicies"][0]["weight"] for r in records}
    assert weights == {"core-use1": 45, "core-usw2": 45, "gcp": 10}
    assert all(r.inputs["healthCheckId"] for r in records)


# --- arguments, without an engine ---------------------------------------------------------------


def _origin(key: str, tier: Tier = Tier.CORE, region: str | None = "us-east-1") -> Origin:
    return Origin(key=key, tier=tier, hostname=f"{key}.api.example.com", region=region, clusters=[key])


def _args(**overrides: Any) -> AwsEdgeArgs:
    values: dict[str, Any] = {
        "domain": "api.example.com",
        "zone_name": "example.com",
        "zone_id": "Z0EXAMPLE",
        "routing": Routing.FAILOVER,
        "origins": [_origin("core-a"), _origin("burst-b", Tier.BURST)],
        "health_check_path": "/ready",
        "health_check_interval_seconds": 30,
        "tags": {},
    }
    return AwsEdgeArgs(**{**values, **overrides})


def test_edge_args_accept_a_sound_edge() -> None:
    assert _args().routing is Routing.FAILOVER


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"domain": "example.com"}, "zone apex"),
        ({"health_check_interval_seconds": 20}, "allowed 10 or 30"),
        ({"checker_regions": ["us-east-1", "us-west-2"]}, "at least three"),
        ({"origins": [_origin("burst-b", Tier.BURST)]}, "no core origin"),
        ({"origins": [_origin("core-a"), _origin("core-a")]}, "distinct"),
        ({"routing": Routing.LATENCY, "origins": [_origin("onprem", region=None)]}, "no AWS region"),
        ({"core_weight": 300}, r"allowed 0\.\.255"),
        (
            {
                "routing": Routing.WEIGHTED,
                "accelerator": GlobalAcceleratorArgs(provider=None, regions=["us-east-1"]),
            },  # type: ignore[arg-type]
            "failover",
        ),
        (
            {"accelerator": GlobalAcceleratorArgs(provider=None, regions=["us-west-2"])},  # type: ignore[arg-type]
            "not in its regions",
        ),
    ],
)
def test_edge_args_reject_what_route53_cannot_do(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _args(**overrides)


def test_origin_needs_exactly_one_of_hostname_and_address() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Origin(key="x", tier=Tier.CORE, clusters=["x"])
    with pytest.raises(ValueError, match="DNS label"):
        Origin(key="core", tier=Tier.CORE, hostname="a.example.com", clusters=["x"])


def test_accelerator_checks_are_what_global_accelerator_allows() -> None:
    with pytest.raises(ValueError, match="allowed 10 or 30"):
        GlobalAcceleratorArgs(provider=None, regions=["us-east-1"], health_check_interval_seconds=60)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"allowed 0\.\.100"):
        GlobalAcceleratorArgs(
            provider=None, regions=["us-east-1"], traffic_dial_percentage={"us-east-1": 120}
        )  # type: ignore[arg-type]


def test_gcp_edge_args_reject_weak_tls_profiles() -> None:
    with pytest.raises(ValueError, match="MODERN or RESTRICTED"):
        GcpEdgeArgs(
            domain="api.example.com",
            health_check_path="/ready",
            health_check_interval_seconds=30,
            ssl_profile="COMPATIBLE",
        )


def test_zone_defaults_to_the_parent_of_the_public_name() -> None:
    assert zone_name("api.inference.example.com", None) == "inference.example.com"
    assert zone_name("api.inference.example.com", "example.com") == "example.com"
    with pytest.raises(ValueError, match="hostedZone"):
        zone_name("example.com", None)


def test_every_catalog_gcp_region_has_a_latency_stand_in() -> None:
    nearest = catalog().nearest_aws_region
    assert set(nearest) == set(catalog().gcp_regions)
    assert all(region.count("-") == 2 for region in nearest.values())


# --- delegation: a created zone resolves only once its parent points at it ------------------------

NS_TTL = 172800
PARENT_ID = "Z0PARENT0123456789"


@pytest.fixture(scope="module")
def delegated_dev(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    return stack_variant(
        tmp_path_factory,
        "dev",
        "hostedZone: dev.inference.example.com",
        f"hostedZone: dev.inference.example.com\n    parentZoneId: {PARENT_ID}",
    )


def ns_records(graph: Graph) -> list[Resource]:
    return [r for r in graph.of_type(RECORD) if r.inputs.get("type") == "NS"]


def test_a_created_sub_zone_is_delegated_from_its_parent_zone(delegated_dev: Graph) -> None:
    (zone,) = delegated_dev.of_type(ZONE)
    assert zone.inputs["name"] == "dev.inference.example.com"
    (delegation,) = ns_records(delegated_dev)
    assert delegation.inputs["zoneId"] == PARENT_ID, "the NS record belongs in the parent zone"
    assert delegation.inputs["name"] == "dev.inference.example.com"
    assert delegation.inputs["ttl"] == NS_TTL
    assert zone.urn in delegation.dependencies
    assert delegation.inputs["records"] == delegated_dev.outputs["nameServers"]
    assert delegation.inputs["records"], "the created zone's name servers"
    assert not [w for w in delegated_dev.warnings if "not delegated" in w.message]


def test_certificates_wait_for_the_delegation_of_their_zone(delegated_dev: Graph) -> None:
    (delegation,) = ns_records(delegated_dev)
    validations = delegated_dev.of_type("aws:acm/certificateValidation:CertificateValidation")
    assert validations and all(delegation.urn in v.dependencies for v in validations)
    (gcp_certificate,) = delegated_dev.of_type("gcp:certificatemanager/certificate:Certificate")
    assert delegation.urn in gcp_certificate.dependencies


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_a_zone_no_parent_delegates_is_an_output_and_a_warning(stack: str) -> None:
    graph = planned(stack)
    (zone,) = graph.of_type(ZONE)
    assert ns_records(graph) == []
    assert graph.outputs["zoneId"] and graph.outputs["nameServers"]
    (warning,) = [w for w in graph.warnings if "not delegated" in w.message]
    assert warning.message.startswith(f"zone {zone.inputs['name']} is not delegated by this stack: ")
    assert "nameServers" in warning.message and "parentZoneId" in warning.message


def test_an_existing_zone_gets_no_zone_no_delegation_and_no_warning(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    graph = prod_variant(
        tmp_path_factory,
        "hostedZone: inference.example.com",
        "hostedZone: inference.example.com\n    hostedZoneId: Z0EXISTING123",
    )
    assert graph.of_type(ZONE) == [] and ns_records(graph) == []
    records = graph.of_type(RECORD)
    assert records and all(r.inputs["zoneId"] == "Z0EXISTING123" for r in records)
    assert graph.outputs["zoneId"] == "Z0EXISTING123" and "nameServers" not in graph.outputs
    assert not [w for w in graph.warnings if "not delegated" in w.message]


def test_zone_args_refuse_to_delegate_a_zone_they_do_not_create() -> None:
    with pytest.raises(ValueError, match="parent_zone_id with zone_id"):
        PublicZoneArgs(name="dev.example.com", zone_id="Z0TAKEN", parent_zone_id=PARENT_ID)
    with pytest.raises(ValueError, match="below a top-level domain"):
        PublicZoneArgs(name="com")
