"""A VPC peering connection between two AWS core networks, and the routes that use it.

Core clusters in two regions write to one Aurora global database, whose writer lives in one VPC;
the cluster in the other region reaches it only over a network path. Inter-region VPC peering is
that path: no hourly charge (data transfer only), no overlap allowed between the two CIDRs (the
settings refuse overlapping networks), and security groups cannot name the peer's groups across
regions, so the stores admit the peer's private subnets by CIDR (Amazon VPC peering guide,
"VPC peering limitations": no overlapping CIDRs; "you cannot reference the security group of a
peer VPC ... in a different Region").

An inter-region request is accepted by the peer region's side: the requester's `auto_accept`
only works within one account and region (Terraform aws_vpc_peering_connection, `auto_accept`),
so the peer side is an `aws.ec2.VpcPeeringConnectionAccepter` with its region's provider, and its
routes wait for the acceptance.

RDS endpoints are public DNS names that resolve to private addresses, so no DNS option of the
peering is needed for the writer endpoint to resolve from the peer VPC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.naming import AUTONAMED_MAX, resource_name


@dataclass(frozen=True)
class PeerSide:
    """One end of a peering: a cluster's VPC, its region's provider and its private route tables."""

    name: str
    region: str
    provider: aws.Provider
    vpc_id: pulumi.Input[str]
    cidr: str
    route_table_ids: Sequence[pulumi.Input[str]]


class VpcPeering(pulumi.ComponentResource):
    """Peers two VPCs of this account and routes each one's private subnets to the other's CIDR."""

    connection_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        requester: PeerSide,
        accepter: PeerSide,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("inferstack:aws:VpcPeering", name, None, opts)
        if requester.cidr == accepter.cidr:
            raise ValueError(
                f"peering {name}: both VPCs use {requester.cidr}; peered networks must not overlap"
            )
        same_region = requester.region == accepter.region

        def child_name(*role: str) -> str:
            return resource_name(name, *role, max_len=AUTONAMED_MAX)

        connection = aws.ec2.VpcPeeringConnection(
            name,
            vpc_id=requester.vpc_id,
            peer_vpc_id=accepter.vpc_id,
            peer_region=None if same_region else accepter.region,
            auto_accept=True if same_region else None,
            tags={**tags, "Name": name},
            opts=pulumi.ResourceOptions(parent=self, provider=requester.provider),
        )
        accepted: list[pulumi.Resource] = []
        if not same_region:
            accepted.append(
                aws.ec2.VpcPeeringConnectionAccepter(
                    child_name("accept"),
                    vpc_peering_connection_id=connection.id,
                    auto_accept=True,
                    tags={**tags, "Name": name},
                    opts=pulumi.ResourceOptions(parent=self, provider=accepter.provider),
                )
            )
        for side, other in ((requester, accepter), (accepter, requester)):
            for index, table in enumerate(side.route_table_ids):
                aws.ec2.Route(
                    child_name(side.name, str(index)),
                    route_table_id=table,
                    destination_cidr_block=other.cidr,
                    vpc_peering_connection_id=connection.id,
                    opts=pulumi.ResourceOptions(parent=self, provider=side.provider, depends_on=accepted),
                )
        self.connection_id = connection.id
        self.register_outputs({"connectionId": connection.id})
