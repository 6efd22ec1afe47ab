"""The VPC that a private GKE cluster lives in.

Creates a custom-mode VPC with global routing; one regional subnetwork for the
nodes, with secondary ranges for pods and services (VPC-native GKE) and Private
Google Access so that nodes without external IPs still reach Google APIs and
Artifact Registry; subnet flow logs; a Cloud Router with Cloud NAT so that
private nodes can pull from the public internet (Hugging Face, the DeepSeek
API); private service access (a reserved peering range plus the
servicenetworking connection) for Cloud SQL and Memorystore private IPs; and a
firewall rule letting Google's load-balancer health checkers reach the serving
ports.

The health-check rule opens tcp 8000-8080 by default: vLLM's OpenAI server
listens on 8000 and the gateway on 8080, and container-native (NEG) load
balancers probe pod IPs on the serving port. GKE adds its own rules for
node-port backends; nothing else is opened.

The Google provider is not created here: pass it as
`opts=pulumi.ResourceOptions(providers=[gcp_provider])`. Networks, subnetworks,
routers and firewalls carry no labels in Compute Engine; `labels` go on the
reserved peering range, the one child here that takes them.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.naming import AUTONAMED_MAX, ipv4_network, resource_name

HEALTH_CHECK_SOURCE_RANGES: tuple[str, ...] = ("35.191.0.0/16", "130.211.0.0/22")
"""Where Google Cloud load-balancer health checks come from (Cloud Load Balancing docs)."""

_REGION = re.compile(r"^[a-z]+(-[a-z]+)*\d+$")
_PORTS = re.compile(r"^\d{1,5}(-\d{1,5})?$")


@dataclass(frozen=True, kw_only=True)
class GcpNetworkArgs:
    """What the network needs to know; validated before any resource exists."""

    project: str
    """GCP project id that owns the network."""
    region: str
    """Region of the subnetwork, router and NAT, e.g. "us-central1"."""
    cidr: str
    """Primary range of the subnetwork (node IPs), e.g. "10.20.0.0/20"."""
    pods_cidr: str
    """Secondary range for pod IPs, e.g. "10.21.0.0/16"."""
    services_cidr: str
    """Secondary range for Service cluster IPs, e.g. "10.22.0.0/20"."""
    private_service_access_prefix: int = 16
    """Prefix length of the range reserved for Cloud SQL / Memorystore private IPs (8..24)."""
    health_check_ports: Sequence[str] = ("8000-8080",)
    """TCP ports or port ranges that load-balancer health checks may reach."""
    flow_log_sampling: float = 0.5
    """Fraction of subnet flows logged, 0 < x <= 1."""
    labels: Mapping[str, str]
    """Labels for the children that take labels (the reserved peering range)."""

    def __post_init__(self) -> None:
        where = "GcpNetworkArgs"
        if not self.project:
            raise ValueError(f"{where}.project: must not be empty")
        if not _REGION.match(self.region):
            raise ValueError(f"{where}.region={self.region!r}: expected a region such as 'us-central1'")
        ranges = {
            "cidr": ipv4_network("GcpNetworkArgs.cidr", self.cidr),
            "pods_cidr": ipv4_network("GcpNetworkArgs.pods_cidr", self.pods_cidr),
            "services_cidr": ipv4_network("GcpNetworkArgs.services_cidr", self.services_cidr),
        }
        fields = list(ranges)
        for i, first in enumerate(fields):
            for second in fields[i + 1 :]:
                if ranges[first].overlaps(ranges[second]):
                    raise ValueError(
                        f"{where}.{second}={ranges[second]} overlaps {first}={ranges[first]}; "
                        "the three ranges must be disjoint"
                    )
        if not 8 <= self.private_service_access_prefix <= 24:
            raise ValueError(
                f"{where}.private_service_access_prefix={self.private_service_access_prefix}: "
                "allowed 8..24 (servicenetworking needs at least a /24)"
            )
        ports = list(self.health_check_ports)
        if not ports or not all(_PORTS.match(p) for p in ports):
            raise ValueError(
                f"{where}.health_check_ports={ports!r}: expected ports like '8000' or '8000-8080'"
            )
        if not 0 < self.flow_log_sampling <= 1:
            raise ValueError(f"{where}.flow_log_sampling={self.flow_log_sampling}: allowed 0 < x <= 1")


class GcpNetwork(pulumi.ComponentResource):
    """A VPC for a private GKE cluster: subnet with pod/service ranges, Cloud NAT, private service access."""

    network_id: pulumi.Output[str]
    """ID of the VPC network (projects/<p>/global/networks/<n>)."""
    network_self_link: pulumi.Output[str]
    """Self link of the VPC network."""
    subnet_id: pulumi.Output[str]
    """ID of the regional subnetwork."""
    subnet_self_link: pulumi.Output[str]
    """Self link of the regional subnetwork."""
    pods_range_name: str
    """Name of the subnetwork's secondary range for pods (GKE ip_allocation_policy)."""
    services_range_name: str
    """Name of the subnetwork's secondary range for Services (GKE ip_allocation_policy)."""
    private_service_connection: gcp.servicenetworking.Connection
    """The private service access peering; Cloud SQL / Memorystore with private IP must depend on it."""

    def __init__(self, name: str, args: GcpNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:gcp:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def child_name(*role: str) -> str:
            return resource_name(name, *role, max_len=AUTONAMED_MAX)

        network = gcp.compute.Network(
            child_name("vpc"),
            project=args.project,
            auto_create_subnetworks=False,
            routing_mode="GLOBAL",
            description="inferstack: private GKE cluster network",
            opts=child,
        )

        self.pods_range_name = resource_name(name, "pods")
        self.services_range_name = resource_name(name, "services")
        subnet = gcp.compute.Subnetwork(
            child_name("nodes"),
            project=args.project,
            region=args.region,
            network=network.id,
            ip_cidr_range=args.cidr,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=self.pods_range_name, ip_cidr_range=args.pods_cidr
                ),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=self.services_range_name, ip_cidr_range=args.services_cidr
                ),
            ],
            private_ip_google_access=True,
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_5_SEC",
                flow_sampling=args.flow_log_sampling,
                metadata="INCLUDE_ALL_METADATA",
            ),
            opts=child,
        )

        router = gcp.compute.Router(
            child_name("router"),
            project=args.project,
            region=args.region,
            network=network.id,
            opts=child,
        )
        gcp.compute.RouterNat(
            child_name("nat"),
            project=args.project,
            region=args.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )

        peering_range = gcp.compute.GlobalAddress(
            child_name("private-services"),
            project=args.project,
            network=network.id,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=args.private_service_access_prefix,
            description="Reserved for Cloud SQL / Memorystore private IPs",
            labels=dict(args.labels),
            opts=child,
        )
        connection = gcp.servicenetworking.Connection(
            child_name("private-services"),
            network=network.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[peering_range.name],
            # Producer resources linger after Cloud SQL / Memorystore are deleted and make a
            # plain delete fail; removing the peering lets the network itself be deleted.
            deletion_policy="REMOVE_PEERING",
            opts=child,
        )

        gcp.compute.Firewall(
            child_name("allow-health-checks"),
            project=args.project,
            network=network.id,
            direction="INGRESS",
            priority=1000,
            source_ranges=list(HEALTH_CHECK_SOURCE_RANGES),
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=list(args.health_check_ports))],
            description="Google load-balancer health checks to the serving ports only",
            opts=child,
        )

        self.network_id = network.id
        self.network_self_link = network.self_link
        self.subnet_id = subnet.id
        self.subnet_self_link = subnet.self_link
        self.private_service_connection = connection
        self.register_outputs(
            {
                "networkId": self.network_id,
                "networkSelfLink": self.network_self_link,
                "subnetId": self.subnet_id,
                "subnetSelfLink": self.subnet_self_link,
                "podsRangeName": self.pods_range_name,
                "servicesRangeName": self.services_range_name,
                "privateServiceConnectionId": connection.id,
            }
        )
