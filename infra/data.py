"""The data layer: the gateway's PostgreSQL and one Redis per core region, handed to the clusters.

What is built, from the stack's `database` and `cache` settings:
  - database on aws: an Aurora PostgreSQL global database, the primary in `primaryRegion` and a
    secondary in each of `secondaryRegions`; with no secondaries (dev, staging) one regional
    cluster and no global cluster. Each member lives in the private subnets of the first core
    cluster of its region; dev runs one instance, every other environment a writer and a reader
    in two zones (and as many instances in each secondary, so that a failover keeps both);
  - database on gcp: a regional Cloud SQL primary on the first gcp core cluster's network (in
    `primaryRegion` when one is there) and a read replica in each of `secondaryRegions`;
  - cache: per (cloud, region) holding core clusters, ElastiCache for Valkey (aws) or Memorystore
    (gcp) in the first core cluster's network of that region; dev on aws runs one node when
    `replicas` is 0, dev on gcp a BASIC instance;
  - hand-over: in every core cluster that has a Kubernetes provider and can reach the data (it is
    on the database's cloud, or a cache serves its region), the namespace `inference` and the
    ConfigMap `inferstack-data` with the endpoints (HOST/PORT keys below); no secret value is
    in it, only the ARN of the secret (aws) or, on gcp, a Secret `inferstack-redis-auth`.

Clients are admitted by network: the database and cache security groups admit the private
subnets of the core clusters of their region (`ClusterParts.private_cidrs`, or the VPC's CIDR
until the cluster layer fills them in). Core clusters on another cloud, or on premises, get no
hand-over: nothing here routes them to these private addresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.aws.cache import AwsCache, AwsCacheArgs
from infra.aws.database import AuroraMember, AwsGlobalDatabase, AwsGlobalDatabaseArgs
from infra.aws.network import AwsNetwork
from infra.aws.stores import StoreHome
from infra.gcp.cache import GcpCache, GcpCacheArgs
from infra.gcp.database import GcpDatabase, GcpDatabaseArgs
from infra.gcp.network import GcpNetwork
from infra.naming import resource_name
from infra.parts import ClusterParts, Providers, zones
from infra.settings import PROJECT, Cloud, Environment, Role, Settings

NAMESPACE = "inference"
CONFIG_MAP = "inferstack-data"
REDIS_AUTH_SECRET = "inferstack-redis-auth"
POD_SECURITY = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
"""The inference namespace admits only pods meeting the restricted Pod Security Standard."""
AMBIENT = {"istio.io/dataplane-mode": "ambient"}
"""Puts a namespace's pods in Istio's ambient mesh (infra/k8s/mesh.py, on EKS and GKE clusters;
https://istio.io/v1.30/docs/ambient/usage/add-workloads/)."""


def namespace_labels(cloud: Cloud) -> dict[str, str]:
    """A workload namespace's labels: restricted pods, and in the mesh where the program runs one."""
    return {**POD_SECURITY, **(AMBIENT if cloud is not Cloud.EXISTING else {})}


@dataclass(frozen=True)
class DataSecret:
    """A secret of the data layer a core cluster's pods read (through its ClusterSecretStore), and
    the KMS key that encrypts it: a reader needs ``kms:Decrypt`` on a customer managed key too
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples.html)."""

    arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]


@dataclass
class DataOutputs:
    """What the data layer built, for the stack outputs and the layers above."""

    database: AwsGlobalDatabase | GcpDatabase | None = None
    caches: dict[str, AwsCache | GcpCache] = field(default_factory=dict)
    """One cache per core region, keyed by region."""
    config_maps: dict[str, k8s.core.v1.ConfigMap] = field(default_factory=dict)
    """The `inferstack-data` ConfigMap of each core cluster that got one, keyed by cluster name."""

    def database_secret(self, region: str) -> DataSecret | None:
        """The Aurora master secret as Secrets Manager serves it in ``region``, or None when no
        member (or replica of the secret) lives there: a secret is regional, and a ClusterSecretStore
        reads the secret manager of its own region only."""
        db = self.database
        if not isinstance(db, AwsGlobalDatabase) or region not in db.secret_arns:
            return None
        return DataSecret(db.secret_arns[region], db.kms_key_arns[region])

    def secrets_for(self, cluster: str, region: str | None) -> list[DataSecret]:
        """The data layer's secrets a core cluster's workloads read: its region's database secret and
        Redis AUTH token, when the cluster got the hand-over (``config_maps``)."""
        if cluster not in self.config_maps or region is None:
            return []
        found = [s for s in [self.database_secret(region)] if s is not None]
        cache = self.caches.get(region)
        if isinstance(cache, AwsCache):
            found.append(DataSecret(cache.auth_secret_arn, cache.kms_key_arn))
        return found

    def stack_outputs(self) -> dict[str, Any]:
        """`database` and `cache` stack outputs: endpoints and secret ARNs, never secret values."""
        out: dict[str, Any] = {}
        db = self.database
        if isinstance(db, AwsGlobalDatabase):
            out["database"] = {
                "cloud": "aws",
                "global": db.global_cluster_id is not None,
                "writerEndpoint": db.writer_endpoint,
                "readerEndpoints": db.reader_endpoints,
                "masterSecretArn": db.master_secret_arn,
                "port": db.port,
                "name": db.database_name,
            }
        elif isinstance(db, GcpDatabase):
            out["database"] = {
                "cloud": "gcp",
                "writerEndpoint": db.writer_host,
                "readerEndpoints": db.reader_hosts,
                "connectionName": db.connection_name,
                "port": db.port,
                "name": db.database_name,
            }
        if self.caches:
            out["cache"] = {
                region: (
                    {
                        "host": cache.primary_endpoint,
                        "readerHost": cache.reader_endpoint,
                        "port": cache.port,
                        "authSecretArn": cache.auth_secret_arn,
                    }
                    if isinstance(cache, AwsCache)
                    else {"host": cache.host, "readerHost": cache.reader_host, "port": cache.port}
                )
                for region, cache in self.caches.items()
            }
        return out


class _Random:
    """The one random provider of the stack, created only if something needs a generated secret."""

    def __init__(self) -> None:
        self._provider: random.Provider | None = None

    def get(self) -> random.Provider:
        if self._provider is None:
            self._provider = random.Provider("random")
        return self._provider


def _core_parts(parts: Mapping[str, ClusterParts], cloud: Cloud) -> dict[str, list[ClusterParts]]:
    """Provisioned core clusters of one cloud by region, in stack-file order."""
    by_region: dict[str, list[ClusterParts]] = {}
    for part in parts.values():
        cluster = part.cluster
        if cluster.role is Role.CORE and cluster.cloud is cloud and cluster.region:
            by_region.setdefault(cluster.region, []).append(part)
    return by_region


def _aws_network(part: ClusterParts) -> AwsNetwork:
    if not isinstance(part.network, AwsNetwork):
        raise ValueError(f"cluster {part.cluster.name!r} has no AWS network for the data layer to use")
    return part.network


def _gcp_network(part: ClusterParts) -> GcpNetwork:
    if not isinstance(part.network, GcpNetwork):
        raise ValueError(f"cluster {part.cluster.name!r} has no GCP network for the data layer to use")
    return part.network


def _allowed_cidrs(region_parts: list[ClusterParts]) -> list[str]:
    """The private subnets of the region's core clusters, or their VPC CIDR until those are known."""
    cidrs: list[str] = []
    for part in region_parts:
        own = list(part.private_cidrs) or [_aws_network(part).vpc_cidr]
        cidrs.extend(c for c in own if c not in cidrs)
    return cidrs


def _store_home(
    region: str,
    region_parts: list[ClusterParts],
    providers: Providers,
    admit: list[ClusterParts] | None = None,
) -> StoreHome:
    """A data store's home: the first core cluster's private subnets in ``region``, admitting the
    private subnets of ``admit`` (by default the region's core clusters)."""
    host = region_parts[0]
    network = _aws_network(host)
    return StoreHome(
        region=region,
        provider=providers.for_aws(region),
        vpc_id=network.vpc_id,
        subnet_ids=network.private_subnet_ids,
        zones=zones(host.cluster),
        allowed_cidrs=_allowed_cidrs(admit or region_parts),
    )


def _aws_database(
    settings: Settings, providers: Providers, parts: Mapping[str, ClusterParts], randoms: _Random
) -> AwsGlobalDatabase:
    db = settings.database
    assert db is not None
    cores = _core_parts(parts, Cloud.AWS)
    # Every core cluster writes to the global writer, wherever it is, and any member can become the
    # writer: each member admits the private subnets of every AWS core cluster. The topology peers
    # every pair of AWS core networks, which is what makes those subnets reach each other.
    writers = [part for region_parts in cores.values() for part in region_parts]

    def member(region: str, key: str) -> AuroraMember:
        if region not in cores:
            raise ValueError(
                f"inferstack:database.{key}: {region!r} has no aws core cluster whose network could host the database"
            )
        home = _store_home(region, cores[region], providers, admit=writers)
        return AuroraMember(name=f"{cores[region][0].cluster.name}-db", **vars(home))

    secondaries = [member(r, f"secondaryRegions[{i}]") for i, r in enumerate(db.secondary_regions)]
    return AwsGlobalDatabase(
        "database",
        AwsGlobalDatabaseArgs(
            identifier=resource_name(PROJECT, pulumi.get_stack()),
            engine_version=db.engine_version,
            instance_class=db.instance_class,
            primary=member(db.primary_region, "primaryRegion"),
            secondaries=secondaries,
            instances_per_cluster=1 if settings.environment is Environment.DEV else 2,
            backup_retention_days=db.backup_retention_days,
            protect=settings.is_prod,
            tags={**settings.tags, "component": "database"},
        ),
        opts=pulumi.ResourceOptions(providers=[randoms.get()]) if secondaries else None,
    )


def _gcp_database(settings: Settings, providers: Providers, parts: Mapping[str, ClusterParts]) -> GcpDatabase:
    db = settings.database
    assert db is not None
    cores = _core_parts(parts, Cloud.GCP)
    host = (cores.get(db.primary_region) or next(iter(cores.values())))[0]
    network = _gcp_network(host)
    return GcpDatabase(
        "database",
        GcpDatabaseArgs(
            project=settings.gcp_project,
            primary_region=db.primary_region,
            replica_regions=list(db.secondary_regions),
            network_id=network.network_id,
            private_service_connection=network.private_service_connection,
            engine_version=db.engine_version,
            tier=db.instance_class,
            backup_retention_days=db.backup_retention_days,
            protect=settings.is_prod,
            labels={"component": "database"},
        ),
        opts=pulumi.ResourceOptions(providers=[providers.for_gcp(db.primary_region)]),
    )


def _caches(
    settings: Settings, providers: Providers, parts: Mapping[str, ClusterParts], randoms: _Random
) -> dict[str, AwsCache | GcpCache]:
    cache = settings.cache
    assert cache is not None
    dev = settings.environment is Environment.DEV
    caches: dict[str, AwsCache | GcpCache] = {}
    for region, region_parts in _core_parts(parts, Cloud.AWS).items():
        host = region_parts[0]
        caches[region] = AwsCache(
            f"{host.cluster.name}-cache",
            AwsCacheArgs(
                **vars(_store_home(region, region_parts, providers)),
                node_type=cache.node_type,
                replicas=cache.replicas,
                snapshot_retention_days=7 if settings.is_prod else 1,
                log_retention_days=settings.log_retention_days,
                protect=settings.is_prod,
                final_snapshot_identifier=(
                    resource_name(PROJECT, pulumi.get_stack(), host.cluster.name, "cache-final")
                    if settings.is_prod
                    else None
                ),
                tags={**settings.tags, "component": "cache"},
            ),
            opts=pulumi.ResourceOptions(providers=[randoms.get()]),
        )
    for region, region_parts in _core_parts(parts, Cloud.GCP).items():
        host = region_parts[0]
        network = _gcp_network(host)
        basic = dev and cache.replicas == 0
        caches[region] = GcpCache(
            f"{host.cluster.name}-cache",
            GcpCacheArgs(
                project=settings.gcp_project,
                region=region,
                network_id=network.network_id,
                private_service_connection=network.private_service_connection,
                memory_size_gb=cache.memory_size_gb,
                replicas=cache.replicas,
                tier="BASIC" if basic else "STANDARD_HA",
                protect=settings.is_prod,
                labels={"component": "cache"},
            ),
            opts=pulumi.ResourceOptions(providers=[providers.for_gcp(region)]),
        )
    return caches


def _database_keys(database: AwsGlobalDatabase | GcpDatabase, region: str) -> dict[str, pulumi.Input[str]]:
    if isinstance(database, AwsGlobalDatabase):
        primary_reader = next(iter(database.reader_endpoints.values()))
        return {
            "DATABASE_HOST": database.writer_endpoint,
            "DATABASE_READER_HOST": database.reader_endpoints.get(region, primary_reader),
            "DATABASE_PORT": str(database.port),
            "DATABASE_NAME": database.database_name,
            "DATABASE_SECRET_ARN": database.secret_arns.get(region, database.master_secret_arn),
        }
    return {
        "DATABASE_HOST": database.writer_host,
        "DATABASE_READER_HOST": database.reader_hosts.get(region, database.writer_host),
        "DATABASE_PORT": str(database.port),
        "DATABASE_NAME": database.database_name,
        "DATABASE_CONNECTION_NAME": database.connection_name,
    }


def _cache_keys(cache: AwsCache | GcpCache) -> dict[str, pulumi.Input[str]]:
    if isinstance(cache, AwsCache):
        return {
            "REDIS_HOST": cache.primary_endpoint,
            "REDIS_READER_HOST": cache.reader_endpoint,
            "REDIS_PORT": str(cache.port),
            "REDIS_TLS": "true",
            "REDIS_AUTH_SECRET_ARN": cache.auth_secret_arn,
        }
    return {
        "REDIS_HOST": cache.host,
        "REDIS_READER_HOST": cache.reader_host,
        "REDIS_PORT": cache.port.apply(str),
        "REDIS_TLS": "true",
        "REDIS_CA_CERT": cache.ca_certificate,
    }


def _hand_over(settings: Settings, parts: Mapping[str, ClusterParts], out: DataOutputs) -> None:
    for part in parts.values():
        cluster = part.cluster
        if cluster.role is not Role.CORE or part.kubernetes is None or cluster.region is None:
            continue
        data: dict[str, pulumi.Input[str]] = {}
        if out.database is not None and settings.database and cluster.cloud.value == settings.database.cloud:
            data.update(_database_keys(out.database, cluster.region))
        cache = out.caches.get(cluster.region)
        if cache is not None:
            data.update(_cache_keys(cache))
        if not data:
            continue
        opts = pulumi.ResourceOptions(provider=part.kubernetes)
        # Created here until the workloads layer lands; it will take this namespace over.
        namespace = k8s.core.v1.Namespace(
            f"{cluster.name}-{NAMESPACE}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels=namespace_labels(cluster.cloud)),
            opts=opts,
        )
        in_namespace = k8s.meta.v1.ObjectMetaArgs(
            name=CONFIG_MAP, namespace=namespace.metadata.name, labels={"app.kubernetes.io/part-of": PROJECT}
        )
        out.config_maps[cluster.name] = k8s.core.v1.ConfigMap(
            f"{cluster.name}-{CONFIG_MAP}", metadata=in_namespace, data=data, opts=opts
        )
        if isinstance(cache, GcpCache):
            k8s.core.v1.Secret(
                f"{cluster.name}-{REDIS_AUTH_SECRET}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=REDIS_AUTH_SECRET,
                    namespace=namespace.metadata.name,
                    labels={"app.kubernetes.io/part-of": PROJECT},
                ),
                type="Opaque",
                string_data={"REDIS_AUTH": cache.auth_string},
                opts=opts,
            )


def build_data(settings: Settings, providers: Providers, parts: Mapping[str, ClusterParts]) -> DataOutputs:
    """Register the database, the caches and their hand-over; return what was built."""
    out = DataOutputs()
    randoms = _Random()
    db = settings.database
    if db is not None:
        if db.cloud == "aws":
            out.database = _aws_database(settings, providers, parts, randoms)
        else:
            out.database = _gcp_database(settings, providers, parts)
    if settings.cache is not None:
        out.caches = _caches(settings, providers, parts, randoms)
    _hand_over(settings, parts, out)
    return out
