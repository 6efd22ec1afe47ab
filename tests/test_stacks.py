"""Every shipped stack, run end to end through the offline engine as the language host runs it."""

from __future__ import annotations

import json

import pytest

from inferstack.engine import Graph, plan_stack
from inferstack.project import Project, find_project
from inferstack.report import plan_json
from tests.conftest import ROOT, children_of, component, planned

STACKS = ["dev", "staging", "prod", "onprem"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_plans(stack: str) -> None:
    graph = planned(stack)
    assert graph.resources, stack
    assert graph.outputs["environment"] in ("dev", "staging", "prod")


@pytest.mark.parametrize("stack", STACKS)
def test_no_resource_uses_a_default_provider(stack: str) -> None:
    graph = planned(stack)
    for r in graph.resources:
        if r.custom and not r.type.startswith("pulumi:providers:"):
            assert r.provider is not None, f"{r.urn} has no explicit provider"
            assert "::default" not in r.provider, f"{r.urn} uses the ambient default provider {r.provider}"


def _providers(graph: Graph, package: str) -> dict[str, str]:
    """Regional providers by region (the project-wide GCP provider that enables APIs has none)."""
    return {
        r.inputs["region"]: r.name
        for r in graph.of_type(f"pulumi:providers:{package}")
        if "region" in r.inputs
    }


def test_prod_has_one_provider_per_region(prod: Graph) -> None:
    assert set(_providers(prod, "aws")) == {"us-east-1", "us-west-2"}
    assert set(_providers(prod, "gcp")) == {"us-central1"}
    for p in prod.of_type("pulumi:providers:gcp"):
        assert p.inputs["project"] == "acme-inference-prod"
    for p in prod.of_type("pulumi:providers:aws"):
        assert json.loads(p.inputs["allowedAccountIds"]) == ["123456789012"]
        tags = json.loads(p.inputs["defaultTags"])["tags"]
        assert tags["environment"] == "prod" and tags["cost-center"] == "cc-inference-prod"


def test_every_region_resource_uses_its_regions_provider(prod: Graph) -> None:
    for net in prod.of_type("inferstack:aws:Network"):
        region = "us-east-1" if net.name == "core-use1" else "us-west-2"
        for child in children_of(prod, net):
            if child.custom:
                assert prod.region_of(child) == region, child.urn


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_private_subnets_in_every_core_region(stack: str) -> None:
    graph = planned(stack)
    for net in graph.of_type("inferstack:aws:Network"):
        subnets = [r for r in children_of(graph, net) if r.type == "aws:ec2/subnet:Subnet"]
        private = [
            s for s in subnets if s.inputs.get("tags", {}).get("kubernetes.io/role/internal-elb") == "1"
        ]
        public = [s for s in subnets if s.inputs.get("tags", {}).get("kubernetes.io/role/elb") == "1"]
        assert len(private) == 3, net.name
        assert len(public) == 3, net.name
        assert len({s.inputs["availabilityZone"] for s in private}) == 3
        assert all(s.inputs.get("mapPublicIpOnLaunch") in (False, None) for s in private)


def _nat_count(graph: Graph, cluster: str) -> int:
    net = component(graph, "inferstack:aws:Network", cluster)
    return sum(1 for r in children_of(graph, net) if r.type == "aws:ec2/natGateway:NatGateway")


def test_nat_gateways_by_environment(dev: Graph, prod: Graph) -> None:
    assert _nat_count(dev, "core-use1") == 1
    assert _nat_count(prod, "core-use1") == 3
    assert _nat_count(prod, "core-usw2") == 3


def test_private_cluster_has_the_endpoints_it_needs(prod: Graph) -> None:
    net = component(prod, "inferstack:aws:Network", "core-use1")
    endpoints = [r for r in children_of(prod, net) if r.type == "aws:ec2/vpcEndpoint:VpcEndpoint"]
    services = {r.inputs["serviceName"].removeprefix("com.amazonaws.us-east-1.") for r in endpoints}
    assert {"ecr.api", "ecr.dkr", "sts", "eks-auth", "s3"} <= services
    interface = [r for r in endpoints if r.inputs.get("vpcEndpointType") == "Interface"]
    assert interface and all(r.inputs.get("privateDnsEnabled") is True for r in interface)


def test_flow_logs_are_retained(prod: Graph) -> None:
    logs = prod.of_type("aws:ec2/flowLog:FlowLog")
    assert len(logs) == 2
    groups = [g for g in prod.of_type("aws:cloudwatch/logGroup:LogGroup") if "flow" in g.name]
    assert groups and all(g.inputs["retentionInDays"] == 90 for g in groups)


def test_gcp_network_has_pod_and_service_ranges_and_nat(prod: Graph) -> None:
    subnets = prod.of_type("gcp:compute/subnetwork:Subnetwork")
    assert len(subnets) == 1
    ranges = subnets[0].inputs["secondaryIpRanges"]
    assert len(ranges) == 2
    assert subnets[0].inputs["privateIpGoogleAccess"] is True
    assert len(prod.of_type("gcp:compute/routerNat:RouterNat")) == 1
    assert len(prod.of_type("gcp:servicenetworking/connection:Connection")) == 1


def test_cluster_networks_do_not_overlap(prod: Graph) -> None:
    import ipaddress

    blocks = [ipaddress.ip_network(v.inputs["cidrBlock"]) for v in prod.of_type("aws:ec2/vpc:Vpc")]
    blocks += [
        ipaddress.ip_network(s.inputs["ipCidrRange"])
        for s in prod.of_type("gcp:compute/subnetwork:Subnetwork")
    ]
    for i, a in enumerate(blocks):
        for b in blocks[i + 1 :]:
            assert not a.overlaps(b), (a, b)


def test_onprem_core_is_reached_not_provisioned(onprem: Graph) -> None:
    providers = onprem.of_type("pulumi:providers:kubernetes")
    core = [p for p in providers if p.name == "onprem-core-k8s"]
    assert len(core) == 1
    assert core[0].inputs["kubeconfig"] == "[secret]"
    assert not [n for n in onprem.of_type("inferstack:aws:Network") if n.name == "onprem-core"]
    assert set(_providers(onprem, "aws")) == {"us-east-2"}


def test_two_runs_give_the_same_graph(project: Project) -> None:
    first = plan_json(plan_stack("prod", project=project))
    second = plan_json(plan_stack("prod", project=project))
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_several_stacks_in_one_process_do_not_leak(project: Project) -> None:
    dev_alone = plan_json(planned("dev"))
    plan_stack("prod", project=project)
    dev_again = plan_json(plan_stack("dev", project=find_project(ROOT)))
    assert json.dumps(dev_alone, sort_keys=True) == json.dumps(dev_again, sort_keys=True)
    assert all(":dev::" in r["urn"] for r in dev_again["resources"])


@pytest.mark.parametrize("stack", STACKS)
def test_plan_summary_pools_are_what_the_graph_registers(stack: str) -> None:
    """The summary a reviewer reads is read off the settings; the graph must register exactly that."""
    from inferstack.report import clusters, settings_of

    graph = planned(stack)
    settings = settings_of(graph)
    assert settings is not None
    rows = clusters(settings)
    aws_groups = {r.name: r.inputs for r in graph.of_type("aws:eks/nodeGroup:NodeGroup")}
    gke_pools = graph.of_type("gcp:container/nodePool:NodePool")
    checked = 0
    for cluster in rows:
        for pool in cluster["nodePools"]:
            if cluster["cloud"] == "aws":
                group = aws_groups[f"{cluster['name']}-{pool['name']}"]
                assert group["scalingConfig"] == {
                    "minSize": pool["minSize"],
                    "desiredSize": pool["desiredSize"],
                    "maxSize": pool["maxSize"],
                }
                assert group["instanceTypes"] == [pool["machineType"]]
                assert (
                    group["capacityType"]
                    == {
                        "on-demand": "ON_DEMAND",
                        "spot": "SPOT",
                        "reserved": "CAPACITY_BLOCK",
                    }[pool["capacity"]]
                )
            else:
                mine = [
                    p
                    for p in gke_pools
                    if p.inputs["nodeConfig"]["labels"]["inferstack.io/pool"] == pool["name"]
                    and p.name.startswith(f"{cluster['name']}-")
                ]
                assert mine, (cluster["name"], pool["name"])
                most = sum(
                    p.inputs["autoscaling"].get(
                        "totalMaxNodeCount", p.inputs["autoscaling"].get("maxNodeCount", 0)
                    )
                    for p in mine
                )
                assert most == pool["maxSize"]
                assert {p.inputs["nodeConfig"]["machineType"] for p in mine} == {pool["machineType"]}
                assert all(
                    bool(p.inputs["nodeConfig"].get("spot")) == (pool["capacity"] == "spot") for p in mine
                )
            checked += 1
    assert checked == sum(len(c["nodePools"]) for c in rows) > 0


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_every_vpc_closes_its_default_group_and_encrypts_its_flow_logs(stack: str) -> None:
    graph = planned(stack)
    networks = graph.of_type("inferstack:aws:Network")
    assert networks
    for net in networks:
        kids = children_of(graph, net)
        [default] = [r for r in kids if r.type == "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"]
        assert not default.inputs.get("ingress") and not default.inputs.get("egress")
        [group] = [r for r in kids if r.type == "aws:cloudwatch/logGroup:LogGroup"]
        [key] = [r for r in kids if r.type == "aws:kms/key:Key"]
        assert key.urn in group.dependencies and group.inputs["kmsKeyId"].startswith("arn:aws:kms:")
        policy = json.loads(key.inputs["policy"])
        logs = [
            s for s in policy["Statement"] if s.get("Principal", {}).get("Service", "").startswith("logs.")
        ]
        assert logs and key.inputs["enableKeyRotation"] is True
