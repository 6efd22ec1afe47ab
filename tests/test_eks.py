"""The EKS clusters: what the shipped stacks build, through the offline engine, and the pure rules behind it.

Plans are read as the engine sees them: resource type, logical name, camelCase inputs,
dependencies and parents. A node group is tied to its launch template, and a cluster to its
key and log group, by dependency, never by mocked ids or ARNs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from inferstack import engine
from inferstack.engine import Graph, Resource, plan_stack
from inferstack.project import find_project
from infra.aws.eks import (
    CLUSTER_LOG_TYPES,
    EksClusterArgs,
    key_policy,
    kubeconfig,
    support_warning,
)
from infra.aws.nodegroups import (
    ami_type_for,
    capacity_type_for,
    machine_of,
    node_template_tags,
    pool_labels,
    pool_taints,
)
from infra.catalog import catalog
from infra.settings import Capacity, Deployer, Environment, NodePool, Role
from tests.conftest import DEPLOYERS, ROOT, children_of, planned, prod_with_deployers

EKS = "inferstack:aws:EksCluster"
CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ADDON = "aws:eks/addon:Addon"
ASG_TAG = "aws:autoscaling/tag:Tag"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
AWS_STACKS = ["dev", "staging", "prod", "onprem"]
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}


# --- reading a plan ------------------------------------------------------------------------


def eks_clusters(graph: Graph) -> list[Resource]:
    return graph.of_type(EKS)


def parts(graph: Graph, component: Resource, token: str) -> list[Resource]:
    return [r for r in children_of(graph, component) if r.type == token]


def one(graph: Graph, component: Resource, token: str) -> Resource:
    found = parts(graph, component, token)
    assert len(found) == 1, f"{component.name}: {len(found)} {token}"
    return found[0]


def depends_on(graph: Graph, resource: Resource, token: str) -> list[Resource]:
    index = graph.by_urn()
    return [index[urn] for urn in resource.dependencies if urn in index and index[urn].type == token]


def node_groups(graph: Graph) -> Iterator[tuple[Resource, Resource]]:
    """Every (EKS component, node group) of the stack."""
    for eks in eks_clusters(graph):
        for group in parts(graph, eks, NODE_GROUP):
            yield eks, group


def is_gpu(group: Resource) -> bool:
    return group.inputs["labels"].get("nvidia.com/gpu.present") == "true"


def role_of(group: Resource) -> str:
    return group.inputs["labels"]["inferstack.io/role"]


# --- the shipped stacks ----------------------------------------------------------------------


def test_prod_builds_an_eks_cluster_per_aws_core_cluster() -> None:
    prod = planned("prod")
    assert sorted(c.name for c in eks_clusters(prod)) == ["core-use1", "core-usw2"]
    for eks in eks_clusters(prod):
        cluster = one(prod, eks, CLUSTER)
        # Cloud-side names carry project and stack, so two stacks in one account never collide.
        assert cluster.inputs["name"] == f"inferstack-prod-{eks.name}"
        assert len(cluster.inputs["vpcConfig"]["subnetIds"]) == 3


def test_prod_api_endpoints_are_private() -> None:
    prod = planned("prod")
    for eks in eks_clusters(prod):
        vpc = one(prod, eks, CLUSTER).inputs["vpcConfig"]
        assert vpc["endpointPrivateAccess"] is True
        assert vpc["endpointPublicAccess"] is False
        assert "publicAccessCidrs" not in vpc


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_secrets_are_envelope_encrypted_with_the_clusters_own_key(stack: str) -> None:
    graph = planned(stack)
    for eks in eks_clusters(graph):
        cluster = one(graph, eks, CLUSTER)
        config = cluster.inputs["encryptionConfig"]
        assert config["resources"] == ["secrets"]
        assert config["provider"]["keyArn"] not in ("", "[unknown]")
        assert depends_on(graph, cluster, KEY) == [one(graph, eks, KEY)]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_kms_keys_rotate_and_trust_no_wildcard_principal(stack: str) -> None:
    graph = planned(stack)
    for eks in eks_clusters(graph):
        key = one(graph, eks, KEY)
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["deletionWindowInDays"] == 30
        assert key.inputs.get("bypassPolicyLockoutSafetyCheck") in (None, False)
        policy = json.loads(key.inputs["policy"])
        for statement in policy["Statement"]:
            for principal in statement["Principal"].values():
                assert "*" not in (principal if isinstance(principal, list) else [principal]), statement
        services = {s["Principal"].get("Service") for s in policy["Statement"]}
        region = graph.region_of(key)
        assert f"logs.{region}.amazonaws.com" in services


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_control_plane_logs_everything_to_a_retained_encrypted_group(stack: str) -> None:
    graph = planned(stack)
    retention = {"dev": 7, "staging": 14, "prod": 90, "onprem": 30}[stack]
    for eks in eks_clusters(graph):
        cluster = one(graph, eks, CLUSTER)
        assert cluster.inputs["enabledClusterLogTypes"] == list(CLUSTER_LOG_TYPES)
        assert set(CLUSTER_LOG_TYPES) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
        (log_group,) = [g for g in parts(graph, eks, LOG_GROUP) if g.inputs["name"].startswith("/aws/eks/")]
        assert log_group.inputs["name"] == f"/aws/eks/{cluster.inputs['name']}/cluster"
        assert log_group.inputs["retentionInDays"] == retention
        assert log_group.inputs["kmsKeyId"]
        # Created first, so that EKS does not create an unmanaged group that never expires.
        assert log_group in depends_on(graph, cluster, LOG_GROUP)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_access_is_by_access_entries_only(stack: str) -> None:
    graph = planned(stack)
    for eks in eks_clusters(graph):
        access = one(graph, eks, CLUSTER).inputs["accessConfig"]
        assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
        association = one(graph, eks, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        assert association.inputs["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
        assert association.inputs["accessScope"] == {"type": "cluster"}
        assert association.inputs["principalArn"].startswith("arn:aws:iam::")


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_clusters_upgrade_instead_of_paying_for_extended_support(stack: str) -> None:
    graph = planned(stack)
    for eks in eks_clusters(graph):
        assert one(graph, eks, CLUSTER).inputs["upgradePolicy"] == {"supportType": "STANDARD"}


def test_prod_protects_what_cannot_be_recreated() -> None:
    prod, dev = planned("prod"), planned("dev")
    for eks in eks_clusters(prod):
        assert one(prod, eks, CLUSTER).inputs["deletionProtection"] is True
        assert one(prod, eks, KEY).protect and all(g.protect for g in parts(prod, eks, LOG_GROUP))
    for eks in eks_clusters(dev):
        assert one(dev, eks, CLUSTER).inputs["deletionProtection"] is False
        assert not one(dev, eks, KEY).protect


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_gpu_node_group_is_tainted_and_hardened(stack: str) -> None:
    graph = planned(stack)
    gpu_groups = [(eks, g) for eks, g in node_groups(graph) if is_gpu(g)]
    assert gpu_groups, stack
    for _eks, group in gpu_groups:
        assert group.inputs["taints"] == [GPU_TAINT], group.name
        assert group.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
        assert "remoteAccess" not in group.inputs
        (template,) = depends_on(graph, group, LAUNCH_TEMPLATE)
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required"
        assert metadata["httpPutResponseHopLimit"] == 1
        (root,) = template.inputs["blockDeviceMappings"]
        assert root["deviceName"] == "/dev/xvda"
        assert root["ebs"]["volumeType"] == "gp3"
        assert root["ebs"]["encrypted"] == "true"
        assert root["ebs"]["kmsKeyId"]
        assert "keyName" not in template.inputs and "imageId" not in template.inputs


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_system_node_groups_are_untainted_standard_nodes(stack: str) -> None:
    graph = planned(stack)
    for _eks, group in node_groups(graph):
        if not is_gpu(group):
            assert "taints" not in group.inputs
            assert group.inputs["amiType"] == "AL2023_x86_64_STANDARD"


def test_root_volume_size_follows_the_pool() -> None:
    prod = planned("prod")
    for eks, group in node_groups(prod):
        (template,) = depends_on(prod, group, LAUNCH_TEMPLATE)
        expected = 2048 if is_gpu(group) else 200
        assert template.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == expected, (
            eks.name,
            group.name,
        )


def test_burst_gpu_node_groups_are_spot_from_zero() -> None:
    onprem = planned("onprem")
    burst = [g for _e, g in node_groups(onprem) if role_of(g) == "burst" and is_gpu(g)]
    assert burst
    for group in burst:
        assert group.inputs["capacityType"] == "SPOT"
        assert group.inputs["scalingConfig"]["minSize"] == 0
        assert group.inputs["instanceTypes"] == ["g6e.12xlarge"]


def test_core_gpu_node_groups_keep_an_on_demand_floor() -> None:
    prod = planned("prod")
    for eks in eks_clusters(prod):
        gpu = [g for g in parts(prod, eks, NODE_GROUP) if is_gpu(g)]
        assert all(role_of(g) == "core" for g in gpu)
        floor = [
            g
            for g in gpu
            if g.inputs["capacityType"] == "ON_DEMAND" and g.inputs["scalingConfig"]["minSize"] >= 1
        ]
        assert floor, eks.name


def test_spot_pools_in_core_clusters_are_spot() -> None:
    prod = planned("prod")
    spot = [g for _e, g in node_groups(prod) if g.inputs["labels"]["inferstack.io/pool"] == "h200-spot"]
    assert [g.inputs["capacityType"] for g in spot] == ["SPOT"]


def test_gpu_node_groups_carry_scheduling_labels() -> None:
    prod = planned("prod")
    for eks, group in node_groups(prod):
        labels = group.inputs["labels"]
        assert labels["inferstack.io/role"] == "core"
        assert labels["inferstack.io/pool"] in ("system", "h200", "h200-spot"), eks.name
        if is_gpu(group):
            assert labels["inferstack.io/accelerator"] == "H200"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_node_groups_are_discoverable_by_the_cluster_autoscaler(stack: str) -> None:
    graph = planned(stack)
    for eks, group in node_groups(graph):
        tags = group.inputs["tags"]
        assert tags["k8s.io/cluster-autoscaler/enabled"] == "true"
        assert tags[f"k8s.io/cluster-autoscaler/inferstack-{stack}-{eks.name}"] == "owned"
        if is_gpu(group):
            assert (
                tags["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"] == "present:NoSchedule"
            )


def test_scale_from_zero_pools_describe_their_nodes_on_the_auto_scaling_group() -> None:
    onprem = planned("onprem")
    (eks,) = eks_clusters(onprem)
    (spot,) = [g for g in parts(onprem, eks, NODE_GROUP) if g.inputs["scalingConfig"]["minSize"] == 0]
    asg_tags = {
        t.inputs["tag"]["key"]: t.inputs["tag"]["value"]
        for t in parts(onprem, eks, ASG_TAG)
        if spot in depends_on(onprem, t, NODE_GROUP)
    }
    template = "k8s.io/cluster-autoscaler/node-template"
    assert asg_tags[f"{template}/taint/nvidia.com/gpu"] == "present:NoSchedule"
    assert asg_tags[f"{template}/resources/nvidia.com/gpu"] == "4"
    assert asg_tags[f"{template}/label/inferstack.io/role"] == "burst"
    assert asg_tags[f"{template}/label/nvidia.com/gpu.present"] == "true"
    # Groups that never reach zero always have a node to learn from.
    assert all(spot in depends_on(onprem, t, NODE_GROUP) for t in parts(onprem, eks, ASG_TAG))


@pytest.fixture(scope="module")
def ignored_changes() -> dict[str, list[str]]:
    """The prod plan once more, keeping each registration's ignoreChanges (the graph does not carry it)."""
    seen: dict[str, list[str]] = {}
    original = engine.RecordingMonitor.RegisterResource

    def register(self: engine.RecordingMonitor, request: Any) -> Any:
        response = original(self, request)
        seen[response.urn] = list(request.ignoreChanges)
        return response

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine.RecordingMonitor, "RegisterResource", register)
        plan_stack("prod", project=find_project(ROOT))
    return seen


def test_node_groups_leave_their_size_to_the_autoscaler(ignored_changes: dict[str, list[str]]) -> None:
    groups = [g for _e, g in node_groups(planned("prod"))]
    assert len(groups) == 5
    for group in groups:
        assert ignored_changes[group.urn] == ["scalingConfig.desiredSize"], group.name


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_addons_are_pinned_for_the_clusters_version(stack: str) -> None:
    graph = planned(stack)
    for eks in eks_clusters(graph):
        version = one(graph, eks, CLUSTER).inputs["version"]
        addons = {a.inputs["addonName"]: a for a in parts(graph, eks, ADDON)}
        assert set(addons) == {
            "vpc-cni",
            "kube-proxy",
            "coredns",
            "eks-pod-identity-agent",
            "amazon-cloudwatch-observability",
            "aws-ebs-csi-driver",
        }
        for name, addon in addons.items():
            assert addon.inputs["addonVersion"] == catalog().eks_addons[version][name]
            assert addon.inputs["resolveConflictsOnUpdate"] == "OVERWRITE"
        # CoreDNS is a Deployment: it needs nodes to run on before it reports healthy.
        groups = {g.urn for g in parts(graph, eks, NODE_GROUP)}
        assert groups <= {g.urn for g in depends_on(graph, addons["coredns"], NODE_GROUP)}


def test_irsa_trusts_the_clusters_issuer() -> None:
    prod = planned("prod")
    for eks in eks_clusters(prod):
        oidc = one(prod, eks, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
        assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
        assert oidc.inputs["url"].startswith("https://oidc.eks.")
        assert one(prod, eks, CLUSTER) in depends_on(prod, oidc, CLUSTER)


def _attached(graph: Graph, eks: Resource, service: str) -> set[str]:
    (role,) = [
        r
        for r in parts(graph, eks, ROLE)
        if json.loads(r.inputs["assumeRolePolicy"])["Statement"][0]["Principal"]["Service"] == service
    ]
    return {
        a.inputs["policyArn"].rsplit("/", 1)[-1]
        for a in parts(graph, eks, ATTACHMENT)
        if role in depends_on(graph, a, ROLE)
    }


def test_roles_carry_only_the_managed_policies_they_need() -> None:
    prod = planned("prod")
    for eks in eks_clusters(prod):
        assert _attached(prod, eks, "eks.amazonaws.com") == {"AmazonEKSClusterPolicy"}
        assert _attached(prod, eks, "ec2.amazonaws.com") == {
            "AmazonEKSWorkerNodePolicy",
            "AmazonEC2ContainerRegistryPullOnly",
            "AmazonEKS_CNI_Policy",
        }


def test_kubernetes_provider_authenticates_with_the_aws_cli() -> None:
    prod = planned("prod")
    for eks in eks_clusters(prod):
        (provider,) = parts(prod, eks, "pulumi:providers:kubernetes")
        assert provider.name == f"{eks.name}-k8s"
        assert provider.inputs["enableServerSideApply"] in (True, "true")
        config = json.loads(provider.inputs["kubeconfig"])
        (user,) = config["users"]
        command = user["user"]["exec"]
        assert command["apiVersion"] == "client.authentication.k8s.io/v1beta1"
        assert command["command"] == "aws"
        region = prod.region_of(one(prod, eks, CLUSTER))
        physical = one(prod, eks, CLUSTER).inputs["name"]
        assert command["args"] == ["eks", "get-token", "--cluster-name", physical, "--region", region]
        assert config["clusters"][0]["cluster"]["server"].startswith("https://")
        # Built only once an admin may use the API.
        assert depends_on(prod, provider, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")


# --- a path into the private endpoint: the deployers ----------------------------------------

RUNNERS, VPN = (Deployer(cidr=cidr, description=about) for cidr, about in DEPLOYERS)


@pytest.fixture(scope="module")
def with_deployers(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    return prod_with_deployers(tmp_path_factory)


def deployer_group(graph: Graph, eks: Resource) -> Resource:
    """The security group the cluster hands EKS for its control-plane interfaces."""
    cluster = one(graph, eks, CLUSTER)
    (group,) = depends_on(graph, cluster, SECURITY_GROUP)
    assert group in parts(graph, eks, SECURITY_GROUP)
    return group


def rules_of(graph: Graph, group: Resource, token: str = INGRESS) -> list[Resource]:
    return [r for r in graph.of_type(token) if group in depends_on(graph, r, SECURITY_GROUP)]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_control_plane_gets_a_group_of_its_own_for_deployers(stack: str) -> None:
    """Attached at creation even when no deployer is listed: listing one later adds a rule only."""
    graph = planned(stack)
    assert eks_clusters(graph), stack
    for eks in eks_clusters(graph):
        group = deployer_group(graph, eks)
        # The cluster's one extra group is the one it depends on (ids are mocked; the dependency is not).
        (group_id,) = one(graph, eks, CLUSTER).inputs["vpcConfig"]["securityGroupIds"]
        assert group_id and group_id != "[unknown]"
        assert "ingress" not in group.inputs and "egress" not in group.inputs
        assert rules_of(graph, group) == [] and rules_of(graph, group, EGRESS) == [], stack


def test_each_deployer_is_admitted_on_443_to_every_cluster_and_nowhere_else(with_deployers: Graph) -> None:
    graph = with_deployers
    clusters = eks_clusters(graph)
    assert len(clusters) == 2
    for eks in clusters:
        group = deployer_group(graph, eks)
        rules = rules_of(graph, group)
        assert sorted(r.inputs["cidrIpv4"] for r in rules) == sorted([RUNNERS.cidr, VPN.cidr])
        for rule in rules:
            assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
                "tcp",
                443,
                443,
            )
            deployer = RUNNERS if rule.inputs["cidrIpv4"] == RUNNERS.cidr else VPN
            assert rule.inputs["description"] == deployer.description
            assert graph.region_of(rule) == graph.region_of(one(graph, eks, CLUSTER))
        # Stateful: the responses leave without an egress rule, and none is added.
        assert rules_of(graph, group, EGRESS) == []
    admitted = [r for r in graph.of_type(INGRESS) if r.inputs.get("cidrIpv4") in (RUNNERS.cidr, VPN.cidr)]
    assert len(admitted) == 4, [r.name for r in admitted]
    # Nothing else changes: the same resources as the shipped prod, plus the four rules.
    shipped = {(r.type, r.name) for r in planned("prod").resources}
    assert {(r.type, r.name) for r in graph.resources} - shipped == {(INGRESS, r.name) for r in admitted}


# --- the rules, without Pulumi --------------------------------------------------------------


def pool(**overrides: Any) -> NodePool:
    values: dict[str, Any] = {"name": "system", "machine_type": "m7i.large", "min_size": 1, "max_size": 3}
    return NodePool(**{**values, **overrides})


def gpu_pool(**overrides: Any) -> NodePool:
    values: dict[str, Any] = {
        "name": "l40s",
        "machine_type": "g6e.12xlarge",
        "accelerator": "L40S",
        "capacity": Capacity.SPOT,
        "min_size": 0,
        "max_size": 4,
    }
    return NodePool(**{**values, **overrides})


def test_ami_type_follows_the_accelerator() -> None:
    assert ami_type_for(machine_of(gpu_pool())) == "AL2023_x86_64_NVIDIA"
    assert ami_type_for(machine_of(pool())) == "AL2023_x86_64_STANDARD"


def test_capacity_types() -> None:
    assert capacity_type_for(Capacity.ON_DEMAND) == "ON_DEMAND"
    assert capacity_type_for(Capacity.SPOT) == "SPOT"
    assert capacity_type_for(Capacity.RESERVED) == "CAPACITY_BLOCK"


def test_gpu_pool_labels_taints_and_node_template() -> None:
    gpu = gpu_pool(labels={"team": "serving"})
    assert pool_labels(gpu, Role.BURST) == {
        "inferstack.io/pool": "l40s",
        "inferstack.io/role": "burst",
        "inferstack.io/accelerator": "L40S",
        "nvidia.com/gpu.present": "true",
        "team": "serving",
    }
    (taint,) = pool_taints(gpu)
    assert (taint.key, taint.value, taint.effect, taint.kubernetes_effect) == (
        "nvidia.com/gpu",
        "present",
        "NO_SCHEDULE",
        "NoSchedule",
    )
    tags = node_template_tags(gpu, Role.BURST)
    assert tags["k8s.io/cluster-autoscaler/node-template/label/team"] == "serving"
    assert tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"] == "4"
    assert pool_taints(pool()) == []
    assert "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu" not in node_template_tags(
        pool(), Role.CORE
    )


def test_a_version_past_standard_support_is_called_out() -> None:
    assert support_warning("1.33", dt.date(2026, 7, 29)) is None
    warning = support_warning("1.33", dt.date(2026, 7, 30))
    assert warning is not None
    assert "left standard support on 2026-07-29" in warning
    assert "1.35 (until 2027-03-27)" in warning


def test_the_deployer_access_entry_names_the_real_role_with_its_path(dev: Graph) -> None:
    """An Identity Center session's role has a path the STS ARN does not show; the entry keeps it."""
    from inferstack import mocks

    [entry] = [e for e in dev.of_type("aws:eks/accessEntry:AccessEntry") if e.name.endswith("-deployer")]
    assert entry.inputs["principalArn"] == (
        f"arn:aws:iam::{mocks.ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{mocks.DEPLOYER_ROLE}"
    )
    assert ":sts::" not in entry.inputs["principalArn"]


def test_session_context_mock_follows_the_data_sources_documented_answers() -> None:
    from inferstack import mocks

    user = "arn:aws:iam::123456789012:user/alice"
    assert (
        mocks.invoke("aws:iam/getSessionContext:getSessionContext", {"arn": user}, "x")["issuerArn"] == user
    )
    plain = "arn:aws:sts::123456789012:assumed-role/deployer/ci-1234"
    answer = mocks.invoke("aws:iam/getSessionContext:getSessionContext", {"arn": plain}, "x")
    assert answer["issuerArn"] == "arn:aws:iam::123456789012:role/deployer"


def test_key_policy_scopes_the_logs_service_to_the_clusters_log_group() -> None:
    policy = json.loads(
        key_policy(
            account_id="123456789012",
            partition="aws",
            dns_suffix="amazonaws.com",
            region="us-east-2",
            cluster_name="burst-use2",
        )
    )
    (logs,) = [s for s in policy["Statement"] if s.get("Sid") == "ControlPlaneLogGroup"]
    assert logs["Principal"]["Service"] == "logs.us-east-2.amazonaws.com"
    assert logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"] == (
        "arn:aws:logs:us-east-2:123456789012:log-group:/aws/eks/burst-use2/cluster"
    )
    root = [s for s in policy["Statement"] if s["Principal"].get("AWS") == "arn:aws:iam::123456789012:root"]
    assert len(root) == 1
    # The add-on's container log groups, and no other group of the account.
    (containers,) = [s for s in policy["Statement"] if s.get("Sid") == "ContainerLogGroups"]
    assert containers["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        "arn:aws:logs:us-east-2:123456789012:log-group:/aws/containerinsights/burst-use2/*"
    )


def test_kubeconfig_holds_no_credentials() -> None:
    text = kubeconfig(
        cluster_name="core-use1",
        endpoint="https://x.eks.amazonaws.com",
        certificate_authority="Q0E=",
        region="us-east-1",
    )
    user = json.loads(text)["users"][0]["user"]
    assert set(user) == {"exec"}


def args(**overrides: Any) -> EksClusterArgs:
    values: dict[str, Any] = {
        "cluster_name": "core-use1",
        "region": "us-east-1",
        "kubernetes_version": "1.33",
        "vpc_id": "vpc-1",
        "private_subnet_ids": ["subnet-a", "subnet-b"],
        "zones": ["us-east-1a", "us-east-1b"],
        "endpoint_public": False,
        "log_retention_days": 30,
        "node_pools": [pool(), gpu_pool()],
        "role": Role.CORE,
        "environment": Environment.DEV,
        "tags": {"environment": "dev"},
    }
    return EksClusterArgs(**{**values, **overrides})


def test_valid_args() -> None:
    assert args().endpoint_public is False
    assert args(endpoint_public=True, public_access_cidrs=["203.0.113.0/24"]).public_access_cidrs


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"endpoint_public": True}, "public_access_cidrs"),
        ({"endpoint_public": True, "public_access_cidrs": ["0.0.0.0/0"]}, "not the internet"),
        ({"public_access_cidrs": ["203.0.113.0/24"]}, "only for a public endpoint"),
        ({"kubernetes_version": "1.31"}, "no add-on versions are pinned"),
        ({"log_retention_days": 10}, "log_retention_days=10"),
        ({"node_pools": [gpu_pool()]}, "CoreDNS"),
        ({"node_pools": [pool(), gpu_pool(capacity=Capacity.RESERVED)]}, "Capacity Block"),
        ({"capacity_reservation_ids": {"system": "cr-1"}}, "not reserved pools"),
        ({"admin_principal_arns": ["arn:aws:sts::123456789012:assumed-role/a/b"]}, "not an IAM role"),
        ({"cluster_name": "bad name"}, "cluster_name"),
        ({"deployers": [RUNNERS, RUNNERS]}, "must be distinct"),
        ({"deployers": [Deployer.model_construct(cidr="0.0.0.0/0", description="all")]}, "'0.0.0.0/0'"),
    ],
)
def test_invalid_args_are_rejected_before_any_resource(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        args(**overrides)


def test_a_reserved_pool_with_its_capacity_block_is_accepted() -> None:
    reserved = gpu_pool(capacity=Capacity.RESERVED, min_size=1)
    built = args(node_pools=[pool(), reserved], capacity_reservation_ids={"l40s": "cr-0123456789abcdef0"})
    assert built.capacity_reservation_ids == {"l40s": "cr-0123456789abcdef0"}
