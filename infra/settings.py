"""The stack's typed settings.

Every value a stack file can set is declared here, with the rule that makes it valid. The
program builds nothing until the whole stack file passes: a bad value stops the run with one
line that names the stack file, the key path, the value and what is allowed, before any
resource is registered, under the real engine and the offline toolkit alike.

Facts (regions, machine types, accelerators, TPU topologies, models) come from the dated
tables in ``infra.catalog``; this module only applies them.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args, get_origin

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from infra.catalog import catalog, model_fit, tpu_topology_chips

PROJECT = "inferstack"

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class SettingsError(pulumi.RunError):
    """A stack file that cannot be built; ``str()`` is the one line a person reads.

    A RunError, so that the language host prints it as that one line, without a traceback.
    """

    def __init__(self, source: str, path: str, message: str):
        self.source, self.path, self.message = source, path, message
        super().__init__(f"{source}: {path}: {message}")


class Problem(ValueError):
    """A cross-field rule broken at ``field`` of the model being validated."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a DNS label; allowed: lower-case letters, digits and '-', "
            "starting with a letter, at most 32 characters"
        )
    return value


def _domain(value: str) -> str:
    if not _DOMAIN.match(value):
        raise ValueError(f"{value!r} is not a valid DNS name; allowed: e.g. api.example.com")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
DomainName = Annotated[str, AfterValidator(_domain)]


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class Role(StrEnum):
    CORE = "core"
    BURST = "burst"


class Cloud(StrEnum):
    AWS = "aws"
    GCP = "gcp"
    EXISTING = "existing"


class Capacity(StrEnum):
    ON_DEMAND = "on-demand"
    SPOT = "spot"
    RESERVED = "reserved"


class EndpointAccess(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"


class Precision(StrEnum):
    BF16 = "bf16"
    FP8 = "fp8"
    INT4 = "int4"


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, use_enum_values=False
    )


class NodePool(_Model):
    """A group of identical nodes; accelerator facts are checked against the catalog."""

    name: DnsLabel
    machine_type: str
    accelerator: str | None = None
    accelerator_count: int | None = Field(default=None, ge=1)
    tpu_topology: str | None = None
    capacity: Capacity = Capacity.ON_DEMAND
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    desired_size: int | None = Field(default=None, ge=0)
    disk_size_gib: int = Field(default=200, ge=20, le=16384)
    labels: dict[str, str] = Field(default_factory=dict)
    capacity_reservation_id: str | None = None
    """AWS: the Capacity Block reservation (cr-...) a `reserved` pool launches into."""

    @model_validator(mode="after")
    def _sizes(self) -> NodePool:
        if self.min_size > self.max_size:
            raise Problem(
                "minSize", f"{self.min_size} is above maxSize {self.max_size}; allowed: minSize <= maxSize"
            )
        desired = self.desired
        if not self.min_size <= desired <= self.max_size:
            raise Problem(
                "desiredSize",
                f"{desired} is outside minSize..maxSize ({self.min_size}..{self.max_size})",
            )
        return self

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size

    @property
    def is_tpu(self) -> bool:
        return (self.accelerator or "").startswith("tpu-")

    @property
    def is_accelerated(self) -> bool:
        return self.accelerator is not None


class Cluster(_Model):
    """One Kubernetes cluster: provisioned on AWS or GCP, or an existing one reached by kubeconfig."""

    name: DnsLabel
    role: Role
    cloud: Cloud
    region: str | None = None
    kubernetes_version: str = "1.35"
    endpoint_access: EndpointAccess = EndpointAccess.PRIVATE
    public_access_cidrs: list[str] = Field(default_factory=list)
    network_cidr: str | None = None
    scale_from_zero: bool = False
    kubeconfig_secret: str | None = None
    node_pools: list[NodePool] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape(self) -> Cluster:
        if self.cloud is Cloud.EXISTING:
            if not self.kubeconfig_secret:
                raise Problem(
                    "kubeconfigSecret",
                    "missing; an existing cluster needs the name of a secret config key that holds its "
                    "kubeconfig (pulumi config set --secret <key> ...)",
                )
            if self.node_pools:
                raise Problem("nodePools", "an existing cluster is not provisioned; allowed: no nodePools")
            return self
        if self.kubeconfig_secret:
            raise Problem("kubeconfigSecret", f"only for cloud: existing, not {self.cloud.value}")
        if self.region is None:
            raise Problem("region", f"missing; a {self.cloud.value} cluster needs a region")
        regions = catalog().aws_regions if self.cloud is Cloud.AWS else catalog().gcp_regions
        if self.region not in regions:
            raise Problem(
                "region",
                f"{self.region!r} is not a known {self.cloud.value} region; allowed: {', '.join(sorted(regions))}",
            )
        if self.cloud is Cloud.AWS:
            supported = sorted(catalog().eks_addons)  # add-ons are pinned per version; no pin, no cluster
            if self.kubernetes_version not in supported:
                raise Problem(
                    "kubernetesVersion",
                    f"{self.kubernetes_version!r} is not an EKS version with pinned add-ons; allowed: {', '.join(supported)}",
                )
        for i, cidr in enumerate(self.public_access_cidrs):
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise Problem(f"publicAccessCidrs[{i}]", f"{cidr!r} is not a CIDR block") from None
            if net.prefixlen == 0:
                raise Problem(
                    f"publicAccessCidrs[{i}]",
                    f"{cidr!r} opens the API to the internet; allowed: narrower CIDRs",
                )
        if self.endpoint_access is EndpointAccess.PUBLIC and not self.public_access_cidrs:
            raise Problem(
                "publicAccessCidrs", "empty; a public endpoint must list the CIDRs allowed to reach it"
            )
        if self.network_cidr is not None:
            try:
                net = ipaddress.ip_network(self.network_cidr, strict=True)
            except ValueError:
                raise Problem("networkCidr", f"{self.network_cidr!r} is not a CIDR block") from None
            if not net.is_private or net.prefixlen > 16:
                raise Problem(
                    "networkCidr",
                    f"{self.network_cidr!r}; allowed: a private /16 or larger (e.g. 10.10.0.0/16)",
                )
        if not self.node_pools:
            raise Problem("nodePools", "empty; a provisioned cluster needs at least one node pool")
        seen: set[str] = set()
        for i, pool in enumerate(self.node_pools):
            if pool.name in seen:
                raise Problem(f"nodePools[{i}].name", f"{pool.name!r} is used twice in cluster {self.name!r}")
            seen.add(pool.name)
            self._check_pool(i, pool)
            if self.scale_from_zero and pool.is_accelerated and pool.min_size > 0:
                raise Problem(
                    f"nodePools[{i}].minSize",
                    f"{pool.min_size} but cluster {self.name!r} asks for scaleFromZero; allowed: 0",
                )
        if not any(not p.is_accelerated and p.min_size >= 1 for p in self.node_pools):
            raise Problem(
                "nodePools",
                "no pool without accelerators and minSize >= 1; accelerator nodes are tainted, so CoreDNS and "
                "other system pods would have nowhere to run",
            )
        accelerated = [p for p in self.node_pools if p.is_accelerated]
        if (
            self.role is Role.CORE
            and accelerated
            and not any(p.capacity is not Capacity.SPOT and p.min_size >= 1 for p in accelerated)
        ):
            raise Problem(
                "nodePools",
                f"core cluster {self.name!r} has no on-demand accelerator floor; allowed: at least one accelerator "
                "pool with capacity on-demand or reserved and minSize >= 1 (spot alone can be interrupted to zero)",
            )
        return self

    def _check_pool(self, i: int, pool: NodePool) -> None:
        at = f"nodePools[{i}]"
        cloud = self.cloud.value
        machine = catalog().machine(cloud, pool.machine_type)
        if machine is None:
            known = catalog().aws_instance_types if self.cloud is Cloud.AWS else catalog().gcp_machine_types
            near = difflib.get_close_matches(pool.machine_type, list(known), n=3)
            hint = f"did you mean {', '.join(near)}?" if near else f"allowed: {', '.join(sorted(known))}"
            raise Problem(
                f"{at}.machineType", f"{pool.machine_type!r} is not a known {cloud} machine type; {hint}"
            )
        if machine.accelerator is None:
            if pool.accelerator is not None:
                raise Problem(
                    f"{at}.accelerator",
                    f"{pool.accelerator!r} but {pool.machine_type} has no accelerator; allowed: omit it",
                )
        else:
            if pool.accelerator is None:
                raise Problem(
                    f"{at}.accelerator",
                    f"missing; {pool.machine_type} carries {machine.accelerator_count}x {machine.accelerator}, "
                    f"declare accelerator: {machine.accelerator}",
                )
            if pool.accelerator != machine.accelerator:
                raise Problem(
                    f"{at}.accelerator",
                    f"{pool.accelerator!r} does not match {pool.machine_type}; allowed: {machine.accelerator}",
                )
            if pool.accelerator_count is not None and pool.accelerator_count != machine.accelerator_count:
                raise Problem(
                    f"{at}.acceleratorCount",
                    f"{pool.accelerator_count} but {pool.machine_type} has {machine.accelerator_count} "
                    f"{machine.accelerator}; allowed: {machine.accelerator_count}",
                )
            if machine.regions is not None and self.region not in machine.regions:
                raise Problem(
                    f"{at}.machineType",
                    f"{pool.machine_type} is not offered in {self.region}; allowed regions: {', '.join(machine.regions)}",
                )
        if pool.capacity is Capacity.RESERVED and self.cloud is not Cloud.AWS:
            raise Problem(
                f"{at}.capacity", "'reserved' is only built for AWS Capacity Blocks; allowed: on-demand, spot"
            )
        if pool.capacity is Capacity.RESERVED and not re.fullmatch(
            r"cr-[0-9a-f]{17}", pool.capacity_reservation_id or ""
        ):
            raise Problem(
                f"{at}.capacityReservationId",
                f"{pool.capacity_reservation_id!r}; a reserved pool launches into a Capacity Block: allowed: cr-<17 hex digits>",
            )
        if pool.capacity is not Capacity.RESERVED and pool.capacity_reservation_id is not None:
            raise Problem(f"{at}.capacityReservationId", "only for capacity: reserved")
        topologies = list(getattr(machine, "tpu_topologies", []) or [])
        if topologies:
            if pool.tpu_topology is None:
                raise Problem(
                    f"{at}.tpuTopology", f"missing; allowed for {pool.machine_type}: {', '.join(topologies)}"
                )
            if pool.tpu_topology not in topologies:
                raise Problem(
                    f"{at}.tpuTopology",
                    f"{pool.tpu_topology!r} does not exist for {pool.machine_type}; allowed: {', '.join(topologies)}",
                )
            per_slice = tpu_topology_chips(pool.tpu_topology) // max(1, machine.accelerator_count)
            for key, value in (
                ("maxSize", pool.max_size),
                ("minSize", pool.min_size),
                ("desiredSize", pool.desired),
            ):
                if per_slice > 1 and value % per_slice:
                    raise Problem(
                        f"{at}.{key}",
                        f"{value}: a {pool.machine_type} {pool.tpu_topology} slice spans {per_slice} nodes and GKE adds "
                        f"or removes whole slices; allowed: a multiple of {per_slice}",
                    )
        elif pool.tpu_topology is not None:
            raise Problem(
                f"{at}.tpuTopology", f"{pool.tpu_topology!r} but {pool.machine_type} is not a TPU machine"
            )

    @property
    def provisioned(self) -> bool:
        return self.cloud is not Cloud.EXISTING

    def pool_nodes_per_replica(self, pool: NodePool) -> int:
        """Nodes one slice of a multi-host TPU pool spans (1 for everything else)."""
        if pool.tpu_topology is None:
            return 1
        machine = catalog().machine(self.cloud.value, pool.machine_type)
        chips = machine.accelerator_count if machine else 1
        return max(1, tpu_topology_chips(pool.tpu_topology) // max(1, chips))


class Database(_Model):
    """The gateway's database: Aurora PostgreSQL global database or Cloud SQL with a cross-region replica."""

    cloud: Literal["aws", "gcp"]
    primary_region: str
    secondary_regions: list[str] = Field(default_factory=list)
    instance_class: str
    engine_version: str = "16.6"
    backup_retention_days: int = Field(default=7, ge=1, le=35)


class Cache(_Model):
    """Redis as the gateway's response cache, one per core region."""

    node_type: str
    replicas: int = Field(default=1, ge=0, le=5)
    memory_size_gb: int = Field(default=5, ge=1, le=300)


class Edge(_Model):
    """The one public name and how traffic is spread over healthy serving clusters."""

    domain: DomainName
    hosted_zone: DomainName | None = None
    hosted_zone_id: str | None = None
    """An existing Route 53 zone to write into; without it the stack creates (and owns) hostedZone."""
    health_check_interval_seconds: int = 30
    health_check_path: str = "/ready"
    routing: Literal["failover", "latency", "weighted"] = "failover"
    aws_entry: Literal["route53", "global-accelerator"] = "route53"

    @model_validator(mode="after")
    def _interval(self) -> Edge:
        if self.health_check_interval_seconds not in (10, 30):
            raise Problem(
                "healthCheckIntervalSeconds",
                f"{self.health_check_interval_seconds}; allowed: 10 or 30 (what Route 53 supports)",
            )
        if not self.health_check_path.startswith("/"):
            raise Problem("healthCheckPath", f"{self.health_check_path!r}; allowed: a path starting with '/'")
        if self.hosted_zone and not self.domain.endswith("." + self.hosted_zone):
            raise Problem(
                "hostedZone",
                f"{self.hosted_zone!r} does not hold domain {self.domain!r} below its apex "
                "(failover records are CNAMEs, which a zone apex cannot carry)",
            )
        if self.hosted_zone_id is not None and not re.fullmatch(r"Z[A-Z0-9]{1,31}", self.hosted_zone_id):
            raise Problem(
                "hostedZoneId",
                f"{self.hosted_zone_id!r}; allowed: a Route 53 zone id such as Z0123456789ABCDEFGHIJ",
            )
        return self


class Monitoring(_Model):
    retention_days: int = Field(default=15, ge=1, le=400)
    storage_gib: int = Field(default=50, ge=10, le=4096)
    p99_latency_seconds: float = Field(default=1.5, gt=0)
    grafana: bool = True


class Budget(_Model):
    max_monthly_usd: float = Field(gt=0)


class ServedModel(_Model):
    """The DeepSeek model the clusters serve; every accelerator pool must hold one replica."""

    name: str
    precision: Precision = Precision.BF16

    @model_validator(mode="after")
    def _known(self) -> ServedModel:
        models = catalog().models
        if self.name not in models:
            near = difflib.get_close_matches(self.name, list(models), n=2)
            hint = f"did you mean {', '.join(near)}?" if near else f"allowed: {', '.join(sorted(models))}"
            raise Problem("name", f"{self.name!r} is not a known model; {hint}")
        if self.precision.value not in models[self.name].weights_gib:
            allowed = ", ".join(models[self.name].weights_gib)
            raise Problem(
                "precision", f"{self.precision.value!r} is not published for {self.name}; allowed: {allowed}"
            )
        return self


_BACKUP_MINIMUM = {Environment.DEV: 1, Environment.STAGING: 7, Environment.PROD: 14}


class Settings(_Model):
    """A whole stack: who owns it, where it runs, and what it serves."""

    environment: Environment
    owner: DnsLabel
    cost_center: str = Field(min_length=1, max_length=63)
    gcp_project: str = ""
    aws_account_id: str = ""
    log_retention_days: int = Field(default=30, ge=1, le=3653)
    cluster_admins: list[str] = Field(default_factory=list)
    """IAM role/user ARNs given cluster-admin on every EKS cluster (besides whoever deploys)."""
    clusters: list[Cluster] = Field(min_length=1)
    model: ServedModel
    database: Database | None = None
    cache: Cache | None = None
    edge: Edge | None = None
    monitoring: Monitoring = Field(default_factory=Monitoring)
    budget: Budget | None = None

    @model_validator(mode="after")
    def _topology(self) -> Settings:
        names: set[str] = set()
        for i, cluster in enumerate(self.clusters):
            if cluster.name in names:
                raise Problem(
                    f"clusters[{i}].name", f"{cluster.name!r} is used by two clusters; names must be unique"
                )
            names.add(cluster.name)
        if not any(c.role is Role.CORE for c in self.clusters):
            raise Problem("clusters", "no cluster has role: core; allowed: at least one core cluster")
        for i, cluster in enumerate(self.clusters):
            if (
                self.environment is Environment.PROD
                and cluster.role is Role.CORE
                and cluster.endpoint_access is EndpointAccess.PUBLIC
            ):
                raise Problem(
                    f"clusters[{i}].endpointAccess", "'public' on a prod core cluster; allowed: private"
                )
            if cluster.cloud is Cloud.GCP and not self.gcp_project:
                raise Problem(
                    "gcpProject", f"empty but cluster {cluster.name!r} is on gcp; set the GCP project id"
                )
            self._check_fit(i, cluster)
        if self.log_retention_days not in catalog().log_retention_days:
            allowed = ", ".join(str(d) for d in sorted(catalog().log_retention_days))
            raise Problem(
                "logRetentionDays",
                f"{self.log_retention_days}; allowed (what CloudWatch Logs keeps): {allowed}",
            )
        for k, arn in enumerate(self.cluster_admins):
            if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+", arn):
                raise Problem(
                    f"clusterAdmins[{k}]",
                    f"{arn!r}; allowed: an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)",
                )
        if self.aws_account_id and not re.fullmatch(r"\d{12}", self.aws_account_id):
            raise Problem("awsAccountId", f"{self.aws_account_id!r}; allowed: a 12-digit AWS account id")
        self._check_data()
        self._check_edge()
        return self

    def serving_clusters(self) -> list[Cluster]:
        """Clusters that take inference traffic: with accelerators, or existing ones."""
        return [
            c
            for c in self.clusters
            if c.cloud is Cloud.EXISTING or any(p.is_accelerated for p in c.node_pools)
        ]

    def _check_edge(self) -> None:
        edge = self.edge
        if edge is None:
            return
        serving = self.serving_clusters()
        gcp_roles = {c.role for c in serving if c.cloud is Cloud.GCP}
        if len(gcp_roles) > 1:
            raise Problem(
                "edge",
                "GCP clusters of both roles would share one GCP load balancer, which cannot keep burst idle "
                "behind core; allowed: serving GCP clusters of one role",
            )
        if edge.aws_entry == "global-accelerator":
            if edge.routing != "failover":
                raise Problem(
                    "edge.routing", f"{edge.routing!r} with awsEntry global-accelerator; allowed: failover"
                )
            if any(c.cloud is not Cloud.AWS for c in serving if c.role is Role.CORE):
                raise Problem(
                    "edge.awsEntry",
                    "'global-accelerator' fronts AWS regions only, but a core cluster is not on aws; allowed: route53",
                )
        if edge.routing == "latency" and any(c.cloud is Cloud.EXISTING for c in serving):
            raise Problem(
                "edge.routing",
                "'latency' needs a cloud region for every serving cluster, and an existing cluster has none; "
                "allowed: failover, weighted",
            )

    def _check_fit(self, i: int, cluster: Cluster) -> None:
        for j, pool in enumerate(cluster.node_pools):
            if pool.accelerator is None:
                continue
            machine = catalog().machine(cluster.cloud.value, pool.machine_type)
            assert machine is not None  # checked by Cluster
            devices = machine.accelerator_count * cluster.pool_nodes_per_replica(pool)
            fit = model_fit(self.model.name, self.model.precision.value, pool.accelerator, devices)
            if not fit.fits:
                raise Problem(
                    f"clusters[{i}].nodePools[{j}].machineType",
                    f"{pool.machine_type} cannot hold one replica of {self.model.name} ({self.model.precision.value}): "
                    f"needs {fit.needed_gib:.0f} GiB (weights {fit.weights_gib:.0f} GiB + KV-cache headroom), "
                    f"has {fit.available_gib:.0f} GiB ({devices}x {pool.accelerator})",
                )

    def _check_data(self) -> None:
        core_clouds = {c.cloud.value for c in self.clusters if c.role is Role.CORE}
        cache = self.cache
        if cache is not None:
            hosts = sorted(core_clouds & {"aws", "gcp"})
            if not hosts:
                raise Problem(
                    "cache", "set, but no core cluster is on aws or gcp to host it; allowed: omit cache"
                )
            if self.environment is Environment.PROD and cache.replicas < 1:
                raise Problem(
                    "cache.replicas",
                    "0 in prod leaves Redis without automatic failover; allowed: >= 1",
                )
            if "gcp" in hosts and cache.replicas >= 1 and cache.memory_size_gb < 5:
                raise Problem(
                    "cache.memorySizeGb",
                    f"{cache.memory_size_gb}; Memorystore read replicas need >= 5 (or set replicas: 0)",
                )
        db = self.database
        if db is None:
            return
        if db.cloud not in core_clouds:
            raise Problem(
                "database.cloud",
                f"{db.cloud!r} has no core cluster; allowed: {', '.join(sorted(core_clouds & {'aws', 'gcp'})) or 'none'}",
            )
        regions = catalog().aws_regions if db.cloud == "aws" else catalog().gcp_regions
        for key, region in [("primaryRegion", db.primary_region)] + [
            (f"secondaryRegions[{k}]", r) for k, r in enumerate(db.secondary_regions)
        ]:
            if region not in regions:
                raise Problem(f"database.{key}", f"{region!r} is not a known {db.cloud} region")
        for k, region in enumerate(db.secondary_regions):
            if region == db.primary_region:
                raise Problem(
                    f"database.secondaryRegions[{k}]",
                    f"{region!r} equals primaryRegion; allowed: another region",
                )
        if db.cloud == "aws":
            # Every Aurora member lives in the private subnets of a core cluster's VPC in its region;
            # the data layer builds no network of its own. (A GCP VPC is global: one core network serves all.)
            aws_cores = self.clusters_of(role=Role.CORE, cloud=Cloud.AWS)
            core_regions = sorted({c.region for c in aws_cores if c.region})
            for key, region in [("primaryRegion", db.primary_region)] + [
                (f"secondaryRegions[{k}]", r) for k, r in enumerate(db.secondary_regions)
            ]:
                if region not in core_regions:
                    raise Problem(
                        f"database.{key}",
                        f"{region!r} has no aws core cluster whose network could host the database; "
                        f"allowed: {', '.join(core_regions)}",
                    )
            if not db.instance_class.startswith("db."):
                raise Problem(
                    "database.instanceClass",
                    f"{db.instance_class!r}; allowed: an RDS class such as db.r6g.large",
                )
            if db.secondary_regions and db.instance_class.startswith("db.t"):
                raise Problem(
                    "database.instanceClass",
                    f"{db.instance_class!r} cannot join an Aurora global database; allowed: a memory-optimized "
                    "class such as db.r6g.large or db.r7g.large",
                )
        elif not db.instance_class.startswith("db-"):
            raise Problem(
                "database.instanceClass",
                f"{db.instance_class!r}; allowed: a Cloud SQL tier such as db-custom-4-16384",
            )
        if not re.fullmatch(r"\d{2}\.\d+", db.engine_version):
            raise Problem(
                "database.engineVersion", f"{db.engine_version!r}; allowed: a PostgreSQL version such as 16.6"
            )
        minimum = _BACKUP_MINIMUM[self.environment]
        if db.backup_retention_days < minimum:
            raise Problem(
                "database.backupRetentionDays",
                f"{db.backup_retention_days} is below the {self.environment.value} minimum; allowed: >= {minimum}",
            )

    # Derived views the topology uses.
    @property
    def is_prod(self) -> bool:
        return self.environment is Environment.PROD

    def clusters_of(self, *, role: Role | None = None, cloud: Cloud | None = None) -> list[Cluster]:
        return [
            c
            for c in self.clusters
            if (role is None or c.role is role) and (cloud is None or c.cloud is cloud)
        ]

    @property
    def tags(self) -> dict[str, str]:
        return {
            "environment": self.environment.value,
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
            "project": PROJECT,
        }


# --- reading a stack's config --------------------------------------------------------------


def _alias_of(model: type[BaseModel], key: str) -> str | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.alias or name
    return None


def _model_at(path: Sequence[str | int]) -> type[BaseModel] | None:
    """The settings model that a validation error's location points into."""
    model: type[BaseModel] | None = Settings
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        model = _unwrap(field.annotation)
    return model


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None:  # list[X], X | None, Annotated[...]
        for arg in get_args(annotation):
            found = _unwrap(arg)
            if found is not None:
                return found
    return None


def _key_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else f"{PROJECT}:") + part
    return out or PROJECT


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _first_problem(error: ValidationError) -> tuple[str, str]:
    errors = error.errors(include_url=False)
    # A misspelt key explains the "missing" error of the key it was meant to be: report it first.
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    ctx_error = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_error, Problem):
        extra = re.findall(r"[^.\[\]]+|\[\d+\]", ctx_error.field)
        for part in extra:
            loc.append(int(part[1:-1]) if part.startswith("[") else part)
        return _key_path(loc), str(ctx_error)
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc[:-1])
        allowed = sorted((f.alias or n) for n, f in model.model_fields.items()) if model else []
        near = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"allowed: {', '.join(allowed)}"
        return _key_path(loc), f"unknown key; {hint}"
    if kind == "missing":
        return _key_path(loc), "missing; this key is required"
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if message.startswith("Input should be"):
        message = "allowed: " + message[len("Input should be ") :]
    return _key_path(loc), f"{_show(err.get('input'))} is not allowed; {message}"


def parse_settings(
    raw: Mapping[str, Any], source: str, secret_keys: frozenset[str] = frozenset()
) -> Settings:
    """Validate the bare-keyed project config of one stack; raise SettingsError with one line.

    Keys that a cluster names as its ``kubeconfigSecret`` are not settings but secrets: they
    must be present and encrypted, and are left out of the model.
    """
    values = dict(raw)
    referenced = {
        c.get("kubeconfigSecret")
        for c in values.get("clusters") or []
        if isinstance(c, dict) and isinstance(c.get("kubeconfigSecret"), str)
    }
    secrets = {key: values.pop(key) for key in list(values) if key in referenced}
    try:
        settings = Settings.model_validate(values)
    except ValidationError as error:
        path, message = _first_problem(error)
        more = error.error_count() - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise SettingsError(source, path, message + suffix) from None
    for i, cluster in enumerate(settings.clusters):
        key = cluster.kubeconfig_secret
        if key is None:
            continue
        path = f"{PROJECT}:clusters[{i}].kubeconfigSecret"
        if key not in secrets:
            raise SettingsError(
                source,
                path,
                f"names config key {key!r}, which is not set; set it with "
                f"`pulumi config set --secret {key} < kubeconfig`",
            )
        if key not in secret_keys:
            raise SettingsError(
                source,
                f"{PROJECT}:{key}",
                "holds a kubeconfig in plain text; allowed: a secret "
                f"(`pulumi config set --secret {key} < kubeconfig`)",
            )
    return settings


def project_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The project's keys of a config bag (``inferstack:key`` -> ``key``), JSON objects decoded.

    The engine hands every config value to the program as a string; structured values arrive as
    JSON text. Keys of other namespaces (``aws:region``) belong to providers and are ignored.
    """
    raw: dict[str, Any] = {}
    for key, value in config.items():
        namespace, _, name = key.partition(":")
        if namespace != PROJECT or not name:
            continue
        if isinstance(value, str) and value[:1] in ("{", "["):
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        raw[name] = value
    return raw
