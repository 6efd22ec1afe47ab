"""Writes from every core region: each core cluster has a route to the Aurora writer's network,
and the writer admits its private subnets. Read off the planned graph, as the cloud would see it."""

from __future__ import annotations

import ipaddress

import pytest

from inferstack.engine import Graph, Resource
from tests.conftest import children_of, component, planned


def _network(graph: Graph, cluster: str) -> tuple[Resource, list[Resource], list[str]]:
    """The cluster's VPC, its private route tables and its private subnets' CIDRs."""
    net = component(graph, "inferstack:aws:Network", cluster)
    kids = children_of(graph, net)
    [vpc] = [r for r in kids if r.type == "aws:ec2/vpc:Vpc"]
    tables = [r for r in kids if r.type == "aws:ec2/routeTable:RouteTable" and "-private-" in r.name]
    private = [
        s.inputs["cidrBlock"]
        for s in kids
        if s.type == "aws:ec2/subnet:Subnet"
        and s.inputs.get("tags", {}).get("kubernetes.io/role/internal-elb") == "1"
    ]
    assert tables and private
    return vpc, tables, private


def _vpc_id(graph: Graph, vpc: Resource) -> str:
    """The mocked id the engine hands to resources that reference this VPC."""
    [subnet] = [r for r in graph.of_type("aws:ec2/subnet:Subnet") if vpc.urn in r.dependencies][:1]
    return subnet.inputs["vpcId"]


def _routes_to(graph: Graph, table: Resource, cidr: str) -> list[Resource]:
    table_id = next(
        r.inputs["routeTableId"] for r in graph.of_type("aws:ec2/route:Route") if table.urn in r.dependencies
    )
    return [
        r
        for r in graph.of_type("aws:ec2/route:Route")
        if r.inputs.get("routeTableId") == table_id and r.inputs.get("destinationCidrBlock") == cidr
    ]


def _aws_cores(graph: Graph) -> list[str]:
    return [
        name
        for name, info in graph.outputs["clusters"].items()
        if info["role"] == "core" and info["cloud"] == "aws"
    ]


def _writer_cluster(graph: Graph) -> str:
    """The core cluster whose network hosts the primary (writer) Aurora cluster."""
    primaries = [
        r
        for r in graph.of_type("aws:rds/cluster:Cluster")
        if not r.inputs.get("replicationSourceIdentifier") and "globalClusterIdentifier" in r.inputs
    ] or graph.of_type("aws:rds/cluster:Cluster")
    return primaries[0].name.removesuffix("-db")


@pytest.mark.parametrize("stack", ["prod"])
def test_every_core_cluster_routes_to_the_writers_network_and_back(stack: str) -> None:
    graph = planned(stack)
    cores = _aws_cores(graph)
    writer = _writer_cluster(graph)
    assert writer in cores and len(cores) == 2
    writer_vpc, writer_tables, _ = _network(graph, writer)
    writer_cidr = writer_vpc.inputs["cidrBlock"]
    checked = 0
    for cluster in cores:
        if cluster == writer:
            continue
        vpc, tables, _ = _network(graph, cluster)
        cidr = vpc.inputs["cidrBlock"]
        assert not ipaddress.ip_network(cidr).overlaps(ipaddress.ip_network(writer_cidr))
        ids = {_vpc_id(graph, vpc), _vpc_id(graph, writer_vpc)}
        [peering] = [
            p
            for p in graph.of_type("aws:ec2/vpcPeeringConnection:VpcPeeringConnection")
            if {p.inputs["vpcId"], p.inputs["peerVpcId"]} == ids
        ]
        connection_id = next(
            r.inputs["vpcPeeringConnectionId"]
            for r in graph.of_type("aws:ec2/route:Route")
            if peering.urn in r.dependencies
        )
        if graph.region_of(peering) != graph.region_of(vpc) or "peerRegion" in peering.inputs:
            accepters = graph.of_type("aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter")
            assert any(a.inputs["vpcPeeringConnectionId"] == connection_id for a in accepters)
        for table in tables:
            assert [r.inputs["vpcPeeringConnectionId"] for r in _routes_to(graph, table, writer_cidr)] == [
                connection_id
            ], table.name
        for table in writer_tables:
            assert [r.inputs["vpcPeeringConnectionId"] for r in _routes_to(graph, table, cidr)] == [
                connection_id
            ], table.name
        checked += 1
    assert checked == len(cores) - 1


@pytest.mark.parametrize("stack", ["prod"])
def test_every_aurora_member_admits_every_core_clusters_private_subnets(stack: str) -> None:
    """Any member can become the writer after a failover; every core cluster writes to it."""
    graph = planned(stack)
    everyone = {c for cluster in _aws_cores(graph) for c in _network(graph, cluster)[2]}
    members = graph.of_type("aws:rds/cluster:Cluster")
    assert len(members) == 2
    database = graph.of_type("inferstack:aws:GlobalDatabase")[0]
    rules = [
        r
        for r in children_of(graph, database)
        if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    ]
    by_group: dict[str, set[str]] = {}
    for rule in rules:
        assert rule.inputs["fromPort"] == rule.inputs["toPort"] == 5432
        by_group.setdefault(rule.inputs["securityGroupId"], set()).add(rule.inputs["cidrIpv4"])
    assert len(by_group) == len(members)
    for cidrs in by_group.values():
        assert cidrs == everyone


def test_a_single_core_region_has_no_peering() -> None:
    assert not planned("dev").of_type("aws:ec2/vpcPeeringConnection:VpcPeeringConnection")
    assert not planned("staging").of_type("aws:ec2/vpcPeeringConnection:VpcPeeringConnection")


def test_every_core_clusters_configmap_names_the_global_writer(prod: Graph) -> None:
    """The host each cluster writes to is the global writer endpoint, reachable over the peering."""
    maps = [r for r in prod.of_type("kubernetes:core/v1:ConfigMap") if r.name.endswith("-data")]
    hosts = {m.inputs["data"]["DATABASE_HOST"] for m in maps}
    assert len(maps) == 2 and len(hosts) == 1
