"""The pack's guards, applied offline the way the analyzer applies them."""

from __future__ import annotations

import copy
import runpy
import sys
from pathlib import Path

import pytest

from inferstack.engine import Graph, Resource
from inferstack.policy import PACK, check_graph
from policies.guards import POLICIES
from tests.conftest import ROOT, planned


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "onprem"])
def test_shipped_stacks_pass_every_mandatory_guard(stack: str) -> None:
    violations = check_graph(planned(stack))
    assert [v for v in violations if v["enforcement"] == "mandatory"] == []


def _graph_with(resource: Resource) -> Graph:
    return Graph(project="inferstack", stack="t", source="t", resources=[resource], outputs={})


def _resource(token: str, inputs: dict) -> Resource:
    return Resource(
        urn=f"urn:pulumi:t::inferstack::{token}::x",
        type=token,
        name="x",
        parent=None,
        provider=None,
        custom=True,
        inputs=inputs,
        dependencies=[],
        protect=False,
    )


BAD = [
    (
        "eks-endpoint-private",
        "aws:eks/cluster:Cluster",
        {
            "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
            "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "k"}},
        },
    ),
    ("eks-secrets-encrypted", "aws:eks/cluster:Cluster", {"vpcConfig": {"endpointPublicAccess": False}}),
    (
        "launch-template-imdsv2",
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"metadataOptions": {"httpTokens": "optional"}},
    ),
    ("kms-key-rotation", "aws:kms/key:Key", {"enableKeyRotation": False}),
    (
        "gke-private-cluster",
        "gcp:container/cluster:Cluster",
        {"privateClusterConfig": {"enablePrivateNodes": False}},
    ),
    (
        "gke-metadata-server",
        "gcp:container/nodePool:NodePool",
        {"nodeConfig": {"workloadMetadataConfig": {"mode": "GCE_METADATA"}}},
    ),
    ("aurora-encrypted", "aws:rds/cluster:Cluster", {"storageEncrypted": False}),
    ("db-instance-private", "aws:rds/clusterInstance:ClusterInstance", {"publiclyAccessible": True}),
    (
        "redis-encrypted",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"atRestEncryptionEnabled": True},
    ),
    (
        "health-check-interval",
        "aws:route53/healthCheck:HealthCheck",
        {"type": "HTTPS", "requestInterval": 60},
    ),
    (
        "backend-cloud-armor",
        "gcp:compute/backendService:BackendService",
        {"loadBalancingScheme": "EXTERNAL_MANAGED", "logConfig": {"enable": True}},
    ),
]


@pytest.mark.parametrize(("policy", "token", "inputs"), BAD, ids=[b[0] for b in BAD])
def test_each_guard_catches_its_violation(policy: str, token: str, inputs: dict) -> None:
    violations = check_graph(_graph_with(_resource(token, inputs)), POLICIES)
    assert [v["policy"] for v in violations] == [policy]
    assert violations[0]["enforcement"] == "mandatory"


_ENCRYPTED = {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "k"}}}


@pytest.mark.parametrize(
    "cidrs",
    [
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"],
        ["203.0.113.0/24", "0.0.0.0/0"],
    ],
    ids=["halves", "three pieces", "one of several"],
)
def test_the_eks_endpoint_guard_sees_the_whole_internet_in_pieces(cidrs: list[str]) -> None:
    inputs = {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": cidrs}, **_ENCRYPTED}
    violations = check_graph(_graph_with(_resource("aws:eks/cluster:Cluster", inputs)), POLICIES)
    assert [v["policy"] for v in violations] == ["eks-endpoint-private"]


def test_the_eks_endpoint_guard_lets_half_the_internet_through_as_an_allow_list() -> None:
    inputs = {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/1"]}, **_ENCRYPTED}
    assert check_graph(_graph_with(_resource("aws:eks/cluster:Cluster", inputs)), POLICIES) == []


def test_the_gke_guard_sees_master_authorized_networks_that_cover_the_internet() -> None:
    inputs = {
        "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": False},
        "masterAuthorizedNetworksConfig": {
            "cidrBlocks": [{"cidrBlock": "0.0.0.0/1"}, {"cidrBlock": "128.0.0.0/1", "displayName": "rest"}]
        },
        "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"},
    }
    violations = check_graph(_graph_with(_resource("gcp:container/cluster:Cluster", inputs)), POLICIES)
    assert [v["policy"] for v in violations] == ["gke-private-cluster"]
    assert "whole internet" in violations[0]["message"]
    inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"] = [{"cidrBlock": "203.0.113.0/24"}]
    assert check_graph(_graph_with(_resource("gcp:container/cluster:Cluster", inputs)), POLICIES) == []


def test_a_weakened_prod_graph_is_caught() -> None:
    prod = planned("prod")
    weakened = copy.deepcopy(prod)
    for r in weakened.resources:
        if r.type == "aws:ec2/launchTemplate:LaunchTemplate":
            r.inputs["metadataOptions"]["httpTokens"] = "optional"
    names = {v["policy"] for v in check_graph(weakened)}
    assert ("launch-template-imdsv2" in names) == bool(prod.of_type("aws:ec2/launchTemplate:LaunchTemplate"))


def test_the_pack_registers_the_same_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """policies/__main__.py, run the way the policy host runs it, registers the guards offline checks apply."""
    seen: dict = {}

    class FakePack:
        def __init__(self, *, name: str, policies: list, enforcement_level: object) -> None:
            seen.update(name=name, policies=policies)

    import pulumi_policy

    monkeypatch.setattr(pulumi_policy, "PolicyPack", FakePack)
    monkeypatch.setattr(sys, "path", [str(ROOT / "policies"), *[p for p in sys.path if p != str(ROOT)]])
    sys.modules.pop("guards", None)
    sys.modules.pop("cost", None)
    runpy.run_path(str(ROOT / "policies"), run_name="__main__")
    assert seen["name"] == "inferstack"
    assert [p.name for p in seen["policies"]] == [p.name for p in PACK]
    assert {"cost-budget", "eks-endpoint-private"} <= {p.name for p in PACK}
    assert Path(ROOT / "policies" / "PulumiPolicy.yaml").is_file()
