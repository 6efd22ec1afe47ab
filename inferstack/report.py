"""The plan: the JSON object scripts and CI read, and the summary people read.

The JSON shape is a contract (README, "The plan JSON"): keys are only ever added.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from inferstack.engine import Graph


def cloud_of(token: str) -> str:
    package = token.split(":")[0]
    if package == "pulumi":
        return token.split(":")[-1]  # pulumi:providers:aws -> aws
    return package


def summary(graph: Graph) -> dict[str, Any]:
    custom = [r for r in graph.resources if r.custom]
    by_region: Counter[str] = Counter()
    for r in custom:
        by_region[f"{cloud_of(r.type)}/{graph.region_of(r) or 'global'}"] += 1
    return {
        "resources": len(graph.resources),
        "custom": len(custom),
        "components": len(graph.resources) - len(custom),
        "byType": dict(sorted(Counter(r.type for r in graph.resources).items())),
        "byCloud": dict(sorted(Counter(cloud_of(r.type) for r in custom).items())),
        "byRegion": dict(sorted(by_region.items())),
    }


def plan_json(
    graph: Graph, violations: list[dict[str, Any]] | None = None, cost: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "project": graph.project,
        "stack": graph.stack,
        "resources": [r.to_json() for r in graph.resources],
        "outputs": graph.outputs,
        "violations": violations or [],
        "cost": cost or {"monthlyUsd": 0.0, "items": []},
        "summary": summary(graph),
    }
