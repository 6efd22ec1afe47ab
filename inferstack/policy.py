"""Applies the policy pack's own guard objects to a planned graph, as the analyzer would.

The objects are imported from ``policies.guards`` and ``policies.cost``, the modules the pack
registers (policies/__main__.py), so a guard behaves the same offline and under
``pulumi preview --policy-pack policies``. Resource guards see one resource at a time; stack guards
(the cost guards) see every resource at once, with its provider, parent and dependencies, as the
analyzer hands them over after the preview.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from inferstack.engine import Graph, Resource
from policies.cost import POLICIES as COST_POLICIES
from policies.guards import POLICIES as GUARDS

PACK: list[Policy] = [*GUARDS, *COST_POLICIES]
"""Every policy of the pack, in the order policies/__main__.py registers them."""

_LEVELS = {level.value: level for level in EnforcementLevel}


def _options(resource: Resource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def _level(policy: Policy, config: Mapping[str, Any]) -> EnforcementLevel:
    """The policy's own level, unless its config names another (as Pulumi's policy config does)."""
    override = config.get("enforcementLevel")
    if isinstance(override, str) and override in _LEVELS:
        return _LEVELS[override]
    return policy.enforcement_level or EnforcementLevel.ADVISORY


def _stack_resources(graph: Graph) -> list[PolicyResource]:
    """Every resource as the analyzer's stack validation sees it: parent, dependencies and provider linked."""
    index = graph.by_urn()
    providers = {
        r.urn: PolicyProviderResource(r.type, r.inputs, r.urn, r.name)
        for r in graph.resources
        if r.type.startswith("pulumi:providers:")
    }
    out: dict[str, PolicyResource] = {}
    for r in graph.resources:
        provider_urn = None
        current: Resource | None = r
        while current is not None and provider_urn is None:
            if current.provider and current.provider in providers:
                provider_urn = current.provider
            current = index.get(current.parent) if current.parent else None
        out[r.urn] = PolicyResource(
            r.type,
            r.inputs,
            r.urn,
            r.name,
            _options(r),
            providers.get(provider_urn) if provider_urn else None,
            None,
            [],
            {},
        )
    for r in graph.resources:
        policy_resource = out[r.urn]
        policy_resource.parent = out.get(r.parent) if r.parent else None
        policy_resource.dependencies = [out[d] for d in r.dependencies if d in out]
    return list(out.values())


def check_graph(
    graph: Graph,
    policies: list[Policy] | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Every violation as the plan JSON lists it, sorted by urn then policy.

    ``config`` is the pack's policy config (policy name -> settings), as ``pulumi preview
    --policy-pack-config`` would pass it; by default the one the graph's own stack settings imply
    (its budget), none for a saved graph.
    """
    violations: list[dict[str, Any]] = []
    if config is None:
        from inferstack.cost import policy_config
        from inferstack.report import settings_of

        config = policy_config(settings_of(graph))
    stack_resources: list[PolicyResource] | None = None
    for policy in policies if policies is not None else PACK:
        own = config.get(policy.name) or {}
        level = _level(policy, own)
        if level is EnforcementLevel.DISABLED:
            continue
        enforcement = "mandatory" if level is EnforcementLevel.MANDATORY else "advisory"
        if isinstance(policy, StackValidationPolicy):
            if stack_resources is None:
                stack_resources = _stack_resources(graph)

            def report_stack(
                message: str, urn: str | None, _name: str = policy.name, _level: str = enforcement
            ) -> None:
                violations.append({"policy": _name, "enforcement": _level, "urn": urn, "message": message})

            result = policy.validate(StackValidationArgs(stack_resources, own), report_stack)
            if inspect.isawaitable(result):
                raise TypeError(
                    f"policy {policy.name} is asynchronous; offline checks run synchronous guards"
                )
            continue
        if not isinstance(policy, ResourceValidationPolicy):
            raise TypeError(f"policy {policy.name}: neither a resource nor a stack guard")
        for resource in graph.resources:
            if not resource.custom:
                continue
            args = ResourceValidationArgs(
                resource.type, resource.inputs, resource.urn, resource.name, _options(resource), None, own
            )

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
