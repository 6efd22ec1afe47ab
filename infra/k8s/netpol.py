"""Default-deny networks: every namespace the platform creates denies all traffic but the paths listed here.

The paths are data, in one place (``edges``): each ``Edge`` says who talks to whom, on which ports,
and why. From them every cluster gets, in each namespace this program creates (``NamespaceSet``):

- ``default-deny``: an empty podSelector with policyTypes [Ingress, Egress] and no rule, so that a
  pod no other policy selects can neither be reached nor reach anything (Kubernetes docs, "Network
  Policies", "Default deny all ingress and all egress traffic");
- one NetworkPolicy per edge and side: the egress rule in the source's namespace, the ingress rule
  in the target's, when that namespace is one of ours. Policies are additive, so each edge opens
  exactly its own path (https://kubernetes.io/docs/concepts/services-networking/network-policies/).

The kubelet's probes need no edge: a NetworkPolicy always admits traffic from the pod's own node
(NetworkPolicySpec.ingress, Kubernetes API reference).

Named egress (public APIs) is not an ipBlock, since their addresses change without notice:
  - GKE: a ``FQDNNetworkPolicy`` (networking.gke.io/v1alpha1) for the gateway pods, one name per
    host of ``Security.egress_hosts`` plus the other gateways' origin names; the cluster enables FQDN
    network policy on Dataplane V2 (infra/gcp/gke.py). GKE docs:
    https://cloud.google.com/kubernetes-engine/docs/how-to/fqdn-network-policies (they note that
    Cloud Service Mesh is not supported with it: a mesh change must check that for Istio).
  - EKS: the VPC CNI cannot name hosts, so the mesh does (infra/k8s/egress.py): the gateway pods
    reach only the egress waypoint, on HBONE 15008 (``egress_waypoint_edges``), one ServiceEntry
    per host binds the names to it, and the waypoint's pods alone open the hosts' ports to any
    address. ztunnel passes a destination no ServiceEntry names straight through from the pod, where
    these policies refuse it.
  - Existing clusters: the program runs no mesh there, so the gateway pods (and only they, among
    the request path) may open 443 to any address (docs/network-policy.md).

The model servers read their weights from object storage over 443. On GKE they name the storage
host; on EKS S3 is reached through the VPC's gateway endpoint, whose destinations are the region's
AWS-managed prefix list ``com.amazonaws.<region>.s3``, so the policy admits that list's ranges
(``Outside.OBJECT_STORAGE``, read by invoke) rather than any address. External Secrets on EKS
reaches Secrets Manager through the VPC's interface endpoint (private DNS), so its 443 goes to the
private subnets only (``Outside.AWS_ENDPOINTS``).

Mesh: ``mesh_edges`` adds what Istio ambient needs on cloud clusters (ztunnel's HBONE port
15008 between the serving namespaces, the kubelet probe address 169.254.7.127/32) and the paths of
the mesh's own namespaces, which deny by default like every other: the load balancer to the
ingress (``MESH_ENTRY``, 8080), the ingress to LiteLLM, istiod's xDS (15012) from the ingress and
from ztunnel, its webhook (15017) from the API server, istiod to the API server and the JWKS host,
and ``monitoring`` to each component's metrics port (``mesh_scrape_edges``). ztunnel and the Istio CNI agent are ordinary pods of istio-system at Istio 1.30: ztunnel runs
in-pod (its listeners live in each mesh pod's network namespace; its own pod dials only istiod), and
the CNI agent shares the host's network only with ``ambient.shareHostNetworkNamespace``, false by
default since 1.26 (istio/istio 1.30.3 manifests/charts/istio-cni/values.yaml; the ztunnel chart's
DaemonSet sets no hostNetwork). Default-deny therefore selects them like any pod, so each gets its
own edges: ztunnel to istiod's xDS, the CNI agent to the API server it watches. Istio's own optional
policies (the charts' templates/networkpolicy.yaml, ``global.networkPolicy.enabled``) select the
same pods by the same labels. ``ENTRY`` remains what the load balancer reaches on a cluster without
the mesh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlparse

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws.network import AwsNetwork
from infra.aws.opensearch import log_host
from infra.data import NAMESPACE as INFERENCE
from infra.data import DataOutputs
from infra.gcp.cache import GcpCache
from infra.gcp.database import GcpDatabase
from infra.gcp.network import HEALTH_CHECK_SOURCE_RANGES
from infra.k8s import HBONE_PORT, gateway, pii, serving
from infra.k8s.egress import NAMESPACE as EGRESS
from infra.k8s.egress import WAYPOINT_PODS
from infra.k8s.gpu_metrics import POD_LABELS as DCGM_PODS
from infra.k8s.gpu_metrics import PORT as DCGM_PORT
from infra.k8s.logs import NAMESPACE as LOGGING
from infra.k8s.mesh import INGRESS_NAMESPACE as MESH_INGRESS
from infra.k8s.mesh import INGRESS_PORT as MESH_INGRESS_PORT
from infra.k8s.mesh import INGRESS_SELECTOR as MESH_INGRESS_PODS
from infra.k8s.mesh import PEER_SELECTOR
from infra.k8s.mesh import SYSTEM_NAMESPACE as ISTIO_SYSTEM
from infra.k8s.monitoring import COLLECTOR_PORTS, MESH_SCRAPES
from infra.k8s.monitoring import NAMESPACE as MONITORING
from infra.parts import ClusterParts, Providers, gcp_ranges
from infra.settings import PROJECT, Cloud, Role, Settings


class Outside(StrEnum):
    """Address sets outside the cluster's pods, resolved per cluster (``_addresses``)."""

    LOAD_BALANCER = "load-balancer"
    """EKS: the ALB's nodes in the VPC; GKE: Google's front ends and health checkers."""
    API_SERVER = "api-server"
    """EKS: the control plane's ENIs in the VPC; GKE: the private control plane's /28."""
    DATA_STORES = "data-stores"
    """Aurora / Cloud SQL and Redis: the core clusters' private subnets (AWS), the stores' IPs (GCP)."""
    CREDENTIALS = "credentials"
    """EKS Pod Identity agent / GKE metadata server: where workload identity hands out tokens."""
    CLOUD_APIS = "cloud-apis"
    """The cloud's own APIs over 443 (secret manager, object storage, Managed Prometheus)."""
    MESH_PROBES = "mesh-probes"
    """The address ambient mode gives the kubelet's probes of a mesh pod (169.254.7.127)."""
    AWS_ENDPOINTS = "aws-endpoints"
    """EKS: the VPC's interface endpoints (Secrets Manager among them), in the private subnets."""
    NODES = "nodes"
    """The nodes' own addresses, where the kubelets and node-exporter (host network) answer.
    EKS: the private subnets; GKE: the node range."""
    LOG_DOMAIN = "log-domain"
    """The stack's OpenSearch domain (monitoring.logs: opensearch): the private subnets of the EKS
    cluster that hosts it (infra/aws/opensearch.py ``log_host``); nowhere when there is none."""
    OBJECT_STORAGE = "object-storage"
    """EKS: S3 in the cluster's region, the ranges of the AWS-managed prefix list
    ``com.amazonaws.<region>.s3`` (what the VPC's S3 gateway endpoint routes to); elsewhere any address."""


@dataclass(frozen=True, kw_only=True)
class Peer:
    """One side of an edge: pods of a namespace (all of them when ``pods`` is empty), or an address set."""

    namespace: str | None = None
    pods: Mapping[str, str] = field(default_factory=dict)
    outside: Outside | None = None

    def __post_init__(self) -> None:
        if (self.namespace is None) == (self.outside is None):
            raise ValueError(f"Peer: exactly one of namespace and outside, got {self!r}")

    def describe(self) -> str:
        if self.outside is not None:
            return str(self.outside)
        who = ",".join(f"{k}={v}" for k, v in sorted(self.pods.items()))
        return f"{self.namespace}/{who or '*'}"


@dataclass(frozen=True, kw_only=True)
class Edge:
    """An allowed path: ``source`` may open connections to ``target`` on ``ports``."""

    name: str
    source: Peer
    target: Peer
    ports: tuple[tuple[int, str], ...]
    """(port, protocol); empty means every port (within one add-on's namespace only)."""
    why: str


EVERY_NAMESPACE = "*"
"""A source namespace meaning each namespace the platform creates (DNS)."""

GATEWAY_PODS = dict(gateway.APP)
MASKING_PODS = {"app.kubernetes.io/component": "pii-masking"}
"""The Presidio analyzer's and anonymizer's pods, next to the gateway (infra/k8s/pii.py)."""
SERVER_PODS = {"app.kubernetes.io/name": "vllm"}
"""The label every model-server pod carries (infra/k8s/serving.py, ``_labels``)."""
KEDA = "keda"
EXTERNAL_SECRETS = "external-secrets"

ENTRY = Peer(namespace=INFERENCE, pods=GATEWAY_PODS)
"""The pods the load balancer reaches on a cluster without the mesh (an existing cluster)."""
ENTRY_PORT = gateway.PORT
MESH_ENTRY = Peer(namespace=MESH_INGRESS, pods=MESH_INGRESS_PODS)
"""The pods the load balancer reaches on EKS and GKE: the mesh's ingress (infra/k8s/mesh.py), which
alone speaks mTLS to the gateway under STRICT."""
PEER_ENTRY = Peer(namespace=MESH_INGRESS, pods=PEER_SELECTOR)
"""The peer entrance's pods on a GKE cluster other gateways fall back to (infra/k8s/mesh.py)."""
ISTIOD_PODS = {"app": "istiod"}
"""istiod's pods (the istiod chart's Service selects ``app: istiod``, templates/service.yaml at 1.30)."""
ISTIOD_XDS_PORT = 15012
ISTIOD_WEBHOOK_PORT = 15017
"""istiod's ports (Istio 1.30, "Ports used by Istio",
https://istio.io/v1.30/docs/ops/deployment/application-requirements/): 15012 is xDS and the CA over
TLS/mTLS, what every proxy of the mesh dials; 15017 is the webhook container port behind the
Service's 443. Not opened: 15010 (xDS and CA in plain text, "only for secure networks": nothing in
this mesh is configured to use it). 15014 (control-plane metrics) is open to ``monitoring`` only
(``mesh_scrape_edges``)."""

ZTUNNEL_PODS = {"app": "ztunnel"}
ISTIO_CNI_PODS = {"k8s-app": "istio-cni-node"}
"""The DaemonSets' pod labels (manifests/charts/ztunnel/templates/daemonset.yaml and
manifests/charts/istio-cni/templates/daemonset.yaml at istio/istio 1.30.3)."""

MESH_EDGES: list[Edge] = []
"""Paths a service mesh adds beyond ``mesh_edges`` (kept for callers that extend the list)."""

AMBIENT_PROBE_SOURCE = ("169.254.7.127/32",)
"""Istio ambient SNATs the kubelet's probes of a mesh pod to this link-local address, which a
default-deny ingress policy must admit, or no mesh pod ever becomes ready (Istio docs, "Ambient
and Kubernetes NetworkPolicy")."""


def mesh_edges(cloud: Cloud) -> list[Edge]:
    """What Istio ambient adds on a cloud cluster (infra/k8s/mesh.py): in the mesh, ztunnel carries
    every connection between mesh pods to the destination's HBONE port 15008, not to the service
    port, so each in-mesh edge is allowed on 15008 too, both ways; and the kubelet's probes arrive
    from the ambient probe address (same Istio docs page)."""
    if cloud is Cloud.EXISTING:
        return []
    tcp = "TCP"
    hbone = ((HBONE_PORT, tcp),)
    return [
        Edge(
            name="gateway-to-vllm-hbone",
            source=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
            target=Peer(namespace=serving.NAMESPACE, pods=SERVER_PODS),
            ports=hbone,
            why="gateway-to-vllm as ztunnel carries it in the mesh (mTLS over HBONE)",
        ),
        Edge(
            name="gateway-to-masking-hbone",
            source=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
            target=Peer(namespace=INFERENCE, pods=MASKING_PODS),
            ports=hbone,
            why="gateway-to-masking as ztunnel carries it in the mesh",
        ),
        Edge(
            name="probes-to-inference",
            source=Peer(outside=Outside.MESH_PROBES),
            target=Peer(namespace=INFERENCE),
            ports=((gateway.PORT, tcp), (pii.PORT, tcp)),
            why="the kubelet's readiness and liveness probes of the gateway and masking pods, SNATed by ambient",
        ),
        Edge(
            name="probes-to-vllm",
            source=Peer(outside=Outside.MESH_PROBES),
            target=Peer(namespace=serving.NAMESPACE, pods=SERVER_PODS),
            ports=((serving.PORT, tcp),),
            why="the kubelet's probes of the model servers, SNATed by ambient",
        ),
        Edge(
            name="ingress-to-gateway",
            source=MESH_ENTRY,
            target=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
            ports=((gateway.PORT, tcp), *hbone),
            why="the mesh's ingress forwards every admitted request to LiteLLM, over HBONE (the gateway "
            "pods are in the ambient mesh) or on 4000 where mTLS is permissive",
        ),
        Edge(
            name="ingress-to-istiod",
            source=MESH_ENTRY,
            target=Peer(namespace=ISTIO_SYSTEM, pods=ISTIOD_PODS),
            ports=((ISTIOD_XDS_PORT, tcp),),
            why="the ingress proxy takes its configuration and certificate from istiod (xDS and CA)",
        ),
        Edge(
            name="ztunnel-to-istiod",
            source=Peer(namespace=ISTIO_SYSTEM, pods=ZTUNNEL_PODS),
            target=Peer(namespace=ISTIO_SYSTEM, pods=ISTIOD_PODS),
            ports=((ISTIOD_XDS_PORT, tcp),),
            why="ztunnel takes the mesh's workloads and their certificates from istiod (xDS and CA), "
            "from its own pod's address",
        ),
        Edge(
            name="istio-cni-to-api-server",
            source=Peer(namespace=ISTIO_SYSTEM, pods=ISTIO_CNI_PODS),
            target=Peer(outside=Outside.API_SERVER),
            ports=((443, tcp), (6443, tcp)),
            why="the CNI agent watches pods and namespaces to redirect the ambient ones to ztunnel",
        ),
        Edge(
            name="api-server-to-istiod",
            source=Peer(outside=Outside.API_SERVER),
            target=Peer(namespace=ISTIO_SYSTEM, pods=ISTIOD_PODS),
            ports=((ISTIOD_WEBHOOK_PORT, tcp),),
            why="the API server calls istiod's validating webhook for every Istio object",
        ),
        Edge(
            name="istiod-to-api-server",
            source=Peer(namespace=ISTIO_SYSTEM, pods=ISTIOD_PODS),
            target=Peer(outside=Outside.API_SERVER),
            ports=((443, tcp), (6443, tcp)),
            why="istiod watches Services, pods and Istio objects and signs workload certificates",
        ),
        *mesh_scrape_edges(),
        *(peer_edges() if cloud is Cloud.GCP else []),
        *(
            [
                Edge(
                    name="istiod-to-jwks",
                    source=Peer(namespace=ISTIO_SYSTEM, pods=ISTIOD_PODS),
                    target=Peer(outside=Outside.CLOUD_APIS),
                    ports=((PUBLIC_PORT, tcp),),
                    why="istiod fetches the JWT issuer's keys (security.jwt.jwksUri) and hands them to "
                    "the ingress; NetworkPolicy cannot name the host on EKS, so any address on 443",
                )
            ]
            if cloud is Cloud.AWS
            else []
        ),
    ]


def peer_edges() -> list[Edge]:
    """The peer entrance's paths on a GKE cluster other gateways fall back to (infra/k8s/mesh.py
    ``PEER``): what the ingress has, for its own pods. Who reaches the load balancer's peer name at all
    is Cloud Armor's rule (the callers' NAT addresses, infra/gcp/edge.py); inside the cluster the
    front ends are the only source, as for the ingress."""
    tcp = "TCP"
    return [
        Edge(
            name="edge-to-peer",
            source=Peer(outside=Outside.LOAD_BALANCER),
            target=PEER_ENTRY,
            ports=((MESH_INGRESS_PORT, tcp),),
            why="Google's front ends forward the calls of other clusters' gateways (peer.<domain>) and "
            "their health checks to the peer entrance",
        ),
        Edge(
            name="peer-to-gateway",
            source=PEER_ENTRY,
            target=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
            ports=((gateway.PORT, tcp), (HBONE_PORT, tcp)),
            why="the peer entrance forwards a calling gateway's request to LiteLLM, which checks its "
            "master key; over HBONE, or on 4000 where mTLS is permissive",
        ),
        Edge(
            name="peer-to-istiod",
            source=PEER_ENTRY,
            target=Peer(namespace=ISTIO_SYSTEM, pods=ISTIOD_PODS),
            ports=((ISTIOD_XDS_PORT, tcp),),
            why="the peer entrance takes its configuration and certificate from istiod (xDS and CA)",
        ),
    ]


def mesh_scrape_edges() -> list[Edge]:
    """The cluster's Prometheus (EKS) or the collector (GKE), both in ``monitoring``, to each of the
    mesh's own components on its metrics port only (infra/k8s/monitoring.py ``MESH_SCRAPES``, one edge
    per row). Those pods are outside the ambient mesh, so the scrape is plain text to the port itself:
    no HBONE twin, and no AuthorizationPolicy is involved."""
    return [
        Edge(
            name=f"prometheus-scrapes-{scrape.name}",
            source=Peer(namespace=MONITORING),
            target=Peer(namespace=scrape.namespace, pods=dict(scrape.selector)),
            ports=((scrape.number, "TCP"),),
            why=f"the cluster's Prometheus (GKE: the collector) scrapes {scrape.name}'s {scrape.path} in plain "
            f"text: {scrape.namespace} is outside the ambient mesh",
        )
        for scrape in MESH_SCRAPES
    ]


PUBLIC_PORT = 443
POSTGRES_PORT = 5432
REDIS_PORTS = (6379, 6378)
"""ElastiCache's port, and Memorystore's with in-transit encryption (infra/aws/cache.py,
infra/gcp/cache.py)."""

GKE_METADATA = ("169.254.169.254/32", "169.254.169.252/32")
GKE_METADATA_PORTS = ((80, "TCP"), (988, "TCP"))
"""The GKE metadata server Workload Identity pods ask for tokens, as network policy must admit it
(https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity, "Restrictions")."""
EKS_POD_IDENTITY_AGENT = ("169.254.170.23/32",)
EKS_POD_IDENTITY_PORTS = ((80, "TCP"),)
"""The EKS Pod Identity agent's link-local address
(https://docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html)."""

DNS = ((53, "UDP"), (53, "TCP"))
KUBE_DNS = Peer(namespace="kube-system", pods={"k8s-app": "kube-dns"})
"""kube-dns on GKE, CoreDNS on EKS: both keep the k8s-app=kube-dns label."""


def edges(cloud: Cloud, egress_ports: Sequence[int] = (PUBLIC_PORT,)) -> list[Edge]:
    """Every allowed path of a cluster on ``cloud``: the one list the policies and tests read.
    ``egress_ports``: the ports of the hosts an EKS cluster's egress waypoint carries."""
    tcp = "TCP"
    entry, entry_port = (ENTRY, ENTRY_PORT) if cloud is Cloud.EXISTING else (MESH_ENTRY, MESH_INGRESS_PORT)
    found = [
        Edge(
            name="edge-to-gateway",
            source=Peer(outside=Outside.LOAD_BALANCER),
            target=entry,
            ports=((entry_port, tcp),),
            why="the load balancer (ALB in the VPC on EKS, Google front ends on GKE) forwards requests to "
            "the mesh's ingress (its health checks too: /health/readiness on the same port), or to the "
            "gateway on a cluster without the mesh. Istio's status port 15021 is probed by the kubelet "
            "only, which a NetworkPolicy always admits from the pod's node",
        ),
        Edge(
            name="gateway-to-vllm",
            source=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
            target=Peer(namespace=serving.NAMESPACE, pods=SERVER_PODS),
            ports=((serving.PORT, tcp),),
            why="the gateway routes requests to the cluster's model servers",
        ),
        Edge(
            name="gateway-to-masking",
            source=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
            target=Peer(namespace=INFERENCE, pods=MASKING_PODS),
            ports=((pii.PORT, tcp),),
            why="the gateway's guardrail sends prompts to the Presidio analyzer and anonymizer first",
        ),
        Edge(
            name="gateway-to-postgres",
            source=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
            target=Peer(outside=Outside.DATA_STORES),
            ports=((POSTGRES_PORT, tcp),),
            why="keys, spend and logs in Aurora / Cloud SQL",
        ),
        Edge(
            name="gateway-to-redis",
            source=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
            target=Peer(outside=Outside.DATA_STORES),
            ports=tuple((p, tcp) for p in REDIS_PORTS),
            why="the response cache and rate-limit counters in Redis",
        ),
        Edge(
            name="dns",
            source=Peer(namespace=EVERY_NAMESPACE),
            target=KUBE_DNS,
            ports=DNS,
            why="every pod resolves names",
        ),
        Edge(
            name="vllm-to-credentials",
            source=Peer(namespace=serving.NAMESPACE, pods=SERVER_PODS),
            target=Peer(outside=Outside.CREDENTIALS),
            ports=_credential_ports(cloud),
            why="the model servers read the store as their workload identity",
        ),
        Edge(
            name="keda-to-api-server",
            source=Peer(namespace=KEDA),
            target=Peer(outside=Outside.API_SERVER),
            ports=((443, tcp), (6443, tcp)),
            why="KEDA's operator watches ScaledObjects and scales Deployments",
        ),
        Edge(
            name="api-server-to-keda",
            source=Peer(outside=Outside.API_SERVER),
            target=Peer(namespace=KEDA),
            ports=((6443, tcp), (9443, tcp)),
            why="the API server calls KEDA's external metrics API and admission webhook",
        ),
        Edge(
            name="keda-within",
            source=Peer(namespace=KEDA),
            target=Peer(namespace=KEDA),
            ports=(),
            why="KEDA's metrics server asks its operator for metric values (gRPC)",
        ),
        Edge(
            name="external-secrets-to-api-server",
            source=Peer(namespace=EXTERNAL_SECRETS),
            target=Peer(outside=Outside.API_SERVER),
            ports=((443, tcp), (6443, tcp)),
            why="the operator writes the Secrets it syncs",
        ),
        Edge(
            name="api-server-to-external-secrets",
            source=Peer(outside=Outside.API_SERVER),
            target=Peer(namespace=EXTERNAL_SECRETS),
            ports=((10250, tcp),),
            why="the API server calls the operator's validating webhook",
        ),
        Edge(
            name="external-secrets-within",
            source=Peer(namespace=EXTERNAL_SECRETS),
            target=Peer(namespace=EXTERNAL_SECRETS),
            ports=(),
            why="the cert controller and the webhook share their certificate through the API server "
            "and probe each other",
        ),
        Edge(
            name="external-secrets-to-credentials",
            source=Peer(namespace=EXTERNAL_SECRETS),
            target=Peer(outside=Outside.CREDENTIALS),
            ports=_credential_ports(cloud),
            why="the secret store authenticates as its workload identity",
        ),
    ]
    # Who scrapes: the cluster's own Prometheus in `monitoring`; on GKE the collector that writes to
    # Managed Prometheus, in the mesh, whose connections ztunnel carries to the pods' HBONE port.
    scrape_ports = ((HBONE_PORT, tcp),) if cloud is Cloud.GCP else ()
    who = "the collector writing to Managed Prometheus" if cloud is Cloud.GCP else "the cluster's Prometheus"
    found += [
        Edge(
            name="prometheus-scrapes-vllm",
            source=Peer(namespace=MONITORING),
            target=Peer(namespace=serving.NAMESPACE, pods=SERVER_PODS),
            ports=((serving.PORT, tcp), *scrape_ports),
            why=f"{who} scrapes vLLM's /metrics",
        ),
        Edge(
            name="prometheus-scrapes-gateway",
            source=Peer(namespace=MONITORING),
            target=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
            ports=((gateway.PORT, tcp), *scrape_ports),
            why=f"{who} scrapes the gateway's /metrics",
        ),
    ]
    if cloud is Cloud.GCP:
        found += collector_edges()
    if cloud is Cloud.GCP:
        found += [
            Edge(
                name="keda-to-credentials",
                source=Peer(namespace=KEDA),
                target=Peer(outside=Outside.CREDENTIALS),
                ports=GKE_METADATA_PORTS,
                why="KEDA's operator queries Managed Prometheus as its Google service account",
            ),
        ]
    else:
        if cloud is Cloud.AWS:
            found += monitoring_edges()
            found += logging_edges()
        found += [
            Edge(
                name="prometheus-scrapes-dcgm-exporter",
                source=Peer(namespace=MONITORING),
                target=Peer(namespace=MONITORING, pods=DCGM_PODS),
                ports=((DCGM_PORT, tcp),),
                why="the cluster's Prometheus scrapes the DCGM exporter on the GPU nodes (infra/k8s/gpu_metrics.py)",
            ),
            Edge(
                name="keda-to-prometheus",
                source=Peer(namespace=KEDA),
                target=Peer(namespace=MONITORING),
                ports=((9090, tcp),),
                why="the scalers query the cluster's Prometheus (gateway.EKS_PROMETHEUS)",
            ),
            Edge(
                name="vllm-to-object-storage",
                source=Peer(namespace=serving.NAMESPACE, pods=SERVER_PODS),
                target=Peer(outside=Outside.OBJECT_STORAGE),
                ports=((PUBLIC_PORT, tcp),),
                why="the model servers stream their weights from the model store (EKS: S3's ranges in "
                "the region, through the VPC's gateway endpoint)",
            ),
            Edge(
                name="external-secrets-to-secret-manager",
                source=Peer(namespace=EXTERNAL_SECRETS),
                target=Peer(outside=Outside.AWS_ENDPOINTS if cloud is Cloud.AWS else Outside.CLOUD_APIS),
                ports=((PUBLIC_PORT, tcp),),
                why="the secret store reads AWS Secrets Manager through the VPC's interface endpoint "
                "(private DNS: the regional name resolves into the private subnets); an existing "
                "cluster's secret manager is any address on 443",
            ),
        ]
        found += (
            egress_waypoint_edges(egress_ports)
            if cloud is Cloud.AWS
            else [
                Edge(
                    name="gateway-to-public-apis",
                    source=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
                    target=Peer(outside=Outside.CLOUD_APIS),
                    ports=((PUBLIC_PORT, tcp),),
                    why="fallbacks to the DeepSeek API and other gateways' origins; without the mesh "
                    "nothing names hosts, so any address on 443 (docs/network-policy.md)",
                )
            ]
        )
    return [*found, *mesh_edges(cloud), *MESH_EDGES]


EGRESS_WAYPOINT = Peer(namespace=EGRESS, pods=WAYPOINT_PODS)
"""An EKS cluster's egress waypoint (infra/k8s/egress.py)."""


def egress_waypoint_edges(ports: Sequence[int]) -> list[Edge]:
    """The gateway's public names on EKS, through the egress waypoint: the gateway pods' ztunnel
    carries each connection to a named host over HBONE to the waypoint, which dials the host. Only
    the waypoint may open the hosts' ports to any address; the gateway pods open none."""
    tcp = "TCP"
    return [
        Edge(
            name="gateway-to-egress-waypoint",
            source=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
            target=EGRESS_WAYPOINT,
            ports=((HBONE_PORT, tcp),),
            why="fallbacks to the DeepSeek API, security.egress and the other gateways' origins, by name: "
            "ztunnel sends them over HBONE to the egress waypoint their ServiceEntries name",
        ),
        Edge(
            name="egress-waypoint-to-public-apis",
            source=EGRESS_WAYPOINT,
            target=Peer(outside=Outside.CLOUD_APIS),
            ports=tuple((port, tcp) for port in sorted(set(ports))),
            why="the waypoint opens the connection to the named host (any address: the names' addresses "
            "change without notice); the application's TLS passes through it",
        ),
        Edge(
            name="egress-waypoint-to-istiod",
            source=EGRESS_WAYPOINT,
            target=Peer(namespace=ISTIO_SYSTEM, pods=ISTIOD_PODS),
            ports=((ISTIOD_XDS_PORT, tcp),),
            why="the waypoint takes its configuration and certificate from istiod (xDS and CA)",
        ),
    ]


MONITORING_PORTS = ((9090, "TCP"), (9093, "TCP"), (3000, "TCP"), (8080, "TCP"), (8081, "TCP"), (10250, "TCP"))
"""kube-prometheus-stack 88.5.3's container ports: Prometheus 9090, Alertmanager 9093, Grafana 3000,
kube-state-metrics 8080 and 8081, the operator's HTTPS (and webhook) 10250
(values.yaml ``prometheusOperator.tls.internalPort``)."""
KUBELET_PORT = 10250
NODE_EXPORTER_PORT = 9100


def monitoring_edges() -> list[Edge]:
    """What kube-prometheus-stack needs on an EKS cluster (infra/k8s/monitoring.py). Its namespace is
    in the ambient mesh, so its scrapes of the mesh pods arrive on their HBONE port, and the
    kubelet's probes of its pods from the ambient probe address."""
    tcp = "TCP"
    hbone = ((HBONE_PORT, tcp),)
    return [
        Edge(
            name="prometheus-scrapes-vllm-hbone",
            source=Peer(namespace=MONITORING),
            target=Peer(namespace=serving.NAMESPACE, pods=SERVER_PODS),
            ports=hbone,
            why="prometheus-scrapes-vllm as ztunnel carries it in the mesh (STRICT mTLS)",
        ),
        Edge(
            name="prometheus-scrapes-gateway-hbone",
            source=Peer(namespace=MONITORING),
            target=Peer(namespace=INFERENCE, pods=GATEWAY_PODS),
            ports=hbone,
            why="prometheus-scrapes-gateway as ztunnel carries it in the mesh (STRICT mTLS)",
        ),
        Edge(
            name="prometheus-scrapes-nodes",
            source=Peer(namespace=MONITORING),
            target=Peer(outside=Outside.NODES),
            ports=((KUBELET_PORT, tcp), (NODE_EXPORTER_PORT, tcp)),
            why="Prometheus scrapes the kubelets (cAdvisor) and node-exporter on the host network",
        ),
        Edge(
            name="monitoring-to-api-server",
            source=Peer(namespace=MONITORING),
            target=Peer(outside=Outside.API_SERVER),
            ports=((443, tcp),),
            why="the operator, Prometheus's discovery, kube-state-metrics and Grafana's sidecar watch the API",
        ),
        Edge(
            name="api-server-to-monitoring",
            source=Peer(outside=Outside.API_SERVER),
            target=Peer(namespace=MONITORING),
            ports=((10250, tcp),),
            why="the API server calls the operator's admission webhook for PrometheusRules",
        ),
        Edge(
            name="monitoring-within",
            source=Peer(namespace=MONITORING),
            target=Peer(namespace=MONITORING),
            ports=(),
            why="Prometheus scrapes the stack's own parts and sends to Alertmanager; Grafana queries "
            "Prometheus; in the mesh all of it over HBONE",
        ),
        Edge(
            name="probes-to-monitoring",
            source=Peer(outside=Outside.MESH_PROBES),
            target=Peer(namespace=MONITORING),
            ports=MONITORING_PORTS,
            why="the kubelet's probes of the stack's pods, SNATed by ambient",
        ),
        Edge(
            name="monitoring-to-cloud-apis",
            source=Peer(namespace=MONITORING),
            target=Peer(outside=Outside.CLOUD_APIS),
            ports=((PUBLIC_PORT, tcp),),
            why="Alertmanager publishes to SNS; Prometheus remote-writes to its Managed Prometheus workspace",
        ),
        Edge(
            name="monitoring-to-credentials",
            source=Peer(namespace=MONITORING),
            target=Peer(outside=Outside.CREDENTIALS),
            ports=EKS_POD_IDENTITY_PORTS,
            why="Alertmanager and Prometheus sign their requests as their Pod Identity roles",
        ),
    ]


def logging_edges() -> list[Edge]:
    """Fluent Bit's paths on an EKS cluster that ships to OpenSearch (infra/k8s/logs.py). The
    kubelet's probes of its HTTP port come from the node, which a NetworkPolicy always admits."""
    tcp = "TCP"
    return [
        Edge(
            name="logging-to-api-server",
            source=Peer(namespace=LOGGING),
            target=Peer(outside=Outside.API_SERVER),
            ports=((443, tcp),),
            why="the kubernetes filter reads each pod's namespace, labels and owner from the API",
        ),
        Edge(
            name="logging-to-credentials",
            source=Peer(namespace=LOGGING),
            target=Peer(outside=Outside.CREDENTIALS),
            ports=EKS_POD_IDENTITY_PORTS,
            why="Fluent Bit signs its requests to the domain as its Pod Identity role",
        ),
        Edge(
            name="logging-to-log-domain",
            source=Peer(namespace=LOGGING),
            target=Peer(outside=Outside.LOG_DOMAIN),
            ports=((PUBLIC_PORT, tcp),),
            why="Fluent Bit posts the log lines to the OpenSearch domain's VPC endpoint over HTTPS",
        ),
    ]


def collector_edges() -> list[Edge]:
    """The GKE collector's own paths besides its scrapes (infra/k8s/monitoring.py): it discovers
    pods through the API server, takes its Google token and its project, location and cluster from
    the metadata server, and the kubelet probes it through ambient's probe address. Its samples
    leave by name (``named_egress``)."""
    tcp = "TCP"
    return [
        Edge(
            name="collector-to-api-server",
            source=Peer(namespace=MONITORING),
            target=Peer(outside=Outside.API_SERVER),
            ports=((443, tcp),),
            why="the collector's Kubernetes service discovery lists and watches the pods it scrapes",
        ),
        Edge(
            name="collector-to-credentials",
            source=Peer(namespace=MONITORING),
            target=Peer(outside=Outside.CREDENTIALS),
            ports=GKE_METADATA_PORTS,
            why="the collector writes as its Google service account and reads where it runs",
        ),
        Edge(
            name="probes-to-collector",
            source=Peer(outside=Outside.MESH_PROBES),
            target=Peer(namespace=MONITORING),
            ports=tuple((port, tcp) for port in COLLECTOR_PORTS),
            why="the kubelet's probes of the collector and its config reloader, SNATed by ambient",
        ),
    ]


def _credential_ports(cloud: Cloud) -> tuple[tuple[int, str], ...]:
    return GKE_METADATA_PORTS if cloud is Cloud.GCP else EKS_POD_IDENTITY_PORTS


@dataclass(frozen=True, kw_only=True)
class NamedEgress:
    """Egress to public hosts by name: a FQDNNetworkPolicy on GKE."""

    name: str
    namespace: str
    pods: Mapping[str, str]
    hosts: tuple[tuple[str, int], ...]
    """(DNS name, port); a leading ``*.`` label matches one level of subdomains."""
    why: str


OBJECT_STORAGE_HOST = "storage.googleapis.com"
SECRET_MANAGER_HOST = "secretmanager.googleapis.com"
MANAGED_PROMETHEUS_HOST = "monitoring.googleapis.com"


def named_egress(settings: Settings, part: ClusterParts) -> list[NamedEgress]:
    """The public names pods of a GKE cluster may call. EKS names the gateway's hosts in the mesh
    (infra/k8s/egress.py); an existing cluster's gateway has the edges' 443."""
    if part.cluster.cloud is not Cloud.GCP:
        return []
    return [
        NamedEgress(
            name="gateway-to-public-apis",
            namespace=INFERENCE,
            pods=GATEWAY_PODS,
            hosts=tuple(egress_names(settings, part)),
            why="fallbacks: the DeepSeek API (gateway.publicApiFallback), security.egress, the other "
            "gateways' origin names",
        ),
        NamedEgress(
            name="vllm-to-object-storage",
            namespace=serving.NAMESPACE,
            pods=SERVER_PODS,
            hosts=((OBJECT_STORAGE_HOST, PUBLIC_PORT),),
            why="the model servers stream their weights from the GCS model store",
        ),
        NamedEgress(
            name="external-secrets-to-secret-manager",
            namespace=EXTERNAL_SECRETS,
            pods={},
            hosts=((SECRET_MANAGER_HOST, PUBLIC_PORT),),
            why="the secret store reads GCP Secret Manager",
        ),
        NamedEgress(
            name="collector-to-managed-prometheus",
            namespace=MONITORING,
            pods={},
            hosts=((MANAGED_PROMETHEUS_HOST, PUBLIC_PORT),),
            why="the collector exports its samples to Managed Prometheus (Cloud Monitoring's API)",
        ),
        NamedEgress(
            name="keda-to-managed-prometheus",
            namespace=KEDA,
            pods={},
            hosts=((MANAGED_PROMETHEUS_HOST, PUBLIC_PORT),),
            why="the scalers query Managed Prometheus",
        ),
        NamedEgress(
            name="istiod-to-jwks",
            namespace=ISTIO_SYSTEM,
            pods=ISTIOD_PODS,
            hosts=tuple(jwks_hosts(settings)),
            why="istiod fetches the JWT issuer's keys (security.jwt.jwksUri) for the ingress",
        ),
    ]


def jwks_hosts(settings: Settings) -> list[tuple[str, int]]:
    """The JWKS host istiod fetches from (Istio's default: istiod, not the proxies, fetches the keys
    and pushes them inline; ``PILOT_JWT_ENABLE_REMOTE_JWKS`` false)."""
    jwt = settings.security.jwt
    if jwt is None:
        return []
    uri = urlparse(str(jwt.jwks_uri))
    return [(uri.hostname, uri.port or PUBLIC_PORT)] if uri.hostname else []


def egress_names(settings: Settings, part: ClusterParts) -> list[tuple[str, int]]:
    """The public names a cluster's gateway may call: the settings' egress hosts (the DeepSeek API
    first when it is a fallback), then the other gateways' origin names."""
    names = [(h.host, h.port) for h in settings.security.egress_hosts(settings.gateway.public_api_fallback)]
    for other in settings.fallback_clusters(part.cluster):
        base = gateway.fallback_base(settings, other)
        if base is not None and (host := (base.removeprefix("https://"), PUBLIC_PORT)) not in names:
            names.append(host)
    return names


NamespaceSet = Mapping[str, Sequence[pulumi.Resource]]
"""Namespace this program created in a cluster -> what creates it (the policies wait for that)."""
Addresses = Mapping[Outside, Sequence[pulumi.Input[str]] | pulumi.Output[list[str]]]
"""Where each address set is, seen from one cluster; a set absent or empty has no address there.
A set read from the cloud is an Output (never empty: the S3 prefix list always has ranges)."""


class ClusterNetworkPolicies(pulumi.ComponentResource):
    """The default-deny policy and the edges' allows in every namespace the program made in one cluster."""

    policies: dict[str, list[pulumi.CustomResource]]
    """Namespace -> its policies (NetworkPolicy, and FQDNNetworkPolicy on GKE)."""

    def __init__(
        self,
        name: str,
        *,
        part: ClusterParts,
        namespaces: NamespaceSet,
        addresses: Addresses,
        named: Sequence[NamedEgress] = (),
        egress_ports: Sequence[int] = (PUBLIC_PORT,),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("inferstack:k8s:NetworkPolicies", name, None, opts)
        assert part.kubernetes is not None
        self._name = name
        self._addresses = addresses
        self.policies = {}
        for namespace, makers in sorted(namespaces.items()):
            child = pulumi.ResourceOptions(parent=self, provider=part.kubernetes, depends_on=list(makers))
            made: list[pulumi.CustomResource] = [self._policy(namespace, "default-deny", {}, [], [], child)]
            for edge in edges(part.cluster.cloud, egress_ports):
                made.extend(self._edge(namespace, edge, child))
            made.extend(
                self._fqdn(egress, child)
                for egress in named
                if egress.namespace == namespace and egress.hosts
            )
            self.policies[namespace] = made
        self.register_outputs({"namespaces": sorted(self.policies)})

    def _edge(self, namespace: str, edge: Edge, opts: pulumi.ResourceOptions) -> list[pulumi.CustomResource]:
        ports = [k8s.networking.v1.NetworkPolicyPortArgs(port=p, protocol=proto) for p, proto in edge.ports]
        made: list[pulumi.CustomResource] = []
        if edge.source.namespace in (namespace, EVERY_NAMESPACE):
            to = self._peers(edge.target)
            if to:
                rule = k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=to, ports=ports or None)
                made.append(self._policy(namespace, f"{edge.name}-out", edge.source.pods, [], [rule], opts))
        if edge.target.namespace == namespace:
            sources = self._peers(edge.source)
            if sources:
                rule = k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=sources, ports=ports or None)
                made.append(self._policy(namespace, f"{edge.name}-in", edge.target.pods, [rule], [], opts))
        return made

    def _peers(
        self, peer: Peer
    ) -> (
        list[k8s.networking.v1.NetworkPolicyPeerArgs]
        | pulumi.Output[list[k8s.networking.v1.NetworkPolicyPeerArgs]]
    ):
        """The peer as NetworkPolicy selectors; empty when it has no address in this cluster. An
        address set read from the cloud (the S3 prefix list) is known only at apply."""
        if peer.namespace is not None:
            return [
                k8s.networking.v1.NetworkPolicyPeerArgs(
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": peer.namespace}
                    ),
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(peer.pods)),
                )
            ]
        assert peer.outside is not None
        found = self._addresses.get(peer.outside, ())
        if isinstance(found, pulumi.Output):
            return found.apply(_blocks)
        return _blocks(found)

    def _policy(
        self,
        namespace: str,
        policy: str,
        pods: Mapping[str, str],
        ingress: list[k8s.networking.v1.NetworkPolicyIngressRuleArgs],
        egress: list[k8s.networking.v1.NetworkPolicyEgressRuleArgs],
        opts: pulumi.ResourceOptions,
    ) -> k8s.networking.v1.NetworkPolicy:
        deny = not ingress and not egress
        types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules or deny]
        return k8s.networking.v1.NetworkPolicy(
            f"{self._name}-{namespace}-{policy}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=policy, namespace=namespace, labels={"app.kubernetes.io/part-of": PROJECT}
            ),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pods) or None),
                policy_types=types,
                ingress=ingress or None,
                egress=egress or None,
            ),
            opts=opts,
        )

    def _fqdn(self, egress: NamedEgress, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
        by_port: dict[int, list[str]] = {}
        for host, port in egress.hosts:
            by_port.setdefault(port, []).append(host)
        return k8s.apiextensions.CustomResource(
            f"{self._name}-{egress.namespace}-{egress.name}",
            api_version="networking.gke.io/v1alpha1",
            kind="FQDNNetworkPolicy",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=egress.name, namespace=egress.namespace, labels={"app.kubernetes.io/part-of": PROJECT}
            ),
            spec={
                "podSelector": {"matchLabels": dict(egress.pods)},
                "egress": [
                    {"matches": [_match(h) for h in hosts], "ports": [{"protocol": "TCP", "port": port}]}
                    for port, hosts in sorted(by_port.items())
                ],
            },
            opts=opts,
        )


def _blocks(cidrs: Sequence[pulumi.Input[str]]) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    return [
        k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
        for cidr in cidrs
    ]


def _match(host: str) -> dict[str, str]:
    """A FQDNNetworkPolicy match: ``name`` for one host, ``pattern`` for a leading wildcard."""
    return {"pattern": host} if host.startswith("*.") else {"name": host}


def addresses(
    settings: Settings,
    part: ClusterParts,
    parts: Mapping[str, ClusterParts],
    data: DataOutputs,
    providers: Providers | None = None,
) -> Addresses:
    """The address sets of one cluster. An existing cluster's load balancer and API server are not
    known to this program: they are any address, on the edges' ports only."""
    cloud = part.cluster.cloud
    vpc = part.network.vpc_cidr if isinstance(part.network, AwsNetwork) else None
    found: dict[Outside, Sequence[pulumi.Input[str]] | pulumi.Output[list[str]]] = {
        Outside.DATA_STORES: _data_stores(part, parts, data),
        Outside.MESH_PROBES: list(AMBIENT_PROBE_SOURCE),
    }
    if cloud is Cloud.GCP:
        control_plane = settings.control_plane_of(part.cluster)
        found[Outside.LOAD_BALANCER] = list(HEALTH_CHECK_SOURCE_RANGES)
        found[Outside.API_SERVER] = [str(control_plane)] if control_plane is not None else []
        found[Outside.CREDENTIALS] = list(GKE_METADATA)
        found[Outside.NODES] = [str(gcp_ranges(settings, part.cluster)[0])]
        return found
    anywhere = [vpc] if vpc is not None else [ANYWHERE]
    found[Outside.LOAD_BALANCER] = anywhere
    found[Outside.API_SERVER] = anywhere
    found[Outside.CREDENTIALS] = list(EKS_POD_IDENTITY_AGENT) if cloud is Cloud.AWS else []
    found[Outside.CLOUD_APIS] = [ANYWHERE]
    found[Outside.OBJECT_STORAGE] = [ANYWHERE]
    if cloud is Cloud.AWS and providers is not None and part.cluster.region is not None:
        found[Outside.OBJECT_STORAGE] = s3_ranges(providers.for_aws(part.cluster.region), part.cluster.region)
    found[Outside.NODES] = list(part.private_cidrs)
    # The interface endpoints' addresses are in the private subnets (infra/aws/network.py).
    found[Outside.AWS_ENDPOINTS] = list(part.private_cidrs) if cloud is Cloud.AWS else []
    host = log_host(settings)
    found[Outside.LOG_DOMAIN] = list(parts[host.name].private_cidrs) if host and cloud is Cloud.AWS else []
    return found


ANYWHERE = "0.0.0.0/0"


def s3_ranges(provider: aws.Provider, region: str) -> pulumi.Output[list[str]]:
    """S3's address ranges in ``region``: the AWS-managed prefix list ``com.amazonaws.<region>.s3``,
    the destination AWS routes a gateway endpoint's traffic to
    (https://docs.aws.amazon.com/vpc/latest/userguide/working-with-aws-managed-prefix-lists.html,
    "Available AWS-managed prefix lists"; https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html).
    AWS changes the list's entries; the policy follows them at the next apply."""
    found = aws.ec2.get_managed_prefix_list_output(
        name=f"com.amazonaws.{region}.s3", opts=pulumi.InvokeOutputOptions(provider=provider)
    )
    return found.entries.apply(lambda entries: sorted(e.cidr for e in entries))


def _data_stores(
    part: ClusterParts, parts: Mapping[str, ClusterParts], data: DataOutputs
) -> list[pulumi.Input[str]]:
    """Where the gateway's Postgres and Redis answer, for a core cluster that got the data hand-over.

    AWS: the stores live in the core clusters' private subnets and admit only them (infra/data.py),
    and the core networks are peered, so any core cluster's subnets. GCP: the stores' private IPs."""
    cluster = part.cluster
    if cluster.name not in data.config_maps or cluster.region is None:
        return []
    if cluster.cloud is Cloud.AWS:
        cidrs: list[pulumi.Input[str]] = []
        for other in parts.values():
            if other.cluster.role is Role.CORE and other.cluster.cloud is Cloud.AWS:
                cidrs.extend(c for c in other.private_cidrs if c not in cidrs)
        return cidrs
    hosts: list[pulumi.Input[str]] = []
    if isinstance(data.database, GcpDatabase):
        hosts.append(data.database.writer_host)
        reader = data.database.reader_hosts.get(cluster.region)
        if reader is not None:
            hosts.append(reader)
    cache = data.caches.get(cluster.region)
    if isinstance(cache, GcpCache):
        hosts += [cache.host, cache.reader_host]
    return [pulumi.Output.from_input(h).apply(lambda ip: f"{ip}/32") for h in hosts]


def build_network_policies(
    settings: Settings,
    parts: Mapping[str, ClusterParts],
    namespaces: Mapping[str, NamespaceSet],
    data: DataOutputs,
    providers: Providers | None = None,
) -> dict[str, ClusterNetworkPolicies]:
    """The policies of every cluster, for the namespaces the program made there (cluster -> set)."""
    built: dict[str, ClusterNetworkPolicies] = {}
    for name, made in namespaces.items():
        part = parts[name]
        if part.kubernetes is None or not made:
            continue
        built[name] = ClusterNetworkPolicies(
            f"{name}-netpol",
            part=part,
            namespaces=made,
            addresses=addresses(settings, part, parts, data, providers),
            named=named_egress(settings, part),
            egress_ports=sorted({port for _, port in egress_names(settings, part)}) or [PUBLIC_PORT],
        )
    return built
