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

MESH_ADDONS: tuple[str, ...] = ("istio-base", "istiod", "istio-cni", "ztunnel", "istio-ingress")
"""The addons.yaml rows of the mesh (``infra.k8s.mesh``), in install order, the ingress last; the
add-ons component leaves them to it."""

MESH_INGRESS = "istio-ingress"
"""The mesh's ingress (``infra.k8s.mesh``): its Helm release, namespace, Service and ServiceAccount
share the name (the gateway chart names its objects after the release)."""
MESH_INGRESS_PORT = 8080
"""The ingress Service's and pods' port for the edge (set in the gateway chart's ``service.ports``;
the Istio Gateway listens on it). Above 1024, so the proxy needs no privilege to bind it, and within
the ports the policy pack lets Google's load balancer ranges reach (gcp-firewall-no-public-ingress)."""
HBONE_PORT = 15008
"""Where ztunnel delivers mesh traffic to an ambient pod (HBONE): a NetworkPolicy on a pod in the
mesh must admit it besides the application's port
(https://istio.io/v1.30/docs/ambient/usage/networkpolicy/)."""
