"""GPU metrics on EKS: NVIDIA's DCGM exporter on every EKS cluster with GPU pools.

The GPU alerts (``GpuXidError``, ``GpuTemperatureHigh``) and the dashboards' GPU panels read DCGM's
series. GKE publishes them itself (Managed Prometheus's ``DCGM`` package, infra/gcp/gke.py), so only
EKS clusters get the exporter, and only those with a GPU pool: elsewhere its DaemonSet would have no
node to run on. Existing clusters get none: they run their own monitoring, as for the rules
(infra/k8s/monitoring.py).

The exporter is NVIDIA's ``dcgm-exporter`` Helm chart, pinned below, in the namespace ``monitoring``
beside the Prometheus that scrapes it (after the cluster's ``ClusterMonitoring``, which creates the
namespace and the Prometheus Operator's CRDs its ServiceMonitor needs). The ServiceMonitor carries
the labels of the monitoring layer's own PodMonitors, so one selector finds them all.

What it needs from its namespace: the Pod Security level ``privileged``. The chart mounts the
kubelet's pod-resources socket from the host (``hostPath`` /var/lib/kubelet/pod-resources, how DCGM
maps a GPU to the pod using it), and runs as root with ``SYS_ADMIN`` for DCGM's profiling fields
(``DCGM_FI_PROF_*``, in the chart's default counters): the ``baseline`` level already refuses
hostPath volumes and any added capability but a short list without SYS_ADMIN
(https://kubernetes.io/docs/concepts/security/pod-security-standards/, Baseline: "HostPath Volumes",
"Capabilities"). The namespace's labels are the monitoring layer's (infra/k8s/monitoring.py).

The pod reaches the GPUs without requesting ``nvidia.com/gpu`` (it must not take one from a model
server): the image sets ``NVIDIA_VISIBLE_DEVICES=all`` (docker/Dockerfile at the tag) and the EKS
AL2023 NVIDIA AMI makes ``nvidia`` containerd's default runtime on NVIDIA instances (nodeadm,
internal/containerd/runtime_config.go; https://github.com/awslabs/amazon-eks-ami/issues/2236).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.aws.nodegroups import GPU_RESOURCE, is_gpu, machine_of
from infra.k8s.addons import RELEASE_TIMEOUT
from infra.k8s.addons.values import GPU_NODE_LABEL, resources
from infra.k8s.monitoring import LABELS, NAMESPACE, SCRAPE_INTERVAL
from infra.parts import ClusterParts
from infra.settings import Cloud, Cluster

CHART = "dcgm-exporter"
CHART_VERSION = "4.8.2"
REPOSITORY = "https://nvidia.github.io/dcgm-exporter/helm-charts"
IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter"
IMAGE_TAG = "4.5.3-4.8.2-distroless"
"""NVIDIA/dcgm-exporter at tag 4.5.3-4.8.2 (DCGM 4.5.3, exporter 4.8.2): deployment/Chart.yaml
(version and appVersion "4.8.2", kubeVersion ">= 1.19.0-0") and deployment/values.yaml (image
nvcr.io/nvidia/k8s/dcgm-exporter, tag "4.5.3-4.8.2-distroless", the chart's own default, set here so
that a chart bump never changes the image unreviewed); the repository URL from README.md at the tag
("helm repo add gpu-helm-charts https://nvidia.github.io/dcgm-exporter/helm-charts"). The series the
rules and dashboards read come from this release's default counters
(deployment/templates/metrics-configmap.yaml), listed in infra/monitoring/metrics.yaml."""

PORT = 9400
"""The exporter's metrics port (chart values ``service.port``), the one its ServiceMonitor scrapes."""
POD_LABELS = {"app.kubernetes.io/name": CHART}
"""The label the chart puts on the exporter's pods (templates/_helpers.tpl ``selectorLabels``)."""


def needs_exporter(cluster: Cluster) -> bool:
    """An EKS cluster with at least one GPU pool: where DCGM's series come from nobody else."""
    return cluster.cloud is Cloud.AWS and any(is_gpu(machine_of(p)) for p in cluster.node_pools)


def exporter_values() -> dict[str, Any]:
    """The chart's values (keys read in deployment/values.yaml at 4.5.3-4.8.2).

    On GPU nodes only: the node label every GPU pool carries (infra/aws/nodegroups.py pool_labels)
    and a toleration of their taint; the chart's default toleration (control-plane nodes) is
    replaced, there are no such nodes on EKS. No priority class: the exporter must never preempt a
    model server on a full GPU node (the chart's default, system-node-critical, would); at worst it
    waits. Requests and limits are the chart's defaults, explicit.
    """
    return {
        "image": {"repository": IMAGE, "tag": IMAGE_TAG, "pullPolicy": "IfNotPresent"},
        "nodeSelector": {GPU_NODE_LABEL: "true"},
        "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": "",
        "resources": resources("100m", "128Mi", cpu_limit="200m", memory_limit="512Mi"),
        "service": {"enable": True, "type": "ClusterIP", "port": PORT, "address": f":{PORT}"},
        "serviceMonitor": {
            "enabled": True,
            "apiVersion": "monitoring.coreos.com/v1",
            "interval": SCRAPE_INTERVAL,
            "scrapeTimeout": "10s",
            "honorLabels": False,
            "additionalLabels": dict(LABELS),
        },
        # The chart's default: root with SYS_ADMIN for the profiling fields, no privilege escalation,
        # every other capability dropped (the namespace's Pod Security level must allow it, above).
        "securityContext": {
            "runAsNonRoot": False,
            "runAsUser": 0,
            "capabilities": {"add": ["SYS_ADMIN"], "drop": ["ALL"]},
            "allowPrivilegeEscalation": False,
        },
        # GPU metrics need neither pod labels nor the API: no token in the pod.
        "kubernetes": {"enablePodLabels": False, "enablePodUID": False},
    }


def build_gpu_metrics(
    parts: Mapping[str, ClusterParts], after: Mapping[str, pulumi.Resource]
) -> dict[str, k8s.helm.v3.Release]:
    """The exporter in every EKS cluster with GPU pools, after its monitoring component (``after``,
    keyed by cluster name: the namespace and the ServiceMonitor CRD)."""
    built: dict[str, k8s.helm.v3.Release] = {}
    for name, part in parts.items():
        if not needs_exporter(part.cluster) or part.kubernetes is None or name not in after:
            continue
        built[name] = k8s.helm.v3.Release(
            f"{name}-{CHART}",
            k8s.helm.v3.ReleaseArgs(
                name=CHART,
                chart=CHART,
                version=CHART_VERSION,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=REPOSITORY),
                namespace=NAMESPACE,
                values=exporter_values(),
                timeout=RELEASE_TIMEOUT,
                cleanup_on_fail=True,
                max_history=10,
            ),
            opts=pulumi.ResourceOptions(provider=part.kubernetes, depends_on=[after[name]]),
        )
    return built
