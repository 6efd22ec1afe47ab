"""The gateway's response cache in one AWS region: an ElastiCache for Valkey replication group.

Creates a customer-managed KMS key (rotation on) that encrypts the cache at rest, its AUTH token
secret and its slow-log group; a subnet group over the private subnets of a core cluster's VPC; a
security group admitting 6379 only from the given CIDRs; a generated AUTH token kept in a Secrets
Manager secret; a CloudWatch log group with a fixed retention receiving the slow log; and the
replication group: TLS required in transit, encrypted at rest, one primary plus `replicas` read
replicas spread over the zones, with automatic failover and Multi-AZ as soon as there is a replica.

Why Valkey: ElastiCache prices Valkey nodes about 20% below Redis OSS nodes of the same type; it
speaks the Redis protocol (clients, AUTH, TLS and commands unchanged) and is where ElastiCache's
new versions land, while Redis OSS stops at 7.1 there.

Why an AUTH token: ElastiCache cannot generate one itself. The token is generated once by
pulumi_random (stable across runs, in state only as a secret) and kept in Secrets Manager, where
the workloads read it; the stack file never holds it. ElastiCache's IAM authentication would need
no token at all, but every client would have to sign a fresh token every 15 minutes and reconnect
every 12 hours; the token keeps the gateway a plain Redis client, as it is on Memorystore.

Providers: every AWS child uses `args.provider`; the random provider comes from `opts.providers`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.aws.firewall import Ingress, admit
from infra.aws.stores import StoreHome, customer_managed_key
from infra.catalog import catalog
from infra.naming import AUTONAMED_MAX, resource_name

ENGINE = "valkey"
ENGINE_VERSION = "8.0"
PORT = 6379


@dataclass(frozen=True, kw_only=True)
class AwsCacheArgs(StoreHome):
    """What the cache needs to know besides its home; validated before any resource exists."""

    node_type: str
    """ElastiCache node type, e.g. "cache.r7g.large"."""
    replicas: int
    """Read replicas besides the primary, 0..5; 0 (dev) means one node and no failover."""
    snapshot_retention_days: int
    """Days of daily snapshots kept, 1..35."""
    log_retention_days: int
    """Days CloudWatch keeps the slow log; one of the values CloudWatch accepts."""
    protect: bool
    """Prod: Pulumi `protect` on the key and a 30-day recovery window on the token secret."""
    final_snapshot_identifier: str | None = None
    """Account-unique name of the snapshot taken when the group is deleted; None takes none."""
    engine_version: str = ENGINE_VERSION
    """Valkey major.minor."""
    snapshot_window: str = "04:00-05:00"
    """Daily snapshot window, UTC."""
    maintenance_window: str = "sun:06:00-sun:07:00"
    """Weekly maintenance window, UTC; must not overlap the snapshot window."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every taggable child (Name is added per child)."""

    def __post_init__(self) -> None:
        where = "AwsCacheArgs"
        super().__post_init__()
        zones = list(self.zones)
        if self.replicas >= 1 and len(zones) < 2:
            raise ValueError(f"{where}.zones={zones!r}: Multi-AZ failover needs at least two zones")
        if not self.node_type.startswith("cache."):
            raise ValueError(f"{where}.node_type={self.node_type!r}: expected e.g. 'cache.r7g.large'")
        if not 0 <= self.replicas <= 5:
            raise ValueError(f"{where}.replicas={self.replicas}: must be 0..5")
        if not 1 <= self.snapshot_retention_days <= 35:
            raise ValueError(f"{where}.snapshot_retention_days={self.snapshot_retention_days}: must be 1..35")
        if self.log_retention_days not in catalog().log_retention_days:
            raise ValueError(
                f"{where}.log_retention_days={self.log_retention_days}: must be one of {sorted(catalog().log_retention_days)}"
            )
        if self.final_snapshot_identifier is not None and not re.fullmatch(
            r"[a-z](?!.*--)[a-z0-9-]{0,253}[a-z0-9]", self.final_snapshot_identifier
        ):
            raise ValueError(
                f"{where}.final_snapshot_identifier={self.final_snapshot_identifier!r}: "
                "lower-case letters, digits and single hyphens, starting with a letter"
            )
        if not re.fullmatch(r"\d+\.\d+", self.engine_version):
            raise ValueError(
                f"{where}.engine_version={self.engine_version!r}: expected major.minor, e.g. '8.0'"
            )

    @property
    def nodes(self) -> int:
        return 1 + self.replicas


class AwsCache(pulumi.ComponentResource):
    """A TLS-only, encrypted Valkey replication group with an AUTH token kept in Secrets Manager."""

    primary_endpoint: pulumi.Output[str]
    """Host name of the primary (writes)."""
    reader_endpoint: pulumi.Output[str]
    """Host name spreading reads over the replicas (the primary when there are none)."""
    port: int
    """TLS port."""
    auth_secret_arn: pulumi.Output[str]
    """Secrets Manager secret holding the AUTH token."""
    kms_key_arn: pulumi.Output[str]
    """The customer-managed key of the cache."""
    node_cluster_ids: list[pulumi.Output[str]]
    """CacheClusterId of each node (the group's member clusters), the dimension of its CloudWatch metrics."""

    def __init__(self, name: str, args: AwsCacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:aws:Cache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)

        def child_name(*role: str) -> str:
            return resource_name(name, *role, max_len=AUTONAMED_MAX)

        def tags(resource: str) -> dict[str, str]:
            return {**args.tags, "Name": resource}

        key = customer_managed_key(
            child_name(),
            description=f"inferstack {name}: Valkey at rest, its AUTH token and slow log",
            provider=args.provider,
            region=args.region,
            tags=args.tags,
            protect=args.protect,
            parent=self,
            logs=True,
        )

        subnets = aws.elasticache.SubnetGroup(
            child_name(),
            subnet_ids=args.subnet_ids,
            description=f"Private subnets of {name}",
            tags=tags(child_name()),
            opts=child,
        )
        sg = aws.ec2.SecurityGroup(
            child_name(),
            vpc_id=args.vpc_id,
            description="Valkey: 6379 from the core clusters' private subnets only",
            tags=tags(child_name()),
            opts=child,
        )
        admit(
            sg.id,
            port=PORT,
            sources=[
                Ingress(child_name("valkey", cidr), cidr, f"Valkey from {cidr}")
                for cidr in args.allowed_cidrs
            ],
            tags=tags,
            opts=child,
        )

        # ElastiCache accepts 16-128 printable characters without spaces, '/', '"' or '@'.
        token = random.RandomPassword(
            child_name("auth"), length=64, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        secret = aws.secretsmanager.Secret(
            child_name("auth"),
            description=f"AUTH token of the Valkey replication group {name}",
            kms_key_id=key.arn,
            recovery_window_in_days=30 if args.protect else 7,
            tags=tags(child_name("auth")),
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            child_name("auth"), secret_id=secret.id, secret_string=token.result, opts=child
        )

        slow_log = aws.cloudwatch.LogGroup(
            child_name("slow-log"),
            retention_in_days=args.log_retention_days,
            kms_key_id=key.arn,
            tags=tags(child_name("slow-log")),
            opts=child,
        )

        zones = list(args.zones)
        failover = args.replicas >= 1
        group = aws.elasticache.ReplicationGroup(
            child_name(),
            description=f"inferstack response cache ({name})",
            engine=ENGINE,
            engine_version=args.engine_version,
            node_type=args.node_type,
            num_cache_clusters=args.nodes,
            preferred_cache_cluster_azs=[zones[i % len(zones)] for i in range(args.nodes)],
            automatic_failover_enabled=failover,
            multi_az_enabled=failover,
            port=PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[sg.id],
            at_rest_encryption_enabled=True,
            kms_key_id=key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=token.result,
            # A new token (pulumi up --replace of the RandomPassword) is added beside the old one, both
            # valid until the clients have the new one (docs/runbooks/rotate-secrets.md); the provider's
            # documented default when omitted, said here so that no upgrade can change it.
            auth_token_update_strategy="ROTATE",
            snapshot_retention_limit=args.snapshot_retention_days,
            snapshot_window=args.snapshot_window,
            maintenance_window=args.maintenance_window,
            final_snapshot_identifier=args.final_snapshot_identifier,
            auto_minor_version_upgrade=True,
            log_delivery_configurations=[
                aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                    destination=slow_log.name,
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type="slow-log",
                )
            ],
            tags=tags(child_name()),
            opts=child,
        )

        self.primary_endpoint = group.primary_endpoint_address
        self.reader_endpoint = group.reader_endpoint_address
        self.port = PORT
        self.auth_secret_arn = secret.arn
        self.kms_key_arn = key.arn
        # As many as the group has nodes, known before the group exists; ElastiCache names them.
        self.node_cluster_ids = [
            group.member_clusters.apply(lambda ids, i=i: sorted(ids or [])[i] if len(ids or []) > i else "")
            for i in range(args.nodes)
        ]
        self.register_outputs(
            {
                "primaryEndpoint": self.primary_endpoint,
                "readerEndpoint": self.reader_endpoint,
                "port": self.port,
                "authSecretArn": self.auth_secret_arn,
                "kmsKeyArn": self.kms_key_arn,
            }
        )
