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
            {"cluster": UNKNOWN, "nodeConfig": {"workloadMetadataConfig": {"mode": "GCE_METADATA"}}},
        ),
    ),
    passes(
        "gke-metadata-server",
        "GKE metadata server",
        Res(
            "gcp:container/nodePool:NodePool",
            {"cluster": UNKNOWN, "nodeConfig": {"workloadMetadataConfig": {"mode": "GKE_METADATA"}}},
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

POOL = "gcp:container/nodePool:NodePool"
_NODE_SA = "gke-nodes@p.iam.gserviceaccount.com"
_SHIELDED = {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
_GOOD_GKE = {
    "datapathProvider": "ADVANCED_DATAPATH",
    "enableLegacyAbac": False,
    "masterAuth": {"clientCertificateConfig": {"issueClientCertificate": False}},
    "nodeConfig": {"serviceAccount": _NODE_SA},
    "databaseEncryption": {"state": "ENCRYPTED", "keyName": UNKNOWN},
}
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
_SQL_IP = {"ipv4Enabled": False, "privateNetwork": UNKNOWN, "sslMode": "ENCRYPTED_ONLY"}
REDIS = "gcp:redis/instance:Instance"
BUCKET = "gcp:storage/bucket:Bucket"
FIREWALL = "gcp:compute/firewall:Firewall"
_HC = ["35.191.0.0/16", "130.211.0.0/22"]
MEMBER = "gcp:projects/iAMMember:IAMMember"

CASES += [
    fails("gke-shielded-nodes", "shielded nodes off", Res(GKE, {"enableShieldedNodes": False})),
    passes("gke-shielded-nodes", "the provider default (on)", Res(GKE, {})),
    fails(
        "gke-pool-secure-boot",
        "no Secure Boot (provider default off)",
        Res(POOL, {"nodeConfig": {"shieldedInstanceConfig": {"enableIntegrityMonitoring": True}}}),
    ),
    fails(
        "gke-pool-secure-boot",
        "integrity monitoring off",
        Res(
            POOL,
            {
                "nodeConfig": {
                    "shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": False}
                }
            },
        ),
    ),
    passes(
        "gke-pool-secure-boot",
        "secure boot, monitoring by default",
        Res(POOL, {"nodeConfig": {"shieldedInstanceConfig": {"enableSecureBoot": True}}}),
    ),
    fails("gke-network-policy", "legacy datapath by default", Res(GKE, {})),
    fails(
        "gke-network-policy",
        "network policy addon off",
        Res(GKE, {"datapathProvider": "LEGACY_DATAPATH", "networkPolicy": {"enabled": False}}),
    ),
    passes("gke-network-policy", "Dataplane V2", Res(GKE, {"datapathProvider": "ADVANCED_DATAPATH"})),
    passes("gke-network-policy", "Calico network policy", Res(GKE, {"networkPolicy": {"enabled": True}})),
    fails("gke-cluster-auth", "legacy ABAC", Res(GKE, {**_GOOD_GKE, "enableLegacyAbac": True})),
    fails(
        "gke-cluster-auth",
        "client certificates",
        Res(GKE, {**_GOOD_GKE, "masterAuth": {"clientCertificateConfig": {"issueClientCertificate": True}}}),
    ),
    fails(
        "gke-cluster-auth",
        "default pool on the default account (unset)",
        Res(GKE, {**_GOOD_GKE, "nodeConfig": {"machineType": "e2-small"}}),
    ),
    fails(
        "gke-cluster-auth",
        "default pool on the default compute account (named)",
        Res(
            GKE,
            {**_GOOD_GKE, "nodeConfig": {"serviceAccount": "123456-compute@developer.gserviceaccount.com"}},
        ),
    ),
    passes("gke-cluster-auth", "dedicated node account", Res(GKE, _GOOD_GKE)),
    passes(
        "gke-cluster-auth",
        "node account unknown at preview",
        Res(GKE, {**_GOOD_GKE, "nodeConfig": {"serviceAccount": UNKNOWN}}),
    ),
    passes("gke-cluster-auth", "autopilot manages nodes", Res(GKE, {"enableAutopilot": True})),
    fails("gke-pool-service-account", "no service account", Res(POOL, {"nodeConfig": {}})),
    fails(
        "gke-pool-service-account",
        "the literal default account",
        Res(POOL, {"nodeConfig": {"serviceAccount": "default"}}),
    ),
    passes(
        "gke-pool-service-account",
        "dedicated account",
        Res(POOL, {"nodeConfig": {"serviceAccount": _NODE_SA}}),
    ),
    fails("gke-secrets-encryption", "not encrypted (default)", Res(GKE, {})),
    fails("gke-secrets-encryption", "no key", Res(GKE, {"databaseEncryption": {"state": "ENCRYPTED"}})),
    passes(
        "gke-secrets-encryption",
        "key unknown at preview",
        Res(GKE, {"databaseEncryption": {"state": "ENCRYPTED", "keyName": UNKNOWN}}),
    ),
    fails(
        "cloudsql-private-tls",
        "public IP by default",
        Res(SQL, {"settings": {"ipConfiguration": {"privateNetwork": UNKNOWN, "sslMode": "ENCRYPTED_ONLY"}}}),
    ),
    fails(
        "cloudsql-private-tls",
        "authorized networks cover the internet",
        Res(
            SQL,
            {
                "settings": {
                    "ipConfiguration": {
                        **_SQL_IP,
                        "authorizedNetworks": [{"name": "all", "value": "0.0.0.0/0"}],
                    }
                }
            },
        ),
    ),
    fails(
        "cloudsql-private-tls",
        "unencrypted connections by default",
        Res(SQL, {"settings": {"ipConfiguration": {"ipv4Enabled": False, "privateNetwork": UNKNOWN}}}),
    ),
    passes("cloudsql-private-tls", "private, TLS only", Res(SQL, {"settings": {"ipConfiguration": _SQL_IP}})),
    fails("memorystore-auth-tls", "no AUTH", Res(REDIS, {"transitEncryptionMode": "SERVER_AUTHENTICATION"})),
    fails("memorystore-auth-tls", "no TLS", Res(REDIS, {"authEnabled": True})),
    passes(
        "memorystore-auth-tls",
        "AUTH and TLS",
        Res(REDIS, {"authEnabled": True, "transitEncryptionMode": "SERVER_AUTHENTICATION"}),
    ),
    fails("gcs-no-public-access", "public access inherited", Res(BUCKET, {"uniformBucketLevelAccess": True})),
    fails("gcs-no-public-access", "object ACLs", Res(BUCKET, {"publicAccessPrevention": "enforced"})),
    passes(
        "gcs-no-public-access",
        "enforced and uniform",
        Res(BUCKET, {"publicAccessPrevention": "enforced", "uniformBucketLevelAccess": True}),
    ),
    fails(
        "gcp-ssl-policy-modern",
        "TLS 1.0 by default",
        Res("gcp:compute/sSLPolicy:SSLPolicy", {"profile": "MODERN"}),
    ),
    fails(
        "gcp-ssl-policy-modern",
        "COMPATIBLE profile by default",
        Res("gcp:compute/sSLPolicy:SSLPolicy", {"minTlsVersion": "TLS_1_2"}),
    ),
    passes(
        "gcp-ssl-policy-modern",
        "TLS 1.2, MODERN",
        Res("gcp:compute/sSLPolicy:SSLPolicy", {"minTlsVersion": "TLS_1_2", "profile": "MODERN"}),
    ),
    fails(
        "gcp-https-proxy-ssl-policy",
        "no SSL policy",
        Res("gcp:compute/targetHttpsProxy:TargetHttpsProxy", {"urlMap": UNKNOWN}),
    ),
    passes(
        "gcp-https-proxy-ssl-policy",
        "SSL policy unknown at preview",
        Res("gcp:compute/targetHttpsProxy:TargetHttpsProxy", {"urlMap": UNKNOWN, "sslPolicy": UNKNOWN}),
    ),
    fails("gcp-kms-key-rotation", "never rotates", Res("gcp:kms/cryptoKey:CryptoKey", {"keyRing": UNKNOWN})),
    fails(
        "gcp-kms-key-rotation",
        "rotates every 365 days",
        Res("gcp:kms/cryptoKey:CryptoKey", {"keyRing": UNKNOWN, "rotationPeriod": "31536000s"}),
    ),
    fails(
        "gcp-kms-key-rotation",
        "longer than a configured 30 days",
        Res("gcp:kms/cryptoKey:CryptoKey", {"keyRing": UNKNOWN, "rotationPeriod": "7776000s"}),
        maxRotationDays=30,
    ),
    passes(
        "gcp-kms-key-rotation",
        "90 days",
        Res("gcp:kms/cryptoKey:CryptoKey", {"keyRing": UNKNOWN, "rotationPeriod": "7776000s"}),
    ),
    passes(
        "gcp-kms-key-rotation",
        "an asymmetric signing key",
        Res("gcp:kms/cryptoKey:CryptoKey", {"keyRing": UNKNOWN, "purpose": "ASYMMETRIC_SIGN"}),
    ),
    passes(
        "gcp-firewall-no-public-ingress",
        "Google's front ends to the gateway's NEG port",
        Res(
            FIREWALL,
            {
                "network": UNKNOWN,
                "sourceRanges": ["35.191.0.0/16", "130.211.0.0/22"],
                "allows": [{"protocol": "tcp", "ports": ["4000"]}],
            },
        ),
    ),
    fails(
        "gcp-firewall-no-public-ingress",
        "the whole internet",
        Res(
            FIREWALL,
            {
                "network": UNKNOWN,
                "sourceRanges": ["0.0.0.0/0"],
                "allows": [{"protocol": "tcp", "ports": ["22"]}],
            },
        ),
    ),
    fails(
        "gcp-firewall-no-public-ingress",
        "a public range other than Google's",
        Res(
            FIREWALL,
            {
                "network": UNKNOWN,
                "sourceRanges": ["203.0.113.0/24"],
                "allows": [{"protocol": "tcp", "ports": ["8000"]}],
            },
        ),
    ),
    fails(
        "gcp-firewall-no-public-ingress",
        "Google's ranges on every port",
        Res(FIREWALL, {"network": UNKNOWN, "sourceRanges": _HC, "allows": [{"protocol": "all"}]}),
    ),
    fails(
        "gcp-firewall-no-public-ingress",
        "Google's ranges beyond the serving ports",
        Res(
            FIREWALL,
            {
                "network": UNKNOWN,
                "sourceRanges": _HC,
                "allows": [{"protocol": "tcp", "ports": ["22", "8000"]}],
            },
        ),
    ),
    passes(
        "gcp-firewall-no-public-ingress",
        "health checks on the serving ports",
        Res(
            FIREWALL,
            {
                "network": UNKNOWN,
                "sourceRanges": _HC,
                "allows": [{"protocol": "tcp", "ports": ["8000-8080"]}],
            },
        ),
    ),
    passes(
        "gcp-firewall-no-public-ingress",
        "the control plane's private range",
        Res(
            FIREWALL,
            {
                "network": UNKNOWN,
                "sourceRanges": ["172.16.2.0/28"],
                "allows": [{"protocol": "tcp", "ports": ["9443"]}],
            },
        ),
    ),
    passes(
        "gcp-firewall-no-public-ingress",
        "a deny rule from anywhere",
        Res(FIREWALL, {"network": UNKNOWN, "sourceRanges": ["0.0.0.0/0"], "denies": [{"protocol": "all"}]}),
    ),
    fails(
        "gcp-iam-no-basic-roles",
        "Editor to a service account created in the stack (unknown at preview)",
        Res(MEMBER, {"project": "p", "role": "roles/editor", "member": UNKNOWN}),
    ),
    fails(
        "gcp-iam-no-basic-roles",
        "Owner to a named service account",
        Res(
            MEMBER,
            {"project": "p", "role": "roles/owner", "member": "serviceAccount:ci@p.iam.gserviceaccount.com"},
        ),
    ),
    fails(
        "gcp-iam-no-basic-roles",
        "Editor to every pod of a namespace (binding)",
        Res(
            "gcp:projects/iAMBinding:IAMBinding",
            {"project": "p", "role": "roles/editor", "members": ["principalSet://iam.googleapis.com/x"]},
        ),
    ),
    fails(
        "gcp-iam-no-basic-roles",
        "Owner to a member list not known until apply",
        Res(
            "gcp:projects/iAMBinding:IAMBinding", {"project": "p", "role": "roles/owner", "members": UNKNOWN}
        ),
    ),
    passes(
        "gcp-iam-no-basic-roles",
        "a predefined role to a created account",
        Res(MEMBER, {"project": "p", "role": "roles/logging.logWriter", "member": UNKNOWN}),
    ),
    passes(
        "gcp-iam-no-basic-roles",
        "Owner to a person is another guard's business",
        Res(MEMBER, {"project": "p", "role": "roles/owner", "member": "user:admin@example.com"}),
    ),
]

CASES += [
    fails(
        "gke-private-cluster",
        "public endpoint open to every Google Cloud IP",
        Res(
            GKE,
            {
                "privateClusterConfig": _PRIVATE,
                "masterAuthorizedNetworksConfig": {
                    "cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}],
                    "gcpPublicCidrsAccessEnabled": True,
                },
                "workloadIdentityConfig": _WI,
            },
        ),
    ),
    fails(
        "gke-metadata-server",
        "the cluster's default pool exposes node metadata",
        Res(GKE, {"workloadIdentityConfig": _WI, "nodeConfig": {"serviceAccount": _NODE_SA}}),
    ),
    passes(
        "gke-metadata-server",
        "the cluster's default pool on the GKE metadata server",
        Res(GKE, {"nodeConfig": {"workloadMetadataConfig": {"mode": "GKE_METADATA"}}}),
    ),
    passes(
        "gke-metadata-server", "an Autopilot cluster", Res(GKE, {"enableAutopilot": True, "nodeConfig": {}})
    ),
]
