"""The planned graph as a Terraform plan JSON, and Kubernetes objects as manifests.

Teams scan Terraform plans (Checkov, Trivy) and those tools read nothing else. Pulumi's AWS
and GCP providers are bridged from the Terraform providers, so each resource has one Terraform
type; ``inferstack/tfmap.yaml`` holds that mapping with its sources, and the attribute names
the bridge renamed. Everything else follows the bridge's rule in reverse: camelCase becomes
snake_case, a single object (a flattened MaxItems=1 block) becomes a one-item list.

References: Terraform's configuration block says which attribute points at which resource
(``vpc_id = aws_vpc.x.id``), and scanners join resources through it ("is this VPC's flow log
on?", "is this security group attached?"). The recorded graph only has the value the mock gave
(an id, ARN, name or self link, see inferstack/mocks.py) and the dependency list; an input value
equal to one of a dependency's mocked outputs is a reference to it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inferstack import mocks
from inferstack.engine import Graph, Resource
from inferstack.render import RELEASE, cluster_of, to_manifest

FORMAT_VERSION = "1.2"
TERRAFORM_VERSION = "1.9.8"
"""The plan format Checkov and Trivy parse; the version is the one the format was taken from."""

MAP_FILE = Path(__file__).with_name("tfmap.yaml")
SECRET = "[secret]"
UNKNOWN = "[unknown]"


class MappingError(Exception):
    """A resource type the table does not map: exporting it silently would hide it from scanners."""


@dataclass(frozen=True)
class TypeMap:
    token: str
    tf: str
    source: str
    rename: dict[str, str] = field(default_factory=dict)
    wrap: frozenset[str] = frozenset()
    unscanned: str | None = None
    autoname: bool = False


@dataclass(frozen=True)
class TfMap:
    as_of: str
    providers: dict[str, str]
    maps: frozenset[str]
    types: dict[str, TypeMap]
    not_exported: dict[str, str]
    kubernetes: dict[str, dict[str, Any]]

    def exported(self, token: str) -> bool:
        return not any(token.startswith(prefix) for prefix in self.not_exported)

    def of(self, token: str) -> TypeMap:
        found = self.types.get(token)
        if found is None:
            raise MappingError(
                f"{token} has no Terraform type in inferstack/tfmap.yaml; add it with its source "
                "(the provider bridge's resources.go) so that scanners see it"
            )
        return found


@functools.cache
def load_map() -> TfMap:
    raw = yaml.safe_load(MAP_FILE.read_text(encoding="utf-8"))
    types = {
        token: TypeMap(
            token=token,
            tf=row["tf"],
            source=str(row["source"]),
            rename=dict(row.get("rename") or {}),
            wrap=frozenset(row.get("wrap") or ()),
            unscanned=row.get("unscanned"),
            autoname=bool(row.get("autoname")),
        )
        for token, row in raw["types"].items()
    }
    return TfMap(
        as_of=str(raw["asOf"]),
        providers=dict(raw["providers"]),
        maps=frozenset(raw["maps"]),
        types=types,
        not_exported=dict(raw["notExported"]),
        kubernetes={kind: dict(row or {}) for kind, row in raw["kubernetes"].items()},
    )


def snake(name: str) -> str:
    """The bridge's camelCase back to Terraform's snake_case (``enableDnsHostnames`` -> ``enable_dns_hostnames``)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def tf_name(name: str) -> str:
    """A Pulumi logical name as a Terraform resource name (letters, digits, ``_`` and ``-``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    return cleaned if re.match(r"[A-Za-z_]", cleaned) else f"_{cleaned}"


# ---------------------------------------------------------------------------------------------
# values


@dataclass
class _Converted:
    values: dict[str, Any]
    unknown: dict[str, Any]
    sensitive: dict[str, Any]


def _convert(type_map: TypeMap, maps: frozenset[str], inputs: dict[str, Any]) -> _Converted:
    def key_of(path: str, key: str) -> str:
        return type_map.rename.get(path) or snake(key)

    def value(path: str, key: str, v: Any, in_list: bool = False) -> tuple[Any, Any, Any]:
        """(value, unknown marker, sensitive marker) of one attribute, as Terraform writes them."""
        if v == UNKNOWN:
            return None, True, False
        if v == SECRET:
            return SECRET, False, True
        if isinstance(v, dict):
            if key in maps:
                return dict(v), False, False
            inner = block(path, v)
            if in_list:
                return inner.values, inner.unknown, inner.sensitive
            # A single object is a block the bridge flattened (MaxItems=1): a one-item list.
            return [inner.values], [inner.unknown], [inner.sensitive]
        if isinstance(v, list):
            items = [value(path, key, item, in_list=True) for item in v]
            return [i[0] for i in items], [i[1] for i in items], [i[2] for i in items]
        if path in type_map.wrap and not in_list:
            return [v], [False], [False]
        return v, False, False

    def block(prefix: str, obj: dict[str, Any]) -> _Converted:
        out = _Converted({}, {}, {})
        for key, v in sorted(obj.items()):
            path = f"{prefix}.{key}" if prefix else key
            name = key_of(path, key)
            converted, unknown, sensitive = value(path, key, v)
            if unknown is True:
                out.unknown[name] = True
                continue
            out.values[name] = converted
            if _marked(unknown):
                out.unknown[name] = unknown
            if _marked(sensitive):
                out.sensitive[name] = sensitive
        return out

    return block("", inputs)


def _marked(marker: Any) -> bool:
    if isinstance(marker, bool):
        return marker
    if isinstance(marker, list):
        return any(_marked(m) for m in marker)
    if isinstance(marker, dict):
        return any(_marked(m) for m in marker.values())
    return False


# ---------------------------------------------------------------------------------------------
# references


def _region(graph_index: dict[str, Resource], resource: Resource) -> str:
    """The region the mock monitor handed to the mocks for this resource (engine.RecordingMonitor.region_for)."""
    region = resource.inputs.get("region")
    if isinstance(region, str):
        return region
    provider = graph_index.get(resource.provider or "")
    if provider is not None and isinstance(provider.inputs.get("region"), str):
        return provider.inputs["region"]
    return "global"


def mocked_outputs(graph_index: dict[str, Resource], resource: Resource) -> dict[str, str]:
    """Attribute -> the string value the mock gave it (id, arn, name, self link, keyId...).

    Inputs echoed back count only when they identify the resource (``name``, ``...Name``,
    ``...Id``, ``...Identifier``, ``...Arn``): a region or an engine name shared by two
    resources is a constant, not a reference.
    """
    state = mocks.resource_outputs(
        resource.type, resource.name, resource.inputs, _region(graph_index, resource)
    )
    outputs = {"id": mocks.resource_id(resource.type, resource.name)}
    for key, v in state.items():
        if not isinstance(v, str) or not v or v in (SECRET, UNKNOWN) or key in outputs:
            continue
        if key in resource.inputs and key != "name" and not key.endswith(_IDENTIFYING):
            continue
        outputs[key] = v
    return outputs


_IDENTIFYING = ("Name", "Id", "Identifier", "Arn")


def _tokens(text: str) -> set[str]:
    return set(re.split(r"[_\W]+", text.lower())) - {"", "aws", "google", "id", "arn", "name", "ids", "names"}


def _leaves(obj: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v, path)
    elif isinstance(obj, str):
        yield path, obj


def references(
    resource: Resource, dependencies: list[tuple[str, dict[str, str]]], maps: frozenset[str]
) -> dict[tuple[str, ...], list[str]]:
    """Input path (Pulumi keys) -> Terraform references, for inputs that hold a dependency's output.

    When one value matches several dependencies (a subnet group and a parameter group may both be
    named ``core-use1-db``), the attribute's name decides: ``db_subnet_group_name`` shares more
    words with ``aws_db_subnet_group`` than with ``aws_rds_cluster_parameter_group``.
    """
    found: dict[tuple[str, ...], list[str]] = {}
    for path, text in _leaves(resource.inputs):
        if path and path[0] in maps:
            continue
        candidates: list[tuple[int, str, str]] = []
        for address, outputs in dependencies:
            for attr, out in outputs.items():
                if text == out or (len(out) >= 8 and text.endswith("/" + out)):
                    attr_words = _tokens(snake(path[-1]))
                    score = len(attr_words & _tokens(address.split(".")[0]))
                    candidates.append((score, address, snake(attr)))
                    break
        if not candidates:
            continue
        best = max(c[0] for c in candidates)
        refs: list[str] = []
        for score, address, attr in sorted(candidates):
            if score == best:
                refs += [f"{address}.{attr}", address]
        found.setdefault(path, [])
        for ref in refs:
            if ref not in found[path]:
                found[path].append(ref)
    return found


def _expressions(
    type_map: TypeMap, values: dict[str, Any], refs: dict[tuple[str, ...], list[str]]
) -> dict[str, Any]:
    """Terraform's configuration expressions: constants, and references where an input held one."""
    expressions: dict[str, Any] = {}
    for key, v in values.items():
        expressions[key] = {"constant_value": v}
    for path, targets in sorted(refs.items()):
        # Nested references sit in the block's own expressions, as Terraform writes them.
        node = expressions
        pulumi_path = ""
        for depth, key in enumerate(path):
            pulumi_path = f"{pulumi_path}.{key}" if pulumi_path else key
            name = type_map.rename.get(pulumi_path) or snake(key)
            if depth == len(path) - 1:
                entry = node.get(name)
                if not isinstance(entry, dict) or "references" not in entry:
                    entry = {"references": []}
                    node[name] = entry
                entry["references"] += [t for t in targets if t not in entry["references"]]
            else:
                child = node.get(name)
                if not isinstance(child, list) or not child or not isinstance(child[0], dict):
                    child = [{}]
                    node[name] = child
                node = child[0]
    return expressions


# ---------------------------------------------------------------------------------------------
# the plan


@dataclass
class Export:
    plan: dict[str, Any]
    addresses: dict[str, str]
    """URN -> Terraform address, for every exported resource."""
    unscanned: dict[str, str]
    """Terraform address -> why no Checkov check evaluates it (from the mapping table)."""
    skipped: dict[str, int]
    """What was not exported, by reason, with counts."""


def export(graph: Graph) -> Export:
    """The graph as Terraform plan JSON (format 1.2): planned_values, resource_changes, configuration."""
    table = load_map()
    index = graph.by_urn()
    addresses: dict[str, str] = {}
    used: set[str] = set()
    skipped: dict[str, int] = {}
    exported: list[tuple[Resource, TypeMap, str]] = []
    for r in graph.resources:
        if not table.exported(r.type):
            reason = next(v for k, v in table.not_exported.items() if r.type.startswith(k))
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        type_map = table.of(r.type)
        base = f"{type_map.tf}.{tf_name(r.name)}"
        address, n = base, 1
        while address in used:
            n += 1
            address = f"{base}_{n}"
        used.add(address)
        addresses[r.urn] = address
        exported.append((r, type_map, address))

    outputs = {r.urn: mocked_outputs(index, r) for r, _, _ in exported}
    planned: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    configuration: list[dict[str, Any]] = []
    unscanned: dict[str, str] = {}
    for r, type_map, address in exported:
        provider = table.providers[r.type.split(":")[0]]
        kind, name = address.split(".", 1)
        inputs = r.inputs if not type_map.autoname or "name" in r.inputs else {**r.inputs, "name": r.name}
        converted = _convert(type_map, table.maps, inputs)
        deps = [(addresses[d], outputs[d]) for d in r.dependencies if d in addresses]
        refs = references(r, deps, table.maps)
        common = {
            "address": address,
            "mode": "managed",
            "type": kind,
            "name": name,
            "provider_name": provider,
        }
        planned.append(
            {
                **common,
                "schema_version": 0,
                "values": converted.values,
                "sensitive_values": converted.sensitive,
            }
        )
        changes.append(
            {
                **common,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": converted.values,
                    "after_unknown": converted.unknown,
                    "before_sensitive": False,
                    "after_sensitive": converted.sensitive,
                },
            }
        )
        depends_on = sorted(
            {addresses[d] for d in r.dependencies if d in addresses}
            - {t for targets in refs.values() for t in targets}
        )
        conf: dict[str, Any] = {
            "address": address,
            "mode": "managed",
            "type": kind,
            "name": name,
            "provider_config_key": _provider_key(index, r),
            "expressions": _expressions(type_map, converted.values, refs),
            "schema_version": 0,
        }
        if depends_on:
            conf["depends_on"] = depends_on
        configuration.append(conf)
        if type_map.unscanned:
            unscanned[address] = type_map.unscanned

    plan = {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": _provider_config(graph, table),
            "root_module": {"resources": configuration},
        },
        "timestamp": "1970-01-01T00:00:00Z",
        "errored": False,
    }
    return Export(plan=plan, addresses=addresses, unscanned=unscanned, skipped=skipped)


def _provider_key(index: dict[str, Resource], resource: Resource) -> str:
    provider = index.get(resource.provider or "")
    cloud = {"gcp": "google"}.get(resource.type.split(":")[0], resource.type.split(":")[0])
    return f"{cloud}.{tf_name(provider.name)}" if provider is not None else cloud


def _provider_config(graph: Graph, table: TfMap) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for r in graph.resources:
        if not r.type.startswith("pulumi:providers:"):
            continue
        package = r.type.rsplit(":", 1)[-1]
        if package not in table.providers:
            continue
        cloud = {"gcp": "google"}.get(package, package)
        alias = tf_name(r.name)
        expressions = {
            snake(k): {"constant_value": v}
            for k, v in sorted(r.inputs.items())
            if k in ("region", "project", "zone") and isinstance(v, str)
        }
        config[f"{cloud}.{alias}"] = {
            "name": cloud,
            "full_name": table.providers[package],
            "alias": alias,
            "expressions": expressions,
        }
    return config


# ---------------------------------------------------------------------------------------------
# Kubernetes


def manifests(graph: Graph) -> dict[str, str]:
    """Every ``kubernetes:*`` object as a YAML manifest, by relative path ``<cluster>/<kind>-<name>.yaml``.

    The objects are written from the inputs the program gave them (secret values stay masked).
    Helm releases are not rendered: their objects exist only once the chart is templated.
    """
    files: dict[str, str] = {}
    for r in graph.resources:
        if not r.type.startswith("kubernetes:") or not r.custom or r.type == RELEASE:
            continue
        document = to_manifest(r)
        cluster = cluster_of(graph, r) or "default"
        path = f"{tf_name(cluster)}/{document['kind'].lower()}-{tf_name(r.name)}.yaml"
        files[path] = yaml.safe_dump(document, sort_keys=False)
    return files
