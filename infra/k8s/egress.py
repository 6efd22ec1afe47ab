"""Named egress on EKS: the gateway's public hosts leave the cluster through an Istio ambient egress waypoint.

The VPC CNI's NetworkPolicy can hold addresses only, and a public API's addresses change without
notice, so on EKS the hosts are named in the mesh instead
(https://istio.io/latest/docs/ambient/usage/egress-gateway/). One ``ClusterEgress`` per EKS
cluster creates, through the cluster's ``ClusterParts.kubernetes`` provider:

- Gateway API's standard-channel CRDs (v1.5.1, the version Istio 1.30.3 builds against), vendored
  and pinned in infra/catalog/addons.yaml ``crdBundles``. istiod needs no restart for them: it
  starts its Gateway API controllers when the Gateway CRD appears (``CrdWatcher().WaitForCRD``,
  pilot/pkg/bootstrap/configcontroller.go at istio/istio 1.30.3);
- the namespace ``istio-egress`` (in the ambient mesh, default-deny like every namespace the program
  creates) with a waypoint: a Gateway API ``Gateway`` of class ``istio-waypoint`` listening on HBONE
  15008, for which istiod's deployment controller creates the Deployment and Service (the shape
  ``istioctl waypoint apply`` writes, istioctl/pkg/waypoint/waypoint.go at 1.30.3);
- one ``ServiceEntry`` per named host, labelled ``istio.io/use-waypoint``: ztunnel answers the
  gateway pods' DNS query for the host with the entry's auto-allocated address (ambient DNS capture,
  on by default: istio-cni values ``ambient.dnsCapture: true``; IP auto-allocation,
  ``PILOT_ENABLE_IP_AUTOALLOCATE`` true in pilot/pkg/features/pilot.go) and carries the connection
  to the waypoint over HBONE; the waypoint opens the TCP connection to the host. The ports are
  ``TLS``: the application's own TLS goes through end to end, the waypoint neither originates nor
  ends it. An exact name resolves by ``DNS``; a ``*.`` name by ``DYNAMIC_DNS`` (the only resolution
  Istio 1.30.3 accepts for a wildcard host, pkg/config/validation/validation.go, and the one for
  which it allocates an address, pilot/pkg/controllers/ipallocate/ipallocate.go);
- an ``AuthorizationPolicy`` on the waypoint that admits the gateway's identity only.

What makes this a control and not a convenience is the NetworkPolicy (infra/k8s/netpol.py): ztunnel
sends a destination no ServiceEntry names straight to its address (passthrough,
src/proxy/outbound.rs at istio/ztunnel 1.30.3), from inside the pod's network namespace, so the
gateway pods may open only HBONE to the waypoint and only the waypoint's pods may open the hosts'
ports to any address.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.catalog import catalog
from infra.k8s import HBONE_PORT, gateway
from infra.k8s.mesh import AMBIENT, custom_object
from infra.naming import resource_name
from infra.parts import ClusterParts
from infra.settings import PROJECT, Cloud

NAMESPACE = "istio-egress"
WAYPOINT = "waypoint"
"""The waypoint Gateway's name; istiod names its Deployment, Service and ServiceAccount after it."""
WAYPOINT_CLASS = "istio-waypoint"
WAYPOINT_PODS = {"gateway.networking.k8s.io/gateway-name": WAYPOINT}
"""The label istiod's waypoint template puts on the waypoint's pods (and selects them by):
manifests/charts/istio-control/istio-discovery/files/waypoint.yaml at istio/istio 1.30.3."""
GATEWAY_PRINCIPAL = f"cluster.local/ns/{gateway.NAMESPACE}/sa/{gateway.SERVICE_ACCOUNT}"
"""LiteLLM's SPIFFE identity: the one caller the egress waypoint serves."""
CRD_BUNDLE = "gateway-api"


@dataclass(frozen=True)
class ExternalHost:
    """A public name the gateway may call, with every port it is called on."""

    host: str
    ports: tuple[int, ...]

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")

    @property
    def object_name(self) -> str:
        """The ServiceEntry's name: the host, its wildcard label spelled out (``*`` is not a name)."""
        return self.host.replace("*", "wildcard", 1)


def external_hosts(names: Sequence[tuple[str, int]]) -> list[ExternalHost]:
    """(host, port) pairs grouped by host, in first-seen order: one ServiceEntry per host."""
    ports: dict[str, list[int]] = {}
    for host, port in names:
        found = ports.setdefault(host, [])
        if port not in found:
            found.append(port)
    return [ExternalHost(host, tuple(sorted(p))) for host, p in ports.items()]


def service_entry(host: ExternalHost) -> dict[str, object]:
    """ServiceEntry spec (networking/v1, https://istio.io/v1.30/docs/reference/config/networking/service-entry/).
    MESH_EXTERNAL: the host is outside the mesh, so no mTLS to it; the waypoint is bound by label."""
    return {
        "hosts": [host.host],
        "location": "MESH_EXTERNAL",
        "resolution": "DYNAMIC_DNS" if host.wildcard else "DNS",
        "ports": [{"number": port, "name": f"tls-{port}", "protocol": "TLS"} for port in host.ports],
    }


WAYPOINT_OPTIONS = "waypoint-options"
WAYPOINT_REPLICAS = 2
"""Two waypoint pods, spread over zones, at most one down by a drain: with istiod's template alone
the waypoint is one pod, and every public call of the gateway (DeepSeek's API, the other
clusters' peer entrances) would pause while a node drain reschedules it."""


def waypoint_gateway() -> dict[str, object]:
    """The waypoint's Gateway spec: one HBONE listener on 15008, as ``istioctl waypoint apply``
    writes it (https://istio.io/latest/docs/ambient/usage/waypoint/), and its infrastructure
    parameters: the ConfigMap ``waypoint_options`` holds, in the Gateway's namespace."""
    return {
        "gatewayClassName": WAYPOINT_CLASS,
        "listeners": [{"name": "mesh", "port": HBONE_PORT, "protocol": "HBONE"}],
        "infrastructure": {"parametersRef": {"group": "", "kind": "ConfigMap", "name": WAYPOINT_OPTIONS}},
    }


def waypoint_options() -> dict[str, str]:
    """The overlays istiod's deployment controller applies to what it renders for the waypoint
    (strategic merge patches keyed ``deployment``, ``podDisruptionBudget``, ...; a PodDisruptionBudget
    is rendered only when its key is given: ``supportedOverlays``/``requiredOverlays`` and
    ``fetchParameters`` in pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go at istio/istio
    1.30.3, whose test gives the same shapes)."""
    spread = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": dict(WAYPOINT_PODS)},
    }
    deployment = {
        "spec": {"replicas": WAYPOINT_REPLICAS, "template": {"spec": {"topologySpreadConstraints": [spread]}}}
    }
    budget = {"spec": {"minAvailable": WAYPOINT_REPLICAS - 1}}
    return {"deployment": yaml.safe_dump(deployment), "podDisruptionBudget": yaml.safe_dump(budget)}


def waypoint_admits() -> dict[str, object]:
    """AuthorizationPolicy spec attached to the waypoint (targetRefs: the Gateway,
    https://istio.io/latest/docs/ambient/usage/l7-features/): an ALLOW policy refuses every caller
    no rule names, so another mesh workload that learns a named host still cannot leave through it."""
    return {
        "targetRefs": [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": WAYPOINT}],
        "action": "ALLOW",
        "rules": [{"from": [{"source": {"principals": [GATEWAY_PRINCIPAL]}}]}],
    }


@dataclass(frozen=True)
class EgressArgs:
    part: ClusterParts
    """The EKS cluster; its ``kubernetes`` provider creates everything."""
    hosts: Sequence[tuple[str, int]]
    """The public names the cluster's gateway calls (infra/k8s/netpol.py ``egress_names``)."""
    istiod: pulumi.Resource
    """The cluster's istiod release: Istio's kinds and their validating webhook come with it."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)
    """The add-ons' PriorityClasses, which the namespace waits for like the mesh's own."""


class ClusterEgress(pulumi.ComponentResource):
    """The Gateway API CRDs, the egress waypoint and one ServiceEntry per named host, in one EKS cluster."""

    namespace: k8s.core.v1.Namespace
    """``istio-egress``: it gets default-deny and its edges like every namespace the program creates."""
    crds: list[k8s.apiextensions.v1.CustomResourceDefinition]
    waypoint: k8s.apiextensions.CustomResource
    service_entries: dict[str, k8s.apiextensions.CustomResource]
    """Host -> its ServiceEntry."""

    def __init__(self, name: str, args: EgressArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:k8s:ClusterEgress", name, None, opts)
        assert args.part.kubernetes is not None
        self._name = name
        self._k8s = args.part.kubernetes
        self.crds = self._crds()
        self.namespace = k8s.core.v1.Namespace(
            self._child(NAMESPACE),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels={
                    # The waypoint's pods meet restricted: istiod's template runs them non-root, without
                    # privilege escalation, dropping ALL capabilities, and with RuntimeDefault seccomp from
                    # the istiod chart's gateways.seccompProfile (infra/k8s/mesh.py istio_values).
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "app.kubernetes.io/part-of": PROJECT,
                    **AMBIENT,
                },
            ),
            opts=self._opts(args.depends_on),
        )
        istio = [args.istiod, self.namespace]
        # The Gateway names these options; istiod refuses to render a waypoint whose ConfigMap is missing.
        options = k8s.core.v1.ConfigMap(
            self._child("configmap", WAYPOINT_OPTIONS),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=WAYPOINT_OPTIONS, namespace=NAMESPACE, labels={"app.kubernetes.io/part-of": PROJECT}
            ),
            data=waypoint_options(),
            opts=self._opts([self.namespace]),
        )
        self.waypoint = self._custom(
            "Gateway",
            "gateway.networking.k8s.io/v1",
            WAYPOINT,
            waypoint_gateway(),
            [*istio, *self.crds, options],
            labels={"istio.io/waypoint-for": "service"},
        )
        self.service_entries = {
            host.host: self._custom(
                "ServiceEntry",
                "networking.istio.io/v1",
                host.object_name,
                service_entry(host),
                [*istio, self.waypoint],
                labels={"istio.io/use-waypoint": WAYPOINT},
            )
            for host in external_hosts(args.hosts)
        }
        self._custom(
            "AuthorizationPolicy",
            "security.istio.io/v1",
            "egress-from-gateway",
            waypoint_admits(),
            [*istio, self.waypoint],
        )
        self.register_outputs({"namespace": NAMESPACE, "hosts": sorted(self.service_entries)})

    def _crds(self) -> list[k8s.apiextensions.v1.CustomResourceDefinition]:
        bundle = catalog().crd_bundles[CRD_BUNDLE]
        made: list[k8s.apiextensions.v1.CustomResourceDefinition] = []
        for document in bundle.documents():
            meta = document["metadata"]
            made.append(
                k8s.apiextensions.v1.CustomResourceDefinition(
                    self._child("crd", meta["name"]),
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=meta["name"],
                        annotations=dict(meta.get("annotations") or {}),
                        labels={**(meta.get("labels") or {}), "app.kubernetes.io/part-of": PROJECT},
                    ),
                    # Upstream's spec as released; its status block is the API server's to write.
                    spec=document["spec"],
                    opts=self._opts([]),
                )
            )
        return made

    def _custom(
        self,
        kind: str,
        api_version: str,
        name: str,
        spec: Mapping[str, object],
        depends_on: Sequence[pulumi.Resource],
        labels: Mapping[str, str] | None = None,
    ) -> k8s.apiextensions.CustomResource:
        return custom_object(
            self._child(kind.lower(), name),
            kind,
            api_version,
            name,
            NAMESPACE,
            spec,
            self._opts(depends_on),
            labels,
        )

    def _child(self, *role: str) -> str:
        return resource_name(self._name, *role)

    def _opts(self, depends_on: Sequence[pulumi.Resource]) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=list(depends_on))


def build_egress(
    parts: Mapping[str, ClusterParts],
    istiod: Mapping[str, pulumi.Resource],
    hosts: Mapping[str, Sequence[tuple[str, int]]],
) -> dict[str, ClusterEgress]:
    """The egress waypoint of every EKS cluster whose gateway calls a public name (cluster -> it).
    GKE names the hosts in FQDNNetworkPolicy instead; an existing cluster's owners run their mesh."""
    out: dict[str, ClusterEgress] = {}
    for name, part in parts.items():
        if part.cluster.cloud is not Cloud.AWS or name not in istiod or not hosts.get(name):
            continue
        out[name] = ClusterEgress(
            f"{name}-egress",
            EgressArgs(
                part=part, hosts=hosts[name], istiod=istiod[name], depends_on=part.workload_prerequisites
            ),
        )
    return out
