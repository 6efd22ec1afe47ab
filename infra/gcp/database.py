"""The gateway's PostgreSQL on GCP: a regional Cloud SQL primary and cross-region read replicas.

Creates a Cloud SQL for PostgreSQL instance that is highly available within its region
(availability type REGIONAL: a standby in another zone with synchronous replication), reachable
only on a private IP of the given VPC (private services access; no public IP, no authorized
networks) and only over TLS; with daily backups, point-in-time recovery, IAM database
authentication and Query Insights, holding the gateway's database; plus one read replica in each replica region, a promotion
away from taking over when the primary's region is lost. Prod gets deletion protection both in
Pulumi and in the Cloud SQL API, and keeps its backups if the instance is deleted.

The VPC is global, so one core cluster's network serves the replicas of every region; the
instances wait for the network's private services connection, without which Cloud SQL cannot
allocate a private IP.

Customer-managed encryption keys are optional (`encryption_key_names`, one per region, since a
replica must use a key of its own region); without them Google-managed keys encrypt at rest.

The Google provider is not created here: pass it as `opts=pulumi.ResourceOptions(providers=[...])`;
every instance names its region explicitly, so one provider of the project serves all regions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.naming import AUTONAMED_MAX, resource_name

PORT = 5432
MAX_TRANSACTION_LOG_DAYS = 7
"""Cloud SQL Enterprise edition keeps at most 7 days of transaction logs for point-in-time recovery."""

_REGION = re.compile(r"^[a-z]+(-[a-z]+)*\d+$")
_VERSION = re.compile(r"^(\d{2})\.\d+$")


@dataclass(frozen=True, kw_only=True)
class GcpDatabaseArgs:
    """What the database needs to know; validated before any resource exists."""

    project: str
    """GCP project id."""
    primary_region: str
    """Region of the primary, e.g. "us-central1"."""
    replica_regions: Sequence[str] = ()
    """Regions of the cross-region read replicas, e.g. ("us-east4",)."""
    network_id: pulumi.Input[str]
    """VPC (id or self link) whose private services range gives the instances their private IPs."""
    private_service_connection: pulumi.Resource
    """The network's servicenetworking connection; instances are created after it."""
    engine_version: str
    """PostgreSQL major.minor, e.g. "16.10"; Cloud SQL takes the major only (POSTGRES_16), picking the minor."""
    tier: str
    """Machine tier, e.g. "db-custom-4-16384" (Enterprise) or "db-perf-optimized-N-4" (Enterprise Plus)."""
    backup_retention_days: int
    """Daily backups kept; point-in-time recovery covers min(this, 7) days."""
    protect: bool
    """Prod: deletion protection (Pulumi and Cloud SQL API), backups kept after deletion."""
    database_name: str = "inferstack"
    """Database created in the primary."""
    disk_size_gb: int = 100
    """Initial SSD size; grows automatically."""
    encryption_key_names: Mapping[str, str] = field(default_factory=dict)
    """Optional CMEK per region (Cloud KMS key id); every instance region must have one if any is given."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """User labels for the instances."""

    def __post_init__(self) -> None:
        where = "GcpDatabaseArgs"
        if not self.project:
            raise ValueError(f"{where}.project: must not be empty")
        regions = [self.primary_region, *self.replica_regions]
        for region in regions:
            if not _REGION.match(region):
                raise ValueError(f"{where}: region {region!r}: expected a region such as 'us-central1'")
        if len(set(regions)) != len(regions):
            raise ValueError(f"{where}: regions {regions!r} must be distinct")
        if not _VERSION.match(self.engine_version):
            raise ValueError(
                f"{where}.engine_version={self.engine_version!r}: expected major.minor, e.g. '16.10'"
            )
        if not self.tier.startswith("db-"):
            raise ValueError(
                f"{where}.tier={self.tier!r}: expected a Cloud SQL tier, e.g. 'db-custom-4-16384'"
            )
        if not 1 <= self.backup_retention_days <= 365:
            raise ValueError(f"{where}.backup_retention_days={self.backup_retention_days}: must be 1..365")
        if self.encryption_key_names and set(self.encryption_key_names) != set(regions):
            raise ValueError(
                f"{where}.encryption_key_names: keys {sorted(self.encryption_key_names)}; "
                f"allowed: exactly the instance regions {sorted(regions)}"
            )
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", self.database_name):
            raise ValueError(
                f"{where}.database_name={self.database_name!r}: lower-case letters, digits and '_'"
            )
        if not 10 <= self.disk_size_gb <= 65536:
            raise ValueError(f"{where}.disk_size_gb={self.disk_size_gb}: must be 10..65536")

    @property
    def database_version(self) -> str:
        match = _VERSION.match(self.engine_version)
        assert match is not None
        return f"POSTGRES_{match.group(1)}"

    @property
    def edition(self) -> str:
        return "ENTERPRISE_PLUS" if self.tier.startswith("db-perf-optimized") else "ENTERPRISE"


class GcpDatabase(pulumi.ComponentResource):
    """Cloud SQL for PostgreSQL: a regional HA primary on a private IP and cross-region replicas."""

    writer_host: pulumi.Output[str]
    """Private IP of the primary."""
    reader_hosts: dict[str, pulumi.Output[str]]
    """Private IP to read from in each region: the replica there, or the primary in its own region."""
    connection_name: pulumi.Output[str]
    """project:region:instance of the primary, for the Cloud SQL connectors."""
    replica_database_ids: dict[str, pulumi.Output[str]]
    """project:instance of each cross-region replica, by region: the database_id label of the
    cloudsql_database resource its replica_lag metric is reported for."""
    port: int
    """PostgreSQL port."""
    database_name: str
    """Database created in the primary."""

    def __init__(self, name: str, args: GcpDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:gcp:Database", name, None, opts)

        def child_name(*role: str) -> str:
            return resource_name(name, *role, max_len=AUTONAMED_MAX)

        def ip_configuration() -> gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs:
            return gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                ipv4_enabled=False,
                private_network=args.network_id,
                ssl_mode="ENCRYPTED_ONLY",
            )

        flags = [
            gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="cloudsql.iam_authentication", value="on"),
            gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="log_min_duration_statement", value="1000"),
        ]
        after = pulumi.ResourceOptions(
            parent=self, depends_on=[args.private_service_connection], protect=args.protect
        )
        primary = gcp.sql.DatabaseInstance(
            child_name(args.primary_region),
            project=args.project,
            region=args.primary_region,
            database_version=args.database_version,
            deletion_protection=args.protect,
            encryption_key_name=args.encryption_key_names.get(args.primary_region),
            settings=gcp.sql.DatabaseInstanceSettingsArgs(
                tier=args.tier,
                edition=args.edition,
                availability_type="REGIONAL",
                disk_type="PD_SSD",
                disk_size=args.disk_size_gb,
                disk_autoresize=True,
                deletion_protection_enabled=args.protect,
                retain_backups_on_delete=args.protect,
                ip_configuration=ip_configuration(),
                backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                    enabled=True,
                    point_in_time_recovery_enabled=True,
                    start_time="03:00",
                    transaction_log_retention_days=min(args.backup_retention_days, MAX_TRANSACTION_LOG_DAYS),
                    backup_retention_settings=gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                        retained_backups=args.backup_retention_days, retention_unit="COUNT"
                    ),
                ),
                maintenance_window=gcp.sql.DatabaseInstanceSettingsMaintenanceWindowArgs(
                    day=7, hour=5, update_track="stable"
                ),
                insights_config=gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(
                    query_insights_enabled=True, record_application_tags=True
                ),
                database_flags=flags,
                user_labels=dict(args.labels),
            ),
            opts=after,
        )

        gcp.sql.Database(
            child_name("db"),
            project=args.project,
            instance=primary.name,
            name=args.database_name,
            opts=pulumi.ResourceOptions(parent=self),
        )

        readers: dict[str, pulumi.Output[str]] = {args.primary_region: primary.private_ip_address}
        self.replica_database_ids = {}
        for region in args.replica_regions:
            replica = gcp.sql.DatabaseInstance(
                child_name(region),
                project=args.project,
                region=region,
                database_version=args.database_version,
                master_instance_name=primary.name,
                deletion_protection=args.protect,
                encryption_key_name=args.encryption_key_names.get(region),
                replica_configuration=gcp.sql.DatabaseInstanceReplicaConfigurationArgs(failover_target=False),
                # A replica takes no backups of its own (the primary's cover the data); it is
                # regional so that, once promoted, the new primary is as available as the old.
                settings=gcp.sql.DatabaseInstanceSettingsArgs(
                    tier=args.tier,
                    edition=args.edition,
                    availability_type="REGIONAL",
                    disk_type="PD_SSD",
                    disk_size=args.disk_size_gb,
                    disk_autoresize=True,
                    deletion_protection_enabled=args.protect,
                    ip_configuration=ip_configuration(),
                    backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                        enabled=False
                    ),
                    insights_config=gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(
                        query_insights_enabled=True
                    ),
                    database_flags=flags,
                    user_labels=dict(args.labels),
                ),
                opts=after,
            )
            readers[region] = replica.private_ip_address
            self.replica_database_ids[region] = replica.name.apply(lambda n: f"{args.project}:{n}")

        self.writer_host = primary.private_ip_address
        self.reader_hosts = readers
        self.connection_name = primary.connection_name
        self.port = PORT
        self.database_name = args.database_name
        self.register_outputs(
            {
                "databaseName": self.database_name,
                "writerHost": self.writer_host,
                "readerHosts": self.reader_hosts,
                "connectionName": self.connection_name,
                "port": self.port,
            }
        )
