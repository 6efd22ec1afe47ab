"""The gateway's response cache in one GCP region: a Memorystore for Redis instance.

Creates one instance on a private IP of the given VPC (private services access), with AUTH on
and TLS required (server authentication: clients verify the instance against its own CA, handed
out as `ca_certificate`), RDB snapshots for faster recovery, and a weekly maintenance window.
Tier STANDARD_HA (a replica in another zone with automatic failover; `replicas` >= 1 also
serves reads from the replicas) everywhere except where `tier` says BASIC (dev: one node).

Memorystore generates the AUTH string itself: nothing is in config; it is an output of the
instance (a secret in state) that the data layer hands to the clusters.

The Google provider is not created here: pass it as `opts=pulumi.ResourceOptions(providers=[...])`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_gcp as gcp

from infra.naming import AUTONAMED_MAX, resource_name

REDIS_VERSION = "REDIS_7_2"
READ_REPLICAS_MIN_GB = 5
"""Memorystore serves reads from replicas only on instances of 5 GB or more."""

_REGION = re.compile(r"^[a-z]+(-[a-z]+)*\d+$")


@dataclass(frozen=True, kw_only=True)
class GcpCacheArgs:
    """What the cache needs to know; validated before any resource exists."""

    project: str
    """GCP project id."""
    region: str
    """Region of the instance, e.g. "us-central1"."""
    network_id: pulumi.Input[str]
    """VPC (id or self link) the instance is reachable from."""
    private_service_connection: pulumi.Resource
    """The network's servicenetworking connection; the instance is created after it."""
    memory_size_gb: int
    """Memory of the instance, 1..300 GB."""
    replicas: int
    """Read replicas 0..5; 0 keeps STANDARD_HA's failover replica out of the read path."""
    tier: Literal["STANDARD_HA", "BASIC"] = "STANDARD_HA"
    """STANDARD_HA (failover across zones) or BASIC (one node, dev only)."""
    protect: bool
    """Prod: deletion protection."""
    customer_managed_key: str | None = None
    """Optional Cloud KMS key id (same region) for encryption at rest; Google-managed otherwise."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels for the instance."""

    def __post_init__(self) -> None:
        where = "GcpCacheArgs"
        if not self.project:
            raise ValueError(f"{where}.project: must not be empty")
        if not _REGION.match(self.region):
            raise ValueError(f"{where}.region={self.region!r}: expected a region such as 'us-central1'")
        if not 1 <= self.memory_size_gb <= 300:
            raise ValueError(f"{where}.memory_size_gb={self.memory_size_gb}: must be 1..300")
        if not 0 <= self.replicas <= 5:
            raise ValueError(f"{where}.replicas={self.replicas}: must be 0..5")
        if self.tier == "BASIC" and self.replicas:
            raise ValueError(f"{where}.replicas={self.replicas}: a BASIC instance has no replicas")
        if self.replicas and self.memory_size_gb < READ_REPLICAS_MIN_GB:
            raise ValueError(
                f"{where}.memory_size_gb={self.memory_size_gb}: read replicas need >= {READ_REPLICAS_MIN_GB}"
            )


class GcpCache(pulumi.ComponentResource):
    """Memorystore for Redis: private, AUTH and TLS on, highly available outside dev."""

    host: pulumi.Output[str]
    """Private IP of the primary endpoint."""
    reader_host: pulumi.Output[str]
    """Private IP of the read endpoint (the primary's when there are no read replicas)."""
    port: pulumi.Output[int]
    """TLS port (6378 with transit encryption)."""
    instance_id: pulumi.Output[str]
    """projects/<project>/locations/<region>/instances/<name>: the instance_id label of the
    redis_instance resource its Cloud Monitoring metrics are reported for."""
    auth_string: pulumi.Output[str]
    """The AUTH string Memorystore generated; secret."""
    ca_certificate: pulumi.Output[str]
    """PEM of the instance's server CA, which clients verify TLS against."""

    def __init__(self, name: str, args: GcpCacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:gcp:Cache", name, None, opts)
        read_replicas = args.tier == "STANDARD_HA" and args.replicas > 0
        instance = gcp.redis.Instance(
            resource_name(name, max_len=AUTONAMED_MAX),
            project=args.project,
            region=args.region,
            tier=args.tier,
            memory_size_gb=args.memory_size_gb,
            redis_version=REDIS_VERSION,
            authorized_network=args.network_id,
            connect_mode="PRIVATE_SERVICE_ACCESS",
            auth_enabled=True,
            transit_encryption_mode="SERVER_AUTHENTICATION",
            read_replicas_mode="READ_REPLICAS_ENABLED" if read_replicas else "READ_REPLICAS_DISABLED",
            replica_count=args.replicas if read_replicas else None,
            persistence_config=gcp.redis.InstancePersistenceConfigArgs(
                persistence_mode="RDB", rdb_snapshot_period="TWELVE_HOURS"
            ),
            maintenance_policy=gcp.redis.InstanceMaintenancePolicyArgs(
                weekly_maintenance_windows=[
                    gcp.redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowArgs(
                        day="SUNDAY",
                        start_time=gcp.redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowStartTimeArgs(
                            hours=6, minutes=0
                        ),
                    )
                ]
            ),
            customer_managed_key=args.customer_managed_key,
            deletion_protection=args.protect,
            labels=dict(args.labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.private_service_connection]),
        )
        self.host = instance.host
        self.reader_host = instance.read_endpoint if read_replicas else instance.host
        self.port = instance.port
        self.instance_id = instance.id
        self.auth_string = pulumi.Output.secret(instance.auth_string)
        self.ca_certificate = instance.server_ca_certs.apply(
            lambda certs: (certs[0].cert or "") if certs else ""
        )
        self.register_outputs(
            {
                "host": self.host,
                "readerHost": self.reader_host,
                "port": self.port,
                "authString": self.auth_string,
                "caCertificate": self.ca_certificate,
            }
        )
