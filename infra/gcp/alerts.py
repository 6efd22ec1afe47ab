"""What Prometheus cannot see on GCP: Cloud Monitoring notification channels and alert policies.

Creates, in the stack's project:

- one e-mail notification channel per address of every receiver (settings:
  ``monitoring.receivers``);
- per Memorystore instance: a policy on ``redis.googleapis.com/stats/memory/usage_ratio``
  (resource ``redis_instance``), warning
  (https://cloud.google.com/memorystore/docs/redis/supported-monitoring-metrics);
- per Cloud SQL cross-region replica: a policy on
  ``cloudsql.googleapis.com/database/replication/replica_lag`` (resource ``cloudsql_database``,
  seconds), critical (https://cloud.google.com/monitoring/api/metrics_gcp#gcp-cloudsql and
  https://cloud.google.com/sql/docs/postgres/replication/replication-lag);
- when a GKE pool of the stack runs on Spot VMs: a log-based counter of the Compute Engine system
  event ``compute.instances.preempted`` on GKE nodes (instances named ``gke-...``), and a policy on
  it, warning. No built-in metric counts preemptions; Compute Engine records each in the audit
  log's system events (https://cloud.google.com/compute/docs/instances/create-use-preemptible#detecting_if_an_instance_was_preempted,
  the same for Spot VMs: https://cloud.google.com/compute/docs/instances/spot#detect-preemption).
  The event names the instance and not its cluster, so the counter takes every GKE node of the
  project.

- per severity some receiver takes (critical, warning): a PromQL policy on the firing alerts of the
  stack's Prometheus rules in its GKE clusters (``prometheus_alerts``). Google Managed Prometheus
  evaluates those rules (ClusterRules, GlobalRules: infra/k8s/monitoring.py) and writes each alert's
  ``ALERTS`` series to Cloud Monitoring; GMP's managed Alertmanager would need an SMTP relay to reach
  an e-mail address, so the policies, not Alertmanager, tell the receivers. One incident per firing
  alert (per label set), named by its ``alertname`` and cluster.

Each policy notifies the channels of the receivers that take its severity. A policy whose severity
no receiver takes is not created: Alertmanager's routes drop such alerts too, and a policy that
tells nobody only opens incidents nobody reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.naming import AUTONAMED_MAX, resource_name

CACHE_MEMORY_RATIO = 0.9
"""Share of a Memorystore instance's memory in use that warns, held for 15 minutes: at its
maxmemory Redis evicts on every write and the response cache stops saving model calls."""
CACHE_MEMORY_SECONDS = 900

REPLICA_LAG_SECONDS = 60
"""Cloud SQL replica lag that pages, held for 5 minutes: what promoting that replica would lose."""
REPLICA_LAG_DURATION_SECONDS = 300

SEVERITY = {"critical": "CRITICAL", "warning": "WARNING"}
"""Cloud Monitoring's policy severities for the stack's; info alerts only reach the dashboards."""

PROMETHEUS_EVALUATION_INTERVAL = "30s"
"""How often the Prometheus-alert policies look: the rule groups' own interval (``RuleGroup.interval``)."""

PREEMPTION_WINDOW_SECONDS = 300
"""Preemptions are counted per 5 minutes; any preemption of a GKE node warns."""

PREEMPTED = (
    'resource.type="gce_instance" AND '
    'protoPayload.methodName="compute.instances.preempted" AND '
    'protoPayload.resourceName:"/instances/gke-"'
)
"""The audit log's system event of a preempted (or Spot) VM that GKE made for a node pool."""


@dataclass(frozen=True)
class AlertReceiver:
    """A receiver of the stack, as the clouds' alerts need it."""

    name: str
    severities: frozenset[str]
    emails: Sequence[str]


@dataclass(frozen=True, kw_only=True)
class GcpAlertsArgs:
    """What to watch in the project and who hears which severity."""

    project: str
    """The stack's GCP project."""
    stack: str
    """Pulumi stack name: the log-based metric is named per stack (names are project-wide)."""
    receivers: Sequence[AlertReceiver]
    """Who hears which severity."""
    caches: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Memorystore instances: logical-name stem -> instance id (projects/.../instances/...)."""
    replicas: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Cloud SQL replicas: logical-name stem -> database_id (project:instance)."""
    preemption: bool = False
    """Whether a GKE pool of the stack runs on Spot VMs."""
    prometheus_alerts: Mapping[str, str] = field(default_factory=dict)
    """Severity -> PromQL selecting the stack's firing Prometheus alerts of that severity
    (``infra.monitoring.rules.firing_alerts_query``); empty without GKE clusters."""

    def __post_init__(self) -> None:
        if not self.project:
            raise ValueError("GcpAlertsArgs.project: the stack's GCP project")
        unknown = sorted(set(self.prometheus_alerts) - set(SEVERITY))
        if unknown:
            raise ValueError(f"GcpAlertsArgs.prometheus_alerts: no Cloud Monitoring severity for {unknown}")
        for receiver in self.receivers:
            if not receiver.emails:
                raise ValueError(f"GcpAlertsArgs.receivers: {receiver.name!r} has no e-mail address")


class GcpAlerts(pulumi.ComponentResource):
    """E-mail channels of the stack's receivers and the alert policies that notify them."""

    channels: dict[str, gcp.monitoring.NotificationChannel]
    """Logical name -> e-mail channel."""
    policies: dict[str, gcp.monitoring.AlertPolicy]
    """Logical name -> alert policy."""

    def __init__(self, name: str, args: GcpAlertsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:gcp:Alerts", name, None, opts)
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self.channels = {}
        self.policies = {}
        self._by_severity: dict[str, list[pulumi.Output[str]]] = {}
        for receiver in args.receivers:
            for k, email in enumerate(receiver.emails, start=1):
                logical = resource_name(name, receiver.name, str(k), max_len=AUTONAMED_MAX)
                channel = gcp.monitoring.NotificationChannel(
                    logical,
                    project=args.project,
                    type="email",
                    display_name=f"inferstack {receiver.name}: {email}",
                    labels={"email_address": email},
                    user_labels={"receiver": receiver.name},
                    opts=self._child,
                )
                self.channels[logical] = channel
                for severity in sorted(receiver.severities):
                    self._by_severity.setdefault(severity, []).append(channel.name)

        for stem, instance_id in args.caches.items():
            self._policy(
                resource_name(stem, "memory", max_len=AUTONAMED_MAX),
                severity="warning",
                title=f"Memorystore {stem}: memory over {CACHE_MEMORY_RATIO:.0%}",
                filter=pulumi.Output.concat(
                    'resource.type="redis_instance" AND resource.labels.instance_id="',
                    instance_id,
                    '" AND metric.type="redis.googleapis.com/stats/memory/usage_ratio"',
                ),
                threshold=CACHE_MEMORY_RATIO,
                duration=CACHE_MEMORY_SECONDS,
                aligner="ALIGN_MEAN",
                period=60,
            )
        for stem, database_id in args.replicas.items():
            self._policy(
                resource_name(stem, "replica-lag", max_len=AUTONAMED_MAX),
                severity="critical",
                title=f"Cloud SQL {stem}: replica more than {REPLICA_LAG_SECONDS} s behind",
                filter=pulumi.Output.concat(
                    'resource.type="cloudsql_database" AND resource.labels.database_id="',
                    database_id,
                    '" AND metric.type="cloudsql.googleapis.com/database/replication/replica_lag"',
                ),
                threshold=REPLICA_LAG_SECONDS,
                duration=REPLICA_LAG_DURATION_SECONDS,
                aligner="ALIGN_MAX",
                period=60,
            )
        if args.preemption and self._by_severity.get("warning"):
            metric = gcp.logging.Metric(
                resource_name(name, "preemptions", max_len=AUTONAMED_MAX),
                project=args.project,
                name=resource_name("inferstack", args.stack, "gke-preemptions"),
                description="GKE nodes (Spot or preemptible VMs) Compute Engine preempted",
                filter=PREEMPTED,
                metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                    metric_kind="DELTA", value_type="INT64", unit="1"
                ),
                opts=self._child,
            )
            self._policy(
                resource_name(name, "preemptions", max_len=AUTONAMED_MAX),
                severity="warning",
                title="GKE Spot nodes preempted",
                filter=metric.name.apply(
                    lambda m: (
                        f'resource.type="gce_instance" AND metric.type="logging.googleapis.com/user/{m}"'
                    )
                ),
                threshold=0,
                duration=0,
                aligner="ALIGN_SUM",
                period=PREEMPTION_WINDOW_SECONDS,
                reducer="REDUCE_SUM",
            )
        for severity, query in sorted(args.prometheus_alerts.items()):
            self._prometheus_policy(
                resource_name(name, "prometheus", severity, max_len=AUTONAMED_MAX), severity, query
            )
        self.register_outputs({"policies": {k: v.name for k, v in self.policies.items()}})

    def _prometheus_policy(self, logical: str, severity: str, query: str) -> None:
        """The firing Prometheus alerts of one severity, to that severity's receivers.

        ``disable_metric_validation``: ``ALERTS`` exists in Cloud Monitoring only once some rule has
        fired, and the API refuses a PromQL condition on a metric it does not know unless told not to
        check (AlertPolicy.Condition.PrometheusQueryLanguageCondition.disable_metric_validation:
        "allows alerting policies to be defined on metrics that do not yet exist",
        https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies#prometheusquerylanguagecondition).
        ``duration`` 0: the rule's own ``for`` has passed before its series says ``firing``; waiting
        again would only delay the page. The interval is the rules' own (30 s, a positive multiple of
        30 s as the API asks)."""
        self._notify(
            logical,
            severity=severity,
            title=f"Prometheus alerts, {severity}",
            condition=gcp.monitoring.AlertPolicyConditionArgs(
                display_name=f"a {severity} Prometheus alert of the stack is firing",
                condition_prometheus_query_language=gcp.monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs(
                    query=query,
                    duration="0s",
                    evaluation_interval=PROMETHEUS_EVALUATION_INTERVAL,
                    disable_metric_validation=True,
                ),
            ),
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                mime_type="text/markdown",
                subject=f"[{severity}] ${{metric.label.alertname}} in ${{resource.label.cluster}}",
                content=(
                    f"The Prometheus alert `${{metric.label.alertname}}` ({severity}) is firing in GKE "
                    "cluster `${resource.label.cluster}`. Its summary, description and threshold are "
                    "in the rule (`inferstack render` writes the rule files; docs/monitoring.md lists "
                    "every alert)."
                ),
            ),
        )

    def _policy(
        self,
        logical: str,
        *,
        severity: str,
        title: str,
        filter: pulumi.Input[str],
        threshold: float,
        duration: int,
        aligner: str,
        period: int,
        reducer: str | None = None,
    ) -> None:
        self._notify(
            logical,
            severity=severity,
            title=title,
            condition=gcp.monitoring.AlertPolicyConditionArgs(
                display_name=title,
                condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                    filter=filter,
                    comparison="COMPARISON_GT",
                    threshold_value=threshold,
                    duration=f"{duration}s",
                    aggregations=[
                        gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                            alignment_period=f"{period}s",
                            per_series_aligner=aligner,
                            cross_series_reducer=reducer,
                        )
                    ],
                ),
            ),
        )

    def _notify(
        self,
        logical: str,
        *,
        severity: str,
        title: str,
        condition: gcp.monitoring.AlertPolicyConditionArgs,
        documentation: gcp.monitoring.AlertPolicyDocumentationArgs | None = None,
    ) -> None:
        """One policy of one condition, to the channels of the receivers that take its severity; none
        when no receiver does."""
        channels = self._by_severity.get(severity, [])
        if not channels:
            return
        self.policies[logical] = gcp.monitoring.AlertPolicy(
            logical,
            project=self._args.project,
            display_name=f"inferstack {self._args.stack}: {title}",
            combiner="OR",
            severity=SEVERITY[severity],
            conditions=[condition],
            documentation=documentation,
            notification_channels=channels,
            user_labels={"severity": severity},
            opts=self._child,
        )
