"""Kubernetes guards: the pod templates the program owns, its Services and Namespaces, and the values
it hands to Helm (ids K1..K9, R4, R5 of POLICY-RULES).

Pod-template guards read every container and init container of a Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job, CronJob or bare Pod, and apply Kubernetes' own defaults to what is
unset (Kubernetes API reference, SecurityContext and PodSpec,
https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/): allowPrivilegeEscalation true,
privileged false, readOnlyRootFilesystem false, no seccomp profile (Unconfined) unless the pod
sets one, automountServiceAccountToken true, Service type ClusterIP.

A Helm release is one opaque resource: no guard sees the objects its chart renders. The helm-*
guards judge what the program controls, the chart reference and the values it passes; what the
chart renders is held at run time by the clusters' admission policies (Pod Security Admission
labels on namespaces, and the zero-trust work's admission policies), see docs/policies.md.

Maps whose keys hold dots (labels, resource names such as ``nvidia.com/gpu``, Helm values) cannot be
walked with guardkit's dotted paths; ``_plain`` takes the SDK's proxies off such a map without
reading through them, so an unknown value stays the engine's sentinel (``is_unknown``) and never
raises.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from guardkit import (
    CRITICAL,
    HIGH,
    LOW,
    MEDIUM,
    cluster_of,
    is_unknown,
    items,
    known,
    present,
    resource_guard,
    stack_guard,
    value,
)
from pulumi_policy import EnforcementLevel, Policy

Props = Mapping[str, Any]

WORKLOADS: tuple[str, ...] = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:core/v1:Pod",
)
LONG_RUNNING: tuple[str, ...] = WORKLOADS[:4]
"""Workloads that serve, and so need probes (a Job's pod runs to completion)."""

RELEASE = "kubernetes:helm.sh/v3:Release"

SYSTEM_NAMESPACES: tuple[str, ...] = ("kube-system", "istio-system", "monitoring", "logging")
"""Where node agents (device plugins, DCGM exporters, CNI) legitimately use the host; istio-system holds
Istio's CNI node agent and ztunnel, which redirect every pod's traffic on their node (infra/k8s/mesh.py);
monitoring holds node-exporter, which reads the host's network, processes and filesystem
(infra/k8s/monitoring.py); logging holds Fluent Bit, which reads every container's log files from the
node through hostPath volumes (infra/k8s/logs.py, only with monitoring.logs: opensearch)."""

ALLOWED_REGISTRIES: tuple[str, ...] = (
    "docker.io",
    "ghcr.io",
    "nvcr.io",
    "public.ecr.aws",
    "registry.k8s.io",
    "quay.io",
    "*.pkg.dev",
    "gcr.io",
    "*.gcr.io",
    "*.dkr.ecr.*.amazonaws.com",
)
"""Registries images may come from: those of the images the program pins today (infra/catalog:
vLLM on Docker Hub, LiteLLM and external-secrets and KEDA on ghcr.io, the NVIDIA device plugin on
nvcr.io, the AWS controller on public.ecr.aws, autoscaler and metrics-server on registry.k8s.io),
plus the clouds' private registries a user mirrors into (Artifact Registry, GCR, ECR)."""

ACCELERATORS: tuple[str, ...] = ("nvidia.com/gpu", "google.com/tpu")
"""Extended resources of accelerators (NVIDIA device plugin, GKE TPU); only limits allocate them."""

POD_SECURITY_LEVELS: tuple[str, ...] = ("baseline", "restricted")
CHARTS_WITHOUT_WORKLOADS: tuple[str, ...] = ("prometheus-operator-crds", "base")
"""Charts that install only CustomResourceDefinitions (Istio's ``base``: with its validation webhook
configuration): nothing runs, so no resources to set."""
ROOT_CHARTS: tuple[str, ...] = ("dcgm-exporter",)
"""Charts whose values may ask for root (``runAsNonRoot: false``), and nothing more: NVIDIA's DCGM
exporter runs as root with SYS_ADMIN for DCGM's profiling fields (its image's Dockerfile and chart
values at 4.5.3-4.8.2; infra/k8s/gpu_metrics.py). Privilege, escalation and host namespaces stay
forbidden for them."""

MAIN_COMPONENTS: dict[str, str] = {
    "kube-prometheus-stack": "prometheus.prometheusSpec",
    "prometheus": "server",
}
"""Charts whose main component's values are not at the top level: where its ``resources`` go
(kube-prometheus-stack 88.5.3 sizes its Prometheus at ``prometheus.prometheusSpec.resources``;
prometheus-community's ``prometheus`` 29.27.0 its server at ``server.resources``; a top-level
``resources`` there sets nothing)."""

_SEMVER = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def _target(node: Any) -> Any:
    """The container behind one of the SDK's proxies (its own ``__target`` key), or the node itself."""
    try:
        return node["__target"]
    except (KeyError, TypeError, IndexError):
        return node


def _plain(node: Any) -> Any:
    """The tree without the SDK's proxies; an unknown leaf stays the engine's sentinel."""
    node = _target(node)
    if isinstance(node, Mapping):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def _map(props: Props, path: str) -> dict[str, Any]:
    found = _plain(known(props, path, {}))
    return found if isinstance(found, dict) else {}


def _pod(props: Props) -> str:
    """Where the pod spec sits in this workload's props."""
    if present(props, "spec.jobTemplate"):
        return "spec.jobTemplate.spec.template.spec"
    if present(props, "spec.template"):
        return "spec.template.spec"
    return "spec"


def _elements(props: Props, path: str) -> list[str]:
    """The paths of the known elements of the list at ``path`` (none while the list is unknown)."""
    found = known(props, path)
    if not isinstance(found, Sequence) or isinstance(found, str):
        return []
    return [f"{path}.{i}" for i in range(len(found)) if known(props, f"{path}.{i}") is not None]


def _containers(props: Props, *, init: bool = True) -> list[tuple[str, str]]:
    """(path, name) of every container of the pod (and its init containers)."""
    pod = _pod(props)
    return [
        (path, str(known(props, f"{path}.name", path)))
        for kind in (("containers", "initContainers") if init else ("containers",))
        for path in _elements(props, f"{pod}.{kind}")
    ]


def _namespace(props: Props) -> str | None:
    """The object's namespace (a Helm release's own ``namespace``), None when not known yet;
    unset, the provider's default is "default"."""
    path = "metadata.namespace" if present(props, "metadata") else "namespace"
    if not present(props, path):
        return "default"
    return known(props, path)


def _system(props: Props, config: Props) -> bool:
    return _namespace(props) in config.get("systemNamespaces", SYSTEM_NAMESPACES)


def _kind(props: Props) -> str | None:
    return known(props, "kind")


def _privileged(props: Props, _: Props) -> list[str]:
    return [
        f"container {name} is privileged ({path}.securityContext.privileged)"
        for path, name in _containers(props)
        if value(props, f"{path}.securityContext.privileged", False) is True
    ]


def _escalation(props: Props, _: Props) -> list[str]:
    return [
        f"container {name} may escalate privileges ({path}.securityContext.allowPrivilegeEscalation: false)"
        for path, name in _containers(props)
        if value(props, f"{path}.securityContext.allowPrivilegeEscalation", True) is not False
    ]


def _effective(props: Props, container: str, key: str) -> Any:
    """A security setting as the container gets it: its own, else the pod's."""
    own = value(props, f"{container}.securityContext.{key}")
    return own if own is not None else value(props, f"{_pod(props)}.securityContext.{key}")


def _non_root(props: Props, _: Props) -> list[str]:
    problems = []
    for path, name in _containers(props):
        if _effective(props, path, "runAsNonRoot") is not True:
            problems.append(
                f"container {name} may run as root (securityContext.runAsNonRoot of {path} or the pod)"
            )
        if _effective(props, path, "runAsUser") == 0:
            problems.append(
                f"container {name} runs as UID 0 (securityContext.runAsUser of {path} or the pod)"
            )
    return problems


def _capabilities(props: Props, _: Props) -> list[str]:
    problems = []
    for path, name in _containers(props):
        caps = f"{path}.securityContext.capabilities"
        if "ALL" not in list(items(props, f"{caps}.drop")):
            problems.append(f"container {name} keeps the default capabilities ({caps}.drop: [ALL])")
        added = [c for c in items(props, f"{caps}.add") if c != "NET_BIND_SERVICE"]
        if added:
            problems.append(f"container {name} adds capabilities {', '.join(map(str, added))} ({caps}.add)")
        profile = _plain(_effective(props, path, "seccompProfile"))
        kind = profile.get("type") if isinstance(profile, dict) else None
        if kind not in ("RuntimeDefault", "Localhost"):
            problems.append(
                f"container {name} runs without a seccomp profile (securityContext.seccompProfile.type "
                f"RuntimeDefault on {path} or the pod)"
            )
    return problems


def _read_only(props: Props, _: Props) -> list[str]:
    return [
        f"container {name} has a writable root filesystem ({path}.securityContext.readOnlyRootFilesystem)"
        for path, name in _containers(props)
        if value(props, f"{path}.securityContext.readOnlyRootFilesystem", False) is not True
    ]


def _host(props: Props, config: Props) -> list[str]:
    if _system(props, config):
        return []
    pod = _pod(props)
    problems = [
        f"pod shares the node's {what} ({pod}.{key})"
        for key, what in (("hostNetwork", "network"), ("hostPID", "process namespace"), ("hostIPC", "IPC"))
        if value(props, f"{pod}.{key}", False) is True
    ]
    for volume in _elements(props, f"{pod}.volumes"):
        if present(props, f"{volume}.hostPath"):
            name = known(props, f"{volume}.name", volume)
            problems.append(f"pod mounts a host path (volume {name}: {volume}.hostPath)")
    return problems


def image_parts(image: str) -> tuple[str, str, str | None, str | None]:
    """(registry, repository, tag, digest) of an image reference, Docker Hub when it names no registry."""
    name, _, digest = image.partition("@")
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    repository, colon, tag = path.rpartition(":")
    if not colon:
        repository, tag = path, ""
    return registry, repository, tag or None, digest or None


def _image_problems(image: str, where: str, registries: Sequence[str]) -> list[str]:
    registry, _, tag, digest = image_parts(image)
    problems = []
    if digest is None and tag is None:
        problems.append(f"{where} image {image} has no tag, which pulls 'latest'; pin a tag or a digest")
    elif digest is None and tag == "latest":
        problems.append(f"{where} image {image} uses 'latest'; pin a tag or a digest")
    if not any(fnmatch.fnmatchcase(registry, pattern) for pattern in registries):
        problems.append(f"{where} image {image} comes from {registry}; allowed: {', '.join(registries)}")
    return problems


def _registries(config: Props) -> list[str]:
    return list(config.get("allowedRegistries", ALLOWED_REGISTRIES))


def _images(props: Props, config: Props) -> list[str]:
    problems = []
    for path, name in _containers(props):
        image = known(props, f"{path}.image")
        if image is None:
            continue  # built from another resource's output: judged once known
        problems.extend(_image_problems(str(image), f"container {name} ({path}.image)", _registries(config)))
    return problems


def _digests(props: Props, _: Props) -> list[str]:
    return [
        f"container {name} image {image} is pinned by tag, not digest ({path}.image)"
        for path, name in _containers(props)
        if (image := known(props, f"{path}.image")) is not None and "@sha256:" not in str(image)
    ]


def _token(props: Props, _: Props) -> str | None:
    path = f"{_pod(props)}.automountServiceAccountToken"
    if value(props, path, True) is not False:
        return f"pod mounts a Kubernetes API token ({path}: false unless it calls the API)"
    return None


def _claims(props: Props, container: str, key: str) -> tuple[bool, bool]:
    """Whether the container lists the accelerator in its requests, and in its limits."""
    return key in _map(props, f"{container}.resources.requests"), key in _map(
        props, f"{container}.resources.limits"
    )


def _probes(props: Props, _: Props) -> list[str]:
    problems = []
    for path, name in _containers(props, init=False):
        for probe in ("readinessProbe", "livenessProbe"):
            if not present(props, f"{path}.{probe}"):
                problems.append(f"container {name} has no {probe} ({path}.{probe})")
        accelerated = any(any(_claims(props, path, key)) for key in ACCELERATORS)
        if accelerated and not present(props, f"{path}.startupProbe"):
            problems.append(
                f"model server {name} has no startupProbe ({path}.startupProbe): loading weights "
                "outlasts any liveness probe"
            )
    return problems


def _resources(props: Props, _: Props) -> list[str]:
    problems = []
    claimed: set[str] = set()
    for path, name in _containers(props):
        requests = _map(props, f"{path}.resources.requests")
        limits = _map(props, f"{path}.resources.limits")
        for kind, found in (("requests", requests), ("limits", limits)):
            for resource in ("cpu", "memory"):
                if resource not in found:
                    problems.append(
                        f"container {name} sets no {resource} {kind} ({path}.resources.{kind}.{resource})"
                    )
        for key in ACCELERATORS:
            if key in limits:
                claimed.add(key)
            elif key in requests:
                problems.append(
                    f"container {name} requests {key} without a limit ({path}.resources.limits); "
                    "extended resources are allocated by their limit"
                )
    if _kind(props) == "DaemonSet":
        return problems  # node agents tolerate accelerator taints without claiming the devices
    tolerated = [_plain(t) for t in items(props, f"{_pod(props)}.tolerations")]
    for key in ACCELERATORS:
        tolerates = any(
            isinstance(t, dict)
            and (t.get("key") == key or (t.get("operator") == "Exists" and not t.get("key")))
            for t in tolerated
        )
        if tolerates and key not in claimed:
            problems.append(
                f"pod tolerates the {key} taint but no container claims {key} in its limits: it would hold an "
                "accelerator node without using it"
            )
    return problems


def _load_balancer(props: Props, config: Props) -> str | None:
    if value(props, "spec.type", "ClusterIP") != "LoadBalancer":
        return None
    name = f"{_namespace(props) or '?'}/{known(props, 'metadata.name', '?')}"
    allowed = list(config.get("allowedLoadBalancers", []))
    if name not in allowed:
        return (
            f"Service {name} is a cloud load balancer (spec.type: LoadBalancer); traffic enters through the "
            f"edge, allowed: {', '.join(allowed) or 'none'}"
        )
    return None


def _pod_security(props: Props, config: Props) -> str | None:
    name = known(props, "metadata.name")
    if name in config.get("systemNamespaces", SYSTEM_NAMESPACES):
        return None
    labels = _map(props, "metadata.labels")
    level = labels.get("pod-security.kubernetes.io/enforce")
    allowed = list(config.get("allowedLevels", POD_SECURITY_LEVELS))
    if level is None:
        return (
            "namespace enforces no Pod Security Standard (metadata.labels pod-security.kubernetes.io/enforce)"
        )
    if not is_unknown(level) and level not in allowed:
        return (
            f"namespace enforces the {level} Pod Security Standard "
            f"(pod-security.kubernetes.io/enforce); allowed: {', '.join(allowed)}"
        )
    return None


STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
EBS_PROVISIONER = "ebs.csi.aws.com"


def _storage_encrypted(props: Props, _: Props) -> str | None:
    """An EBS CSI StorageClass creates unencrypted volumes unless ``parameters.encrypted`` is "true"
    (kubernetes-sigs/aws-ebs-csi-driver docs/parameters.md), whatever the account's default."""
    if known(props, "provisioner") != EBS_PROVISIONER:
        return None
    encrypted = value(props, "parameters.encrypted")
    if is_unknown(encrypted) or encrypted == "true":
        return None
    return f'EBS StorageClass leaves its volumes unencrypted (parameters.encrypted {encrypted!r}; allowed: "true")'


def _chart(props: Props, _: Props) -> list[str]:
    problems = []
    version = known(props, "version")
    if not present(props, "version") or version == "":
        problems.append(
            "release pins no chart version (version): a new chart release would roll out unreviewed"
        )
    elif version is not None and not _SEMVER.match(str(version)):
        problems.append(f"release chart version {version!r} is a range or not a version; pin an exact one")
    chart = known(props, "chart", "")
    if not present(props, "repositoryOpts.repo") and not str(chart).startswith("oci://"):
        problems.append("release names no chart repository (repositoryOpts.repo)")
    repo = known(props, "repositoryOpts.repo")
    if repo is not None and str(repo).startswith("http://"):
        problems.append(f"release fetches its chart over plain HTTP ({repo}); use https://")
    return problems


def _walk(node: Any, path: str = "values") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every key of a values tree, depth first."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield f"{path}.{key}", str(key), child
            yield from _walk(child, f"{path}.{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _walk(child, f"{path}.{i}")


def _values(props: Props) -> dict[str, Any]:
    return _map(props, "values")


def _release_images(props: Props, config: Props) -> list[str]:
    registries = _registries(config)
    problems = []
    for path, key, node in _walk(_values(props)):
        if key == "tag" and not isinstance(node, (dict, list)) and not is_unknown(node):
            if str(node).strip() in ("", "latest"):
                problems.append(f"release values pin no image tag ({path}: {node!r})")
        elif key == "image" and isinstance(node, str) and not is_unknown(node):
            problems.extend(_image_problems(node, f"release ({path})", registries))
        elif (
            isinstance(node, dict)
            and isinstance(node.get("repository"), str)
            and not is_unknown(node["repository"])
        ):
            # A chart's image block: {registry?, repository, tag?}; an unset tag is the chart's
            # appVersion, which the pinned chart version fixes.
            registry = node.get("registry")
            named = isinstance(registry, str) and registry and not is_unknown(registry)
            reference = f"{registry}/{node['repository']}" if named else node["repository"]
            source = image_parts(reference)[0]
            if not any(fnmatch.fnmatchcase(source, pattern) for pattern in registries):
                problems.append(
                    f"release image {reference} comes from {source} ({path}); allowed: {', '.join(registries)}"
                )
    return problems


def _release_resources(props: Props, config: Props) -> str | None:
    chart = known(props, "chart")
    if chart in config.get("chartsWithoutWorkloads", CHARTS_WITHOUT_WORKLOADS):
        return None
    if present(props, "values") and known(props, "values") is None:
        return None  # values built from other resources' outputs: judged once known
    where = MAIN_COMPONENTS.get(str(chart), "")
    main: Any = _values(props)
    for key in where.split(".") if where else ():
        main = main.get(key) if isinstance(main, dict) else None
    if not isinstance(main, dict) or "resources" not in main:
        path = f"values.{where}.resources" if where else "values.resources"
        return f"release of {chart} sets no resources for its main component ({path})"
    return None


_UNSAFE = {
    "privileged": True,
    "allowPrivilegeEscalation": True,
    "runAsNonRoot": False,
    "hostNetwork": True,
    "hostPID": True,
    "hostIPC": True,
}
"""Values keys whose value asks a chart for what K1, K2, K3 and K6 forbid."""


def _release_security(props: Props, config: Props) -> list[str]:
    system = _system(props, config)
    root = known(props, "chart") in config.get("rootCharts", ROOT_CHARTS)
    return [
        f"release values set {key}: {str(node).lower()} ({path})"
        for path, key, node in _walk(_values(props))
        if key in _UNSAFE
        and node is _UNSAFE[key]
        and not (system and key.startswith("host"))
        and not (root and key == "runAsNonRoot")
    ]


SECRET_STORES: tuple[str, ...] = tuple(
    f"kubernetes:external-secrets.io/{version}:{kind}"
    for version in ("v1", "v1beta1")
    for kind in ("ClusterSecretStore", "SecretStore")
)


def _secret_store(props: Props, _: Props) -> list[str]:
    """Static cloud keys in a Secret (External Secrets Operator docs, v2.6: AWS and Google Secret
    Manager ``auth.secretRef``, Azure Key Vault ``authSecretRef``) instead of the controller's
    workload identity, which needs no key at all."""
    problems = []
    for provider in _map(props, "spec.provider"):
        for path in (f"spec.provider.{provider}.auth.secretRef", f"spec.provider.{provider}.authSecretRef"):
            if present(props, path):
                problems.append(f"secret store reads {provider} with long-lived keys from a Secret ({path})")
    return problems


_ADVISORY = EnforcementLevel.ADVISORY


_SYSTEM_SCHEMA = {"type": "array", "items": {"type": "string"}, "default": list(SYSTEM_NAMESPACES)}
_REGISTRY_SCHEMA = {"type": "array", "items": {"type": "string"}, "default": list(ALLOWED_REGISTRIES)}

POLICIES: list[Policy] = [
    resource_guard(
        "k8s-no-privileged",
        "No privileged containers",
        types=WORKLOADS,
        rule="K1",
        mirrors="CKV_K8S_16, KSV-0017, KY disallow-privileged-containers, GK K8sPSPPrivilegedContainer",
        severity=CRITICAL,
        fix="drop securityContext.privileged (false is the default)",
        check=_privileged,
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-no-privilege-escalation",
        "Containers cannot gain privileges (allowPrivilegeEscalation false)",
        types=WORKLOADS,
        rule="K2",
        mirrors="CKV_K8S_20, KSV-0001, KY disallow-privilege-escalation, "
        "GK K8sPSPAllowPrivilegeEscalationContainer",
        severity=HIGH,
        fix="securityContext.allowPrivilegeEscalation: false on every container (Kubernetes defaults to true)",
        check=_escalation,
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-run-as-non-root",
        "Containers run as a non-root user",
        types=WORKLOADS,
        rule="K3",
        mirrors="CKV_K8S_23, KSV-0012, KY require-run-as-nonroot, GK K8sPSPAllowedUsers",
        severity=HIGH,
        fix="securityContext.runAsNonRoot: true and a non-zero runAsUser, on the pod or each container",
        check=_non_root,
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-capabilities-seccomp",
        "Containers drop ALL capabilities and run under the RuntimeDefault seccomp profile",
        types=WORKLOADS,
        rule="K4",
        mirrors="CKV_K8S_28, CKV_K8S_37, CKV_K8S_31, KSV-0003, KSV-0030, KY require-drop-all, restrict-seccomp",
        severity=MEDIUM,
        fix="securityContext.capabilities.drop: [ALL] (add only NET_BIND_SERVICE), "
        "seccompProfile.type: RuntimeDefault",
        check=_capabilities,
        level=_ADVISORY,
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-read-only-root",
        "Containers run on a read-only root filesystem",
        types=WORKLOADS,
        rule="K5",
        mirrors="CKV_K8S_22, KSV-0014, KY require-ro-rootfs",
        severity=LOW,
        fix="securityContext.readOnlyRootFilesystem: true, with emptyDir volumes for caches and /tmp",
        check=_read_only,
        level=_ADVISORY,
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-no-host-access",
        "Pods outside the system namespaces never share the node's namespaces or mount its paths",
        types=WORKLOADS,
        rule="K6",
        mirrors="CKV_K8S_17, CKV_K8S_18, CKV_K8S_19, KSV-0008, KSV-0009, KSV-0010, KSV-0023, "
        "KY disallow-host-namespaces, disallow-host-path",
        severity=HIGH,
        fix="remove hostNetwork/hostPID/hostIPC and hostPath volumes, or run the node agent in a "
        "namespace listed in systemNamespaces",
        check=_host,
        config=dict(systemNamespaces=_SYSTEM_SCHEMA),
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-image-pinned",
        "Container images pinned to a tag or digest, from allowed registries",
        types=WORKLOADS,
        rule="K7",
        mirrors="CKV_K8S_14, CKV_K8S_43, KSV-0013, KSV-0125, KY disallow-latest-tag, restrict-image-registries, "
        "GK K8sDisallowedTags, K8sAllowedRepos",
        severity=HIGH,
        fix="an image repository:tag (not latest) or @sha256 digest from a registry in allowedRegistries; "
        "stack settings serving.gpuImage / serving.tpuImage",
        check=_images,
        config=dict(allowedRegistries=_REGISTRY_SCHEMA),
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-image-digest",
        "Container images pinned by digest",
        types=WORKLOADS,
        rule="K7",
        mirrors="CKV_K8S_43",
        severity=LOW,
        fix="repository@sha256:<digest> (the digest of the pinned tag is in infra/catalog/models.yaml sources)",
        check=_digests,
        level=_ADVISORY,
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-no-token-automount",
        "Pods do not mount a Kubernetes API token they do not use",
        types=WORKLOADS,
        rule="K8",
        mirrors="CKV_K8S_38, KSV-0036",
        severity=MEDIUM,
        fix="spec.template.spec.automountServiceAccountToken: false",
        check=_token,
        level=_ADVISORY,
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-probes",
        "Serving containers have readiness and liveness probes; model servers a startup probe",
        types=LONG_RUNNING,
        rule="R4",
        mirrors="CKV_K8S_8, CKV_K8S_9, KY require-probes, GK K8sRequiredProbes",
        severity=MEDIUM,
        fix="readinessProbe and livenessProbe on every container; startupProbe on containers that claim "
        "an accelerator",
        check=_probes,
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-resources",
        "Containers set CPU and memory requests and limits; accelerators are claimed in limits",
        types=WORKLOADS,
        rule="R5",
        mirrors="CKV_K8S_10, CKV_K8S_11, CKV_K8S_12, CKV_K8S_13, KSV-0011, KSV-0015, KSV-0016, KSV-0018, "
        "KY require-pod-requests-limits, GK K8sContainerLimits; accelerator part custom",
        severity=MEDIUM,
        fix="resources.requests and resources.limits with cpu and memory; nvidia.com/gpu or google.com/tpu "
        "in limits for pods that tolerate the accelerator taint",
        check=_resources,
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-no-load-balancer-service",
        "No Service of type LoadBalancer except the allow-listed ones",
        types="kubernetes:core/v1:Service",
        rule="K9",
        mirrors="PCP kubernetes-core-v1-service-disallow-load-balancer, GK K8sBlockLoadBalancer",
        severity=HIGH,
        fix="spec.type ClusterIP behind the edge, or add namespace/name to allowedLoadBalancers",
        check=_load_balancer,
        config=dict(
            allowedLoadBalancers={"type": "array", "items": {"type": "string"}, "default": []},
        ),
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-namespace-pod-security",
        "Namespaces enforce a Pod Security Standard (baseline or restricted)",
        types="kubernetes:core/v1:Namespace",
        rule="K9",
        mirrors="KY psa / Pod Security Admission (custom)",
        severity=MEDIUM,
        fix="metadata.labels pod-security.kubernetes.io/enforce: restricted (baseline for node agents)",
        check=_pod_security,
        level=_ADVISORY,
        config=dict(
            systemNamespaces=_SYSTEM_SCHEMA,
            allowedLevels={
                "type": "array",
                "items": {"type": "string"},
                "default": list(POD_SECURITY_LEVELS),
            },
        ),
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-storage-encrypted",
        "EBS StorageClasses encrypt the volumes they create",
        types=STORAGE_CLASS,
        rule="custom",
        mirrors="custom (CKV_AWS_3 for the volumes a cluster creates itself)",
        severity=HIGH,
        fix='parameters.encrypted: "true" (infra/k8s/monitoring.py, the gp3 class)',
        check=_storage_encrypted,
        concern="kubernetes",
    ),
    resource_guard(
        "k8s-secret-store-workload-identity",
        "Secret stores reach the cloud's secret manager through workload identity, never static keys",
        types=SECRET_STORES,
        rule="custom",
        mirrors="custom (External Secrets Operator: workload identity over auth.secretRef)",
        severity=HIGH,
        fix="drop auth.secretRef and let the controller's service account authenticate (IRSA or Pod "
        "Identity on EKS, Workload Identity on GKE, as the add-ons set them up)",
        check=_secret_store,
        concern="kubernetes",
    ),
    resource_guard(
        "helm-chart-pinned",
        "Helm releases pin an exact chart version from a named HTTPS repository",
        types=RELEASE,
        rule="K7",
        mirrors="custom (issue 14 item 5)",
        severity=HIGH,
        fix="version: an exact chart version; repositoryOpts.repo: the chart's https repository "
        "(infra/catalog/addons.yaml)",
        check=_chart,
        concern="kubernetes",
    ),
    resource_guard(
        "helm-images-pinned",
        "Images in Helm values carry a pinned tag from an allowed registry",
        types=RELEASE,
        rule="K7",
        mirrors="CKV_K8S_14, KSV-0013, KY disallow-latest-tag, restrict-image-registries (on the values)",
        severity=HIGH,
        fix="every image tag in values pinned (not empty, not latest), repositories in allowedRegistries",
        check=_release_images,
        config=dict(allowedRegistries=_REGISTRY_SCHEMA),
        concern="kubernetes",
    ),
    resource_guard(
        "helm-resources",
        "Helm releases set resources for their main component",
        types=RELEASE,
        rule="R5",
        mirrors="CKV_K8S_10-13 (on the values)",
        severity=MEDIUM,
        fix="values.resources with requests and limits (infra/k8s/addons/values.py); CRD-only charts "
        "go in chartsWithoutWorkloads",
        check=_release_resources,
        config=dict(
            chartsWithoutWorkloads={
                "type": "array",
                "items": {"type": "string"},
                "default": list(CHARTS_WITHOUT_WORKLOADS),
            }
        ),
        concern="kubernetes",
    ),
    resource_guard(
        "helm-values-security",
        "Helm values never ask for privileged, escalating or root containers, or host namespaces",
        types=RELEASE,
        rule="K1",
        mirrors="CKV_K8S_16, CKV_K8S_20, CKV_K8S_23, CKV_K8S_17-19 (on the values)",
        severity=HIGH,
        fix="remove privileged / allowPrivilegeEscalation / runAsNonRoot: false / host* from the values; "
        "host namespaces only for releases in systemNamespaces, root only for charts in rootCharts",
        check=_release_security,
        config=dict(
            systemNamespaces=_SYSTEM_SCHEMA,
            rootCharts={"type": "array", "items": {"type": "string"}, "default": list(ROOT_CHARTS)},
        ),
        concern="kubernetes",
    ),
]


# --- the mesh (issue 13: mTLS and a JWT on every request) ------------------------------------------

GATEWAY_DEPLOYMENT = "deepseek-deployment"
"""The gateway's Deployment (infra/k8s/gateway.py): what a request without a token must not reach."""
MESH_GATEWAY = "kubernetes:networking.istio.io/v1:Gateway"
REQUEST_AUTHENTICATION = "kubernetes:security.istio.io/v1:RequestAuthentication"
AUTHORIZATION_POLICY = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
PEER_AUTHENTICATION = "kubernetes:security.istio.io/v1:PeerAuthentication"
READINESS_PATH = "/health/readiness"
"""The one route the health checkers call without a token (LiteLLM's readiness)."""
SERVING_NAMESPACES: tuple[str, ...] = ("inference", "serving")
AMBIENT_LABEL = "istio.io/dataplane-mode"


def _validates_tokens(r: Any) -> bool:
    rules = list(items(r.props, "spec.jwtRules"))
    return bool(rules) and all(present(rule, "issuer") and present(rule, "jwksUri") for rule in rules)


def _open_rule(rule: Any) -> bool:
    """The readiness exception exactly: GET of the readiness path, nothing else, from anyone."""
    if present(rule, "from") or present(rule, "when"):
        return False
    to = list(items(rule, "to"))
    if len(to) != 1 or set(_map(to[0], "operation")) != {"methods", "paths"}:
        return False
    return list(items(to[0], "operation.methods")) == ["GET"] and list(items(to[0], "operation.paths")) == [
        READINESS_PATH
    ]


def _requires_principal(r: Any) -> bool:
    """An ALLOW policy whose every rule asks for a validated request principal, but the readiness one."""
    if known(r.props, "spec.action", "ALLOW") != "ALLOW":
        return False
    rules = list(items(r.props, "spec.rules"))

    def principal(rule: Any) -> bool:
        sources = list(items(rule, "from"))
        return bool(sources) and all(bool(list(items(s, "source.requestPrincipals"))) for s in sources)

    return any(principal(rule) for rule in rules) and all(
        principal(rule) or _open_rule(rule) for rule in rules
    )


def _gateway_jwt(resources: Sequence[Any], _: Props) -> Iterator[tuple[str, str]]:
    """Every cluster whose gateway the mesh's ingress exposes validates a token and requires it."""
    exposed = {cluster_of(r) for r in resources if r.resource_type == MESH_GATEWAY}
    for d in resources:
        if d.resource_type != WORKLOADS[0] or known(d.props, "metadata.name") != GATEWAY_DEPLOYMENT:
            continue
        cluster = cluster_of(d)
        if cluster not in exposed:
            continue
        same = [r for r in resources if cluster_of(r) == cluster]
        if not any(r.resource_type == REQUEST_AUTHENTICATION and _validates_tokens(r) for r in same):
            yield (
                f"the gateway {GATEWAY_DEPLOYMENT} is exposed with no RequestAuthentication whose jwtRules "
                "name an issuer and a jwksUri",
                d.urn,
            )
        if not any(r.resource_type == AUTHORIZATION_POLICY and _requires_principal(r) for r in same):
            yield (
                f"the gateway {GATEWAY_DEPLOYMENT} is exposed with no ALLOW AuthorizationPolicy requiring "
                f"requestPrincipals on every rule but GET {READINESS_PATH}",
                d.urn,
            )


def _mesh_mtls(resources: Sequence[Any], _: Props) -> Iterator[tuple[str, str]]:
    """A serving namespace in the ambient mesh accepts mutual TLS only."""
    for ns in resources:
        if ns.resource_type != NAMESPACE_TYPE:
            continue
        name = known(ns.props, "metadata.name")
        if (
            name not in SERVING_NAMESPACES
            or _map(ns.props, "metadata.labels").get(AMBIENT_LABEL) != "ambient"
        ):
            continue
        peers = [
            r
            for r in resources
            if r.resource_type == PEER_AUTHENTICATION
            and cluster_of(r) == cluster_of(ns)
            and known(r.props, "metadata.namespace") == name
        ]
        if not peers:
            yield (
                f"namespace {name} is in the mesh with no PeerAuthentication (Istio's default: PERMISSIVE)",
                ns.urn,
            )
        for peer in peers:
            mode = known(peer.props, "spec.mtls.mode", "UNSET")
            if mode != "STRICT":
                yield (
                    f"PeerAuthentication {name}/{known(peer.props, 'metadata.name')} is {mode}; allowed: STRICT",
                    peer.urn,
                )


NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"

POLICIES += [
    stack_guard(
        "gateway-jwt",
        "The mesh ingress in front of the gateway validates a JWT and requires it on every route but readiness",
        rule="K10",
        mirrors="custom (Istio RequestAuthentication + AuthorizationPolicy requestPrincipals)",
        severity=CRITICAL,
        fix="set security.jwt in the stack (issuer, audiences, jwksUri): infra/k8s/mesh.py builds both policies",
        check=_gateway_jwt,
        concern="kubernetes",
        types=[REQUEST_AUTHENTICATION, AUTHORIZATION_POLICY, MESH_GATEWAY],
    ),
    stack_guard(
        "mesh-mtls-strict",
        "Serving namespaces in the mesh accept mutual TLS only",
        rule="K11",
        mirrors="custom (Istio PeerAuthentication mtls.mode STRICT)",
        severity=HIGH,
        fix="security.mtls: strict (permissive is for dev only)",
        check=_mesh_mtls,
        concern="kubernetes",
        types=[PEER_AUTHENTICATION],
    ),
]
