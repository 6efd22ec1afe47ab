"""Security guards over the Google Cloud resources the program creates (ids G1..G11 of POLICY-RULES).

Missing properties are the provider's defaults; values created elsewhere in the stack are tested
by presence only (see guardkit.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guardkit import (
    CRITICAL,
    HIGH,
    covers_the_internet,
    items,
    known,
    present,
    resource_guard,
    value,
)
from pulumi_policy import Policy

Props = Mapping[str, Any]


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
    if not present(props, "workloadIdentityConfig"):
        return ["GKE cluster has no Workload Identity (workloadIdentityConfig)"]
    return []


def _gke_pool_metadata(props: Props, _: Props) -> str | None:
    if value(props, "nodeConfig.workloadMetadataConfig.mode") != "GKE_METADATA":
        return "GKE node pool does not run the GKE metadata server (nodeConfig.workloadMetadataConfig.mode)"
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


POLICIES: list[Policy] = [
    resource_guard(
        "gke-private-cluster",
        "GKE private nodes, a guarded control plane and Workload Identity",
        types="gcp:container/cluster:Cluster",
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
        "The GKE metadata server on every node pool",
        types="gcp:container/nodePool:NodePool",
        rule="G2",
        mirrors="CKV_GCP_69, AVD-GCP-0057",
        severity=HIGH,
        fix="nodeConfig.workloadMetadataConfig.mode: GKE_METADATA",
        check=_gke_pool_metadata,
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
]
