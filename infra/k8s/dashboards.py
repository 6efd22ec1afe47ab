"""Grafana dashboards of the serving platform, generated with grafana-foundation-sdk, and the
ConfigMaps that ship them to every EKS cluster's Grafana.

Two dashboards, the same in every cluster (each cluster's Grafana reads its own Prometheus):

- ``inferstack-serving``: the API's latency quantiles and request rate (the seed's metric names, from
  the recording rules), its error ratio, time to first token and inter-token latency, tokens per
  second, the cache hit ratios (vLLM's prefix cache, the gateway's response cache), and per
  replica the scheduler's queue and the KV-cache in use;
- ``inferstack-capacity``: per model-server Deployment the replicas wanted and available, per
  autoscaler the replicas running against its maximum, and per GPU its utilisation, memory in
  use, temperature and XID errors.

Every query reads a series of ``infra/monitoring/metrics.yaml`` or a recording rule's output
(tests/test_dashboards.py), the same contract the alert rules keep: a renamed exporter metric fails
the build instead of leaving an empty panel. Panels the table cannot feed yet are not drawn
(docs/alerting.md, "Dashboards", says which: TPU use).

Why generated rather than hand-written JSON: the SDK's builders are typed against Grafana's
dashboard schema (pyright checks them), so a panel cannot carry a misspelt option.

On EKS the dashboards go in as ConfigMaps labelled ``grafana_dashboard: "1"`` in the namespace
``monitoring``: the label and namespace kube-prometheus-stack's Grafana sidecar watches (the chart's
``grafana.sidecar.dashboards.label`` defaults to ``grafana_dashboard``). GKE's Managed Prometheus
runs no Grafana; ``inferstack render`` writes the same JSON for any Grafana to import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DataSourceRef

from infra.monitoring.rules import (
    APP,
    ERROR_RATIO,
    ITL_P99,
    LATENCY,
    REQUESTS,
    SERVER_DEPLOYMENTS,
    SERVING_NAMESPACE,
    TTFT_P99,
)
from infra.parts import ClusterParts
from infra.settings import Cloud

NAMESPACE = "monitoring"
"""Where kube-prometheus-stack runs and its Grafana sidecar looks for dashboards."""
SIDECAR_LABEL = {"grafana_dashboard": "1"}
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
"""Every panel reads the dashboard's Prometheus data source variable: no data-source UID is assumed."""

Panel = timeseries.Panel | stat.Panel

RATE_WINDOW = "5m"
"""The window of every rate on the dashboards: the recording rules' latency window, ten scrapes."""
GPU = "Hostname, gpu"
"""DCGM's labels of one GPU: the node's host name and the GPU's index on it."""


def _query(expr: str, legend: str = "") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr)
    return query.legend_format(legend) if legend else query


def _series(title: str, unit: str, *queries: prometheus.Dataquery, description: str = "") -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).height(8).span(12)
    for i, query in enumerate(queries):
        panel = panel.with_target(query.ref_id(chr(ord("A") + i)))
    return panel.description(description) if description else panel


def _dashboard(uid: str, title: str, panels: Sequence[Panel]) -> dict[str, Any]:
    builder = (
        db.Dashboard(title)
        .uid(uid)
        .tags(["inferstack"])
        .refresh("1m")
        .time("now-6h", "now")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(db.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for i, panel in enumerate(panels, start=1):
        builder = builder.with_panel(panel.id(i))
    return json.loads(JSONEncoder(sort_keys=True).encode(builder.build()))


def serving_dashboard() -> dict[str, Any]:
    app = f'app="{APP}"'
    return _dashboard(
        "inferstack-serving",
        "inferstack: serving",
        [
            _series(
                "API latency (end to end)",
                "s",
                _query(f"{LATENCY}{{{app}}}", "p{{quantile}}"),
                description="The seed's deepseek_api_latency_seconds quantiles; HighLatency pages above its threshold.",
            ),
            _series("API requests per second", "reqps", _query(f"{REQUESTS}{{{app}}}", "requests/s")),
            _series("API error ratio (5xx)", "percentunit", _query(ERROR_RATIO, "5xx share")),
            _series(
                "Time to first token and inter-token latency (p99)",
                "s",
                _query(TTFT_P99, "time to first token"),
                _query(ITL_P99, "inter-token"),
            ),
            _series(
                "Tokens per second",
                "short",
                _query(f"sum(rate(vllm:generation_tokens_total[{RATE_WINDOW}]))", "generated"),
                _query(f"sum(rate(vllm:prompt_tokens_total[{RATE_WINDOW}]))", "prompt (prefill)"),
                description="Every model server of the cluster: the tokens vLLM generated and the prompt "
                "tokens it prefilled, per second.",
            ),
            _series(
                "Cache hit ratio",
                "percentunit",
                _query(
                    f"sum(rate(vllm:prefix_cache_hits_total[{RATE_WINDOW}])) / "
                    f"sum(rate(vllm:prefix_cache_queries_total[{RATE_WINDOW}]))",
                    "vLLM prefix cache (tokens)",
                ),
                _query(
                    f"sum(rate(litellm_cache_hits_metric_total[{RATE_WINDOW}])) / ("
                    f"sum(rate(litellm_cache_hits_metric_total[{RATE_WINDOW}])) + "
                    f"sum(rate(litellm_cache_misses_metric_total[{RATE_WINDOW}])))",
                    "gateway response cache (requests)",
                ),
                description="vLLM: the share of prompt tokens whose KV blocks were already cached. "
                "Gateway: the share of requests LiteLLM answered from its Redis cache; empty where "
                "the gateway runs without one.",
            ),
            _series(
                "Requests waiting per replica",
                "short",
                _query("sum by (pod) (vllm:num_requests_waiting)", "{{pod}}"),
                description="vLLM's scheduler queue: a queue that stays means capacity is short.",
            ),
            _series(
                "KV-cache in use per replica",
                "percentunit",
                _query("max by (pod) (vllm:kv_cache_usage_perc)", "{{pod}}"),
                description="Near full, vLLM preempts running requests and recomputes them.",
            ),
        ],
    )


def capacity_dashboard() -> dict[str, Any]:
    servers = f'namespace="{SERVING_NAMESPACE}",{SERVER_DEPLOYMENTS}'
    autoscalers = f'namespace="{SERVING_NAMESPACE}"'
    return _dashboard(
        "inferstack-capacity",
        "inferstack: capacity",
        [
            _series(
                "Model-server replicas: wanted and available",
                "short",
                _query(
                    f"sum by (deployment) (kube_deployment_spec_replicas{{{servers}}})",
                    "{{deployment}} wanted",
                ),
                _query(
                    f"sum by (deployment) (kube_deployment_status_replicas_available{{{servers}}})",
                    "{{deployment}} available",
                ),
            ),
            _series(
                "Autoscalers: replicas and maximum",
                "short",
                _query(
                    f"max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas{{{autoscalers}}})",
                    "{{horizontalpodautoscaler}}",
                ),
                _query(
                    f"max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas{{{autoscalers}}})",
                    "{{horizontalpodautoscaler}} max",
                ),
            ),
            stat.Panel()
            .title("Available model-server replicas")
            .datasource(DATASOURCE)
            .height(8)
            .span(12)
            .with_target(
                _query(f"sum(kube_deployment_status_replicas_available{{{servers}}})", "available").ref_id(
                    "A"
                )
            ),
            _series(
                "GPU utilisation",
                "percent",
                _query(f"max by ({GPU}) (DCGM_FI_DEV_GPU_UTIL)", "{{Hostname}} GPU {{gpu}}"),
                description="The share of time a kernel ran on the GPU (DCGM_FI_DEV_GPU_UTIL, 0-100).",
            ),
            _series(
                "GPU memory in use",
                "percentunit",
                _query(
                    f"sum by ({GPU}) (DCGM_FI_DEV_FB_USED) / "
                    f"sum by ({GPU}) (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)",
                    "{{Hostname}} GPU {{gpu}}",
                ),
                description="Framebuffer used over used and free. vLLM reserves its share of the memory "
                "when it starts (weights and KV cache): the KV-cache panel shows how much of it is used.",
            ),
            _series(
                "GPU temperature",
                "celsius",
                _query(f"max by ({GPU}) (DCGM_FI_DEV_GPU_TEMP)", "{{Hostname}} GPU {{gpu}}"),
            ),
            _series(
                "GPU XID errors",
                "short",
                _query(f"max by ({GPU}) (DCGM_FI_DEV_XID_ERRORS)", "{{Hostname}} GPU {{gpu}}"),
                description="The last XID a GPU reported; any non-zero value is a driver or hardware fault.",
            ),
        ],
    )


def dashboards() -> dict[str, dict[str, Any]]:
    """File stem -> Grafana dashboard JSON model."""
    return {d["uid"]: d for d in (serving_dashboard(), capacity_dashboard())}


def queries(model: Mapping[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard model."""
    return [t["expr"] for p in model.get("panels", []) for t in p.get("targets", []) if "expr" in t]


def build_dashboards(
    parts: Mapping[str, ClusterParts], after: Mapping[str, pulumi.Resource]
) -> dict[str, list[k8s.core.v1.ConfigMap]]:
    """The dashboards as sidecar-labelled ConfigMaps in every EKS cluster, after its ``monitoring``
    namespace (``after``: the cluster's monitoring component, keyed by cluster name)."""
    models = dashboards()
    built: dict[str, list[k8s.core.v1.ConfigMap]] = {}
    for name, part in parts.items():
        if part.cluster.cloud is not Cloud.AWS or part.kubernetes is None or name not in after:
            continue
        opts = pulumi.ResourceOptions(provider=part.kubernetes, depends_on=[after[name]])
        built[name] = [
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{uid}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"dashboard-{uid}",
                    namespace=NAMESPACE,
                    labels={**SIDECAR_LABEL, "app.kubernetes.io/part-of": "inferstack"},
                ),
                data={f"{uid}.json": json.dumps(model, indent=2, sort_keys=True)},
                opts=opts,
            )
            for uid, model in models.items()
        ]
    return built
