"""The Route 53 hosted zone of the public name, and its delegation: a zone resolves only once its parent says so.

Creates the public hosted zone (or takes an existing one by id) and, when the stack names the
parent zone's id, the NS record set that delegates the created zone from its parent.

Why the delegation belongs here: a new hosted zone gets four name servers of its own, but no
resolver asks them anything until the parent zone names them in an NS record set for the
sub-zone ("Routing traffic for subdomains", Amazon Route 53 Developer Guide). Until then every
record in the zone, ACM's validation CNAME and Certificate Manager's DNS-authorization CNAME
included, is invisible: a certificate validation waits on it and times out. So the delegation
is written in the same apply as the zone, and whatever must resolve waits for it
(``dns_ready``).

A zone whose parent is not a Route 53 zone this stack may write into (a registered domain, whose
parent is a top-level domain, or a parent owned by another stack or account) is delegated by
hand: its name servers are a stack output, and the program warns on every preview until the
stack names the parent's id. docs/first-apply-dns.md says what to do at the registrar or in the
parent stack.

Route 53 is global; the provider comes through ``opts.providers``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.naming import resource_name

DELEGATION_TTL = 172800
"""TTL of the delegating NS record set: two days, the TTL Route 53 gives the NS record of every public
hosted zone it creates ("NS and SOA records that Amazon Route 53 creates for a public hosted zone")."""


@dataclass(frozen=True, kw_only=True)
class PublicZoneArgs:
    """Which zone holds the public name and who delegates it; validated before any resource exists."""

    name: str
    """The zone's name, e.g. "dev.inference.example.com"."""
    zone_id: str | None = None
    """Take this existing, already delegated zone instead of creating one."""
    parent_zone_id: str | None = None
    """The Route 53 zone to write the created zone's NS record set into; None: delegated by hand."""
    protect: bool = False
    """Protect a created zone from deletion (prod): its name servers are what the parent delegates to."""
    comment: str = ""
    """Description of a created zone."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of a created zone (Name is added)."""

    def __post_init__(self) -> None:
        where = "PublicZoneArgs"
        if "." not in self.name.strip("."):
            raise ValueError(f"{where}.name={self.name!r}: a zone below a top-level domain, e.g. example.com")
        if self.zone_id is not None and self.parent_zone_id is not None:
            raise ValueError(
                f"{where}: parent_zone_id with zone_id; a taken zone is delegated already, only a created one "
                "is delegated here"
            )


class PublicZone(pulumi.ComponentResource):
    """The public hosted zone and, when its parent is named, the NS record set that makes it resolve."""

    zone_id: pulumi.Output[str]
    """ID of the hosted zone."""
    name_servers: pulumi.Output[Sequence[str]] | None
    """Name servers of a created zone (None when the zone was taken): what its parent must delegate to."""
    delegation: aws.route53.Record | None
    """The NS record set in the parent zone, when this stack writes it."""
    delegated: bool
    """Whether the zone resolves once this stack is applied: taken (delegated already) or delegated here."""
    dns_ready: list[pulumi.Resource]
    """What anything that must resolve in the zone (certificate validations) waits for."""

    def __init__(self, name: str, args: PublicZoneArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:aws:PublicZone", name, None, opts)
        zone_name = args.name.rstrip(".")
        self.delegation = None
        if args.zone_id is not None:
            self.zone_id = pulumi.Output.from_input(args.zone_id)
            self.name_servers = None
            self.delegated = True
        else:
            zone = aws.route53.Zone(
                resource_name(name, "zone"),
                name=zone_name,
                comment=args.comment or f"Public zone {zone_name}",
                tags={**args.tags, "Name": zone_name},
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            self.zone_id = zone.zone_id
            self.name_servers = zone.name_servers
            if args.parent_zone_id is not None:
                self.delegation = aws.route53.Record(
                    resource_name(name, "zone", "delegation"),
                    zone_id=args.parent_zone_id,
                    name=zone_name,
                    type="NS",
                    ttl=DELEGATION_TTL,
                    records=zone.name_servers,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            self.delegated = self.delegation is not None
            if not self.delegated:
                pulumi.log.warn(
                    f"zone {zone_name} is not delegated by this stack: point its parent (registrar or parent "
                    "zone) at the stack output nameServers, or set edge.parentZoneId; until then nothing in it "
                    "resolves and certificates do not validate (docs/first-apply-dns.md)",
                    resource=self,
                )
        self.dns_ready = [self.delegation] if self.delegation is not None else []
        self._name = name
        self.register_outputs({"zoneId": self.zone_id, "nameServers": self.name_servers})

    def record(
        self,
        role: str,
        *,
        name: pulumi.Input[str],
        type: pulumi.Input[str],
        value: pulumi.Input[str],
        ttl: int = 300,
    ) -> aws.route53.Record:
        """A simple record in the zone, for a component that cannot write into Route 53 itself."""
        return aws.route53.Record(
            resource_name(self._name, role),
            zone_id=self.zone_id,
            name=name,
            type=type,
            ttl=ttl,
            records=[value],
            opts=pulumi.ResourceOptions(parent=self),
        )
