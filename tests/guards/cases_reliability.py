"""Cases for policies/reliability.py: one failing case per condition, passing cases, unknowns where a
preview has them (ids of clusters, keys and subnets created in the same stack)."""

from __future__ import annotations

from tests.guards.case import UNKNOWN, Res, fails, passes

AURORA = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
GLOBAL = "aws:rds/globalCluster:GlobalCluster"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
GKE = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
MEMORYSTORE = "gcp:redis/instance:Instance"
LB = "aws:lb/loadBalancer:LoadBalancer"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED = "kubernetes:keda.sh/v1alpha1:ScaledObject"
K8S = "pulumi:providers:kubernetes"

_AURORA = {"storageEncrypted": True, "kmsKeyId": UNKNOWN, "dbSubnetGroupName": UNKNOWN}


def _instance(name: str, zone: str = UNKNOWN) -> Res:
    return Res(
        INSTANCE,
        {"clusterIdentifier": UNKNOWN, "availabilityZone": zone, "publiclyAccessible": False},
        name=name,
        dependencies=("db",),
    )


def _redis(**flags: object) -> Res:
    return Res(REDIS, {"kmsKeyId": UNKNOWN, "subnetGroupName": UNKNOWN, **flags})


def _sql(**settings: object) -> Res:
    return Res(SQL, {"region": "us-central1", "encryptionKeyName": UNKNOWN, "settings": settings})


_BACKUPS = {"enabled": True, "pointInTimeRecoveryEnabled": True}


def _deployment(name: str = "d", replicas: int | None = None, provider: str = "k8s") -> Res:
    spec: dict[str, object] = {"selector": {"matchLabels": {"app": name}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return Res(
        DEPLOYMENT,
        {"metadata": {"name": name, "namespace": "serving"}, "spec": spec},
        name=name,
        provider=provider,
    )


_K8S = Res(K8S, {"kubeconfig": UNKNOWN}, name="k8s")
_OTHER_K8S = Res(K8S, {"kubeconfig": UNKNOWN}, name="other-k8s")


def _scaled(target: str, low: int, provider: str = "k8s") -> Res:
    return Res(
        SCALED,
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": target, "namespace": "serving"},
            "spec": {
                "scaleTargetRef": {"name": target},
                "minReplicaCount": low,
                "maxReplicaCount": 20,
            },
        },
        name=f"{target}-scaler",
        provider=provider,
    )


def _hpa(target: str, low: int | None) -> Res:
    spec: dict[str, object] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "maxReplicas": 10,
    }
    if low is not None:
        spec["minReplicas"] = low
    return Res(
        HPA, {"metadata": {"name": target, "namespace": "serving"}, "spec": spec}, name="hpa", provider="k8s"
    )


CASES = [
    # R6: deletion protection
    fails("aurora-deletion-protection", "off by the provider default", Res(AURORA, _AURORA)),
    fails(
        "aurora-deletion-protection",
        "global cluster without it",
        Res(GLOBAL, {"storageEncrypted": True, "deletionProtection": False}),
    ),
    passes("aurora-deletion-protection", "on", Res(AURORA, {**_AURORA, "deletionProtection": True})),
    # R6: backups
    fails("aurora-backup-retention", "1 day by the provider default", Res(AURORA, _AURORA)),
    fails(
        "aurora-backup-retention",
        "below the configured floor",
        Res(AURORA, {**_AURORA, "backupRetentionPeriod": 7}),
        minBackupDays=14,
    ),
    passes("aurora-backup-retention", "14 days", Res(AURORA, {**_AURORA, "backupRetentionPeriod": 14})),
    passes(
        "aurora-backup-retention",
        "a dev floor of 1 day",
        Res(AURORA, {**_AURORA, "backupRetentionPeriod": 1}),
        minBackupDays=1,
    ),
    # R6: a reader in a second zone (join through the instances' dependency on the cluster)
    fails(
        "aurora-reader-in-second-zone",
        "writer only",
        Res(AURORA, _AURORA, name="db"),
        _instance("db-1", "us-east-1a"),
        culprit="db",
    ),
    fails(
        "aurora-reader-in-second-zone",
        "writer and reader in one zone",
        Res(AURORA, _AURORA, name="db"),
        _instance("db-1", "us-east-1a"),
        _instance("db-2", "us-east-1a"),
        culprit="db",
    ),
    fails(
        "aurora-reader-in-second-zone",
        "the other cluster's instances do not count",
        Res(AURORA, _AURORA, name="db"),
        Res(AURORA, _AURORA, name="other"),
        _instance("db-1", "us-east-1a"),
        Res(INSTANCE, {"clusterIdentifier": UNKNOWN}, name="other-1", dependencies=("other",)),
        Res(INSTANCE, {"clusterIdentifier": UNKNOWN}, name="other-2", dependencies=("other",)),
        culprit="db",
    ),
    passes(
        "aurora-reader-in-second-zone",
        "writer and reader in two zones",
        Res(AURORA, _AURORA, name="db"),
        _instance("db-1", "us-east-1a"),
        _instance("db-2", "us-east-1b"),
    ),
    passes(
        "aurora-reader-in-second-zone",
        "zones not known at preview",
        Res(AURORA, _AURORA, name="db"),
        _instance("db-1"),
        _instance("db-2"),
    ),
    # R7
    fails(
        "redis-failover",
        "no automatic failover",
        _redis(multiAzEnabled=True),
    ),
    fails("redis-failover", "no Multi-AZ", _redis(automaticFailoverEnabled=True)),
    passes("redis-failover", "both on", _redis(automaticFailoverEnabled=True, multiAzEnabled=True)),
    fails("redis-snapshots", "none by the provider default", _redis()),
    fails("redis-snapshots", "explicitly 0", _redis(snapshotRetentionLimit=0)),
    passes("redis-snapshots", "kept a day", _redis(snapshotRetentionLimit=1)),
    # R8
    fails("gke-release-channel", "no channel", Res(GKE, {"databaseEncryption": {"keyName": UNKNOWN}})),
    fails("gke-release-channel", "UNSPECIFIED", Res(GKE, {"releaseChannel": {"channel": "UNSPECIFIED"}})),
    passes("gke-release-channel", "REGULAR", Res(GKE, {"releaseChannel": {"channel": "REGULAR"}})),
    fails(
        "gke-node-auto-repair-upgrade",
        "auto-repair off",
        Res(POOL, {"cluster": UNKNOWN, "management": {"autoRepair": False, "autoUpgrade": True}}),
    ),
    fails(
        "gke-node-auto-repair-upgrade",
        "auto-upgrade off",
        Res(POOL, {"cluster": UNKNOWN, "management": {"autoRepair": True, "autoUpgrade": False}}),
    ),
    passes(
        "gke-node-auto-repair-upgrade", "both on by the provider default", Res(POOL, {"cluster": UNKNOWN})
    ),
    # R9
    fails("cloudsql-regional", "ZONAL by the provider default", _sql(tier="db-custom-2-7680")),
    fails("cloudsql-regional", "ZONAL", _sql(availabilityType="ZONAL")),
    passes("cloudsql-regional", "REGIONAL", _sql(availabilityType="REGIONAL")),
    fails("cloudsql-backups", "backups off by default", _sql(availabilityType="REGIONAL")),
    fails(
        "cloudsql-backups",
        "no point-in-time recovery",
        _sql(backupConfiguration={"enabled": True}),
    ),
    passes("cloudsql-backups", "backups and PITR", _sql(backupConfiguration=_BACKUPS)),
    passes(
        "cloudsql-backups",
        "a read replica (its primary backs up)",
        Res(
            SQL,
            {"masterInstanceName": UNKNOWN, "settings": {"backupConfiguration": {"enabled": False}}},
        ),
    ),
    fails(
        "memorystore-standard-ha",
        "BASIC by the provider default",
        Res(MEMORYSTORE, {"authorizedNetwork": UNKNOWN}),
    ),
    passes("memorystore-standard-ha", "STANDARD_HA", Res(MEMORYSTORE, {"tier": "STANDARD_HA"})),
    # R10
    fails("lb-deletion-protection", "off by the provider default", Res(LB, {"subnets": [UNKNOWN]})),
    passes("lb-deletion-protection", "on", Res(LB, {"subnets": [UNKNOWN], "enableDeletionProtection": True})),
    # R1
    fails("deployment-min-replicas", "one replica", _K8S, _deployment(replicas=1), culprit="d"),
    fails("deployment-min-replicas", "replicas omitted: Kubernetes runs 1", _K8S, _deployment(), culprit="d"),
    fails(
        "deployment-min-replicas",
        "a scaler whose minimum is below the floor",
        _K8S,
        _deployment(replicas=3),
        _scaled("d", 0),
        culprit="d",
    ),
    fails(
        "deployment-min-replicas",
        "an HPA minimum of 1 by default",
        _K8S,
        _deployment(),
        _hpa("d", None),
        culprit="d",
    ),
    fails(
        "deployment-min-replicas",
        "a scaler in another cluster does not count",
        _K8S,
        _OTHER_K8S,
        _deployment(replicas=1),
        _scaled("d", 3, provider="other-k8s"),
        culprit="d",
    ),
    fails(
        "deployment-min-replicas",
        "a named Deployment below the floor",
        _K8S,
        _deployment("gateway", replicas=2),
        culprit="gateway",
        minReplicas=3,
        deployments=["serving/gateway"],
    ),
    passes("deployment-min-replicas", "three replicas", _K8S, _deployment(replicas=3)),
    passes(
        "deployment-min-replicas",
        "replicas owned by a scaler with a floor of 3",
        _K8S,
        _deployment(),
        _scaled("d", 3),
    ),
    passes(
        "deployment-min-replicas",
        "an HPA with minReplicas 2",
        _K8S,
        _deployment(),
        _hpa("d", 2),
    ),
    passes(
        "deployment-min-replicas",
        "only the named Deployments are held to the floor",
        _K8S,
        _deployment("gateway", replicas=3),
        _deployment("batch", replicas=0),
        deployments=["gateway"],
    ),
    # R11: protect
    fails("stateful-resources-protected", "database without protect", Res(AURORA, _AURORA)),
    fails(
        "stateful-resources-protected",
        "GCS bucket without protect",
        Res("gcp:storage/bucket:Bucket", {"encryption": {"defaultKmsKeyName": UNKNOWN}}),
    ),
    passes(
        "stateful-resources-protected",
        "all protected; other types ignored",
        Res(AURORA, _AURORA, protect=True),
        Res(GLOBAL, {}, name="g", protect=True),
        Res("aws:s3/bucket:Bucket", {}, name="b", protect=True),
        Res("aws:kms/key:Key", {}, name="k"),
        Res("aws:ec2/vpc:Vpc", {}, name="vpc"),
    ),
    fails(
        "kms-keys-protected", "KMS key without protect", Res("aws:kms/key:Key", {"enableKeyRotation": True})
    ),
    fails(
        "kms-keys-protected",
        "Cloud KMS key without protect",
        Res("gcp:kms/cryptoKey:CryptoKey", {"keyRing": UNKNOWN, "rotationPeriod": "7776000s"}),
    ),
    passes(
        "kms-keys-protected",
        "both protected; a bucket is the other guard's",
        Res("aws:kms/key:Key", {}, protect=True),
        Res("gcp:kms/cryptoKey:CryptoKey", {"keyRing": UNKNOWN}, name="ck", protect=True),
        Res("aws:s3/bucket:Bucket", {}, name="b"),
    ),
    # R11: versioning
    fails(
        "bucket-versioning", "S3 bucket without versioning", Res("aws:s3/bucket:Bucket", {}, name="models")
    ),
    fails(
        "bucket-versioning",
        "versioning suspended",
        Res("aws:s3/bucket:Bucket", {}, name="models"),
        Res(
            "aws:s3/bucketVersioning:BucketVersioning",
            {"bucket": UNKNOWN, "versioningConfiguration": {"status": "Suspended"}},
            name="v",
            dependencies=("models",),
        ),
        culprit="models",
    ),
    fails(
        "bucket-versioning",
        "another bucket's versioning does not count",
        Res("aws:s3/bucket:Bucket", {}, name="models"),
        Res("aws:s3/bucket:Bucket", {}, name="other"),
        Res(
            "aws:s3/bucketVersioning:BucketVersioning",
            {"bucket": UNKNOWN, "versioningConfiguration": {"status": "Enabled"}},
            name="v",
            dependencies=("other",),
        ),
        culprit="models",
    ),
    fails("bucket-versioning", "GCS bucket without versioning", Res("gcp:storage/bucket:Bucket", {})),
    passes(
        "bucket-versioning",
        "S3 versioning joined by dependency, name unknown at preview; GCS versioned",
        Res("aws:s3/bucket:Bucket", {}, name="models"),
        Res(
            "aws:s3/bucketVersioning:BucketVersioning",
            {"bucket": UNKNOWN, "versioningConfiguration": {"status": "Enabled"}},
            name="v",
            dependencies=("models",),
        ),
        Res("gcp:storage/bucket:Bucket", {"versioning": {"enabled": True}}, name="gcs"),
    ),
]
