"""The workloads layer: what runs inside every cluster, reached only through its Kubernetes provider.

Above the clusters, data and edge (it takes their ``ClusterParts``), below the topology that composes
it. Two parts: the add-ons every cluster needs before a workload can run (``infra.k8s.addons``) and
the model serving on every accelerator pool (``infra.k8s.serving``). Third-party software goes in as
pinned Helm releases whose values are data; the objects this project owns are typed
``pulumi_kubernetes`` objects.
"""

from __future__ import annotations

SERVING_PRIORITY_CLASS = "inferstack-serving"
"""PriorityClass of the model servers: above ordinary pods, so a scheduler preempts them last."""

SYSTEM_PRIORITY_CLASS = "inferstack-system"
"""PriorityClass of the add-ons the serving depends on (device plugin, autoscaler, KEDA, secrets)."""
