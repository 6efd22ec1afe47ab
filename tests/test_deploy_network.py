"""The deploy runner reaches every private control plane, and existing clusters' kubeconfigs are
read from Secrets Manager: read off the planned graph, as the cloud would be asked to build it."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
import yaml

from inferstack import mocks
from inferstack.engine import Graph, Resource, plan_stack
from inferstack.project import find_project, load_stack_config
from infra.aws.deploy import kubeconfig_from_secret
from infra.settings import SettingsError, parse_settings, project_config
from tests.conftest import ROOT, children_of, component
from tests.test_cli import run

DEPLOY = {
    "region": "us-east-1",
    "vpcId": "vpc-0a1b2c3d4e5f60718",
    "cidr": "10.200.0.0/22",
    "routeTableIds": ["rtb-0a1b2c3d4e5f60718", "rtb-0f1e2d3c4b5a69788"],
}
"""What `pulumi stack output` of the bootstrap stack answers (deployRegion, deployVpcId, ...)."""
ARN = "arn:aws:secretsmanager:us-east-2:123456789012:secret:inferstack/onprem/kubeconfig-Ab12Cd"
_GRAPHS: dict[str, Graph] = {}


def _planned(key: str, stack: str, change: Any) -> Graph:
    """The shipped stack with ``change`` applied to its config, planned from a temporary stack file."""
    if key not in _GRAPHS:
        data = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
        change(data["config"])
        path = Path(tempfile.mkdtemp()) / f"Pulumi.{key}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        _GRAPHS[key] = plan_stack("variant", config_file=path, project=find_project(ROOT))
    return _GRAPHS[key]


def prod_with_deploy_network() -> Graph:
    return _planned("prod", "prod", lambda c: c.update(deployNetwork=copy.deepcopy(DEPLOY)))


def _private_aws_clusters(graph: Graph) -> list[str]:
    eks = graph.of_type("aws:eks/cluster:Cluster")
    return sorted(
        c.name
        for c in eks
        if c.inputs["vpcConfig"]["endpointPrivateAccess"]
        and not c.inputs["vpcConfig"].get("endpointPublicAccess")
    )


def _cluster_network(graph: Graph, cluster: str) -> tuple[str, str, list[Resource]]:
    """The cluster VPC's id (as references to it read), its CIDR and its private route tables."""
    kids = children_of(graph, component(graph, "inferstack:aws:Network", cluster))
    [vpc] = [r for r in kids if r.type == "aws:ec2/vpc:Vpc"]
    tables = [r for r in kids if r.type == "aws:ec2/routeTable:RouteTable" and "-private-" in r.name]
    subnet = next(r for r in graph.of_type("aws:ec2/subnet:Subnet") if vpc.urn in r.dependencies)
    assert tables
    return subnet.inputs["vpcId"], vpc.inputs["cidrBlock"], tables


def _table_id(graph: Graph, table: Resource) -> str:
    return next(
        r.inputs["routeTableId"] for r in graph.of_type("aws:ec2/route:Route") if table.urn in r.dependencies
    )


def _routes(graph: Graph, table_id: str, cidr: str) -> list[Resource]:
    return [
        r
        for r in graph.of_type("aws:ec2/route:Route")
        if r.inputs.get("routeTableId") == table_id and r.inputs.get("destinationCidrBlock") == cidr
    ]


# --- the network path ---------------------------------------------------------------------------


def test_every_private_aws_cluster_is_peered_with_the_deploy_vpc_and_routed_both_ways() -> None:
    graph = prod_with_deploy_network()
    clusters = _private_aws_clusters(graph)
    assert clusters == ["core-use1", "core-usw2"]
    for cluster in clusters:
        vpc_id, cidr, tables = _cluster_network(graph, cluster)
        [peering] = [
            p
            for p in graph.of_type("aws:ec2/vpcPeeringConnection:VpcPeeringConnection")
            if p.inputs["vpcId"] == vpc_id and p.inputs["peerVpcId"] == DEPLOY["vpcId"]
        ]
        for table in tables:
            [route] = _routes(graph, _table_id(graph, table), DEPLOY["cidr"])
            assert peering.urn in route.dependencies, table.name
        for table_id in DEPLOY["routeTableIds"]:
            [route] = _routes(graph, table_id, cidr)
            assert peering.urn in route.dependencies, (cluster, table_id)
            assert graph.region_of(route) == DEPLOY["region"]
        if graph.region_of(peering) != DEPLOY["region"]:
            # Another region's request is accepted on the deploy side, and its routes wait for that.
            assert peering.inputs["peerRegion"] == DEPLOY["region"]
            [accepter] = [
                a
                for a in graph.of_type("aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter")
                if peering.urn in a.dependencies
            ]
            assert graph.region_of(accepter) == DEPLOY["region"]
            for table_id in DEPLOY["routeTableIds"]:
                assert accepter.urn in _routes(graph, table_id, cidr)[0].dependencies
        else:
            assert peering.inputs["autoAccept"] is True


def test_only_a_private_endpoint_gets_a_path() -> None:
    """A public endpoint is reached over its allow-list; it gets neither a peering nor a route."""

    def change(config: dict[str, Any]) -> None:
        config["deployNetwork"] = copy.deepcopy(DEPLOY)
        core = config["clusters"][0]
        core.update(endpointAccess="public", publicAccessCidrs=["203.0.113.0/24"])

    graph = _planned("dev-public", "dev", change)
    assert not _private_aws_clusters(graph)
    assert not graph.of_type("aws:ec2/vpcPeeringConnection:VpcPeeringConnection")
    assert not [
        r for r in graph.of_type("aws:ec2/route:Route") if r.inputs["routeTableId"] in DEPLOY["routeTableIds"]
    ]


def test_a_stack_without_deploy_network_has_no_path(prod: Graph) -> None:
    peerings = prod.of_type("aws:ec2/vpcPeeringConnection:VpcPeeringConnection")
    assert len(peerings) == 1  # the two core networks, for the Aurora writer
    assert all(p.inputs["peerVpcId"] != DEPLOY["vpcId"] for p in peerings)


def _deployer_rules(graph: Graph, cluster: str) -> list[Resource]:
    group = component(graph, "aws:ec2/securityGroup:SecurityGroup", f"{cluster}-deployers")
    return [
        r
        for r in graph.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if group.urn in r.dependencies
    ]


def test_the_deploy_block_is_admitted_on_443_by_every_private_control_plane() -> None:
    graph = prod_with_deploy_network()
    clusters = _private_aws_clusters(graph)
    assert clusters
    for cluster in clusters:
        [rule] = _deployer_rules(graph, cluster)
        assert rule.inputs["cidrIpv4"] == DEPLOY["cidr"]
        assert rule.inputs["ipProtocol"] == "tcp" and rule.inputs["fromPort"] == rule.inputs["toPort"] == 443
        assert DEPLOY["vpcId"] in rule.inputs["description"]
        eks = component(graph, "aws:eks/cluster:Cluster", cluster)
        group = component(graph, "aws:ec2/securityGroup:SecurityGroup", f"{cluster}-deployers")
        assert group.urn in eks.dependencies


def test_a_deploy_block_also_listed_as_a_deployer_is_admitted_once() -> None:
    def change(config: dict[str, Any]) -> None:
        config["deployNetwork"] = copy.deepcopy(DEPLOY)
        config["deployers"] = [{"cidr": DEPLOY["cidr"], "description": "CI runners"}]

    graph = _planned("prod-listed", "prod", change)
    for cluster in _private_aws_clusters(graph):
        rules = _deployer_rules(graph, cluster)
        assert [r.inputs["cidrIpv4"] for r in rules] == [DEPLOY["cidr"]]
        assert rules[0].inputs["description"] == "CI runners"


# --- the setting ----------------------------------------------------------------------------------


def _raw(stack: str) -> dict[str, Any]:
    return project_config(load_stack_config(find_project(ROOT), stack).values)


def _refused(change: Any, stack: str = "prod") -> list[str]:
    values = _raw(stack)
    values["deployNetwork"] = copy.deepcopy(DEPLOY)
    change(values["deployNetwork"])
    with pytest.raises(SettingsError) as caught:
        parse_settings(values, "stacks/Pulumi.x.yaml")
    return str(caught.value).splitlines()


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (lambda d: d.update(cidr="10.16.128.0/22"), "deployNetwork.cidr", "overlaps 10.16.0.0/16"),
        (
            lambda d: d.update(cidr="172.16.0.0/22"),
            "deployNetwork.cidr",
            "GKE control plane of cluster 'burst-usc1'",
        ),
        (lambda d: d.update(cidr="10.200.0.1/22"), "deployNetwork.cidr", "not a CIDR block"),
        (lambda d: d.update(cidr="10.0.0.0/8"), "deployNetwork.cidr", "from /16 to /28"),
        (lambda d: d.update(cidr="203.0.113.0/24"), "deployNetwork.cidr", "not private address space"),
        (lambda d: d.update(vpcId="vpc-123"), "deployNetwork.vpcId", "not a VPC id"),
        (lambda d: d.update(region="us-east-9"), "deployNetwork.region", "not a known aws region"),
        (
            lambda d: d["routeTableIds"].append("rt-0a1b2c3d"),
            "deployNetwork.routeTableIds[2]",
            "not a route table id",
        ),
        (lambda d: d.update(routeTableIds=[]), "deployNetwork.routeTableIds", "at least 1"),
    ],
    ids=[
        "overlaps a cluster",
        "overlaps a GKE plane",
        "host bits",
        "too big",
        "public",
        "vpc id",
        "region",
        "route table",
        "no tables",
    ],
)
def test_a_broken_deploy_network_is_refused_in_one_line(change: Any, path: str, fragment: str) -> None:
    [line] = _refused(change)
    assert line.startswith(f"stacks/Pulumi.x.yaml: inferstack:{path}: "), line
    assert fragment in line, line


def test_an_overlapping_deploy_network_exits_2_in_one_line_before_anything_is_registered(
    tmp_path: Path,
) -> None:
    data = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())
    data["config"]["deployNetwork"] = {**DEPLOY, "cidr": "10.17.0.0/22"}
    path = tmp_path / "Pulumi.overlap.yaml"
    path.write_text(yaml.safe_dump(data))
    result = run("plan", "overlap", "--config-file", str(path), "--json")
    assert result.returncode == 2 and result.stdout == ""
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert "inferstack:deployNetwork.cidr: 10.17.0.0/22 overlaps 10.17.0.0/16" in line
    assert "core-usw2" in line and "Traceback" not in result.stderr


# --- kubeconfigs kept in Secrets Manager ------------------------------------------------------------


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(x for v in value.values() for x in _walk(v))]
    if isinstance(value, list):
        return [x for v in value for x in _walk(v)]
    return []


@pytest.mark.parametrize("path", sorted((ROOT / "stacks").glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_no_shipped_stack_holds_ciphertext(path: Path) -> None:
    """Ciphertext only this stack's key could open, set once by whoever holds it: none is shipped."""
    data = yaml.safe_load(path.read_text())
    assert [d for d in _walk(data["config"]) if "secure" in d] == []


def test_the_onprem_cluster_is_reached_with_the_kubeconfig_its_secret_holds(onprem: Graph) -> None:
    assert onprem.config is not None and not onprem.config.secret_keys
    [provider] = [p for p in onprem.of_type("pulumi:providers:kubernetes") if p.name == "onprem-core-k8s"]
    assert provider.inputs["kubeconfig"] == "[secret]"
    # The read goes to the secret's region, through that region's provider.
    assert {p.inputs["region"] for p in onprem.of_type("pulumi:providers:aws")} == {"us-east-2"}


class _Recording(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.calls: list[pulumi.runtime.MockCallArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        self.calls.append(args)
        return mocks.invoke(args.token, dict(args.args), "us-east-2")


def test_the_kubeconfig_is_the_secrets_current_value_and_stays_secret() -> None:
    recording = _Recording()
    pulumi.runtime.set_mocks(recording, project="inferstack", stack="unit", preview=False)
    seen: list[tuple[str, bool]] = []

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        provider = aws.Provider("aws-us-east-2", region="us-east-2")
        kubeconfig = kubeconfig_from_secret(ARN, provider=provider)

        async def record(value: str) -> None:
            seen.append((value, await kubeconfig.is_secret()))

        return kubeconfig.apply(record)

    program()
    [call] = recording.calls
    assert call.token == "aws:secretsmanager/getSecretVersion:getSecretVersion"
    assert call.args["secretId"] == ARN
    assert "aws-us-east-2" in (call.provider or "")
    [(value, secret)] = seen
    assert value == mocks.offline_kubeconfig(ARN) and json.loads(value)["kind"] == "Config"
    assert secret


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (
            lambda c: c.update(kubeconfigFrom={"awsSecretArn": "inferstack/onprem/kubeconfig"}),
            "kubeconfigFrom.awsSecretArn",
            "not a Secrets Manager secret ARN",
        ),
        (
            lambda c: c.update(kubeconfigFrom={"awsSecretArn": ARN.replace("us-east-2", "us-east-9")}),
            "kubeconfigFrom.awsSecretArn",
            "not a known aws region",
        ),
        (lambda c: c.pop("kubeconfigFrom"), "kubeconfigFrom", "missing"),
        (
            lambda c: c.update(kubeconfigSecret="onpremKubeconfig"),
            "kubeconfigFrom",
            "set together with kubeconfigSecret",
        ),
    ],
    ids=["not an arn", "unknown region", "no source", "two sources"],
)
def test_a_broken_kubeconfig_source_is_refused_in_one_line(change: Any, path: str, fragment: str) -> None:
    values = _raw("onprem")
    change(values["clusters"][0])
    with pytest.raises(SettingsError) as caught:
        parse_settings(values, "stacks/Pulumi.x.yaml", frozenset({"onpremKubeconfig"}))
    [line] = str(caught.value).splitlines()
    assert line.startswith(f"stacks/Pulumi.x.yaml: inferstack:clusters[0].{path}: "), line
    assert fragment in line, line


def test_a_provisioned_cluster_names_no_kubeconfig_source() -> None:
    values = _raw("dev")
    values["clusters"][0]["kubeconfigFrom"] = {"awsSecretArn": ARN}
    with pytest.raises(
        SettingsError, match=r"clusters\[0\]\.kubeconfigFrom: only for cloud: existing, not aws"
    ):
        parse_settings(values, "stacks/Pulumi.x.yaml")


def test_a_kubeconfig_in_a_secret_config_key_still_works(tmp_path: Path) -> None:
    """`pulumi config set --secret onpremKubeconfig < kubeconfig` and kubeconfigSecret, as before."""
    data = yaml.safe_load((ROOT / "stacks" / "Pulumi.onprem.yaml").read_text())
    core = data["config"]["clusters"][0]
    core.pop("kubeconfigFrom")
    core["kubeconfigSecret"] = "onpremKubeconfig"
    data["config"]["onpremKubeconfig"] = {"secure": "v1:AAAA:BBBB"}
    path = tmp_path / "Pulumi.keyed.yaml"
    path.write_text(yaml.safe_dump(data))
    graph = plan_stack("keyed", config_file=path, project=find_project(ROOT))
    [provider] = [p for p in graph.of_type("pulumi:providers:kubernetes") if p.name == "onprem-core-k8s"]
    assert provider.inputs["kubeconfig"] == "[secret]"
    assert graph.config is not None and graph.config.secret_keys == {"inferstack:onpremKubeconfig"}
