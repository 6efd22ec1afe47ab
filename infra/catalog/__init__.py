"""Dated lookup tables for the facts the stacks would otherwise hard-code.

Which instance types exist in which regions, how much memory an accelerator has, what a
DeepSeek checkpoint weighs, when an EKS version leaves standard support and which add-on
versions are built for it are facts about the outside world that go stale. Keeping them in one
place, as YAML with an ``asOf`` date and named sources, lets the stacks and policies validate a
config against the same data, and makes refreshing them a data change that review can check
against the sources. The tables are validated on load, so a typo or an inconsistency (a
machine naming an unknown accelerator or region, a TPU topology that cannot be built from the
machine's chips) fails the first time the catalog is loaded rather than halfway through a
deployment.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "BOOT_DISK_TYPES",
    "PRECISIONS",
    "Accelerator",
    "Addon",
    "AddonRelease",
    "AwsInstanceType",
    "BootDiskType",
    "Catalog",
    "CloudSqlTiers",
    "CrdBundle",
    "DeviceKind",
    "GcpMachineType",
    "Model",
    "ModelFit",
    "PoolHardware",
    "PostgresVersions",
    "build_catalog",
    "catalog",
    "kubernetes_minor",
    "model_fit",
    "tpu_topology_chips",
]

PRECISIONS: tuple[str, ...] = ("bf16", "fp8", "int4")

BootDiskType = Literal["pd-balanced", "pd-ssd", "hyperdisk-balanced", "pd-standard"]
BOOT_DISK_TYPES: tuple[str, ...] = get_args(BootDiskType)


def _alias(name: str) -> str:
    # The YAML spells the unit "GiB" (memoryGiB, weightsGiB); plain to_camel would give "Gib".
    return to_camel(name).replace("Gib", "GiB")


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=_alias, populate_by_name=True, frozen=True)


class DeviceKind(StrEnum):
    """What a node of a pool computes on: the one decision settings, node groups and node pools share."""

    CPU = "cpu"
    GPU = "gpu"
    TPU = "tpu"
    NEURON = "neuron"
    """AWS Trainium / Inferentia, driven by the Neuron SDK."""


Vendor = Literal["nvidia", "google", "aws"]
_KIND_OF_VENDOR: Mapping[str, DeviceKind] = {
    "nvidia": DeviceKind.GPU,
    "google": DeviceKind.TPU,
    "aws": DeviceKind.NEURON,
}


class Accelerator(_Row):
    vendor: Vendor
    memory_gib: float = Field(gt=0)
    zones: dict[str, list[str]] | None = None
    """GCP region -> the zones that offer it: TPUs (multi-tenant VMs of the generation) and the NVIDIA
    GPUs of GCP machine types. AWS offerings are per instance type (machines.yaml, awsAzIds)."""
    note: str | None = None

    @model_validator(mode="after")
    def _zones_for_tpus(self) -> Accelerator:
        if self.vendor == "google" and self.zones is None:
            raise ValueError("zones is required for a TPU (vendor google)")
        if self.vendor == "aws" and self.zones is not None:
            raise ValueError("zones are GCP zones; an AWS accelerator has none")
        for region, zones in (self.zones or {}).items():
            if not zones or len(set(zones)) != len(zones):
                raise ValueError(f"zones[{region}]: a non-empty list without repeats, got {zones}")
        return self

    @property
    def kind(self) -> DeviceKind:
        return _KIND_OF_VENDOR[self.vendor]


@dataclass(frozen=True)
class PoolHardware:
    """What one node of a machine type carries, as decided from the catalog."""

    kind: DeviceKind
    vendor: str | None
    """nvidia, google or aws; None for CPU machines."""
    accelerator: str | None
    count: int
    """Accelerators per node (0 for CPU machines)."""

    @property
    def accelerated(self) -> bool:
        return self.kind is not DeviceKind.CPU


class _Machine(_Row):
    vcpus: int = Field(gt=0)
    memory_gib: float = Field(gt=0)
    accelerator: str | None
    accelerator_count: int = Field(ge=0)
    regions: list[str] | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _accelerator_consistent(self) -> _Machine:
        if (self.accelerator is None) != (self.accelerator_count == 0):
            raise ValueError("accelerator and acceleratorCount must both be set or both be empty")
        if self.accelerator is not None and not self.regions:
            raise ValueError("an accelerated machine type must list its regions")
        return self


class AwsInstanceType(_Machine):
    local_nvme_gib: int = Field(default=0, ge=0)


class GcpMachineType(_Machine):
    gke_accelerator_type: str | None = None
    tpu_topologies: list[str] = Field(default_factory=list)
    boot_disk: BootDiskType | None = None
    """The boot disk type the machine type requires; None: any Persistent Disk type."""

    @model_validator(mode="after")
    def _gke_fields_consistent(self) -> GcpMachineType:
        if (self.accelerator is None) != (self.gke_accelerator_type is None):
            raise ValueError("gkeAcceleratorType is required exactly when accelerator is set")
        if self.tpu_topologies and self.accelerator is None:
            raise ValueError("tpuTopologies given for a machine type without accelerators")
        for topology in self.tpu_topologies:
            chips = tpu_topology_chips(topology)
            if chips % self.accelerator_count:
                raise ValueError(
                    f"topology {topology} has {chips} chips, not a multiple of "
                    f"{self.accelerator_count} chips per machine"
                )
        return self


class Model(_Row):
    hf_id: str
    params_b: float = Field(gt=0)
    weights_gib: dict[str, float]
    kv_headroom: float = Field(ge=0, le=1)
    max_context: int = Field(gt=0)
    native_precision: Literal["bf16", "fp8"] = "bf16"
    """The precision of the published checkpoint; any other precision is a converted or quantized copy."""
    load_minutes: int = Field(gt=0, le=120)
    """How long one replica takes from container start to serving (see models.yaml): the startupProbe's budget."""
    note: str | None = None

    @model_validator(mode="after")
    def _weights_ordered(self) -> Model:
        if set(self.weights_gib) != set(PRECISIONS):
            raise ValueError(f"weightsGiB must give exactly {PRECISIONS}")
        bf16, fp8, int4 = (self.weights_gib[p] for p in PRECISIONS)
        if not bf16 > fp8 > int4 > 0:
            raise ValueError(f"weightsGiB must satisfy bf16 > fp8 > int4 > 0, got {self.weights_gib}")
        return self


class _Region(_Row):
    zones: list[str] = Field(min_length=1)
    az_ids: list[str] | None = None
    """AWS: every AZ ID of the region (use1-az1 ...), whatever names an account gives them."""
    note: str | None = None


class _GcpRegion(_Region):
    nearest_aws_region: str
    """The AWS region in the nearest metro: Route 53 latency routing measures AWS regions only."""


class _EksVersion(_Row):
    end_of_standard_support: dt.date
    end_of_extended_support: dt.date
    note: str | None = None


class _EksAddons(_Row):
    vpc_cni: str = Field(alias="vpc-cni")
    kube_proxy: str = Field(alias="kube-proxy")
    coredns: str
    eks_pod_identity_agent: str = Field(alias="eks-pod-identity-agent")
    amazon_cloudwatch_observability: str = Field(alias="amazon-cloudwatch-observability")
    aws_ebs_csi_driver: str = Field(alias="aws-ebs-csi-driver")
    note: str | None = None

    def versions(self) -> dict[str, str]:
        """Add-on name (as EKS spells it) -> version."""
        return self.model_dump(by_alias=True, exclude={"note"})


_EXACT_VERSION = re.compile(r"v?\d+\.\d+\.\d+")
_MINOR = re.compile(r"(\d+)\.(\d+)")


def kubernetes_minor(version: str) -> tuple[int, int] | None:
    """(major, minor) of a Kubernetes minor version written such as "1.35"; None if it is not one."""
    match = _MINOR.fullmatch(version)
    return None if match is None else (int(match[1]), int(match[2]))


class _KubernetesRange(_Row):
    min: str
    max: str | None = None
    """None: the source states a floor only."""

    @model_validator(mode="after")
    def _ordered(self) -> _KubernetesRange:
        low = kubernetes_minor(self.min)
        high = None if self.max is None else kubernetes_minor(self.max)
        if low is None or (self.max is not None and high is None):
            raise ValueError(f"kubernetes: {self.min}..{self.max}: minor versions are written such as 1.35")
        if high is not None and high < low:
            raise ValueError(f"kubernetes: min {self.min} is above max {self.max}")
        return self

    def holds(self, version: str) -> bool:
        minor = kubernetes_minor(version)
        if minor is None:
            return False
        low = kubernetes_minor(self.min)
        high = None if self.max is None else kubernetes_minor(self.max)
        assert low is not None
        return low <= minor and (high is None or minor <= high)

    def __str__(self) -> str:
        if self.max is None:
            return f"{self.min}+"
        return self.min if self.max == self.min else f"{self.min}-{self.max}"


class AddonRelease(_Row):
    """One chart version, the image tags it runs and the Kubernetes minors it supports."""

    version: str
    """The exact chart version (never a range)."""
    app_version: str
    kubernetes: _KubernetesRange
    tags: dict[str, str] = Field(min_length=1)
    """Image name (the add-on's ``images`` key) -> exact tag."""
    source: str = Field(min_length=1)
    """Where the version, tags and Kubernetes range were read."""

    @model_validator(mode="after")
    def _exact(self) -> AddonRelease:
        if not _EXACT_VERSION.fullmatch(self.version):
            raise ValueError(f"version {self.version!r}: an exact chart version such as 2.20.2, not a range")
        for image, tag in self.tags.items():
            if not _EXACT_VERSION.fullmatch(tag):
                raise ValueError(f"tags.{image}: {tag!r} is not an exact version tag such as v1.2.3")
        return self


AddonCloud = Literal["aws", "gcp", "existing"]


class Addon(_Row):
    """A third-party add-on: one Helm chart, its images, and its releases (newest first)."""

    chart: str = Field(min_length=1)
    repository: str
    """The chart repository URL (https)."""
    clouds: list[AddonCloud] = Field(min_length=1)
    """Where it applies: aws (EKS), gcp (GKE), existing (a cluster reached by kubeconfig)."""
    images: dict[str, str] = Field(min_length=1)
    """Image name -> repository, without a tag (each release gives the tag)."""
    releases: list[AddonRelease] = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Addon:
        if not self.repository.startswith("https://"):
            raise ValueError(f"repository {self.repository!r}: a chart repository over https")
        for name, image in self.images.items():
            if ":" in image.rsplit("/", 1)[-1] or "@" in image:
                raise ValueError(f"images.{name}: {image!r} carries a tag; the releases give the tags")
        for release in self.releases:
            if set(release.tags) != set(self.images):
                raise ValueError(
                    f"release {release.version} ({release.app_version}): tags for {sorted(release.tags)}, "
                    f"images are {sorted(self.images)}"
                )
        lows = [kubernetes_minor(r.kubernetes.min) or (0, 0) for r in self.releases]
        if lows != sorted(lows, reverse=True) or len(set(lows)) != len(lows):
            raise ValueError("releases: newest first, one per lowest supported Kubernetes minor")
        return self

    def release_for(self, kubernetes_version: str) -> AddonRelease | None:
        """The newest release that supports ``kubernetes_version``, or None."""
        return next((r for r in self.releases if r.kubernetes.holds(kubernetes_version)), None)

    def image(self, name: str, release: AddonRelease) -> tuple[str, str]:
        """(repository, tag) of image ``name`` in ``release``."""
        return self.images[name], release.tags[name]

    def supported(self) -> str:
        """The Kubernetes minors some release supports, in words: "1.33-1.35", "1.22+"."""
        return ", ".join(str(r.kubernetes) for r in reversed(self.releases))


class CrdBundle(_Row):
    """CustomResourceDefinitions no pinned chart installs, vendored unchanged from their release.

    The file is checked against its digest and every definition in it against the bundle's version
    and channel, so that the YAML the clusters get is the one the row names."""

    version: str
    channel: str
    file: str
    """Path of the vendored YAML, relative to infra/catalog."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    clouds: list[AddonCloud] = Field(min_length=1)
    required_by: str = Field(min_length=1)
    """Who needs this version, and where that was read."""
    source: str = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _vendored(self) -> CrdBundle:
        if not _EXACT_VERSION.fullmatch(self.version):
            raise ValueError(f"version {self.version!r}: an exact version such as v1.5.1")
        text = resources.files(__name__).joinpath(self.file).read_bytes()
        digest = hashlib.sha256(text).hexdigest()
        if digest != self.sha256:
            raise ValueError(f"{self.file}: sha256 {digest}, the row says {self.sha256}")
        for document in self.documents(text):
            meta = document.get("metadata") or {}
            annotations = meta.get("annotations") or {}
            if document.get("kind") != "CustomResourceDefinition":
                raise ValueError(f"{self.file}: {document.get('kind')} {meta.get('name')} is not a CRD")
            if annotations.get(f"{_BUNDLE_ANNOTATIONS}/bundle-version") != self.version or (
                annotations.get(f"{_BUNDLE_ANNOTATIONS}/channel") != self.channel
            ):
                raise ValueError(f"{self.file}: {meta.get('name')} is not {self.version} {self.channel}")
        return self

    def documents(self, text: bytes | None = None) -> list[dict[str, Any]]:
        """The definitions in the vendored file, in its order (empty documents dropped)."""
        if text is None:
            text = resources.files(__name__).joinpath(self.file).read_bytes()
        return [d for d in yaml.safe_load_all(text) if d]


_BUNDLE_ANNOTATIONS = "gateway.networking.k8s.io"
"""Gateway API marks each of its CRDs with the bundle version and channel under this prefix."""


class _Table(_Row):
    as_of: dt.date
    sources: list[str] = Field(min_length=1)


class _AddonsTable(_Table):
    addons: dict[str, Addon] = Field(min_length=1)
    crd_bundles: dict[str, CrdBundle] = Field(default_factory=dict)


class _RegionsTable(_Table):
    aws: dict[str, _Region]
    gcp: dict[str, _GcpRegion]
    aws_latency_only: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _nearest_aws_regions_known(self) -> _RegionsTable:
        both = sorted(set(self.aws) & set(self.aws_latency_only))
        if both:
            raise ValueError(f"awsLatencyOnly: {both} are also in aws; list a region in one of them")
        named = {region.nearest_aws_region for region in self.gcp.values()}
        for name, region in self.gcp.items():
            if (
                region.nearest_aws_region not in self.aws
                and region.nearest_aws_region not in self.aws_latency_only
            ):
                raise ValueError(
                    f"gcp {name}: nearestAwsRegion {region.nearest_aws_region!r} is neither in aws "
                    "nor in awsLatencyOnly"
                )
        unused = sorted(set(self.aws_latency_only) - named)
        if unused:
            raise ValueError(f"awsLatencyOnly: {unused} are no GCP region's nearestAwsRegion")
        return self


class _MachinesTable(_Table):
    accelerators: dict[str, Accelerator]
    aws_az_ids: dict[str, dict[str, list[str]]]
    aws: dict[str, AwsInstanceType]
    gcp: dict[str, GcpMachineType]


def image_problem(image: str) -> str | None:
    """Why ``image`` is not a pinned container image reference, or None."""
    name, at, digest = image.partition("@")
    if at:
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            return f"{image!r}: the digest must be sha256:<64 hex digits>"
        return None
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return f"{image!r} has no tag, which pulls 'latest'; allowed: a pinned tag such as vllm/vllm-openai:v0.27.1"
    if tag == "latest":
        return f"{image!r}: 'latest' moves under a running fleet; allowed: a pinned tag or a digest"
    if not repository or not re.fullmatch(r"[\w][\w.-]{0,127}", tag):
        return f"{image!r} is not an image reference; allowed: repository:tag or repository@sha256:<digest>"
    return None


class _ServingImages(_Row):
    gpu: str
    tpu: str
    note: str | None = None

    @model_validator(mode="after")
    def _pinned(self) -> _ServingImages:
        for image in (self.gpu, self.tpu):
            problem = image_problem(image)
            if problem:
                raise ValueError(problem)
        return self


class _ModelsTable(_Table):
    serving_images: _ServingImages
    gateway_image: str
    models: dict[str, Model]

    @model_validator(mode="after")
    def _gateway_pinned(self) -> _ModelsTable:
        problem = image_problem(self.gateway_image)
        if problem:
            raise ValueError(f"gatewayImage: {problem}")
        return self


class _KubernetesTable(_Table):
    eks: dict[str, _EksVersion]
    eks_addons: dict[str, _EksAddons]
    gke_release_channels: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _addons_for_known_versions(self) -> _KubernetesTable:
        for version, addons in self.eks_addons.items():
            if version not in self.eks:
                raise ValueError(f"eksAddons {version}: not an EKS version in eks; known: {sorted(self.eks)}")
            if not addons.kube_proxy.startswith(f"v{version}."):
                raise ValueError(
                    f"eksAddons {version}: kube-proxy {addons.kube_proxy} is not built for Kubernetes {version}"
                )
        return self


class _Sized(_Row):
    families: dict[str, list[str]]

    @model_validator(mode="after")
    def _sizes_unique(self) -> _Sized:
        for family, sizes in self.families.items():
            if not sizes or len(set(sizes)) != len(sizes):
                raise ValueError(f"{family}: a non-empty list of sizes without repeats, got {sizes}")
        return self

    def names(self) -> list[str]:
        return [f"{family}.{size}" for family, sizes in self.families.items() for size in sizes]


class _Aurora(_Sized):
    serverless: list[str] = Field(default_factory=list)
    burstable: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _burstable_known(self) -> _Aurora:
        unknown = sorted(set(self.burstable) - set(self.families))
        if unknown:
            raise ValueError(f"burstable: {unknown} are not families in families")
        return self


class _Range(_Row):
    min: float
    max: float


class _CloudSqlCustom(_Row):
    vcpus: _Range
    memory_mib_per_vcpu: _Range
    memory_step_mib: int = Field(gt=0)
    min_memory_mib: int = Field(gt=0)


_CUSTOM_TIER = re.compile(r"db-custom-(\d+)-(\d+)")
_PERF_TIER = re.compile(r"db-perf-optimized-N-(\d+)")


class CloudSqlTiers(_Row):
    """Cloud SQL for PostgreSQL machine tiers: a rule over the tier's name, not a list."""

    shared_core: list[str]
    custom: _CloudSqlCustom
    perf_optimized_vcpus: list[int] = Field(min_length=1)

    def problem(self, tier: str) -> str | None:
        """Why ``tier`` is not a Cloud SQL for PostgreSQL tier, or None if it is one."""
        if tier in self.shared_core:
            return None
        custom = _CUSTOM_TIER.fullmatch(tier)
        if custom:
            vcpus, mib = int(custom[1]), int(custom[2])
            c = self.custom
            if not (vcpus == 1 or (vcpus % 2 == 0 and c.vcpus.min <= vcpus <= c.vcpus.max)):
                return f"{vcpus} vCPUs; a custom tier has 1 or an even number up to {c.vcpus.max:.0f}"
            low, high = c.memory_mib_per_vcpu.min * vcpus, c.memory_mib_per_vcpu.max * vcpus
            if mib % c.memory_step_mib or not max(low, c.min_memory_mib) <= mib <= high:
                return (
                    f"{mib} MiB for {vcpus} vCPUs; a custom tier has a multiple of {c.memory_step_mib} MiB, "
                    f"at least {max(low, c.min_memory_mib):.0f} and at most {high:.0f}"
                )
            return None
        perf = _PERF_TIER.fullmatch(tier)
        if perf:
            if int(perf[1]) in self.perf_optimized_vcpus:
                return None
            return f"{perf[1]} vCPUs; allowed: {', '.join(str(v) for v in self.perf_optimized_vcpus)}"
        return (
            "not a Cloud SQL for PostgreSQL tier; allowed: db-custom-<vCPUs>-<MiB> (e.g. db-custom-4-16384), "
            f"db-perf-optimized-N-<vCPUs> (e.g. db-perf-optimized-N-4) or {', '.join(self.shared_core)}"
        )


class _DatastoresTable(_Table):
    aurora_postgresql: _Aurora
    elasticache: _Sized
    cloud_sql: CloudSqlTiers


_PG_VERSION = re.compile(r"(\d{2})\.(\d+)")


def _pg_version(version: str) -> tuple[int, int]:
    """(major, minor) of a PostgreSQL version written major.minor, such as "16.10"."""
    match = _PG_VERSION.fullmatch(version)
    if match is None:
        raise ValueError(f"{version!r} is not a PostgreSQL version written major.minor, such as 16.10")
    return int(match[1]), int(match[2])


class _AuroraVersion(_Row):
    uncertain: bool = False
    """The release is confirmed, its Aurora end of standard support was not read for the table."""
    note: str | None = None


class _AuroraVersions(_Row):
    global_database_from: dict[str, str] = Field(min_length=1)
    """Major -> the lowest minor of it that an Aurora global database accepts."""
    versions: dict[str, _AuroraVersion] = Field(min_length=1)

    @model_validator(mode="after")
    def _versions_well_formed(self) -> _AuroraVersions:
        for major, floor in self.global_database_from.items():
            if str(_pg_version(floor)[0]) != major:
                raise ValueError(f"globalDatabaseFrom {major}: {floor} is not a {major}.x version")
        for version in self.versions:
            _pg_version(version)
        return self

    def supports_global_database(self, version: str) -> bool:
        major, minor = _pg_version(version)
        floor = self.global_database_from.get(str(major))
        return floor is not None and minor >= _pg_version(floor)[1]


class _CloudSqlVersions(_Row):
    majors: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _majors_well_formed(self) -> _CloudSqlVersions:
        for major in self.majors:
            if not re.fullmatch(r"\d{2}", major):
                raise ValueError(f"majors: {major!r} is not a two-digit PostgreSQL major")
        return self


class _PostgresTable(_Table):
    aurora_postgresql: _AuroraVersions
    cloud_sql: _CloudSqlVersions


@dataclass(frozen=True)
class PostgresVersions:
    """The PostgreSQL versions a new database can be created with, per service."""

    aurora: tuple[str, ...]
    """Aurora PostgreSQL versions that accept new clusters, newest first."""
    aurora_global: tuple[str, ...]
    """Those of them an Aurora global database accepts."""
    aurora_uncertain: frozenset[str]
    """Rows whose end of standard support was not confirmed (see postgres.yaml)."""
    cloud_sql_majors: tuple[str, ...]
    """Majors Cloud SQL for PostgreSQL takes (databaseVersion POSTGRES_<major>)."""

    def aurora_problem(self, version: str, *, global_database: bool) -> str | None:
        """Why a new Aurora cluster cannot be created on ``version``, or None."""
        if version not in self.aurora:
            return f"not an Aurora PostgreSQL version that accepts new clusters; allowed: {', '.join(self.aurora)}"
        if global_database and version not in self.aurora_global:
            return (
                "cannot create an Aurora global database (secondaryRegions); "
                f"allowed: {', '.join(self.aurora_global)}"
            )
        return None

    def cloud_sql_problem(self, version: str) -> str | None:
        """Why Cloud SQL cannot create ``version`` (its major), or None."""
        major = version.partition(".")[0]
        if major in self.cloud_sql_majors:
            return None
        return f"Cloud SQL for PostgreSQL offers no POSTGRES_{major}; allowed majors: {', '.join(self.cloud_sql_majors)}"


class _CloudWatchLogs(_Row):
    retention_days: list[int] = Field(min_length=1)


class _EksLimits(_Row):
    max_nodes_per_managed_node_group: int = Field(gt=0)


class _GkeLimits(_Row):
    max_nodes_per_pool_per_zone: int = Field(gt=0)
    max_nodes_per_cluster: int = Field(gt=0)


class _Presidio(_Row):
    version: str
    entities: list[str] = Field(min_length=1)


class _LimitsTable(_Table):
    cloudwatch_logs: _CloudWatchLogs
    eks: _EksLimits
    gke: _GkeLimits
    presidio: _Presidio


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: dt.date
    """The oldest ``asOf`` of the tables: the catalog is only as fresh as its stalest table."""
    aws_regions: dict[str, list[str]]
    aws_region_az_ids: dict[str, list[str]]
    """AWS region -> every AZ ID of it."""
    aws_offerings: dict[str, dict[str, list[str]]]
    """AWS GPU instance type -> region -> the AZ IDs that offer it."""
    gcp_regions: dict[str, list[str]]
    accelerators: dict[str, Accelerator]
    aws_instance_types: dict[str, AwsInstanceType]
    gcp_machine_types: dict[str, GcpMachineType]
    models: dict[str, Model]
    serving_images: dict[DeviceKind, str]
    """The inference server's image per kind of accelerator (GPU, TPU), pinned in models.yaml."""
    gateway_image: str
    """The gateway's (LiteLLM proxy) image, pinned in models.yaml."""
    nearest_aws_region: dict[str, str]
    """GCP region -> the AWS region Route 53 latency routing measures in its place."""
    eks_versions: dict[str, dt.date]
    """EKS minor version -> end of standard support."""
    eks_addons: dict[str, dict[str, str]]
    """EKS minor version -> add-on name -> the add-on version pinned for clusters of that version."""
    gke_release_channels: list[str]
    aurora_postgresql_classes: list[str]
    """Every Aurora PostgreSQL DB instance class (db.serverless, db.r6g.large, ...)."""
    aurora_burstable_families: list[str]
    elasticache_node_types: list[str]
    cloud_sql_tiers: CloudSqlTiers
    postgres_versions: PostgresVersions
    log_retention_days: frozenset[int]
    """Values CloudWatch Logs accepts for a log group's retention in days."""
    eks_max_nodes_per_node_group: int
    gke_max_nodes_per_pool_zone: int
    gke_max_nodes_per_cluster: int
    addons: dict[str, Addon]
    """Add-on name -> its chart, images and releases (addons.yaml)."""
    crd_bundles: dict[str, CrdBundle] = Field(default_factory=dict)
    """CRDs no chart installs, vendored from their release (addons.yaml ``crdBundles``)."""
    presidio_entities: tuple[str, ...] = ()
    """Entity types the pinned Presidio analyzer detects in English with its default registry."""
    presidio_version: str = ""

    @model_validator(mode="after")
    def _cross_references(self) -> Catalog:
        _check_machines("aws", self.aws_instance_types, self.aws_regions, self.accelerators)
        _check_machines("gcp", self.gcp_machine_types, self.gcp_regions, self.accelerators)
        for name, machine in self.gcp_machine_types.items():
            is_tpu = self.hardware_of(machine).kind is DeviceKind.TPU
            if is_tpu != bool(machine.tpu_topologies):
                raise ValueError(f"gcp {name}: tpuTopologies must be given exactly for TPU machines")
            if is_tpu and machine.boot_disk is None:
                raise ValueError(f"gcp {name}: a TPU machine type must give its bootDisk")
        self._check_gpu_zones()
        for name, accelerator in self.accelerators.items():
            offered = {
                region
                for machine in self.gcp_machine_types.values()
                if machine.accelerator == name
                for region in machine.regions or ()
            }
            for region, zones in (accelerator.zones or {}).items():
                if region not in self.gcp_regions:
                    raise ValueError(
                        f"accelerator {name}: zones of {region}, which is not a GCP region in regions.yaml"
                    )
                stray = sorted(set(zones) - set(self.gcp_regions[region]))
                if stray:
                    raise ValueError(
                        f"accelerator {name}: zones {stray} are not zones of {region} in regions.yaml"
                    )
                if region not in offered:
                    raise ValueError(
                        f"accelerator {name}: zones of {region}, where no GCP machine type with it is offered"
                    )
        return self

    def _check_gpu_zones(self) -> None:
        """Every region a GPU machine type is offered in has the zones that offer it, and only real ones."""
        for region in self.aws_region_az_ids:
            if region not in self.aws_regions:
                raise ValueError(f"azIds of {region}, which is not an AWS region in regions.yaml")
        for region in self.aws_regions:
            if not self.aws_region_az_ids.get(region):
                raise ValueError(f"aws {region}: regions.yaml must give its azIds")
        for name, machine in self.aws_instance_types.items():
            gpu = (
                machine.accelerator is not None
                and self.accelerators[machine.accelerator].kind is DeviceKind.GPU
            )
            offerings = self.aws_offerings.get(name)
            if not gpu:
                if offerings is not None:
                    raise ValueError(f"awsAzIds {name}: only for GPU instance types")
                continue
            if offerings is None or sorted(offerings) != sorted(machine.regions or ()):
                raise ValueError(
                    f"awsAzIds {name}: must give the AZ IDs of exactly its regions {machine.regions}, "
                    f"got {sorted(offerings or {})}"
                )
            for region, ids in offerings.items():
                stray = sorted(set(ids) - set(self.aws_region_az_ids[region]))
                if not ids or len(set(ids)) != len(ids) or stray:
                    raise ValueError(
                        f"awsAzIds {name} {region}: a non-empty list of distinct AZ IDs of {region} "
                        f"(regions.yaml azIds), got {ids}"
                    )
        unknown = sorted(set(self.aws_offerings) - set(self.aws_instance_types))
        if unknown:
            raise ValueError(f"awsAzIds: {unknown} are not AWS instance types in aws")
        for name, machine in self.gcp_machine_types.items():
            if (
                machine.accelerator is None
                or self.accelerators[machine.accelerator].kind is not DeviceKind.GPU
            ):
                continue
            zones = self.accelerators[machine.accelerator].zones or {}
            missing = [r for r in machine.regions or () if not zones.get(r)]
            if missing:
                raise ValueError(
                    f"gcp {name}: accelerator {machine.accelerator} has no zones for its regions {missing}"
                )

    def machine(self, cloud: str, name: str) -> AwsInstanceType | GcpMachineType | None:
        """The machine type ``name`` on ``cloud`` ("aws" or "gcp"), or None if not catalogued."""
        if cloud == "aws":
            return self.aws_instance_types.get(name)
        if cloud == "gcp":
            return self.gcp_machine_types.get(name)
        raise ValueError(f"unknown cloud {cloud!r}; expected 'aws' or 'gcp'")

    def hardware_of(self, machine: AwsInstanceType | GcpMachineType) -> PoolHardware:
        """CPU, GPU, TPU or Neuron, and whose: decided here, from the machine's accelerator row, only."""
        if machine.accelerator is None:
            return PoolHardware(kind=DeviceKind.CPU, vendor=None, accelerator=None, count=0)
        accelerator = self.accelerators[machine.accelerator]
        return PoolHardware(
            kind=accelerator.kind,
            vendor=accelerator.vendor,
            accelerator=machine.accelerator,
            count=machine.accelerator_count,
        )

    def hardware(self, cloud: str, machine_type: str) -> PoolHardware | None:
        """What a node of ``machine_type`` on ``cloud`` carries, or None if the type is not catalogued."""
        machine = self.machine(cloud, machine_type)
        return None if machine is None else self.hardware_of(machine)

    def gcp_zones(self, accelerator: str, region: str) -> tuple[str, ...]:
        """Zones of GCP ``region`` that offer ``accelerator`` (TPU or GPU), in regions.yaml's order; may be empty."""
        known = self.accelerators.get(accelerator)
        offered = set((known.zones or {}).get(region, ())) if known else set()
        return tuple(z for z in self.gcp_regions.get(region, []) if z in offered)

    def tpu_zones(self, accelerator: str, region: str) -> tuple[str, ...]:
        """Zones of GCP ``region`` that offer TPU ``accelerator``, in regions.yaml's order; may be empty."""
        known = self.accelerators.get(accelerator)
        if known is None or known.kind is not DeviceKind.TPU:
            return ()
        return self.gcp_zones(accelerator, region)

    def aws_az_ids(self, instance_type: str, region: str) -> tuple[str, ...]:
        """AZ IDs of AWS ``region`` that offer GPU ``instance_type``; empty if none (or not catalogued)."""
        return tuple(self.aws_offerings.get(instance_type, {}).get(region, ()))


def _check_machines(
    cloud: str,
    machines: Mapping[str, _Machine],
    regions: Mapping[str, list[str]],
    accelerators: Mapping[str, Accelerator],
) -> None:
    for name, machine in machines.items():
        if machine.accelerator is not None and machine.accelerator not in accelerators:
            raise ValueError(f"{cloud} {name}: unknown accelerator {machine.accelerator!r}")
        unknown = sorted(set(machine.regions or ()) - set(regions))
        if unknown:
            raise ValueError(f"{cloud} {name}: regions not in regions.yaml: {unknown}")


def tpu_topology_chips(topology: str) -> int:
    """Number of chips in a TPU slice topology such as "2x2x4" (16)."""
    parts = topology.split("x")
    if len(parts) not in (2, 3) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"not a TPU topology: {topology!r}")
    return math.prod(int(p) for p in parts)


@dataclass(frozen=True)
class ModelFit:
    model: str
    precision: str
    accelerator: str
    gpus: int
    weights_gib: float
    needed_gib: float
    """weights x (1 + the model's kvHeadroom)."""
    available_gib: float
    """gpus x the accelerator's memory."""

    @property
    def fits(self) -> bool:
        return self.needed_gib <= self.available_gib


def model_fit(model: str, precision: str, accelerator: str, gpus: int) -> ModelFit:
    """Whether one replica of ``model`` at ``precision`` fits in ``gpus`` x ``accelerator``.

    A memory-only check: it says nothing about whether the serving engine supports the
    precision on that accelerator, or how the weights shard.
    """
    c = catalog()
    if model not in c.models:
        raise ValueError(f"unknown model {model!r}; known: {sorted(c.models)}")
    if accelerator not in c.accelerators:
        raise ValueError(f"unknown accelerator {accelerator!r}; known: {sorted(c.accelerators)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if gpus < 1:
        raise ValueError(f"gpus must be at least 1, got {gpus}")
    m = c.models[model]
    weights = m.weights_gib[precision]
    return ModelFit(
        model=model,
        precision=precision,
        accelerator=accelerator,
        gpus=gpus,
        weights_gib=weights,
        needed_gib=weights * (1 + m.kv_headroom),
        available_gib=gpus * c.accelerators[accelerator].memory_gib,
    )


def _read(name: str) -> Any:
    return yaml.safe_load(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))


def build_catalog(
    regions: Any,
    machines: Any,
    models: Any,
    kubernetes: Any,
    datastores: Any,
    limits: Any,
    postgres: Any,
    addons: Any,
) -> Catalog:
    """Validate the parsed YAML documents and assemble them into a Catalog."""
    r = _RegionsTable.model_validate(regions)
    m = _MachinesTable.model_validate(machines)
    mo = _ModelsTable.model_validate(models)
    k = _KubernetesTable.model_validate(kubernetes)
    d = _DatastoresTable.model_validate(datastores)
    li = _LimitsTable.model_validate(limits)
    pg = _PostgresTable.model_validate(postgres)
    ad = _AddonsTable.model_validate(addons)
    aurora = sorted(pg.aurora_postgresql.versions, key=_pg_version, reverse=True)
    return Catalog(
        as_of=min(t.as_of for t in (r, m, mo, k, d, li, pg, ad)),
        aws_regions={name: list(region.zones) for name, region in r.aws.items()},
        aws_region_az_ids={name: list(region.az_ids or ()) for name, region in r.aws.items()},
        aws_offerings={
            name: {r: list(ids) for r, ids in regions.items()} for name, regions in m.aws_az_ids.items()
        },
        gcp_regions={name: list(region.zones) for name, region in r.gcp.items()},
        nearest_aws_region={name: region.nearest_aws_region for name, region in r.gcp.items()},
        accelerators=m.accelerators,
        aws_instance_types=m.aws,
        gcp_machine_types=m.gcp,
        models=mo.models,
        serving_images={DeviceKind.GPU: mo.serving_images.gpu, DeviceKind.TPU: mo.serving_images.tpu},
        gateway_image=mo.gateway_image,
        eks_versions={v: e.end_of_standard_support for v, e in k.eks.items()},
        eks_addons={v: addons.versions() for v, addons in k.eks_addons.items()},
        gke_release_channels=list(k.gke_release_channels),
        aurora_postgresql_classes=[*d.aurora_postgresql.serverless, *d.aurora_postgresql.names()],
        aurora_burstable_families=list(d.aurora_postgresql.burstable),
        elasticache_node_types=d.elasticache.names(),
        cloud_sql_tiers=d.cloud_sql,
        postgres_versions=PostgresVersions(
            aurora=tuple(aurora),
            aurora_global=tuple(v for v in aurora if pg.aurora_postgresql.supports_global_database(v)),
            aurora_uncertain=frozenset(
                v for v, row in pg.aurora_postgresql.versions.items() if row.uncertain
            ),
            cloud_sql_majors=tuple(pg.cloud_sql.majors),
        ),
        log_retention_days=frozenset(li.cloudwatch_logs.retention_days),
        eks_max_nodes_per_node_group=li.eks.max_nodes_per_managed_node_group,
        gke_max_nodes_per_pool_zone=li.gke.max_nodes_per_pool_per_zone,
        gke_max_nodes_per_cluster=li.gke.max_nodes_per_cluster,
        addons=ad.addons,
        crd_bundles=ad.crd_bundles,
        presidio_entities=tuple(li.presidio.entities),
        presidio_version=li.presidio.version,
    )


@functools.cache
def catalog() -> Catalog:
    """The validated catalog, loaded from the YAML next to this module once per process."""
    return build_catalog(
        _read("regions.yaml"),
        _read("machines.yaml"),
        _read("models.yaml"),
        _read("kubernetes.yaml"),
        _read("datastores.yaml"),
        _read("limits.yaml"),
        _read("postgres.yaml"),
        _read("addons.yaml"),
    )
