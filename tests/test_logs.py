"""Logs: the clouds' pipelines carry every cluster's container logs for the environment's retention,
and no prompt or completion reaches them."""

from __future__ import annotations

import json

import pytest
import yaml

from inferstack.engine import Graph, Resource
from infra.catalog import catalog
from tests.conftest import planned

ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
EKS = "aws:eks/cluster:Cluster"
GKE = "gcp:container/cluster:Cluster"
OBSERVABILITY = "amazon-cloudwatch-observability"
AWS_STACKS = ("dev", "staging", "prod", "onprem")
RETENTION = {"dev": 7, "staging": 14, "prod": 90, "onprem": 30}
"""logRetentionDays of each shipped stack file."""


def _observability(graph: Graph) -> list[Resource]:
    found = [a for a in graph.of_type(ADDON) if a.inputs["addonName"] == OBSERVABILITY]
    assert found, "no CloudWatch Observability add-on"
    return found


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_eks_cluster_ships_its_logs_with_the_pinned_observability_addon(stack: str) -> None:
    graph = planned(stack)
    clusters = graph.of_type(EKS)
    addons = _observability(graph)
    assert len(addons) == len(clusters)
    for addon in addons:
        (cluster,) = [c for c in clusters if c.parent == addon.parent]
        assert addon.inputs["addonVersion"] == catalog().eks_addons[cluster.inputs["version"]][OBSERVABILITY]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_agents_get_cloudwatch_rights_through_pod_identity_not_the_nodes(stack: str) -> None:
    graph = planned(stack)
    roles = {r.name: r for r in graph.of_type(ROLE)}
    for addon in _observability(graph):
        (association,) = addon.inputs["podIdentityAssociations"]
        assert association["serviceAccount"] == "cloudwatch-agent"
        (role,) = [
            r for r in roles.values() if r.urn in addon.dependencies and r.name.endswith("-cloudwatch")
        ]
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert trust == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ]
        policies = [
            a.inputs["policyArn"]
            for a in graph.of_type(ATTACHMENT)
            if a.name.startswith(role.name) and a.urn in addon.dependencies
        ]
        assert policies == ["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]
        node_roles = [r for r in roles.values() if r.name.endswith("-node") and r.parent == addon.parent]
        assert node_roles
        assert not [
            a
            for a in graph.of_type(ATTACHMENT)
            if "CloudWatchAgentServerPolicy" in str(a.inputs["policyArn"])
            and a.name.startswith(node_roles[0].name)
        ]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_container_logs_are_kept_for_the_environments_retention_and_encrypted(stack: str) -> None:
    graph = planned(stack)
    groups = [g for g in graph.of_type(LOG_GROUP) if "/aws/containerinsights/" in g.inputs.get("name", "")]
    assert sorted({g.inputs["name"].rsplit("/", 1)[1] for g in groups}) == [
        "application",
        "dataplane",
        "host",
        "performance",
    ]
    assert len(groups) == 4 * len(graph.of_type(EKS))
    for group in groups:
        assert group.inputs["retentionInDays"] == RETENTION[stack]
        assert group.inputs["kmsKeyId"]
    # The agents would create the groups themselves, with no retention, if the add-on came first.
    for addon in _observability(graph):
        mine = [g for g in groups if g.parent == addon.parent]
        assert mine and {g.urn for g in mine} <= set(addon.dependencies)


def test_the_cluster_key_lets_cloudwatch_logs_encrypt_the_container_log_groups() -> None:
    graph = planned("prod")
    keys = [k for k in graph.of_type("aws:kms/key:Key") if k.name.endswith("-eks")]
    assert keys
    for key in keys:
        statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
        condition = statements["ContainerLogGroups"]["Condition"]["ArnLike"]
        arn = condition["kms:EncryptionContext:aws:logs:arn"]
        # Only this cluster's container log groups: /aws/containerinsights/<cluster>/*.
        assert ":log-group:/aws/containerinsights/inferstack-prod-" in arn and arn.endswith("/*")
        assert statements["ContainerLogGroups"]["Principal"] == {
            "Service": "logs.us-east-1.amazonaws.com"
        } or (statements["ContainerLogGroups"]["Principal"]["Service"].startswith("logs."))


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_gke_sends_system_and_workload_logs_to_cloud_logging(stack: str) -> None:
    clusters = planned(stack).of_type(GKE)
    assert clusters
    for cluster in clusters:
        components = cluster.inputs["loggingConfig"]["enableComponents"]
        assert {"SYSTEM_COMPONENTS", "WORKLOADS"} <= set(components)


# --- no prompt bodies in logs -------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_gateway_logs_no_request_or_response_bodies(stack: str) -> None:
    graph = planned(stack)
    configs = [
        c for c in graph.of_type("kubernetes:core/v1:ConfigMap") if c.name.endswith("-gateway-litellm-config")
    ]
    assert configs
    for config_map in configs:
        config = yaml.safe_load(config_map.inputs["data"]["config.yaml"])
        # LiteLLM: messages and responses stay out of every logging callback.
        assert config["litellm_settings"]["turn_off_message_logging"] is True
        assert not config["litellm_settings"].get("set_verbose")
        assert not config.get("general_settings", {}).get("store_prompts_in_spend_logs")
    gateways = [
        d
        for d in graph.of_type("kubernetes:apps/v1:Deployment")
        if d.inputs["metadata"]["name"].startswith("gateway") or "litellm" in json.dumps(d.inputs["spec"])
    ]
    assert gateways
    for deployment in gateways:
        for container in deployment.inputs["spec"]["template"]["spec"]["containers"]:
            levels = [e.get("value") for e in container.get("env", []) if e.get("name") == "LITELLM_LOG"]
            assert levels in ([], ["ERROR"], ["WARNING"]), levels  # DEBUG and INFO print payloads


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "onprem"])
def test_vllm_does_not_log_requests(stack: str) -> None:
    servers = [
        d
        for d in planned(stack).of_type("kubernetes:apps/v1:Deployment")
        if d.inputs["metadata"]["name"].startswith("vllm-")
    ]
    assert servers
    for server in servers:
        (container,) = server.inputs["spec"]["template"]["spec"]["containers"]
        flags = {a.split("=", 1)[0] for a in container["args"]}
        # vLLM logs requests only with --enable-log-requests (AsyncEngineArgs.enable_log_requests,
        # default False); --disable-log-requests was removed in v0.12 and would stop the server.
        assert not flags & {"--enable-log-requests", "--enable-log-outputs", "--disable-log-requests"}
