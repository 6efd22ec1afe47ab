"""In-cluster admission: what the API server refuses in the serving namespaces, whoever applies it.

The policy pack judges what this program declares; nothing stops ``kubectl apply`` or a controller
from creating a privileged pod later. A ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1,
GA since Kubernetes 1.30, CEL evaluated in the API server, no webhook to run) closes that, for every
pod created or updated in the serving namespaces (``inference``, ``serving``):

- no privileged container;
- every image pinned: a digest, or a tag that is not ``latest`` (an image without a tag is latest);
- CPU and memory limits on every container (the model servers set them, requests equal to limits);
- no hostNetwork, hostPID or hostIPC.

Pods, not their controllers, are matched: a Deployment, a Job or a bare pod all end as pods, so
nothing goes around the rules. The binding's validationActions follow ``security.admission``:
``[Deny]`` when enforce, ``[Warn, Audit]`` when warn (dev only, by the settings). References:
https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/ and the CEL
libraries Kubernetes offers (https://kubernetes.io/docs/reference/using-api/cel/).

Pod Security Admission ``restricted`` is on every namespace the program makes for workloads (the
namespaces' labels, infra/data.py ``POD_SECURITY`` and the add-ons' namespaces); the one exception
is listed in ``PRIVILEGED_NAMESPACES`` with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.data import NAMESPACE as INFERENCE
from infra.k8s import serving
from infra.parts import ClusterParts
from infra.settings import PROJECT, AdmissionMode, Settings

SERVING_NAMESPACES: tuple[str, ...] = (INFERENCE, serving.NAMESPACE)
POLICY_NAME = "inferstack-serving-pods"

PRIVILEGED_NAMESPACES: Mapping[str, str] = {
    "kube-system": "the cloud's node daemons (VPC CNI / Dataplane V2, kube-proxy, the Pod Identity agent, "
    "the NVIDIA device plugin) need host networking and privileged containers; the cloud manages it",
    "istio-system": "Istio ambient's node agents (pods, not host-network, at 1.30): the CNI agent mounts the "
    "host's CNI paths and enters pod network namespaces, and ztunnel redirects pod traffic with NET_ADMIN, "
    "SYS_ADMIN and NET_RAW (infra/k8s/mesh.py; the 1.30.3 istio-cni and ztunnel daemonsets)",
    "istio-ingress": "baseline, not restricted: the Istio gateway chart's pods (1.30.3) set the "
    "net.ipv4.ip_unprivileged_port_start sysctl, which baseline admits; restricted is not verified for them",
    "monitoring": "EKS only: the node exporter that metric collection adds there reads the host's network "
    "and process table (infra/k8s/monitoring.py); today it holds the Prometheus Operator's CRDs and rules only",
}
"""Namespaces where Pod Security is not ``restricted``, and why; every other namespace the program
creates enforces ``restricted`` (tests/test_admission.py)."""


@dataclass(frozen=True)
class Rule:
    """One refusal: a CEL expression true for an admissible pod, and what the refusal says."""

    name: str
    expression: str
    message: str


CONTAINERS = (
    "object.spec.containers + "
    "(has(object.spec.initContainers) ? object.spec.initContainers : []) + "
    "(has(object.spec.ephemeralContainers) ? object.spec.ephemeralContainers : [])"
)
"""Every container of a pod, init and ephemeral ones included (a debug container is a container)."""

RULES: tuple[Rule, ...] = (
    Rule(
        "no-privileged",
        "variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) "
        "|| c.securityContext.privileged == false)",
        "privileged containers are refused in the serving namespaces",
    ),
    Rule(
        "pinned-image",
        # A digest; or a tag after the last '/', other than latest ("host:5000/img" has no tag).
        "variables.containers.all(c, c.image.matches('@sha256:[0-9a-f]{64}$') "
        "|| (c.image.matches(':[^/:]+$') && !c.image.endsWith(':latest')))",
        "every image needs a digest or a tag other than latest",
    ),
    Rule(
        "limits",
        "object.spec.containers.all(c, has(c.resources) && has(c.resources.limits) "
        "&& 'cpu' in c.resources.limits && 'memory' in c.resources.limits)",
        "every container needs CPU and memory limits",
    ),
    Rule(
        "no-host-namespaces",
        "!(has(object.spec.hostNetwork) && object.spec.hostNetwork) "
        "&& !(has(object.spec.hostPID) && object.spec.hostPID) "
        "&& !(has(object.spec.hostIPC) && object.spec.hostIPC)",
        "hostNetwork, hostPID and hostIPC are refused in the serving namespaces",
    ),
)


def validation_actions(mode: AdmissionMode) -> list[str]:
    """Deny in enforce mode; warn the client and record an audit annotation in warn mode."""
    return ["Deny"] if mode is AdmissionMode.ENFORCE else ["Warn", "Audit"]


class ClusterAdmission(pulumi.ComponentResource):
    """The serving namespaces' admission policy and its binding in one cluster."""

    policy: k8s.admissionregistration.v1.ValidatingAdmissionPolicy
    binding: k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding

    def __init__(
        self,
        name: str,
        *,
        mode: AdmissionMode,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("inferstack:k8s:Admission", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        labels = {"app.kubernetes.io/part-of": PROJECT}
        av1 = k8s.admissionregistration.v1
        self.policy = av1.ValidatingAdmissionPolicy(
            f"{name}-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=POLICY_NAME, labels=labels),
            spec=av1.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=av1.MatchResourcesArgs(
                    resource_rules=[
                        av1.NamedRuleWithOperationsArgs(
                            api_groups=[""],
                            api_versions=["v1"],
                            operations=["CREATE", "UPDATE"],
                            resources=["pods", "pods/ephemeralcontainers"],
                        )
                    ]
                ),
                variables=[av1.VariableArgs(name="containers", expression=CONTAINERS)],
                validations=[
                    av1.ValidationArgs(expression=rule.expression, message=rule.message, reason="Forbidden")
                    for rule in RULES
                ],
            ),
            opts=child,
        )
        self.binding = av1.ValidatingAdmissionPolicyBinding(
            f"{name}-binding",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=POLICY_NAME, labels=labels),
            spec=av1.ValidatingAdmissionPolicyBindingSpecArgs(
                policy_name=POLICY_NAME,
                validation_actions=validation_actions(mode),
                match_resources=av1.MatchResourcesArgs(
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_expressions=[
                            k8s.meta.v1.LabelSelectorRequirementArgs(
                                key="kubernetes.io/metadata.name",
                                operator="In",
                                values=list(SERVING_NAMESPACES),
                            )
                        ]
                    )
                ),
            ),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.policy])),
        )
        self.register_outputs({"policy": POLICY_NAME})


def build_admission(settings: Settings, parts: Mapping[str, ClusterParts]) -> dict[str, ClusterAdmission]:
    """The admission policy in every cluster; the workloads wait for it (``workload_prerequisites``),
    so that no pod of theirs is admitted before the rules exist."""
    built: dict[str, ClusterAdmission] = {}
    for name, part in parts.items():
        if part.kubernetes is None:
            continue
        built[name] = ClusterAdmission(
            f"{name}-admission", mode=settings.security.admission, provider=part.kubernetes
        )
        part.workload_prerequisites = [*part.workload_prerequisites, built[name].policy, built[name].binding]
    return built
