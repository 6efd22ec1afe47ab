"""The dated table of exporter metrics the rules may read (``metrics.yaml``), validated on load."""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, model_validator


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Exporter(_Row):
    version: str
    doc: str
    runs: str
    """What runs it, and where: an exporter the program does not deploy yet says so."""


class Metric(_Row):
    name: str
    type: Literal["counter", "gauge", "histogram"]
    exporter: str


class MetricsTable(_Row):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    as_of: dt.date
    sources: list[str]
    exporters: dict[str, Exporter]
    metrics: list[Metric]

    def __init__(self, **data: object) -> None:
        if "asOf" in data:
            data["as_of"] = data.pop("asOf")
        super().__init__(**data)

    @model_validator(mode="after")
    def _known_exporters(self) -> MetricsTable:
        unknown = sorted({m.exporter for m in self.metrics} - set(self.exporters))
        if unknown:
            raise ValueError(f"metrics name exporters the table does not list: {', '.join(unknown)}")
        names = [m.name for m in self.metrics]
        if len(names) != len(set(names)):
            raise ValueError("a metric is listed twice")
        return self

    def exported(self) -> set[str]:
        return {m.name for m in self.metrics}


@functools.cache
def metrics_table() -> MetricsTable:
    text = resources.files("infra.monitoring").joinpath("metrics.yaml").read_text(encoding="utf-8")
    return MetricsTable(**yaml.safe_load(text))
