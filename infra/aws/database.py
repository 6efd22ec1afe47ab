"""The gateway's PostgreSQL on AWS: an Aurora global database, or one regional cluster.

Creates, per member region: a customer-managed KMS key with rotation (storage, Performance
Insights, the master secret); a DB subnet group over the private subnets of a core cluster's VPC
(the data layer builds no network of its own); a security group admitting 5432 only from the given
CIDRs; a cluster parameter group that refuses clear-text connections; an Aurora PostgreSQL cluster
with IAM database authentication, automated backups, PostgreSQL logs in CloudWatch and deletion
protection when `protect`; and its instances spread over distinct zones, never publicly reachable.

With secondary regions, an `aws.rds.GlobalCluster` ties the members together: the primary cluster
takes writes, each secondary is a read-only copy one managed failover away from taking over, and
the global writer endpoint follows the writer across failovers. Without secondaries (dev,
staging) there is no global cluster, only the primary as a regional cluster.

The master password: a regional cluster lets RDS generate it and keep it in Secrets Manager
(`manage_master_user_password`); nothing about it is in config or state. AWS refuses that for
members of a global database ("Limitations for Secrets Manager integration with Amazon Aurora"),
so a global database gets a generated password (pulumi_random; in state only as a secret) kept in
a Secrets Manager secret, encrypted with the primary's key and replicated to every secondary
region. Either way `secret_arns` names a secret readable in each member's region; applications
are expected to use IAM authentication and leave the master user to operators.

Providers: every regional child uses the provider given in its `AuroraMember`; the random
provider (global database only) is inherited from `opts.providers`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.aws.firewall import Ingress, admit
from infra.aws.stores import StoreHome, customer_managed_key
from infra.naming import AUTONAMED_MAX, resource_name

ENGINE = "aurora-postgresql"
PORT = 5432

_IDENTIFIER = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,61}[a-z0-9]$")
_VERSION = re.compile(r"^(\d{2})\.\d+$")
_WINDOW = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_MAINTENANCE = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
)


@dataclass(frozen=True, kw_only=True)
class AuroraMember(StoreHome):
    """One member cluster's home: a region and the private network of a core cluster there."""

    name: str
    """Logical-name stem of the member's children, e.g. "core-use1-db"."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("AuroraMember.name: must not be empty")
        super().__post_init__()


@dataclass(frozen=True, kw_only=True)
class AwsGlobalDatabaseArgs:
    """What the database needs to know; validated before any resource exists."""

    identifier: str
    """Stack-unique physical name stem: the global cluster identifier and final snapshot names."""
    engine_version: str
    """Aurora PostgreSQL version, e.g. "16.10" (a row of infra/catalog/postgres.yaml); its major picks the
    parameter group family."""
    instance_class: str
    """Instance class of every instance, e.g. "db.r6g.xlarge"; burstable classes cannot join a global database."""
    primary: AuroraMember
    """Where writes go."""
    secondaries: Sequence[AuroraMember] = ()
    """Read-only members in other regions; any makes this a global database."""
    instances_per_cluster: int
    """Instances per member: 1 (dev: writer only) or more (writer + readers in distinct zones)."""
    backup_retention_days: int
    """Days of automated backups (point-in-time recovery window), 1..35."""
    protect: bool
    """Prod: deletion protection, a final snapshot on delete and Pulumi `protect` on stateful children."""
    database_name: str = "inferstack"
    """Database created in the primary."""
    master_username: str = "inferstack_admin"
    """Master user; its password is never in config."""
    backup_window: str = "03:00-04:00"
    """Daily backup window, UTC."""
    maintenance_window: str = "sun:05:00-sun:06:00"
    """Weekly maintenance window, UTC; must not overlap the backup window."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every taggable child (Name is added per child)."""

    def __post_init__(self) -> None:
        where = "AwsGlobalDatabaseArgs"
        if not _IDENTIFIER.match(self.identifier):
            raise ValueError(
                f"{where}.identifier={self.identifier!r}: 2-63 lower-case letters, digits and single hyphens, "
                "starting with a letter"
            )
        if not _VERSION.match(self.engine_version):
            raise ValueError(
                f"{where}.engine_version={self.engine_version!r}: expected major.minor, e.g. '16.10'"
            )
        if not self.instance_class.startswith("db."):
            raise ValueError(
                f"{where}.instance_class={self.instance_class!r}: expected an RDS class, e.g. 'db.r6g.large'"
            )
        if self.secondaries and self.instance_class.startswith("db.t"):
            raise ValueError(
                f"{where}.instance_class={self.instance_class!r}: burstable classes cannot join a global database"
            )
        if not 1 <= self.instances_per_cluster <= 15:
            raise ValueError(f"{where}.instances_per_cluster={self.instances_per_cluster}: must be 1..15")
        for member in self.members:
            if self.instances_per_cluster >= 2 and len(member.zones) < 2:
                raise ValueError(
                    f"{where}: member {member.name!r} has one zone; a writer and a reader need two distinct zones"
                )
        regions = [m.region for m in self.members]
        if len(set(regions)) != len(regions):
            raise ValueError(f"{where}: member regions {regions!r} must be distinct")
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: member names {names!r} must be distinct")
        if not 1 <= self.backup_retention_days <= 35:
            raise ValueError(f"{where}.backup_retention_days={self.backup_retention_days}: must be 1..35")
        if not _WINDOW.match(self.backup_window):
            raise ValueError(f"{where}.backup_window={self.backup_window!r}: expected hh:mm-hh:mm (UTC)")
        if not _MAINTENANCE.match(self.maintenance_window):
            raise ValueError(
                f"{where}.maintenance_window={self.maintenance_window!r}: expected ddd:hh:mm-ddd:hh:mm"
            )
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", self.database_name):
            raise ValueError(
                f"{where}.database_name={self.database_name!r}: lower-case letters, digits and '_'"
            )
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", self.master_username) or self.master_username in {
            "postgres",
            "rdsadmin",
            "admin",
        }:
            raise ValueError(
                f"{where}.master_username={self.master_username!r}: not a reserved name, [a-z][a-z0-9_]*"
            )

    @property
    def members(self) -> list[AuroraMember]:
        return [self.primary, *self.secondaries]

    @property
    def is_global(self) -> bool:
        return bool(self.secondaries)

    @property
    def home(self) -> AuroraMember:
        """Where the global cluster and the master secret are managed: the member whose region sorts first.

        Chosen by the members, not by their roles, so that after a switchover or failover the stack
        file can name the new primary (``primaryRegion``) without moving either: a resource whose
        provider changes is replaced, and a replaced GlobalCluster or secret is an outage.
        """
        return min(self.members, key=lambda m: m.region)

    @property
    def major(self) -> str:
        match = _VERSION.match(self.engine_version)
        assert match is not None
        return match.group(1)


@dataclass
class _Built:
    key: aws.kms.Key
    cluster: aws.rds.Cluster | None = None
    instances: list[aws.rds.ClusterInstance] = field(default_factory=list)


class AwsGlobalDatabase(pulumi.ComponentResource):
    """Aurora PostgreSQL: a global database over several regions, or one regional cluster."""

    writer_endpoint: pulumi.Output[str]
    """Where writes go: the global writer endpoint (follows failovers), or the cluster endpoint."""
    reader_endpoints: dict[str, pulumi.Output[str]]
    """Reader endpoint of the member in each region."""
    secret_arns: dict[str, pulumi.Output[str]]
    """ARN of the master-user secret as readable in each member's region."""
    master_secret_arn: pulumi.Output[str]
    """ARN of the master-user secret in the primary region."""
    kms_key_arns: dict[str, pulumi.Output[str]]
    """The customer-managed key of each member region."""
    member_cluster_ids: dict[str, pulumi.Output[str]]
    """DBClusterIdentifier of every member of a global database (none for a regional cluster), keyed
    by its logical name (e.g. "core-usw2-db"): a secondary reports AuroraGlobalDBReplicationLag, and
    after a switchover any member may be one."""
    member_regions: dict[str, str]
    """Region of each of those members, keyed by its logical name."""
    global_cluster_id: pulumi.Output[str] | None
    """Identifier of the global cluster; None when there are no secondaries."""
    port: int
    """PostgreSQL port of every endpoint."""
    database_name: str
    """Database created in the primary."""

    def __init__(
        self, name: str, args: AwsGlobalDatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("inferstack:aws:GlobalDatabase", name, None, opts)
        self._args = args
        built = {
            m.region: _Built(
                key=customer_managed_key(
                    resource_name(m.name, max_len=AUTONAMED_MAX),
                    description=f"inferstack {args.identifier}: Aurora storage, Performance Insights, master secret",
                    provider=m.provider,
                    region=m.region,
                    tags=args.tags,
                    protect=args.protect,
                    parent=self,
                )
            )
            for m in args.members
        }

        global_cluster: aws.rds.GlobalCluster | None = None
        if args.is_global:
            global_cluster = aws.rds.GlobalCluster(
                resource_name(name, "global", max_len=AUTONAMED_MAX),
                global_cluster_identifier=args.identifier,
                engine=ENGINE,
                engine_version=args.engine_version,
                database_name=args.database_name,
                storage_encrypted=True,
                deletion_protection=args.protect,
                tags={**args.tags, "Name": args.identifier},
                opts=pulumi.ResourceOptions(parent=self, provider=args.home.provider, protect=args.protect),
            )

        secret: aws.secretsmanager.Secret | None = None
        password: pulumi.Output[str] | None = None
        if global_cluster is not None:
            secret, password = self._master_secret(name, built)

        primary = built[args.primary.region]
        primary.cluster = self._cluster(
            args.primary, primary.key, global_cluster=global_cluster, primary=True, password=password
        )
        primary.instances = self._instances(args.primary, primary)

        for member in args.secondaries:
            entry = built[member.region]
            entry.cluster = self._cluster(
                member,
                entry.key,
                global_cluster=global_cluster,
                primary=False,
                password=None,
                # A secondary can only attach once the primary has a writer to copy from.
                after=primary.instances[:1],
            )
            entry.instances = self._instances(member, entry)

        primary_cluster = primary.cluster
        if global_cluster is not None and secret is not None:
            self.writer_endpoint = global_cluster.endpoint.apply(lambda e: e or "")
            self.master_secret_arn = secret.arn
            self.secret_arns = {
                m.region: secret.arn.apply(lambda arn, r=m.region: _arn_in_region(arn, r))
                for m in args.members
            }
        else:
            self.writer_endpoint = primary_cluster.endpoint
            self.master_secret_arn = primary_cluster.master_user_secrets.apply(
                lambda secrets: (secrets[0].secret_arn or "") if secrets else ""
            )
            self.secret_arns = {args.primary.region: self.master_secret_arn}
        self.reader_endpoints = {
            region: entry.cluster.reader_endpoint
            for region, entry in built.items()
            if entry.cluster is not None
        }
        self.kms_key_arns = {region: entry.key.arn for region, entry in built.items()}
        members = args.members if args.is_global else []
        self.member_cluster_ids = {
            m.name: cluster.cluster_identifier
            for m in members
            if (cluster := built[m.region].cluster) is not None
        }
        self.member_regions = {m.name: m.region for m in members}
        self.global_cluster_id = global_cluster.id if global_cluster is not None else None
        self.port = PORT
        self.database_name = args.database_name
        self.register_outputs(
            {
                "writerEndpoint": self.writer_endpoint,
                "readerEndpoints": self.reader_endpoints,
                "masterSecretArn": self.master_secret_arn,
                "secretArns": self.secret_arns,
                "kmsKeyArns": self.kms_key_arns,
                "globalClusterId": self.global_cluster_id,
                "port": self.port,
                "databaseName": self.database_name,
            }
        )

    def _master_secret(
        self, name: str, built: dict[str, _Built]
    ) -> tuple[aws.secretsmanager.Secret, pulumi.Output[str]]:
        """A generated master password in a secret replicated to every member region (global only).

        The secret lives in the home region and is replicated to the others, whatever their role.
        """
        args = self._args
        home = args.home
        primary_opts = pulumi.ResourceOptions(parent=self, provider=home.provider)
        generated = random.RandomPassword(
            resource_name(name, "master", max_len=AUTONAMED_MAX),
            length=40,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        secret_name = resource_name(name, "master", max_len=AUTONAMED_MAX)
        secret = aws.secretsmanager.Secret(
            secret_name,
            description=f"Master user of the Aurora global database {args.identifier}",
            kms_key_id=built[home.region].key.arn,
            recovery_window_in_days=30 if args.protect else 7,
            replicas=[
                aws.secretsmanager.SecretReplicaArgs(region=m.region, kms_key_id=built[m.region].key.arn)
                for m in args.members
                if m.region != home.region
            ],
            tags={**args.tags, "Name": secret_name},
            opts=primary_opts,
        )
        aws.secretsmanager.SecretVersion(
            secret_name,
            secret_id=secret.id,
            secret_string=pulumi.Output.json_dumps(
                {"username": args.master_username, "password": generated.result}
            ),
            opts=primary_opts,
        )
        return secret, generated.result

    def _cluster(
        self,
        member: AuroraMember,
        key: aws.kms.Key,
        *,
        global_cluster: aws.rds.GlobalCluster | None,
        primary: bool,
        password: pulumi.Output[str] | None,
        after: Sequence[pulumi.Resource] = (),
    ) -> aws.rds.Cluster:
        args = self._args
        child = pulumi.ResourceOptions(parent=self, provider=member.provider)
        stem = member.name

        def tags(resource: str) -> dict[str, str]:
            return {**args.tags, "Name": resource}

        subnets_name = resource_name(stem, max_len=AUTONAMED_MAX)
        subnets = aws.rds.SubnetGroup(
            subnets_name,
            subnet_ids=member.subnet_ids,
            description=f"Private subnets of {stem}",
            tags=tags(subnets_name),
            opts=child,
        )
        sg_name = resource_name(stem, max_len=AUTONAMED_MAX)
        sg = aws.ec2.SecurityGroup(
            sg_name,
            vpc_id=member.vpc_id,
            description="Aurora PostgreSQL: 5432 from the core clusters' private subnets only",
            tags=tags(sg_name),
            opts=child,
        )
        admit(
            sg.id,
            port=PORT,
            sources=[
                Ingress(
                    resource_name(stem, "postgres", cidr, max_len=AUTONAMED_MAX),
                    cidr,
                    f"PostgreSQL from {cidr}",
                )
                for cidr in member.allowed_cidrs
            ],
            tags=tags,
            opts=child,
        )
        params_name = resource_name(stem, max_len=AUTONAMED_MAX)
        params = aws.rds.ClusterParameterGroup(
            params_name,
            family=f"{ENGINE}{args.major}",
            description="TLS required for every connection",
            parameters=[aws.rds.ClusterParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
            tags=tags(params_name),
            opts=child,
        )

        # Engine upgrades of a global database go through the GlobalCluster, which upgrades every
        # member in place; the members must not fight it over engineVersion.
        ignore = ["engineVersion"] if global_cluster is not None else []
        if global_cluster is not None:
            # Only the primary is created with a master user, database and password (a secondary
            # copies them). After a switchover the stack file names the new primary; ignoring these
            # keeps Pulumi on the values in state rather than planning a replacement of a member for
            # an input AWS never lets change (https://www.pulumi.com/docs/iac/concepts/options/ignorechanges/).
            ignore += ["masterUsername", "databaseName", "masterPassword"]
        managed_password = primary and password is None
        # A secondary is a replica: no master user or database of its own, and AWS takes no final
        # snapshot of a replica (the primary holds the data and its backups).
        final_snapshot = primary and args.protect
        return aws.rds.Cluster(
            stem,
            engine=ENGINE,
            engine_version=args.engine_version,
            global_cluster_identifier=global_cluster.id if global_cluster is not None else None,
            database_name=args.database_name if primary else None,
            master_username=args.master_username if primary else None,
            manage_master_user_password=True if managed_password else None,
            master_user_secret_kms_key_id=key.arn if managed_password else None,
            master_password=password if primary else None,
            storage_encrypted=True,
            kms_key_id=key.arn,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[sg.id],
            db_cluster_parameter_group_name=params.name,
            port=PORT,
            iam_database_authentication_enabled=True,
            backup_retention_period=args.backup_retention_days,
            preferred_backup_window=args.backup_window,
            preferred_maintenance_window=args.maintenance_window,
            copy_tags_to_snapshot=True,
            enabled_cloudwatch_logs_exports=["postgresql"],
            deletion_protection=args.protect,
            skip_final_snapshot=not final_snapshot,
            final_snapshot_identifier=resource_name(args.identifier, stem, "final")
            if final_snapshot
            else None,
            tags=tags(stem),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=member.provider,
                protect=args.protect,
                depends_on=list(after),
                ignore_changes=ignore if primary else [*ignore, "replicationSourceIdentifier"],
            ),
        )

    def _instances(self, member: AuroraMember, built: _Built) -> list[aws.rds.ClusterInstance]:
        """Instance i in zone i: the writer and the first reader never share a zone.

        Named by position (``<member>-1``, ``-2``), not by role: a switchover makes a secondary's
        first instance the writer, and a name that said "replica" would change its URN, which Pulumi
        carries out as a delete and a create.
        """
        args = self._args
        assert built.cluster is not None
        zones = list(member.zones)
        instances = []
        for i in range(args.instances_per_cluster):
            instance_name = resource_name(member.name, str(i + 1), max_len=AUTONAMED_MAX)
            instances.append(
                aws.rds.ClusterInstance(
                    instance_name,
                    cluster_identifier=built.cluster.id,
                    engine=aws.rds.EngineType.AURORA_POSTGRESQL,
                    instance_class=args.instance_class,
                    availability_zone=zones[i % len(zones)],
                    db_subnet_group_name=built.cluster.db_subnet_group_name,
                    publicly_accessible=False,
                    promotion_tier=min(i, 15),
                    performance_insights_enabled=True,
                    performance_insights_kms_key_id=built.key.arn,
                    performance_insights_retention_period=7,
                    auto_minor_version_upgrade=True,
                    copy_tags_to_snapshot=True,
                    tags={**args.tags, "Name": instance_name},
                    opts=pulumi.ResourceOptions(parent=self, provider=member.provider),
                )
            )
        return instances


def _arn_in_region(arn: str, region: str) -> str:
    """A replica of a Secrets Manager secret keeps the name and suffix; only the region differs."""
    parts = arn.split(":")
    if len(parts) > 3 and parts[3]:
        parts[3] = region
    return ":".join(parts)
