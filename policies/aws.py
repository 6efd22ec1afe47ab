"""Security guards over the AWS resources the program creates (ids S1..S14 of POLICY-RULES).

Every check treats a missing property as the provider's default (an unset ``enableKeyRotation``
is off, an unset ``publiclyAccessible`` is the provider's default for the resource) and tests
values created elsewhere in the stack (KMS key ARNs) by presence only: see guardkit.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardkit import (
    CRITICAL,
    HIGH,
    MEDIUM,
    covers_the_internet,
    items,
    present,
    resource_guard,
    value,
)
from pulumi_policy import Policy

Props = Mapping[str, Any]


def _eks_endpoint(props: Props, _: Props) -> str | None:
    # Provider default: endpointPublicAccess true (aws_eks_cluster vpc_config docs).
    if value(props, "vpcConfig.endpointPublicAccess", True) is not True:
        return None
    cidrs = list(items(props, "vpcConfig.publicAccessCidrs"))
    if not cidrs or covers_the_internet(cidrs):
        return "EKS API endpoint is public to the internet; make it private or list the allowed CIDRs"
    return None


def _eks_secrets(props: Props, _: Props) -> list[str]:
    resources = [r for r in items(props, "encryptionConfig.resources")]
    if "secrets" not in resources:
        return [
            "EKS secrets are not envelope-encrypted; set encryptionConfig.resources [secrets] with a KMS key"
        ]
    if not present(props, "encryptionConfig.provider.keyArn"):
        return ["EKS secrets encryption names no KMS key (encryptionConfig.provider.keyArn)"]
    return []


def _imdsv2(props: Props, _: Props) -> str | None:
    if value(props, "metadataOptions.httpTokens") != "required":
        return "launch template does not require IMDSv2 (metadataOptions.httpTokens: required)"
    hops = value(props, "metadataOptions.httpPutResponseHopLimit")
    if isinstance(hops, int) and hops > 2:
        return f"IMDS hop limit {hops} lets pods reach node credentials; allowed: 1, or 2 when pods need IMDS"
    return None


def _kms_rotation(props: Props, _: Props) -> str | None:
    if value(props, "enableKeyRotation", False) is not True:
        return "KMS key does not rotate (enableKeyRotation)"
    if value(props, "bypassPolicyLockoutSafetyCheck", False) is True:
        return "KMS key bypasses the policy lockout safety check"
    return None


def _rds_encrypted(props: Props, _: Props) -> str | None:
    if value(props, "storageEncrypted", False) is not True:
        return "Aurora cluster storage is not encrypted (storageEncrypted)"
    # A secondary member of a global cluster inherits the global cluster's encryption.
    if not present(props, "kmsKeyId") and not present(props, "globalClusterIdentifier"):
        return (
            "Aurora cluster is encrypted with the AWS-managed key; use a customer-managed KMS key (kmsKeyId)"
        )
    return None


def _rds_public(props: Props, _: Props) -> str | None:
    if value(props, "publiclyAccessible", False) is True:
        return "database instance is publicly accessible (publiclyAccessible)"
    return None


def _elasticache(props: Props, _: Props) -> str | None:
    missing = [
        k for k in ("atRestEncryptionEnabled", "transitEncryptionEnabled") if value(props, k) is not True
    ]
    if missing:
        return f"Redis replication group without {', '.join(missing)}"
    return None


def _health_check(props: Props, _: Props) -> str | None:
    interval = value(props, "requestInterval", 30)
    if value(props, "type") in ("HTTP", "HTTPS", "HTTPS_STR_MATCH", "HTTP_STR_MATCH") and interval not in (
        10,
        30,
    ):
        return f"Route 53 health check interval {interval}; allowed: 10 or 30 seconds"
    return None


POLICIES: list[Policy] = [
    resource_guard(
        "eks-endpoint-private",
        "EKS API endpoint private, or public only to allow-listed CIDRs",
        types="aws:eks/cluster:Cluster",
        rule="S2",
        mirrors="CKV_AWS_38, CKV_AWS_39, AVD-AWS-0040, AVD-AWS-0041",
        severity=CRITICAL,
        fix="set access.publicEndpoint false, or list the CIDRs allowed to reach it",
        check=_eks_endpoint,
        concern="aws",
    ),
    resource_guard(
        "eks-secrets-encrypted",
        "EKS secrets envelope-encrypted with a customer-managed KMS key",
        types="aws:eks/cluster:Cluster",
        rule="S1",
        mirrors="CKV_AWS_58, AVD-AWS-0039",
        severity=HIGH,
        fix="give the cluster encryptionConfig {resources: [secrets], provider.keyArn: <KMS key>}",
        check=_eks_secrets,
        concern="aws",
    ),
    resource_guard(
        "launch-template-imdsv2",
        "Node launch templates require IMDSv2 with a hop limit of 1 or 2",
        types="aws:ec2/launchTemplate:LaunchTemplate",
        rule="S5",
        mirrors="CKV_AWS_79, CKV_AWS_341",
        severity=HIGH,
        fix="metadataOptions: httpTokens required, httpPutResponseHopLimit 1 (2 when pods need IMDS)",
        check=_imdsv2,
        concern="aws",
    ),
    resource_guard(
        "kms-key-rotation",
        "KMS keys rotate and keep the policy lockout safety check",
        types="aws:kms/key:Key",
        rule="S12",
        mirrors="CKV_AWS_7, CKV_AWS_33, AVD-AWS-0065",
        severity=MEDIUM,
        fix="enableKeyRotation true; never bypassPolicyLockoutSafetyCheck",
        check=_kms_rotation,
        concern="aws",
    ),
    resource_guard(
        "aurora-encrypted",
        "Aurora storage encrypted with a customer-managed KMS key",
        types="aws:rds/cluster:Cluster",
        rule="S6",
        mirrors="CKV_AWS_96, CKV_AWS_327, AVD-AWS-0079",
        severity=HIGH,
        fix="storageEncrypted true and kmsKeyId set (a global cluster member inherits it)",
        check=_rds_encrypted,
        concern="aws",
    ),
    resource_guard(
        "db-instance-private",
        "Database instances are not publicly accessible",
        types="aws:rds/clusterInstance:ClusterInstance",
        rule="S7",
        mirrors="CKV_AWS_17, AVD-AWS-0180",
        severity=CRITICAL,
        fix="publiclyAccessible false; reach the database from the cluster's private subnets",
        check=_rds_public,
        concern="aws",
    ),
    resource_guard(
        "redis-encrypted",
        "Redis encrypted at rest and in transit",
        types="aws:elasticache/replicationGroup:ReplicationGroup",
        rule="S9",
        mirrors="CKV_AWS_29, CKV_AWS_30, AVD-AWS-0045, AVD-AWS-0051",
        severity=HIGH,
        fix="atRestEncryptionEnabled and transitEncryptionEnabled true",
        check=_elasticache,
        concern="aws",
    ),
    resource_guard(
        "health-check-interval",
        "Route 53 health checks run every 10 or 30 s",
        types="aws:route53/healthCheck:HealthCheck",
        rule="R10",
        mirrors="",
        severity=MEDIUM,
        fix="edge.healthCheckIntervalSeconds: 10 or 30",
        check=_health_check,
        concern="reliability",
    ),
]
