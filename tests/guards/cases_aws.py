"""Cases for policies/aws.py: one failing case per condition, passing cases, unknowns where a preview has them."""

from __future__ import annotations

from tests.guards.case import UNKNOWN, Res, fails, passes

EKS = "aws:eks/cluster:Cluster"
_KEY = {"resources": ["secrets"], "provider": {"keyArn": UNKNOWN}}


def _eks(**vpc: object) -> Res:
    return Res(EKS, {"vpcConfig": dict(vpc), "encryptionConfig": _KEY})


CASES = [
    fails(
        "eks-endpoint-private",
        "public to 0.0.0.0/0",
        _eks(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"]),
    ),
    fails("eks-endpoint-private", "public with no CIDR list", _eks(endpointPublicAccess=True)),
    fails("eks-endpoint-private", "public by the provider default", _eks()),
    fails(
        "eks-endpoint-private",
        "the internet in two halves",
        _eks(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/1", "128.0.0.0/1"]),
    ),
    passes(
        "eks-endpoint-private",
        "private endpoint",
        _eks(endpointPublicAccess=False, endpointPrivateAccess=True),
    ),
    passes(
        "eks-endpoint-private",
        "public to an allow-list",
        _eks(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"]),
    ),
    fails(
        "eks-secrets-encrypted",
        "no encryptionConfig",
        Res(EKS, {"vpcConfig": {"endpointPublicAccess": False}}),
    ),
    fails(
        "eks-secrets-encrypted",
        "no KMS key named",
        Res(EKS, {"encryptionConfig": {"resources": ["secrets"], "provider": {}}}),
    ),
    passes("eks-secrets-encrypted", "a key created in the same stack (unknown at preview)", _eks()),
    fails(
        "launch-template-imdsv2",
        "IMDSv1 allowed",
        Res("aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "optional"}}),
    ),
    fails(
        "launch-template-imdsv2",
        "hop limit 3",
        Res(
            "aws:ec2/launchTemplate:LaunchTemplate",
            {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 3}},
        ),
    ),
    passes(
        "launch-template-imdsv2",
        "IMDSv2, hop limit 1",
        Res(
            "aws:ec2/launchTemplate:LaunchTemplate",
            {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}},
        ),
    ),
    fails("kms-key-rotation", "rotation off by default", Res("aws:kms/key:Key", {})),
    fails(
        "kms-key-rotation",
        "lockout check bypassed",
        Res("aws:kms/key:Key", {"enableKeyRotation": True, "bypassPolicyLockoutSafetyCheck": True}),
    ),
    passes("kms-key-rotation", "rotates", Res("aws:kms/key:Key", {"enableKeyRotation": True})),
    fails(
        "aurora-encrypted",
        "storage not encrypted",
        Res("aws:rds/cluster:Cluster", {"storageEncrypted": False}),
    ),
    fails("aurora-encrypted", "AWS-managed key", Res("aws:rds/cluster:Cluster", {"storageEncrypted": True})),
    passes(
        "aurora-encrypted",
        "customer key unknown at preview",
        Res("aws:rds/cluster:Cluster", {"storageEncrypted": True, "kmsKeyId": UNKNOWN}),
    ),
    passes(
        "aurora-encrypted",
        "a global cluster's member",
        Res("aws:rds/cluster:Cluster", {"storageEncrypted": True, "globalClusterIdentifier": UNKNOWN}),
    ),
    fails(
        "db-instance-private",
        "publicly accessible",
        Res("aws:rds/clusterInstance:ClusterInstance", {"publiclyAccessible": True}),
    ),
    passes(
        "db-instance-private",
        "private",
        Res("aws:rds/clusterInstance:ClusterInstance", {"publiclyAccessible": False}),
    ),
    fails(
        "redis-encrypted",
        "no TLS",
        Res("aws:elasticache/replicationGroup:ReplicationGroup", {"atRestEncryptionEnabled": True}),
    ),
    fails(
        "redis-encrypted",
        "not encrypted at rest",
        Res("aws:elasticache/replicationGroup:ReplicationGroup", {"transitEncryptionEnabled": True}),
    ),
    passes(
        "redis-encrypted",
        "both",
        Res(
            "aws:elasticache/replicationGroup:ReplicationGroup",
            {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": True, "kmsKeyId": UNKNOWN},
        ),
    ),
    fails(
        "health-check-interval",
        "every 60 s",
        Res("aws:route53/healthCheck:HealthCheck", {"type": "HTTPS", "requestInterval": 60}),
    ),
    passes(
        "health-check-interval",
        "every 30 s",
        Res("aws:route53/healthCheck:HealthCheck", {"type": "HTTPS", "requestInterval": 30}),
    ),
]
