"""One guard case: a few resources with camelCase props as the engine sends them, and the verdict.

Values not known at preview are written "[unknown]", as a plan JSON shows them; the offline check
hands them to the guard as the engine's unknown sentinel, inside the SDK's proxy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inferstack.engine import Graph, Resource

UNKNOWN = "[unknown]"

STACK = "<stack>"
"""A culprit for a finding about the stack as a whole (a budget), which names no resource."""


@dataclass(frozen=True)
class Res:
    type: str
    props: Mapping[str, Any]
    name: str = "x"
    protect: bool = False
    parent: str | None = None
    """The name of another Res of the case that is this one's parent."""
    provider: str | None = None
    """The name of a provider Res of the case (type pulumi:providers:*) this one uses."""
    dependencies: tuple[str, ...] = ()
    custom: bool = True


@dataclass(frozen=True)
class Case:
    policy: str
    resources: tuple[Res, ...]
    violates: bool
    condition: str
    """For a failing case, the condition broken; for a passing one, what makes it pass."""
    culprit: str | None = None
    """The name of the resource the violation must name (default: the first resource; STACK: none)."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """The policy's settings, as its entry in --policy-pack-config carries them."""

    @property
    def id(self) -> str:
        return f"{self.policy}:{'fails' if self.violates else 'passes'}:{self.condition}"


def fails(policy: str, condition: str, *resources: Res, culprit: str | None = None, **config: Any) -> Case:
    return Case(policy, tuple(resources), True, condition, culprit, config)


def passes(policy: str, condition: str, *resources: Res, **config: Any) -> Case:
    return Case(policy, tuple(resources), False, condition, None, config)


def urn(res: Res) -> str:
    return f"urn:pulumi:t::inferstack::{res.type}::{res.name}"


def graph_of(case: Case) -> Graph:
    by_name = {r.name: r for r in case.resources}
    resources = [
        Resource(
            urn=urn(r),
            type=r.type,
            name=r.name,
            parent=urn(by_name[r.parent]) if r.parent else None,
            provider=urn(by_name[r.provider]) if r.provider else None,
            custom=r.custom,
            inputs=dict(r.props),
            dependencies=[urn(by_name[d]) for d in r.dependencies],
            protect=r.protect,
        )
        for r in case.resources
    ]
    return Graph(project="inferstack", stack="t", source="t", resources=resources, outputs={})
