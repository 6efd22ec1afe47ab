"""Security guards over the Google Cloud resources the program creates (ids G1..G11 of POLICY-RULES).

Missing properties are the provider's defaults, as the pulumi_gcp 10.2 API docs state them
(https://www.pulumi.com/registry/packages/gcp/api-docs/, the same text as the SDK's docstrings):
datapathProvider LEGACY_DATAPATH, enableLegacyAbac false, enableShieldedNodes true, node
serviceAccount the Compute Engine default account, shieldedInstanceConfig.enableSecureBoot false
and enableIntegrityMonitoring true, Memorystore authEnabled false and transitEncryptionMode
DISABLED, bucket publicAccessPrevention "inherited", SSL policy minTlsVersion TLS_1_0 and profile
COMPATIBLE, a target HTTPS proxy without sslPolicy has none (Google's default, TLS 1.0), firewall
direction INGRESS, CryptoKey purpose ENCRYPT_DECRYPT with no rotation. Values created elsewhere in
the stack (key names, networks, service-account members) are tested by presence only (see
guardkit.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from guardkit import (
    CRITICAL,
    HIGH,
    MEDIUM,
    covers_the_internet,
    items,
    known,
    present,
    resource_guard,
    value,
)
from pulumi_policy import EnforcementLevel, Policy

Props = Mapping[str, Any]

GKE = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"

LOAD_BALANCER_RANGES: tuple[str, ...] = (
    "35.191.0.0/16",
    "130.211.0.0/22",
    "2600:2d00:1:b029::/64",
    "2600:2d00:1:1::/64",
)
"""Where Google's load-balancer health checks and front ends reach backends from (IPv4 and IPv6):
https://cloud.google.com/load-balancing/docs/firewall-rules (2026-11)."""

SERVING_PORTS: tuple[str, ...] = ("4000", "8000-8080")
"""The serving ports the load balancers reach: the gateway (LiteLLM) on 4000, the edge's NEG backends
(infra/k8s/gateway.py PORT), and vLLM on 8000 with the health-check range of infra/gcp/network.py."""

FORBIDDEN_ROLES: tuple[str, ...] = ("roles/owner", "roles/editor")
"""The basic roles that give a workload identity the run of the project (CIS GCP 1.5, CKV_GCP_117)."""

MAX_ROTATION_DAYS = 90
"""CIS GCP 1.10 / CKV_GCP_43: symmetric keys rotate at least every 90 days."""

_DEFAULT_COMPUTE_SA = re.compile(r"^\d+-compute@developer\.gserviceaccount\.com$")
_WORKLOAD_MEMBER = ("serviceAccount:", "principal:", "principalSet:")


def _node_account(props: Props, path: str, what: str) -> str | None:
    """Why the nodes at ``path`` run as the project's default compute account (Editor), or None."""
    if not present(props, path):
        return f"{what} has no service account ({path}), so its nodes run as the default compute account"
    account = known(props, path)
    if account is not None and (account == "default" or _DEFAULT_COMPUTE_SA.match(str(account))):
        return f"{what} runs as the default compute account ({path}: {account})"
    return None


def _gke_private(props: Props, _: Props) -> list[str]:
    if value(props, "privateClusterConfig.enablePrivateNodes", False) is not True:
        return ["GKE nodes have public IPs; set privateClusterConfig.enablePrivateNodes"]
    private_endpoint = value(props, "privateClusterConfig.enablePrivateEndpoint", False) is True
    blocks = list(items(props, "masterAuthorizedNetworksConfig.cidrBlocks"))
    if not private_endpoint and not blocks:
        return ["GKE control plane is public with no master authorized networks"]
    if not private_endpoint and covers_the_internet(
        known(b, "cidrBlock") for b in blocks if isinstance(b, Mapping)
    ):
        return ["GKE control plane is public and its master authorized networks cover the whole internet"]
    if (
        not private_endpoint
        and value(props, "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled") is True
    ):
        return [
            "GKE control plane is public to every Google Cloud public IP "
            "(masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled)"
        ]
    if not present(props, "workloadIdentityConfig"):
        return ["GKE cluster has no Workload Identity (workloadIdentityConfig)"]
    return []


def _gke_pool_metadata(props: Props, _: Props) -> str | None:
    # A cluster (no ``cluster`` input) judges the nodeConfig of its default pool, which runs until
    # removeDefaultNodePool deletes it; without one, Workload Identity gives that pool the GKE
    # metadata server, and Autopilot manages its nodes itself.
    cluster = not present(props, "cluster")
    if cluster and (value(props, "enableAutopilot", False) is True or not present(props, "nodeConfig")):
        return None
    if value(props, "nodeConfig.workloadMetadataConfig.mode") != "GKE_METADATA":
        return "GKE nodes do not run the GKE metadata server (nodeConfig.workloadMetadataConfig.mode)"
    return None


def _gke_shielded(props: Props, _: Props) -> list[str]:
    problems = []
    if value(props, "enableShieldedNodes", True) is not True:
        problems.append("GKE cluster turns shielded nodes off (enableShieldedNodes)")
    return problems


def _pool_shielded(props: Props, _: Props) -> list[str]:
    problems = []
    if value(props, "nodeConfig.shieldedInstanceConfig.enableSecureBoot", False) is not True:
        problems.append(
            "node pool boots without Secure Boot (nodeConfig.shieldedInstanceConfig.enableSecureBoot)"
        )
    if value(props, "nodeConfig.shieldedInstanceConfig.enableIntegrityMonitoring", True) is not True:
        problems.append(
            "node pool turns integrity monitoring off "
            "(nodeConfig.shieldedInstanceConfig.enableIntegrityMonitoring)"
        )
    return problems


def _gke_network_policy(props: Props, _: Props) -> str | None:
    if value(props, "datapathProvider", "LEGACY_DATAPATH") == "ADVANCED_DATAPATH":
        return None
    if value(props, "networkPolicy.enabled", False) is True:
        return None
    return (
        "GKE cluster does not enforce NetworkPolicy: set datapathProvider ADVANCED_DATAPATH "
        "(Dataplane V2) or networkPolicy.enabled"
    )


def _gke_auth(props: Props, _: Props) -> list[str]:
    problems = []
    if value(props, "enableLegacyAbac", False) is True:
        problems.append("GKE cluster enables legacy ABAC (enableLegacyAbac)")
    if value(props, "masterAuth.clientCertificateConfig.issueClientCertificate", False) is True:
        problems.append("GKE cluster issues client certificates (masterAuth.clientCertificateConfig)")
    # Autopilot clusters manage their nodes' identity themselves.
    if value(props, "enableAutopilot", False) is not True:
        problem = _node_account(props, "nodeConfig.serviceAccount", "GKE cluster's default node pool")
        if problem:
            problems.append(problem)
    return problems


def _pool_account(props: Props, _: Props) -> str | None:
    return _node_account(props, "nodeConfig.serviceAccount", "GKE node pool")


def _gke_secrets(props: Props, _: Props) -> list[str]:
    if value(props, "databaseEncryption.state", "DECRYPTED") != "ENCRYPTED":
        return [
            "GKE Secrets are not encrypted at the application layer (databaseEncryption.state: ENCRYPTED)"
        ]
    if not present(props, "databaseEncryption.keyName"):
        return [
            "GKE application-layer secrets encryption names no Cloud KMS key (databaseEncryption.keyName)"
        ]
    return []


def _cloud_sql(props: Props, _: Props) -> list[str]:
    problems = []
    ip = "settings.ipConfiguration"
    # Provider default ipv4Enabled: true (a public IP), unless the instance sets it false.
    if value(props, f"{ip}.ipv4Enabled", True) is not False:
        problems.append(f"Cloud SQL instance has a public IP ({ip}.ipv4Enabled)")
    networks = [known(n, "value") for n in items(props, f"{ip}.authorizedNetworks") if isinstance(n, Mapping)]
    if covers_the_internet(networks):
        problems.append(f"Cloud SQL instance admits the whole internet ({ip}.authorizedNetworks)")
    mode = value(props, f"{ip}.sslMode", "ALLOW_UNENCRYPTED_AND_ENCRYPTED")
    if mode not in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"):
        problems.append(f"Cloud SQL instance accepts unencrypted connections ({ip}.sslMode: {mode})")
    return problems


def _memorystore(props: Props, _: Props) -> list[str]:
    problems = []
    if value(props, "authEnabled", False) is not True:
        problems.append("Memorystore instance has no AUTH (authEnabled)")
    if value(props, "transitEncryptionMode", "DISABLED") != "SERVER_AUTHENTICATION":
        problems.append(
            "Memorystore instance does not require TLS (transitEncryptionMode: SERVER_AUTHENTICATION)"
        )
    return problems


def _bucket(props: Props, _: Props) -> list[str]:
    problems = []
    if value(props, "publicAccessPrevention", "inherited") != "enforced":
        problems.append("bucket does not enforce public access prevention (publicAccessPrevention: enforced)")
    if value(props, "uniformBucketLevelAccess", False) is not True:
        problems.append("bucket allows object ACLs (uniformBucketLevelAccess)")
    return problems


def _ssl_policy(props: Props, _: Props) -> list[str]:
    problems = []
    version = value(props, "minTlsVersion", "TLS_1_0")
    if version not in ("TLS_1_2", "TLS_1_3"):
        problems.append(f"SSL policy admits TLS older than 1.2 (minTlsVersion: {version})")
    profile = value(props, "profile", "COMPATIBLE")
    if profile not in ("MODERN", "RESTRICTED"):
        problems.append(f"SSL policy offers weak ciphers (profile: {profile}); allowed: MODERN, RESTRICTED")
    return problems


def _proxy_ssl_policy(props: Props, _: Props) -> str | None:
    if not present(props, "sslPolicy"):
        return "HTTPS proxy has no SSL policy (sslPolicy), so Google's default admits TLS 1.0"
    return None


def _backend_armor(props: Props, _: Props) -> str | None:
    # Provider default loadBalancingScheme: EXTERNAL (google_compute_backend_service docs).
    if value(props, "loadBalancingScheme", "EXTERNAL") not in ("EXTERNAL", "EXTERNAL_MANAGED"):
        return None
    if not present(props, "securityPolicy"):
        return "external backend service has no Cloud Armor security policy (securityPolicy)"
    if value(props, "logConfig.enable", False) is not True:
        return "external backend service does not log requests (logConfig.enable)"
    return None


def _rotation_seconds(period: str) -> float | None:
    match = re.fullmatch(r"(\d+(?:\.\d{1,9})?)s", period)
    return float(match.group(1)) if match else None


def _kms_rotation(props: Props, config: Props) -> str | None:
    if value(props, "purpose", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        return None  # Cloud KMS rotates only symmetric keys automatically.
    days = int(config.get("maxRotationDays", MAX_ROTATION_DAYS))
    if not present(props, "rotationPeriod"):
        return f"KMS key never rotates (rotationPeriod); allowed: at most {days} days"
    period = known(props, "rotationPeriod")
    seconds = _rotation_seconds(str(period)) if period is not None else None
    if seconds is not None and seconds > days * 86400:
        return f"KMS key rotates every {seconds / 86400:g} days (rotationPeriod: {period}); allowed: at most {days}"
    return None


_INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
"""Ranges that stay inside a VPC (RFC 1918, RFC 6598, IPv6 ULA): any other source is outside it."""


def _outside(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return not any(_inside(net, block) for block in _INTERNAL)


def _networks(cidrs: Iterable[Any]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for cidr in cidrs:
        if isinstance(cidr, str):
            try:
                out.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError:
                continue
    return out


def _port_range(spec: str) -> tuple[int, int] | None:
    low, _, high = str(spec).partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        return None
    return int(low), int(high or low)


def _within(port: str, allowed: Iterable[str]) -> bool:
    asked = _port_range(port)
    if asked is None:
        return False
    return any(r is not None and r[0] <= asked[0] and asked[1] <= r[1] for r in map(_port_range, allowed))


def _inside(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network, block: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> bool:
    return net.version == block.version and net.network_address in block and net.broadcast_address in block


def _firewall(props: Props, config: Props) -> list[str]:
    if value(props, "direction", "INGRESS") != "INGRESS" or value(props, "disabled", False) is True:
        return []
    allows = [a for a in items(props, "allows") if isinstance(a, Mapping)]
    if not allows:
        return []  # a deny rule, or nothing allowed
    sources = list(items(props, "sourceRanges"))
    if covers_the_internet(sources):
        return ["firewall rule admits the whole internet (sourceRanges 0.0.0.0/0 or ::/0)"]
    google = _networks(config.get("loadBalancerRanges", LOAD_BALANCER_RANGES))
    public = [n for n in _networks(sources) if _outside(n) and not any(_inside(n, g) for g in google)]
    if public:
        return [
            f"firewall rule admits public sources {', '.join(map(str, public))}; allowed from outside the VPC: "
            "Google's load-balancer ranges only"
        ]
    if not any(_outside(n) for n in _networks(sources)):
        return []
    serving = list(config.get("servingPorts", SERVING_PORTS))
    problems = []
    for allow in allows:
        protocol = known(allow, "protocol", "")
        ports = list(items(allow, "ports"))
        if protocol != "tcp" or not ports:
            problems.append(
                f"firewall rule opens every {'port' if protocol == 'tcp' else 'protocol and port'} to the "
                "load-balancer ranges; "
                f"allowed: tcp {', '.join(serving)}"
            )
        elif not all(_within(p, serving) for p in ports):
            problems.append(
                f"firewall rule opens tcp {', '.join(map(str, ports))} to the load-balancer ranges; "
                f"allowed: {', '.join(serving)}"
            )
    return problems


def _iam_primitive(props: Props, config: Props) -> str | None:
    role = value(props, "role")
    if role not in config.get("forbiddenRoles", FORBIDDEN_ROLES):
        return None
    workloads = [m for m in _members(props) if m is None or m.startswith(_WORKLOAD_MEMBER)]
    if not workloads:
        return None
    named = ", ".join(str(m) for m in workloads if m is not None) or "a service account created in this stack"
    return f"project grants {role} to {named}; grant the predefined roles it needs instead"


def _members(props: Props) -> list[str | None]:
    """The binding's members; None for one the engine does not know yet (an account this stack creates)."""
    out: list[str | None] = []
    if present(props, "member"):
        out.append(known(props, "member"))
    if present(props, "members") and known(props, "members") is None:
        out.append(None)  # the whole list is not known yet
    listed = known(props, "members")
    for i in range(len(listed) if isinstance(listed, Sequence) and not isinstance(listed, str) else 0):
        out.append(known(props, f"members.{i}"))
    return out


_ADVISORY = EnforcementLevel.ADVISORY

POLICIES: list[Policy] = [
    resource_guard(
        "gke-private-cluster",
        "GKE private nodes, a guarded control plane and Workload Identity",
        types=GKE,
        rule="G1",
        mirrors="CKV_GCP_25, CKV_GCP_18, CKV_GCP_20, AVD-GCP-0059, AVD-GCP-0053",
        severity=CRITICAL,
        fix="privateClusterConfig.enablePrivateNodes, a private endpoint or master authorized networks, "
        "workloadIdentityConfig",
        check=_gke_private,
        concern="gcp",
    ),
    resource_guard(
        "gke-metadata-server",
        "The GKE metadata server on every node pool (and the cluster's default pool)",
        types=(POOL, GKE),
        rule="G2",
        mirrors="CKV_GCP_69, AVD-GCP-0057",
        severity=HIGH,
        fix="nodeConfig.workloadMetadataConfig.mode: GKE_METADATA",
        check=_gke_pool_metadata,
        concern="gcp",
    ),
    resource_guard(
        "gke-shielded-nodes",
        "GKE clusters keep shielded nodes on",
        types=GKE,
        rule="G3",
        mirrors="CKV_GCP_71, AVD-GCP-0055",
        severity=MEDIUM,
        fix="leave enableShieldedNodes unset or true",
        check=_gke_shielded,
        level=_ADVISORY,
        concern="gcp",
    ),
    resource_guard(
        "gke-pool-secure-boot",
        "GKE node pools boot with Secure Boot and integrity monitoring",
        types=POOL,
        rule="G3",
        mirrors="CKV_GCP_68, CKV_GCP_72",
        severity=MEDIUM,
        fix="nodeConfig.shieldedInstanceConfig: enableSecureBoot true, enableIntegrityMonitoring true",
        check=_pool_shielded,
        level=_ADVISORY,
        concern="gcp",
    ),
    resource_guard(
        "gke-network-policy",
        "GKE clusters enforce NetworkPolicy (Dataplane V2 or Calico)",
        types=GKE,
        rule="G4",
        mirrors="CKV_GCP_12, AVD-GCP-0056",
        severity=HIGH,
        fix="datapathProvider: ADVANCED_DATAPATH",
        check=_gke_network_policy,
        concern="gcp",
    ),
    resource_guard(
        "gke-cluster-auth",
        "GKE without legacy ABAC or client certificates, nodes not on the default compute account",
        types=GKE,
        rule="G5",
        mirrors="CKV_GCP_7, CKV_GCP_13, CKV2_GCP_1, AVD-GCP-0062, AVD-GCP-0064, AVD-GCP-0050",
        severity=HIGH,
        fix="enableLegacyAbac false, masterAuth.clientCertificateConfig.issueClientCertificate false, "
        "nodeConfig.serviceAccount a dedicated least-privilege account",
        check=_gke_auth,
        concern="gcp",
    ),
    resource_guard(
        "gke-pool-service-account",
        "GKE node pools run as a dedicated service account, not the default compute account",
        types=POOL,
        rule="G5",
        mirrors="CKV2_GCP_1, AVD-GCP-0050",
        severity=HIGH,
        fix="nodeConfig.serviceAccount: the cluster's dedicated node account",
        check=_pool_account,
        concern="gcp",
    ),
    resource_guard(
        "gke-secrets-encryption",
        "GKE Secrets encrypted at the application layer with a Cloud KMS key",
        types=GKE,
        rule="G6",
        mirrors="custom (CIS GKE 5.3.1)",
        severity=HIGH,
        fix="databaseEncryption: state ENCRYPTED, keyName a Cloud KMS key in the cluster's region",
        check=_gke_secrets,
        concern="gcp",
    ),
    resource_guard(
        "cloudsql-private-tls",
        "Cloud SQL without a public IP, reachable only over TLS",
        types="gcp:sql/databaseInstance:DatabaseInstance",
        rule="G7",
        mirrors="CKV_GCP_60, CKV_GCP_11, CKV_GCP_6, AVD-GCP-0017, AVD-GCP-0015",
        severity=CRITICAL,
        fix="settings.ipConfiguration: ipv4Enabled false, a privateNetwork, sslMode ENCRYPTED_ONLY",
        check=_cloud_sql,
        concern="gcp",
    ),
    resource_guard(
        "memorystore-auth-tls",
        "Memorystore with AUTH and TLS",
        types="gcp:redis/instance:Instance",
        rule="G8",
        mirrors="CKV_GCP_95, CKV_GCP_97",
        severity=HIGH,
        fix="authEnabled true, transitEncryptionMode SERVER_AUTHENTICATION",
        check=_memorystore,
        concern="gcp",
    ),
    resource_guard(
        "gcs-no-public-access",
        "Buckets enforce public access prevention and uniform bucket-level access",
        types="gcp:storage/bucket:Bucket",
        rule="G9",
        mirrors="CKV_GCP_114, CKV_GCP_29, AVD-GCP-0001, AVD-GCP-0002, "
        "PCP gcp-storage-bucket-enforce-public-access-prevention",
        severity=CRITICAL,
        fix="publicAccessPrevention: enforced, uniformBucketLevelAccess: true",
        check=_bucket,
        concern="gcp",
    ),
    resource_guard(
        "gcp-ssl-policy-modern",
        "Load-balancer SSL policies: TLS 1.2 or later with the MODERN or RESTRICTED profile",
        types="gcp:compute/sSLPolicy:SSLPolicy",
        rule="G10",
        mirrors="CKV_GCP_4, AVD-GCP-0039",
        severity=HIGH,
        fix="minTlsVersion TLS_1_2, profile MODERN (or RESTRICTED)",
        check=_ssl_policy,
        concern="gcp",
    ),
    resource_guard(
        "gcp-https-proxy-ssl-policy",
        "HTTPS and SSL proxies carry an SSL policy",
        types=("gcp:compute/targetHttpsProxy:TargetHttpsProxy", "gcp:compute/targetSSLProxy:TargetSSLProxy"),
        rule="G10",
        mirrors="CKV_GCP_4",
        severity=HIGH,
        fix="sslPolicy: the edge's SSL policy",
        check=_proxy_ssl_policy,
        concern="gcp",
    ),
    resource_guard(
        "backend-cloud-armor",
        "External backend services behind Cloud Armor, with request logs",
        types="gcp:compute/backendService:BackendService",
        rule="G10",
        mirrors="CKV_GCP_73",
        severity=HIGH,
        fix="securityPolicy set to the edge's Cloud Armor policy; logConfig.enable true",
        check=_backend_armor,
        concern="gcp",
    ),
    resource_guard(
        "gcp-kms-key-rotation",
        "Cloud KMS symmetric keys rotate at least every 90 days",
        types="gcp:kms/cryptoKey:CryptoKey",
        rule="G11",
        mirrors="CKV_GCP_43, AVD-GCP-0065",
        severity=MEDIUM,
        fix="rotationPeriod: 7776000s (90 days) or shorter",
        check=_kms_rotation,
        level=_ADVISORY,
        config={"maxRotationDays": {"type": "integer", "minimum": 1, "default": MAX_ROTATION_DAYS}},
        concern="gcp",
    ),
    resource_guard(
        "gcp-firewall-no-public-ingress",
        "VPC firewall ingress: never the whole internet; from outside the VPC only Google's load "
        "balancers, on the serving ports",
        types="gcp:compute/firewall:Firewall",
        rule="custom",
        mirrors="CKV_GCP_2, CKV_GCP_3, google-compute-no-public-ingress (Trivy/tfsec)",
        severity=CRITICAL,
        fix="sourceRanges: private ranges, or Google's load-balancer ranges with tcp on the serving ports "
        "(infra/gcp/network.py health_check_ports)",
        check=_firewall,
        config={
            "servingPorts": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(SERVING_PORTS),
            },
            "loadBalancerRanges": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(LOAD_BALANCER_RANGES),
            },
        },
        concern="gcp",
    ),
    resource_guard(
        "gcp-iam-no-basic-roles",
        "Project IAM never grants Owner or Editor to a service account or workload",
        types=("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding"),
        rule="custom",
        mirrors="CKV_GCP_117, google-iam-no-privileged-service-accounts (Trivy/tfsec)",
        severity=CRITICAL,
        fix="grant the predefined roles the account needs (infra/gcp/gke.py NODE_ROLES shows the nodes' set)",
        check=_iam_primitive,
        config={
            "forbiddenRoles": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(FORBIDDEN_ROLES),
            }
        },
        concern="gcp",
    ),
]
