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


_DEPLOYMENT = "kubernetes:apps/v1:Deployment"
_RELEASE = "kubernetes:helm.sh/v3:Release"


def _container(keys: tuple[str, ...], value: Any) -> Callable[[Resource], None]:
    """Set (None: remove) a key of the pod template's first container; keys may hold dots (nvidia.com/gpu)."""

    def change(r: Resource) -> None:
        node = r.inputs["spec"]["template"]["spec"]["containers"][0]
        *parents, last = keys
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(last)
        else:
            node[last] = value

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
    Mutation(
        "gke-network-policy",
        "gcp:container/cluster:Cluster",
        _drop("datapathProvider"),
        "NetworkPolicy not enforced",
    ),
    Mutation(
        "gke-cluster-auth",
        "gcp:container/cluster:Cluster",
        _set("enableLegacyAbac", True),
        "legacy ABAC on",
    ),
    Mutation(
        "gke-secrets-encryption",
        "gcp:container/cluster:Cluster",
        _drop("databaseEncryption"),
        "GKE secrets not encrypted",
    ),
    Mutation(
        "gke-pool-secure-boot",
        "gcp:container/nodePool:NodePool",
        _set("nodeConfig.shieldedInstanceConfig.enableSecureBoot", False),
        "nodes without Secure Boot",
    ),
    Mutation(
        "gcs-no-public-access",
        "gcp:storage/bucket:Bucket",
        _set("publicAccessPrevention", "inherited"),
        "model bucket open to public ACLs",
    ),
    Mutation(
        "gcp-ssl-policy-modern",
        "gcp:compute/sSLPolicy:SSLPolicy",
        _set("minTlsVersion", "TLS_1_0"),
        "TLS 1.0",
    ),
    Mutation(
        "gcp-firewall-no-public-ingress",
        "gcp:compute/firewall:Firewall",
        _set("sourceRanges", ["0.0.0.0/0"]),
        "firewall open to the internet",
    ),
    Mutation(
        "gcp-iam-no-basic-roles",
        "gcp:projects/iAMMember:IAMMember",
        _set("role", "roles/editor"),
        "node account made Editor",
    ),
    Mutation(
        "k8s-no-privileged",
        _DEPLOYMENT,
        _container(("securityContext", "privileged"), True),
        "privileged container",
    ),
    Mutation(
        "k8s-image-pinned", _DEPLOYMENT, _container(("image",), "vllm/vllm-openai:latest"), "image latest"
    ),
    Mutation(
        "k8s-probes",
        _DEPLOYMENT,
        _container(("startupProbe",), None),
        "model server without a startup probe",
        pick=lambda r: "vllm" in r.name,
    ),
    Mutation(
        "k8s-resources",
        _DEPLOYMENT,
        _container(("resources", "limits", "memory"), None),
        "no memory limit",
    ),
    Mutation("helm-chart-pinned", _RELEASE, _set("version", "^2"), "chart version range"),
    Mutation("helm-images-pinned", _RELEASE, _set("values.image.tag", "latest"), "add-on image latest"),
    Mutation(
        "eks-access-entries",
        "aws:eks/cluster:Cluster",
        _set("accessConfig.authenticationMode", "CONFIG_MAP"),
        "aws-auth ConfigMap access",
    ),
    Mutation(
        "eks-control-plane-logs",
        "aws:eks/cluster:Cluster",
        _set("enabledClusterLogTypes", ["api"]),
        "no audit log",
    ),
    Mutation(
        "log-group-kms",
        "aws:cloudwatch/logGroup:LogGroup",
        _drop("kmsKeyId"),
        "log group under the service key",
    ),
    Mutation(
        "secret-cmk",
        "aws:secretsmanager/secret:Secret",
        _drop("kmsKeyId"),
        "secret under the AWS-managed key",
    ),
    Mutation(
        "redis-auth",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        _drop("authToken"),
        "Redis without AUTH",
    ),
    Mutation(
        "s3-public-access-block",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        _set("restrictPublicBuckets", False),
        "bucket access block with a gap",
    ),
    Mutation(
        "security-group-ingress-restricted",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        _set("cidrIpv4", "0.0.0.0/0"),
        "Valkey open to the internet",
    ),
    Mutation(
        "subnet-no-public-ip",
        "aws:ec2/subnet:Subnet",
        _set("mapPublicIpOnLaunch", True),
        "private subnet handing out public IPs",
    ),
    Mutation(
        "lb-drop-invalid-headers",
        "aws:lb/loadBalancer:LoadBalancer",
        _set("dropInvalidHeaderFields", False),
        "ALB passes invalid headers",
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
