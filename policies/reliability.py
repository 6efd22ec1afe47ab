"""Reliability guards (ids R1, R6..R11 of POLICY-RULES): what keeps the platform serving and its data
recoverable when a zone, a node or an operator's command goes wrong.

A missing property is the provider's default, cited from the provider SDK's own docs (pulumi_aws /
pulumi_gcp input docstrings, which carry the Terraform provider's text): an unset
``deletionProtection`` is off, an unset ``backupRetentionPeriod`` is 1 day, an unset Memorystore
``tier`` is BASIC. Joins between resources (a cluster and its instances, a Deployment and its
autoscaler, a resource and its ``protect`` option) are stack guards: one resource's inputs cannot
show them, and the ``protect`` option is not an input at all.

Values that are unknown at preview (cluster ids, bucket names) are never read: joins go through the
engine's dependency edges, and guardkit's helpers test presence without touching unknowns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from guardkit import (
    ADVISORY,
    HIGH,
    HPA_TYPES,
    LOW,
    MEDIUM,
    SCALED_OBJECT,
    Finding,
    cluster_of,
    depends_on,
    known,
    namespace_of,
    present,
    resource_guard,
    scalers,
    stack_guard,
    value,
)
from pulumi_policy import Policy

Props = Mapping[str, Any]

AURORA = "aws:rds/cluster:Cluster"
AURORA_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
REDIS_AWS = "aws:elasticache/replicationGroup:ReplicationGroup"
GKE = "gcp:container/cluster:Cluster"
GKE_POOL = "gcp:container/nodePool:NodePool"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
MEMORYSTORE = "gcp:redis/instance:Instance"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
S3_BUCKET = "aws:s3/bucket:Bucket"
S3_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"

STATEFUL = (AURORA, GLOBAL_CLUSTER, CLOUD_SQL, S3_BUCKET, GCS_BUCKET)
"""What holds data the program cannot recreate."""

KEYS = ("aws:kms/key:Key", "gcp:kms/cryptoKey:CryptoKey")
"""Keys: deleting one makes everything it encrypted unreadable, backups included."""

DEFAULT_MIN_BACKUP_DAYS = 7
DEFAULT_MIN_REPLICAS = 2


# --- resource checks ------------------------------------------------------------------------------


def _aurora_deletion_protection(props: Props, _: Props) -> str | None:
    # Provider default: deletion_protection false (pulumi_aws rds.Cluster / rds.GlobalCluster docs).
    if value(props, "deletionProtection", False) is not True:
        return "Aurora deletion protection is off (deletionProtection)"
    return None


def _aurora_backups(props: Props, config: Props) -> str | None:
    floor = int(config.get("minBackupDays", DEFAULT_MIN_BACKUP_DAYS))
    # Provider default: backup_retention_period 1 (pulumi_aws rds.Cluster docs: "Default `1`").
    days = value(props, "backupRetentionPeriod", 1)
    if isinstance(days, int) and days < floor:
        return (
            f"Aurora keeps {days} days of backups (backupRetentionPeriod); at least {floor} (minBackupDays)"
        )
    return None


def _redis_failover(props: Props, _: Props) -> list[str]:
    # Provider defaults: automatic_failover_enabled false, multi_az_enabled false
    # (pulumi_aws elasticache.ReplicationGroup docs).
    return [
        f"Redis replication group without {flag} (a primary's loss is an outage)"
        for flag in ("automaticFailoverEnabled", "multiAzEnabled")
        if value(props, flag, False) is not True
    ]


def _redis_snapshots(props: Props, _: Props) -> str | None:
    # Provider default: snapshot_retention_limit 0, "backups are turned off" (pulumi_aws docs).
    days = value(props, "snapshotRetentionLimit", 0)
    if isinstance(days, int) and days <= 0:
        return "Redis keeps no snapshots (snapshotRetentionLimit 0)"
    return None


def _gke_release_channel(props: Props, _: Props) -> str | None:
    # Unset, the provider sends no channel and the API picks one; Checkov CKV_GCP_70 fails it too.
    channel = value(props, "releaseChannel.channel")
    if channel in (None, "UNSPECIFIED"):
        return "GKE cluster names no release channel (releaseChannel.channel)"
    return None


def _gke_pool_management(props: Props, _: Props) -> list[str]:
    # Provider default for both: enabled (pulumi_gcp container NodePoolManagement docs: "Enabled by default").
    return [
        f"node pool has management.{flag} off"
        for flag in ("autoRepair", "autoUpgrade")
        if value(props, f"management.{flag}", True) is False
    ]


def _cloud_sql_ha(props: Props, _: Props) -> str | None:
    # Provider default: ZONAL, a single zone (pulumi_gcp sql DatabaseInstanceSettings docs).
    kind = value(props, "settings.availabilityType", "ZONAL")
    if kind != "REGIONAL":
        return (
            f"Cloud SQL instance is {kind}; REGIONAL fails over to another zone (settings.availabilityType)"
        )
    return None


def _cloud_sql_backups(props: Props, _: Props) -> list[str]:
    if present(props, "masterInstanceName"):
        return []  # a read replica takes no backups; its primary's cover the data
    found = []
    # Provider defaults: backups off; PITR on only for PostgreSQL Enterprise Plus (pulumi_gcp sql docs).
    if value(props, "settings.backupConfiguration.enabled", False) is not True:
        found.append("Cloud SQL primary takes no automated backups (settings.backupConfiguration.enabled)")
    plus = value(props, "settings.edition") == "ENTERPRISE_PLUS"
    if value(props, "settings.backupConfiguration.pointInTimeRecoveryEnabled", plus) is not True:
        found.append(
            "Cloud SQL primary has no point-in-time recovery "
            "(settings.backupConfiguration.pointInTimeRecoveryEnabled)"
        )
    return found


def _memorystore_tier(props: Props, _: Props) -> str | None:
    # Provider default: BASIC, a standalone instance (pulumi_gcp redis.Instance docs).
    tier = value(props, "tier", "BASIC")
    if tier != "STANDARD_HA":
        return f"Memorystore tier {tier} has no replica to fail over to (tier: STANDARD_HA)"
    return None


def _lb_deletion_protection(props: Props, _: Props) -> str | None:
    # Provider default: false (pulumi_aws lb.LoadBalancer docs).
    if value(props, "enableDeletionProtection", False) is not True:
        return "load balancer can be deleted by one command (enableDeletionProtection)"
    return None


# --- stack checks ---------------------------------------------------------------------------------


def _aurora_readers(resources: Sequence[Any], _: Props) -> Iterator[Finding]:
    """Each Aurora cluster has a writer and a reader in another zone: a zone's loss fails over in place.

    The instances name their cluster by its id, unknown at preview; the engine's dependency edge
    from the instance to the cluster is the join.
    """
    instances = [r for r in resources if r.resource_type == AURORA_INSTANCE]
    for cluster in (r for r in resources if r.resource_type == AURORA):
        mine = [i for i in instances if depends_on(i, cluster)]
        if len(mine) < 2:
            yield (
                f"Aurora cluster {cluster.name} has {len(mine)} instance(s); a reader in a second zone "
                "takes over when the writer's zone fails",
                cluster.urn,
            )
            continue
        zones = [known(i.props, "availabilityZone") for i in mine]
        if all(zones) and len(set(zones)) < 2:
            yield (
                f"every instance of Aurora cluster {cluster.name} is in {zones[0]} (availabilityZone)",
                cluster.urn,
            )


def _deployment_floor(resources: Sequence[Any], config: Props) -> Iterator[Finding]:
    floor = int(config.get("minReplicas", DEFAULT_MIN_REPLICAS))
    named = {str(n) for n in config.get("deployments") or []}
    scaled = {(x.cluster, x.namespace, x.target): x.low for x in scalers(resources)}
    for d in (r for r in resources if r.resource_type == DEPLOYMENT):
        name = known(d.props, "metadata.name")
        namespace = namespace_of(d.props)
        if named and name not in named and f"{namespace}/{name}" not in named:
            continue
        key = (cluster_of(d), namespace, name)
        if key in scaled:
            low, where = scaled[key], "its autoscaler's minimum"
        else:
            # Kubernetes default: 1 replica.
            low, where = int(known(d.props, "spec.replicas", 1)), "spec.replicas"
        if low < floor:
            yield (
                f"Deployment {namespace}/{name} runs {low} replica(s) ({where}); at least {floor} (minReplicas)",
                d.urn,
            )


def _unprotected(types: Sequence[str]) -> Callable[[Sequence[Any], Props], Iterator[Finding]]:
    def check(resources: Sequence[Any], _: Props) -> Iterator[Finding]:
        for r in resources:
            if r.resource_type in types and not (r.opts is not None and r.opts.protect):
                yield (
                    f"{r.resource_type.split(':')[-1]} {r.name} lacks the protect resource option: "
                    "`pulumi destroy` or a replacement deletes it",
                    r.urn,
                )

    return check


def _versioned(resources: Sequence[Any], _: Props) -> Iterator[Finding]:
    """Every bucket keeps overwritten and deleted objects (model weights a bad sync overwrote)."""
    versioning = [r for r in resources if r.resource_type == S3_VERSIONING]
    for bucket in resources:
        if bucket.resource_type == S3_BUCKET:
            inline = value(bucket.props, "versioning.enabled", False) is True
            split = [v for v in versioning if depends_on(v, bucket)]
            enabled = any(value(v.props, "versioningConfiguration.status") == "Enabled" for v in split)
            if not inline and not enabled:
                yield (
                    f"S3 bucket {bucket.name} has no versioning "
                    "(an aws:s3/bucketVersioning:BucketVersioning with status Enabled)",
                    bucket.urn,
                )
        elif (
            bucket.resource_type == GCS_BUCKET
            # Provider default: versioning off.
            and value(bucket.props, "versioning.enabled", False) is not True
        ):
            yield f"GCS bucket {bucket.name} has no versioning (versioning.enabled)", bucket.urn


POLICIES: list[Policy] = [
    resource_guard(
        "aurora-deletion-protection",
        "Aurora clusters and global clusters refuse deletion",
        types=[AURORA, GLOBAL_CLUSTER],
        rule="R6",
        mirrors="CKV_AWS_139, AVD-AWS-0177",
        severity=HIGH,
        fix="deletionProtection true (the program sets it for prod stacks)",
        check=_aurora_deletion_protection,
        concern="reliability",
    ),
    resource_guard(
        "aurora-backup-retention",
        "Aurora keeps at least minBackupDays of automated backups",
        types=AURORA,
        rule="R6",
        mirrors="CKV_AWS_133, AVD-AWS-0077, PCP aws-rds-cluster-configure-backup-retention",
        severity=MEDIUM,
        fix="raise database.backupRetentionDays in the stack file",
        check=_aurora_backups,
        config={"minBackupDays": {"type": "integer", "minimum": 1, "maximum": 35, "default": 7}},
        concern="reliability",
    ),
    stack_guard(
        "aurora-reader-in-second-zone",
        "Every Aurora cluster has a reader in a second zone",
        rule="R6",
        mirrors="CKV_AWS_157, AVD-AWS-0343, PCP aws-rds-cluster-disallow-single-availability-zone",
        severity=HIGH,
        fix="run at least two instances per Aurora cluster, in distinct zones",
        check=_aurora_readers,
        concern="reliability",
        types=[AURORA, AURORA_INSTANCE],
    ),
    resource_guard(
        "redis-failover",
        "ElastiCache fails over automatically across zones",
        types=REDIS_AWS,
        rule="R7",
        mirrors="CKV2_AWS_50, AVD-AWS-0050",
        severity=HIGH,
        fix="cache.replicas >= 1: a replica turns on automaticFailoverEnabled and multiAzEnabled",
        check=_redis_failover,
        concern="reliability",
    ),
    resource_guard(
        "redis-snapshots",
        "ElastiCache keeps snapshots",
        types=REDIS_AWS,
        rule="R7",
        mirrors="CKV_AWS_134",
        severity=LOW,
        fix="snapshotRetentionLimit >= 1",
        check=_redis_snapshots,
        concern="reliability",
    ),
    resource_guard(
        "gke-release-channel",
        "GKE clusters are enrolled in a release channel",
        types=GKE,
        rule="R8",
        mirrors="CKV_GCP_70, AVD-GCP-0063",
        severity=LOW,
        fix="releaseChannel.channel REGULAR or STABLE",
        check=_gke_release_channel,
        level=ADVISORY,
        concern="reliability",
    ),
    resource_guard(
        "gke-node-auto-repair-upgrade",
        "GKE node pools repair and upgrade themselves",
        types=GKE_POOL,
        rule="R8",
        mirrors="CKV_GCP_9, CKV_GCP_10, AVD-GCP-0058",
        severity=LOW,
        fix="leave management.autoRepair and management.autoUpgrade on",
        check=_gke_pool_management,
        level=ADVISORY,
        concern="reliability",
    ),
    resource_guard(
        "cloudsql-regional",
        "Cloud SQL instances are regional (a standby in another zone)",
        types=CLOUD_SQL,
        rule="R9",
        mirrors="custom (HA part of R9)",
        severity=HIGH,
        fix="settings.availabilityType REGIONAL",
        check=_cloud_sql_ha,
        concern="reliability",
    ),
    resource_guard(
        "cloudsql-backups",
        "Cloud SQL primaries take automated backups with point-in-time recovery",
        types=CLOUD_SQL,
        rule="R9",
        mirrors="CKV_GCP_14, AVD-GCP-0024",
        severity=HIGH,
        fix="settings.backupConfiguration: enabled and pointInTimeRecoveryEnabled true",
        check=_cloud_sql_backups,
        concern="reliability",
    ),
    resource_guard(
        "memorystore-standard-ha",
        "Memorystore runs the STANDARD_HA tier",
        types=MEMORYSTORE,
        rule="R9",
        mirrors="custom (tier part of R9)",
        severity=MEDIUM,
        fix="cache.replicas >= 1 (the program then picks STANDARD_HA)",
        check=_memorystore_tier,
        concern="reliability",
    ),
    resource_guard(
        "lb-deletion-protection",
        "AWS load balancers refuse deletion",
        types=LOAD_BALANCER,
        rule="R10",
        mirrors="CKV_AWS_150, AG elb-deletion-protection-enabled",
        severity=MEDIUM,
        fix="enableDeletionProtection true",
        check=_lb_deletion_protection,
        concern="reliability",
    ),
    stack_guard(
        "deployment-min-replicas",
        "Deployments keep at least minReplicas replicas (or an autoscaler minimum that high)",
        rule="R1",
        mirrors="PCP kubernetes-apps-v1-deployment-configure-minimum-replica-count, GK K8sReplicaLimits",
        severity=MEDIUM,
        fix="raise spec.replicas or the autoscaler's minimum (serving.coreReplicas for the model servers)",
        check=_deployment_floor,
        level=ADVISORY,
        config={
            "minReplicas": {"type": "integer", "minimum": 1, "default": DEFAULT_MIN_REPLICAS},
            "deployments": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "name or namespace/name of the Deployments held to the floor; empty: all",
            },
        },
        concern="reliability",
        types=[DEPLOYMENT, *HPA_TYPES, SCALED_OBJECT],
    ),
    stack_guard(
        "stateful-resources-protected",
        "Databases and buckets carry the protect resource option",
        rule="R11",
        mirrors="custom (args.opts.protect)",
        severity=HIGH,
        fix="create the resource with ResourceOptions(protect=True)",
        check=_unprotected(STATEFUL),
        concern="reliability",
        types=list(STATEFUL),
    ),
    stack_guard(
        "kms-keys-protected",
        "KMS keys carry the protect resource option",
        rule="R11",
        mirrors="custom (args.opts.protect); CKV_GCP_82 for Cloud KMS",
        severity=HIGH,
        fix="create the key with ResourceOptions(protect=True)",
        check=_unprotected(KEYS),
        level=ADVISORY,
        concern="reliability",
        types=list(KEYS),
    ),
    stack_guard(
        "bucket-versioning",
        "Buckets keep object versions",
        rule="R11",
        mirrors="CKV_AWS_21, AVD-AWS-0090",
        severity=MEDIUM,
        fix="add a BucketVersioning with status Enabled (S3) or versioning.enabled (GCS)",
        check=_versioned,
        concern="reliability",
        types=[S3_BUCKET, S3_VERSIONING, GCS_BUCKET],
    ),
]
