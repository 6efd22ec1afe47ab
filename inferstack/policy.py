"""Applies the policy pack's own guard objects to a planned graph, as the analyzer would.

The objects are imported from ``policies.guards``, the module the pack registers, so a guard
behaves the same offline and under ``pulumi preview --policy-pack policies``.
"""

from __future__ import annotations

import inspect
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from inferstack.engine import Graph
from policies.guards import POLICIES


def check_graph(graph: Graph, policies: list[Policy] | None = None) -> list[dict[str, Any]]:
    """Every violation as the plan JSON lists it, sorted by urn then policy."""
    violations: list[dict[str, Any]] = []
    for policy in policies if policies is not None else POLICIES:
        if not isinstance(policy, ResourceValidationPolicy):
            raise TypeError(f"policy {policy.name}: only resource guards run offline so far")
        level = policy.enforcement_level or EnforcementLevel.ADVISORY
        if level is EnforcementLevel.DISABLED:
            continue
        for resource in graph.resources:
            if not resource.custom:
                continue
            opts = PolicyResourceOptions(
                protect=resource.protect,
                ignore_changes=[],
                delete_before_replace=None,
                aliases=[],
                custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
                additional_secret_outputs=[],
                parent=resource.parent,
            )
            args = ResourceValidationArgs(
                resource.type, resource.inputs, resource.urn, resource.name, opts, None
            )

            enforcement = "mandatory" if level is EnforcementLevel.MANDATORY else "advisory"

            def report(
                message: str,
                urn: str | None,
                _urn: str = resource.urn,
                _name: str = policy.name,
                _level: str = enforcement,
            ) -> None:
                violations.append(
                    {"policy": _name, "enforcement": _level, "urn": urn or _urn, "message": message}
                )

            result = policy.validate(args, report)
            if inspect.isawaitable(result):
                raise TypeError(
                    f"policy {policy.name} is asynchronous; offline checks run synchronous guards"
                )
    return sorted(violations, key=lambda v: (v["urn"] or "", v["policy"]))
