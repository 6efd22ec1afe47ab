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

Collection on GKE writes to Managed Prometheus, so the rules, KEDA's queries and the dashboards
read the same store, but vLLM and the gateway are not scraped by GKE's managed collectors: those
run in ``gmp-system``, outside the mesh, and under STRICT mTLS ztunnel refuses their plain text. A
port-level PERMISSIVE exception would not do: vLLM and LiteLLM serve their metrics on their API
ports, so where it works it opens the API to plain text as well (istiod turns the exception into a
ztunnel DENY policy that spares the whole port, istio/istio architecture/ambient/peer-authentication.md),
and beside a namespace-wide STRICT it may not work at all (any matching DENY wins: the comment above
``PeerAuthDerivedPolicies`` in pilot/pkg/serviceregistry/ambient/policies.go). Instead a collector
runs inside the mesh: GMP's
"self-deployed collection" (https://cloud.google.com/stackdriver/docs/managed-prometheus/setup-unmanaged),
Google's Prometheus fork, which exports what it scrapes to Managed Prometheus, in the namespace
``monitoring``, labelled for the ambient mesh, as a Google service account with
``roles/monitoring.metricWriter`` only. It scrapes exactly the pods the EKS PodMonitors select
(``pod_monitors``), with the labels GMP's own ClusterPodMonitoring gives them. Managed collection
stays on for what runs outside the mesh (kube-state-metrics, DCGM: infra/gcp/gke.py).

On EKS, kube-prometheus-stack (pinned, ``STACK_VERSION``) runs in ``monitoring``: a Prometheus that
evaluates the PrometheusRules and scrapes the PodMonitors above (its selectors take every such
object in its namespace), with the stack's retention on an encrypted gp3 volume (the EBS CSI
add-on, infra/aws/eks.py, binds it); Alertmanager, which sends each severity to that severity's
SNS topic in the cluster's region (infra/aws/alerting.py fans a topic out to exactly the receivers
that take it); Grafana with the dashboards sidecar (infra/k8s/dashboards.py); node-exporter and
kube-state-metrics, which the capacity rules read. The namespace is in the ambient mesh: under
STRICT mTLS only a scraper with a mesh identity reads vLLM and LiteLLM, whose metrics share their
API port. With a ``MetricsStore`` (an Amazon Managed Service for Prometheus workspace) Prometheus
also remote-writes there, so that rules over every cluster evaluate where all samples meet.
Alertmanager, and Prometheus when it writes to a store, get Pod Identity roles of their own that
may do exactly that and nothing else.

Both collection paths also scrape the mesh itself (``MESH_SCRAPES``: istiod, ztunnel, the CNI agent,
the ingress proxy), from the same rows, so that a control plane that stops pushing or a ztunnel
that refuses connections shows in the same store as the requests it affects. Those pods are not in
the ambient mesh: the scrape is plain text, to their metrics port only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.aws.alerting import SEVERITIES
from infra.aws.eks import EksCluster
from infra.data import NAMESPACE as INFERENCE
from infra.data import namespace_labels
from infra.k8s import SYSTEM_PRIORITY_CLASS
from infra.k8s.addons.iam import POD_IDENTITY_TRUST
from infra.k8s.addons.values import NON_ROOT_POD, RESTRICTED, resources
from infra.k8s.mesh import AMBIENT
from infra.k8s.mesh import INGRESS_NAMESPACE as MESH_INGRESS
from infra.k8s.mesh import INGRESS_SELECTOR as MESH_INGRESS_SELECTOR
from infra.k8s.mesh import PEER_SELECTOR as MESH_PEER_SELECTOR
from infra.k8s.mesh import SYSTEM_NAMESPACE as MESH_SYSTEM
from infra.k8s.serving import NAMESPACE as SERVING
from infra.monitoring.rules import STACK_LABEL, RuleGroup, rule_groups, stack_label
from infra.naming import AUTONAMED_MAX, resource_name
from infra.parts import ClusterParts, MetricsStore, Providers
from infra.settings import PROJECT, Cloud, Monitoring, Settings

NAMESPACE = "monitoring"

OPERATOR_CRDS_CHART = "prometheus-operator-crds"
OPERATOR_CRDS_VERSION = "31.0.1"
"""The Prometheus Operator v0.93.1's CRDs: the operator kube-prometheus-stack 88.5.3 runs (both charts'
Chart.yaml at their tags in prometheus-community/helm-charts, prometheus-operator-crds-31.0.1 and
kube-prometheus-stack-88.5.3)."""
OPERATOR_CRDS_REPOSITORY = "https://prometheus-community.github.io/helm-charts"

STACK_CHART = "kube-prometheus-stack"
STACK_VERSION = "88.5.3"
"""Chart.yaml at tag kube-prometheus-stack-88.5.3 of prometheus-community/helm-charts: appVersion
v0.93.1 (the operator whose CRDs prometheus-operator-crds 31.0.1 installs), kubeVersion >=1.25.0-0;
subcharts kube-state-metrics 8.4.0, prometheus-node-exporter 4.56.1, grafana 12.11.1. Every values
key set here is read from that tag's values.yaml."""
STACK_REPOSITORY = OPERATOR_CRDS_REPOSITORY
STACK_RELEASE = STACK_CHART
"""Release name and ``fullnameOverride``: the chart names its objects ``<fullname>-<component>``, so the
Prometheus Service is ``kube-prometheus-stack-prometheus`` (infra/k8s/gateway.py EKS_PROMETHEUS)."""
PROMETHEUS_ACCOUNT = f"{STACK_RELEASE}-prometheus"
ALERTMANAGER_ACCOUNT = f"{STACK_RELEASE}-alertmanager"
"""The service accounts, named here (values ``prometheus.serviceAccount.name``,
``alertmanager.serviceAccount.name``) because the Pod Identity associations name them."""
IMAGE_TAGS: Mapping[str, str] = {
    "prometheus": "v3.14.0-distroless",
    "alertmanager": "v0.34.0",
    "operator": "v0.93.1",
}
"""The chart's own image tags at 88.5.3 (values.yaml ``prometheus.prometheusSpec.image.tag``,
``alertmanager.alertmanagerSpec.image.tag``; the operator and its config reloader at appVersion),
set explicitly so that no image follows a chart default."""
STORAGE_CLASS = "gp3"
STORAGE_SHARE = 0.9
"""Prometheus drops its oldest blocks beyond this share of its volume (``retentionSize``), so that a
busier week than planned shortens the retention instead of filling the disk."""
RESOURCES: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "prometheus": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}},
    "alertmanager": {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "200m", "memory": "256Mi"},
    },
    "operator": {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    },
    "grafana": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
    "kube-state-metrics": {
        "requests": {"cpu": "50m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    },
    "node-exporter": {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "250m", "memory": "128Mi"},
    },
}
"""Requests that fit a quiet cluster and limits that stop a runaway before it starves its node: a
Prometheus of a few GPU clusters holds well under a million series (about 2-4 GiB of head)."""
UNSCRAPABLE_ON_EKS = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")
"""The chart's ServiceMonitors for control-plane parts EKS runs out of reach (and kube-proxy, which
binds its metrics to the node's loopback): left on, each would only raise TargetDown."""

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


@dataclass(frozen=True, kw_only=True)
class Scrape:
    """One set of pods whose metrics the cluster's Prometheus collects: the one description the EKS
    PodMonitors and the GKE collector's scrape jobs are both built from, so they cannot drift."""

    name: str
    selector: Mapping[str, str]
    port: str
    """The pods' named container port."""
    path: str
    namespace: str
    """Where the pods run (the GKE collector discovers pods there only)."""


APP_SCRAPES: tuple[Scrape, ...] = (
    Scrape(
        name="vllm", selector=SERVER_SELECTOR, port=SERVER_METRICS_PORT, path="/metrics", namespace=SERVING
    ),
    Scrape(
        name="gateway", selector=GATEWAY_SELECTOR, port="http", path=GATEWAY_METRICS_PATH, namespace=INFERENCE
    ),
)


@dataclass(frozen=True, kw_only=True)
class MeshScrape(Scrape):
    """A component of the mesh itself (infra/k8s/mesh.py). Its pods are not in the ambient mesh (the
    charts label them ``istio.io/dataplane-mode: none``, and istio-system and istio-ingress carry no
    ambient label), so the scrape is plain text on the pod's own address: no HBONE, and the
    namespace's default-deny must admit the port itself (infra/k8s/netpol.py ``mesh_scrape_edges``)."""

    number: int
    """The named port's number, which a NetworkPolicy names."""


MESH_SCRAPES: tuple[MeshScrape, ...] = (
    # istio/istio 1.30.3 manifests/charts/istio-control/istio-discovery/templates/deployment.yaml:
    # pod label app: istiod, container port 15014 "http-monitoring" (--monitoringAddr=:15014), served at
    # /metrics (pilot/pkg/bootstrap/monitoring.go metricsPath).
    MeshScrape(
        name="istiod",
        selector={"app": "istiod"},
        port="http-monitoring",
        number=15014,
        path="/metrics",
        namespace=MESH_SYSTEM,
    ),
    # manifests/charts/ztunnel/templates/daemonset.yaml at 1.30.3: pod label app: ztunnel, container
    # port 15020 "ztunnel-stats", no hostNetwork (in-pod mode); istio/ztunnel 1.30.3 src/config.rs
    # binds the stats server to the wildcard address on 15020, src/metrics/server.rs answers /metrics.
    MeshScrape(
        name="ztunnel",
        selector={"app": "ztunnel"},
        port="ztunnel-stats",
        number=15020,
        path="/metrics",
        namespace=MESH_SYSTEM,
    ),
    # manifests/charts/istio-cni/templates/daemonset.yaml at 1.30.3: pod label k8s-app: istio-cni-node,
    # container port 15014 "metrics" (the chart's own prometheus.io annotations name /metrics;
    # cni/pkg/cmd/root.go serves it there); hostNetwork only with ambient.shareHostNetworkNamespace,
    # false by default and not set here.
    MeshScrape(
        name="istio-cni",
        selector={"k8s-app": "istio-cni-node"},
        port="metrics",
        number=15014,
        path="/metrics",
        namespace=MESH_SYSTEM,
    ),
    # The ingress (gateway chart 1.30.3, templates/deployment.yaml; istiod's gateway injection template
    # adds the same port): container istio-proxy, port 15090 "http-envoy-prom", Envoy's own
    # /stats/prometheus (tools/packaging/common/envoy_bootstrap.json), istio_requests_total among them.
    # Not 15020, the agent's merged endpoint the chart's prometheus.io annotations name: no container
    # port names it, and a PodMonitor (as the collector's job) selects a named port.
    MeshScrape(
        name="istio-ingress",
        selector=dict(MESH_INGRESS_SELECTOR),
        port="http-envoy-prom",
        number=15090,
        path="/stats/prometheus",
        namespace=MESH_INGRESS,
    ),
    # The peer entrance: a second release of the same chart (infra/k8s/mesh.py PEER), the same port.
    # Selects nothing on a cluster without one.
    MeshScrape(
        name="istio-peer",
        selector=dict(MESH_PEER_SELECTOR),
        port="http-envoy-prom",
        number=15090,
        path="/stats/prometheus",
        namespace=MESH_INGRESS,
    ),
)
"""The mesh's own metrics: istiod (xDS pushes, certificate signing), ztunnel (every L4 connection
it carries), the CNI agent (pods it redirected or failed to), the ingress proxy (every request
from the edge, with its response code)."""

SCRAPES: tuple[Scrape, ...] = (*APP_SCRAPES, *MESH_SCRAPES)


def pod_monitors() -> dict[str, dict[str, object]]:
    """The Prometheus Operator's PodMonitor specs on EKS, by name: vLLM and the gateway in any
    namespace (the serving layer and the gateway choose theirs), the mesh's components in their
    own namespace only (a pod elsewhere labelled ``app: istiod`` is not the control plane). Field
    names from the monitoring.coreos.com/v1 PodMonitor CRD of prometheus-operator-crds 31.0.1
    (selector required; namespaceSelector.any, .matchNames; podMetricsEndpoints port, path, interval)."""
    return {
        scrape.name: {
            "selector": {"matchLabels": dict(scrape.selector)},
            "namespaceSelector": (
                {"matchNames": [scrape.namespace]} if isinstance(scrape, MeshScrape) else {"any": True}
            ),
            "podMetricsEndpoints": [{"port": scrape.port, "path": scrape.path, "interval": SCRAPE_INTERVAL}],
        }
        for scrape in SCRAPES
    }


COLLECTOR = "gmp-collector"
"""The GKE collector's Helm release and Kubernetes service account."""
COLLECTOR_CHART = "prometheus"
COLLECTOR_CHART_VERSION = "29.27.0"
"""prometheus-community's ``prometheus`` chart, its server only: Chart.yaml at tag prometheus-29.27.0
in prometheus-community/helm-charts (appVersion v3.14.0, kubeVersion >=1.19.0-0). Every key set in
``collector_values`` was read in its values.yaml and templates (deploy.yaml, cm.yaml) at that tag:
``scrapeConfigs`` is a map whose entries take ``enabled``, the subcharts each take ``enabled``."""
COLLECTOR_REPOSITORY = OPERATOR_CRDS_REPOSITORY
COLLECTOR_IMAGE = "gke.gcr.io/prometheus-engine/prometheus"
COLLECTOR_TAG = "v2.53.5-gmp.2-gke.0"
"""Google's Prometheus fork, which exports what it scrapes to Managed Prometheus (GMP docs,
"Get started with self-deployed collection"): the tag GKE's managed collectors run
(GoogleCloudPlatform/prometheus-engine manifests/operator.yaml, commit 2ffde4ec, July 2026). On GKE
it reads project, location and cluster from the metadata server. Every flag the chart passes
(config.file, storage.tsdb.path, storage.tsdb.retention.time, web.console.*, web.enable-lifecycle)
exists in Prometheus 2.53."""
RELOADER_IMAGE = "quay.io/prometheus-operator/prometheus-config-reloader"
RELOADER_TAG = "v0.93.1"
"""The chart's own config reloader at 29.27.0 (values.yaml ``configmapReload.prometheus.image``)."""
COLLECTOR_ROLE = "roles/monitoring.metricWriter"
"""The one role the collector's Google service account holds: it writes samples and reads nothing
(GMP self-deployed docs, "Configure a service account for Workload Identity Federation for GKE")."""
COLLECTOR_RETENTION = "30m"
"""Samples go to Managed Prometheus as they are scraped; the local TSDB only buffers, as GKE's
managed collectors keep 30 minutes (manifests/operator.yaml, --storage.tsdb.retention.time)."""
COLLECTOR_PORTS = (9090, 8080)
"""The server's and the config reloader's container ports (the chart's defaults), probed by the kubelet."""
CHART_DEFAULT_JOBS = (
    "prometheus",
    "kubernetes-api-servers",
    "kubernetes-nodes",
    "kubernetes-nodes-cadvisor",
    "kubernetes-service-endpoints",
    "kubernetes-service-endpoints-slow",
    "prometheus-pushgateway",
    "kubernetes-services",
    "kubernetes-pods",
    "kubernetes-pods-slow",
)
"""The chart's default scrape jobs (values.yaml ``scrapeConfigs`` at 29.27.0), each switched off:
the collector scrapes what STRICT mTLS hides from the managed collectors and nothing else, so no
series reaches Managed Prometheus twice."""


def _meta_label(name: str) -> str:
    """Kubernetes service discovery's meta label of a pod label (invalid characters become _)."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", name)


def scrape_job(scrape: Scrape) -> dict[str, object]:
    """A Prometheus scrape config that finds the pods a ClusterPodMonitoring would and labels their
    series as it does (prometheus-engine pkg/operator/apis/monitoring/v1/pod_config.go: keep the
    selector's labels and the named port, drop Failed and Succeeded pods, ``namespace``, ``pod`` and
    ``container`` from the pod, ``instance`` as pod:port). The rules group by namespace and pod, and
    KEDA's query for the burst pools selects the gateway's namespace: same labels, same answers."""
    keep_selector = [
        {"source_labels": [_meta_label(key)], "regex": re.escape(value), "action": "keep"}
        for key, value in sorted(scrape.selector.items())
    ]
    return {
        "scrape_interval": SCRAPE_INTERVAL,
        "metrics_path": scrape.path,
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [scrape.namespace]}}],
        "relabel_configs": [
            *keep_selector,
            {
                "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                "regex": re.escape(scrape.port),
                "action": "keep",
            },
            {
                "source_labels": ["__meta_kubernetes_pod_phase"],
                "regex": "(Failed|Succeeded)",
                "action": "drop",
            },
            {
                "source_labels": ["__meta_kubernetes_namespace"],
                "target_label": "namespace",
                "action": "replace",
            },
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod", "action": "replace"},
            {
                "source_labels": ["__meta_kubernetes_pod_container_name"],
                "target_label": "container",
                "action": "replace",
            },
            {
                "source_labels": ["__meta_kubernetes_pod_name", "__meta_kubernetes_pod_container_port_name"],
                "regex": "(.+);(.+)",
                "replacement": "$1:$2",
                "target_label": "instance",
                "action": "replace",
            },
        ],
    }


def collector_values(google_service_account: pulumi.Input[str]) -> dict[str, object]:
    """The chart's values: the fork's image, one replica, no persistent volume, the scrape jobs of
    ``SCRAPES`` and nothing else, restricted pods, and the Kubernetes service account that Workload
    Identity maps to ``google_service_account``.

    One replica: two would each export the same samples (the fork deduplicates replicas only with
    its leader election, which needs more RBAC); a collector that restarts misses a minute of
    samples, which the rules' 2- and 5-minute windows and the alerts' ``for`` ride out. So no PDB.
    """
    jobs: dict[str, object] = {job: {"enabled": False} for job in CHART_DEFAULT_JOBS}
    jobs.update({scrape.name: scrape_job(scrape) for scrape in SCRAPES})
    return {
        "alertmanager": {"enabled": False},
        "kube-state-metrics": {"enabled": False},
        "prometheus-node-exporter": {"enabled": False},
        "prometheus-pushgateway": {"enabled": False},
        "serviceAccounts": {
            "server": {
                "create": True,
                "name": COLLECTOR,
                "annotations": {"iam.gke.io/gcp-service-account": google_service_account},
            }
        },
        "configmapReload": {
            "prometheus": {
                "image": {"repository": RELOADER_IMAGE, "tag": RELOADER_TAG},
                "containerSecurityContext": RESTRICTED,
                "resources": resources("10m", "32Mi", cpu_limit="100m", memory_limit="64Mi"),
            }
        },
        "server": {
            "image": {"repository": COLLECTOR_IMAGE, "tag": COLLECTOR_TAG},
            "replicaCount": 1,
            "priorityClassName": SYSTEM_PRIORITY_CLASS,
            "persistentVolume": {"enabled": False},
            "emptyDir": {"sizeLimit": "2Gi"},
            "retention": COLLECTOR_RETENTION,
            "global": {
                "scrape_interval": SCRAPE_INTERVAL,
                "scrape_timeout": "10s",
                "evaluation_interval": SCRAPE_INTERVAL,
            },
            # Nothing queries the collector: KEDA, the rules and the dashboards read Managed Prometheus.
            "service": {"enabled": False},
            "securityContext": NON_ROOT_POD,
            "containerSecurityContext": RESTRICTED,
            # GKE's managed collectors are limited to 2G; streaming to Managed Prometheus costs more
            # than a plain Prometheus (GMP self-deployed docs: plan for more CPU and memory).
            "resources": resources("100m", "512Mi", cpu_limit="1", memory_limit="2Gi"),
        },
        "scrapeConfigs": jobs,
    }


def routed(monitoring: Monitoring) -> list[str]:
    """The severities some receiver takes, in SEVERITIES order: each gets a route; others go nowhere."""
    taken = {s.value for r in monitoring.receivers for s in r.severities}
    return [s for s in SEVERITIES if s in taken]


def alertmanager_config(
    monitoring: Monitoring, region: str, topic_arns: Mapping[str, pulumi.Input[str]]
) -> dict[str, object]:
    """Alertmanager's configuration: one route per severity a receiver takes, to an Alertmanager
    receiver named after the severity whose one ``sns_configs`` entry publishes to that severity's
    topic in the cluster's region (SigV4 signed for it). The topic carries an e-mail subscription of
    every stack receiver that takes the severity and of no other (infra/aws/alerting.py), so one
    publish reaches exactly them; a route per stack receiver would send a receiver that shares a
    severity every alert twice. Alerts of other severities (the chart's Watchdog, ``none``) go to
    ``null``. Alertmanager docs, configuration, ``<sns_config>`` (topic_arn, sigv4.region, subject):
    https://prometheus.io/docs/alerting/latest/configuration/#sns_config."""
    routes: list[dict[str, object]] = []
    receivers: list[dict[str, object]] = [{"name": "null"}]
    for severity in routed(monitoring):
        if severity not in topic_arns:
            continue
        routes.append({"receiver": severity, "matchers": [f'severity="{severity}"']})
        receivers.append(
            {
                "name": severity,
                "sns_configs": [
                    {
                        "topic_arn": topic_arns[severity],
                        "sigv4": {"region": region},
                        "subject": f"[{severity}] {{{{ .CommonLabels.alertname }}}}",
                        "send_resolved": True,
                    }
                ],
            }
        )
    return {
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "receivers": receivers,
    }


def stack_values(
    monitoring: Monitoring,
    *,
    cluster: str,
    region: str,
    topic_arns: Mapping[str, pulumi.Input[str]],
    store: MetricsStore | None,
) -> dict[str, object]:
    """kube-prometheus-stack's values (keys from its values.yaml at 88.5.3)."""
    prometheus_spec: dict[str, object] = {
        "image": {"tag": IMAGE_TAGS["prometheus"]},
        # On every sample it writes to the shared store: the rules over every core cluster tell the
        # clusters apart by it (prometheusSpec.externalLabels).
        "externalLabels": external_labels(cluster),
        "retention": f"{monitoring.retention_days}d",
        "retentionSize": f"{int(monitoring.storage_gib * STORAGE_SHARE)}GB",
        "storageSpec": {
            "volumeClaimTemplate": {
                "spec": {
                    "storageClassName": STORAGE_CLASS,
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": f"{monitoring.storage_gib}Gi"}},
                }
            }
        },
        "resources": dict(RESOURCES["prometheus"]),
        # Selectors left empty select every such object in the namespace (prometheusSpec comments on
        # ruleSelector and podMonitorSelector): the rules and PodMonitors above carry no release label.
        "ruleSelectorNilUsesHelmValues": False,
        "ruleSelector": {},
        "podMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelector": {},
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "serviceMonitorSelector": {},
        "remoteWrite": (
            [{"url": store.remote_write_url, "sigv4": {"region": store.region}}] if store is not None else []
        ),
    }
    values: dict[str, object] = {
        "fullnameOverride": STACK_RELEASE,
        # The CRDs are prometheus-operator-crds' (values.yaml ``crds.enabled``: the crds subchart).
        "crds": {"enabled": False},
        "prometheusOperator": {
            "image": {"tag": IMAGE_TAGS["operator"]},
            "prometheusConfigReloader": {"image": {"tag": IMAGE_TAGS["operator"]}},
            "resources": dict(RESOURCES["operator"]),
        },
        "prometheus": {
            "serviceAccount": {"create": True, "name": PROMETHEUS_ACCOUNT},
            "prometheusSpec": prometheus_spec,
        },
        "alertmanager": {
            "serviceAccount": {"create": True, "name": ALERTMANAGER_ACCOUNT},
            "config": alertmanager_config(monitoring, region, topic_arns),
            "alertmanagerSpec": {
                "image": {"tag": IMAGE_TAGS["alertmanager"]},
                "resources": dict(RESOURCES["alertmanager"]),
            },
        },
        "grafana": {
            "enabled": monitoring.grafana,
            "resources": dict(RESOURCES["grafana"]),
            # The ConfigMaps infra/k8s/dashboards.py ships (label grafana_dashboard: "1").
            "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}},
        },
        "kubeStateMetrics": {"enabled": True},
        "kube-state-metrics": {"resources": dict(RESOURCES["kube-state-metrics"])},
        "nodeExporter": {"enabled": True},
        "prometheus-node-exporter": {"resources": dict(RESOURCES["node-exporter"])},
    }
    for component in UNSCRAPABLE_ON_EKS:
        values[component] = {"enabled": False}
    return values


def _statement(sid: str, actions: list[str], resources: list[str]) -> dict[str, object]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def alertmanager_policy(topic_arns: Sequence[str], key_arn: str) -> dict[str, Any]:
    """Alertmanager may publish to the routed topics only, and use their key as SNS needs to encrypt
    what it publishes (SNS Developer Guide, "Encryption at rest", publishers to an encrypted topic
    need kms:GenerateDataKey and kms:Decrypt on its key:
    https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html). The key policy lets the
    account's IAM principals use it (infra/aws/alerting.py)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            _statement("PublishAlerts", ["sns:Publish"], sorted(topic_arns)),
            _statement("EncryptForTheTopics", ["kms:GenerateDataKey", "kms:Decrypt"], [key_arn]),
        ],
    }


def remote_write_policy(workspace_arn: str) -> dict[str, Any]:
    """Prometheus may write samples to its store's workspace and to nothing else (Amazon Managed
    Service for Prometheus User Guide, "Set up ingestion from a new Prometheus server using Helm":
    aps:RemoteWrite; https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-onboard-ingest-metrics-new-Prometheus.html)."""
    return {
        "Version": "2012-10-17",
        "Statement": [_statement("RemoteWrite", ["aps:RemoteWrite"], [workspace_arn])],
    }


@dataclass(frozen=True)
class AlertTopics:
    """The cluster region's alert topics (infra/aws/alerting.py ``alert_topics``)."""

    arns: Mapping[str, pulumi.Input[str]]
    """Severity -> topic ARN."""
    key_arn: pulumi.Input[str]
    """The KMS key that encrypts them."""


class ClusterMonitoring(pulumi.ComponentResource):
    """The rule objects of one cluster; on EKS the monitoring stack that evaluates them, on GKE the
    collector inside the mesh."""

    collector: k8s.helm.v3.Release | None = None
    """The GKE collector's release."""

    def __init__(
        self,
        name: str,
        *,
        cloud: Cloud,
        groups: Sequence[RuleGroup],
        provider: k8s.Provider,
        monitoring: Monitoring | None = None,
        eks: EksCluster | None = None,
        region: str | None = None,
        topics: AlertTopics | None = None,
        store: MetricsStore | None = None,
        gcp_project: str = "",
        cluster: str = "",
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("inferstack:k8s:ClusterMonitoring", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.rules: list[k8s.apiextensions.CustomResource] = []
        if cloud is Cloud.GCP:
            if not (gcp_project and cluster):
                raise ValueError(f"ClusterMonitoring({name!r}): a GKE cluster needs gcp_project and cluster")
            self.collector = self._collector(name, gcp_project, cluster, child, depends_on)
            for group in groups:
                self.rules.append(
                    k8s.apiextensions.CustomResource(
                        f"{name}-{group.name}",
                        api_version="monitoring.googleapis.com/v1",
                        kind="ClusterRules",
                        metadata=k8s.meta.v1.ObjectMetaArgs(name=group.name, labels=LABELS),
                        spec={"groups": [group.with_alert_labels(gmp_alert_labels()).to_dict()]},
                        opts=child,
                    )
                )
        else:
            # Pod Security "privileged": node-exporter (a DaemonSet of the stack) reads the host's
            # network, process table and root filesystem (hostNetwork, hostPID, hostPath), which
            # "baseline" and "restricted" refuse; it runs here, next to the Prometheus that scrapes it
            # and under the same default-deny policy, rather than in a namespace of its own. Ambient:
            # ztunnel gives Prometheus the mesh identity STRICT mTLS asks of a scraper; host-network
            # pods (node-exporter) stay outside the mesh whatever the label says.
            # The DCGM exporter here (infra/k8s/gpu_metrics.py) needs "privileged" too: a hostPath
            # volume (the kubelet's pod-resources socket) and root with SYS_ADMIN.
            namespace = k8s.core.v1.Namespace(
                f"{name}-ns",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=NAMESPACE,
                    labels={**LABELS, **AMBIENT, "pod-security.kubernetes.io/enforce": "privileged"},
                ),
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
            if monitoring is not None and eks is not None and region is not None:
                self.stack = self._stack(
                    monitoring,
                    cluster=cluster,
                    eks=eks,
                    region=region,
                    topics=topics,
                    store=store,
                    provider=provider,
                    after=[namespace, crds],
                )
        self.register_outputs({})

    def _stack(
        self,
        monitoring: Monitoring,
        *,
        cluster: str,
        eks: EksCluster,
        region: str,
        topics: AlertTopics | None,
        store: MetricsStore | None,
        provider: k8s.Provider,
        after: Sequence[pulumi.Resource],
    ) -> k8s.helm.v3.Release:
        """The gp3 class, the Pod Identity roles and kube-prometheus-stack of one EKS cluster."""
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        # https://github.com/kubernetes-sigs/aws-ebs-csi-driver/blob/v1.64.0/docs/parameters.md
        # (type, encrypted); WaitForFirstConsumer creates the volume in the zone the pod is scheduled to.
        storage = k8s.storage.v1.StorageClass(
            f"{self._name}-{STORAGE_CLASS}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS, labels=LABELS),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy="Delete",
            opts=child,
        )
        identities: list[pulumi.Resource] = []
        arns = dict(topics.arns) if topics is not None else {}
        taken = [arns[s] for s in routed(monitoring) if s in arns]
        if topics is not None and taken:
            policy = pulumi.Output.all(pulumi.Output.all(*taken), topics.key_arn).apply(
                lambda v: json.dumps(alertmanager_policy(v[0], v[1]))
            )
            identities.append(self._pod_role(eks, "alertmanager", ALERTMANAGER_ACCOUNT, policy))
        if store is not None:
            policy = pulumi.Output.from_input(store.workspace_arn).apply(
                lambda arn: json.dumps(remote_write_policy(arn))
            )
            identities.append(self._pod_role(eks, "prometheus", PROMETHEUS_ACCOUNT, policy))
        self.identities = identities
        return k8s.helm.v3.Release(
            f"{self._name}-stack",
            k8s.helm.v3.ReleaseArgs(
                name=STACK_RELEASE,
                namespace=NAMESPACE,
                chart=STACK_CHART,
                version=STACK_VERSION,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=STACK_REPOSITORY),
                values=stack_values(monitoring, cluster=cluster, region=region, topic_arns=arns, store=store),
                timeout=900,
                cleanup_on_fail=True,
                max_history=10,
            ),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(depends_on=[*after, storage, eks.block_storage, *identities]),
            ),
        )

    def _pod_role(
        self, eks: EksCluster, component: str, service_account: str, policy: pulumi.Input[str]
    ) -> pulumi.Resource:
        """A role only EKS Pod Identity assumes, with ``policy``, for one service account of the stack."""
        role_name = resource_name(self._name, component, max_len=AUTONAMED_MAX)
        cloud = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            role_name,
            description=f"{component} of the monitoring stack, through EKS Pod Identity",
            assume_role_policy=POD_IDENTITY_TRUST,
            tags={"Name": role_name, "component": "monitoring"},
            opts=cloud,
        )
        grant = aws.iam.RolePolicy(role_name, role=role.id, policy=policy, opts=cloud)
        return aws.eks.PodIdentityAssociation(
            role_name,
            cluster_name=eks.name,
            namespace=NAMESPACE,
            service_account=service_account,
            role_arn=role.arn,
            tags={"Name": role_name, "component": "monitoring"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[grant]),
        )

    def _collector(
        self,
        name: str,
        project: str,
        cluster: str,
        child: pulumi.ResourceOptions,
        depends_on: Sequence[pulumi.Resource],
    ) -> k8s.helm.v3.Release:
        """The namespace in the mesh, the Google service account that may only write metrics, its
        Workload Identity binding to the collector's Kubernetes service account, and the release."""
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE, labels={**LABELS, **namespace_labels(Cloud.GCP)}
            ),
            opts=child,
        )
        cloud = pulumi.ResourceOptions(parent=self)
        account = gcp.serviceaccount.Account(
            f"{name}-collector",
            # 6-30 characters, unique in the project: stacks may share one.
            account_id=resource_name("gmp", pulumi.get_stack(), cluster, max_len=30),
            display_name=f"Metrics collector of {cluster}",
            description="Writes the mesh's scraped metrics to Managed Prometheus",
            project=project,
            opts=cloud,
        )
        binding = gcp.serviceaccount.IAMMember(
            f"{name}-collector-workload-identity",
            service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{project}.svc.id.goog[{NAMESPACE}/{COLLECTOR}]",
            opts=cloud,
        )
        writer = gcp.projects.IAMMember(
            f"{name}-collector-metric-writer",
            project=project,
            role=COLLECTOR_ROLE,
            member=account.member,
            opts=cloud,
        )
        return k8s.helm.v3.Release(
            f"{name}-collector",
            k8s.helm.v3.ReleaseArgs(
                name=COLLECTOR,
                namespace=NAMESPACE,
                chart=COLLECTOR_CHART,
                version=COLLECTOR_CHART_VERSION,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=COLLECTOR_REPOSITORY),
                values=collector_values(account.email),
                cleanup_on_fail=True,
                max_history=10,
            ),
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[*depends_on, namespace, binding, writer])
            ),
        )


def build_monitoring(
    settings: Settings,
    parts: Mapping[str, ClusterParts],
    providers: Providers | None = None,
    *,
    topics: Mapping[str, AlertTopics] | None = None,
    stores: Mapping[str, MetricsStore] | None = None,
) -> dict[str, ClusterMonitoring]:
    """The rules in every EKS and GKE cluster; the same groups everywhere, from the stack's thresholds.
    With ``providers``, every EKS cluster also gets its monitoring stack: Alertmanager to the alert
    topics of its region (``topics``, region -> topics) and remote write to its store (``stores``,
    cluster name -> store), when it has one; every GKE cluster gets the collector inside the mesh,
    whose Google service account is made in the cluster's region's provider."""
    groups = rule_groups(settings.monitoring)
    built: dict[str, ClusterMonitoring] = {}
    for name, part in parts.items():
        cluster = part.cluster
        if cluster.cloud is Cloud.EXISTING or part.kubernetes is None:
            continue
        region = part.cluster.region
        if cluster.cloud is Cloud.AWS and providers is not None and part.eks is not None and region:
            built[name] = ClusterMonitoring(
                f"{name}-monitoring",
                cloud=part.cluster.cloud,
                groups=groups,
                provider=part.kubernetes,
                monitoring=settings.monitoring,
                cluster=name,
                eks=part.eks,
                region=region,
                topics=(topics or {}).get(region),
                store=(stores or {}).get(name),
                opts=pulumi.ResourceOptions(providers=[providers.for_aws(region)]),
            )
            continue
        gke = cluster.cloud is Cloud.GCP and cluster.region is not None
        built[name] = ClusterMonitoring(
            f"{name}-monitoring",
            cloud=cluster.cloud,
            groups=groups,
            provider=part.kubernetes,
            gcp_project=settings.gcp_project if gke else "",
            cluster=name,
            depends_on=part.workload_prerequisites,
            opts=pulumi.ResourceOptions(
                providers=[providers.for_gcp(cluster.region)] if gke and cluster.region and providers else []
            ),
        )
    return built


def gmp_alert_labels() -> dict[str, str]:
    """What every alerting rule Google Managed Prometheus evaluates for this stack carries, so that
    the stack's Cloud Monitoring policies deliver its alerts and no other stack's (infra/gcp/alerts.py;
    ``infra.monitoring.rules.firing_alerts_query``). GMP's managed Alertmanager is left unconfigured:
    it cannot reach the receivers' e-mail without an SMTP relay, and the policies need none."""
    return {STACK_LABEL: stack_label(pulumi.get_project(), pulumi.get_stack())}


def external_labels(cluster_name: str) -> dict[str, str]:
    """The labels an EKS cluster's Prometheus adds to every sample it remote-writes: the rules over
    every core cluster (``infra.monitoring.rules.core_regions_group``) tell the clusters apart in the
    shared workspace by ``cluster``, the stack's name of the cluster."""
    return {"cluster": cluster_name}
