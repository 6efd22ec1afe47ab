"""The gateway at the AWS edge: every origin the edge checks resolves to a load balancer the program
creates, and every such load balancer is behind WAF and forwards to the gateway's pods."""

from __future__ import annotations

import pytest

from inferstack.engine import Graph, Resource
from infra.aws.ingress import TLS_POLICY, GatewayIngressArgs
from tests.conftest import planned

LB = "aws:lb/loadBalancer:LoadBalancer"
RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
STACKS = ("dev", "staging", "prod")


def _by_urn(graph: Graph) -> dict[str, Resource]:
    return graph.by_urn()


def _depending_on(graph: Graph, token: str, resource: Resource) -> list[Resource]:
    return [r for r in graph.of_type(token) if resource.urn in r.dependencies]


@pytest.mark.parametrize("stack", STACKS)
def test_every_origin_the_edge_checks_resolves_to_a_load_balancer_the_program_creates(stack: str) -> None:
    graph = planned(stack)
    index = _by_urn(graph)
    checks = graph.of_type(HEALTH_CHECK)
    hostnames = [c.inputs["fqdn"] for c in checks if "ipAddress" not in c.inputs]
    assert hostnames, "the edge checks at least one origin by name"
    for hostname in hostnames:
        records = [r for r in graph.of_type(RECORD) if r.inputs.get("name") == hostname]
        assert len(records) == 1, f"{hostname}: {len(records)} records"
        (record,) = records
        (alias,) = record.inputs["aliases"]
        assert alias["evaluateTargetHealth"] is True
        balancers = [index[u] for u in record.dependencies if index[u].type == LB]
        assert len(balancers) == 1, hostname
        assert balancers[0].inputs["internal"] is False
    # The GCP origin is the GCP load balancer's reserved address, also the program's.
    addressed = [c for c in checks if "ipAddress" in c.inputs]
    assert addressed
    addresses = graph.of_type("gcp:compute/globalAddress:GlobalAddress")
    assert addresses and all(any(a.urn in c.dependencies for a in addresses) for c in addressed)


@pytest.mark.parametrize("stack", STACKS)
def test_waf_is_attached_to_every_aws_load_balancer_of_the_gateway(stack: str) -> None:
    graph = planned(stack)
    index = _by_urn(graph)
    balancers = graph.of_type(LB)
    assert balancers
    for balancer in balancers:
        (association,) = _depending_on(graph, "aws:wafv2/webAclAssociation:WebAclAssociation", balancer)
        (acl,) = [index[u] for u in association.dependencies if index[u].type == "aws:wafv2/webAcl:WebAcl"]
        assert acl.inputs["scope"] == "REGIONAL"
        rules = {r["name"]: r for r in acl.inputs["rules"]}
        rate = rules["rate-per-client-ip"]["statement"]["rateBasedStatement"]
        assert rate["aggregateKeyType"] == "IP" and rate["limit"] > 0
        assert "block" in rules["rate-per-client-ip"]["action"]
        common = rules["AWSManagedRulesCommonRuleSet"]["statement"]["managedRuleGroupStatement"]
        counted = {o["name"] for o in common["ruleActionOverrides"] if "count" in o["actionToUse"]}
        assert "SizeRestrictions_BODY" in counted, "prompts are longer than the 8 KB an ALB lets WAF inspect"
        assert "AWSManagedRulesKnownBadInputsRuleSet" in rules


def test_prod_load_balancers_terminate_tls_with_the_edge_certificate_and_refuse_plain_http() -> None:
    graph = planned("prod")
    index = _by_urn(graph)
    for balancer in graph.of_type(LB):
        i = balancer.inputs
        assert i["dropInvalidHeaderFields"] is True and i["enableDeletionProtection"] is True
        assert i["idleTimeout"] >= 600, "a long reasoning answer streams for minutes"
        listeners = {x.inputs["port"]: x for x in _depending_on(graph, "aws:lb/listener:Listener", balancer)}
        assert sorted(listeners) == [443], "plain HTTP would carry the client's key in clear text"
        https = listeners[443].inputs
        assert https["protocol"] == "HTTPS" and https["sslPolicy"] == TLS_POLICY
        certificates = [index[u] for u in listeners[443].dependencies if index[u].type.startswith("aws:acm/")]
        assert certificates, "the HTTPS listener presents the edge's regional certificate"
        (forward,) = https["defaultActions"]
        assert forward["type"] == "forward"
        groups = [
            index[u] for u in balancer.dependencies if index[u].type == "aws:ec2/securityGroup:SecurityGroup"
        ]
        assert groups and all([r["fromPort"] for r in g.inputs["ingress"]] == [443] for g in groups)


def test_dev_load_balancers_can_be_torn_down() -> None:
    balancers = planned("dev").of_type(LB)
    assert balancers and all(b.inputs["enableDeletionProtection"] is False for b in balancers)


def test_the_target_group_reaches_the_gateway_through_the_mesh_ingress() -> None:
    graph = planned("prod")
    index = _by_urn(graph)
    bindings = graph.of_type("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding")
    assert sorted(b.name for b in bindings) == [
        "core-use1-gateway-target-group",
        "core-usw2-gateway-target-group",
    ]
    for binding in bindings:
        spec = binding.inputs["spec"]
        # The ALB's plain text would be refused by ztunnel at LiteLLM's pods (STRICT mTLS): it
        # targets the ingress proxy, which the VirtualService sends on to LiteLLM's Service.
        assert binding.inputs["metadata"]["namespace"] == "istio-ingress"
        assert spec["serviceRef"] == {"name": "istio-ingress", "port": 8080}
        assert spec["targetType"] == "ip"
        cluster = binding.name.removesuffix("-gateway-target-group")
        assert any(
            index[u].type == "kubernetes:helm.sh/v3:Release"
            and index[u].name == f"{cluster}-mesh-istio-ingress"
            for u in binding.dependencies
        )
        (group,) = [
            index[u] for u in binding.dependencies if index[u].type == "aws:lb/targetGroup:TargetGroup"
        ]
        assert group.inputs["targetType"] == "ip" and group.inputs["port"] == 8080
        assert group.inputs["healthCheck"]["path"] == "/health/readiness"
        assert spec["networking"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]


def test_a_stack_without_an_edge_gets_no_load_balancer() -> None:
    graph = planned("onprem")
    assert not graph.of_type(LB)
    assert graph.of_type("kubernetes:apps/v1:Deployment")


def test_gke_admits_googles_front_ends_to_the_mesh_ingress_port() -> None:
    graph = planned("prod")
    (rule,) = [r for r in graph.of_type("gcp:compute/firewall:Firewall") if "gateway" in r.name]
    assert sorted(rule.inputs["sourceRanges"]) == ["130.211.0.0/22", "35.191.0.0/16"]
    assert rule.inputs["allows"] == [{"protocol": "tcp", "ports": ["8080"]}]


def _ingress(**changes: object) -> GatewayIngressArgs:
    base: dict[str, object] = {
        "cluster": "core-use1",
        "hostname": "core-use1.api.example.com",
        "zone_id": "Z1",
        "vpc_id": "vpc-1",
        "vpc_cidr": "10.16.0.0/16",
        "public_subnet_ids": ["subnet-1"],
        "certificate_arn": "arn:aws:acm:us-east-1:1:certificate/x",
        "target_port": 4000,
        "health_check_path": "/health/readiness",
        "protect": True,
        "tags": {},
    }
    return GatewayIngressArgs(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"health_check_path": "health"}, "must start with '/'"),
        ({"rate_limit_per_5_minutes": 9}, "allowed 10..2e9"),
        ({"idle_timeout_seconds": 4001}, "allowed 1..4000"),
    ],
)
def test_ingress_args_refuse_each_out_of_range_value(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _ingress(**changes)
    assert _ingress().rate_limit_per_5_minutes == 1500
