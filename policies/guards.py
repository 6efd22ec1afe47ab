"""Guards the platform must pass by construction (ids from ../shared POLICY-RULES: S1, S2, ...).

Each guard reads the engine's camelCase inputs of one resource type. Checks test presence where
a value may be unknown during a preview (a KMS key created in the same stack), so that a
mandatory guard does not silently turn advisory on an unknown value.

Self-contained on purpose: the policy host runs this folder with only the folder on sys.path,
so nothing here imports the program or the rest of the project.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

Check = Callable[[Mapping[str, Any]], str | None]


def _get(props: Mapping[str, Any], path: str) -> Any:
    value: Any = props
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _guard(name: str, description: str, token: str, check: Check) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != token:
            return
        problem = check(args.props)
        if problem:
            report_violation(problem, None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _covers_the_internet(cidrs: Iterable[Any]) -> bool:
    """Whether the CIDRs, taken together, allow every address (0.0.0.0/1 + 128.0.0.0/1 is 0.0.0.0/0)."""
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for cidr in cidrs:
        if isinstance(cidr, str):  # an unknown value during a preview is not a string
            try:
                nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError:
                continue
    v4 = list(ipaddress.collapse_addresses(n for n in nets if isinstance(n, ipaddress.IPv4Network)))
    v6 = list(ipaddress.collapse_addresses(n for n in nets if isinstance(n, ipaddress.IPv6Network)))
    return any(len(family) == 1 and family[0].prefixlen == 0 for family in (v4, v6))


def _eks_endpoint(props: Mapping[str, Any]) -> str | None:
    if _get(props, "vpcConfig.endpointPublicAccess") is not True:
        return None
    cidrs = _get(props, "vpcConfig.publicAccessCidrs") or []
    if not cidrs or _covers_the_internet(cidrs):
        return "EKS API endpoint is public to the internet; make it private or list the allowed CIDRs (S2)"
    return None


def _eks_secrets(props: Mapping[str, Any]) -> str | None:
    config = props.get("encryptionConfig")
    if not isinstance(config, Mapping) or "secrets" not in (config.get("resources") or []):
        return "EKS secrets are not envelope-encrypted; set encryptionConfig.resources [secrets] with a KMS key (S1)"
    if "keyArn" not in (config.get("provider") or {}):
        return "EKS secrets encryption names no KMS key (encryptionConfig.provider.keyArn) (S1)"
    return None


def _imdsv2(props: Mapping[str, Any]) -> str | None:
    options = props.get("metadataOptions") or {}
    if options.get("httpTokens") != "required":
        return "launch template does not require IMDSv2 (metadataOptions.httpTokens: required) (S5)"
    hops = options.get("httpPutResponseHopLimit")
    if isinstance(hops, int) and hops > 2:
        return f"IMDS hop limit {hops} lets pods reach node credentials; allowed: 1, or 2 when pods need IMDS (S5)"
    return None


def _kms_rotation(props: Mapping[str, Any]) -> str | None:
    if props.get("enableKeyRotation") is not True:
        return "KMS key does not rotate (enableKeyRotation) (S12)"
    if props.get("bypassPolicyLockoutSafetyCheck") is True:
        return "KMS key bypasses the policy lockout safety check (S12)"
    return None


def _gke_private(props: Mapping[str, Any]) -> str | None:
    if _get(props, "privateClusterConfig.enablePrivateNodes") is not True:
        return "GKE nodes have public IPs; set privateClusterConfig.enablePrivateNodes (G1)"
    private_endpoint = _get(props, "privateClusterConfig.enablePrivateEndpoint") is True
    blocks = _get(props, "masterAuthorizedNetworksConfig.cidrBlocks") or []
    if not private_endpoint and not blocks:
        return "GKE control plane is public with no master authorized networks (G1)"
    if not private_endpoint and _covers_the_internet(
        b.get("cidrBlock") for b in blocks if isinstance(b, Mapping)
    ):
        return "GKE control plane is public and its master authorized networks cover the whole internet (G1)"
    if "workloadIdentityConfig" not in props:
        return "GKE cluster has no Workload Identity (G2)"
    return None


def _gke_pool_metadata(props: Mapping[str, Any]) -> str | None:
    if _get(props, "nodeConfig.workloadMetadataConfig.mode") != "GKE_METADATA":
        return (
            "GKE node pool does not run the GKE metadata server (nodeConfig.workloadMetadataConfig.mode) (G2)"
        )
    return None


def _rds_encrypted(props: Mapping[str, Any]) -> str | None:
    if props.get("storageEncrypted") is not True:
        return "Aurora cluster storage is not encrypted (S6)"
    if "kmsKeyId" not in props and not props.get("globalClusterIdentifier"):
        return "Aurora cluster is encrypted with the AWS-managed key; use a customer-managed KMS key (S6)"
    return None


def _rds_public(props: Mapping[str, Any]) -> str | None:
    if props.get("publiclyAccessible") is True:
        return "database instance is publicly accessible (S7)"
    return None


def _elasticache(props: Mapping[str, Any]) -> str | None:
    missing = [k for k in ("atRestEncryptionEnabled", "transitEncryptionEnabled") if props.get(k) is not True]
    if missing:
        return f"Redis replication group without {', '.join(missing)} (S9)"
    return None


def _health_check(props: Mapping[str, Any]) -> str | None:
    interval = props.get("requestInterval")
    if props.get("type") in ("HTTP", "HTTPS", "HTTPS_STR_MATCH", "HTTP_STR_MATCH") and interval not in (
        10,
        30,
    ):
        return f"Route 53 health check interval {interval}; allowed: 10 or 30 seconds (R10)"
    return None


def _backend_armor(props: Mapping[str, Any]) -> str | None:
    if props.get("loadBalancingScheme") not in ("EXTERNAL", "EXTERNAL_MANAGED"):
        return None
    if not props.get("securityPolicy"):
        return "external backend service has no Cloud Armor security policy (G10)"
    if _get(props, "logConfig.enable") is not True:
        return "external backend service does not log requests (G10)"
    return None


POLICIES: list[Policy] = [
    _guard(
        "eks-endpoint-private",
        "EKS API endpoint private or allow-listed",
        "aws:eks/cluster:Cluster",
        _eks_endpoint,
    ),
    _guard(
        "eks-secrets-encrypted",
        "EKS secrets envelope-encrypted with KMS",
        "aws:eks/cluster:Cluster",
        _eks_secrets,
    ),
    _guard(
        "launch-template-imdsv2",
        "Node launch templates require IMDSv2",
        "aws:ec2/launchTemplate:LaunchTemplate",
        _imdsv2,
    ),
    _guard("kms-key-rotation", "KMS keys rotate", "aws:kms/key:Key", _kms_rotation),
    _guard(
        "gke-private-cluster",
        "GKE private nodes, guarded control plane, Workload Identity",
        "gcp:container/cluster:Cluster",
        _gke_private,
    ),
    _guard(
        "gke-metadata-server",
        "GKE metadata server on every pool",
        "gcp:container/nodePool:NodePool",
        _gke_pool_metadata,
    ),
    _guard(
        "aurora-encrypted", "Aurora storage encrypted with a CMK", "aws:rds/cluster:Cluster", _rds_encrypted
    ),
    _guard(
        "db-instance-private",
        "Database instances not public",
        "aws:rds/clusterInstance:ClusterInstance",
        _rds_public,
    ),
    _guard(
        "redis-encrypted",
        "Redis encrypted at rest and in transit",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        _elasticache,
    ),
    _guard(
        "health-check-interval",
        "Route 53 health checks every 10 or 30 s",
        "aws:route53/healthCheck:HealthCheck",
        _health_check,
    ),
    _guard(
        "backend-cloud-armor",
        "External backends behind Cloud Armor, logged",
        "gcp:compute/backendService:BackendService",
        _backend_armor,
    ),
]
