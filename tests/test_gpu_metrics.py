"""The DCGM exporter: on exactly the EKS clusters with GPU pools, pinned, on their GPU nodes only,
scraped by the cluster's Prometheus."""

from __future__ import annotations

from typing import Any

import pytest

from inferstack.engine import Graph, Resource
from infra.k8s.gpu_metrics import CHART_VERSION, IMAGE, IMAGE_TAG, REPOSITORY, needs_exporter
from infra.k8s.monitoring import LABELS
from infra.monitoring.metrics import metrics_table
from infra.settings import Cluster
from tests.conftest import planned
from tests.test_addons import GPU_LABEL, RELEASE, cluster_of, eks_node_groups

STACKS = ("dev", "staging", "prod", "onprem")


@pytest.fixture(scope="module", params=STACKS)
def graph(request: pytest.FixtureRequest) -> Graph:
    return planned(request.param)


def exporters(graph: Graph) -> dict[str, Resource]:
    """Cluster -> its DCGM exporter release."""
    found: dict[str, Resource] = {}
    for release in graph.of_type(RELEASE):
        if release.inputs["chart"] == "dcgm-exporter":
            cluster = cluster_of(graph, release)
            assert cluster not in found, f"two exporters in {cluster}"
            found[cluster] = release
    return found


def gpu_groups(graph: Graph) -> dict[str, list[Resource]]:
    """EKS cluster -> its GPU node groups (those labelled for GPUs), for clusters that have any."""
    groups = {
        cluster: [g for g in found if g.inputs["labels"].get(GPU_LABEL) == "true"]
        for cluster, found in eks_node_groups(graph).items()
    }
    return {cluster: found for cluster, found in groups.items() if found}


def test_exactly_the_eks_clusters_with_gpu_pools_run_the_exporter(graph: Graph) -> None:
    expected = gpu_groups(graph)
    assert expected, "every shipped stack has an EKS cluster with a GPU pool"
    # GKE clusters (Managed Prometheus's DCGM package) and existing clusters (their own stack) get none.
    assert set(exporters(graph)) == set(expected)


def _cluster(cloud: str, *pools: dict[str, Any]) -> Cluster:
    return Cluster.model_validate(
        {"name": "c", "role": "burst", "cloud": cloud, "region": "us-east-1", "nodePools": list(pools)}
    )


def test_an_eks_cluster_without_gpus_and_a_gke_cluster_with_them_get_no_exporter() -> None:
    system = {"name": "system", "machineType": "m7i.large", "minSize": 1, "maxSize": 2}
    gpu = {"name": "l4", "machineType": "g6.xlarge", "accelerator": "L4", "minSize": 0, "maxSize": 2}
    assert not needs_exporter(_cluster("aws", system))
    assert needs_exporter(_cluster("aws", system, gpu))
    gke = Cluster.model_validate(
        {
            "name": "g",
            "role": "burst",
            "cloud": "gcp",
            "region": "us-central1",
            "nodePools": [
                {"name": "system", "machineType": "e2-standard-4", "minSize": 1, "maxSize": 2},
                {
                    "name": "l4",
                    "machineType": "g2-standard-8",
                    "accelerator": "L4",
                    "minSize": 0,
                    "maxSize": 2,
                },
            ],
        }
    )
    assert not needs_exporter(gke)


def test_the_exporter_is_pinned_and_its_series_table_names_the_same_release(prod: Graph) -> None:
    found = exporters(prod)
    assert found
    # metrics.yaml's dcgm-exporter row is the release whose default counters the rules read.
    version = metrics_table().exporters["dcgm-exporter"].version
    assert IMAGE_TAG.startswith(f"{version}-")
    assert version.split("-")[1] == CHART_VERSION
    for release in found.values():
        inputs = release.inputs
        assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"]["repo"]) == (
            "dcgm-exporter",
            CHART_VERSION,
            REPOSITORY,
        )
        assert inputs["values"]["image"] == {
            "repository": IMAGE,
            "tag": IMAGE_TAG,
            "pullPolicy": "IfNotPresent",
        }


def test_the_exporter_runs_on_gpu_nodes_only_and_takes_no_gpu(graph: Graph) -> None:
    found = exporters(graph)
    for cluster, groups in gpu_groups(graph).items():
        values = found[cluster].inputs["values"]
        assert values["nodeSelector"] == {GPU_LABEL: "true"}
        tolerations = values["tolerations"]
        assert all(t.get("key") for t in tolerations), "a toleration without a key tolerates every taint"
        for group in groups:
            taints = group.inputs["taints"]
            assert taints
            for taint in taints:
                effect = "".join(p.capitalize() for p in taint["effect"].split("_"))
                assert any(
                    t["key"] == taint["key"] and t["operator"] == "Exists" and t["effect"] == effect
                    for t in tolerations
                ), (cluster, taint)
        resources = values["resources"]
        assert set(resources) == {"requests", "limits"}
        assert set(resources["limits"]) == {"cpu", "memory"}, (
            "no nvidia.com/gpu: it would take a server's GPU"
        )
        assert values["priorityClassName"] == "", "must never preempt a model server"


def test_prometheus_scrapes_it_after_the_monitoring_namespace_exists(graph: Graph) -> None:
    namespaces = {
        cluster_of(graph, n): n.urn
        for n in graph.of_type("kubernetes:core/v1:Namespace")
        if n.inputs["metadata"]["name"] == "monitoring"
    }
    crds = {
        cluster_of(graph, r): r.urn
        for r in graph.of_type(RELEASE)
        if r.inputs["chart"] == "prometheus-operator-crds"
    }
    found = exporters(graph)
    assert found
    for cluster, release in found.items():
        assert release.inputs["namespace"] == "monitoring"
        # Created after its namespace, and after the CRDs its ServiceMonitor is an instance of.
        assert {namespaces[cluster], crds[cluster]} <= set(release.dependencies), cluster
        monitor = release.inputs["values"]["serviceMonitor"]
        assert monitor["enabled"] is True
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        # The labels of the monitoring layer's PodMonitors: one selector finds them all.
        assert monitor["additionalLabels"] == LABELS
