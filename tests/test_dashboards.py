"""Dashboards: generated, reading only series somebody exports, shipped to every EKS cluster's Grafana
and written by `inferstack render`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from inferstack.engine import Graph
from inferstack.render import render, write
from inferstack.report import settings_of
from infra.k8s.dashboards import dashboards, queries
from infra.monitoring.metrics import metrics_table
from infra.monitoring.rules import rule_groups, series_read
from infra.settings import Monitoring
from tests.conftest import planned

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def _known() -> set[str]:
    recorded = {r["record"] for g in rule_groups(Monitoring()) for r in g.rules if "record" in r}
    return metrics_table().exported() | recorded


def _unknown(model: dict[str, Any]) -> set[str]:
    return {name for expr in queries(model) for name in series_read(expr)} - _known()


def test_every_dashboard_query_reads_a_known_series() -> None:
    models = dashboards()
    assert set(models) == {"inferstack-serving", "inferstack-capacity"}
    for uid, model in models.items():
        assert queries(model), uid
        assert _unknown(model) == set(), uid


def test_a_query_reading_a_series_nobody_exports_is_caught() -> None:
    model = copy.deepcopy(dashboards()["inferstack-serving"])
    # A name vLLM 0.27 does not export (its counter is vllm:generation_tokens_total).
    model["panels"][0]["targets"].append({"expr": "sum(rate(vllm:generation_tokens[5m]))"})
    assert _unknown(model) == {"vllm:generation_tokens"}


def _panel(uid: str, title: str) -> dict[str, Any]:
    [panel] = [p for p in dashboards()[uid]["panels"] if p["title"] == title]
    return panel


def _reads(panel: dict[str, Any]) -> set[str]:
    return {name for target in panel["targets"] for name in series_read(target["expr"])}


def test_the_serving_dashboard_shows_tokens_per_second_and_cache_hit_ratios() -> None:
    tokens = _panel("inferstack-serving", "Tokens per second")
    assert _reads(tokens) == {"vllm:generation_tokens_total", "vllm:prompt_tokens_total"}
    assert all("rate(" in t["expr"] for t in tokens["targets"]), "counters are read as rates"
    cache = _panel("inferstack-serving", "Cache hit ratio")
    assert cache["fieldConfig"]["defaults"]["unit"] == "percentunit"
    prefix, gateway = (series_read(t["expr"]) for t in cache["targets"])
    assert prefix == {"vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"}
    assert gateway == {"litellm_cache_hits_metric_total", "litellm_cache_misses_metric_total"}


def test_the_capacity_dashboard_shows_gpu_utilisation_and_memory_per_gpu() -> None:
    utilisation = _panel("inferstack-capacity", "GPU utilisation")
    assert _reads(utilisation) == {"DCGM_FI_DEV_GPU_UTIL"}
    memory = _panel("inferstack-capacity", "GPU memory in use")
    assert _reads(memory) == {"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"}
    for panel in (utilisation, memory):
        # One line per GPU: DCGM's node and index labels.
        assert all("by (Hostname, gpu)" in t["expr"] for t in panel["targets"]), panel["title"]


def test_the_seeds_metric_names_are_on_the_serving_dashboard() -> None:
    read = {name for expr in queries(dashboards()["inferstack-serving"]) for name in series_read(expr)}
    assert {"deepseek_api_latency_seconds", "deepseek_api_requests_per_second"} <= read
    assert {"vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"} <= read


def test_every_panel_reads_the_dashboards_prometheus_variable() -> None:
    for uid, model in dashboards().items():
        (variable,) = model["templating"]["list"]
        assert variable["type"] == "datasource" and variable["query"] == "prometheus"
        panels = model["panels"]
        assert panels
        for panel in panels:
            assert panel["datasource"] == {"type": "prometheus", "uid": f"${{{variable['name']}}}"}, uid
            assert [t["refId"] for t in panel["targets"]] == [
                chr(ord("A") + i) for i in range(len(panel["targets"]))
            ]
        assert sorted(p["id"] for p in panels) == list(range(1, len(panels) + 1))


def _dashboard_maps(graph: Graph) -> list[Any]:
    return [
        c
        for c in graph.of_type(CONFIG_MAP)
        if (c.inputs["metadata"].get("labels") or {}).get("grafana_dashboard")
    ]


def test_every_eks_cluster_ships_the_dashboards_to_grafanas_sidecar() -> None:
    prod = planned("prod")
    maps = _dashboard_maps(prod)
    eks = [c for c in prod.of_type("aws:eks/cluster:Cluster")]
    assert maps and eks
    assert len(maps) == len(eks) * len(dashboards())
    monitoring_namespaces = {
        n.urn
        for n in prod.of_type("kubernetes:core/v1:Namespace")
        if n.inputs["metadata"]["name"] == "monitoring"
    }
    for config_map in maps:
        meta = config_map.inputs["metadata"]
        assert meta["namespace"] == "monitoring"
        assert meta["labels"]["grafana_dashboard"] == "1"
        ((key, text),) = config_map.inputs["data"].items()
        assert json.loads(text) == dashboards()[key.removesuffix(".json")]
        # Created after the cluster's `monitoring` namespace exists.
        assert set(config_map.dependencies) & monitoring_namespaces, config_map.name


def test_gke_and_existing_clusters_get_no_dashboard_config_maps() -> None:
    for stack in ("dev", "onprem"):
        graph = planned(stack)
        maps = _dashboard_maps(graph)
        # dev: one EKS cluster (its maps) and one GKE cluster (none); onprem: one EKS burst cluster.
        assert len(maps) == len(graph.of_type("aws:eks/cluster:Cluster")) * len(dashboards())
        assert all(m.name.split("-dashboard-")[0] in {"core-use1", "burst-use2"} for m in maps)


def test_render_writes_each_eks_clusters_dashboards(tmp_path: Path) -> None:
    prod = planned("prod")
    settings = settings_of(prod)
    assert settings is not None
    clusters, problems = render(prod, {c.name: c.kubernetes_version for c in settings.clusters})
    assert problems == []
    written = write(clusters, tmp_path)
    for cluster in ("core-use1", "core-usw2"):
        folder = tmp_path / cluster / "dashboards"
        assert sorted(p.name for p in folder.iterdir()) == [
            "inferstack-capacity.json",
            "inferstack-serving.json",
        ]
        for path in folder.iterdir():
            assert path in written
            assert json.loads(path.read_text()) == dashboards()[path.stem]
    assert not (tmp_path / "burst-usc1" / "dashboards").exists()
