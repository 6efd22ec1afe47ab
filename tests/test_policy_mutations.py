"""Break the prod graph one property at a time: a mandatory guard must name the broken resource.

Each mutation is what a careless change to the program (or a hand edit of a saved plan) would
produce. It is applied to a copy of the planned prod graph, and the pack, with prod's environment
config, must report a mandatory violation of the named guard on the resource that was broken.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from inferstack.engine import Graph, Resource
from inferstack.policy import check, policy_config
from inferstack.report import settings_of
from tests.conftest import planned


@dataclass(frozen=True)
class Mutation:
    guard: str
    type: str
    change: Callable[[Resource], None]
    what: str
    pick: Callable[[Resource], bool] = lambda r: True
    """Which resource of the type to break (the first that matches)."""
    culprit: Callable[[Graph, Resource], str] | None = None
    """The URN the violation must name, when a stack guard names another resource than the broken one."""


def _set(path: str, value: Any) -> Callable[[Resource], None]:
    def change(r: Resource) -> None:
        node = r.inputs
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return change


def _drop(path: str) -> Callable[[Resource], None]:
    def change(r: Resource) -> None:
        node = r.inputs
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node.pop(last)

    return change


MUTATIONS = [
    Mutation(
        "eks-endpoint-private",
        "aws:eks/cluster:Cluster",
        _set("vpcConfig.endpointPublicAccess", True),
        "public EKS endpoint",
    ),
    Mutation(
        "eks-secrets-encrypted",
        "aws:eks/cluster:Cluster",
        _drop("encryptionConfig"),
        "EKS secrets not encrypted",
    ),
    Mutation(
        "launch-template-imdsv2",
        "aws:ec2/launchTemplate:LaunchTemplate",
        _set("metadataOptions.httpTokens", "optional"),
        "IMDSv1 on GPU nodes",
    ),
    Mutation(
        "kms-key-rotation", "aws:kms/key:Key", _set("enableKeyRotation", False), "KMS key without rotation"
    ),
    Mutation(
        "aurora-encrypted", "aws:rds/cluster:Cluster", _set("storageEncrypted", False), "unencrypted database"
    ),
    Mutation(
        "db-instance-private",
        "aws:rds/clusterInstance:ClusterInstance",
        _set("publiclyAccessible", True),
        "public database instance",
    ),
    Mutation(
        "redis-encrypted",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        _set("transitEncryptionEnabled", False),
        "Redis without TLS",
    ),
    Mutation(
        "health-check-interval",
        "aws:route53/healthCheck:HealthCheck",
        _set("requestInterval", 60),
        "slow health checks",
        pick=lambda r: r.inputs.get("type") != "CALCULATED",
    ),
    Mutation(
        "gke-private-cluster",
        "gcp:container/cluster:Cluster",
        _set("privateClusterConfig.enablePrivateNodes", False),
        "GKE nodes with public IPs",
    ),
    Mutation(
        "gke-metadata-server",
        "gcp:container/nodePool:NodePool",
        _set("nodeConfig.workloadMetadataConfig.mode", "GCE_METADATA"),
        "node metadata exposed to pods",
    ),
    Mutation(
        "backend-cloud-armor",
        "gcp:compute/backendService:BackendService",
        _drop("securityPolicy"),
        "no Cloud Armor",
    ),
]


def _prod_config() -> dict[str, Any]:
    return policy_config(settings_of(planned("prod")))


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[f"{m.guard}: {m.what}" for m in MUTATIONS])
def test_a_broken_property_is_caught_by_a_mandatory_guard_naming_the_resource(mutation: Mutation) -> None:
    prod = planned("prod")
    assert not [v for v in check(prod, config=_prod_config()).violations if v["enforcement"] == "mandatory"]
    broken = copy.deepcopy(prod)
    broken.config = None
    candidates = [r for r in broken.of_type(mutation.type) if mutation.pick(r)]
    assert candidates, f"prod has no {mutation.type} to break"
    target = candidates[0]
    mutation.change(target)
    urn = mutation.culprit(broken, target) if mutation.culprit else target.urn
    found = [
        v
        for v in check(broken, config=_prod_config()).violations
        if v["policy"] == mutation.guard and v["enforcement"] == "mandatory"
    ]
    assert [v["urn"] for v in found] == [urn], json.dumps(found, indent=1)


def test_the_mutations_cover_at_least_25_guards() -> None:
    assert len({m.guard for m in MUTATIONS}) >= 25
