"""``inferstack render``: every Kubernetes object a stack declares, as the API server would receive it.

The objects this project owns are typed ``pulumi_kubernetes`` resources; their inputs, as the engine
records them, are the manifests the provider sends. They are grouped by the cluster whose provider
creates them and validated against that cluster's Kubernetes version with kubernetes-validate
(strict: an unknown field is an error, as the API server's strict field validation makes it).

Third-party software goes in as Helm releases that cannot be rendered without the chart; what can be
reviewed of them (chart, version, repository, values) is written beside the objects, never a faked
render. Custom resources (their CRDs ship with the charts) have no bundled schema; they are written
and listed as not validated.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from inferstack.engine import Graph, Resource

PROVIDER = "pulumi:providers:kubernetes"
RELEASE = "kubernetes:helm.sh/v3:Release"
PROVIDER_SUFFIX = "-k8s"
"""Every cluster's Kubernetes provider is named ``<cluster>-k8s`` (infra.aws.eks, infra.gcp.gke, topology)."""

SECRET_PLACEHOLDER = base64.b64encode(b"<redacted>").decode()


@dataclass
class Problem:
    cluster: str
    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.cluster}: {self.kind} {self.name}: {self.message}"


@dataclass
class ClusterRender:
    name: str
    kubernetes_version: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    unvalidated: list[str] = field(default_factory=list)
    """Objects with no bundled schema (custom resources): ``kind apiVersion name``."""


def to_manifest(resource: Resource) -> dict[str, Any]:
    """The object as the provider sends it: its inputs, with the kind the type token names."""
    inputs = dict(resource.inputs)
    token = resource.type.split(":")[1:]  # ["core/v1", "Namespace"]
    inputs.setdefault("kind", token[-1])
    if "apiVersion" not in inputs:
        group, _, version = token[0].rpartition("/")
        inputs["apiVersion"] = version if group in ("core", "") else f"{group}/{version}"
    if inputs["kind"] == "Secret":
        # Values never leave the program: a reviewer sees the keys, the schema still sees base64.
        for key in ("data", "stringData"):
            if isinstance(inputs.get(key), dict):
                inputs[key] = dict.fromkeys(
                    inputs[key], SECRET_PLACEHOLDER if key == "data" else "<redacted>"
                )
    ordered = {k: inputs.pop(k) for k in ("apiVersion", "kind", "metadata") if k in inputs}
    return {**ordered, **dict(sorted(inputs.items()))}


def _release(resource: Resource) -> dict[str, Any]:
    inputs = resource.inputs
    return {
        "name": inputs.get("name") or resource.name,
        "namespace": inputs.get("namespace"),
        "chart": inputs.get("chart"),
        "version": inputs.get("version"),
        "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
        "values": inputs.get("values") or {},
    }


def cluster_of(graph: Graph, resource: Resource) -> str | None:
    index = graph.by_urn()
    current: Resource | None = resource
    while current is not None:
        provider = index.get(current.provider) if current.provider else None
        if provider is not None and provider.type == PROVIDER:
            return provider.name.removesuffix(PROVIDER_SUFFIX)
        current = index.get(current.parent) if current.parent else None
    return None


def render(graph: Graph, versions: dict[str, str]) -> tuple[dict[str, ClusterRender], list[Problem]]:
    """Every Kubernetes object of the graph by cluster, each validated against ``versions[cluster]``."""
    clusters = {name: ClusterRender(name, version) for name, version in versions.items()}
    problems: list[Problem] = []
    for resource in graph.resources:
        if not resource.type.startswith("kubernetes:") or not resource.custom:
            continue
        cluster = cluster_of(graph, resource)
        if cluster not in clusters:
            problems.append(
                Problem(
                    str(cluster), resource.type, resource.name, "not created through a cluster's provider"
                )
            )
            continue
        target = clusters[cluster]
        if resource.type == RELEASE:
            target.releases.append(_release(resource))
            continue
        manifest = to_manifest(resource)
        target.objects.append(manifest)
        meta = manifest.get("metadata") or {}
        name = "/".join(p for p in (meta.get("namespace"), meta.get("name", resource.name)) if p)
        try:
            kubernetes_validate.validate(manifest, target.kubernetes_version, strict=True)
        except kubernetes_validate.utils.VersionNotSupportedError:
            problems.append(
                Problem(
                    cluster,
                    manifest["kind"],
                    name,
                    f"no schema for Kubernetes {target.kubernetes_version}; this kubernetes-validate "
                    f"knows up to {kubernetes_validate.latest_version()}",
                )
            )
        except kubernetes_validate.SchemaNotFoundError:
            target.unvalidated.append(f"{manifest['kind']} {manifest['apiVersion']} {name}")
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path) or "(root)"
            problems.append(Problem(cluster, manifest["kind"], name, f"{path}: {error.message}"))
    for target in clusters.values():
        target.objects.sort(key=_sort_key)
        target.releases.sort(key=lambda r: (r["namespace"] or "", r["name"]))
    return clusters, problems


def _sort_key(manifest: dict[str, Any]) -> tuple[int, str, str, str]:
    """Namespaces first, then the cluster-wide objects, then by kind, namespace and name."""
    meta = manifest.get("metadata") or {}
    first = 0 if manifest["kind"] == "Namespace" else 1 if "namespace" not in meta else 2
    return first, manifest["kind"], meta.get("namespace", ""), meta.get("name", "")


def write(clusters: dict[str, ClusterRender], out: Path) -> list[Path]:
    """``<cluster>/objects.yaml`` (multi-document), ``<cluster>/releases.yaml``, ``<cluster>/rules/`` and
    ``<cluster>/dashboards/``."""
    written: list[Path] = []
    for cluster in clusters.values():
        folder = out / cluster.name
        folder.mkdir(parents=True, exist_ok=True)
        header = (
            f"# {cluster.name}: Kubernetes {cluster.kubernetes_version}; "
            f"{len(cluster.objects)} objects, generated by inferstack render\n"
        )
        objects = folder / "objects.yaml"
        objects.write_text(header + yaml.safe_dump_all(cluster.objects, sort_keys=False), encoding="utf-8")
        releases = folder / "releases.yaml"
        releases.write_text(
            f"# {cluster.name}: Helm releases (chart, version, repository, values), not rendered\n"
            + yaml.safe_dump({"releases": cluster.releases}, sort_keys=False),
            encoding="utf-8",
        )
        written += [objects, releases]
        written += _write_rules(cluster, folder / "rules")
        written += _write_dashboards(cluster, folder / "dashboards")
    return written


RULE_KINDS = {
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("monitoring.googleapis.com/v1", "ClusterRules"),
    ("monitoring.googleapis.com/v1", "GlobalRules"),
}
"""The objects whose ``spec.groups`` is a Prometheus rule file (infra/k8s/monitoring.py)."""


def _write_rules(cluster: ClusterRender, folder: Path) -> list[Path]:
    """``<cluster>/rules/<name>.yaml`` per rule object: the rule file promtool checks and tests."""
    written: list[Path] = []
    for manifest in cluster.objects:
        if (manifest.get("apiVersion"), manifest.get("kind")) not in RULE_KINDS:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{manifest['metadata']['name']}.yaml"
        path.write_text(
            yaml.safe_dump({"groups": manifest["spec"]["groups"]}, sort_keys=False), encoding="utf-8"
        )
        written.append(path)
    return written


DASHBOARD_LABEL = "grafana_dashboard"
"""The label of the ConfigMaps Grafana's sidecar loads dashboards from (infra/k8s/dashboards.py)."""


def _write_dashboards(cluster: ClusterRender, folder: Path) -> list[Path]:
    """``<cluster>/dashboards/<file>.json`` per dashboard a sidecar-labelled ConfigMap carries: the
    JSON model as Grafana imports it."""
    written: list[Path] = []
    for manifest in cluster.objects:
        meta = manifest.get("metadata") or {}
        if manifest.get("kind") != "ConfigMap" or (meta.get("labels") or {}).get(DASHBOARD_LABEL) != "1":
            continue
        for key, text in sorted((manifest.get("data") or {}).items()):
            if not key.endswith(".json"):
                continue
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / key
            path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
            written.append(path)
    return written
