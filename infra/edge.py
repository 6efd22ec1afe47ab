"""The edge layer: one public name that reaches every healthy serving cluster, across clouds.

The public DNS of the project lives in Route 53, whatever clouds serve: the Route 53 side
(``infra.aws.edge``) is always built, with one HTTPS readiness check per origin. Serving
clusters are those with accelerator pools, plus existing (on-prem) clusters, whose pools this
project does not see. Each AWS or existing cluster is its own origin, on the regional name its
gateway answers on (``<cluster>.<domain>``). The GCP clusters together sit behind one global
external HTTPS load balancer (``infra.gcp.edge``), whose address is a single origin: the load
balancer already spreads clients over the GCP regions by proximity and health.

Core clusters are the primary side of the name, burst clusters the failover (or, with weighted
routing, overflow) side.

The hosted zone comes first (``infra.aws.zone``): a zone the stack creates resolves only once
its parent delegates to it, so the certificates of both clouds wait for that delegation when
the stack writes it (``edge.parentZoneId``), and the plan warns when it does not.

Providers: Route 53 is global; its resources use the provider of the first AWS serving region
(core first), so the edge adds no provider to a stack that already has one, and us-east-1 only
when no cluster is on AWS. ACM certificates use the provider of each AWS serving region, since a
load balancer can only use a certificate of its own region. A Global Accelerator uses a
us-west-2 provider, where its API lives. The GCP load balancer uses the provider of the first GCP
serving cluster's region; all of its parts are global.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from infra.aws.edge import AwsEdge, AwsEdgeArgs, GlobalAcceleratorArgs, Origin, Routing, Tier
from infra.aws.network import AwsNetwork
from infra.aws.zone import PublicZone, PublicZoneArgs
from infra.catalog import catalog
from infra.gcp.edge import GcpEdge, GcpEdgeArgs
from infra.parts import ClusterParts, Providers, zones
from infra.settings import Cloud, Cluster, Role, Settings

GLOBAL_ACCELERATOR_API_REGION = "us-west-2"
"""Global Accelerator is a global service whose API is served only in US West (Oregon)."""

FALLBACK_ROUTE53_REGION = "us-east-1"
"""Provider region for Route 53 when no serving cluster is on AWS; Route 53 itself is global."""

GCP_ORIGIN_KEY = "gcp"
"""Label of the GCP load balancer's origin: gcp.<domain> holds its address."""

PEER_LABEL = "peer"
"""Label of the name other gateways fall back to a GCP cluster on: peer.<domain> holds the GCP load
balancer's address, whose URL map sends that host to the peer entrance (infra/gcp/edge.py)."""


def peer_host(domain: str) -> str:
    return f"{PEER_LABEL}.{domain}"


@dataclass
class EdgeOutputs:
    """What the edge hands to the layers above and to the stack outputs."""

    public_name: str
    """The one name clients use."""
    origin_hostnames: dict[str, str]
    """Cluster -> the regional name its gateway must answer on (AWS and existing clusters); the workloads
    layer points it at the cluster's ingress load balancer, which presents the regional certificate."""
    health_check_ids: dict[str, pulumi.Output[str]]
    """Cluster -> the Route 53 health check that decides whether the name sends clients its way."""
    certificate_arns: dict[str, pulumi.Output[str]]
    """AWS region -> validated ACM certificate for the name and *.<name>, for that region's load balancers."""
    zone_id: pulumi.Output[str]
    """The Route 53 hosted zone of the name."""
    name_servers: pulumi.Output[Sequence[str]] | None
    """Name servers of a created zone, which its parent must delegate to; None when the zone was taken."""
    zone: PublicZone
    """The zone and its delegation."""
    aws: AwsEdge
    """The Route 53 side."""
    gcp: GcpEdge | None
    """The GCP load balancer, when a serving cluster is on GCP."""


def serves(cluster: Cluster) -> bool:
    """Whether a cluster takes inference traffic: it has accelerators, or it is an existing cluster."""
    return cluster.cloud is Cloud.EXISTING or any(pool.is_accelerated for pool in cluster.node_pools)


def origin_hostname(cluster: Cluster, domain: str) -> str:
    """The regional name a cluster's gateway answers on; the workloads layer points it at its load balancer."""
    return f"{cluster.name}.{domain}"


def zone_name(domain: str, hosted_zone: str | None) -> str:
    """The zone that holds the name: as set, or the name's parent (the name itself cannot be a zone apex)."""
    if hosted_zone:
        return hosted_zone
    parent = domain.split(".", 1)[1]
    if "." not in parent:
        raise ValueError(
            f"edge.domain {domain!r}: set edge.hostedZone; its parent {parent!r} is a top-level domain"
        )
    return parent


def _tier(role: Role) -> Tier:
    return Tier.CORE if role is Role.CORE else Tier.BURST


def neg_self_links(project: str, zone_list: Sequence[str], name: str) -> list[str]:
    """The partial URLs of a GKE standalone NEG in each zone of its cluster: GKE names the NEG as the
    Service's annotation says, in every zone with nodes of the cluster (GKE docs, "Standalone zonal
    NEGs"); a backend takes such a URL as its group. Whether each NEG exists is only known at apply
    time, once the NEG controller has acted on the Service."""
    return [f"projects/{project}/zones/{zone}/networkEndpointGroups/{name}" for zone in zone_list]


def build_edge(
    settings: Settings,
    providers: Providers,
    parts: dict[str, ClusterParts],
    *,
    neg_names: Mapping[str, str] | None = None,
    neg_owners: Sequence[pulumi.Resource] = (),
    peer_neg_names: Mapping[str, str] | None = None,
) -> EdgeOutputs:
    """Register the edge of a stack that has ``edge`` settings.

    ``neg_names``: GKE cluster -> the name of its gateway's standalone NEG (one per zone), the GCP
    load balancer's backends; ``neg_owners``: the Services whose annotation makes GKE create them
    (the peer entrances' too); ``peer_neg_names``: GKE cluster -> its peer entrance's NEG name, for the
    clusters other gateways fall back to (``Settings.peer_clusters``), whose callers' NAT addresses
    are the only clients the peer entrance admits.
    """
    edge = settings.edge
    if edge is None:
        raise ValueError("build_edge: the stack has no edge settings")
    serving = [part.cluster for part in parts.values() if serves(part.cluster)]
    gcp_clusters = [c for c in serving if c.cloud is Cloud.GCP]
    aws_clusters = sorted(
        (c for c in serving if c.cloud is Cloud.AWS),
        key=lambda c: (c.role is not Role.CORE, serving.index(c)),
    )

    origins: list[Origin] = [
        Origin(
            key=cluster.name,
            tier=_tier(cluster.role),
            hostname=origin_hostname(cluster, edge.domain),
            region=cluster.region if cluster.cloud is Cloud.AWS else None,
            clusters=[cluster.name],
        )
        for cluster in serving
        if cluster.cloud is not Cloud.GCP
    ]

    # The zone first: what waits for it to resolve (the certificates of both clouds) waits for its delegation.
    home = aws_clusters[0].region if aws_clusters and aws_clusters[0].region else FALLBACK_ROUTE53_REGION
    zone_apex = zone_name(edge.domain, edge.hosted_zone)
    zone = PublicZone(
        "edge",
        PublicZoneArgs(
            name=zone_apex,
            zone_id=edge.hosted_zone_id,
            parent_zone_id=edge.parent_zone_id,
            protect=settings.is_prod,
            comment=f"Public name {edge.domain} of the inference platform",
            tags=settings.tags,
        ),
        opts=pulumi.ResourceOptions(providers=[providers.for_aws(home)]),
    )

    gcp_edge: GcpEdge | None = None
    if gcp_clusters:
        roles = {c.role for c in gcp_clusters}
        if len(roles) > 1:
            raise ValueError(
                "edge: GCP clusters of both roles share one GCP load balancer, which cannot keep burst capacity "
                f"idle behind core ({', '.join(c.name for c in gcp_clusters)}); allowed: GCP clusters of one role"
            )
        first = gcp_clusters[0]
        assert first.region is not None
        peers = dict(peer_neg_names or {})
        peer_sources = [
            address
            for caller in settings.peer_callers()
            if isinstance(network := parts[caller.name].network, AwsNetwork)
            for address in network.nat_addresses
        ]
        gcp_edge = GcpEdge(
            "edge",
            GcpEdgeArgs(
                domain=edge.domain,
                backend_groups=[
                    link
                    for c in gcp_clusters
                    if c.name in (neg_names or {})
                    for link in neg_self_links(settings.gcp_project, zones(c), (neg_names or {})[c.name])
                ],
                health_check_path=edge.health_check_path,
                health_check_interval_seconds=edge.health_check_interval_seconds,
                peer_host=peer_host(edge.domain) if peers else None,
                peer_groups=[
                    link
                    for c in gcp_clusters
                    if c.name in peers
                    for link in neg_self_links(settings.gcp_project, zones(c), peers[c.name])
                ],
                peer_sources=peer_sources,
                dns_ready=zone.dns_ready,
                write_authorization=lambda name, kind, value: zone.record(
                    "gcp-cert-authorization", name=name, type=kind, value=value
                ),
            ),
            opts=pulumi.ResourceOptions(
                providers=[providers.for_gcp(first.region)], depends_on=list(neg_owners)
            ),
        )
        if peers:
            # A plain record, not an origin: the name has no failover of its own, and the load balancer
            # behind it already routes to the healthy GCP clusters.
            zone.record(PEER_LABEL, name=peer_host(edge.domain), type="A", value=gcp_edge.address)
        origins.append(
            Origin(
                key=GCP_ORIGIN_KEY,
                tier=_tier(first.role),
                address=gcp_edge.address,
                region=catalog().nearest_aws_region[first.region],
                clusters=[c.name for c in gcp_clusters],
            )
        )

    accelerator: GlobalAcceleratorArgs | None = None
    if edge.aws_entry == "global-accelerator":
        core_regions = sorted({c.region for c in aws_clusters if c.role is Role.CORE and c.region})
        accelerator = GlobalAcceleratorArgs(
            provider=providers.for_aws(GLOBAL_ACCELERATOR_API_REGION),
            regions=core_regions,
        )

    certificate_regions = sorted({c.region for c in aws_clusters if c.region})
    aws_edge = AwsEdge(
        "edge",
        AwsEdgeArgs(
            domain=edge.domain,
            zone_name=zone_apex,
            zone_id=zone.zone_id,
            dns_ready=zone.dns_ready,
            routing=Routing(edge.routing),
            origins=origins,
            health_check_path=edge.health_check_path,
            health_check_interval_seconds=edge.health_check_interval_seconds,
            certificate_providers={region: providers.for_aws(region) for region in certificate_regions},
            accelerator=accelerator,
            tags=settings.tags,
        ),
        opts=pulumi.ResourceOptions(providers=[providers.for_aws(home)]),
    )
    return EdgeOutputs(
        public_name=aws_edge.public_name,
        origin_hostnames={o.clusters[0]: o.hostname for o in origins if o.hostname is not None},
        health_check_ids=aws_edge.cluster_health_check_ids,
        certificate_arns=aws_edge.certificate_arns,
        zone_id=zone.zone_id,
        name_servers=zone.name_servers,
        zone=zone,
        aws=aws_edge,
        gcp=gcp_edge,
    )
