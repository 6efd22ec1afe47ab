"""Cases for policies/kubernetes_guards.py: pod templates, Services, Namespaces and Helm releases."""

from __future__ import annotations

from typing import Any

from tests.guards.case import UNKNOWN, Res, fails, passes

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
JOB = "kubernetes:batch/v1:Job"
CRONJOB = "kubernetes:batch/v1:CronJob"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
RELEASE = "kubernetes:helm.sh/v3:Release"

_SECURE = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
_PROBE = {"httpGet": {"path": "/health", "port": "http"}}
_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
_GPU = {
    "requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"},
    "limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"},
}


def container(**changes: Any) -> dict[str, Any]:
    """A container that passes every guard, with the given keys replaced (None removes one)."""
    base: dict[str, Any] = {
        "name": "app",
        "image": "ghcr.io/acme/app:v1.2.3@sha256:" + "0" * 64,
        "args": [UNKNOWN],
        "securityContext": _SECURE,
        "readinessProbe": _PROBE,
        "livenessProbe": _PROBE,
        "resources": _RESOURCES,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def pod(*containers: dict[str, Any], **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": list(containers) or [container()],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def workload(spec: dict[str, Any], *, type_: str = DEPLOYMENT, namespace: str = "serving") -> Res:
    kind = type_.rsplit(":", 1)[-1]
    template = {"metadata": {"labels": {"app": "x"}}, "spec": spec}
    if type_ == CRONJOB:
        body: dict[str, Any] = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        body = {"template": template}
    return Res(
        type_,
        {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "namespace": namespace}, "spec": body},
    )


def secured(**changes: Any) -> Res:
    """A Deployment whose one container's securityContext has the given keys replaced."""
    context = {k: v for k, v in {**_SECURE, **changes}.items() if v is not None}
    return workload(pod(container(securityContext=context)))


CASES = [
    fails("k8s-no-privileged", "privileged container", secured(privileged=True)),
    fails(
        "k8s-no-privileged",
        "privileged init container of a CronJob",
        workload(
            pod(initContainers=[container(name="init", securityContext={**_SECURE, "privileged": True})]),
            type_=CRONJOB,
        ),
    ),
    passes("k8s-no-privileged", "unprivileged (default)", secured(privileged=None)),
    passes(
        "k8s-no-privileged",
        "containers not known until apply (judged once known)",
        workload({"containers": UNKNOWN, "volumes": UNKNOWN}),
    ),
    fails("k8s-no-privilege-escalation", "escalation by default", secured(allowPrivilegeEscalation=None)),
    passes("k8s-no-privilege-escalation", "escalation off", workload(pod())),
    fails(
        "k8s-run-as-non-root",
        "neither pod nor container says non-root",
        workload(pod(container(securityContext={**_SECURE, "runAsNonRoot": None}), securityContext=None)),
    ),
    fails(
        "k8s-run-as-non-root",
        "container overrides the pod with root",
        workload(pod(container(securityContext={"runAsNonRoot": False}))),
    ),
    fails("k8s-run-as-non-root", "UID 0", secured(runAsUser=0)),
    passes(
        "k8s-run-as-non-root",
        "inherited from the pod",
        workload(pod(container(securityContext={"allowPrivilegeEscalation": False}))),
    ),
    fails("k8s-capabilities-seccomp", "capabilities kept", secured(capabilities=None)),
    fails(
        "k8s-capabilities-seccomp",
        "capability added",
        secured(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
    ),
    fails(
        "k8s-capabilities-seccomp",
        "no seccomp profile on pod or container",
        workload(pod(container(securityContext={**_SECURE, "seccompProfile": None}), securityContext=None)),
    ),
    passes(
        "k8s-capabilities-seccomp",
        "drop ALL, add NET_BIND_SERVICE, seccomp from the pod",
        workload(
            pod(
                container(
                    securityContext={
                        **_SECURE,
                        "seccompProfile": None,
                        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                    }
                )
            )
        ),
    ),
    fails("k8s-read-only-root", "writable root (default)", secured(readOnlyRootFilesystem=None)),
    passes("k8s-read-only-root", "read-only root", workload(pod())),
    fails("k8s-no-host-access", "host network", workload(pod(hostNetwork=True))),
    fails("k8s-no-host-access", "host PID", workload(pod(hostPID=True))),
    fails("k8s-no-host-access", "host IPC", workload(pod(hostIPC=True))),
    fails(
        "k8s-no-host-access",
        "host path in a Job",
        workload(pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}]), type_=JOB),
    ),
    fails(
        "k8s-no-host-access",
        "system namespace not listed in this environment",
        workload(pod(hostNetwork=True), type_=DAEMONSET, namespace="kube-system"),
        systemNamespaces=["gpu-operator"],
    ),
    passes(
        "k8s-no-host-access",
        "node agent in kube-system",
        workload(
            pod(hostNetwork=True, volumes=[{"name": "dev", "hostPath": {"path": "/dev"}}]),
            type_=DAEMONSET,
            namespace="kube-system",
        ),
    ),
    passes(
        "k8s-no-host-access",
        "emptyDir volumes",
        workload(pod(volumes=[{"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}}])),
    ),
    fails("k8s-image-pinned", "no tag", workload(pod(container(image="vllm/vllm-openai")))),
    fails("k8s-image-pinned", "latest", workload(pod(container(image="ghcr.io/acme/app:latest")))),
    fails(
        "k8s-image-pinned",
        "registry not allowed",
        workload(pod(container(image="evil.example.com/app:v1"))),
    ),
    fails(
        "k8s-image-pinned",
        "registry port is not a tag",
        workload(pod(container(image="localhost:5000/app"))),
        allowedRegistries=["localhost:5000"],
    ),
    passes("k8s-image-pinned", "Docker Hub tag", workload(pod(container(image="vllm/vllm-openai:v0.27.1")))),
    passes(
        "k8s-image-pinned",
        "an Artifact Registry image",
        workload(pod(container(image="us-docker.pkg.dev/p/r/app:1.0"))),
    ),
    passes("k8s-image-pinned", "image unknown at preview", workload(pod(container(image=UNKNOWN)))),
    fails("k8s-image-digest", "tag only", workload(pod(container(image="vllm/vllm-openai:v0.27.1")))),
    passes("k8s-image-digest", "digest", workload(pod())),
    fails(
        "k8s-no-token-automount",
        "token mounted by default",
        workload(pod(automountServiceAccountToken=None)),
    ),
    passes("k8s-no-token-automount", "no token", workload(pod())),
    fails("k8s-probes", "no readiness probe", workload(pod(container(readinessProbe=None)))),
    fails("k8s-probes", "no liveness probe", workload(pod(container(livenessProbe=None)))),
    fails("k8s-probes", "GPU model server without a startup probe", workload(pod(container(resources=_GPU)))),
    passes(
        "k8s-probes",
        "model server with all three probes",
        workload(pod(container(resources=_GPU, startupProbe=_PROBE))),
    ),
    passes(
        "k8s-probes",
        "a Job needs none",
        workload(pod(container(readinessProbe=None, livenessProbe=None)), type_=JOB),
    ),
    fails(
        "k8s-resources",
        "no cpu request",
        workload(pod(container(resources={**_RESOURCES, "requests": {"memory": "1Gi"}}))),
    ),
    fails(
        "k8s-resources",
        "no memory request",
        workload(pod(container(resources={**_RESOURCES, "requests": {"cpu": "1"}}))),
    ),
    fails(
        "k8s-resources",
        "no cpu limit",
        workload(pod(container(resources={**_RESOURCES, "limits": {"memory": "1Gi"}}))),
    ),
    fails(
        "k8s-resources",
        "no memory limit",
        workload(pod(container(resources={**_RESOURCES, "limits": {"cpu": "1"}}))),
    ),
    fails(
        "k8s-resources",
        "GPU requested but not limited",
        workload(pod(container(resources={**_GPU, "limits": {"cpu": "8", "memory": "64Gi"}}))),
    ),
    fails(
        "k8s-resources",
        "tolerates the GPU taint without claiming one",
        workload(pod(tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])),
    ),
    fails(
        "k8s-resources",
        "tolerates every taint, so the TPU one, without claiming",
        workload(pod(tolerations=[{"operator": "Exists"}])),
    ),
    passes(
        "k8s-resources",
        "a GPU server",
        workload(
            pod(container(resources=_GPU), tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}])
        ),
    ),
    passes(
        "k8s-resources",
        "a node agent tolerates GPU nodes",
        workload(pod(tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}]), type_=DAEMONSET),
    ),
    fails(
        "k8s-no-load-balancer-service",
        "a LoadBalancer Service",
        Res(SERVICE, {"metadata": {"name": "api", "namespace": "serving"}, "spec": {"type": "LoadBalancer"}}),
    ),
    passes(
        "k8s-no-load-balancer-service",
        "ClusterIP by default",
        Res(
            SERVICE, {"metadata": {"name": "api", "namespace": "serving"}, "spec": {"ports": [{"port": 80}]}}
        ),
    ),
    passes(
        "k8s-no-load-balancer-service",
        "an allow-listed ingress",
        Res(
            SERVICE, {"metadata": {"name": "edge", "namespace": "ingress"}, "spec": {"type": "LoadBalancer"}}
        ),
        allowedLoadBalancers=["ingress/edge"],
    ),
    fails("k8s-namespace-pod-security", "no enforce label", Res(NAMESPACE, {"metadata": {"name": "apps"}})),
    fails(
        "k8s-namespace-pod-security",
        "privileged level",
        Res(
            NAMESPACE,
            {"metadata": {"name": "apps", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}},
        ),
    ),
    passes(
        "k8s-namespace-pod-security",
        "restricted",
        Res(
            NAMESPACE,
            {"metadata": {"name": "serving", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}},
        ),
    ),
    passes(
        "k8s-namespace-pod-security",
        "kube-system is the platform's",
        Res(NAMESPACE, {"metadata": {"name": "kube-system"}}),
    ),
]

_REPO = {"repo": "https://kedacore.github.io/charts"}


STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"


def storage_class(**parameters: Any) -> Res:
    base = {"type": "gp3", "encrypted": "true"}
    merged = {k: v for k, v in {**base, **parameters}.items() if v is not None}
    return Res(STORAGE_CLASS, {"provisioner": "ebs.csi.aws.com", "parameters": merged})


CASES += [
    fails("k8s-storage-encrypted", "encrypted left out", storage_class(encrypted=None)),
    fails("k8s-storage-encrypted", "encrypted false", storage_class(encrypted="false")),
    passes("k8s-storage-encrypted", "encrypted gp3", storage_class()),
    passes(
        "k8s-storage-encrypted",
        "not an EBS class",
        Res(STORAGE_CLASS, {"provisioner": "efs.csi.aws.com", "parameters": {}}),
    ),
]


def release(**changes: Any) -> Res:
    base: dict[str, Any] = {
        "chart": "keda",
        "version": "2.20.2",
        "repositoryOpts": _REPO,
        "namespace": "keda",
        "values": {
            "image": {"keda": {"registry": "ghcr.io", "repository": "kedacore/keda", "tag": "2.20.2"}},
            "resources": {"operator": {"requests": {"cpu": "100m"}}},
            "securityContext": {"operator": {"allowPrivilegeEscalation": False, "runAsNonRoot": True}},
            "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": UNKNOWN}},
        },
    }
    base.update(changes)
    return Res(RELEASE, {k: v for k, v in base.items() if v is not None})


def values(**changes: Any) -> dict[str, Any]:
    """The passing release's values with the given top-level keys replaced (None removes one)."""
    merged = {**release().props["values"], **changes}
    return {k: v for k, v in merged.items() if v is not None}


_DCGM_ROOT = {"runAsNonRoot": False, "runAsUser": 0, "allowPrivilegeEscalation": False}
"""The DCGM exporter's container context (infra/k8s/gpu_metrics.py), capabilities aside."""

CASES += [
    fails("helm-chart-pinned", "no version", release(version=None)),
    fails("helm-chart-pinned", "empty version", release(version="")),
    fails("helm-chart-pinned", "a version range", release(version="^2.20")),
    fails("helm-chart-pinned", "no repository", release(repositoryOpts=None)),
    fails(
        "helm-chart-pinned",
        "plain HTTP repository",
        release(repositoryOpts={"repo": "http://charts.example.com"}),
    ),
    passes("helm-chart-pinned", "exact version, HTTPS repository", release()),
    passes(
        "helm-chart-pinned",
        "an OCI chart names its registry itself",
        release(chart="oci://ghcr.io/acme/charts/app", repositoryOpts=None),
    ),
    fails(
        "helm-images-pinned",
        "latest tag",
        release(values=values(image={"repository": "ghcr.io/acme/app", "tag": "latest"})),
    ),
    fails(
        "helm-images-pinned",
        "empty tag",
        release(values=values(image={"repository": "ghcr.io/acme/app", "tag": ""})),
    ),
    fails(
        "helm-images-pinned",
        "image block from a registry not allowed",
        release(
            values=values(image={"keda": {"registry": "evil.example.com", "repository": "keda", "tag": "1"}})
        ),
    ),
    fails(
        "helm-images-pinned",
        "an image string with no tag",
        release(values=values(sidecar={"image": "quay.io/acme/sidecar"})),
    ),
    passes("helm-images-pinned", "pinned from ghcr.io", release()),
    passes(
        "helm-images-pinned",
        "the chart's own tag (appVersion of the pinned chart)",
        release(values=values(image={"repository": "registry.k8s.io/metrics-server/metrics-server"})),
    ),
    fails("helm-resources", "no resources", release(values=values(resources=None))),
    passes("helm-resources", "resources for the operator", release()),
    fails(
        "helm-resources",
        "kube-prometheus-stack without Prometheus's resources",
        release(chart="kube-prometheus-stack", values=values(prometheus={"prometheusSpec": {}})),
    ),
    passes(
        "helm-resources",
        "kube-prometheus-stack with Prometheus's resources",
        release(
            chart="kube-prometheus-stack",
            values=values(prometheus={"prometheusSpec": {"resources": {"requests": {"cpu": "500m"}}}}),
        ),
    ),
    passes("helm-resources", "values not known until apply", release(values=UNKNOWN)),
    fails(
        "helm-resources",
        "the prometheus chart's server without resources (a top-level key sets nothing there)",
        release(chart="prometheus", version="29.27.0", values=values(server={"replicaCount": 1})),
    ),
    passes(
        "helm-resources",
        "the prometheus chart's server with resources",
        release(
            chart="prometheus",
            version="29.27.0",
            values=values(resources=None, server={"resources": {"requests": {"cpu": "100m"}}}),
        ),
    ),
    passes(
        "helm-resources",
        "a CRD-only chart",
        release(chart="prometheus-operator-crds", version="31.0.1", values=None),
    ),
    fails(
        "helm-values-security",
        "privileged",
        release(values=values(securityContext={"privileged": True})),
    ),
    fails(
        "helm-values-security",
        "escalation allowed",
        release(values=values(securityContext={"operator": {"allowPrivilegeEscalation": True}})),
    ),
    fails(
        "helm-values-security",
        "root allowed",
        release(values=values(podSecurityContext={"runAsNonRoot": False})),
    ),
    fails(
        "helm-values-security", "host network outside kube-system", release(values=values(hostNetwork=True))
    ),
    passes(
        "helm-values-security",
        "host network for a node agent in kube-system",
        release(namespace="kube-system", values=values(hostNetwork=True)),
    ),
    passes("helm-values-security", "hardened values", release()),
    passes(
        "helm-values-security",
        "root for the DCGM exporter (rootCharts)",
        release(chart="dcgm-exporter", namespace="monitoring", values=values(securityContext=_DCGM_ROOT)),
    ),
    fails(
        "helm-values-security",
        "root allowed for a chart not in rootCharts",
        release(namespace="monitoring", values=values(securityContext=_DCGM_ROOT)),
    ),
    fails(
        "helm-values-security",
        "host PID for the DCGM exporter in a namespace outside systemNamespaces",
        release(chart="dcgm-exporter", namespace="apps", values=values(hostPID=True)),
    ),
]

STORE = "kubernetes:external-secrets.io/v1:ClusterSecretStore"

CASES += [
    fails(
        "k8s-secret-store-workload-identity",
        "AWS access keys from a Secret",
        Res(
            STORE,
            {
                "metadata": {"name": "s"},
                "spec": {
                    "provider": {
                        "aws": {
                            "region": "us-east-1",
                            "auth": {"secretRef": {"accessKeyIDSecretRef": {"name": "k"}}},
                        }
                    }
                },
            },
        ),
    ),
    fails(
        "k8s-secret-store-workload-identity",
        "an Azure service principal secret",
        Res(
            STORE,
            {
                "metadata": {"name": "s"},
                "spec": {"provider": {"azurekv": {"authSecretRef": {"clientId": {"name": "k"}}}}},
            },
        ),
    ),
    passes(
        "k8s-secret-store-workload-identity",
        "the controller's own identity (GKE Workload Identity)",
        Res(STORE, {"metadata": {"name": "s"}, "spec": {"provider": {"gcpsm": {"projectID": UNKNOWN}}}}),
    ),
]


# --- the mesh: gateway-jwt, mesh-mtls-strict ------------------------------------------------------

_CLUSTER = Res("pulumi:providers:kubernetes", {"kubeconfig": UNKNOWN}, name="k8s")
_AUTHN = "kubernetes:security.istio.io/v1:RequestAuthentication"
_AUTHZ = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
_PEER = "kubernetes:security.istio.io/v1:PeerAuthentication"
_READY = {"to": [{"operation": {"methods": ["GET"], "paths": ["/health/readiness"]}}]}
_PRINCIPAL = {"from": [{"source": {"requestPrincipals": ["*"]}}]}


def _in_cluster(type_: str, name: str, spec: dict[str, Any], namespace: str = "istio-ingress") -> Res:
    return Res(
        type_, {"metadata": {"name": name, "namespace": namespace}, "spec": spec}, name=name, provider="k8s"
    )


def _exposed_gateway(
    *, authn: dict[str, Any] | None = None, rules: list[Any] | None = None, action: str = "ALLOW"
) -> tuple[Res, ...]:
    found = [
        _CLUSTER,
        Res(
            DEPLOYMENT,
            {
                "metadata": {"name": "deepseek-deployment", "namespace": "inference"},
                "spec": {"template": {"spec": pod()}},
            },
            name="gw",
            provider="k8s",
        ),
        _in_cluster(
            "kubernetes:networking.istio.io/v1:Gateway", "ingress", {"selector": {"istio": "ingress"}}
        ),
    ]
    if authn is not None:
        found.append(_in_cluster(_AUTHN, "jwt", authn))
    if rules is not None:
        found.append(_in_cluster(_AUTHZ, "require-jwt", {"action": action, "rules": rules}))
    return tuple(found)


_JWT = {
    "jwtRules": [{"issuer": "https://auth.example.com/", "jwksUri": "https://auth.example.com/jwks.json"}]
}


def _serving_namespace(ambient: bool = True) -> Res:
    labels = {"istio.io/dataplane-mode": "ambient"} if ambient else {}
    return Res(NAMESPACE, {"metadata": {"name": "serving", "labels": labels}}, name="ns", provider="k8s")


CASES += [
    fails(
        "gateway-jwt", "no RequestAuthentication", *_exposed_gateway(rules=[_PRINCIPAL, _READY]), culprit="gw"
    ),
    fails(
        "gateway-jwt",
        "a RequestAuthentication without jwksUri",
        *_exposed_gateway(
            authn={"jwtRules": [{"issuer": "https://auth.example.com/"}]}, rules=[_PRINCIPAL, _READY]
        ),
        culprit="gw",
    ),
    fails("gateway-jwt", "no AuthorizationPolicy", *_exposed_gateway(authn=_JWT), culprit="gw"),
    fails(
        "gateway-jwt",
        "the open rule is a prefix, not the readiness path",
        *_exposed_gateway(
            authn=_JWT,
            rules=[_PRINCIPAL, {"to": [{"operation": {"methods": ["GET"], "paths": ["/health/*"]}}]}],
        ),
        culprit="gw",
    ),
    fails(
        "gateway-jwt",
        "the open rule admits every method on readiness",
        *_exposed_gateway(
            authn=_JWT, rules=[_PRINCIPAL, {"to": [{"operation": {"paths": ["/health/readiness"]}}]}]
        ),
        culprit="gw",
    ),
    fails(
        "gateway-jwt",
        "a rule admits anyone",
        *_exposed_gateway(
            authn=_JWT, rules=[_PRINCIPAL, _READY, {"from": [{"source": {"namespaces": ["x"]}}]}]
        ),
        culprit="gw",
    ),
    fails(
        "gateway-jwt",
        "a DENY policy",
        *_exposed_gateway(authn=_JWT, rules=[_PRINCIPAL], action="DENY"),
        culprit="gw",
    ),
    passes(
        "gateway-jwt",
        "a token required but on readiness",
        *_exposed_gateway(authn=_JWT, rules=[_PRINCIPAL, _READY]),
    ),
    passes(
        "gateway-jwt",
        "a gateway no mesh ingress exposes (an existing cluster's)",
        *_exposed_gateway()[:2],
    ),
    fails(
        "mesh-mtls-strict",
        "a serving namespace in the mesh without PeerAuthentication",
        _CLUSTER,
        _serving_namespace(),
        culprit="ns",
    ),
    fails(
        "mesh-mtls-strict",
        "PERMISSIVE",
        _CLUSTER,
        _serving_namespace(),
        _in_cluster(_PEER, "default", {"mtls": {"mode": "PERMISSIVE"}}, namespace="serving"),
        culprit="default",
    ),
    fails(
        "mesh-mtls-strict",
        "no mode: Istio's default, PERMISSIVE",
        _CLUSTER,
        _serving_namespace(),
        _in_cluster(_PEER, "default", {}, namespace="serving"),
        culprit="default",
    ),
    passes(
        "mesh-mtls-strict",
        "STRICT",
        _CLUSTER,
        _serving_namespace(),
        _in_cluster(_PEER, "default", {"mtls": {"mode": "STRICT"}}, namespace="serving"),
    ),
    passes(
        "mesh-mtls-strict",
        "a serving namespace outside the mesh",
        _CLUSTER,
        _serving_namespace(ambient=False),
    ),
]
