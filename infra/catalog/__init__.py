"""Dated lookup tables for the facts the stacks would otherwise hard-code.

Which instance types exist in which regions, how much memory an accelerator has, what a
DeepSeek checkpoint weighs and when an EKS version leaves standard support are facts about
the outside world that go stale. Keeping them in one place, as YAML with an ``asOf`` date
and named sources, lets the stacks and policies validate a config against the same data,
and makes refreshing them a data change that review can check against the sources. The
tables are validated on load, so a typo or an inconsistency (a machine naming an unknown
accelerator or region, a TPU topology that cannot be built from the machine's chips) fails
the first time the catalog is loaded rather than halfway through a deployment.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "PRECISIONS",
    "Accelerator",
    "AwsInstanceType",
    "Catalog",
    "GcpMachineType",
    "Model",
    "ModelFit",
    "build_catalog",
    "catalog",
    "model_fit",
    "tpu_topology_chips",
]

PRECISIONS: tuple[str, ...] = ("bf16", "fp8", "int4")


def _alias(name: str) -> str:
    # The YAML spells the unit "GiB" (memoryGiB, weightsGiB); plain to_camel would give "Gib".
    return to_camel(name).replace("Gib", "GiB")


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=_alias, populate_by_name=True, frozen=True)


class Accelerator(_Row):
    vendor: Literal["nvidia", "google"]
    memory_gib: float = Field(gt=0)
    note: str | None = None


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
    note: str | None = None


class _EksVersion(_Row):
    end_of_standard_support: dt.date
    end_of_extended_support: dt.date
    note: str | None = None


class _Table(_Row):
    as_of: dt.date
    sources: list[str] = Field(min_length=1)


class _RegionsTable(_Table):
    aws: dict[str, _Region]
    gcp: dict[str, _Region]


class _MachinesTable(_Table):
    accelerators: dict[str, Accelerator]
    aws: dict[str, AwsInstanceType]
    gcp: dict[str, GcpMachineType]


class _ModelsTable(_Table):
    models: dict[str, Model]


class _KubernetesTable(_Table):
    eks: dict[str, _EksVersion]
    gke_release_channels: list[str] = Field(min_length=1)


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: dt.date
    """The oldest ``asOf`` of the tables: the catalog is only as fresh as its stalest table."""
    aws_regions: dict[str, list[str]]
    gcp_regions: dict[str, list[str]]
    accelerators: dict[str, Accelerator]
    aws_instance_types: dict[str, AwsInstanceType]
    gcp_machine_types: dict[str, GcpMachineType]
    models: dict[str, Model]
    eks_versions: dict[str, dt.date]
    """EKS minor version -> end of standard support."""
    gke_release_channels: list[str]

    @model_validator(mode="after")
    def _cross_references(self) -> Catalog:
        _check_machines("aws", self.aws_instance_types, self.aws_regions, self.accelerators)
        _check_machines("gcp", self.gcp_machine_types, self.gcp_regions, self.accelerators)
        for name, machine in self.gcp_machine_types.items():
            is_tpu = machine.accelerator is not None and (
                self.accelerators[machine.accelerator].vendor == "google"
            )
            if is_tpu != bool(machine.tpu_topologies):
                raise ValueError(f"gcp {name}: tpuTopologies must be given exactly for TPU machines")
        return self

    def machine(self, cloud: str, name: str) -> AwsInstanceType | GcpMachineType | None:
        """The machine type ``name`` on ``cloud`` ("aws" or "gcp"), or None if not catalogued."""
        if cloud == "aws":
            return self.aws_instance_types.get(name)
        if cloud == "gcp":
            return self.gcp_machine_types.get(name)
        raise ValueError(f"unknown cloud {cloud!r}; expected 'aws' or 'gcp'")


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


def build_catalog(regions: Any, machines: Any, models: Any, kubernetes: Any) -> Catalog:
    """Validate the four parsed YAML documents and assemble them into a Catalog."""
    r = _RegionsTable.model_validate(regions)
    m = _MachinesTable.model_validate(machines)
    mo = _ModelsTable.model_validate(models)
    k = _KubernetesTable.model_validate(kubernetes)
    return Catalog(
        as_of=min(t.as_of for t in (r, m, mo, k)),
        aws_regions={name: list(region.zones) for name, region in r.aws.items()},
        gcp_regions={name: list(region.zones) for name, region in r.gcp.items()},
        accelerators=m.accelerators,
        aws_instance_types=m.aws,
        gcp_machine_types=m.gcp,
        models=mo.models,
        eks_versions={v: e.end_of_standard_support for v, e in k.eks.items()},
        gke_release_channels=list(k.gke_release_channels),
    )


@functools.cache
def catalog() -> Catalog:
    """The validated catalog, loaded from the YAML next to this module once per process."""
    return build_catalog(
        _read("regions.yaml"),
        _read("machines.yaml"),
        _read("models.yaml"),
        _read("kubernetes.yaml"),
    )
