"""Cases for policies/gcp.py."""

from __future__ import annotations

from tests.guards.case import UNKNOWN, Res, fails, passes

GKE = "gcp:container/cluster:Cluster"
_PRIVATE = {"enablePrivateNodes": True, "enablePrivateEndpoint": False}
_WI = {"workloadPool": "p.svc.id.goog"}

CASES = [
    fails(
        "gke-private-cluster",
        "public nodes",
        Res(GKE, {"privateClusterConfig": {"enablePrivateNodes": False}}),
    ),
    fails(
        "gke-private-cluster",
        "public endpoint, no authorized networks",
        Res(GKE, {"privateClusterConfig": _PRIVATE}),
    ),
    fails(
        "gke-private-cluster",
        "authorized networks that cover the internet",
        Res(
            GKE,
            {
                "privateClusterConfig": _PRIVATE,
                "masterAuthorizedNetworksConfig": {
                    "cidrBlocks": [{"cidrBlock": "0.0.0.0/1"}, {"cidrBlock": "128.0.0.0/1"}]
                },
                "workloadIdentityConfig": _WI,
            },
        ),
    ),
    fails(
        "gke-private-cluster",
        "no Workload Identity",
        Res(GKE, {"privateClusterConfig": {**_PRIVATE, "enablePrivateEndpoint": True}}),
    ),
    passes(
        "gke-private-cluster",
        "private endpoint and Workload Identity",
        Res(
            GKE,
            {
                "privateClusterConfig": {**_PRIVATE, "enablePrivateEndpoint": True},
                "workloadIdentityConfig": _WI,
            },
        ),
    ),
    passes(
        "gke-private-cluster",
        "public endpoint with an allow-list",
        Res(
            GKE,
            {
                "privateClusterConfig": _PRIVATE,
                "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]},
                "workloadIdentityConfig": _WI,
            },
        ),
    ),
    fails(
        "gke-metadata-server",
        "node metadata exposed",
        Res(
            "gcp:container/nodePool:NodePool",
            {"nodeConfig": {"workloadMetadataConfig": {"mode": "GCE_METADATA"}}},
        ),
    ),
    passes(
        "gke-metadata-server",
        "GKE metadata server",
        Res(
            "gcp:container/nodePool:NodePool",
            {"nodeConfig": {"workloadMetadataConfig": {"mode": "GKE_METADATA"}}},
        ),
    ),
    fails(
        "backend-cloud-armor",
        "no Cloud Armor",
        Res(
            "gcp:compute/backendService:BackendService",
            {"loadBalancingScheme": "EXTERNAL_MANAGED", "logConfig": {"enable": True}},
        ),
    ),
    fails(
        "backend-cloud-armor",
        "no request logs",
        Res(
            "gcp:compute/backendService:BackendService",
            {"loadBalancingScheme": "EXTERNAL_MANAGED", "securityPolicy": UNKNOWN},
        ),
    ),
    passes(
        "backend-cloud-armor",
        "armored and logged, policy unknown at preview",
        Res(
            "gcp:compute/backendService:BackendService",
            {
                "loadBalancingScheme": "EXTERNAL_MANAGED",
                "securityPolicy": UNKNOWN,
                "logConfig": {"enable": True},
            },
        ),
    ),
    passes(
        "backend-cloud-armor",
        "an internal backend",
        Res("gcp:compute/backendService:BackendService", {"loadBalancingScheme": "INTERNAL_MANAGED"}),
    ),
]
