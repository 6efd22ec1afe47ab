"""Rules over every GKE cluster of the project, where Google Managed Prometheus already meets them.

Managed Prometheus keeps every GKE cluster's samples in one project-wide store (Monarch), each
with its cluster's ``cluster`` label. ``Rules`` and ``ClusterRules`` are scoped to their own
cluster; ``GlobalRules`` (monitoring.googleapis.com/v1, cluster-scoped) are not, so a rule there
sees every cluster of the project (GMP docs, "Managed rule evaluation and alerting", GlobalRules:
https://cloud.google.com/stackdriver/docs/managed-prometheus/rules-managed#globalrules). One
object per stack is enough: it is created through the first GKE burst cluster's provider
(stack-file order), and its rules select the
stack's own clusters by their cloud-side names (``ClusterParts.cloud_cluster_name``, the label
Managed Prometheus puts on their samples; auto-named, so known once the clusters exist), so
another stack in the same project neither counts nor is counted.

What goes here: burst pressure over every GKE burst cluster. The core clusters of every shipped
stack are EKS; their rules evaluate in the AMP workspace (``infra.aws.amp``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from infra.k8s.monitoring import LABELS, gmp_alert_labels
from infra.monitoring.rules import burst_pressure_group
from infra.parts import ClusterParts
from infra.settings import Cloud, Role

GROUP = "deepseek-global-burst"
"""The name of the burst-pressure group (``burst_pressure_group``) and of its GlobalRules object."""


def _burst(parts: Mapping[str, ClusterParts]) -> list[ClusterParts]:
    return [p for p in parts.values() if p.cluster.cloud is Cloud.GCP and p.cluster.role is Role.BURST]


def build_global_rules(parts: Mapping[str, ClusterParts]) -> list[k8s.apiextensions.CustomResource]:
    """The burst-pressure ``GlobalRules`` through one GKE cluster's provider; none without GKE burst
    clusters."""
    burst = [p for p in _burst(parts) if p.kubernetes is not None and p.cloud_cluster_name is not None]
    if not burst:
        return []
    host = burst[0]
    names = [p.cloud_cluster_name for p in burst if p.cloud_cluster_name is not None]
    labels = gmp_alert_labels()
    group = pulumi.Output.all(*names).apply(
        lambda ns: burst_pressure_group([str(n) for n in ns]).with_alert_labels(labels).to_dict()
    )
    return [
        k8s.apiextensions.CustomResource(
            f"global-{GROUP}",
            api_version="monitoring.googleapis.com/v1",
            kind="GlobalRules",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GROUP, labels=LABELS),
            spec={"groups": [group]},
            opts=pulumi.ResourceOptions(provider=host.kubernetes),
        )
    ]
