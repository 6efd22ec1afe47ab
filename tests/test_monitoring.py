"""Rules as code: the seed's alert as written, thresholds from the stack, every series traced to an exporter."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from inferstack.engine import Graph
from infra.monitoring.metrics import MetricsTable, metrics_table
from infra.monitoring.rules import (
    RuleGroup,
    burst_pressure_group,
    core_regions_group,
    rule_groups,
    series_read,
    unexported,
)
from infra.settings import Monitoring
from tests.conftest import planned, stack_variant
from tests.test_settings import broken

PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CLUSTER_RULES = "kubernetes:monitoring.googleapis.com/v1:ClusterRules"


def _rules(monitoring: Monitoring) -> dict[str, dict[str, Any]]:
    """Every rule by its alert name, or by record name and labels for recording rules."""
    out: dict[str, dict[str, Any]] = {}
    for group in rule_groups(monitoring):
        for rule in group.rules:
            key = rule.get("alert") or f"{rule['record']}{sorted((rule.get('labels') or {}).items())}"
            assert key not in out, key
            out[key] = rule
    return out


def test_the_seeds_alert_as_written() -> None:
    assert _rules(Monitoring())["HighLatency"] == {
        "alert": "HighLatency",
        "expr": 'deepseek_api_latency_seconds{quantile="0.99"} > 1.5',
        "for": "5m",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "99th percentile latency exceeds threshold"},
    }


def test_the_seeds_metric_names_are_recorded_with_app_deepseek() -> None:
    records = [r for r in _rules(Monitoring()).values() if "record" in r]
    latency = {r["labels"]["quantile"]: r for r in records if r["record"] == "deepseek_api_latency_seconds"}
    assert sorted(latency) == ["0.5", "0.9", "0.99"]
    assert all(r["labels"]["app"] == "deepseek" for r in latency.values())
    assert "vllm:e2e_request_latency_seconds_bucket" in latency["0.99"]["expr"]
    rate = [r for r in records if r["record"] == "deepseek_api_requests_per_second"]
    assert len(rate) == 1 and rate[0]["labels"] == {"app": "deepseek"}


SETTING_IN_ALERT = [
    ("p99LatencySeconds", 2.25, "HighLatency", "> 2.25"),
    ("errorRatio", 0.02, "ApiErrorRatioHigh", "> 0.02"),
    ("ttftP99Seconds", 4, "TimeToFirstTokenHigh", "> 4"),
    ("interTokenP99Seconds", 0.07, "InterTokenLatencyHigh", "> 0.07"),
    ("queueDepth", 33, "InferenceQueueDeep", "> 33"),
    ("kvCacheUsage", 0.8, "KvCacheSaturated", "> 0.8"),
    ("gpuTemperatureCelsius", 80, "GpuTemperatureHigh", "> 80"),
    ("anomalyStddevs", 4.5, "RequestRateAnomaly", "> 4.5 *"),
    ("anomalyStddevs", 4.5, "LatencyAnomaly", "> 4.5 *"),
    ("anomalyMinRequestsPerSecond", 7, "RequestRateAnomaly", "offset 1w, 7)"),
    ("anomalyMinLatencySeconds", 0.2, "LatencyAnomaly", "offset 1w, 0.2)"),
]


@pytest.mark.parametrize(("key", "value", "alert", "fragment"), SETTING_IN_ALERT)
def test_each_threshold_comes_from_the_stack(key: str, value: float, alert: str, fragment: str) -> None:
    default = _rules(Monitoring())[alert]["expr"]
    changed = _rules(Monitoring.model_validate({key: value}))[alert]["expr"]
    assert fragment in changed and fragment not in default


def test_replicas_pending_minutes_is_the_alerts_wait() -> None:
    rules = _rules(Monitoring.model_validate({"replicasPendingMinutes": 40}))
    assert rules["InferenceReplicasBelowDesired"]["for"] == "40m"
    assert _rules(Monitoring())["InferenceReplicasBelowDesired"]["for"] == "15m"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("errorRatio", 1.2),
        ("kvCacheUsage", 0),
        ("queueDepth", 0),
        ("anomalyStddevs", -1),
        ("gpuTemperatureCelsius", 200),
        ("replicasPendingMinutes", 0),
    ],
)
def test_a_bad_monitoring_value_is_one_line_naming_its_key(key: str, value: float) -> None:
    message = broken("dev", lambda v: v.setdefault("monitoring", {}).update({key: value}))
    assert f"inferstack:monitoring.{key}" in message and str(value) in message


# --- every series a rule reads is exported --------------------------------------------------------


def test_every_series_a_rule_reads_has_an_exporter_row() -> None:
    groups = [
        *rule_groups(Monitoring()),
        core_regions_group(Monitoring(), ["core-a", "core-b"]),
        burst_pressure_group(["burst-a"]),
    ]
    read = {name for g in groups for r in g.rules for name in series_read(r["expr"])}
    assert "vllm:e2e_request_latency_seconds_bucket" in read and "DCGM_FI_DEV_XID_ERRORS" in read
    assert unexported(groups, metrics_table().exported()) == {}


def test_a_rule_reading_a_series_nobody_exports_is_caught() -> None:
    # vLLM's v0 name for the KV-cache gauge: a dashboard written for it silently shows nothing.
    stale = RuleGroup("stale", ({"alert": "Old", "expr": "vllm:gpu_cache_usage_perc > 0.9"},))
    assert unexported([*rule_groups(Monitoring()), stale], metrics_table().exported()) == {
        "Old": {"vllm:gpu_cache_usage_perc"}
    }


def test_a_series_recorded_by_a_rule_counts_as_produced() -> None:
    chained = RuleGroup(
        "chain",
        ({"record": "a:b", "expr": "sum(vllm:num_requests_waiting)"}, {"alert": "X", "expr": "a:b > 1"}),
    )
    assert unexported([chained], metrics_table().exported()) == {}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{le="1", x=~"b.c"}[5m]))', {"a_bucket"}),
        ("x - y offset 1w > 3 * clamp_min(z offset 1w, 1e-3)", {"x", "y", "z"}),
        ("a > on(pod) group_left(node) b unless c", {"a", "b", "c"}),
        ('label_replace(up, "dst", "$1", "src", "(.*)")', {"up"}),
        ("vllm:num_requests_waiting > 10", {"vllm:num_requests_waiting"}),
    ],
)
def test_series_read_sees_metric_names_only(expr: str, names: set[str]) -> None:
    assert series_read(expr) == names


def test_the_metrics_table_is_dated_and_sourced() -> None:
    table = metrics_table()
    assert dt.date(2026, 1, 1) <= table.as_of <= dt.date.today()
    assert table.sources
    assert table.exporters["vllm"].version.startswith("v0.")
    assert all(e.doc.startswith("https://") for e in table.exporters.values())


def test_the_table_refuses_a_row_naming_an_unknown_exporter() -> None:
    data = yaml.safe_load(
        """
        asOf: "2026-11-30"
        sources: [x]
        exporters: {vllm: {version: v1, doc: "https://x", runs: x}}
        metrics: [{name: up, type: gauge, exporter: nobody}]
        """
    )
    with pytest.raises(ValidationError, match="nobody"):
        MetricsTable(**data)


def test_the_table_refuses_a_metric_listed_twice() -> None:
    data = yaml.safe_load(
        """
        asOf: "2026-11-30"
        sources: [x]
        exporters: {vllm: {version: v1, doc: "https://x", runs: x}}
        metrics: [{name: up, type: gauge, exporter: vllm}, {name: up, type: counter, exporter: vllm}]
        """
    )
    with pytest.raises(ValidationError, match="twice"):
        MetricsTable(**data)


# --- the rules in the clusters ---------------------------------------------------------------------


def _rule_objects(graph: Graph, kind: str) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in graph.resources if r.type == kind}


def test_prod_eks_clusters_get_prometheus_rules_after_the_operators_crds() -> None:
    graph = planned("prod")
    rules = _rule_objects(graph, PROMETHEUS_RULE)
    assert "core-use1-monitoring-deepseek-api-alerts" in rules
    alerts = rules["core-use1-monitoring-deepseek-api-alerts"]
    assert alerts["metadata"]["namespace"] == "monitoring"
    [group] = alerts["spec"]["groups"]
    assert group["rules"][0]["alert"] == "HighLatency"
    crds = [
        r
        for r in graph.resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.name == "core-use1-monitoring-operator-crds"
    ]
    assert len(crds) == 1 and crds[0].inputs["version"] == "31.0.1"
    rule = next(r for r in graph.resources if r.name == "core-use1-monitoring-deepseek-api-alerts")
    assert crds[0].urn in rule.dependencies


def test_prod_gke_cluster_gets_managed_prometheus_cluster_rules() -> None:
    graph = planned("prod")
    rules = _rule_objects(graph, CLUSTER_RULES)
    assert sorted(rules) == sorted(f"burst-usc1-monitoring-{g.name}" for g in rule_groups(Monitoring()))
    assert all("namespace" not in r["metadata"] for r in rules.values())
    assert not [n for n in _rule_objects(graph, PROMETHEUS_RULE) if n.startswith("burst-usc1")]


def test_an_existing_cluster_gets_no_rule_objects() -> None:
    graph = planned("onprem")
    names = set(_rule_objects(graph, PROMETHEUS_RULE)) | set(_rule_objects(graph, CLUSTER_RULES))
    assert any(n.startswith("burst-use2-monitoring-") for n in names)
    assert not any(n.startswith("onprem-core") for n in names)


def test_the_stacks_threshold_reaches_the_clusters(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = stack_variant(
        tmp_path_factory,
        "dev",
        "    retentionDays: 7\n",
        "    retentionDays: 7\n    p99LatencySeconds: 2.5\n",
    )
    alerts = [
        r.inputs["spec"]["groups"][0]["rules"][0]
        for r in graph.resources
        if r.type in (PROMETHEUS_RULE, CLUSTER_RULES)
        and r.inputs["metadata"]["name"] == "deepseek-api-alerts"
    ]
    assert alerts and all(a["expr"] == 'deepseek_api_latency_seconds{quantile="0.99"} > 2.5' for a in alerts)
