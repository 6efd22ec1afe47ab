"""Ingress by address block: the one shape every security group of the program has.

Every group here admits one TCP port from a list of CIDR blocks (the data stores from the core
clusters' private subnets, the EKS API from the deployers, the VPC endpoints from the VPC), one
``aws.vpc.SecurityGroupIngressRule`` per block. Standalone rule resources, not inline ``ingress``
blocks: the provider documents that inline rules and rule resources on one group fight over it,
and a rule resource can be added or removed without touching the group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class Ingress:
    """One block admitted: the rule's logical name, the CIDR and the description people read."""

    name: str
    cidr: str
    description: str


def admit(
    security_group_id: pulumi.Input[str],
    *,
    port: int,
    sources: Sequence[Ingress],
    tags: Callable[[str], dict[str, str]],
    opts: pulumi.ResourceOptions,
) -> list[aws.vpc.SecurityGroupIngressRule]:
    """A TCP ``port`` rule per source on the group; no egress rule (security groups are stateful)."""
    return [
        aws.vpc.SecurityGroupIngressRule(
            source.name,
            security_group_id=security_group_id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4=source.cidr,
            description=source.description,
            tags=tags(source.name),
            opts=opts,
        )
        for source in sources
    ]
