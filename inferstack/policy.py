"""Applies the policy pack's own guard objects to a planned graph, exactly as the analyzer would.

The objects are the ones policies/__main__.py registers (``policies.PACK``), so a guard behaves
the same offline and under ``pulumi preview --policy-pack policies``. As in the analyzer
(pulumi_policy.policy._PolicyAnalyzerServicer):

- every resource's inputs go through the SDK's ``deserialize_properties`` and
  ``unknown_checking_proxy``, with the engine's own sentinel for each value not known yet, so a
  guard that reads an unknown value raises here exactly as it would at preview;
- a guard that raises ``UnknownValueError`` does not report a violation: the SDK turns it into an
  advisory "can't run policy ... during preview" note. The offline run lists those notes
  (``degraded``), because a mandatory guard that cannot run is a mandatory guard lost;
- enforcement levels and settings come from the pack's policy config, the file
  ``pulumi preview --policy-pack-config`` takes (policies/config/<environment>.json plus the
  stack's budget, see ``policy_config``), with the reserved key ``all`` as the default level.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
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
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from inferstack.engine import Graph, Resource
from policies import PACK, POLICY_CONFIG

__all__ = [
    "PACK",
    "Outcome",
    "PolicyConfigError",
    "check",
    "check_graph",
    "environment_config",
    "policy_config",
    "reconcile",
]

_LEVELS = {level.value: level for level in EnforcementLevel}


def environment_config(environment: str) -> dict[str, Any]:
    """policies/config/<environment>.json as written (the levels and settings of that environment)."""
    path = POLICY_CONFIG / f"{environment}.json"
    return json.loads(path.read_text())


def policy_config(settings: Any) -> dict[str, Any]:
    """The whole --policy-pack-config of a stack: its environment's file plus what its settings imply."""
    if settings is None:
        return {}
    from inferstack.cost import budget_config

    config: dict[str, Any] = environment_config(settings.environment.value)
    for name, extra in budget_config(settings).items():
        own = config.get(name)
        base = {"enforcementLevel": own} if isinstance(own, str) else dict(own or {})
        config[name] = {**base, **extra}
    return config


def _wire(value: Any) -> Any:
    """A plan's input value as the engine puts it on the wire to the analyzer."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    if value == "[unknown]":
        return UNKNOWN_STRING_VALUE
    return value


def _props(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    return unknown_checking_proxy(deserialize_properties(_wire(dict(inputs))))


def _options(resource: Resource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=list(resource.ignore_changes),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


class PolicyConfigError(ValueError):
    """A policy config the Pulumi CLI would refuse: one line naming the policy, the key and the rule."""


def _entry(value: Any) -> tuple[str | None, dict[str, Any]]:
    """A config entry's level and properties: a bare level string, or an object with enforcementLevel."""
    if isinstance(value, str):
        return value, {}
    if isinstance(value, Mapping):
        return value.get("enforcementLevel"), {k: v for k, v in value.items() if k != "enforcementLevel"}
    return None, {}


def reconcile(
    policies: list[Policy], config: Mapping[str, Any]
) -> dict[str, tuple[EnforcementLevel, dict[str, Any]]]:
    """Each policy's level and settings, as the CLI reconciles them before it configures the analyzer.

    The order is the CLI's (pkg/resource/analyzer ReconcilePolicyPackConfig): the policy's own level
    (or the pack's, mandatory) with its schema's defaults; then ``all``, which overrides every
    policy's level; then each policy's own entry. The result is validated against each policy's
    config schema, as the CLI does.
    """
    import jsonschema
    from jsonschema.exceptions import best_match

    result: dict[str, tuple[EnforcementLevel, dict[str, Any]]] = {}
    for policy in policies:
        schema = policy.config_schema
        defaults = {
            k: v["default"] for k, v in (schema.properties if schema else {}).items() if "default" in v
        }
        result[policy.name] = (policy.enforcement_level or EnforcementLevel.MANDATORY, defaults)
    for name, given in config.items():
        level, _ = _entry(given)
        if level is not None and level not in _LEVELS:
            raise PolicyConfigError(f"{name}: enforcement level {level!r}; allowed: {', '.join(_LEVELS)}")
    all_level, _ = _entry(config.get("all"))
    if all_level:
        result = {name: (_LEVELS[all_level], props) for name, (_, props) in result.items()}
    by_name = {p.name: p for p in policies}
    for name, given in config.items():
        if name == "all" or name not in result:
            continue
        level, props = _entry(given)
        old_level, old_props = result[name]
        result[name] = (_LEVELS[level] if level else old_level, {**old_props, **props})
        schema = by_name[name].config_schema
        if props and schema is None:
            raise PolicyConfigError(f"{name}: has settings {sorted(props)} but the policy takes none")
        if schema is not None:
            document = {"type": "object", "properties": schema.properties, "required": schema.required or []}
            error = best_match(jsonschema.Draft7Validator(document).iter_errors(result[name][1]))
            if error is not None:
                where = ".".join(str(p) for p in error.absolute_path)
                raise PolicyConfigError(f"{name}{'.' + where if where else ''}: {error.message}")
    return result


def _stack_resources(graph: Graph) -> list[PolicyResource]:
    """Every resource as the analyzer's stack validation sees it: parent, dependencies and provider linked."""
    index = graph.by_urn()
    providers = {
        r.urn: PolicyProviderResource(r.type, _props(r.inputs), r.urn, r.name)
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
            _props(r.inputs),
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


@dataclass
class Outcome:
    """What the pack said about a graph: violations, and the guards that could not run at preview."""

    violations: list[dict[str, Any]] = field(default_factory=list)
    degraded: list[dict[str, Any]] = field(default_factory=list)
    """One note per guard and resource that read a value unknown at preview: {policy, enforcement, urn, message}."""


def _violation(policy: Policy, enforcement: str, urn: str | None, message: str) -> dict[str, Any]:
    return {
        "policy": policy.name,
        "enforcement": enforcement,
        "severity": policy.severity.value if policy.severity else None,
        "urn": urn,
        "message": message,
        "fix": policy.remediation_steps,
    }


def _run(policy: Policy, result: Any) -> None:
    if inspect.isawaitable(result):
        raise TypeError(f"policy {policy.name} is asynchronous; offline checks run synchronous guards")


def check(
    graph: Graph,
    policies: list[Policy] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Outcome:
    """Every violation and every degraded guard, as the analyzer would report them on this graph.

    ``config`` is the pack's policy config (policy name -> level or settings, ``all`` -> default
    level), as ``pulumi preview --policy-pack-config`` passes it; by default the one the graph's own
    stack implies (``policy_config``), none for a saved graph.
    """
    if config is None:
        from inferstack.report import settings_of

        config = policy_config(settings_of(graph))
    outcome = Outcome()
    stack_resources: list[PolicyResource] | None = None
    chosen = list(policies if policies is not None else PACK)
    levels = reconcile(chosen, config)
    for policy in chosen:
        level, own = levels[policy.name]
        if level is EnforcementLevel.DISABLED:
            continue
        enforcement = "advisory" if level is EnforcementLevel.ADVISORY else "mandatory"

        def note(
            error: UnknownValueError, urn: str | None, _p: Policy = policy, _e: str = enforcement
        ) -> None:
            outcome.degraded.append(
                {
                    "policy": _p.name,
                    "enforcement": _e,
                    "urn": urn,
                    "message": f"can't run policy '{_p.name}' during preview: {error.message}",
                }
            )

        if isinstance(policy, StackValidationPolicy):
            if stack_resources is None:
                stack_resources = _stack_resources(graph)

            def report_stack(
                message: str, urn: str | None, _p: Policy = policy, _e: str = enforcement
            ) -> None:
                outcome.violations.append(_violation(_p, _e, urn, message))

            try:
                _run(policy, policy.validate(StackValidationArgs(stack_resources, own), report_stack))
            except UnknownValueError as error:
                note(error, None)
            continue
        if not isinstance(policy, ResourceValidationPolicy):
            raise TypeError(f"policy {policy.name}: neither a resource nor a stack guard")
        for resource in graph.resources:
            if not resource.custom:
                continue
            resource_args = ResourceValidationArgs(
                resource.type,
                _props(resource.inputs),
                resource.urn,
                resource.name,
                _options(resource),
                None,
                own,
            )

            def report(
                message: str,
                urn: str | None,
                _urn: str = resource.urn,
                _p: Policy = policy,
                _e: str = enforcement,
            ) -> None:
                outcome.violations.append(_violation(_p, _e, urn or _urn, message))

            try:
                _run(policy, policy.validate(resource_args, report))
            except UnknownValueError as error:
                note(error, resource.urn)
    outcome.violations.sort(key=lambda v: (v["urn"] or "", v["policy"]))
    outcome.degraded.sort(key=lambda v: (v["urn"] or "", v["policy"]))
    return outcome


def check_graph(
    graph: Graph,
    policies: list[Policy] | None = None,
    config: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every violation as the plan JSON lists it, sorted by urn then policy."""
    return check(graph, policies, config).violations


def stack_config_file(settings: Any, path: Path) -> Path:
    """Writes the stack's policy config where ``pulumi preview --policy-pack-config`` will read it."""
    path.write_text(json.dumps(policy_config(settings), indent=2, sort_keys=True) + "\n")
    return path
