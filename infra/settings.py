"""The stack's typed settings.

Every value a stack file can set is declared here, with the rule that makes it valid. The
program builds nothing until the whole stack file passes: a broken file stops the run with one
line per problem, each naming the stack file, the key path, the value and what is allowed,
before any resource is registered, under the real engine and the offline toolkit alike. Every
problem is reported at once, so that fixing a file takes one run, not one run per mistake.

Facts (regions, machine types and what they carry, TPU topologies, models, data store classes,
provider limits) come from the dated tables in ``infra.catalog``; this module only applies them.
What the program's node code can serve (``SERVED``) is a fact about this program and lives here.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import urlparse

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from infra.catalog import (
    DeviceKind,
    PoolHardware,
    catalog,
    image_problem,
    kubernetes_minor,
    model_fit,
    tpu_topology_chips,
)
from infra.naming import gcp_label_value

PROJECT = "inferstack"

_RESERVATION = re.compile(
    r"(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/reservations/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
)
"""A Compute Engine reservation by name (RFC 1035 label), or shared from another project by path."""
_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,31}")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class SettingsError(pulumi.RunError):
    """A stack file that cannot be built; ``str()`` is one line per problem, each a person can act on.

    A RunError, so that the language host prints it as those lines, without a traceback.
    ``path`` and ``message`` are the first problem's; ``problems`` holds them all.
    """

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]):
        if not problems:
            raise ValueError("a SettingsError needs at least one problem")
        self.source = source
        self.problems = list(problems)
        self.path, self.message = self.problems[0]
        super().__init__("\n".join(f"{source}: {path}: {message}" for path, message in self.problems))


class Problem(ValueError):
    """A cross-field rule broken at ``field`` of the model being validated."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


class Problems(ValueError):
    """Several broken rules of one model, reported together rather than the first alone."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p}" for p in self.problems))


def raise_problems(found: Sequence[Problem]) -> None:
    if len(found) == 1:
        raise found[0]
    if found:
        raise Problems(found)


def _not_bool(value: Any) -> Any:
    # pydantic's lax int and float accept true/false as 1/0: `maxSize: true` would plan one node.
    # Strings ("30") stay accepted: the engine hands top-level scalars to the program as text.
    if isinstance(value, bool):
        raise PydanticCustomError("bool_as_number", "a boolean where a number is expected")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]


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


def _log_retention(value: int) -> int:
    if value not in catalog().log_retention_days:
        allowed = ", ".join(str(d) for d in sorted(catalog().log_retention_days))
        raise ValueError(f"{value}; allowed (what CloudWatch Logs keeps): {allowed}")
    return value


def _iam_principal(value: str) -> str:
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+", value):
        raise ValueError(f"{value!r}; allowed: an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)")
    return value


def _aws_account(value: str) -> str:
    if value and not re.fullmatch(r"\d{12}", value):
        raise ValueError(f"{value!r}; allowed: a 12-digit AWS account id")
    return value


def _tag_value(value: str) -> str:
    if not _AWS_TAG_VALUE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an AWS tag value; allowed: letters, digits, spaces and _ . : / = + - @"
        )
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


_DEFER = "inferstack.defer"
"""Validation context key: nested models keep their broken rules for the stack to report all at once."""


class SettingsModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
        # A field's docstring is its description in the JSON Schema editors read (inferstack schema).
        use_attribute_docstrings=True,
    )
    _deferred: list[Problem] = PrivateAttr(default_factory=list)

    def _report(self, found: Sequence[Problem], info: ValidationInfo) -> None:
        """Raise the broken rules, or, inside a whole stack, keep them so that the rules of the levels
        above still run: a broken pool must not hide a broken database."""
        if found and isinstance(info.context, Mapping) and info.context.get(_DEFER):
            self._deferred.extend(found)
        else:
            raise_problems(found)


def _deferred_below(model: SettingsModel, prefix: str = "") -> list[Problem]:
    """The problems kept by every model nested in ``model``, with their key paths from ``model``."""
    out: list[Problem] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = f"{prefix}.{field.alias or name}" if prefix else (field.alias or name)
        items = [(key, value)] if isinstance(value, SettingsModel) else []
        if isinstance(value, list):
            items = [(f"{key}[{k}]", v) for k, v in enumerate(value) if isinstance(v, SettingsModel)]
        for at, child in items:
            out += [Problem(f"{at}.{p.field}", str(p)) for p in child._deferred]
            out += _deferred_below(child, at)
    return out


# Kubernetes label syntax (Kubernetes docs, "Labels and Selectors: syntax and character set"):
# an optional DNS-subdomain prefix of at most 253 characters and "/", then a name of at most 63
# characters; a value of at most 63 characters of the same set, or empty. GKE takes Kubernetes
# node labels as they are (GKE docs, "Update Kubernetes node labels and taints for node pools").
# EKS additionally limits the whole key and the value to 1-63 characters (EKS API reference,
# UpdateLabelsPayload), which the cluster checks for AWS pools.
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_PREFIX = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_RESERVED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io")
_KUBELET_LABEL_DOMAINS = ("kubelet.kubernetes.io", "node.kubernetes.io")
OWN_LABEL_PREFIX = "inferstack.io/"
"""Node labels the program sets itself (pool, role, accelerator, ...); a stack may not set them."""


def label_key_problem(key: str) -> str | None:
    """Why Kubernetes (or this program) would refuse ``key`` as a node label key, or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and not _LABEL_PREFIX.fullmatch(prefix):
        return (
            f"prefix {prefix!r} is not a DNS subdomain; allowed: lower-case letters, digits, '-' and '.', "
            "at most 253 characters (e.g. example.com/team)"
        )
    if not _LABEL_NAME.fullmatch(name):
        return (
            f"name {name!r}; allowed: at most 63 letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )
    if (
        slash
        and any(prefix == d or prefix.endswith("." + d) for d in _RESERVED_LABEL_DOMAINS)
        and not any(prefix == d or prefix.endswith("." + d) for d in _KUBELET_LABEL_DOMAINS)
    ):
        return (
            f"prefix {prefix!r} is reserved for Kubernetes; a node may only label itself under "
            "kubelet.kubernetes.io/ or node.kubernetes.io/ (NodeRestriction)"
        )
    if key.startswith(OWN_LABEL_PREFIX):
        return f"{OWN_LABEL_PREFIX} labels are set by inferstack itself; allowed: another prefix"
    return None


def label_value_problem(value: str) -> str | None:
    if value and not _LABEL_NAME.fullmatch(value):
        return (
            "allowed: empty, or at most 63 letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )
    return None


class NodePool(SettingsModel):
    """A group of identical nodes; accelerator facts are checked against the catalog."""

    name: DnsLabel
    machine_type: str
    accelerator: str | None = None
    accelerator_count: Int | None = Field(default=None, ge=1)
    tpu_topology: str | None = None
    capacity: Capacity = Capacity.ON_DEMAND
    min_size: Int = Field(ge=0)
    max_size: Int = Field(ge=1)
    desired_size: Int | None = Field(default=None, ge=0)
    disk_size_gib: Int = Field(default=200, ge=20, le=16384)
    labels: dict[str, str] = Field(default_factory=dict)
    capacity_reservation_id: str | None = None
    """AWS: the Capacity Block reservation (cr-...) a `reserved` pool launches into."""
    reservation_name: str | None = None
    """GCP: the Compute Engine reservation a `reserved` pool consumes (SPECIFIC_RESERVATION), by name or as
    projects/<project>/reservations/<name> for one shared from another project."""
    reservation_zone: str | None = None
    """GCP: the zone of that reservation; the pool's nodes live there only."""

    @model_validator(mode="after")
    def _sizes(self, info: ValidationInfo) -> NodePool:
        found: list[Problem] = []
        if self.min_size > self.max_size:
            found.append(
                Problem(
                    "minSize",
                    f"{self.min_size} is above maxSize {self.max_size}; allowed: minSize <= maxSize",
                )
            )
        elif not self.min_size <= self.desired <= self.max_size:
            found.append(
                Problem(
                    "desiredSize",
                    f"{self.desired} is outside minSize..maxSize ({self.min_size}..{self.max_size})",
                )
            )
        for key, value in self.labels.items():
            problem = label_key_problem(key)
            if problem:
                found.append(Problem(f"labels.{key}", f"{key!r} is not a node label key: {problem}"))
            problem = label_value_problem(value)
            if problem:
                found.append(
                    Problem(f"labels.{key}", f"value {value!r} is not a node label value; {problem}")
                )
        self._report(found, info)
        return self

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size

    @property
    def kind(self) -> DeviceKind:
        """CPU, GPU, TPU or Neuron, from the catalog's row of the pool's accelerator."""
        if self.accelerator is None:
            return DeviceKind.CPU
        accelerator = catalog().accelerators.get(self.accelerator)
        if accelerator is None:
            raise ValueError(f"node pool {self.name!r}: accelerator {self.accelerator!r} is not catalogued")
        return accelerator.kind

    @property
    def is_tpu(self) -> bool:
        return self.kind is DeviceKind.TPU

    @property
    def is_accelerated(self) -> bool:
        return self.accelerator is not None


SERVED: Mapping[Cloud, frozenset[DeviceKind]] = {
    Cloud.AWS: frozenset({DeviceKind.CPU, DeviceKind.GPU}),
    Cloud.GCP: frozenset({DeviceKind.CPU, DeviceKind.GPU, DeviceKind.TPU}),
}
"""What the node groups (AWS: NVIDIA AMI, GPU taint) and node pools (GCP: GPU driver, TPU slices)
know how to build. Anything else the catalog knows is refused by the settings."""

ZONES_PER_CLUSTER = 3
"""Zones a provisioned cluster spreads over (the first three of its region in the catalog)."""


def gke_gpu_zones(accelerator: str, region: str) -> tuple[str, ...]:
    """The zones a GKE node pool of GPU ``accelerator`` in ``region`` spans; empty if no zone offers it.

    Those of the cluster's zones that offer the GPU (catalog ``zones``), in the catalog's order; if
    none does, up to three other zones of the region that do: a node pool's nodeLocations may be any
    zones of its regional cluster's region, not only the cluster's own (GKE API, NodePool.locations;
    "Nodes must be in the region of their regional cluster", pulumi-gcp container.NodePool
    nodeLocations). A zone without the GPU would fail the pool's VMs there, so it is never listed.
    """
    offered = catalog().gcp_zones(accelerator, region)
    cluster = catalog().gcp_regions.get(region, [])[:ZONES_PER_CLUSTER]
    return tuple(z for z in offered if z in cluster) or offered[:ZONES_PER_CLUSTER]


def _offerings(cloud: Cloud, machine_type: str, accelerator: str, regions: Sequence[str]) -> str:
    """Where a GPU machine type is offered, by region and zone (GCP) or AZ ID (AWS), for an error."""
    if cloud is Cloud.AWS:
        where = {r: catalog().aws_az_ids(machine_type, r) for r in regions}
    else:
        where = {r: catalog().gcp_zones(accelerator, r) for r in regions}
    return "; ".join(f"{r} ({', '.join(z)})" for r, z in where.items() if z) or "none"


GKE_CONTROL_PLANE_BLOCK = "172.16.{index}.0/28"
"""A private GKE cluster's control-plane range; index is the cluster's position in the stack."""


def _plain_private(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return net.is_private and not net.is_loopback and not net.is_link_local


def whole_internet_in_pieces(nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str | None:
    """Why an allow-list of several blocks is the internet after all (0.0.0.0/1 + 128.0.0.0/1), or None.

    A single 0.0.0.0/0 is refused where it is written; this catches the same opening in pieces,
    per address family, as every list of CIDRs a stack admits to a control plane must be checked.
    """
    v4 = [n for n in nets if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in nets if isinstance(n, ipaddress.IPv6Network)]
    for same, collapsed in (
        (v4, list(ipaddress.collapse_addresses(v4))),
        (v6, list(ipaddress.collapse_addresses(v6))),
    ):
        if len(same) > 1 and len(collapsed) == 1 and collapsed[0].prefixlen == 0:
            return (
                f"{', '.join(str(n) for n in same)} together cover the whole internet ({collapsed[0]}); "
                "allowed: narrower CIDRs"
            )
    return None


_SECRET_ARN = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}"
)
"""A Secrets Manager secret ARN (AWS Secrets Manager API reference, "Secret": name characters
``/_+=.@-``); the region in it is where the secret is read from."""


class KubeconfigSource(SettingsModel):
    """Where an existing cluster's kubeconfig is kept outside the stack file, read at deploy time.

    The stack file then holds a reference, not ciphertext: nothing to re-encrypt when the stack's
    secrets provider changes, and the deploy identity's IAM decides who can read the kubeconfig.
    """

    aws_secret_arn: str
    """ARN of a Secrets Manager secret whose current value (SecretString) is the kubeconfig."""

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> KubeconfigSource:
        found: list[Problem] = []
        match = _SECRET_ARN.fullmatch(self.aws_secret_arn)
        if match is None:
            found.append(
                Problem(
                    "awsSecretArn",
                    f"{self.aws_secret_arn!r} is not a Secrets Manager secret ARN; allowed: "
                    "arn:aws:secretsmanager:<region>:<account>:secret:<name>",
                )
            )
        elif match["region"] not in catalog().aws_regions:
            found.append(
                Problem(
                    "awsSecretArn",
                    f"{self.aws_secret_arn!r} is in {match['region']!r}, not a known aws region; "
                    f"allowed: {', '.join(sorted(catalog().aws_regions))}",
                )
            )
        self._report(found, info)
        return self

    @property
    def region(self) -> str:
        """The region of the secret, where the read is made."""
        match = _SECRET_ARN.fullmatch(self.aws_secret_arn)
        assert match is not None
        return match["region"]


_ADDONS = "infra/catalog/addons.yaml"


class Addons(SettingsModel):
    """The cluster add-ons (infra/catalog/addons.yaml) this program should leave to an existing cluster."""

    skip: list[str] = Field(default_factory=list)
    """Add-ons the cluster already runs (its own metrics-server, a GPU operator, KEDA): installing a
    second copy would fight the first over the same API (external.metrics.k8s.io, nvidia.com/gpu)."""


class Cluster(SettingsModel):
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
    kubeconfig_from: KubeconfigSource | None = None
    node_pools: list[NodePool] = Field(default_factory=list)
    addons: Addons = Field(default_factory=Addons)

    @model_validator(mode="after")
    def _shape(self, info: ValidationInfo) -> Cluster:
        found: list[Problem] = []
        self._check_shape(found)
        self._check_addons(found)
        self._report(found, info)
        return self

    def installed_addons(self) -> list[str]:
        """The add-ons (addons.yaml names) that apply to this cluster's cloud and are not skipped."""
        return [
            name
            for name, addon in catalog().addons.items()
            if self.cloud.value in addon.clouds and name not in self.addons.skip
        ]

    def _check_addons(self, found: list[Problem]) -> None:
        """Skips name add-ons an existing cluster would get; every installed add-on supports the version."""
        table = catalog().addons
        skippable = [name for name, addon in table.items() if Cloud.EXISTING.value in addon.clouds]
        if self.addons.skip and self.cloud is not Cloud.EXISTING:
            found.append(
                Problem(
                    "addons.skip",
                    f"only for cloud: existing; a {self.cloud.value} cluster is provisioned by this stack and "
                    "gets every add-on it needs",
                )
            )
        elif self.addons.skip:
            for i, name in enumerate(self.addons.skip):
                if name not in skippable:
                    found.append(
                        Problem(
                            f"addons.skip[{i}]",
                            f"{name!r} is not an add-on installed on an existing cluster; allowed: "
                            f"{', '.join(skippable)}",
                        )
                    )
        version = self.kubernetes_version
        if self.cloud is Cloud.AWS and version not in catalog().eks_addons:
            return  # refused above, with the EKS versions allowed
        if kubernetes_minor(version) is None:
            found.append(
                Problem(
                    "kubernetesVersion",
                    f'{version!r} is not a Kubernetes minor version; allowed: e.g. "1.35"',
                )
            )
            return
        refused = [name for name in self.installed_addons() if table[name].release_for(version) is None]
        if refused:
            unsupported = ", ".join(f"{name} (supports {table[name].supported()})" for name in refused)
            skip = " or skip them (addons.skip)" if self.cloud is Cloud.EXISTING else ""
            found.append(
                Problem(
                    "kubernetesVersion",
                    f"{version!r} is supported by no release of {unsupported} in {_ADDONS}; "
                    f"allowed: a version each of them supports{skip}",
                )
            )

    def _check_shape(self, found: list[Problem]) -> None:
        if self.cloud is Cloud.EXISTING:
            if not self.kubeconfig_secret and self.kubeconfig_from is None:
                found.append(
                    Problem(
                        "kubeconfigFrom",
                        "missing; an existing cluster needs its kubeconfig: kubeconfigFrom: {awsSecretArn: ...} "
                        "(a Secrets Manager secret), or kubeconfigSecret: the name of a secret config key "
                        "(pulumi config set --secret <key> ...)",
                    )
                )
            elif self.kubeconfig_secret and self.kubeconfig_from is not None:
                found.append(
                    Problem(
                        "kubeconfigFrom",
                        "set together with kubeconfigSecret; allowed: one source for the kubeconfig",
                    )
                )
            if self.node_pools:
                found.append(
                    Problem("nodePools", "an existing cluster is not provisioned; allowed: no nodePools")
                )
            return
        if self.kubeconfig_secret:
            found.append(Problem("kubeconfigSecret", f"only for cloud: existing, not {self.cloud.value}"))
        if self.kubeconfig_from is not None:
            found.append(Problem("kubeconfigFrom", f"only for cloud: existing, not {self.cloud.value}"))
        if self.region is None:
            found.append(Problem("region", f"missing; a {self.cloud.value} cluster needs a region"))
            return
        regions = catalog().aws_regions if self.cloud is Cloud.AWS else catalog().gcp_regions
        if self.region not in regions:
            found.append(
                Problem(
                    "region",
                    f"{self.region!r} is not a known {self.cloud.value} region; allowed: {', '.join(sorted(regions))}",
                )
            )
            return
        if self.cloud is Cloud.AWS:
            supported = sorted(catalog().eks_addons)  # add-ons are pinned per version; no pin, no cluster
            if self.kubernetes_version not in supported:
                found.append(
                    Problem(
                        "kubernetesVersion",
                        f"{self.kubernetes_version!r} is not an EKS version with pinned add-ons; "
                        f"allowed: {', '.join(supported)}",
                    )
                )
        self._check_access(found)
        if self.network_cidr is not None:
            try:
                net = ipaddress.ip_network(self.network_cidr, strict=True)
            except ValueError:
                found.append(Problem("networkCidr", f"{self.network_cidr!r} is not a CIDR block"))
            else:
                if net.version != 4 or not net.is_private or net.prefixlen > 16:
                    found.append(
                        Problem(
                            "networkCidr",
                            f"{self.network_cidr!r}; allowed: a private IPv4 /16 or larger (e.g. 10.10.0.0/16)",
                        )
                    )
        if not self.node_pools:
            found.append(Problem("nodePools", "empty; a provisioned cluster needs at least one node pool"))
            return
        seen: set[str] = set()
        for i, pool in enumerate(self.node_pools):
            if pool.name in seen:
                found.append(
                    Problem(f"nodePools[{i}].name", f"{pool.name!r} is used twice in cluster {self.name!r}")
                )
            seen.add(pool.name)
            self._check_pool(i, pool, found)
            if self.scale_from_zero and pool.is_accelerated and pool.min_size > 0:
                found.append(
                    Problem(
                        f"nodePools[{i}].minSize",
                        f"{pool.min_size} but cluster {self.name!r} asks for scaleFromZero; allowed: 0",
                    )
                )
        if not any(not self._accelerated(p) and p.min_size >= 1 for p in self.node_pools):
            found.append(
                Problem(
                    "nodePools",
                    "no pool without accelerators and minSize >= 1; accelerator nodes are tainted, so CoreDNS and "
                    "other system pods would have nowhere to run",
                )
            )
        accelerated = [p for p in self.node_pools if self._accelerated(p)]
        if (
            self.role is Role.CORE
            and accelerated
            and not any(p.capacity is not Capacity.SPOT and p.min_size >= 1 for p in accelerated)
        ):
            found.append(
                Problem(
                    "nodePools",
                    f"core cluster {self.name!r} has no on-demand accelerator floor; allowed: at least one "
                    "accelerator pool with capacity on-demand or reserved and minSize >= 1 (spot alone can be "
                    "interrupted to zero)",
                )
            )
        if self.cloud is Cloud.GCP:
            most = catalog().gke_max_nodes_per_cluster
            total = sum(p.max_size for p in self.node_pools)
            if total > most:
                found.append(
                    Problem(
                        "nodePools",
                        f"the pools' maxSize add up to {total} nodes; a GKE cluster holds at most {most} "
                        "(GKE limits per cluster)",
                    )
                )

    def _check_reservation(
        self, at: str, pool: NodePool, hardware: PoolHardware, found: list[Problem]
    ) -> None:
        """A reserved pool names its reservation: an EC2 Capacity Block on AWS, a Compute Engine
        reservation (and its zone) on GCP; the keys of the other cloud, or without `reserved`, are refused."""
        reserved = pool.capacity is Capacity.RESERVED
        aws, gcp = self.cloud is Cloud.AWS, self.cloud is Cloud.GCP
        if pool.capacity_reservation_id is not None and not (reserved and aws):
            found.append(Problem(f"{at}.capacityReservationId", "only for capacity: reserved on aws"))
        for key, value in (
            ("reservationName", pool.reservation_name),
            ("reservationZone", pool.reservation_zone),
        ):
            if value is not None and not (reserved and gcp):
                found.append(Problem(f"{at}.{key}", "only for capacity: reserved on gcp"))
        if not reserved:
            return
        if aws and not re.fullmatch(r"cr-[0-9a-f]{17}", pool.capacity_reservation_id or ""):
            found.append(
                Problem(
                    f"{at}.capacityReservationId",
                    f"{pool.capacity_reservation_id!r}; a reserved pool launches into a Capacity Block: "
                    "allowed: cr-<17 hex digits>",
                )
            )
        if not gcp:
            return
        if hardware.kind is not DeviceKind.GPU or hardware.accelerator is None:
            found.append(
                Problem(
                    f"{at}.capacity",
                    f"'reserved' on gcp is built for GPU pools only, not {pool.machine_type}; allowed: on-demand, spot",
                )
            )
            return
        if not _RESERVATION.fullmatch(pool.reservation_name or ""):
            found.append(
                Problem(
                    f"{at}.reservationName",
                    f"{pool.reservation_name!r}; a reserved GKE pool consumes one specific reservation: allowed: "
                    "its name (lower-case letters, digits, '-') or projects/<project>/reservations/<name>",
                )
            )
        assert self.region is not None
        offered = catalog().gcp_zones(hardware.accelerator, self.region)
        if pool.reservation_zone not in offered:
            found.append(
                Problem(
                    f"{at}.reservationZone",
                    f"{pool.reservation_zone!r}; the reservation's zone, one of {self.region} that offers "
                    f"{hardware.accelerator}: allowed: {', '.join(offered) or 'none'}",
                )
            )

    def _gpu_offered(self, machine_type: str, accelerator: str) -> bool:
        """Whether some zone of the cluster's region offers the GPU machine type, by the catalog."""
        assert self.region is not None
        if self.cloud is Cloud.AWS:
            return bool(catalog().aws_az_ids(machine_type, self.region))
        return bool(gke_gpu_zones(accelerator, self.region))

    def _accelerated(self, pool: NodePool) -> bool:
        """Whether the pool's nodes carry accelerators, by the catalog (the declaration may be wrong)."""
        hardware = catalog().hardware(self.cloud.value, pool.machine_type) if self.provisioned else None
        return pool.is_accelerated if hardware is None else hardware.accelerated

    def _check_access(self, found: list[Problem]) -> None:
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for i, cidr in enumerate(self.public_access_cidrs):
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                found.append(Problem(f"publicAccessCidrs[{i}]", f"{cidr!r} is not a CIDR block"))
                continue
            if net.prefixlen == 0:
                found.append(
                    Problem(
                        f"publicAccessCidrs[{i}]",
                        f"{cidr!r} opens the API to the internet; allowed: narrower CIDRs",
                    )
                )
                continue
            nets.append(net)
        problem = whole_internet_in_pieces(nets)
        if problem:
            found.append(Problem("publicAccessCidrs", problem))
        if self.endpoint_access is EndpointAccess.PUBLIC and not self.public_access_cidrs:
            found.append(
                Problem(
                    "publicAccessCidrs", "empty; a public endpoint must list the CIDRs allowed to reach it"
                )
            )

    def _check_pool(self, i: int, pool: NodePool, found: list[Problem]) -> None:
        at = f"nodePools[{i}]"
        cloud = self.cloud.value
        if self.cloud is Cloud.AWS:
            for key, value in pool.labels.items():
                if len(key) > 63 or not 1 <= len(value) <= 63:
                    found.append(
                        Problem(
                            f"{at}.labels.{key}",
                            f"{key!r}: {value!r}; EKS takes node label keys and values of 1-63 characters",
                        )
                    )
        machine = catalog().machine(cloud, pool.machine_type)
        if machine is None:
            known = catalog().aws_instance_types if self.cloud is Cloud.AWS else catalog().gcp_machine_types
            found.append(
                Problem(
                    f"{at}.machineType",
                    f"{pool.machine_type!r} is not a known {cloud} machine type; {_did_you_mean(pool.machine_type, known)}",
                )
            )
            return
        hardware = catalog().hardware_of(machine)
        if hardware.kind not in SERVED[self.cloud]:
            served = ", ".join(sorted(k.value for k in SERVED[self.cloud]))
            found.append(
                Problem(
                    f"{at}.machineType",
                    f"{pool.machine_type} carries {hardware.count}x {hardware.accelerator} ({hardware.vendor} "
                    f"{hardware.kind.value}), which inferstack does not know how to serve on {cloud}: no node image, "
                    f"device plugin or taint is built for it; allowed: {served} machine types",
                )
            )
            return
        if machine.accelerator is None:
            if pool.accelerator is not None:
                found.append(
                    Problem(
                        f"{at}.accelerator",
                        f"{pool.accelerator!r} but {pool.machine_type} has no accelerator; allowed: omit it",
                    )
                )
        else:
            if pool.accelerator is None:
                found.append(
                    Problem(
                        f"{at}.accelerator",
                        f"missing; {pool.machine_type} carries {machine.accelerator_count}x {machine.accelerator}, "
                        f"declare accelerator: {machine.accelerator}",
                    )
                )
            elif pool.accelerator != machine.accelerator:
                found.append(
                    Problem(
                        f"{at}.accelerator",
                        f"{pool.accelerator!r} does not match {pool.machine_type}; allowed: {machine.accelerator}",
                    )
                )
            if pool.accelerator_count is not None and pool.accelerator_count != machine.accelerator_count:
                found.append(
                    Problem(
                        f"{at}.acceleratorCount",
                        f"{pool.accelerator_count} but {pool.machine_type} has {machine.accelerator_count} "
                        f"{machine.accelerator}; allowed: {machine.accelerator_count}",
                    )
                )
            assert self.region is not None
            offered_here = self.region in (machine.regions or ()) and self._gpu_offered(
                pool.machine_type, machine.accelerator
            )
            if hardware.kind is DeviceKind.GPU and not offered_here:
                kind = "AZ IDs" if self.cloud is Cloud.AWS else "zones"
                found.append(
                    Problem(
                        f"{at}.machineType",
                        f"{pool.machine_type} ({machine.accelerator}) is offered in no zone of {self.region} "
                        f"(infra/catalog/machines.yaml); allowed regions and their {kind}: "
                        f"{_offerings(self.cloud, pool.machine_type, machine.accelerator, machine.regions or ())}",
                    )
                )
            elif machine.regions is not None and self.region not in machine.regions:
                found.append(
                    Problem(
                        f"{at}.machineType",
                        f"{pool.machine_type} is not offered in {self.region}; "
                        f"allowed regions: {', '.join(machine.regions)}",
                    )
                )
        self._check_reservation(at, pool, hardware, found)
        self._check_pool_limit(at, pool, hardware, found)
        topologies = list(getattr(machine, "tpu_topologies", []) or [])
        if topologies:
            if pool.tpu_topology is None:
                found.append(
                    Problem(
                        f"{at}.tpuTopology",
                        f"missing; allowed for {pool.machine_type}: {', '.join(topologies)}",
                    )
                )
                return
            if pool.tpu_topology not in topologies:
                found.append(
                    Problem(
                        f"{at}.tpuTopology",
                        f"{pool.tpu_topology!r} does not exist for {pool.machine_type}; "
                        f"allowed: {', '.join(topologies)}",
                    )
                )
                return
            per_slice = tpu_topology_chips(pool.tpu_topology) // max(1, machine.accelerator_count)
            for key, value in (
                ("maxSize", pool.max_size),
                ("minSize", pool.min_size),
                ("desiredSize", pool.desired),
            ):
                if per_slice > 1 and value % per_slice:
                    found.append(
                        Problem(
                            f"{at}.{key}",
                            f"{value}: a {pool.machine_type} {pool.tpu_topology} slice spans {per_slice} nodes and "
                            f"GKE adds or removes whole slices; allowed: a multiple of {per_slice}",
                        )
                    )
        elif pool.tpu_topology is not None:
            found.append(
                Problem(
                    f"{at}.tpuTopology", f"{pool.tpu_topology!r} but {pool.machine_type} is not a TPU machine"
                )
            )

    def _check_pool_limit(
        self, at: str, pool: NodePool, hardware: PoolHardware, found: list[Problem]
    ) -> None:
        if self.cloud is Cloud.AWS:
            # EKS service quota "Nodes per managed node group" (its default; adjustable through Service Quotas).
            most = catalog().eks_max_nodes_per_node_group
            if pool.max_size > most:
                found.append(
                    Problem(
                        f"{at}.maxSize",
                        f"{pool.max_size}; an EKS managed node group holds at most {most} nodes "
                        "(EKS quota 'Nodes per managed node group'); allowed: <= "
                        f"{most}, or split the pool",
                    )
                )
            return
        # GKE system limit: 1,000 nodes per node pool in one zone. Multi-host TPU slices become one
        # pool each and stay far below it; other pools spread over the cluster's zones (TPU pools over
        # the zones the catalog lists for their generation).
        assert self.region is not None
        if self.pool_nodes_per_replica(pool) > 1:
            return  # one GKE node pool per slice (infra/gcp/nodepools.py): each far below the limit
        if hardware.kind is DeviceKind.TPU and hardware.accelerator is not None:
            zones = max(1, len(catalog().tpu_zones(hardware.accelerator, self.region)))
        elif pool.capacity is Capacity.RESERVED:
            zones = 1  # the reservation's zone
        elif hardware.kind is DeviceKind.GPU and hardware.accelerator is not None:
            zones = max(1, len(gke_gpu_zones(hardware.accelerator, self.region)))
        else:
            zones = min(ZONES_PER_CLUSTER, len(catalog().gcp_regions[self.region]))
        most = catalog().gke_max_nodes_per_pool_zone * zones
        if pool.max_size > most:
            found.append(
                Problem(
                    f"{at}.maxSize",
                    f"{pool.max_size}; a GKE node pool holds at most {catalog().gke_max_nodes_per_pool_zone} nodes "
                    f"per zone, {most} over its {zones} zone(s); allowed: <= {most}, or split the pool",
                )
            )

    @property
    def provisioned(self) -> bool:
        return self.cloud is not Cloud.EXISTING

    def pool_nodes_per_replica(self, pool: NodePool) -> int:
        """Nodes one slice of a multi-host TPU pool spans (1 for everything else, and for a topology
        the machine does not have, which is reported with the pool)."""
        machine = catalog().machine(self.cloud.value, pool.machine_type) if self.provisioned else None
        if pool.tpu_topology is None or machine is None:
            return 1
        if pool.tpu_topology not in getattr(machine, "tpu_topologies", []):
            return 1
        return max(1, tpu_topology_chips(pool.tpu_topology) // max(1, machine.accelerator_count))


def _did_you_mean(value: str, known: Iterable[str], n: int = 3, table: str = "") -> str:
    names = list(known)
    near = difflib.get_close_matches(value, names, n=n)
    if near:
        return f"did you mean {', '.join(near)}?"
    if table and len(names) > 12:
        families = sorted({name.rpartition(".")[0] if name.count(".") > 1 else name for name in names})
        return f"allowed: one of the {len(names)} in {table} ({', '.join(families)})"
    return f"allowed: {', '.join(sorted(names))}"


DEFAULT_POSTGRES_VERSION = "16.10"
"""database.engineVersion when a stack sets none: a row of infra/catalog/postgres.yaml (a test checks)."""


class Database(SettingsModel):
    """The gateway's database: Aurora PostgreSQL global database or Cloud SQL with a cross-region replica."""

    cloud: Literal["aws", "gcp"]
    primary_region: str
    secondary_regions: list[str] = Field(default_factory=list)
    instance_class: str
    engine_version: str = Field(default_factory=lambda: DEFAULT_POSTGRES_VERSION)
    """Aurora: an exact version from infra/catalog/postgres.yaml; Cloud SQL: only the major is used."""
    backup_retention_days: Int = Field(default=7, ge=1, le=35)

    def members(self) -> list[tuple[str, str]]:
        """(key, region) of the primary and every secondary."""
        return [("primaryRegion", self.primary_region)] + [
            (f"secondaryRegions[{k}]", r) for k, r in enumerate(self.secondary_regions)
        ]

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Database:
        found: list[Problem] = []
        regions = catalog().aws_regions if self.cloud == "aws" else catalog().gcp_regions
        for key, region in self.members():
            if region not in regions:
                found.append(Problem(key, f"{region!r} is not a known {self.cloud} region"))
        for k, region in enumerate(self.secondary_regions):
            if region == self.primary_region:
                found.append(
                    Problem(
                        f"secondaryRegions[{k}]", f"{region!r} equals primaryRegion; allowed: another region"
                    )
                )
        if self.cloud == "aws":
            classes = catalog().aurora_postgresql_classes
            if self.instance_class not in classes:
                found.append(
                    Problem(
                        "instanceClass",
                        f"{self.instance_class!r} is not an Aurora PostgreSQL instance class; "
                        f"{_did_you_mean(self.instance_class, classes, table=_DATASTORES)}",
                    )
                )
            elif self.secondary_regions and (
                self.instance_class.rpartition(".")[0] in catalog().aurora_burstable_families
            ):
                found.append(
                    Problem(
                        "instanceClass",
                        f"{self.instance_class!r} cannot join an Aurora global database; allowed: a "
                        "memory-optimized class such as db.r6g.large or db.r7g.large",
                    )
                )
        else:
            problem = catalog().cloud_sql_tiers.problem(self.instance_class)
            if problem:
                found.append(Problem("instanceClass", f"{self.instance_class!r}: {problem}"))
        versions = catalog().postgres_versions
        if not re.fullmatch(r"\d{2}\.\d+", self.engine_version):
            found.append(
                Problem(
                    "engineVersion",
                    f"{self.engine_version!r}; allowed: a PostgreSQL version such as {DEFAULT_POSTGRES_VERSION}",
                )
            )
        else:
            problem = (
                versions.aurora_problem(self.engine_version, global_database=bool(self.secondary_regions))
                if self.cloud == "aws"
                else versions.cloud_sql_problem(self.engine_version)
            )
            if problem:
                found.append(Problem("engineVersion", f"{self.engine_version!r}: {problem} ({_POSTGRES})"))
        self._report(found, info)
        return self


class Cache(SettingsModel):
    """Redis as the gateway's response cache, one per core region."""

    node_type: str
    replicas: Int = Field(default=1, ge=0, le=5)
    memory_size_gb: Int = Field(default=5, ge=1, le=300)


class Edge(SettingsModel):
    """The one public name and how traffic is spread over healthy serving clusters."""

    domain: DomainName
    hosted_zone: DomainName | None = None
    hosted_zone_id: str | None = None
    """An existing Route 53 zone to write into; without it the stack creates (and owns) hostedZone."""
    parent_zone_id: str | None = None
    """The Route 53 zone that is the parent of the created zone: the stack writes the delegation (NS) there."""
    parent_zone: DomainName | None = None
    """The parent zone's name (default: the created zone's name less its first label)."""
    health_check_interval_seconds: Int = 30
    health_check_path: str = "/health/readiness"
    """What the edge's health checks request: the gateway's own readiness path (infra/k8s/gateway.py)."""
    routing: Literal["failover", "latency", "weighted"] = "failover"
    aws_entry: Literal["route53", "global-accelerator"] = "route53"

    @model_validator(mode="after")
    def _interval(self, info: ValidationInfo) -> Edge:
        found: list[Problem] = []
        if self.health_check_interval_seconds not in (10, 30):
            found.append(
                Problem(
                    "healthCheckIntervalSeconds",
                    f"{self.health_check_interval_seconds}; allowed: 10 or 30 (what Route 53 supports)",
                )
            )
        if not self.health_check_path.startswith("/"):
            found.append(
                Problem("healthCheckPath", f"{self.health_check_path!r}; allowed: a path starting with '/'")
            )
        if self.hosted_zone and not self.domain.endswith("." + self.hosted_zone):
            found.append(
                Problem(
                    "hostedZone",
                    f"{self.hosted_zone!r} does not hold domain {self.domain!r} below its apex "
                    "(failover records are CNAMEs, which a zone apex cannot carry)",
                )
            )
        for key, zone_id in (("hostedZoneId", self.hosted_zone_id), ("parentZoneId", self.parent_zone_id)):
            if zone_id is not None and not _ZONE_ID.fullmatch(zone_id):
                found.append(
                    Problem(key, f"{zone_id!r}; allowed: a Route 53 zone id such as Z0123456789ABCDEFGHIJ")
                )
        self._check_delegation(found)
        self._report(found, info)
        return self

    @property
    def zone_name(self) -> str:
        """The zone that holds the public name: hostedZone, or the name's parent."""
        return self.hosted_zone or self.domain.partition(".")[2]

    @property
    def parent_zone_name(self) -> str:
        """The zone a created zone is delegated from: parentZone, or the zone's name less its first label."""
        return self.parent_zone or self.zone_name.partition(".")[2]

    def _check_delegation(self, found: list[Problem]) -> None:
        # A parent delegates a sub-zone with an NS record set named after the sub-zone, in the parent
        # zone (Route 53 Developer Guide, "Routing traffic for subdomains"): the sub-zone must be one
        # or more labels below the parent, and only a zone this stack creates has name servers to hand.
        if self.parent_zone is not None and self.parent_zone_id is None:
            found.append(
                Problem(
                    "parentZone",
                    f"{self.parent_zone!r} without parentZoneId: a parent is written into by its id; "
                    "set parentZoneId too, or omit parentZone",
                )
            )
            return
        if self.parent_zone_id is None:
            return
        if self.hosted_zone_id is not None:
            found.append(
                Problem(
                    "parentZoneId",
                    f"{self.parent_zone_id!r} with hostedZoneId: a stack that takes an existing zone delegates "
                    "nothing; allowed: parentZoneId only when the stack creates its zone (no hostedZoneId)",
                )
            )
            return
        zone = self.zone_name
        if "." not in self.parent_zone_name:
            found.append(
                Problem(
                    "parentZoneId",
                    f"{self.parent_zone_id!r}: zone {zone!r} sits below the top-level domain "
                    f"{self.parent_zone_name!r}, which no Route 53 zone holds; delegate {zone} at its registrar "
                    "(output nameServers) and omit parentZoneId",
                )
            )
        elif not zone.endswith("." + self.parent_zone_name):
            found.append(
                Problem(
                    "parentZone",
                    f"{self.parent_zone_name!r}: zone {zone!r} is not below it; allowed: a zone {zone} is one "
                    f"or more labels below, such as {zone.partition('.')[2]!r}",
                )
            )


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class AlertSeverity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Receiver(SettingsModel):
    """Who hears an alert of some severities: Alertmanager's routes and the clouds' alarms both
    deliver to it (one SNS topic per severity on AWS, e-mail notification channels on GCP)."""

    name: DnsLabel
    severities: list[AlertSeverity] = Field(min_length=1)
    emails: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _addresses(self, info: ValidationInfo) -> Receiver:
        found = [
            Problem(f"emails[{k}]", f"{email!r} is not an e-mail address; allowed: name@example.com")
            for k, email in enumerate(self.emails)
            if not _EMAIL.fullmatch(email)
        ]
        self._report(found, info)
        return self


class LogPipeline(StrEnum):
    CLOUD = "cloud"
    """The clouds' own pipelines: the CloudWatch Observability add-on on EKS, Cloud Logging on GKE."""
    OPENSEARCH = "opensearch"
    """The ELK-style stack on EKS: Fluent Bit to one OpenSearch domain per stack; GKE keeps Cloud Logging."""


LOG_DOMAIN_INSTANCE_TYPES: tuple[str, ...] = (
    "m6g.large.search",
    "m6g.xlarge.search",
    "m7g.large.search",
    "m7g.xlarge.search",
    "r6g.large.search",
    "r6g.xlarge.search",
    "r7g.large.search",
    "r7g.xlarge.search",
)
"""Current-generation Graviton data nodes with EBS storage (Amazon OpenSearch Service Developer Guide,
"Supported instance types":
https://docs.aws.amazon.com/opensearch-service/latest/developerguide/supported-instance-types.html).
Burstable T2 and T3 are left out: a log domain that indexes every container line outgrows burstable
CPU, and not every one of them offers encryption at rest and fine-grained access control, which the
domain requires. Which type offers what, per engine version and region, is the answer of the API's
ListInstanceTypeDetails (EncryptionEnabled, AdvancedSecurityEnabled:
https://docs.aws.amazon.com/opensearch-service/latest/APIReference/API_InstanceTypeDetails.html),
which needs credentials; the list was not checked against it type by type."""


class LogDomain(SettingsModel):
    """The OpenSearch domain Fluent Bit writes to when ``monitoring.logs`` is ``opensearch``."""

    instance_type: str = "m6g.large.search"
    """Data node type: m6g, m7g, r6g or r7g, .large or .xlarge, with the .search suffix (Graviton types
    with EBS storage, encryption at rest and fine-grained access control)."""
    instance_count: Int | None = Field(default=None, ge=1, le=10)
    """Data nodes, 1 to 10: 1 or an even number (zone-aware over two zones, three when the count divides
    by 3 and the cluster has three zones). Default: 2 in prod (a zone's loss keeps the logs
    searchable), 1 elsewhere."""
    volume_gib: Int = Field(default=20, ge=10, le=512)
    """gp3 volume per data node, GiB. The service's own bounds depend on the instance type (Developer
    Guide, "EBS volume size quotas": https://docs.aws.amazon.com/opensearch-service/latest/developerguide/limits.html#ebsresource);
    512 is this program's cap for a log domain, not checked against each type's quota."""

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> LogDomain:
        found: list[Problem] = []
        if self.instance_type not in LOG_DOMAIN_INSTANCE_TYPES:
            found.append(
                Problem(
                    "instanceType",
                    f"{self.instance_type!r}; allowed: {', '.join(LOG_DOMAIN_INSTANCE_TYPES)}",
                )
            )
        count = self.instance_count
        if count is not None and count > 1 and count % 2:
            found.append(
                Problem(
                    "instanceCount",
                    f"{count}: a zone-aware domain over two zones needs an even number of data nodes; "
                    "allowed: 1, or an even number up to 10",
                )
            )
        self._report(found, info)
        return self

    def nodes(self, environment: Environment) -> int:
        """Data nodes, with the environment's default when the stack names none."""
        if self.instance_count is not None:
            return self.instance_count
        return 2 if environment is Environment.PROD else 1


class Monitoring(SettingsModel):
    receivers: list[Receiver] = Field(default_factory=list)
    """Where alerts go, by severity; a severity no receiver takes is only on the dashboards."""
    retention_days: Int = Field(default=15, ge=1, le=400)
    storage_gib: Int = Field(default=50, ge=10, le=4096)
    p99_latency_seconds: Float = Field(default=1.5, gt=0)
    """The seed's HighLatency threshold: the API's p99 end-to-end latency held above it for 5 minutes pages."""
    grafana: bool = True
    error_ratio: Float = Field(default=0.05, gt=0, lt=1)
    """Share of API requests answered 5xx over 5 minutes that pages: clients retry a few, not a twentieth."""
    ttft_p99_seconds: Float = Field(default=2.0, gt=0)
    """Time-to-first-token SLO (p99): what a streaming user waits before anything appears."""
    inter_token_p99_seconds: Float = Field(default=0.1, gt=0)
    """Inter-token latency SLO (p99): above about 0.1 s a stream reads slower than people do."""
    queue_depth: Int = Field(default=10, ge=1)
    """Requests waiting in one replica's scheduler: a sustained queue means capacity is short before latency shows it."""
    kv_cache_usage: Float = Field(default=0.95, gt=0, le=1)
    """KV-cache fraction in use on a replica: near full, vLLM preempts running requests and recomputes them."""
    replicas_pending_minutes: Int = Field(default=15, ge=1, le=240)
    """How long a serving Deployment may want more replicas than it has available: a cold start fits inside."""
    gpu_temperature_celsius: Int = Field(default=85, ge=40, le=120)
    """GPU core temperature held for 10 minutes that warns: data-centre GPUs throttle their clocks near 90 C."""
    anomaly_stddevs: Float = Field(default=3.0, gt=0)
    """k: how many standard deviations from the same hour last week the request rate or p99 latency may stray."""
    anomaly_min_requests_per_second: Float = Field(default=1.0, gt=0)
    """Floor of last week's request-rate deviation: a flat hour last week must not make any change an anomaly."""
    anomaly_min_latency_seconds: Float = Field(default=0.05, gt=0)
    """Floor of last week's p99-latency deviation, for the same reason."""
    logs: LogPipeline = LogPipeline.CLOUD
    """Where the EKS clusters' container logs go: the cloud's pipeline, or Fluent Bit to OpenSearch."""
    opensearch: LogDomain | None = None
    """The domain's size when logs is opensearch (defaults when absent); only with logs: opensearch."""

    @model_validator(mode="after")
    def _log_domain(self, info: ValidationInfo) -> Monitoring:
        found: list[Problem] = []
        if self.opensearch is not None and self.logs is not LogPipeline.OPENSEARCH:
            found.append(
                Problem(
                    "opensearch",
                    f"set while logs is {self.logs.value!r}; allowed: only with logs: opensearch",
                )
            )
        self._report(found, info)
        return self

    @property
    def log_domain(self) -> LogDomain | None:
        """The domain to build, or None when the clouds' pipelines carry the logs."""
        if self.logs is not LogPipeline.OPENSEARCH:
            return None
        return self.opensearch or LogDomain()


_BILLING_ACCOUNT = re.compile(r"[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}")
"""A Cloud Billing account ID: three groups of six upper-case hexadecimal digits."""


class Budget(SettingsModel):
    """The monthly budget the cost guard holds the estimate to, and what the estimate cannot see.

    Discounts that are account-level billing (Savings Plans, Reserved Instances, committed use) and
    the hours the accelerator pools sleep are stated here, not read off a pool: they change the bill,
    not the resources.
    """

    max_monthly_usd: Float = Field(gt=0)
    spot_discount: Float = Field(default=0.6, ge=0, lt=1)
    """Off on-demand, for spot pools without an observed spot price (AWS)."""
    commitment_discount: Float = Field(default=0, ge=0, lt=1)
    """Savings Plans / committed-use discount on on-demand and reserved compute."""
    off_peak_hours_per_month: Float = Field(default=0, ge=0, le=730)
    """Hours a month the accelerator pools sleep to their minimum size."""
    throughput: dict[str, Float] = Field(default_factory=dict)
    """Output tokens per second per node, by accelerator, where no benchmark row exists (or to override one)."""
    alert_thresholds: list[Float] = Field(default_factory=lambda: [50.0, 80.0, 100.0])
    """Percentages of maxMonthlyUsd at which the budgets in the clouds alert, on actual spend."""
    alert_emails: list[str] = Field(default_factory=list)
    """Who the AWS budget's alerts go to."""
    activate_cost_allocation_tag: bool = True
    """Activate cost-center as an AWS cost allocation tag; false on a new account's first apply."""
    gcp_billing_account: str | None = None
    """The billing account of the GCP project: with it, the stack creates a Cloud Billing budget."""

    @model_validator(mode="after")
    def _throughput(self, info: ValidationInfo) -> Budget:
        found: list[Problem] = []
        known = catalog().accelerators
        for name, rate in self.throughput.items():
            if name not in known:
                found.append(
                    Problem(f"throughput.{name}", f"not an accelerator; allowed: {', '.join(sorted(known))}")
                )
            elif rate <= 0:
                found.append(
                    Problem(f"throughput.{name}", f"{rate!r} tokens per second; allowed: a number > 0")
                )
        for k, threshold in enumerate(self.alert_thresholds):
            if not 0 < threshold <= 1000:
                found.append(
                    Problem(f"alertThresholds[{k}]", f"{threshold!r}; allowed: a percentage > 0 and <= 1000")
                )
            elif k and threshold <= self.alert_thresholds[k - 1]:
                found.append(
                    Problem(
                        f"alertThresholds[{k}]",
                        f"{threshold!r}; allowed: ascending, each above the one before",
                    )
                )
        for k, email in enumerate(self.alert_emails):
            if not _EMAIL.fullmatch(email):
                found.append(Problem(f"alertEmails[{k}]", f"{email!r} is not an e-mail address"))
        if self.gcp_billing_account is not None and not _BILLING_ACCOUNT.fullmatch(self.gcp_billing_account):
            found.append(
                Problem(
                    "gcpBillingAccount",
                    f"{self.gcp_billing_account!r}; allowed: a billing account ID such as 01ABCD-23EF45-6789AB",
                )
            )
        self._report(found, info)
        return self


PRIVATE_RANGES: tuple[ipaddress.IPv4Network, ...] = tuple(
    ipaddress.IPv4Network(block)
    for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
"""Private IPv4 space: RFC 1918, and RFC 6598's shared space that carrier-grade NAT and many VPNs hand out."""

# What EC2 takes as the description of a rule for an IPv4 range (EC2 API reference, IpRange:
# "Up to 255 characters in length. Allowed characters are a-z, A-Z, 0-9, spaces, and
# ._-:/()#,@[]+=&;{}!$*"). Refused here, not by the API halfway through an apply.
_RULE_DESCRIPTION = re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}")


def _deployer_block(cidr: str) -> tuple[ipaddress.IPv4Network | None, str | None]:
    """A deployer's block and, if it cannot be one, why (then the block is None)."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        try:
            meant = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None, f"{cidr!r} is not a CIDR block; allowed: an IPv4 block such as 10.200.0.0/24"
        return None, f"{cidr!r} has host bits set; allowed: the block's first address, {meant}"
    if not isinstance(net, ipaddress.IPv4Network):
        return None, f"{cidr!r}; allowed: an IPv4 block (the clusters' endpoints are IPv4)"
    if net.prefixlen == 0:
        return None, f"{cidr!r} opens the API to the internet; allowed: narrower CIDRs"
    if net.is_loopback or net.is_link_local or net.is_multicast or net.is_reserved:
        return None, (
            f"{cidr!r} is loopback, link-local, multicast or reserved space, which no deployer sends from; "
            "allowed: the block of the runner's network or VPN"
        )
    return net, None


class Deployer(SettingsModel):
    """A network that runs `pulumi up`: admitted on 443 to the private API endpoint of every EKS cluster.

    An object rather than a bare CIDR, because its description becomes the description of the rule in
    the cluster's security group: what a reviewer of the group reads to tell the CI runners' VPC from
    an office VPN, long after the stack file was written.
    """

    cidr: str
    """An IPv4 block, e.g. 10.200.0.0/24 (a runner VPC routed to the core VPCs, a VPN's client range)."""
    description: str
    """Who deploys from there; becomes the rule's description (EC2's characters, at most 255)."""

    @model_validator(mode="before")
    @classmethod
    def _not_bare(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(
                f"{value!r} is a bare CIDR; allowed: a mapping that says who deploys from there, "
                f"e.g. {{cidr: {value}, description: CI runners}}"
            )
        return value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Deployer:
        found: list[Problem] = []
        _, problem = _deployer_block(self.cidr)
        if problem:
            found.append(Problem("cidr", problem))
        if not _RULE_DESCRIPTION.fullmatch(self.description):
            refused = "".join(sorted({c for c in self.description if not _RULE_DESCRIPTION.fullmatch(c)}))
            found.append(
                Problem(
                    "description",
                    f"{_show(self.description)} is not a security group rule description"
                    + (f" (EC2 refuses {refused!r})" if refused else "")
                    + "; allowed: 1-255 letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
                )
            )
        self._report(found, info)
        return self

    @property
    def network(self) -> ipaddress.IPv4Network | None:
        """The block, if it passed its own rules (else it is reported there)."""
        return _deployer_block(self.cidr)[0]


_VPC_ID = re.compile(r"vpc-[0-9a-f]{8}([0-9a-f]{9})?")
_ROUTE_TABLE_ID = re.compile(r"rtb-[0-9a-f]{8}([0-9a-f]{9})?")
DEPLOY_VPC_PREFIXES = (16, 28)
"""The sizes a VPC's IPv4 block may have (Amazon VPC user guide, "VPC CIDR blocks": /16 to /28)."""


class DeployNetwork(SettingsModel):
    """The deploy runner's VPC, as the bootstrap stack outputs it (``pulumi stack output`` there).

    Every AWS cluster with a private endpoint is peered with it, routed both ways, and admits its
    block on 443: the runner then reaches each private control plane without any deployer entry.
    """

    region: str
    """deployRegion: the bootstrap stack's region, where the deploy VPC lives."""
    vpc_id: str
    """deployVpcId: the VPC the runner's builds run in."""
    cidr: str
    """deployCidr: the VPC's block; must overlap no cluster's network (peered blocks never do)."""
    route_table_ids: list[str] = Field(min_length=1)
    """deployRouteTableIds: the private route tables of the runner's subnets, which get a route to
    every peered cluster network."""

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> DeployNetwork:
        found: list[Problem] = []
        if self.region not in catalog().aws_regions:
            found.append(
                Problem(
                    "region",
                    f"{self.region!r} is not a known aws region; "
                    f"allowed: {', '.join(sorted(catalog().aws_regions))}",
                )
            )
        if not _VPC_ID.fullmatch(self.vpc_id):
            found.append(
                Problem("vpcId", f"{self.vpc_id!r} is not a VPC id; allowed: vpc- and 8 or 17 hex digits")
            )
        for k, table in enumerate(self.route_table_ids):
            if not _ROUTE_TABLE_ID.fullmatch(table):
                found.append(
                    Problem(
                        f"routeTableIds[{k}]",
                        f"{table!r} is not a route table id; allowed: rtb- and 8 or 17 hex digits",
                    )
                )
        problem = deploy_vpc_block_problem(self.cidr)
        if problem:
            found.append(Problem("cidr", problem))
        self._report(found, info)
        return self

    @property
    def network(self) -> ipaddress.IPv4Network | None:
        """The block, if it passed its own rules (else it is reported there)."""
        return None if deploy_vpc_block_problem(self.cidr) else ipaddress.IPv4Network(self.cidr)

    @property
    def deployer(self) -> Deployer:
        """The deploy VPC as a deployer: what the clusters' deployers security groups admit on 443."""
        return Deployer(cidr=self.cidr, description=f"Deploy runner VPC {self.vpc_id} (deployNetwork)")


def deploy_vpc_block_problem(cidr: str) -> str | None:
    """Why ``cidr`` cannot be the deploy VPC's block, or None."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        return f"{cidr!r} is not a CIDR block (host bits clear); allowed: a VPC block such as 10.200.0.0/22"
    low, high = DEPLOY_VPC_PREFIXES
    if not isinstance(net, ipaddress.IPv4Network) or not low <= net.prefixlen <= high:
        return f"{cidr!r}; allowed: an IPv4 block from /{low} to /{high} (a VPC's primary block)"
    if not any(net.subnet_of(r) for r in PRIVATE_RANGES):
        return (
            f"{cidr!r} is not private address space; the private endpoints are reached over peering; "
            f"allowed: a block inside {', '.join(map(str, PRIVATE_RANGES))}"
        )
    return None


class ServedModel(SettingsModel):
    """The DeepSeek model the clusters serve; every accelerator pool must hold one replica."""

    name: str
    precision: Precision = Precision.BF16

    @model_validator(mode="after")
    def _known(self, info: ValidationInfo) -> ServedModel:
        models = catalog().models
        found: list[Problem] = []
        if self.name not in models:
            found.append(
                Problem(
                    "name", f"{self.name!r} is not a known model; {_did_you_mean(self.name, models, n=2)}"
                )
            )
        elif self.precision.value not in models[self.name].weights_gib:
            allowed = ", ".join(models[self.name].weights_gib)
            found.append(
                Problem(
                    "precision",
                    f"{self.precision.value!r} is not published for {self.name}; allowed: {allowed}",
                )
            )
        self._report(found, info)
        return self

    @property
    def known(self) -> bool:
        return (
            self.name in catalog().models and self.precision.value in catalog().models[self.name].weights_gib
        )


class Serving(SettingsModel):
    """How the model servers run on the accelerator pools: their images, their parallelism, their floors.

    A replica lives inside one node: tensor parallelism over that node's accelerators, never across
    nodes (a multi-host TPU slice serves one replica per host). Replica counts are the Deployments'
    until an autoscaler takes them over.
    """

    gpu_image: str = Field(default_factory=lambda: catalog().serving_images[DeviceKind.GPU])
    """vLLM's OpenAI-compatible server image for GPU pools (default: infra/catalog/models.yaml)."""
    tpu_image: str = Field(default_factory=lambda: catalog().serving_images[DeviceKind.TPU])
    """vLLM's TPU image for TPU pools (default: infra/catalog/models.yaml)."""
    tensor_parallel_size: Int | None = Field(default=None, ge=1)
    """GPUs per replica on GPU pools (default: every GPU of a node). TPU replicas take their whole host."""
    core_replicas: Int = Field(default=1, ge=0)
    """Replicas on each on-demand or reserved accelerator pool of a core cluster: the serving floor."""
    burst_replicas: Int = Field(default=0, ge=0)
    """Replicas on spot pools and on every pool of a burst cluster (0: idle until scaled)."""

    @model_validator(mode="after")
    def _pinned(self, info: ValidationInfo) -> Serving:
        found: list[Problem] = []
        for key, image in (("gpuImage", self.gpu_image), ("tpuImage", self.tpu_image)):
            problem = image_problem(image)
            if problem:
                found.append(Problem(key, problem))
        self._report(found, info)
        return self


SEED_MIN_REPLICAS = 3
SEED_MAX_REPLICAS = 20
"""The seed's gateway autoscaling: 3..20 replicas. Prod may not go below either bound."""


_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day of week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
"""The five fields of a standard cron expression, as KEDA's cron scaler reads them (robfig/cron's
standard parser: minute hour day-of-month month day-of-week; names for months and weekdays)."""


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a five-field cron expression, or None."""
    fields = expression.split()
    if len(fields) != len(_CRON_FIELDS):
        return f"{len(fields)} fields; a cron expression has 5 (minute hour day-of-month month day-of-week)"

    def value(text: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
        if text.upper() in names:
            return names.index(text.upper()) + (1 if low == 1 else 0)
        if not text.isdigit() or not low <= int(text) <= high:
            return None
        return int(text)

    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            base, slash, step = part.partition("/")
            if slash and (not step.isdigit() or int(step) == 0):
                return f"{name} {text!r}: a step is a whole number above 0"
            if base == "*":
                continue
            first, dash, last = base.partition("-")
            bounds = [value(first, low, high, names)] + ([value(last, low, high, names)] if dash else [])
            if any(b is None for b in bounds):
                return f"{name} {text!r}: allowed {low}-{high}{' or ' + '/'.join(names[:3]) + '...' if names else ''}"
            if dash and bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
                return f"{name} {text!r}: a range runs from low to high"
    return None


class OffPeak(SettingsModel):
    """Working hours: outside them burst capacity sleeps, and so does non-prod serving (seed 3.2)."""

    timezone: str
    """IANA time zone the hours are in, e.g. Europe/Berlin (daylight saving followed)."""
    start: str
    """Cron expression of when working hours start, e.g. "0 7 * * 1-5" (serving is up before people are)."""
    end: str
    """Cron expression of when they end, e.g. "0 20 * * 1-5"."""

    @model_validator(mode="after")
    def _parses(self, info: ValidationInfo) -> OffPeak:
        found: list[Problem] = []
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            found.append(
                Problem(
                    "timezone",
                    f"{self.timezone!r} is not an IANA time zone; allowed: e.g. Europe/Berlin, UTC",
                )
            )
        for key, expression in (("start", self.start), ("end", self.end)):
            problem = cron_problem(expression)
            if problem:
                found.append(Problem(key, f"{expression!r} is not a cron expression: {problem}"))
        self._report(found, info)
        return self


class Gateway(SettingsModel):
    """The OpenAI-compatible gateway in front of the model servers of every serving cluster.

    Requests go to the cluster's own model first, then to the clusters of ``fallbacks`` (through
    their public origin names), then, with ``publicApiFallback``, to DeepSeek's public API.
    """

    image: str = Field(default_factory=lambda: catalog().gateway_image)
    """The LiteLLM proxy image (default: infra/catalog/models.yaml gatewayImage)."""
    min_replicas: Int = Field(default=SEED_MIN_REPLICAS, ge=1)
    """Fewest gateway replicas per cluster (the KEDA ScaledObject's minReplicaCount); prod: at least 3."""
    max_replicas: Int = Field(default=SEED_MAX_REPLICAS, ge=1)
    """Most gateway replicas per cluster (maxReplicaCount); prod: at least 20."""
    fallbacks: list[str] | None = None
    """Clusters whose gateways take a request the local model cannot, in order (default: the burst clusters)."""
    public_api_fallback: bool = True
    """Whether DeepSeek's public API is the last fallback (its key from the cloud's secret manager)."""
    burst_requests_per_replica: Float = Field(default=2.0, gt=0)
    """Requests per second one burst model replica takes before KEDA adds another."""
    burst_cooldown_seconds: Int | None = Field(default=None, ge=60)
    """How long a burst pool stays up after its gateway's last request (default: twice the model's
    start budget, infra/catalog/models.yaml loadMinutes); must exceed that budget."""
    off_peak: OffPeak | None = None
    """Working hours: outside them burst pools and non-prod serving scale to zero (KEDA cron)."""
    key_rpm_limit: Int = Field(default=600, ge=1)
    """Requests per minute one API key may make through a gateway (the ceiling and the default of
    every key the gateway issues: LiteLLM ``upperbound_key_generate_params``)."""
    key_max_parallel_requests: Int = Field(default=16, ge=1)
    """Requests one API key may have in flight at once, for the same keys."""

    def burst_cooldown(self, load_minutes: int) -> int:
        """The burst ScaledObjects' cooldownPeriod for a model that starts within ``load_minutes``."""
        return self.burst_cooldown_seconds or 2 * load_minutes * 60

    @model_validator(mode="after")
    def _bounds(self, info: ValidationInfo) -> Gateway:
        found: list[Problem] = []
        if self.min_replicas > self.max_replicas:
            found.append(
                Problem(
                    "minReplicas",
                    f"{self.min_replicas} is above maxReplicas {self.max_replicas}; allowed: <= maxReplicas",
                )
            )
        problem = image_problem(self.image)
        if problem:
            found.append(Problem("image", problem))
        self._report(found, info)
        return self


class MeshMode(StrEnum):
    STRICT = "strict"
    PERMISSIVE = "permissive"


class AdmissionMode(StrEnum):
    ENFORCE = "enforce"
    """Refuse a pod that breaks a rule (ValidatingAdmissionPolicyBinding validationActions Deny)."""
    WARN = "warn"
    """Admit it with a warning and an audit annotation (Warn, Audit): dev only."""


_HOST = re.compile(r"(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
"""A DNS name, optionally one leading wildcard label (``*.example.com``), lower case."""


def _https_url(value: str) -> str | None:
    """None when ``value`` is an https URL with a host; else what is wrong with it."""
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.hostname:
        return f"{value!r} is not an https URL; allowed: https://<host>/..."
    return None


class Jwt(SettingsModel):
    """The token every request carries, validated before the gateway (Istio RequestAuthentication)."""

    issuer: str
    """The ``iss`` a token must carry: an https URL (the identity provider's issuer)."""
    audiences: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    """Accepted ``aud`` values; a token for another audience is refused."""
    jwks_uri: str
    """Where the signing keys are published: an https URL on the issuer's host."""
    jwks_on_other_host: bool = False
    """Say so to publish the keys on another host than the issuer's (some providers do)."""

    @model_validator(mode="after")
    def _urls(self, info: ValidationInfo) -> Jwt:
        found: list[Problem] = []
        for key, value in (("issuer", self.issuer), ("jwksUri", self.jwks_uri)):
            problem = _https_url(value)
            if problem:
                found.append(Problem(key, problem))
        issuer_host, jwks_host = urlparse(self.issuer).hostname, urlparse(self.jwks_uri).hostname
        if not found and issuer_host != jwks_host and not self.jwks_on_other_host:
            found.append(
                Problem(
                    "jwksUri",
                    f"host {jwks_host!r} is not the issuer's {issuer_host!r}; allowed: the issuer's host, "
                    "or set jwksOnOtherHost: true to trust keys published elsewhere",
                )
            )
        self._report(found, info)
        return self


DEFAULT_MASKED_ENTITIES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "IP_ADDRESS",
)


class Masking(SettingsModel):
    """PII masked at the gateway before any model, or the public API, sees a prompt (Presidio)."""

    entities: list[str] = Field(default_factory=lambda: list(DEFAULT_MASKED_ENTITIES), min_length=1)
    """Presidio entity types to mask (infra/catalog/limits.yaml presidio.entities)."""
    responses: bool = False
    """Also mask what the model answers."""

    @model_validator(mode="after")
    def _known(self, info: ValidationInfo) -> Masking:
        known = catalog().presidio_entities
        found = [
            Problem(
                f"entities[{k}]",
                f"{entity!r} is not an entity the Presidio analyzer {catalog().presidio_version} detects; "
                f"{_did_you_mean(entity, known, table='infra/catalog/limits.yaml')}",
            )
            for k, entity in enumerate(self.entities)
            if entity not in known
        ]
        self._report(found, info)
        return self


class EgressHost(SettingsModel):
    """A public endpoint the serving namespaces may call, by name (never by address range)."""

    host: str
    """A DNS name, e.g. api.deepseek.com (one leading ``*.`` label allowed)."""
    port: Int = Field(default=443, ge=1, le=65535)
    """The host's TLS port: on EKS the egress waypoint carries it as TLS, end to end (no plain HTTP)."""

    @model_validator(mode="after")
    def _named(self, info: ValidationInfo) -> EgressHost:
        found: list[Problem] = []
        with contextlib.suppress(ValueError):
            ipaddress.ip_network(self.host, strict=False)
            found.append(
                Problem(
                    "host",
                    f"{self.host!r} is an IP range; a public API's addresses change without notice, "
                    "so egress is allowed by name; allowed: a DNS name such as api.deepseek.com",
                )
            )
        if not found and not _HOST.fullmatch(self.host):
            found.append(Problem("host", f"{self.host!r} is not a DNS name; allowed: e.g. api.deepseek.com"))
        self._report(found, info)
        return self


DEEPSEEK_API_HOST = "api.deepseek.com"
"""The public DeepSeek API, the gateways' last fallback: always an allowed egress when it is used."""


class Security(SettingsModel):
    """Zero trust: mutual TLS in the mesh, a JWT on every request, PII masking, named egress,
    in-cluster admission policy and audit retention."""

    mtls: MeshMode = MeshMode.STRICT
    """Istio PeerAuthentication mode of the serving namespaces; permissive only in dev."""
    jwt: Jwt | None = None
    """The token every request must carry. Without it no gateway checks one: the policy pack's
    gateway-jwt guard refuses that outside dev."""
    masking: Masking = Field(default_factory=Masking)
    egress: list[EgressHost] = Field(default_factory=list)
    """Public endpoints besides the DeepSeek API (added when the gateway falls back to it)."""
    admission: AdmissionMode = AdmissionMode.ENFORCE
    """In-cluster admission policy in the serving namespaces; warn only in dev."""
    audit_retention_days: Int = Field(default=365, ge=1, le=3653)
    """How long CloudTrail and the GCP audit log sink keep what they record."""

    def egress_hosts(self, public_api: bool) -> list[EgressHost]:
        """Every named egress of the serving namespaces, the DeepSeek API first when it is a fallback."""
        hosts = [h for h in self.egress if h.host != DEEPSEEK_API_HOST]
        return ([EgressHost(host=DEEPSEEK_API_HOST)] if public_api else []) + hosts


_DATASTORES = "infra/catalog/datastores.yaml"
_POSTGRES = "infra/catalog/postgres.yaml"
_BACKUP_MINIMUM = {Environment.DEV: 1, Environment.STAGING: 7, Environment.PROD: 14}

# AWS tag values (AWS Tagging docs, "Tag naming limits and requirements"): letters, spaces and
# digits in any script (spaces are the Unicode space separators, not tabs or line breaks), and
# _ . : / = + - @, at most 256 characters. AWS refuses anything else, so
# the settings do too. GCP label values allow only lower-case letters, digits, '_' and '-' (at
# most 63); the program lower-cases tags for GCP (a value people still recognise) but would
# replace every other character by '_', so "ml/infra" would be billed as "ml_infra" on GCP and
# "ml/infra" on AWS, and a cost report joining the two would split one cost centre in two. With a
# GCP resource in the stack that silent rewrite is refused; upper case is not.
_AWS_TAG_VALUE = re.compile(r"[\w .:/=+\-@\u00a0\u2000-\u200a\u202f\u205f\u3000]{0,256}")
_GCP_SAFE_LABEL_VALUE = re.compile(r"[A-Za-z0-9_-]{0,63}")


class Settings(SettingsModel):
    """A whole stack: who owns it, where it runs, and what it serves."""

    _source: str = PrivateAttr(default="")

    @property
    def source(self) -> str:
        """The stack file these settings came from, for errors found after validation (empty if unknown)."""
        return self._source

    environment: Environment
    owner: DnsLabel
    cost_center: Annotated[str, AfterValidator(_tag_value)] = Field(min_length=1, max_length=63)
    gcp_project: str = ""
    aws_account_id: Annotated[str, AfterValidator(_aws_account)] = ""
    log_retention_days: Annotated[Int, AfterValidator(_log_retention)] = Field(default=30, ge=1, le=3653)
    cluster_admins: list[Annotated[str, AfterValidator(_iam_principal)]] = Field(default_factory=list)
    """IAM role/user ARNs given cluster-admin on every EKS cluster (besides whoever deploys)."""
    deployers: list[Deployer] = Field(default_factory=list)
    """Networks that run `pulumi up`, admitted on 443 to every EKS cluster's private endpoint."""
    deploy_network: DeployNetwork | None = None
    """The deploy runner's VPC (bootstrap outputs): peered with every private AWS cluster, a deployer."""
    clusters: list[Cluster] = Field(min_length=1)
    model: ServedModel
    database: Database | None = None
    cache: Cache | None = None
    edge: Edge | None = None
    monitoring: Monitoring = Field(default_factory=Monitoring)
    budget: Budget | None = None
    serving: Serving = Field(default_factory=Serving)
    gateway: Gateway = Field(default_factory=Gateway)
    security: Security = Field(default_factory=Security)

    @model_validator(mode="after")
    def _topology(self) -> Settings:
        found: list[Problem] = _deferred_below(self)
        names: set[str] = set()
        for i, cluster in enumerate(self.clusters):
            if cluster.name in names:
                found.append(
                    Problem(
                        f"clusters[{i}].name",
                        f"{cluster.name!r} is used by two clusters; names must be unique",
                    )
                )
            names.add(cluster.name)
        if not any(c.role is Role.CORE for c in self.clusters):
            found.append(Problem("clusters", "no cluster has role: core; allowed: at least one core cluster"))
        for i, cluster in enumerate(self.clusters):
            if (
                self.environment is Environment.PROD
                and cluster.role is Role.CORE
                and cluster.endpoint_access is EndpointAccess.PUBLIC
            ):
                found.append(
                    Problem(
                        f"clusters[{i}].endpointAccess", "'public' on a prod core cluster; allowed: private"
                    )
                )
            if (
                cluster.cloud is Cloud.GCP
                and not self.gcp_project
                and not any(p.field == "gcpProject" for p in found)
            ):
                found.append(
                    Problem(
                        "gcpProject", f"empty but cluster {cluster.name!r} is on gcp; set the GCP project id"
                    )
                )
            self._check_fit(i, cluster, found)
        self._check_networks(found)
        self._check_deployers(found)
        self._check_deploy_network(found)
        self._check_tags(found)
        self._check_data(found)
        self._check_edge(found)
        self._check_serving(found)
        self._check_gateway(found)
        self._check_security(found)
        self._check_logs(found)
        raise_problems(found)
        return self

    def serving_clusters(self) -> list[Cluster]:
        """Clusters that take inference traffic: with accelerators, or existing ones."""
        return [
            c
            for c in self.clusters
            if c.cloud is Cloud.EXISTING or any(p.is_accelerated for p in c.node_pools)
        ]

    # --- networks --------------------------------------------------------------------------------

    def network_of(self, cluster: Cluster) -> ipaddress.IPv4Network:
        """The cluster's address block: as set in the stack, or 10.(16 + index).0.0/16.

        Every range of a provisioned cluster is carved from it (AWS subnets; GKE nodes, pods and
        Services), so that two clusters whose blocks do not overlap never share an address.
        """
        if cluster.network_cidr:
            return ipaddress.IPv4Network(cluster.network_cidr)
        index = self.clusters.index(cluster)
        return ipaddress.IPv4Network(f"10.{16 + index}.0.0/16")

    def control_plane_of(self, cluster: Cluster) -> ipaddress.IPv4Network | None:
        """The /28 a private GKE control plane takes; None for clusters without one."""
        if cluster.cloud is not Cloud.GCP:
            return None
        return ipaddress.IPv4Network(GKE_CONTROL_PLANE_BLOCK.format(index=self.clusters.index(cluster)))

    def _check_networks(self, found: list[Problem]) -> None:
        """Address ranges that would overlap: such clusters cannot be peered or routed to each other."""
        blocks: list[tuple[int, Cluster, ipaddress.IPv4Network, str]] = []
        for i, cluster in enumerate(self.clusters):
            if not cluster.provisioned or not _valid_block(cluster.network_cidr):
                continue
            how = "networkCidr" if cluster.network_cidr else "default networkCidr"
            blocks.append((i, cluster, self.network_of(cluster), how))
            plane = self.control_plane_of(cluster)
            if plane is not None:
                blocks.append((i, cluster, plane, "GKE control plane"))
        reported: set[int] = set()
        for a, (i, first, net_a, how_a) in enumerate(blocks):
            for j, second, net_b, how_b in blocks[a + 1 :]:
                if i == j or not net_a.overlaps(net_b):
                    continue
                # The problem belongs to whichever range the stack file spells out (else the later one).
                at, other = (
                    (j, (first, net_a, how_a))
                    if second.network_cidr or not first.network_cidr
                    else (i, (second, net_b, how_b))
                )
                mine = net_b if at == j else net_a
                if at in reported:
                    continue
                reported.add(at)
                found.append(
                    Problem(
                        f"clusters[{at}].networkCidr",
                        f"{mine} overlaps {other[1]} ({other[2]} of cluster {other[0].name!r}); "
                        "allowed: a private block that overlaps no other cluster's network",
                    )
                )
        # A private range allow-listed for a control plane is an on-prem or deployer network
        # reaching it over a VPN or interconnect; if it is also another cluster's network, one of
        # the two is unroutable. (Public ranges cannot collide with private VPC ranges.)
        for i, cluster in enumerate(self.clusters):
            for k, cidr in enumerate(cluster.public_access_cidrs):
                try:
                    net = ipaddress.ip_network(cidr, strict=True)
                except ValueError:
                    continue
                if net.version != 4 or not _plain_private(net) or net.prefixlen == 0:
                    continue
                for j, other, block, how in blocks:
                    if j != i and net.overlaps(block):
                        found.append(
                            Problem(
                                f"clusters[{i}].publicAccessCidrs[{k}]",
                                f"{cidr!r} overlaps {block} ({how} of cluster {other.name!r}): the same "
                                "addresses cannot be both an allowed client network and a cluster's network",
                            )
                        )
                        break

    def _check_deployers(self, found: list[Problem]) -> None:
        """The deployers' blocks as a whole: each once, not the internet in pieces, private in prod.

        A block may overlap a cluster's network, unlike a private publicAccessCidrs entry: a host in a
        core VPC (or in the core VPC peered with it) is a deployer too, and the cluster security group
        admits only its own members, so even that host needs its rule.
        """
        nets = [(k, d.network) for k, d in enumerate(self.deployers)]
        seen: dict[ipaddress.IPv4Network, int] = {}
        for k, net in nets:
            if net is None:
                continue
            if net in seen:
                found.append(
                    Problem(
                        f"deployers[{k}].cidr",
                        f"{str(net)!r} is listed twice (also deployers[{seen[net]}]); a security group holds one "
                        "rule per block and port; allowed: each block once",
                    )
                )
                continue
            seen[net] = k
            # Prod's core endpoints are private: only routed private addresses (peering, Transit
            # Gateway, VPN, Direct Connect) ever reach them, so a public block there is a mistake.
            if self.environment is Environment.PROD and not any(net.subnet_of(r) for r in PRIVATE_RANGES):
                found.append(
                    Problem(
                        f"deployers[{k}].cidr",
                        f"{str(net)!r} is not private address space; prod's endpoints are reached only over "
                        f"private routes; allowed in prod: blocks inside {', '.join(map(str, PRIVATE_RANGES))}",
                    )
                )
        problem = whole_internet_in_pieces(list(seen))
        if problem:
            found.append(Problem("deployers", problem))

    def _check_deploy_network(self, found: list[Problem]) -> None:
        """The deploy VPC is peered with the clusters' networks: peered blocks must not overlap
        (Amazon VPC peering guide, "VPC peering limitations"), or the routes would be ambiguous."""
        net = self.deploy_network.network if self.deploy_network else None
        if net is None:
            return
        for cluster in self.clusters:
            if not cluster.provisioned or not _valid_block(cluster.network_cidr):
                continue
            blocks = [
                (self.network_of(cluster), "networkCidr" if cluster.network_cidr else "default networkCidr")
            ]
            plane = self.control_plane_of(cluster)
            if plane is not None:
                blocks.append((plane, "GKE control plane"))
            for block, how in blocks:
                if net.overlaps(block):
                    found.append(
                        Problem(
                            "deployNetwork.cidr",
                            f"{net} overlaps {block} ({how} of cluster {cluster.name!r}); peered networks "
                            "must not overlap; allowed: a deploy VPC block outside every cluster's network",
                        )
                    )
                    return

    @property
    def admitted_deployers(self) -> list[Deployer]:
        """The listed deployers and, when a deploy network is set, its block (once, if not listed)."""
        listed = list(self.deployers)
        if self.deploy_network is not None and self.deploy_network.network not in {d.network for d in listed}:
            listed.append(self.deploy_network.deployer)
        return listed

    # --- tags ----------------------------------------------------------------------------------

    def _check_tags(self, found: list[Problem]) -> None:
        on_gcp = any(c.cloud is Cloud.GCP for c in self.clusters) or any(
            x is not None and x.cloud == "gcp" for x in (self.database,)
        )
        for key, value in (("costCenter", self.cost_center),):
            if on_gcp and not _GCP_SAFE_LABEL_VALUE.fullmatch(value):
                found.append(
                    Problem(
                        key,
                        f"{value!r} would be rewritten to {gcp_label_value(value)!r} as a GCP label; "
                        "allowed with GCP in the stack: letters, digits, '_' and '-'",
                    )
                )

    def _check_edge(self, found: list[Problem]) -> None:
        edge = self.edge
        if edge is None:
            return
        serving = self.serving_clusters()
        gcp_roles = {c.role for c in serving if c.cloud is Cloud.GCP}
        if len(gcp_roles) > 1:
            found.append(
                Problem(
                    "edge",
                    "GCP clusters of both roles would share one GCP load balancer, which cannot keep burst idle "
                    "behind core; allowed: serving GCP clusters of one role",
                )
            )
        if edge.aws_entry == "global-accelerator":
            if edge.routing != "failover":
                found.append(
                    Problem(
                        "edge.routing",
                        f"{edge.routing!r} with awsEntry global-accelerator; allowed: failover",
                    )
                )
            if any(c.cloud is not Cloud.AWS for c in serving if c.role is Role.CORE):
                found.append(
                    Problem(
                        "edge.awsEntry",
                        "'global-accelerator' fronts AWS regions only, but a core cluster is not on aws; "
                        "allowed: route53",
                    )
                )
        if edge.routing == "latency" and any(c.cloud is Cloud.EXISTING for c in serving):
            found.append(
                Problem(
                    "edge.routing",
                    "'latency' needs a cloud region for every serving cluster, and an existing cluster has none; "
                    "allowed: failover, weighted",
                )
            )

    def served_pools(self, cluster: Cluster) -> list[tuple[int, NodePool, PoolHardware]]:
        """(index, pool, hardware) of the cluster's pools that hold model servers, as far as they are valid.

        A pool with an unknown machine, a mismatched accelerator or a missing TPU topology is
        reported with the pool and left out here.
        """
        out: list[tuple[int, NodePool, PoolHardware]] = []
        if not cluster.provisioned:
            return out
        for j, pool in enumerate(cluster.node_pools):
            if pool.accelerator is None:
                continue
            machine = catalog().machine(cluster.cloud.value, pool.machine_type)
            if machine is None or machine.accelerator != pool.accelerator:
                continue
            hardware = catalog().hardware_of(machine)
            if hardware.kind not in SERVED.get(cluster.cloud, frozenset()):
                continue
            topologies = getattr(machine, "tpu_topologies", [])
            if (topologies or pool.tpu_topology is not None) and pool.tpu_topology not in topologies:
                continue
            out.append((j, pool, hardware))
        return out

    def replica_devices(self, hardware: PoolHardware) -> int:
        """Accelerators of one replica on a node of ``hardware``: the tensor-parallel size."""
        tp = self.serving.tensor_parallel_size
        if hardware.kind is DeviceKind.GPU and tp is not None:
            return tp
        return hardware.count

    def _check_fit(self, i: int, cluster: Cluster, found: list[Problem]) -> None:
        """One replica must fit the way it is served: inside one node, over ``replica_devices`` accelerators.

        The memory of a whole multi-host TPU slice does not count: its hosts do not share a replica
        (no multi-host serving is built), so a model that needs more than one host is refused there.
        """
        if not self.model.known:
            return
        tp = self.serving.tensor_parallel_size
        for j, pool, hardware in self.served_pools(cluster):
            assert pool.accelerator is not None
            if hardware.kind is DeviceKind.GPU and tp is not None and tp > hardware.count:
                continue  # reported as serving.tensorParallelSize
            devices = self.replica_devices(hardware)
            fit = model_fit(self.model.name, self.model.precision.value, pool.accelerator, devices)
            if fit.fits:
                continue
            hosts = cluster.pool_nodes_per_replica(pool)
            where = (
                f"a replica is served on one host of the {pool.tpu_topology} slice, not across its {hosts} hosts"
                if hosts > 1
                else "a replica is served inside one node"
            )
            found.append(
                Problem(
                    f"clusters[{i}].nodePools[{j}].machineType",
                    f"{pool.machine_type} cannot hold one replica of {self.model.name} "
                    f"({self.model.precision.value}): {where}, tensor parallel over {devices}x "
                    f"{pool.accelerator} = {fit.available_gib:.0f} GiB; it needs {fit.needed_gib:.0f} GiB "
                    f"(weights {fit.weights_gib:.0f} GiB + KV-cache headroom); allowed: a machine type with "
                    "more accelerator memory per node, or a smaller model or precision",
                )
            )

    def _check_security(self, found: list[Problem]) -> None:
        security = self.security
        if self.environment is not Environment.DEV:
            if security.mtls is MeshMode.PERMISSIVE:
                found.append(
                    Problem(
                        "security.mtls",
                        f"'permissive' in {self.environment.value} admits plain-text traffic to the serving "
                        "namespaces; allowed: strict (permissive only in dev)",
                    )
                )
            if security.admission is AdmissionMode.WARN:
                found.append(
                    Problem(
                        "security.admission",
                        f"'warn' in {self.environment.value} admits pods that break the rules; allowed: enforce "
                        "(warn only in dev)",
                    )
                )

    def _check_logs(self, found: list[Problem]) -> None:
        """The OpenSearch pipeline ships the EKS clusters' logs: without one it would build a domain
        nothing writes to."""
        if self.monitoring.logs is LogPipeline.OPENSEARCH and not any(
            c.cloud is Cloud.AWS for c in self.clusters
        ):
            found.append(
                Problem(
                    "monitoring.logs",
                    "'opensearch' but no cluster is on aws (GKE keeps Cloud Logging); allowed: cloud",
                )
            )

    def _check_gateway(self, found: list[Problem]) -> None:
        gateway = self.gateway
        if self.is_prod:
            for key, value, seed in (
                ("minReplicas", gateway.min_replicas, SEED_MIN_REPLICAS),
                ("maxReplicas", gateway.max_replicas, SEED_MAX_REPLICAS),
            ):
                if value < seed:
                    found.append(
                        Problem(
                            f"gateway.{key}",
                            f"{value} in prod is below the seed's {seed}; allowed: >= {seed}",
                        )
                    )
        names = [c.name for c in self.clusters]
        gateways = {c.name for c in self.gateway_clusters()}
        for k, name in enumerate(gateway.fallbacks or []):
            if name not in names:
                found.append(
                    Problem(
                        f"gateway.fallbacks[{k}]",
                        f"{name!r} is not a cluster of this stack; {_did_you_mean(name, names)}",
                    )
                )
            elif name not in gateways:
                found.append(
                    Problem(
                        f"gateway.fallbacks[{k}]",
                        f"{name!r} runs no gateway (no accelerator pool); allowed: {', '.join(sorted(gateways))}",
                    )
                )
        model = catalog().models.get(self.model.name)
        cooldown = gateway.burst_cooldown_seconds
        if model is not None and cooldown is not None and cooldown <= model.load_minutes * 60:
            found.append(
                Problem(
                    "gateway.burstCooldownSeconds",
                    f"{gateway.burst_cooldown_seconds} is not longer than {self.model.name}'s start budget of "
                    f"{model.load_minutes * 60} s (models.yaml loadMinutes): a pool would sleep before its "
                    f"replica serves; allowed: > {model.load_minutes * 60}",
                )
            )
        if gateway.fallbacks and len(set(gateway.fallbacks)) != len(gateway.fallbacks):
            found.append(Problem("gateway.fallbacks", f"{gateway.fallbacks} names a cluster twice"))
        if self.security.jwt is not None and self.edge is not None:
            # A gateway calls another over the public edge with the stack's master key as bearer; an
            # AWS cluster's ingress reads that header as a JWT and refuses it (401). Only GCP clusters
            # have the peer entrance that takes the key instead (peer_clusters).
            crossing = [
                (caller, target)
                for caller in self.gateway_clusters()
                for target in self.fallback_clusters(caller)
                if target.cloud is not Cloud.GCP
            ]
            if crossing:
                caller, target = crossing[0]
                chain = "" if gateway.fallbacks is not None else " (by default, the burst clusters)"
                found.append(
                    Problem(
                        "gateway.fallbacks",
                        f"{caller.name} would fall back{chain} to {target.name!r} on {target.cloud.value}, whose "
                        "ingress requires security.jwt and refuses the master key a gateway sends; allowed: "
                        "GCP clusters, reached through peer.<edge.domain>",
                    )
                )

    def gateway_clusters(self) -> list[Cluster]:
        """The clusters that run a gateway: provisioned ones that serve the model."""
        return [c for c in self.clusters if c.provisioned and self.served_pools(c)]

    def fallback_clusters(self, cluster: Cluster) -> list[Cluster]:
        """The clusters a cluster's gateway falls back to, in order, never itself.

        A GCP cluster never falls back to a GCP cluster: every GCP gateway sits behind the one GCP
        load balancer, which would answer the call from the nearest healthy one, likely the caller
        itself, and the caller's Cloud NAT addresses are allocated automatically, so the peer
        entrance could not admit them (``peer_sources``)."""
        names = self.gateway.fallbacks
        chain = (
            [c for n in names for c in self.gateway_clusters() if c.name == n]
            if names is not None
            else [c for c in self.gateway_clusters() if c.role is Role.BURST]
        )
        caller_on_gcp = cluster.cloud is Cloud.GCP
        return [c for c in chain if c.name != cluster.name and not (caller_on_gcp and c.cloud is Cloud.GCP)]

    def peer_clusters(self) -> list[Cluster]:
        """The GCP clusters another gateway falls back to: each gets the peer entrance, a second
        ingress behind ``peer.<domain>`` that only the callers' addresses reach and that takes the
        master key, not the users' JWT (infra/k8s/mesh.py, infra/gcp/edge.py)."""
        targets = {t.name for c in self.gateway_clusters() for t in self.fallback_clusters(c)}
        return [c for c in self.gateway_clusters() if c.name in targets and c.cloud is Cloud.GCP]

    def peer_callers(self) -> list[Cluster]:
        """The gateway clusters that fall back to a peer cluster: their NAT addresses are the only
        sources the peer entrance admits."""
        peers = {c.name for c in self.peer_clusters()}
        return [c for c in self.gateway_clusters() if any(t.name in peers for t in self.fallback_clusters(c))]

    def pool_replicas(self, cluster: Cluster, pool: NodePool) -> int:
        """The replicas a pool's Deployment starts with: the floor on a core cluster's on-demand or
        reserved pools, ``burstReplicas`` on spot pools and burst clusters."""
        if cluster.role is Role.CORE and pool.capacity is not Capacity.SPOT:
            return self.serving.core_replicas
        return self.serving.burst_replicas

    def _check_serving(self, found: list[Problem]) -> None:
        serving = self.serving
        if self.environment is Environment.PROD and serving.core_replicas < 1:
            found.append(
                Problem(
                    "serving.coreReplicas",
                    "0 in prod leaves a core region serving nothing until something scales it; allowed: >= 1",
                )
            )
        tp = serving.tensor_parallel_size
        too_small: list[tuple[str, int]] = []
        for i, cluster in enumerate(self.clusters):
            for j, pool, hardware in self.served_pools(cluster):
                if hardware.kind is DeviceKind.GPU and tp is not None and tp > hardware.count:
                    too_small.append(
                        (
                            f"clusters[{i}].nodePools[{j}] ({pool.machine_type}: {hardware.count} "
                            f"{hardware.accelerator})",
                            hardware.count,
                        )
                    )
                    continue
                per_node = max(1, hardware.count // self.replica_devices(hardware))
                replicas = self.pool_replicas(cluster, pool)
                if replicas > pool.max_size * per_node:
                    key = (
                        "coreReplicas"
                        if cluster.role is Role.CORE and pool.capacity is not Capacity.SPOT
                        else "burstReplicas"
                    )
                    found.append(
                        Problem(
                            f"serving.{key}",
                            f"{replicas} replicas do not fit clusters[{i}].nodePools[{j}] ({pool.name}): "
                            f"{per_node} per node, maxSize {pool.max_size}; allowed: <= {pool.max_size * per_node}",
                        )
                    )
        if too_small:
            found.append(
                Problem(
                    "serving.tensorParallelSize",
                    f"{tp} but a replica lives inside one node, and these nodes have fewer GPUs: "
                    f"{', '.join(where for where, _ in too_small)}; allowed: <= {min(n for _, n in too_small)}",
                )
            )

    def _check_data(self, found: list[Problem]) -> None:
        core_clouds = {c.cloud.value for c in self.clusters if c.role is Role.CORE}
        if not core_clouds:
            return  # "no core cluster" is reported; where data would live follows from fixing it
        cache = self.cache
        if cache is not None:
            hosts = sorted(core_clouds & {"aws", "gcp"})
            if not hosts:
                found.append(
                    Problem(
                        "cache", "set, but no core cluster is on aws or gcp to host it; allowed: omit cache"
                    )
                )
            if self.environment is Environment.PROD and cache.replicas < 1:
                found.append(
                    Problem(
                        "cache.replicas", "0 in prod leaves Redis without automatic failover; allowed: >= 1"
                    )
                )
            if "gcp" in hosts and cache.replicas >= 1 and cache.memory_size_gb < 5:
                found.append(
                    Problem(
                        "cache.memorySizeGb",
                        f"{cache.memory_size_gb}; Memorystore read replicas need >= 5 (or set replicas: 0)",
                    )
                )
            if "aws" in hosts and cache.node_type not in catalog().elasticache_node_types:
                found.append(
                    Problem(
                        "cache.nodeType",
                        f"{cache.node_type!r} is not an ElastiCache node type; "
                        f"{_did_you_mean(cache.node_type, catalog().elasticache_node_types, table=_DATASTORES)}",
                    )
                )
        db = self.database
        if db is None:
            return
        if db.cloud not in core_clouds:
            found.append(
                Problem(
                    "database.cloud",
                    f"{db.cloud!r} has no core cluster; allowed: "
                    f"{', '.join(sorted(core_clouds & {'aws', 'gcp'})) or 'none'}",
                )
            )
            return
        regions = catalog().aws_regions if db.cloud == "aws" else catalog().gcp_regions
        if db.cloud == "aws":
            # Every Aurora member lives in the private subnets of a core cluster's VPC in its region;
            # the data layer builds no network of its own. (A GCP VPC is global: one core network serves all.)
            aws_cores = self.clusters_of(role=Role.CORE, cloud=Cloud.AWS)
            core_regions = sorted({c.region for c in aws_cores if c.region})
            settled = all(c.region in regions for c in aws_cores)  # else the cluster's region is reported
            for key, region in db.members():
                if settled and region in regions and region not in core_regions:
                    found.append(
                        Problem(
                            f"database.{key}",
                            f"{region!r} has no aws core cluster whose network could host the database; "
                            f"allowed: {', '.join(core_regions)}",
                        )
                    )
        minimum = _BACKUP_MINIMUM[self.environment]
        if db.backup_retention_days < minimum:
            found.append(
                Problem(
                    "database.backupRetentionDays",
                    f"{db.backup_retention_days} is below the {self.environment.value} minimum; allowed: >= {minimum}",
                )
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


def _valid_block(cidr: str | None) -> bool:
    """Whether a cluster's networkCidr (if any) passed its own check; a bad one is reported there."""
    if cidr is None:
        return True
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        return False
    return net.version == 4 and net.is_private and net.prefixlen <= 16


# --- reading a stack's config --------------------------------------------------------------


def _alias_of(model: type[BaseModel], key: str) -> str | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.alias or name
    return None


def _model_at(path: Sequence[str | int], root: type[BaseModel] | None = None) -> type[BaseModel] | None:
    """The settings model that a validation error's location points into."""
    model: type[BaseModel] | None = root or Settings
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


def _key_path(loc: Sequence[str | int], namespace: str = PROJECT) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else f"{namespace}:") + part
    return out or namespace


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _phrase(kind: str, key: str, value: Any, ctx: Mapping[str, Any], message: str) -> str:
    """A pydantic error type in the words of a stack file's author."""
    shown = _show(value)
    if kind == "bool_as_number":
        return f"{shown} is a boolean; allowed: a number, e.g. {key}: 3"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{shown} is not allowed; allowed: a whole number"
    if kind in ("float_parsing", "float_type"):
        return f"{shown} is not allowed; allowed: a number"
    if kind in ("bool_parsing", "bool_type"):
        return f"{shown} is not allowed; allowed: true or false"
    if kind in ("string_type",):
        if _is_number(value):
            # YAML reads an unquoted 1.35 as a number (and 1.30 as 1.3); versions are text.
            version = isinstance(value, float) and key.endswith("Version")
            hint = " (YAML reads an unquoted 1.30 as 1.3)" if version else ""
            return f'{shown} is a number; write it as a string: {key}: "{value}"{hint}'
        return f"{shown} is not allowed; allowed: text"
    if kind in ("enum", "literal_error"):
        return f"{shown} is not allowed; allowed: {ctx.get('expected', message)}"
    if kind in ("too_short", "string_too_short"):
        least = ctx.get("min_length", 1)
        if key == "clusters":
            return "at least one cluster is needed"
        if kind == "string_too_short":
            return f"{shown} is too short; allowed: at least {least} character{'s' if least != 1 else ''}"
        return f"{shown} has too few items; allowed: at least {least}"
    if kind in ("too_long", "string_too_long"):
        most = ctx.get("max_length")
        unit = "characters" if kind == "string_too_long" else "items"
        return f"{shown} is too long; allowed: at most {most} {unit}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        bound = next((ctx[k] for k in ("ge", "gt", "le", "lt") if k in ctx), "")
        return f"{shown} is out of range; allowed: {words} {bound}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"{shown} is not allowed; allowed: a mapping of keys to values"
    if kind == "list_type":
        return f"{shown} is not allowed; allowed: a list (- item per line, or [a, b])"
    if kind in ("value_error", "assertion_error"):
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{shown} is not allowed; {message}"


def _problems(
    error: ValidationError, root: type[BaseModel] | None = None, namespace: str = PROJECT
) -> list[tuple[str, str]]:
    """Every problem of a failed validation, as (key path, message), one per broken rule.

    ``root`` and ``namespace`` name the model and config namespace validated (the stack's settings by
    default); another Pulumi project of this repository reads its settings with the same words.
    """
    errors = error.errors(include_url=False)
    out: list[tuple[str, str]] = []
    meant: set[str] = set()  # keys a misspelt key was probably meant to be: their "missing" is redundant
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
            model = _model_at(loc[:-1], root)
            allowed = sorted((f.alias or n) for n, f in model.model_fields.items()) if model else []
            near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            if near:
                meant.add(_key_path([*loc[:-1], near[0]], namespace))
    for err in errors:
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        ctx = err.get("ctx") or {}
        ctx_error = ctx.get("error")
        if isinstance(ctx_error, Problem | Problems):
            for problem in ctx_error.problems if isinstance(ctx_error, Problems) else [ctx_error]:
                extra = re.findall(r"[^.\[\]]+|\[\d+\]", problem.field)
                at = [*loc, *(int(p[1:-1]) if p.startswith("[") else p for p in extra)]
                out.append((_key_path(at, namespace), str(problem)))
            continue
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            model = _model_at(loc[:-1], root)
            allowed = sorted((f.alias or n) for n, f in model.model_fields.items()) if model else []
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"allowed: {', '.join(allowed)}"
            out.append((_key_path(loc, namespace), f"unknown key; {hint}"))
            continue
        if kind == "missing":
            if _key_path(loc, namespace) not in meant:
                out.append((_key_path(loc, namespace), "missing; this key is required"))
            continue
        key = next((str(p) for p in reversed(loc) if isinstance(p, str)), namespace)
        out.append((_key_path(loc, namespace), _phrase(kind, key, err.get("input"), ctx, err["msg"])))
    return out


def _parts_deferred(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The rules broken inside each part of a stack whose own fields failed.

    When a field of the stack itself is wrong, pydantic never hands over the parts it did build, so
    the rules they kept would be lost; each part is validated again on its own to report them too.
    (Rules across parts, such as overlapping networks, need the whole stack and wait for the fix.)
    """
    out: list[tuple[str, str]] = []
    for name, field in Settings.model_fields.items():
        key = field.alias or name
        model = _unwrap(field.annotation)
        value = values.get(key)
        if model is None or not issubclass(model, SettingsModel) or value is None:
            continue
        items = (
            [(key, value)]
            if not isinstance(value, list)
            else [(f"{key}[{k}]", v) for k, v in enumerate(value)]
        )
        for at, item in items:
            try:
                part = model.model_validate(item, context={_DEFER: True})
            except ValidationError:
                continue  # its own errors are in the stack's
            for problem in [*part._deferred, *_deferred_below(part)]:
                out.append((f"{PROJECT}:{at}.{problem.field}", str(problem)))
    return out


def parse_settings(
    raw: Mapping[str, Any], source: str, secret_keys: frozenset[str] = frozenset()
) -> Settings:
    """Validate the bare-keyed project config of one stack; raise SettingsError with every problem.

    Keys that a cluster names as its ``kubeconfigSecret`` are not settings but secrets: they
    must be present and encrypted, and are left out of the model.
    """
    values = dict(raw)
    clusters = values.get("clusters")
    referenced = {
        c.get("kubeconfigSecret")
        for c in (clusters if isinstance(clusters, list) else [])
        if isinstance(c, dict) and isinstance(c.get("kubeconfigSecret"), str)
    }
    secrets = {key: values.pop(key) for key in list(values) if key in referenced}
    try:
        settings = Settings.model_validate(values, context={_DEFER: True})
    except ValidationError as error:
        found = _problems(error)
        found += [p for p in _parts_deferred(values) if p not in found]
        raise SettingsError(source, found) from None
    problems: list[tuple[str, str]] = []
    for i, cluster in enumerate(settings.clusters):
        key = cluster.kubeconfig_secret
        if key is None:
            continue
        if key not in secrets:
            problems.append(
                (
                    f"{PROJECT}:clusters[{i}].kubeconfigSecret",
                    f"names config key {key!r}, which is not set; set it with "
                    f"`pulumi config set --secret {key} < kubeconfig`",
                )
            )
        elif key not in secret_keys:
            problems.append(
                (
                    f"{PROJECT}:{key}",
                    "holds a kubeconfig in plain text; allowed: a secret "
                    f"(`pulumi config set --secret {key} < kubeconfig`)",
                )
            )
    if problems:
        raise SettingsError(source, problems)
    settings._source = source
    return settings


def validation_problems(
    error: ValidationError, root: type[BaseModel], namespace: str
) -> list[tuple[str, str]]:
    """(key path, message) for each problem of ``root`` validated under config ``namespace``."""
    return _problems(error, root, namespace)


def project_config(config: Mapping[str, Any], namespace: str = PROJECT) -> dict[str, Any]:
    """The project's keys of a config bag (``inferstack:key`` -> ``key``), JSON objects decoded.

    The engine hands every config value to the program as a string; structured values arrive as
    JSON text. Keys of other namespaces (``aws:region``) belong to providers and are ignored.
    """
    raw: dict[str, Any] = {}
    for key, value in config.items():
        key_namespace, _, name = key.partition(":")
        if key_namespace != namespace or not name:
            continue
        if isinstance(value, str) and value[:1] in ("{", "["):
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        raw[name] = value
    return raw
