"""Istio in ambient mode on every EKS and GKE cluster: one ``ClusterMesh`` component per cluster.

Creates, inside the cluster (through its ``ClusterParts.kubernetes`` provider only):

- the Istio control plane and ambient data plane as pinned Helm releases in ``istio-system``, in
  the order Istio's Helm install for ambient gives (base, istiod with the ambient profile, the CNI
  node agent, ztunnel; https://istio.io/v1.30/docs/ambient/install/helm/). ztunnel gives every pod
  of a namespace labelled ``istio.io/dataplane-mode: ambient`` an L4 mTLS identity; the CNI agent
  redirects the pods' traffic to it. On GKE the charts take ``global.platform: gke`` (their
  ``files/profile-platform-gke.yaml``: the CNI binary directory GKE uses and a ResourceQuota that
  lets ``system-node-critical`` pods run outside kube-system);
- PeerAuthentications: a mesh-wide default in ``istio-system`` and one per serving namespace
  (``inference``, ``serving``), STRICT unless the stack says permissive (dev only, settings);
- the mesh's ingress: the ``gateway`` chart in ``istio-ingress`` (Service type ClusterIP) with an
  Istio ``Gateway`` and ``VirtualService`` to the LiteLLM Service. With STRICT mTLS ztunnel refuses
  plain text from outside the mesh, so the ALB (IP targets) and Google's NEG backends reach this
  proxy instead of LiteLLM's pods; it talks mTLS to LiteLLM;
- with ``security.jwt``: a RequestAuthentication and an AuthorizationPolicy on the ingress pods that
  require a request principal everywhere but the readiness path (exact, GET only); the LiteLLM
  pods then admit only the ingress's identity and the Prometheus namespaces;
- on a GKE cluster other gateways fall back to (``Settings.peer_clusters``), the peer entrance: a
  second release of the gateway chart, ``istio-peer`` (pods ``istio: peer``, out of the user JWT's
  selector), with its own NEG behind ``peer.<domain>`` on the GCP load balancer, whose Cloud Armor
  policy admits only the calling gateways' NAT addresses. It asks for no JWT (the caller sends the
  stack's master key, which LiteLLM checks) and passes only the inference API and readiness.

No Gateway API resources: no pinned chart here installs their CRDs; the Istio ``Gateway`` kind
comes with the ``base`` chart.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra.catalog import Addon, AddonRelease, catalog
from infra.k8s import MESH_ADDONS, MESH_INGRESS, MESH_INGRESS_PORT, gateway, serving
from infra.naming import resource_name
from infra.parts import ClusterParts
from infra.settings import PROJECT, Cloud, Jwt, MeshMode, Security

SYSTEM_NAMESPACE = "istio-system"
INGRESS_NAMESPACE = MESH_INGRESS
INGRESS = MESH_INGRESS
"""The ingress release's name: the gateway chart names its Deployment, Service and ServiceAccount
after it and labels its pods ``istio: ingress`` (the release name less ``istio-``, templates/_helpers.tpl
``gateway.selectorLabels`` at 1.30.3)."""
INGRESS_SELECTOR = {"istio": "ingress"}
INGRESS_PORT = MESH_INGRESS_PORT
STATUS_PORT = 15021
INGRESS_PRINCIPAL = f"cluster.local/ns/{INGRESS_NAMESPACE}/sa/{INGRESS}"
"""The ingress pods' SPIFFE identity (trust domain cluster.local, the charts' default)."""
PEER = "istio-peer"
"""The peer entrance's release, in the ingress namespace: the chart labels its pods ``istio: peer``
and names its ServiceAccount ``istio-peer`` (templates/_helpers.tpl ``gateway.selectorLabels`` and
``gateway.serviceAccountName`` at 1.30.3), so neither the user-JWT RequestAuthentication nor
``require-jwt`` (both ``istio: ingress``) selects it."""
PEER_SELECTOR = {"istio": "peer"}
PEER_PRINCIPAL = f"cluster.local/ns/{INGRESS_NAMESPACE}/sa/{PEER}"
PEER_API_PATHS = ("/v1/*",)
"""What a calling gateway asks for: LiteLLM's OpenAI routes under the fallback's ``api_base``
(``https://peer.<domain>/v1``); its admin routes (keys, users, the UI) stay unreachable this way."""
SCRAPERS = ("monitoring",)
"""The namespace Prometheus scrapes from, in the mesh: kube-prometheus-stack on EKS, the collector
that writes to Managed Prometheus on GKE (infra/k8s/monitoring.py). Not ``gmp-system``: GKE's
managed collectors run outside the mesh and scrape nothing behind it."""
SERVING_NAMESPACES = (gateway.NAMESPACE, serving.NAMESPACE)
MONITORING_NAMESPACE = "monitoring"
"""Where each EKS cluster's kube-prometheus-stack runs (infra/k8s/monitoring.py, which imports this
module: the name is repeated here, not imported)."""
AMBIENT = {"istio.io/dataplane-mode": "ambient"}
"""The label that puts a namespace's pods in the ambient mesh (https://istio.io/v1.30/docs/ambient/usage/add-workloads/)."""

_CHART_NAMESPACE = {"istio-ingress": INGRESS_NAMESPACE}
_RESOURCES: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "istiod": {
        "requests": {"cpu": "500m", "memory": "2048Mi"},
        "limits": {"cpu": "2000m", "memory": "4096Mi"},
    },
    "istio-cni": {
        "requests": {"cpu": "100m", "memory": "100Mi"},
        "limits": {"cpu": "1000m", "memory": "512Mi"},
    },
    "ztunnel": {
        "requests": {"cpu": "200m", "memory": "512Mi"},
        "limits": {"cpu": "2000m", "memory": "1024Mi"},
    },
    "istio-ingress": {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "2000m", "memory": "1024Mi"},
    },
}
"""The charts' own requests at 1.30.3 (values.yaml ``resources``; the gateway's limits too) with
limits above them (the gateway's own): a leaking or spinning proxy is stopped before it starves the node. istio-base runs
nothing (CRDs and a webhook configuration)."""


@dataclass(frozen=True)
class MeshArgs:
    part: ClusterParts
    """The cluster; its ``kubernetes`` provider creates everything."""
    security: Security
    """mTLS mode and the JWT every request carries (the stack's ``security``)."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)
    """The add-ons' PriorityClasses: the releases wait for the add-ons."""
    gateway: pulumi.Resource | None = None
    """The cluster's LiteLLM Service (namespace ``inference``), when it has one: its policies wait for it."""
    serving: Sequence[pulumi.Resource] = ()
    """The cluster's model servers (namespace ``serving``), when it has any: their policy waits for them."""
    monitoring: pulumi.Resource | None = None
    """An EKS cluster's monitoring stack (namespace ``monitoring``): its PERMISSIVE mode waits for it."""
    peer: bool = False
    """Whether other clusters' gateways fall back to this one: it gets the peer entrance (GKE only)."""

    def __post_init__(self) -> None:
        if self.peer and self.part.cluster.cloud is not Cloud.GCP:
            raise ValueError(
                f"MeshArgs({self.part.cluster.name!r}).peer: the peer entrance sits behind the GCP load balancer; "
                f"allowed on GKE clusters only"
            )


def peer_mode(mode: MeshMode) -> str:
    return "STRICT" if mode is MeshMode.STRICT else "PERMISSIVE"


def istio_values(addon: str, table: Addon, release: AddonRelease, cloud: Cloud) -> dict[str, object]:
    """Chart values: the pinned images (the charts' own defaults are a testing hub and ``latest``
    until Istio's release build rewrites them), the ambient profile and GKE's platform profile."""
    hub = table.images[next(iter(table.images))].rsplit("/", 1)[0]
    tag = release.tags[next(iter(release.tags))]
    pinned: dict[str, object] = {"hub": hub, "tag": tag}
    resources = {"resources": dict(_RESOURCES[addon])} if addon in _RESOURCES else {}
    if cloud is Cloud.GCP:
        pinned["platform"] = "gke"
    if addon == "istio-base":
        return {"global": pinned}
    if addon == "istio-ingress":
        return {"global": pinned, "service": {"type": "ClusterIP"}, **resources}
    values: dict[str, object] = {"profile": "ambient", "global": pinned, **resources}
    if addon == "istiod":
        # The gateways istiod deploys from Gateway API objects (the EKS egress waypoint,
        # infra/k8s/egress.py) get a seccomp profile only when this is set (istio-discovery 1.30.3
        # values.yaml gateways.seccompProfile, files/waypoint.yaml); with it their pods meet Pod
        # Security restricted. The Helm-installed ingress is the gateway chart's, not affected.
        values["gateways"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if addon in ("ztunnel", "istio-cni"):
        values.update({"hub": hub, "tag": tag})
    return values


def ingress_service_values(neg: str | None) -> dict[str, object]:
    """The ingress Service: ClusterIP (the ALB and the NEGs target pod IPs), the status port for
    Istio's own readiness and the edge's port; on GKE the standalone NEG annotation the LiteLLM
    Service carried before (same fixed name, now on the ingress port)."""
    service: dict[str, object] = {
        "type": "ClusterIP",
        "ports": [
            {"name": "status-port", "port": STATUS_PORT, "protocol": "TCP", "targetPort": STATUS_PORT},
            {"name": "http2", "port": INGRESS_PORT, "protocol": "TCP", "targetPort": INGRESS_PORT},
        ],
    }
    if neg is not None:
        # https://cloud.google.com/kubernetes-engine/docs/how-to/standalone-neg, "Create a Service".
        service["annotations"] = {"cloud.google.com/neg": gateway.neg_annotation(neg, INGRESS_PORT)}
    return service


def jwt_rules(jwt: Jwt) -> dict[str, object]:
    """RequestAuthentication spec for the ingress pods (security/v1; a token that fails validation
    gets 401 there; https://istio.io/v1.30/docs/reference/config/security/request_authentication/)."""
    return {
        "selector": {"matchLabels": INGRESS_SELECTOR},
        "jwtRules": [{"issuer": jwt.issuer, "audiences": list(jwt.audiences), "jwksUri": jwt.jwks_uri}],
    }


def require_principal() -> dict[str, object]:
    """AuthorizationPolicy spec: ALLOW a request with a validated principal, or a GET of exactly the
    readiness path (the edge's health checks carry no token). An ALLOW policy denies (403) every
    request no rule matches, so a request without a token never reaches LiteLLM
    (https://istio.io/v1.30/docs/tasks/security/authorization/authz-jwt/;
    https://istio.io/v1.30/docs/reference/config/security/authorization-policy/)."""
    return {
        "selector": {"matchLabels": INGRESS_SELECTOR},
        "action": "ALLOW",
        "rules": [
            {"from": [{"source": {"requestPrincipals": ["*"]}}]},
            {"to": [{"operation": {"methods": ["GET"], "paths": [gateway.READINESS]}}]},
        ],
    }


def peer_paths() -> dict[str, object]:
    """AuthorizationPolicy spec on the peer entrance's pods: ALLOW the inference API and a GET of the
    readiness path (Google's health checks); everything else is refused with 403 before LiteLLM.
    Who may call at all is Cloud Armor's source-address rule (infra/gcp/edge.py), and what the call
    may do is LiteLLM's master-key check."""
    return {
        "selector": {"matchLabels": PEER_SELECTOR},
        "action": "ALLOW",
        "rules": [
            {"to": [{"operation": {"paths": list(PEER_API_PATHS)}}]},
            {"to": [{"operation": {"methods": ["GET"], "paths": [gateway.READINESS]}}]},
        ],
    }


def litellm_admits(*, peer: bool = False) -> dict[str, object]:
    """AuthorizationPolicy spec on LiteLLM's pods, enforced by ztunnel (L4 attributes only): the
    ingress's identity (and the peer entrance's, where there is one) and the Prometheus namespaces;
    nothing else in or out of the mesh."""
    principals = [INGRESS_PRINCIPAL, *([PEER_PRINCIPAL] if peer else [])]
    return {
        "selector": {"matchLabels": dict(gateway.APP)},
        "action": "ALLOW",
        "rules": [
            {"from": [{"source": {"principals": principals}}]},
            {"from": [{"source": {"namespaces": list(SCRAPERS)}}]},
        ],
    }


def routes(
    selector: Mapping[str, str] = INGRESS_SELECTOR, name: str = PROJECT
) -> tuple[dict[str, object], dict[str, object]]:
    """Gateway and VirtualService specs (networking/v1) for the ingress pods ``selector`` picks, the
    Gateway named ``name``. Hosts ``*``: the ALB's and Google's health checks send the target's
    address as Host, not the public name, and must reach readiness too."""
    upstream = f"{gateway.SERVICE}.{gateway.NAMESPACE}.svc.cluster.local"
    gw = {
        "selector": dict(selector),
        "servers": [{"port": {"number": INGRESS_PORT, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}],
    }
    vs = {
        "hosts": ["*"],
        "gateways": [f"{INGRESS_NAMESPACE}/{name}"],
        "http": [{"route": [{"destination": {"host": upstream, "port": {"number": gateway.PORT}}}]}],
    }
    return gw, vs


def custom_object(
    logical: str,
    kind: str,
    api_version: str,
    name: str,
    namespace: str,
    spec: Mapping[str, object],
    opts: pulumi.ResourceOptions,
    labels: Mapping[str, str] | None = None,
) -> k8s.apiextensions.CustomResource:
    """An Istio (or Gateway API) object of the platform: its spec as data, labelled as ours."""
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=api_version,
        kind=kind,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=namespace, labels={**(labels or {}), "app.kubernetes.io/part-of": PROJECT}
        ),
        spec=dict(spec),
        opts=opts,
    )


class ClusterMesh(pulumi.ComponentResource):
    """Istio ambient, the serving namespaces' mTLS mode, and the ingress with its JWT policy."""

    releases: dict[str, k8s.helm.v3.Release]
    """addons.yaml name -> its Helm release."""
    ingress: k8s.helm.v3.Release
    """The ingress gateway's release: it owns the Service the edge targets (and on GKE its NEGs)."""
    peer: k8s.helm.v3.Release | None
    """The peer entrance's release, on a GKE cluster other gateways fall back to: it owns the NEGs
    behind ``peer.<domain>``."""
    peer_neg_name: str | None
    namespaces: dict[str, k8s.core.v1.Namespace]
    """The mesh's own namespaces (istio-system, istio-ingress): they get default-deny and their edges
    like every namespace the program creates (infra/k8s/netpol.py)."""

    def __init__(self, name: str, args: MeshArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:k8s:ClusterMesh", name, None, opts)
        self._name = name
        self._args = args
        assert args.part.kubernetes is not None
        self._k8s = args.part.kubernetes
        cluster = args.part.cluster
        self.releases = {}
        system = self._namespace(
            SYSTEM_NAMESPACE, "privileged"
        )  # CNI agent: host paths; ztunnel: NET_ADMIN, SYS_ADMIN
        ingress_ns = self._namespace(INGRESS_NAMESPACE, "baseline")
        self.namespaces = {SYSTEM_NAMESPACE: system, INGRESS_NAMESPACE: ingress_ns}
        after: list[pulumi.Resource] = [*args.depends_on, system]
        neg = gateway.neg_name(cluster.name) if cluster.cloud is Cloud.GCP else None
        for addon in MESH_ADDONS:
            values = istio_values(addon, *self._pinned(addon), cluster.cloud)
            if addon == "istio-ingress":
                values["service"] = ingress_service_values(neg)
                after = [*after, ingress_ns]
            created = self._release(
                addon, addon, _CHART_NAMESPACE.get(addon, SYSTEM_NAMESPACE), values, after
            )
            self.releases[addon] = created
            after = [*args.depends_on, system, created]
        self.ingress = self.releases["istio-ingress"]
        self.peer = None
        self.peer_neg_name = None
        if args.peer:
            # A second release of the ingress's chart: its own Deployment, Service and identity.
            values = istio_values("istio-ingress", *self._pinned("istio-ingress"), cluster.cloud)
            self.peer_neg_name = gateway.peer_neg_name(cluster.name)
            values["service"] = ingress_service_values(self.peer_neg_name)
            self.peer = self._release(
                PEER,
                "istio-ingress",
                INGRESS_NAMESPACE,
                values,
                [*args.depends_on, system, ingress_ns, self.ingress],
            )
        crds = [self.releases["istiod"]]
        mode = peer_mode(args.security.mtls)
        self._custom(
            "PeerAuthentication",
            "security.istio.io/v1",
            "default",
            SYSTEM_NAMESPACE,
            {"mtls": {"mode": mode}},
            crds,
        )
        # A namespaced object needs its namespace: each waits for what created it.
        in_namespace: dict[str, list[pulumi.Resource]] = {}
        if args.gateway is not None:
            in_namespace[gateway.NAMESPACE] = [*crds, args.gateway]
        if args.serving:
            in_namespace[serving.NAMESPACE] = [*crds, *args.serving]
        for namespace, after_namespace in in_namespace.items():
            self._custom(
                "PeerAuthentication",
                "security.istio.io/v1",
                "default",
                namespace,
                {"mtls": {"mode": mode}},
                after_namespace,
            )
        if args.monitoring is not None:
            # EKS's monitoring namespace is in the mesh so that Prometheus scrapes the STRICT serving
            # namespaces with an identity (outbound, ztunnel speaks HBONE to any mesh destination
            # whatever this namespace's mode). Its inbound is PERMISSIVE, namespace-wide (the
            # reference's "allow both mTLS and plaintext traffic for all workloads under namespace
            # foo", https://istio.io/v1.30/docs/reference/config/security/peer_authentication/):
            # KEDA queries Prometheus and the API server calls the operator's webhook from outside
            # the mesh, in plain text the mesh-wide STRICT default would refuse. Who may connect at
            # all is still the namespace's default-deny NetworkPolicy (infra/k8s/netpol.py).
            self._custom(
                "PeerAuthentication",
                "security.istio.io/v1",
                "default",
                MONITORING_NAMESPACE,
                {"mtls": {"mode": "PERMISSIVE"}},
                [*crds, args.monitoring],
            )
        entrances = [(INGRESS_SELECTOR, PROJECT, self.ingress)]
        if self.peer is not None:
            entrances.append((PEER_SELECTOR, f"{PROJECT}-peer", self.peer))
        for selector, entrance, owner in entrances:
            gw, vs = routes(selector, entrance)
            self._custom("Gateway", "networking.istio.io/v1", entrance, INGRESS_NAMESPACE, gw, [owner])
            self._custom("VirtualService", "networking.istio.io/v1", entrance, INGRESS_NAMESPACE, vs, [owner])
        if self.peer is not None:
            self._custom(
                "AuthorizationPolicy",
                "security.istio.io/v1",
                "peer-paths",
                INGRESS_NAMESPACE,
                peer_paths(),
                [self.peer],
            )
        jwt = args.security.jwt
        if jwt is not None:
            self._custom(
                "RequestAuthentication",
                "security.istio.io/v1",
                "jwt",
                INGRESS_NAMESPACE,
                jwt_rules(jwt),
                [self.ingress],
            )
            self._custom(
                "AuthorizationPolicy",
                "security.istio.io/v1",
                "require-jwt",
                INGRESS_NAMESPACE,
                require_principal(),
                [self.ingress],
            )
        if args.gateway is not None:
            self._custom(
                "AuthorizationPolicy",
                "security.istio.io/v1",
                "litellm-from-ingress",
                gateway.NAMESPACE,
                litellm_admits(peer=self.peer is not None),
                in_namespace[gateway.NAMESPACE],
            )
        self.register_outputs({"ingress": INGRESS, "peer": PEER if self.peer is not None else None})

    def _release(
        self,
        name: str,
        addon: str,
        namespace: str,
        values: dict[str, object],
        depends_on: Sequence[pulumi.Resource],
    ) -> k8s.helm.v3.Release:
        """A Helm release ``name`` of the add-on's pinned chart."""
        table, release = self._pinned(addon)
        return k8s.helm.v3.Release(
            self._child(name),
            k8s.helm.v3.ReleaseArgs(
                name=name,
                chart=table.chart,
                version=release.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=table.repository),
                namespace=namespace,
                values=values,
                cleanup_on_fail=True,
                max_history=10,
            ),
            opts=self._opts(depends_on),
        )

    def _pinned(self, addon: str) -> tuple[Addon, AddonRelease]:
        table = catalog().addons[addon]
        version = self._args.part.cluster.kubernetes_version
        release = table.release_for(version)
        if release is None:  # the settings refuse such a stack; a direct caller gets this
            raise ValueError(
                f"add-on {addon}: no release for Kubernetes {version} (supports {table.supported()})"
            )
        return table, release

    def _namespace(self, name: str, pod_security: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            self._child(name),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                labels={
                    "pod-security.kubernetes.io/enforce": pod_security,
                    "app.kubernetes.io/part-of": PROJECT,
                },
            ),
            opts=self._opts(self._args.depends_on),
        )

    def _custom(
        self,
        kind: str,
        api_version: str,
        name: str,
        namespace: str,
        spec: Mapping[str, object],
        depends_on: Sequence[pulumi.Resource],
    ) -> k8s.apiextensions.CustomResource:
        return custom_object(
            self._child(namespace, kind.lower(), name),
            kind,
            api_version,
            name,
            namespace,
            spec,
            self._opts(depends_on),
        )

    def _child(self, *role: str) -> str:
        return resource_name(self._name, *role)

    def _opts(self, depends_on: Sequence[pulumi.Resource]) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=list(depends_on))


def build_mesh(
    security: Security,
    parts: Mapping[str, ClusterParts],
    gateways: Mapping[str, pulumi.Resource],
    servers: Mapping[str, Mapping[str, pulumi.Resource]],
    monitoring: Mapping[str, pulumi.Resource] | None = None,
    peers: Collection[str] = (),
) -> dict[str, ClusterMesh]:
    """The mesh of every EKS and GKE cluster (an existing cluster's owners run their own); ``peers``:
    the clusters other gateways fall back to (``Settings.peer_clusters``), which get the peer entrance."""
    out: dict[str, ClusterMesh] = {}
    for name, part in parts.items():
        if part.kubernetes is None or part.cluster.cloud is Cloud.EXISTING:
            continue
        out[name] = ClusterMesh(
            f"{name}-mesh",
            MeshArgs(
                part=part,
                security=security,
                depends_on=part.workload_prerequisites,
                gateway=gateways.get(name),
                serving=list(servers.get(name, {}).values()),
                monitoring=(monitoring or {}).get(name) if part.cluster.cloud is Cloud.AWS else None,
                peer=name in peers,
            ),
        )
    return out
