"""Fluent Bit on the EKS clusters that ship their container logs to the stack's OpenSearch domain.

With ``monitoring.logs: opensearch`` every EKS cluster that reaches the domain
(``infra.aws.opensearch.log_shippers``) runs Fluent Bit as a DaemonSet (the fluent/fluent-bit chart,
pinned, ``CHART_VERSION``) in the namespace ``logging``: it tails /var/log/containers, adds each
line's pod, namespace and labels from the API server (the kubernetes filter), drops the keys a
request or completion body would travel in (``PROMPT_KEYS``), and posts the rest to the domain over
HTTPS, signed with SigV4 as the domain's writer role, which EKS Pod Identity hands the
``fluent-bit`` service account (Fluent Bit's AWS credential chain reads Pod Identity's credentials
since fluent/fluent-bit#10115, merged March 2025, long before the pinned 5.1.1). Those clusters turn the CloudWatch Observability add-on's container
logs off (infra/aws/eks.py ``container_logs``): one pipeline for the lines, not two bills. GKE
clusters keep Cloud Logging whatever the setting.

The namespace enforces the ``privileged`` Pod Security level: Fluent Bit reads the node's log
files through hostPath volumes (/var/log, /var/lib/docker/containers, /etc/machine-id, the chart's
``daemonSetVolumes``), which ``baseline`` refuses (Kubernetes docs, "Pod Security Standards",
HostPath Volumes). The container itself drops every capability, cannot escalate and has a
read-only root filesystem. It is not in the ambient mesh: it talks to nothing in the cluster but
the API server, and to the domain with TLS of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws.opensearch import INDEX_PREFIX, LogDomain
from infra.k8s import SYSTEM_PRIORITY_CLASS
from infra.parts import ClusterParts, Providers
from infra.settings import PROJECT

NAMESPACE = "logging"
CHART = "fluent-bit"
CHART_VERSION = "0.58.1"
"""fluent/helm-charts, tag fluent-bit-0.58.1: Chart.yaml appVersion 5.1.1. Every values key set here
is read from that tag's values.yaml (``image``, ``fullnameOverride``, ``serviceAccount``,
``testFramework``, ``priorityClassName``, ``tolerations``, ``resources``, ``securityContext``,
``config.inputs/filters/outputs``)."""
REPOSITORY = "https://fluent.github.io/helm-charts"
IMAGE_REPOSITORY = "ghcr.io/fluent/fluent-bit"
IMAGE_TAG = "5.1.1"
"""The chart's appVersion at 0.58.1, set explicitly. ghcr.io is where the same project's
fluent-bit-collector chart (1.1.1, appVersion 5.1.1, same tag) pulls it from; the chart's own
default, cr.fluentbit.io, is not among the policy pack's allowed registries."""
RELEASE = "fluent-bit"
SERVICE_ACCOUNT = "fluent-bit"
"""Named (``serviceAccount.name``) because the Pod Identity association names it."""
HTTP_PORT = 2020
"""The chart's ``metricsPort``: health checks and metrics, probed by the kubelet."""
LABELS = {"app.kubernetes.io/part-of": PROJECT}

PROMPT_KEYS: tuple[str, ...] = (
    "messages",
    "prompt",
    "prompts",
    "input",
    "response",
    "completion",
    "choices",
    "request_body",
    "response_body",
)
"""Keys of a JSON log line that carry a prompt or a completion (OpenAI-style request and response
bodies: ``messages``, ``prompt``, ``input``; ``choices``, ``completion``; and the body fields a proxy
logs). The gateway and vLLM do not log bodies (tests/test_logs.py); if a debug setting ever made
them, the ``modify`` filter removes these keys before anything leaves the node (Fluent Bit manual,
"Modify" filter, ``Remove``: https://docs.fluentbit.io/manual/data-pipeline/filters/modify). The
kubernetes filter merges a JSON line into the record first (``Merge_Log On``) and drops the raw
line once merged (``Keep_Log Off``), so the keys are top-level when the filter looks."""

RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def _section(name: str, settings: Sequence[tuple[str, str]]) -> str:
    """One classic-format section: ``[NAME]`` and its indented key-value lines."""
    return "\n".join([f"[{name}]", *(f"    {key} {value}" for key, value in settings)]) + "\n"


def pipeline(*, host: str, region: str) -> dict[str, str]:
    """The chart's ``config`` sections (Fluent Bit manual, outputs/opensearch:
    https://docs.fluentbit.io/manual/data-pipeline/outputs/opensearch; inputs/tail; filters/kubernetes)."""
    inputs = _section(
        "INPUT",
        [
            ("Name", "tail"),
            ("Path", "/var/log/containers/*.log"),
            ("Exclude_Path", f"/var/log/containers/{RELEASE}-*_{NAMESPACE}_*.log"),
            ("multiline.parser", "docker, cri"),
            ("Tag", "kube.*"),
            ("Mem_Buf_Limit", "5MB"),
            ("Skip_Long_Lines", "On"),
        ],
    )
    filters = _section(
        "FILTER",
        [
            ("Name", "kubernetes"),
            ("Match", "kube.*"),
            ("Merge_Log", "On"),
            ("Keep_Log", "Off"),
            ("K8S-Logging.Parser", "On"),
            # A pod cannot take its own lines out of the record by annotation.
            ("K8S-Logging.Exclude", "Off"),
            # Annotations carry configuration, sometimes credentials; labels are enough to search by.
            ("Annotations", "Off"),
        ],
    ) + _section(
        "FILTER", [("Name", "modify"), ("Match", "kube.*"), *(("Remove", key) for key in PROMPT_KEYS)]
    )
    outputs = _section(
        "OUTPUT",
        [
            ("Name", "opensearch"),
            ("Match", "kube.*"),
            ("Host", host),
            ("Port", "443"),
            ("tls", "On"),
            ("tls.verify", "On"),
            ("AWS_Auth", "On"),
            ("AWS_Region", region),
            ("Suppress_Type_Name", "On"),
            ("Logstash_Format", "On"),
            ("Logstash_Prefix", INDEX_PREFIX),
            ("Replace_Dots", "On"),
            # Either would print the records of a failed request, bodies and all, into Fluent Bit's log.
            ("Trace_Output", "Off"),
            ("Trace_Error", "Off"),
            ("Retry_Limit", "5"),
        ],
    )
    return {"inputs": inputs, "filters": filters, "outputs": outputs}


def fluent_bit_values(*, host: pulumi.Input[str], region: str) -> dict[str, Any]:
    """The release's values, as data; only the output section waits for the domain's endpoint."""
    sections = pipeline(host="", region=region)
    return {
        "image": {"repository": IMAGE_REPOSITORY, "tag": IMAGE_TAG},
        "fullnameOverride": RELEASE,
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
        # The chart's connection test pulls busybox:latest.
        "testFramework": {"enabled": False},
        "priorityClassName": SYSTEM_PRIORITY_CLASS,
        # Every node, the tainted GPU nodes where vLLM runs first among them.
        "tolerations": [{"operator": "Exists"}],
        "resources": RESOURCES,
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "config": {
            "inputs": sections["inputs"],
            "filters": sections["filters"],
            "outputs": pulumi.Output.from_input(host).apply(
                lambda h: pipeline(host=h, region=region)["outputs"]
            ),
        },
    }


class ClusterLogs(pulumi.ComponentResource):
    """The namespace, the Pod Identity association and the Fluent Bit release of one EKS cluster."""

    release: k8s.helm.v3.Release

    def __init__(
        self,
        name: str,
        *,
        part: ClusterParts,
        domain: LogDomain,
        domain_region: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("inferstack:k8s:ClusterLogs", name, None, opts)
        assert part.kubernetes is not None and part.eks is not None
        child = pulumi.ResourceOptions(parent=self, provider=part.kubernetes)
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels={**LABELS, "pod-security.kubernetes.io/enforce": "privileged"},
            ),
            opts=child,
        )
        association = _association(name, part, domain, self)
        self.release = k8s.helm.v3.Release(
            f"{name}-fluent-bit",
            k8s.helm.v3.ReleaseArgs(
                name=RELEASE,
                namespace=NAMESPACE,
                chart=CHART,
                version=CHART_VERSION,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=REPOSITORY),
                values=fluent_bit_values(host=domain.endpoint, region=domain_region),
                cleanup_on_fail=True,
                max_history=10,
            ),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(depends_on=[namespace, association, *part.workload_prerequisites]),
            ),
        )
        self.register_outputs({"namespace": NAMESPACE})


def _association(
    name: str, part: ClusterParts, domain: LogDomain, parent: pulumi.Resource
) -> pulumi.Resource:
    """The domain's writer role for the fluent-bit service account of this cluster (EKS Pod Identity:
    one role may be associated in several clusters; its trust names no cluster)."""
    assert part.eks is not None
    stem = f"{name}-fluent-bit"
    return aws.eks.PodIdentityAssociation(
        stem,
        cluster_name=part.eks.name,
        namespace=NAMESPACE,
        service_account=SERVICE_ACCOUNT,
        role_arn=domain.writer_role_arn,
        tags={"Name": stem, "component": "logs"},
        opts=pulumi.ResourceOptions(parent=parent),
    )


def build_logs(
    parts: Mapping[str, ClusterParts],
    shippers: Sequence[str],
    domain: LogDomain | None,
    domain_region: str,
    providers: Providers,
) -> dict[str, ClusterLogs]:
    """Fluent Bit in every shipping EKS cluster (by name), writing to ``domain``; none without one."""
    if domain is None:
        return {}
    built: dict[str, ClusterLogs] = {}
    for name in shippers:
        part = parts[name]
        region = part.cluster.region
        if part.eks is None or part.kubernetes is None or region is None:
            continue
        built[name] = ClusterLogs(
            f"{name}-logs",
            part=part,
            domain=domain,
            domain_region=domain_region,
            opts=pulumi.ResourceOptions(providers=[providers.for_aws(region)]),
        )
    return built
