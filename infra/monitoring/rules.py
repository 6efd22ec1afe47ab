"""Recording and alerting rules for the inference API, built from the stack's `monitoring` settings.

What the rules stand on:
  - vLLM's own metrics (the serving image's version, ``metrics.yaml``): the seed's metric names
    ``deepseek_api_latency_seconds{quantile=...}`` and ``deepseek_api_requests_per_second`` are
    recorded from vLLM's end-to-end latency histogram and its finished-request counter, with
    ``app="deepseek"`` (what the gateway's KEDA trigger selects). When the gateway exists, its own
    histogram is the better source; the names the alerts and the scaler read stay the same.
  - kube-state-metrics for replica counts, the DCGM exporter for GPU health.

Every rule must evaluate the same under promtool 2.42 (Debian's, which the tests run) and the
Prometheus 3.x the charts run. So: no regex matcher relies on what ``.`` matches (3.0 lets it match a
newline); windows are at least four scrape intervals wide and the tests use steady rates, which
3.0's left-open range selectors do not change; no rule matches an ``le`` or ``quantile`` value
(3.0 normalises them to floats); nothing uses a function added after 2.42.

Alerts users ask for that are not Prometheus rules, because their series are in the clouds, not in
Prometheus: Redis memory and evictions (ElastiCache and Memorystore report to CloudWatch and Cloud
Monitoring: alarms in infra/aws/alarms.py and infra/gcp/alerts.py), certificate expiry (the edge's
ACM certificates: ``DaysToExpiry`` alarms in infra/aws/alarms.py), budget burn rate (the clouds'
budgets: infra/aws/budget.py, infra/gcp/budget.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from infra.settings import Monitoring

APP = "deepseek"
"""The ``app`` label on the seed's metric names: the gateway's KEDA trigger selects it."""

SERVING_NAMESPACE = "serving"
"""Where the model servers run (infra/k8s/serving.py); the rules on replica counts look only there."""

# Deployment names of the model servers: vllm-<pool>. A character class rather than `.+`, so that
# Prometheus 2 and 3 (whose `.` also matches a newline) select the same series.
SERVER_DEPLOYMENTS = 'deployment=~"vllm-[a-z0-9-]+"'

API_HANDLERS = 'handler=~"/v1/(chat/)?completions"'
"""The OpenAI-compatible endpoints whose answers the error ratio counts (not /health, not /metrics)."""

MESH_INGRESS = 'namespace="istio-ingress"'
"""The mesh's ingress (infra/k8s/mesh.py), the one Envoy of an ambient mesh without waypoints and so
the only source of ``istio_requests_total``; ``namespace`` is the scrape's label (infra/k8s/monitoring.py)."""
SERVER_ERROR = 'response_code=~"5[0-9][0-9]"'
"""5xx as Istio's mesh dashboard counts them (``response_code=~"5.."``, istio/istio 1.30.3
manifests/addons/dashboards/istio-mesh-dashboard.gen.json), with a class instead of ``.``."""

QUANTILES: tuple[str, ...] = ("0.5", "0.9", "0.99")

LATENCY = "deepseek_api_latency_seconds"
REQUESTS = "deepseek_api_requests_per_second"
TTFT_P99 = "deepseek:time_to_first_token_seconds:p99"
ITL_P99 = "deepseek:inter_token_latency_seconds:p99"
ERROR_RATIO = "deepseek:api_error_ratio"
REQUESTS_AVG_1H = "deepseek:api_requests_per_second:avg_1h"
REQUESTS_STDDEV_1H = "deepseek:api_requests_per_second:stddev_1h"
LATENCY_AVG_1H = "deepseek:api_latency_p99_seconds:avg_1h"
LATENCY_STDDEV_1H = "deepseek:api_latency_p99_seconds:stddev_1h"


@dataclass(frozen=True)
class RuleGroup:
    """One Prometheus rule group: the unit of a rule file and of a PrometheusRule / ClusterRules object."""

    name: str
    rules: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    interval: str = "30s"
    """Google Managed Prometheus's rule evaluator wants an interval per group; 30 s is the
    kube-prometheus-stack's global default, and what the scaler reading the request rate needs."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "interval": self.interval, "rules": [dict(r) for r in self.rules]}

    def with_alert_labels(self, labels: Mapping[str, str]) -> RuleGroup:
        """The group with ``labels`` added to every alerting rule (recording rules unchanged): they
        become labels of the alerts and of their ``ALERTS`` series (``firing_alerts_query``)."""
        rules = tuple(
            {**rule, "labels": {**rule.get("labels", {}), **labels}} if "alert" in rule else dict(rule)
            for rule in self.rules
        )
        return RuleGroup(self.name, rules, self.interval)


STACK_LABEL = "inferstack_stack"
"""The label every alerting rule evaluated by Google Managed Prometheus carries (``<project>/<stack>``):
a project may hold several stacks' clusters, and Cloud Monitoring's alert policies read the whole
project, so the policies that deliver the alerts select their own stack's by it."""


def stack_label(project: str, stack: str) -> str:
    """``STACK_LABEL``'s value for a Pulumi project and stack."""
    return f"{project}/{stack}"


def firing_alerts_query(severity: str, stack: str) -> str:
    """PromQL selecting the firing alerts of one severity that a stack's GKE rules raised.

    Google Managed Prometheus's rule evaluator is Prometheus's rule manager writing to Monarch
    instead of a local TSDB (prometheus-engine cmd/rule-evaluator: ``rules.ManagerOptions.Appendable``
    is the export storage), so an alerting rule's ``ALERTS`` series (``alertname``, ``alertstate``
    pending or firing, and the alert's labels) lands in Cloud Monitoring as
    ``prometheus.googleapis.com/ALERTS/gauge`` like any recorded series: a PromQL alert policy on it
    hears every firing alert once its ``for`` has passed (https://cloud.google.com/monitoring/promql/promql-in-alerting).
    """
    return f'ALERTS{{alertstate="firing",severity="{severity}",{STACK_LABEL}="{stack}"}}'


def _number(value: float) -> str:
    """A threshold as PromQL reads it: 1.5 stays 1.5, 85.0 becomes 85."""
    return f"{value:g}"


def _alert(
    name: str, expr: str, *, for_: str, severity: str, summary: str, description: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


def _p99(histogram: str) -> str:
    return f"histogram_quantile(0.99, sum by (le) (rate({histogram}_bucket[5m])))"


def recording_group() -> RuleGroup:
    """The seed's metric names and the SLO inputs, from vLLM's histograms and counters."""
    rules: list[dict[str, Any]] = [
        {
            "record": LATENCY,
            "expr": f"histogram_quantile({q}, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket[5m])))",
            "labels": {"app": APP, "quantile": q},
        }
        for q in QUANTILES
    ]
    rules += [
        {
            "record": REQUESTS,
            "expr": "sum(rate(vllm:request_success_total[2m]))",
            "labels": {"app": APP},
        },
        {"record": TTFT_P99, "expr": _p99("vllm:time_to_first_token_seconds"), "labels": {"app": APP}},
        {"record": ITL_P99, "expr": _p99("vllm:inter_token_latency_seconds"), "labels": {"app": APP}},
        {
            "record": ERROR_RATIO,
            "expr": (
                f'sum(rate(http_requests_total{{{API_HANDLERS},status="5xx"}}[5m]))'
                f" / sum(rate(http_requests_total{{{API_HANDLERS}}}[5m]))"
            ),
            "labels": {"app": APP},
        },
    ]
    return RuleGroup("deepseek-api-recording", tuple(rules))


def api_alerts(monitoring: Monitoring) -> RuleGroup:
    """The seed's alert, verbatim but for its threshold (the stack's), and the API's SLO alerts."""
    return RuleGroup(
        "deepseek-api-alerts",
        (
            # The seed's rule (section 2.3), with its summary and nothing added.
            {
                "alert": "HighLatency",
                "expr": f'{LATENCY}{{quantile="0.99"}} > {_number(monitoring.p99_latency_seconds)}',
                "for": "5m",
                "labels": {"severity": "critical"},
                "annotations": {"summary": "99th percentile latency exceeds threshold"},
            },
            _alert(
                "ApiErrorRatioHigh",
                f"{ERROR_RATIO} > {_number(monitoring.error_ratio)}",
                for_="5m",
                severity="critical",
                summary="Share of API requests answered 5xx exceeds threshold",
                description=f"{{{{ $value | humanizePercentage }}}} of requests failed over 5 minutes "
                f"(threshold {monitoring.error_ratio:.0%}).",
            ),
            # vLLM's counter above sees only what reaches a model server: a gateway that cannot
            # answer, or a mesh that refuses its connections, shows only where requests enter.
            _alert(
                "MeshIngressErrorRatioHigh",
                f"sum(rate(istio_requests_total{{{MESH_INGRESS},{SERVER_ERROR}}}[5m]))"
                f" / sum(rate(istio_requests_total{{{MESH_INGRESS}}}[5m]))"
                f" > {_number(monitoring.error_ratio)}",
                for_="5m",
                severity="critical",
                summary="Share of requests the mesh's ingress answered 5xx exceeds threshold",
                description=f"{{{{ $value | humanizePercentage }}}} of requests entering through the "
                f"ingress failed over 5 minutes (threshold {monitoring.error_ratio:.0%}): the gateway, "
                "the mesh or the model servers behind them.",
            ),
            _alert(
                "TimeToFirstTokenHigh",
                f"{TTFT_P99} > {_number(monitoring.ttft_p99_seconds)}",
                for_="10m",
                severity="warning",
                summary="99th percentile time to first token exceeds its SLO",
                description=f"p99 TTFT is {{{{ $value | humanizeDuration }}}} "
                f"(SLO {_number(monitoring.ttft_p99_seconds)} s).",
            ),
            _alert(
                "InterTokenLatencyHigh",
                f"{ITL_P99} > {_number(monitoring.inter_token_p99_seconds)}",
                for_="10m",
                severity="warning",
                summary="99th percentile inter-token latency exceeds its SLO",
                description=f"p99 inter-token latency is {{{{ $value | humanizeDuration }}}} "
                f"(SLO {_number(monitoring.inter_token_p99_seconds)} s).",
            ),
        ),
    )


def serving_alerts(monitoring: Monitoring) -> RuleGroup:
    """Capacity of the model servers: queues, KV cache, replicas, the scaler's ceiling."""
    ns = f'namespace="{SERVING_NAMESPACE}"'
    wanted = f"kube_deployment_spec_replicas{{{ns},{SERVER_DEPLOYMENTS}}}"
    available = f"kube_deployment_status_replicas_available{{{ns},{SERVER_DEPLOYMENTS}}}"
    return RuleGroup(
        "deepseek-serving-alerts",
        (
            _alert(
                "InferenceQueueDeep",
                f"max by (namespace, pod) (vllm:num_requests_waiting) > {monitoring.queue_depth}",
                for_="10m",
                severity="warning",
                summary="A model server keeps requests waiting",
                description=f"{{{{ $labels.pod }}}} has {{{{ $value }}}} requests waiting "
                f"(threshold {monitoring.queue_depth}).",
            ),
            _alert(
                "KvCacheSaturated",
                f"max by (namespace, pod) (vllm:kv_cache_usage_perc) > {_number(monitoring.kv_cache_usage)}",
                for_="10m",
                severity="warning",
                summary="A model server's KV cache is nearly full",
                description="{{ $labels.pod }} uses {{ $value | humanizePercentage }} of its KV cache; "
                "vLLM preempts and recomputes requests when it runs out.",
            ),
            _alert(
                "NoReadyInferenceReplica",
                f"sum({wanted}) > 0 and sum({available}) == 0",
                for_="5m",
                severity="critical",
                summary="No model server replica is available in this cluster",
                description="Replicas are wanted but none is available: the cluster serves nothing.",
            ),
            _alert(
                "InferenceReplicasBelowDesired",
                f"{wanted} > {available}",
                for_=f"{monitoring.replicas_pending_minutes}m",
                severity="warning",
                summary="A model server Deployment has fewer available replicas than it wants",
                description="{{ $labels.deployment }} has been short of replicas for "
                f"{monitoring.replicas_pending_minutes} minutes: no capacity, or replicas that do not start.",
            ),
            _alert(
                "InferenceScalerAtMax",
                f"kube_horizontalpodautoscaler_status_current_replicas{{{ns}}}"
                f" >= kube_horizontalpodautoscaler_spec_max_replicas{{{ns}}}",
                for_="15m",
                severity="warning",
                summary="A model server autoscaler is at its maximum",
                description="{{ $labels.horizontalpodautoscaler }} has run at its maximum replicas for "
                "15 minutes: the burst pool is full and further load queues.",
            ),
        ),
    )


def gpu_alerts(monitoring: Monitoring) -> RuleGroup:
    """GPU health from the DCGM exporter."""
    return RuleGroup(
        "gpu-alerts",
        (
            _alert(
                "GpuXidError",
                "DCGM_FI_DEV_XID_ERRORS > 0",
                for_="0m",
                severity="critical",
                summary="A GPU reported an XID error",
                description="GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}; "
                "see NVIDIA's XID catalog for whether the node must be drained.",
            ),
            _alert(
                "GpuTemperatureHigh",
                f"DCGM_FI_DEV_GPU_TEMP > {monitoring.gpu_temperature_celsius}",
                for_="10m",
                severity="warning",
                summary="A GPU runs hot",
                description=f"GPU {{{{ $labels.gpu }}}} on {{{{ $labels.Hostname }}}} is at {{{{ $value }}}} C "
                f"(threshold {monitoring.gpu_temperature_celsius} C).",
            ),
        ),
    )


def anomaly_group(monitoring: Monitoring) -> RuleGroup:
    """Request rate and p99 latency against the same hour last week, k standard deviations apart.

    Each hour's mean and deviation are recorded (a 1-hour window ending now), so the alert reads
    them a week back with ``offset 1w``: plain PromQL, no second system. The deviation has a floor
    from the stack, so that a flat hour last week does not turn every wobble into an anomaly. The
    rate alerts both ways (a drop is as suspicious as a surge); latency only when it rises. The
    group runs every 5 minutes: hour-long statistics need nothing fresher.
    """
    k = _number(monitoring.anomaly_stddevs)
    rps = f'{REQUESTS}{{app="{APP}"}}'
    p99 = f'{LATENCY}{{app="{APP}",quantile="0.99"}}'
    rate_floor = _number(monitoring.anomaly_min_requests_per_second)
    latency_floor = _number(monitoring.anomaly_min_latency_seconds)
    return RuleGroup(
        "deepseek-anomaly",
        interval="5m",
        rules=(
            {"record": REQUESTS_AVG_1H, "expr": f"avg_over_time({rps}[1h])"},
            {"record": REQUESTS_STDDEV_1H, "expr": f"stddev_over_time({rps}[1h])"},
            {"record": LATENCY_AVG_1H, "expr": f"avg_over_time({p99}[1h])"},
            {"record": LATENCY_STDDEV_1H, "expr": f"stddev_over_time({p99}[1h])"},
            _alert(
                "RequestRateAnomaly",
                f"abs({rps} - {REQUESTS_AVG_1H} offset 1w)"
                f" > {k} * clamp_min({REQUESTS_STDDEV_1H} offset 1w, {rate_floor})",
                for_="15m",
                severity="warning",
                summary="Request rate is far from the same hour last week",
                description=f"{{{{ $value }}}} requests/s from last week's mean, more than {k} standard deviations.",
            ),
            _alert(
                "LatencyAnomaly",
                f"{p99} - {LATENCY_AVG_1H} offset 1w"
                f" > {k} * clamp_min({LATENCY_STDDEV_1H} offset 1w, {latency_floor})",
                for_="15m",
                severity="warning",
                summary="p99 latency is far above the same hour last week",
                description=f"p99 latency is {{{{ $value | humanizeDuration }}}} above last week's mean, "
                f"more than {k} standard deviations.",
            ),
        ),
    )


# --- rules over every cluster of a cloud ---------------------------------------------------------


def _cluster_matcher(clusters: Sequence[str]) -> str:
    """``cluster=~"a|b"``: the clusters by the ``cluster`` label their samples carry. A dot (Pulumi
    stack names may hold one) becomes ``[.]``, which Prometheus 2 and 3 read alike and which needs
    no backslash inside a PromQL string."""
    if not clusters:
        raise ValueError("a rule over clusters needs at least one cluster")
    return 'cluster=~"' + "|".join(c.replace(".", "[.]") for c in clusters) + '"'


def core_regions_group(monitoring: Monitoring, core_clusters: Sequence[str]) -> RuleGroup:
    """Serving capacity over every core cluster of a store: what no single cluster's rules can see.

    Each core cluster's samples carry ``cluster=<name>`` (the Prometheus external label, or Managed
    Prometheus's resource label); a cluster counts as ready while at least one model-server replica
    is available in it. A core cluster whose samples stop arriving counts as not ready: its region
    serves nothing anyone can see. The alerts need replicas to be wanted somewhere in the core, so
    that an empty store (before any Prometheus writes to it) stays silent.

    With one or two core clusters "fewer than half ready" means "none ready", and both alerts fire
    together; the store's Alertmanager inhibits the warning while the page fires
    (``infra/aws/amp.py``), so each incident is one message.
    """
    sel = f'namespace="{SERVING_NAMESPACE}",{SERVER_DEPLOYMENTS},{_cluster_matcher(core_clusters)}'
    wanted = f"sum(kube_deployment_spec_replicas{{{sel}}}) > 0"
    ready = (
        f"(sum(sum by (cluster) (kube_deployment_status_replicas_available{{{sel}}}) > bool 0) or vector(0))"
    )
    names = ", ".join(core_clusters)
    half = len(core_clusters) / 2
    return RuleGroup(
        "deepseek-global-core",
        (
            _alert(
                "NoReadyReplicaInAnyCoreRegion",
                f"{ready} == 0 and {wanted}",
                for_="5m",
                severity="critical",
                summary="No core region has a ready model server replica",
                description=f"Replicas are wanted in the core clusters ({names}) and none of them has one "
                "available: only burst capacity, if any, serves the API.",
            ),
            _alert(
                "CoreCapacityDegraded",
                f"{ready} < {_number(half)} and {wanted}",
                for_=f"{monitoring.replicas_pending_minutes}m",
                severity="warning",
                summary="Fewer than half the core regions have a ready model server replica",
                description=f"{{{{ $value }}}} of {len(core_clusters)} core clusters ({names}) have a ready "
                "replica: the rest of the core carries their traffic.",
            ),
        ),
    )


def burst_pressure_group(burst_clusters: Sequence[str]) -> RuleGroup:
    """Burst pressure over every burst cluster of a store: each one's autoscalers at their maximum.

    One cluster at its ceiling is ``InferenceScalerAtMax`` in that cluster; every burst cluster at
    its ceiling means the overflow has nowhere left to go and further load queues. A cluster
    counts as full when the replicas of all its serving autoscalers have reached their maxima.
    """
    sel = f'namespace="{SERVING_NAMESPACE}",{_cluster_matcher(burst_clusters)}'
    full = (
        f"sum by (cluster) (kube_horizontalpodautoscaler_status_current_replicas{{{sel}}})"
        f" >= sum by (cluster) (kube_horizontalpodautoscaler_spec_max_replicas{{{sel}}})"
    )
    return RuleGroup(
        "deepseek-global-burst",
        (
            _alert(
                "BurstCapacityExhausted",
                f"count({full}) >= {len(burst_clusters)}",
                for_="15m",
                severity="critical",
                summary="Every burst cluster runs at its maximum replicas",
                description=f"All {len(burst_clusters)} burst clusters ({', '.join(burst_clusters)}) have run "
                "at their autoscalers' maximum for 15 minutes: overflow has nowhere left to go.",
            ),
        ),
    )


def rule_groups(monitoring: Monitoring) -> list[RuleGroup]:
    """Every rule group a cluster evaluates, in the order the rule files are written."""
    return [
        recording_group(),
        api_alerts(monitoring),
        serving_alerts(monitoring),
        gpu_alerts(monitoring),
        anomaly_group(monitoring),
    ]


def rule_file(groups: Iterable[RuleGroup]) -> dict[str, Any]:
    """A Prometheus rule file (what promtool reads) holding the groups."""
    return {"groups": [g.to_dict() for g in groups]}


# --- what a rule reads ---------------------------------------------------------------------------

_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
    | {"inf", "nan", "atan2", "start", "end"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_BRACES = re.compile(r"\{[^}]*\}")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")


def series_read(expr: str) -> set[str]:
    """The metric names an expression selects (functions, keywords and label names left out)."""
    text = _STRING.sub('""', expr)
    text = _BRACES.sub("", text)
    text = _BRACKETS.sub("", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _NAME.findall(text) if name.lower() not in _KEYWORDS}


def unexported(groups: Iterable[RuleGroup], exported: Iterable[str]) -> dict[str, set[str]]:
    """Per rule, the series it reads that neither an exporter nor a recording rule produces."""
    groups = list(groups)
    known = set(exported) | {r["record"] for g in groups for r in g.rules if "record" in r}
    missing: dict[str, set[str]] = {}
    for group in groups:
        for rule in group.rules:
            unknown = series_read(rule["expr"]) - known
            if unknown:
                missing[rule.get("alert") or rule["record"]] = unknown
    return missing
