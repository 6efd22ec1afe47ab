"""The monitoring stack's rules in every cloud cluster, as the cluster's Prometheus reads them.

The rule groups come from ``infra.monitoring.rules`` (the stack's `monitoring` thresholds); here they
become objects, through each cluster's own Kubernetes provider:
  - GKE: one ``ClusterRules`` per group (monitoring.googleapis.com/v1). GKE already runs Google
    Managed Prometheus (the clusters enable managed collection, infra/gcp/gke.py), whose rule
    evaluator reads them; ClusterRules rather than namespaced Rules because the rules read
    kube-state-metrics and the DCGM exporter, which do not run in the serving namespace (GMP docs,
    "Managed rule evaluation and alerting": Rules are scoped to their namespace, ClusterRules to the
    cluster; https://cloud.google.com/stackdriver/docs/managed-prometheus/rules-managed).
  - EKS: one ``PrometheusRule`` per group (monitoring.coreos.com/v1) in the namespace `monitoring`,
    with the Prometheus Operator's CRDs from their own pinned chart, so that the objects can exist
    before, and independently of, the Prometheus that evaluates them.
  - Existing clusters get none: they run a monitoring stack of their own, which may already own the
    Prometheus Operator's CRDs (a second owner would fail the install); their operators can load
    the rule files `inferstack render` writes for a cloud cluster.

Collection on GKE is Managed Prometheus's, which the cluster already runs (no second stack): a
``ClusterPodMonitoring`` scrapes every vLLM pod, in whichever namespace the serving layer puts it.
On EKS, ``PodMonitor`` objects for vLLM and the gateway wait, with the rules, for the Prometheus that
reads them: kube-prometheus-stack is not built yet, because its Prometheus needs persistent
volumes, which need the EBS CSI driver the clusters do not run yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from infra.monitoring.rules import RuleGroup, rule_groups
from infra.parts import ClusterParts
from infra.settings import PROJECT, Cloud, Settings

NAMESPACE = "monitoring"

OPERATOR_CRDS_CHART = "prometheus-operator-crds"
OPERATOR_CRDS_VERSION = "31.0.1"
"""The Prometheus Operator v0.93.1's CRDs: the operator kube-prometheus-stack 88.5.3 runs (both charts'
Chart.yaml at their tags in prometheus-community/helm-charts, prometheus-operator-crds-31.0.1 and
kube-prometheus-stack-88.5.3)."""
OPERATOR_CRDS_REPOSITORY = "https://prometheus-community.github.io/helm-charts"

LABELS = {"app.kubernetes.io/part-of": PROJECT, "app.kubernetes.io/component": "monitoring"}

SERVER_SELECTOR = {"app.kubernetes.io/name": "vllm"}
"""The label every model-server pod carries (infra/k8s/serving.py)."""
SERVER_METRICS_PORT = "http"
"""The named container port vLLM serves its API and /metrics on (infra/k8s/serving.py)."""
GATEWAY_SELECTOR = {"app": "deepseek"}
"""The label of the gateway's pods (infra/k8s/gateway.py APP)."""
GATEWAY_METRICS_PATH = "/metrics/"
"""LiteLLM serves Prometheus metrics (free at the pinned release, docs/gateway.md) from a
prometheus_client ASGI app mounted at /metrics, which answers /metrics with a redirect to
/metrics/ (https://docs.litellm.ai/docs/proxy/prometheus; the published LiteLLM dashboard's scrape
job uses metrics_path "/metrics/", https://grafana.com/grafana/dashboards/24965); the slash saves
the redirect."""
SCRAPE_INTERVAL = "30s"
"""As often as the recording rules evaluate; a rate window of 2 minutes then holds four samples."""


def _server_scrape() -> dict[str, object]:
    """The ClusterPodMonitoring spec for vLLM (prometheus-engine, pkg/operator/apis/monitoring/v1:
    ClusterPodMonitoringSpec; targetLabels.metadata defaults to container, namespace, pod and the
    top-level controller, the labels the rules group by)."""
    return {
        "selector": {"matchLabels": SERVER_SELECTOR},
        "endpoints": [{"port": SERVER_METRICS_PORT, "path": "/metrics", "interval": SCRAPE_INTERVAL}],
    }


def pod_monitors() -> dict[str, dict[str, object]]:
    """The Prometheus Operator's PodMonitor specs on EKS, by name: vLLM and the gateway, in any
    namespace (the serving layer and the gateway choose theirs). Field names from the
    monitoring.coreos.com/v1 PodMonitor CRD of prometheus-operator-crds 31.0.1 (selector required;
    namespaceSelector.any; podMetricsEndpoints port, path, interval)."""
    return {
        "vllm": {
            "selector": {"matchLabels": SERVER_SELECTOR},
            "namespaceSelector": {"any": True},
            "podMetricsEndpoints": [
                {"port": SERVER_METRICS_PORT, "path": "/metrics", "interval": SCRAPE_INTERVAL}
            ],
        },
        "gateway": {
            "selector": {"matchLabels": GATEWAY_SELECTOR},
            "namespaceSelector": {"any": True},
            "podMetricsEndpoints": [
                {"port": "http", "path": GATEWAY_METRICS_PATH, "interval": SCRAPE_INTERVAL}
            ],
        },
    }


class ClusterMonitoring(pulumi.ComponentResource):
    """The rule objects of one cluster."""

    def __init__(
        self,
        name: str,
        *,
        cloud: Cloud,
        groups: Sequence[RuleGroup],
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("inferstack:k8s:ClusterMonitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.rules: list[k8s.apiextensions.CustomResource] = []
        if cloud is Cloud.GCP:
            self.scrape = k8s.apiextensions.CustomResource(
                f"{name}-vllm",
                api_version="monitoring.googleapis.com/v1",
                kind="ClusterPodMonitoring",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="vllm", labels=LABELS),
                spec=_server_scrape(),
                opts=child,
            )
            for group in groups:
                self.rules.append(
                    k8s.apiextensions.CustomResource(
                        f"{name}-{group.name}",
                        api_version="monitoring.googleapis.com/v1",
                        kind="ClusterRules",
                        metadata=k8s.meta.v1.ObjectMetaArgs(name=group.name, labels=LABELS),
                        spec={"groups": [group.to_dict()]},
                        opts=child,
                    )
                )
        else:
            # Not labelled for the restricted Pod Security level like the serving namespace: the
            # node exporter that collection adds here needs the host's network and process table.
            # The DCGM exporter here (infra/k8s/gpu_metrics.py) needs the level privileged, not
            # baseline: a hostPath volume (the kubelet's pod-resources socket) and root with SYS_ADMIN.
            namespace = k8s.core.v1.Namespace(
                f"{name}-ns",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=NAMESPACE, labels=LABELS),
                opts=child,
            )
            crds = k8s.helm.v3.Release(
                f"{name}-operator-crds",
                k8s.helm.v3.ReleaseArgs(
                    name=OPERATOR_CRDS_CHART,
                    namespace=NAMESPACE,
                    chart=OPERATOR_CRDS_CHART,
                    version=OPERATOR_CRDS_VERSION,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=OPERATOR_CRDS_REPOSITORY),
                ),
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[namespace])),
            )
            self.monitors = [
                k8s.apiextensions.CustomResource(
                    f"{name}-{monitor}",
                    api_version="monitoring.coreos.com/v1",
                    kind="PodMonitor",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=monitor, namespace=NAMESPACE, labels=LABELS),
                    spec=spec,
                    opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[crds])),
                )
                for monitor, spec in pod_monitors().items()
            ]
            for group in groups:
                self.rules.append(
                    k8s.apiextensions.CustomResource(
                        f"{name}-{group.name}",
                        api_version="monitoring.coreos.com/v1",
                        kind="PrometheusRule",
                        metadata=k8s.meta.v1.ObjectMetaArgs(
                            name=group.name, namespace=NAMESPACE, labels=LABELS
                        ),
                        spec={"groups": [group.to_dict()]},
                        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[crds])),
                    )
                )
        self.register_outputs({})


def build_monitoring(settings: Settings, parts: Mapping[str, ClusterParts]) -> dict[str, ClusterMonitoring]:
    """The rules in every EKS and GKE cluster; the same groups everywhere, from the stack's thresholds."""
    groups = rule_groups(settings.monitoring)
    built: dict[str, ClusterMonitoring] = {}
    for name, part in parts.items():
        if part.cluster.cloud is Cloud.EXISTING or part.kubernetes is None:
            continue
        built[name] = ClusterMonitoring(
            f"{name}-monitoring", cloud=part.cluster.cloud, groups=groups, provider=part.kubernetes
        )
    return built
