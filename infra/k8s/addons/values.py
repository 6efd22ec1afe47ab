"""The Helm values of each add-on, as data: image tags from the catalog, resources, security contexts.

Every key set here was read in the chart's values.yaml at the pinned release (addons.yaml names
where). Each builder is a pure function of the release and what the cluster is, so the values can
be checked without Pulumi, and the graph shows them as the release's inputs. Images are set
explicitly, never left to the chart's appVersion default, so that a chart bump never changes an
image unreviewed; every container gets requests and limits, and a security context at least as
strict as the chart's own default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from infra.aws.nodegroups import GPU_RESOURCE
from infra.catalog import Addon, AddonRelease
from infra.k8s import SYSTEM_PRIORITY_CLASS

GPU_NODE_LABEL = f"{GPU_RESOURCE}.present"
"""The label every GPU node of a stack's pools carries (infra/aws/nodegroups.py pool_labels), and
the one the device plugin chart's own affinity accepts to force a deployment without NFD."""

RESTRICTED: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""A container context the Pod Security "restricted" profile admits, with a read-only root."""

NON_ROOT_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "runAsGroup": 65534,
    "fsGroup": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""For images that run as any user: nobody, with the projected Pod Identity token readable."""


def resources(cpu: str, memory: str, *, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def _image(addon: Addon, release: AddonRelease, name: str) -> dict[str, str]:
    repository, tag = addon.image(name, release)
    return {"repository": repository, "tag": tag}


def device_plugin(addon: Addon, release: AddonRelease) -> dict[str, Any]:
    """On GPU nodes only: required affinity to the GPU label, tolerating the GPU taint.

    The chart's default affinity also matches NFD's PCI labels, which nothing here installs; the
    GPU label alone decides. It keeps its own priority (system-node-critical): a GPU node without
    the plugin advertises no GPU, so nothing can use it.
    """
    gpu_nodes = {"key": GPU_NODE_LABEL, "operator": "In", "values": ["true"]}
    return {
        "image": _image(addon, release, "devicePlugin"),
        "nodeSelector": {GPU_NODE_LABEL: "true"},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [gpu_nodes]}]
                }
            }
        },
        "tolerations": [
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
            {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
        ],
        # The chart's default when no MIG strategy needs SYS_ADMIN (templates/_helpers.tpl), made explicit.
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "resources": resources("50m", "64Mi", cpu_limit="200m", memory_limit="128Mi"),
        "gfd": {"enabled": False},
        "nfd": {"enabled": False},
    }


def cluster_autoscaler(
    addon: Addon,
    release: AddonRelease,
    *,
    cluster_name: str,
    region: str,
    service_account: str,
    priorities: Mapping[int, list[pulumi.Input[str]]],
) -> dict[str, Any]:
    """Auto-discovery of this cluster's groups; the priority expander first, least waste among equals.

    ``priorities``: priority -> regular expressions of Auto Scaling group names (the expander's
    ConfigMap, cluster-autoscaler expander/priority/readme.md): the highest matching wins, and a
    group no expression matches is never scaled, hence the catch-all the caller adds.
    """
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "image": _image(addon, release, "autoscaler"),
        "rbac": {"serviceAccount": {"create": True, "name": service_account}},
        "expanderPriorities": {str(k): v for k, v in sorted(priorities.items(), reverse=True)},
        "extraArgs": {
            "expander": "priority,least-waste",
            "balance-similar-node-groups": True,
            "skip-nodes-with-system-pods": False,
            "logtostderr": True,
            "stderrthreshold": "info",
            "v": 2,
        },
        "resources": resources("100m", "600Mi", cpu_limit="1", memory_limit="1Gi"),
        "securityContext": NON_ROOT_POD,
        "containerSecurityContext": RESTRICTED,
    }


def load_balancer_controller(
    addon: Addon,
    release: AddonRelease,
    *,
    cluster_name: str,
    region: str,
    vpc_id: pulumi.Input[str],
    service_account: str,
) -> dict[str, Any]:
    """Region and VPC given: with IMDS closed to pods (hop limit 1) the controller cannot look them up."""
    return {
        "clusterName": cluster_name,
        "region": region,
        "vpcId": vpc_id,
        "image": _image(addon, release, "controller"),
        "serviceAccount": {"create": True, "name": service_account},
        "resources": resources("100m", "128Mi", cpu_limit="500m", memory_limit="512Mi"),
        "podSecurityContext": NON_ROOT_POD,
        "securityContext": RESTRICTED,
    }


def metrics_server(addon: Addon, release: AddonRelease) -> dict[str, Any]:
    return {
        "image": _image(addon, release, "server"),
        "resources": resources("100m", "200Mi", cpu_limit="500m", memory_limit="400Mi"),
        # The chart's default, explicit: the image runs as user 1000.
        "securityContext": {**RESTRICTED, "runAsUser": 1000},
    }


def _split(repository: str) -> dict[str, str]:
    registry, _, path = repository.partition("/")
    return {"registry": registry, "repository": path}


def keda(
    addon: Addon, release: AddonRelease, *, gcp_service_account: pulumi.Input[str] | None = None
) -> dict[str, Any]:
    """KEDA with its metrics API server: the cluster's one provider of external.metrics.k8s.io.

    ``gcp_service_account`` (GKE): the Google service account the operator acts as through Workload
    Identity, to query Managed Prometheus; the chart (keda 2.20.2 values, ``podIdentity.gcp``)
    annotates the operator's service account with it."""
    images = {
        name: {**_split(repository), "tag": release.tags[name]} for name, repository in addon.images.items()
    }
    parts = {"operator": "operator", "metricServer": "metricsApiServer", "webhooks": "webhooks"}
    return {
        "image": {
            "keda": images["operator"],
            "metricsApiServer": images["metricsApiServer"],
            "webhooks": images["webhooks"],
        },
        "priorityClassName": SYSTEM_PRIORITY_CLASS,
        "metricsServer": {"enabled": True},
        "resources": {
            part: resources("100m", "100Mi", cpu_limit="1", memory_limit="1000Mi") for part in parts
        },
        "securityContext": {part: RESTRICTED for part in parts},
        "podSecurityContext": {part: {"runAsNonRoot": True} for part in parts},
        **(
            {"podIdentity": {"gcp": {"enabled": True, "gcpIAMServiceAccount": gcp_service_account}}}
            if gcp_service_account is not None
            else {}
        ),
    }


def external_secrets(
    addon: Addon, release: AddonRelease, *, service_account: str, annotations: Mapping[str, pulumi.Input[str]]
) -> dict[str, Any]:
    """The controller, its webhook and its certificate controller, each pinned, bounded and restricted.

    ``annotations`` go on the controller's service account (on GKE, the Google service account
    it acts as through Workload Identity).
    """
    image = _image(addon, release, "controller")
    # The chart's default context (runAsUser 1000), explicit for each of the three.
    context = {**RESTRICTED, "runAsUser": 1000, "enabled": True}
    sized = resources("50m", "64Mi", cpu_limit="500m", memory_limit="256Mi")
    part = {
        "image": image,
        "resources": sized,
        "securityContext": context,
        "priorityClassName": SYSTEM_PRIORITY_CLASS,
    }
    return {
        "installCRDs": True,
        "serviceAccount": {"create": True, "name": service_account, "annotations": dict(annotations)},
        **part,
        "webhook": part,
        "certController": part,
    }
