"""`inferstack render`: every object the program owns, per cluster, valid for that cluster's Kubernetes."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from inferstack.engine import Graph, Resource
from inferstack.render import render, write
from inferstack.report import settings_of
from tests.conftest import planned
from tests.test_cli import run

STACKS = ("dev", "staging", "prod", "onprem")


def _versions(graph: Graph) -> dict[str, str]:
    settings = settings_of(graph)
    assert settings is not None
    return {c.name: c.kubernetes_version for c in settings.clusters}


def _with(graph: Graph, resource: Resource, **inputs: object) -> Graph:
    """The graph with one resource's inputs changed (a copy: the session's plans stay untouched)."""
    changed = dataclasses.replace(resource, inputs={**copy.deepcopy(resource.inputs), **inputs})
    return dataclasses.replace(graph, resources=[changed if r is resource else r for r in graph.resources])


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_validates_strictly_against_its_clusters_version(stack: str) -> None:
    graph = planned(stack)
    clusters, problems = render(graph, _versions(graph))
    assert problems == []
    owned = [r for r in graph.resources if r.type.startswith("kubernetes:") and r.custom]
    rendered = sum(len(c.objects) + len(c.releases) for c in clusters.values())
    assert rendered == len(owned), "every Kubernetes resource is rendered or listed as a release"


def test_prod_core_clusters_get_their_namespace_and_data() -> None:
    clusters, _ = render(planned("prod"), _versions(planned("prod")))
    for name in ("core-use1", "core-usw2"):
        kinds = {(o["kind"], o["metadata"]["name"]) for o in clusters[name].objects}
        assert {("Namespace", "inference"), ("ConfigMap", "inferstack-data")} <= kinds
        assert clusters[name].objects[0]["kind"] == "Namespace", "namespaces come first in the file"


def test_an_unknown_field_is_refused_with_its_path() -> None:
    graph = planned("prod")
    namespace = next(
        r for r in graph.of_type("kubernetes:core/v1:Namespace") if r.name == "core-use1-inference"
    )
    broken = _with(graph, namespace, spec={"finalizers": ["kubernetes"], "replicas": 2})
    _, problems = render(broken, _versions(graph))
    assert [str(p) for p in problems] == [
        "core-use1: Namespace inference: spec: Additional properties are not allowed ('replicas' was unexpected)"
    ]


def test_a_wrong_type_is_refused() -> None:
    graph = planned("prod")
    config_map = next(
        r for r in graph.of_type("kubernetes:core/v1:ConfigMap") if r.name == "core-usw2-inferstack-data"
    )
    broken = _with(graph, config_map, data={"REDIS_PORT": 6379})
    _, problems = render(broken, _versions(graph))
    assert len(problems) == 1
    assert str(problems[0]).startswith(
        "core-usw2: ConfigMap inference/inferstack-data: data.REDIS_PORT: 6379 is not"
    )


def test_a_version_without_a_schema_is_a_problem_not_a_pass() -> None:
    graph = planned("prod")
    _, problems = render(graph, {**_versions(graph), "core-use1": "1.99"})
    assert problems and all(
        p.cluster == "core-use1" and "no schema for Kubernetes 1.99" in p.message for p in problems
    )


def test_an_object_outside_every_clusters_provider_is_a_problem() -> None:
    graph = planned("prod")
    namespace = next(
        r for r in graph.of_type("kubernetes:core/v1:Namespace") if r.name == "core-use1-inference"
    )
    stray = dataclasses.replace(namespace, provider=None, parent=None)
    graph = dataclasses.replace(graph, resources=[stray if r is namespace else r for r in graph.resources])
    _, problems = render(graph, _versions(graph))
    assert [p.message for p in problems] == ["not created through a cluster's provider"]


def test_secret_values_never_reach_the_files(tmp_path: Path) -> None:
    graph = planned("prod")
    config_map = next(
        r for r in graph.of_type("kubernetes:core/v1:ConfigMap") if r.name.startswith("core-use1")
    )
    secret = dataclasses.replace(
        config_map,
        type="kubernetes:core/v1:Secret",
        inputs={"metadata": {"name": "s", "namespace": "inference"}, "stringData": {"password": "hunter2"}},
    )
    graph = dataclasses.replace(graph, resources=[*graph.resources, secret])
    clusters, problems = render(graph, _versions(graph))
    assert problems == []
    write(clusters, tmp_path)
    text = (tmp_path / "core-use1" / "objects.yaml").read_text()
    assert "hunter2" not in text and "password: <redacted>" in text


def test_the_command_writes_each_clusters_files(tmp_path: Path) -> None:
    result = run("render", "prod", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    core = render(planned("prod"), _versions(planned("prod")))[0]["core-use1"]
    objects = len(core.objects) - len(core.unvalidated)
    assert f"core-use1: {objects} objects valid for Kubernetes 1.35" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["burst-usc1", "core-use1", "core-usw2"]
    documents = list(yaml.safe_load_all((tmp_path / "core-use1" / "objects.yaml").read_text()))
    assert {d["kind"] for d in documents} >= {"Namespace", "ConfigMap"}
    assert yaml.safe_load((tmp_path / "core-use1" / "releases.yaml").read_text())["releases"] is not None


def test_the_command_refuses_a_file_as_out_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("render", "prod", "--out", str(blocker))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --out: {str(blocker)!r} is a file; allowed: a directory"
    ]
