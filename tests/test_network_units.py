"""Unit tests of the network components under Pulumi's mocks, and of the naming helpers.

The mocks record every registration as the engine would see it: the resource
type token, the logical name, the inputs with camelCase property names (the SDK
translates them before they leave the program; tag keys and other map keys are
left alone) and the provider reference. Assertions go by type and inputs.
"""

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pytest

from infra.aws.network import DEFAULT_INTERFACE_ENDPOINTS, AwsNetwork, AwsNetworkArgs, carve_subnets
from infra.gcp.network import HEALTH_CHECK_SOURCE_RANGES, GcpNetwork, GcpNetworkArgs
from infra.naming import resource_name, subnet_cidrs

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
TAGS = {"environment": "dev", "owner": "platform", "cost-center": "ml-inference", "managed-by": "pulumi"}
SUBNET = "aws:ec2/subnet:Subnet"
LABELS = {"environment": "dev", "owner": "platform"}


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str | None
    custom: bool


@dataclass
class Graph:
    resources: list[Registered]
    invokes: list[str]
    provider_ref: str = ""

    def of(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Registered:
        found = self.of(type_)
        assert len(found) == 1, f"expected one {type_}, got {[r.name for r in found]}"
        return found[0]

    def by_id(self, id_: str, type_: str) -> Registered:
        """The resource of that type whose (mock) id is `id_`; logical names repeat across types."""
        (found,) = [r for r in self.of(type_) if f"{r.name}_id" == id_]
        return found


class RecordingMocks(pulumi.runtime.Mocks):
    """id = name + "_id"; state = inputs, plus the few computed outputs the components read."""

    def __init__(self) -> None:
        self.resources: list[Registered] = []
        self.invokes: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        self.resources.append(Registered(args.typ, args.name, inputs, args.provider, bool(args.custom)))
        state = dict(inputs)
        if args.typ.startswith("aws:"):
            state.setdefault("arn", f"arn:aws:mock:us-east-1:123456789012:{args.name}")
        if args.typ == "aws:cloudwatch/logGroup:LogGroup":
            state["arn"] = f"arn:aws:logs:us-east-1:123456789012:log-group:{args.name}"
        if args.typ == "aws:ec2/eip:Eip":
            state["allocationId"] = f"{args.name}_alloc"
        if args.typ.startswith("gcp:"):
            state.setdefault("name", args.name)  # what auto-naming would fill in
            state["selfLink"] = f"https://www.googleapis.com/compute/v1/mock/{args.name}"
        return f"{args.name}_id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        self.invokes.append(args.token)
        return {}, None


def deploy(build: Callable[[], pulumi.ProviderResource]) -> Graph:
    """Run `build` as a program under the mocks; `build` returns the provider it handed the component."""
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="inferstack", stack="unit", preview=False)
    refs: list[str] = []

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        provider = build()
        return pulumi.Output.all(provider.urn, provider.id).apply(lambda v: refs.append(f"{v[0]}::{v[1]}"))

    program()
    return Graph(mocks.resources, mocks.invokes, refs[0])


def aws_args(**overrides: Any) -> AwsNetworkArgs:
    values: dict[str, Any] = {
        "cluster_name": "core",
        "region": "us-east-1",
        "cidr": "10.10.0.0/16",
        "zones": ZONES,
        "nat_gateways": 1,
        "flow_log_retention_days": 30,
        "tags": TAGS,
    }
    return AwsNetworkArgs(**{**values, **overrides})


def deploy_aws(**overrides: Any) -> Graph:
    def build() -> pulumi.ProviderResource:
        provider = aws.Provider("aws-us-east-1", region="us-east-1")
        AwsNetwork("core", aws_args(**overrides), opts=pulumi.ResourceOptions(providers=[provider]))
        return provider

    return deploy(build)


def gcp_args(**overrides: Any) -> GcpNetworkArgs:
    values: dict[str, Any] = {
        "project": "inferstack-dev",
        "region": "us-central1",
        "cidr": "10.20.0.0/20",
        "pods_cidr": "10.21.0.0/16",
        "services_cidr": "10.22.0.0/20",
        "labels": LABELS,
    }
    return GcpNetworkArgs(**{**values, **overrides})


@dataclass
class GcpRun:
    graph: Graph
    component: list[GcpNetwork] = field(default_factory=list)


def deploy_gcp(**overrides: Any) -> GcpRun:
    run = GcpRun(Graph([], []))

    def build() -> pulumi.ProviderResource:
        provider = gcp.Provider("gcp-us-central1", project="inferstack-dev", region="us-central1")
        run.component.append(
            GcpNetwork("burst", gcp_args(**overrides), opts=pulumi.ResourceOptions(providers=[provider]))
        )
        return provider

    run.graph = deploy(build)
    return run


# --- naming ---------------------------------------------------------------------------------------


def test_subnet_cidrs_are_consecutive_disjoint_and_inside() -> None:
    blocks = [ipaddress.IPv4Network(c) for c in subnet_cidrs("10.10.0.0/16", 4, 19)]
    assert [str(b) for b in blocks] == ["10.10.0.0/19", "10.10.32.0/19", "10.10.64.0/19", "10.10.96.0/19"]
    vpc = ipaddress.IPv4Network("10.10.0.0/16")
    assert all(b.subnet_of(vpc) for b in blocks)
    assert not any(a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])


@pytest.mark.parametrize(
    ("cidr", "count", "prefix"),
    [("10.10.0.0/24", 3, 23), ("10.10.0.0/24", 5, 26), ("10.10.0.1/24", 1, 26), ("not-a-cidr", 1, 24)],
)
def test_subnet_cidrs_rejects_what_does_not_fit_naming_the_cidr(cidr: str, count: int, prefix: int) -> None:
    with pytest.raises(ValueError, match=cidr):
        subnet_cidrs(cidr, count, prefix)


def test_aws_address_plan_private_then_public_all_disjoint() -> None:
    private, public = carve_subnets("10.10.0.0/16", 3)
    assert private == ["10.10.0.0/19", "10.10.32.0/19", "10.10.64.0/19"]
    assert public == ["10.10.96.0/22", "10.10.100.0/22", "10.10.104.0/22"]
    nets = [ipaddress.ip_network(c) for c in private + public]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


def test_resource_name_is_a_short_stable_dns_label() -> None:
    assert resource_name("Core", "private", "us-east-1a") == "core-private-us-east-1a"
    assert resource_name("a_b", "vpce", "ecr.api") == "a-b-vpce-ecr-api"
    long_a = resource_name("x" * 80, "one")
    long_b = resource_name("x" * 80, "two")
    assert len(long_a) <= 63 and len(long_b) <= 63
    assert long_a != long_b
    assert long_a == resource_name("x" * 80, "one")
    assert len(resource_name("y" * 80, max_len=55)) <= 55


# --- AWS ------------------------------------------------------------------------------------------


def test_aws_three_private_subnets_tagged_for_internal_elb_and_the_cluster() -> None:
    graph = deploy_aws()
    subnets = graph.of(SUBNET)
    private = [s for s in subnets if s.inputs["tags"].get("kubernetes.io/role/internal-elb") == "1"]
    public = [s for s in subnets if s.inputs["tags"].get("kubernetes.io/role/elb") == "1"]
    assert sorted(s.inputs["availabilityZone"] for s in private) == list(ZONES)
    assert sorted(s.inputs["availabilityZone"] for s in public) == list(ZONES)
    for subnet in subnets:
        assert subnet.inputs["tags"]["kubernetes.io/cluster/core"] == "shared"
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
    assert all(ipaddress.ip_network(s.inputs["cidrBlock"]).prefixlen == 19 for s in private)


@pytest.mark.parametrize("nats", [1, 3])
def test_aws_nat_gateway_count_follows_args(nats: int) -> None:
    graph = deploy_aws(nat_gateways=nats)
    assert len(graph.of("aws:ec2/natGateway:NatGateway")) == nats
    assert [e.inputs["domain"] for e in graph.of("aws:ec2/eip:Eip")] == ["vpc"] * nats


@pytest.mark.parametrize("nats", [1, 3])
def test_aws_private_route_tables_send_internet_traffic_to_a_nat_in_their_zone(nats: int) -> None:
    graph = deploy_aws(nat_gateways=nats)
    private_subnets = {
        f"{s.name}_id": s for s in graph.of(SUBNET) if "kubernetes.io/role/internal-elb" in s.inputs["tags"]
    }
    associations = {
        a.inputs["routeTableId"]: private_subnets[a.inputs["subnetId"]]
        for a in graph.of("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if a.inputs["subnetId"] in private_subnets
    }
    assert len(associations) == 3, "one private route table per zone"
    used_nats = set()
    for route in graph.of("aws:ec2/route:Route"):
        subnet = associations.get(route.inputs["routeTableId"])
        if subnet is None:
            continue
        assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0"
        assert "gatewayId" not in route.inputs, "private subnets must not route to the internet gateway"
        nat = graph.by_id(route.inputs["natGatewayId"], "aws:ec2/natGateway:NatGateway")
        used_nats.add(nat.name)
        if nats == 3:
            nat_subnet = graph.by_id(nat.inputs["subnetId"], SUBNET)
            assert nat_subnet.inputs["availabilityZone"] == subnet.inputs["availabilityZone"]
    assert len(used_nats) == nats


def test_aws_public_route_table_goes_to_the_internet_gateway() -> None:
    graph = deploy_aws()
    to_igw = [r for r in graph.of("aws:ec2/route:Route") if "gatewayId" in r.inputs]
    assert len(to_igw) == 1
    assert graph.by_id(to_igw[0].inputs["gatewayId"], "aws:ec2/internetGateway:InternetGateway")


def test_aws_flow_logs_all_traffic_with_retention_through_a_narrow_role() -> None:
    graph = deploy_aws(flow_log_retention_days=90)
    log_group = graph.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["retentionInDays"] == 90
    flow_log = graph.one("aws:ec2/flowLog:FlowLog")
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["logDestination"].endswith(f"log-group:{log_group.name}")
    assert graph.by_id(flow_log.inputs["vpcId"], "aws:ec2/vpc:Vpc")

    role = graph.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "vpc-flow-logs.amazonaws.com"}]
    policy = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
    }


def test_aws_interface_endpoints_private_dns_in_private_subnets_behind_https_only_sg() -> None:
    graph = deploy_aws()
    endpoints = graph.of("aws:ec2/vpcEndpoint:VpcEndpoint")
    interface = [e for e in endpoints if e.inputs["vpcEndpointType"] == "Interface"]
    assert sorted(e.inputs["serviceName"] for e in interface) == sorted(
        f"com.amazonaws.us-east-1.{s}" for s in DEFAULT_INTERFACE_ENDPOINTS
    )
    for endpoint in interface:
        assert endpoint.inputs["privateDnsEnabled"] is True
        subnets = [graph.by_id(i, SUBNET) for i in endpoint.inputs["subnetIds"]]
        assert sorted(s.inputs["availabilityZone"] for s in subnets) == list(ZONES)
        assert all("kubernetes.io/role/internal-elb" in s.inputs["tags"] for s in subnets)

    (gateway,) = [e for e in endpoints if e.inputs["vpcEndpointType"] == "Gateway"]
    assert gateway.inputs["serviceName"] == "com.amazonaws.us-east-1.s3"
    assert len(gateway.inputs["routeTableIds"]) == 3

    rule = graph.one("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["ipProtocol"]) == (443, 443, "tcp")
    assert rule.inputs["cidrIpv4"] == "10.10.0.0/16"
    assert not graph.of("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")


def test_aws_children_carry_tags_name_and_the_given_provider() -> None:
    graph = deploy_aws()
    untaggable = {
        "aws:ec2/route:Route",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:iam/rolePolicy:RolePolicy",
    }
    (component,) = [r for r in graph.resources if not r.custom]
    assert component.type == "inferstack:aws:Network"
    children = [r for r in graph.resources if r.custom and not r.type.startswith("pulumi:providers:")]
    for child in children:
        assert child.provider == graph.provider_ref, f"{child.type} {child.name} ignores the given provider"
        if child.type not in untaggable:
            tags = child.inputs["tags"]
            assert TAGS.items() <= tags.items(), f"{child.type} {child.name} misses the cost tags"
            assert tags["Name"]
    assert graph.invokes == []


def test_aws_outputs_list_subnets_in_zone_order() -> None:
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="inferstack", stack="unit", preview=False)

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        net = AwsNetwork("core", aws_args(nat_gateways=3))
        assert net.nat_gateway_count == 3
        assert net.vpc_cidr == "10.10.0.0/16"

        def check(values: list[Any]) -> None:
            private, public = values
            assert private == [f"core-private-{z}_id" for z in ZONES]
            assert public == [f"core-public-{z}_id" for z in ZONES]

        return pulumi.Output.all(net.private_subnet_ids, net.public_subnet_ids).apply(check)

    program()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nat_gateways": 2}, "nat_gateways=2"),
        ({"flow_log_retention_days": 10}, "flow_log_retention_days=10"),
        ({"cidr": "10.10.0.0/24"}, "10.10.0.0/24"),
        ({"zones": ("us-east-1a", "us-east-1a")}, "zones"),
        ({"interface_endpoints": ("s3",)}, "interface_endpoints"),
    ],
)
def test_aws_bad_args_are_rejected_before_any_resource(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        aws_args(**overrides)


# --- GCP ------------------------------------------------------------------------------------------


def test_gcp_subnet_has_pod_and_service_ranges_and_private_google_access() -> None:
    run = deploy_gcp()
    (net,) = run.component
    subnet = run.graph.one("gcp:compute/subnetwork:Subnetwork")
    assert subnet.inputs["ipCidrRange"] == "10.20.0.0/20"
    assert subnet.inputs["privateIpGoogleAccess"] is True
    ranges = {r["rangeName"]: r["ipCidrRange"] for r in subnet.inputs["secondaryIpRanges"]}
    assert ranges == {net.pods_range_name: "10.21.0.0/16", net.services_range_name: "10.22.0.0/20"}
    assert subnet.inputs["logConfig"]["aggregationInterval"]
    assert 0 < subnet.inputs["logConfig"]["flowSampling"] <= 1


def test_gcp_network_is_custom_mode_with_global_routing() -> None:
    network = deploy_gcp().graph.one("gcp:compute/network:Network")
    assert network.inputs["autoCreateSubnetworks"] is False
    assert network.inputs["routingMode"] == "GLOBAL"


def test_gcp_cloud_nat_on_the_router_with_auto_ips_and_error_logging() -> None:
    graph = deploy_gcp().graph
    router = graph.one("gcp:compute/router:Router")
    nat = graph.one("gcp:compute/routerNat:RouterNat")
    assert nat.inputs["router"] == router.name
    assert nat.inputs["natIpAllocateOption"] == "AUTO_ONLY"
    assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    assert nat.inputs["logConfig"] == {"enable": True, "filter": "ERRORS_ONLY"}


def test_gcp_private_service_access_reserves_a_peering_range() -> None:
    run = deploy_gcp(private_service_access_prefix=20)
    address = run.graph.one("gcp:compute/globalAddress:GlobalAddress")
    assert address.inputs["purpose"] == "VPC_PEERING"
    assert address.inputs["addressType"] == "INTERNAL"
    assert address.inputs["prefixLength"] == 20
    assert address.inputs["labels"] == LABELS
    connection = run.graph.one("gcp:servicenetworking/connection:Connection")
    assert connection.inputs["service"] == "servicenetworking.googleapis.com"
    assert connection.inputs["reservedPeeringRanges"] == [address.name]
    assert isinstance(run.component[0].private_service_connection, gcp.servicenetworking.Connection)


def test_gcp_firewall_admits_only_health_checkers_to_serving_ports() -> None:
    (rule,) = deploy_gcp().graph.of("gcp:compute/firewall:Firewall")
    assert rule.inputs["direction"] == "INGRESS"
    assert sorted(rule.inputs["sourceRanges"]) == sorted(HEALTH_CHECK_SOURCE_RANGES)
    assert rule.inputs["allows"] == [{"protocol": "tcp", "ports": ["8000-8080"]}]


def test_gcp_children_use_the_project_and_the_given_provider() -> None:
    graph = deploy_gcp().graph
    (component,) = [r for r in graph.resources if not r.custom]
    assert component.type == "inferstack:gcp:Network"
    children = [r for r in graph.resources if r.custom and not r.type.startswith("pulumi:providers:")]
    assert len(children) == 7
    for child in children:
        assert child.provider == graph.provider_ref, f"{child.type} {child.name} ignores the given provider"
        if child.type != "gcp:servicenetworking/connection:Connection":  # no project input in the SDK
            assert child.inputs["project"] == "inferstack-dev", f"{child.type} has no project"
    assert graph.invokes == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pods_cidr": "10.20.8.0/21"}, "overlaps"),
        ({"services_cidr": "10.22.0.1/20"}, "services_cidr"),
        ({"private_service_access_prefix": 28}, "private_service_access_prefix=28"),
        ({"region": "us-central1-a"}, "region"),
    ],
)
def test_gcp_bad_args_are_rejected_before_any_resource(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gcp_args(**overrides)
