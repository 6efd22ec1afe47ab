"""How every guard of the pack is declared and how it reads a resource without losing itself at preview.

A guard is a name, the resource types it judges, the rule it mirrors (an id of
../shared/design/POLICY-RULES.md and the Checkov / Trivy / Pulumi ids behind it), a severity, a fix,
and one check function that returns the problems it found. ``resource_guard`` and ``stack_guard``
turn that into the SDK's policy objects, so the catalogue (docs/reference/policies.md), the policy
host and the offline check all read the same metadata.

Reading props during a preview. The analyzer hands a guard the inputs wrapped in the SDK's
``unknown_checking_proxy``: any value the engine does not know yet (the ARN of a KMS key created in
the same stack) raises ``UnknownValueError`` when read, even through ``key in props`` or
``props.get(key)``, and the SDK then downgrades the whole policy to an advisory "can't run during
preview" note. The helpers here never read a value to find out whether a key is there:

- ``present(props, "a.b")`` tests presence by iterating keys, so an unknown value counts as set;
- ``value(props, "a.b")`` reads a value (None when absent) and raises on an unknown one, which is
  right for literals the program always knows (a flag, a count) and a bug to fix anywhere else;
- ``known(props, "a.b", default)`` reads a value that may legitimately be unknown and returns
  ``default`` instead of raising, for checks that can only judge a value once it is known.

Self-contained: the policy host runs this folder with only the folder on sys.path.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, _DictProxy, _is_unknown, _ListProxy

__all__ = [
    "ADVISORY",
    "CRITICAL",
    "HIGH",
    "HPA_TYPES",
    "LOW",
    "MANDATORY",
    "MEDIUM",
    "SCALED_OBJECT",
    "Finding",
    "Scaler",
    "UnknownValueError",
    "cluster_of",
    "covers_the_internet",
    "depends_on",
    "items",
    "known",
    "namespace_of",
    "present",
    "resource_guard",
    "scalers",
    "stack_guard",
    "value",
]

CRITICAL, HIGH, MEDIUM, LOW = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY

Finding = str | tuple[str, str | None]
"""A problem: its message, or (message, urn) when a stack guard names the resource at fault."""

Check = Callable[[Mapping[str, Any], Mapping[str, Any]], Iterable[str] | str | None]
"""A resource check: (props, policy config) -> the problems found (none: a str None or an empty list)."""

StackCheck = Callable[[Sequence[Any], Mapping[str, Any]], Iterable[Finding]]
"""A stack check: (the stack's PolicyResources, policy config) -> (message, urn) findings."""

_MISSING = object()


def _unwrap(node: Any) -> Any:
    """The plain container behind one of the SDK's proxies (reading it never checks for unknowns)."""
    if isinstance(node, _DictProxy):
        return vars(node)["_DictProxy__target"]
    if isinstance(node, _ListProxy):
        return vars(node)["_ListProxy__target"]
    return node


def _raw(container: Any, key: Any) -> Any:
    """The element at ``key`` without the proxy's unknown check (``_MISSING`` when absent)."""
    target = _unwrap(container)
    if isinstance(target, Mapping):
        return target.get(key, _MISSING)
    if isinstance(target, list) and isinstance(key, int):
        return target[key] if -len(target) <= key < len(target) else _MISSING
    return _MISSING


def _walk(props: Mapping[str, Any], path: str) -> Any:
    node: Any = props
    for part in path.split("."):
        node = _raw(node, int(part) if part.isdigit() else part)
        if node is _MISSING:
            return _MISSING
        if _is_unknown(node):
            return node
    return node


def present(props: Mapping[str, Any], path: str) -> bool:
    """Whether the dotted path is set (an unknown value is set; an explicit None is not)."""
    node = _walk(props, path)
    return node is not _MISSING and node is not None


def is_unknown(v: Any) -> bool:
    return _is_unknown(v)


def value(props: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at the dotted path, ``default`` when absent; raises on an unknown value, as the SDK would."""
    node = _walk(props, path)
    if node is _MISSING or node is None:
        return default
    if _is_unknown(node):
        raise UnknownValueError(node, path.split("."))
    return node


def known(props: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """The value at the dotted path, or ``default`` when absent or not known yet."""
    node = _walk(props, path)
    if node is _MISSING or node is None or _is_unknown(node):
        return default
    return node


def items(props: Mapping[str, Any], path: str) -> Iterator[Any]:
    """The elements of a list at the path that are known (an unknown list or element yields nothing)."""
    node = _unwrap(known(props, path, []))
    if not isinstance(node, list):
        return iter(())
    return (e for e in node if not _is_unknown(e))


def covers_the_internet(cidrs: Iterable[Any]) -> bool:
    """Whether the CIDRs, taken together, allow every address (0.0.0.0/1 + 128.0.0.0/1 is 0.0.0.0/0)."""
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for cidr in cidrs:
        if isinstance(cidr, str) and not _is_unknown(cidr):
            try:
                nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError:
                continue
    v4 = list(ipaddress.collapse_addresses(n for n in nets if isinstance(n, ipaddress.IPv4Network)))
    v6 = list(ipaddress.collapse_addresses(n for n in nets if isinstance(n, ipaddress.IPv6Network)))
    return any(len(family) == 1 and family[0].prefixlen == 0 for family in (v4, v6))


def _problems(found: Iterable[str] | str | None) -> list[str]:
    if not found:
        return []
    if isinstance(found, str):
        return [found]
    return [f for f in found if f]


def _description(summary: str, rule: str, mirrors: str) -> str:
    return f"{summary} ({rule}; mirrors {mirrors})" if mirrors else f"{summary} ({rule})"


def resource_guard(
    name: str,
    summary: str,
    *,
    types: str | Sequence[str],
    rule: str,
    mirrors: str,
    severity: Severity,
    fix: str,
    check: Check,
    level: EnforcementLevel = MANDATORY,
    config: Mapping[str, Any] | None = None,
    concern: str,
) -> ResourceValidationPolicy:
    """A guard over one resource at a time, of the given type tokens."""
    tokens = (types,) if isinstance(types, str) else tuple(types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in tokens:
            return
        for problem in _problems(check(args.props, args.get_config() or {})):
            report_violation(f"{problem} ({rule})", None)

    return ResourceValidationPolicy(
        name=name,
        description=_description(summary, rule, mirrors),
        validate=validate,
        enforcement_level=level,
        config_schema=PolicyConfigSchema(properties=dict(config)) if config else None,
        severity=severity,
        remediation_steps=fix,
        tags=[concern, rule, *tokens],
    )


def stack_guard(
    name: str,
    summary: str,
    *,
    rule: str,
    mirrors: str,
    severity: Severity,
    fix: str,
    check: StackCheck,
    level: EnforcementLevel = MANDATORY,
    config: Mapping[str, Any] | None = None,
    concern: str,
    types: Sequence[str] = (),
) -> StackValidationPolicy:
    """A guard over the whole stack at once: the joins one resource cannot show."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for finding in check(args.resources, args.get_config() or {}):
            message, urn = (finding, None) if isinstance(finding, str) else finding
            report_violation(f"{message} ({rule})", urn)

    return StackValidationPolicy(
        name=name,
        description=_description(summary, rule, mirrors),
        validate=validate,
        enforcement_level=level,
        config_schema=PolicyConfigSchema(properties=dict(config)) if config else None,
        severity=severity,
        remediation_steps=fix,
        tags=[concern, rule, *types],
    )


# --- Joins across a stack (stack guards) ----------------------------------------------------------
# At a first preview the ids that tie resources together (a cluster's id on its instances, a bucket's
# name on its access block) are unknown; the engine's dependency edges and each resource's provider
# are not, so the joins use those.

HPA_TYPES = (
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
)
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"


def depends_on(resource: Any, target: Any) -> bool:
    """Whether ``resource`` depends on ``target`` (PolicyResources of one stack)."""
    return any(d.urn == target.urn for d in resource.dependencies or [])


def cluster_of(resource: Any) -> str | None:
    """The Kubernetes cluster a resource lives in: its provider (one per cluster in this program)."""
    return resource.provider.urn if resource.provider is not None else None


def namespace_of(props: Mapping[str, Any]) -> str:
    """A namespaced object's namespace; unset (or not known yet), the API server's "default"."""
    return str(known(props, "metadata.namespace", "default") or "default")


@dataclass(frozen=True)
class Scaler:
    """An HPA or KEDA ScaledObject and the Deployment it scales, with the API defaults filled in."""

    resource: Any
    cluster: str | None
    namespace: str
    target: str
    low: int
    high: int


def scalers(resources: Sequence[Any]) -> Iterator[Scaler]:
    """Every HPA and ScaledObject that scales a Deployment named in its spec.

    Defaults: HPA minReplicas 1 (Kubernetes API), maxReplicas required; KEDA minReplicaCount 0 and
    maxReplicaCount 100 (https://keda.sh/docs/latest/reference/scaledobject-spec/). A scaler whose
    target is not known yet cannot be joined and is skipped.
    """
    for r in resources:
        if r.resource_type in HPA_TYPES:
            low, high = known(r.props, "spec.minReplicas", 1), known(r.props, "spec.maxReplicas", 0)
        elif r.resource_type == SCALED_OBJECT:
            low, high = known(r.props, "spec.minReplicaCount", 0), known(r.props, "spec.maxReplicaCount", 100)
        else:
            continue
        target = known(r.props, "spec.scaleTargetRef.name")
        if known(r.props, "spec.scaleTargetRef.kind", "Deployment") != "Deployment" or not isinstance(
            target, str
        ):
            continue
        yield Scaler(r, cluster_of(r), namespace_of(r.props), target, int(low), int(high))


UNKNOWN = UNKNOWN_STRING_VALUE
"""The sentinel the engine sends for any value it does not know yet (for fixtures and the offline run)."""
