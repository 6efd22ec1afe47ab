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
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws.alerting import SEVERITIES
from infra.aws.eks import EksCluster
from infra.k8s.addons.iam import POD_IDENTITY_TRUST
from infra.k8s.mesh import AMBIENT
from infra.monitoring.rules import RuleGroup, rule_groups
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
    region: str,
    topic_arns: Mapping[str, pulumi.Input[str]],
    store: MetricsStore | None,
) -> dict[str, object]:
    """kube-prometheus-stack's values (keys from its values.yaml at 88.5.3)."""
    prometheus_spec: dict[str, object] = {
        "image": {"tag": IMAGE_TAGS["prometheus"]},
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
    """The rule objects of one cluster; on EKS the monitoring stack that evaluates them."""

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
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("inferstack:k8s:ClusterMonitoring", name, None, opts)
        self._name = name
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
            # Pod Security "privileged": node-exporter (a DaemonSet of the stack) reads the host's
            # network, process table and root filesystem (hostNetwork, hostPID, hostPath), which
            # "baseline" and "restricted" refuse; it runs here, next to the Prometheus that scrapes it
            # and under the same default-deny policy, rather than in a namespace of its own. Ambient:
            # ztunnel gives Prometheus the mesh identity STRICT mTLS asks of a scraper; host-network
            # pods (node-exporter) stay outside the mesh whatever the label says.
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
                values=stack_values(monitoring, region=region, topic_arns=arns, store=store),
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


def build_monitoring(
    settings: Settings,
    parts: Mapping[str, ClusterParts],
    *,
    providers: Providers | None = None,
    topics: Mapping[str, AlertTopics] | None = None,
    stores: Mapping[str, MetricsStore] | None = None,
) -> dict[str, ClusterMonitoring]:
    """The rules in every EKS and GKE cluster; the same groups everywhere, from the stack's thresholds.
    With ``providers``, every EKS cluster also gets its monitoring stack: Alertmanager to the alert
    topics of its region (``topics``, region -> topics) and remote write to its store (``stores``,
    cluster name -> store), when it has one."""
    groups = rule_groups(settings.monitoring)
    built: dict[str, ClusterMonitoring] = {}
    for name, part in parts.items():
        if part.cluster.cloud is Cloud.EXISTING or part.kubernetes is None:
            continue
        region = part.cluster.region
        if part.cluster.cloud is Cloud.AWS and providers is not None and part.eks is not None and region:
            built[name] = ClusterMonitoring(
                f"{name}-monitoring",
                cloud=part.cluster.cloud,
                groups=groups,
                provider=part.kubernetes,
                monitoring=settings.monitoring,
                eks=part.eks,
                region=region,
                topics=(topics or {}).get(region),
                store=(stores or {}).get(name),
                opts=pulumi.ResourceOptions(providers=[providers.for_aws(region)]),
            )
            continue
        built[name] = ClusterMonitoring(
            f"{name}-monitoring", cloud=part.cluster.cloud, groups=groups, provider=part.kubernetes
        )
    return built
