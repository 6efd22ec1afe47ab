"""PII masking beside every gateway: the Presidio analyzer and anonymizer the gateway's guardrail calls.

The gateway (LiteLLM) runs its ``presidio`` guardrail on every request (``default_on``, mode
``pre_call``), before the router picks a deployment, so neither the cluster's own model, the burst
gateway it falls back to, nor DeepSeek's public API sees the masked entities; with
``security.masking.responses`` it scans the answers too. LiteLLM reaches the two services through
``PRESIDIO_ANALYZER_API_BASE`` and ``PRESIDIO_ANONYMIZER_API_BASE`` (LiteLLM docs,
proxy/guardrails/pii_masking_v2.md at commit 0e8e5290; the guardrail is outside LiteLLM's
enterprise folder, and ``default_on`` is not marked Enterprise in proxy/guardrails/quick_start.md
at commit 0a5b7c0e). A masking service that does not answer fails the request: masking fails closed.

Images: Presidio 2.2.363 (released 2026-06-28), which moved its images from MCR to
``ghcr.io/data-privacy-stack`` (CHANGELOG 2.2.363; .github/workflows/release.yml tags each image
with the release version). Both listen on ``PORT`` 3000, run as UID 1001 and answer ``/health``
(presidio-analyzer/Dockerfile, presidio-anonymizer/Dockerfile at commit 5c0ac3335). The analyzer
loads spaCy's ``en_core_web_lg`` (conf/default.yaml): about 1.5 GiB resident, hence its memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.catalog import catalog
from infra.k8s import HBONE_PORT
from infra.k8s.pods import http_probe, restricted_container, restricted_pod, spread_over_zones
from infra.naming import AUTONAMED_MAX, resource_name
from infra.settings import PROJECT

PORT = 3000
USER = 1001
REGISTRY = "ghcr.io/data-privacy-stack"


@dataclass(frozen=True)
class _Service:
    name: str
    requests: Mapping[str, str]
    limits: Mapping[str, str]
    start_seconds: int
    """How long the service may take to answer /health after start (the analyzer loads spaCy)."""


ANALYZER = _Service("presidio-analyzer", {"cpu": "500m", "memory": "2Gi"}, {"cpu": "2", "memory": "3Gi"}, 300)
ANONYMIZER = _Service(
    "presidio-anonymizer", {"cpu": "100m", "memory": "256Mi"}, {"cpu": "1", "memory": "512Mi"}, 60
)
SERVICES = (ANALYZER, ANONYMIZER)


def image(service: str) -> str:
    """The pinned image of a Presidio service, at the version the settings check entities against."""
    return f"{REGISTRY}/{service}:{catalog().presidio_version}"


def api_bases(namespace: str) -> dict[str, str]:
    """The environment LiteLLM's presidio guardrail reads its two endpoints from."""
    return {
        "PRESIDIO_ANALYZER_API_BASE": f"http://{ANALYZER.name}.{namespace}.svc.cluster.local:{PORT}",
        "PRESIDIO_ANONYMIZER_API_BASE": f"http://{ANONYMIZER.name}.{namespace}.svc.cluster.local:{PORT}",
    }


def masking_services(
    owner: str,
    *,
    namespace: str,
    replicas: int,
    clients: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> list[k8s.core.v1.Service]:
    """The analyzer and anonymizer (Deployment, Service, PodDisruptionBudget when replicated) in
    ``namespace``, next to the gateway that calls them, admitting only pods labelled ``clients``
    (the gateway's); ``opts`` carries the cluster's provider."""
    out: list[k8s.core.v1.Service] = []
    for service in SERVICES:
        labels = {
            "app.kubernetes.io/name": service.name,
            "app.kubernetes.io/component": "pii-masking",
            "app.kubernetes.io/part-of": PROJECT,
        }
        selector = {"app.kubernetes.io/name": service.name}
        metadata = k8s.meta.v1.ObjectMetaArgs(name=service.name, namespace=namespace, labels=labels)
        name = resource_name(owner, service.name, max_len=AUTONAMED_MAX)

        k8s.apps.v1.Deployment(
            name,
            metadata=metadata,
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=restricted_pod(USER),
                        topology_spread_constraints=spread_over_zones(selector),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=service.name,
                                image=image(service.name),
                                image_pull_policy="IfNotPresent",
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(
                                        name="http", container_port=PORT, protocol="TCP"
                                    )
                                ],
                                # Warnings only: an error line must not carry a prompt's text.
                                env=[
                                    k8s.core.v1.EnvVarArgs(name="PORT", value=str(PORT)),
                                    k8s.core.v1.EnvVarArgs(name="LOG_LEVEL", value="WARNING"),
                                ],
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests=dict(service.requests), limits=dict(service.limits)
                                ),
                                startup_probe=http_probe(
                                    "/health", period=10, failures=service.start_seconds // 10
                                ),
                                readiness_probe=http_probe("/health", period=10, failures=3),
                                liveness_probe=http_probe("/health", period=30, failures=4),
                                security_context=restricted_container(USER, read_only_root=True),
                                # gunicorn's worker heartbeat files go to /tmp; poetry run may write
                                # caches under the user's home: both writable, the image read-only.
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                                    k8s.core.v1.VolumeMountArgs(name="home", mount_path="/home/presidio"),
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name=volume,
                                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi"),
                            )
                            for volume in ("tmp", "home")
                        ],
                    ),
                ),
            ),
            opts=opts,
        )
        if replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                name,
                metadata=metadata,
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
                ),
                opts=opts,
            )
        # Prompts pass through these pods: only the gateway may send them any.
        k8s.networking.v1.NetworkPolicy(
            name,
            metadata=metadata,
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(clients))
                            )
                        ],
                        # ztunnel delivers mesh traffic on HBONE: without it the gateway's mTLS
                        # connections never arrive once the namespace is in the ambient mesh.
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=PORT, protocol="TCP"),
                            k8s.networking.v1.NetworkPolicyPortArgs(port=HBONE_PORT, protocol="TCP"),
                        ],
                    )
                ],
            ),
            opts=opts,
        )
        out.append(
            k8s.core.v1.Service(
                name,
                metadata=metadata,
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="ClusterIP",
                    selector=selector,
                    ports=[
                        k8s.core.v1.ServicePortArgs(
                            name="http", port=PORT, target_port="http", protocol="TCP"
                        )
                    ],
                ),
                opts=opts,
            )
        )
    return out
