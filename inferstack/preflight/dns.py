"""The hosted zone's delegation: the parent's NS records must name the zone's own name servers.

An undelegated zone applies cleanly and serves nothing: certificates wait forever for DNS validation
and the public name does not resolve. Route 53 answers for the zone (GetHostedZone: its delegation
set) and for a parent zone in the same account (its NS record set for the sub-zone); a parent
elsewhere (a registrar) is asked through public DNS when dnspython is installed
(Route 53 Developer Guide, "Routing traffic for subdomains":
https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-routing-traffic-for-subdomains.html).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from inferstack.preflight.clients import Clouds
from inferstack.preflight.rows import Result, Row
from infra.settings import Settings

CHECK = "dns"
GLOBAL = "us-east-1"  # Route 53 is global; its API is served from us-east-1


def _names(servers: list[str]) -> list[str]:
    return sorted(s.rstrip(".").lower() for s in servers)


def _zone(route53: Any, zone_id: str) -> dict[str, Any] | None:
    try:
        return route53.get_hosted_zone(Id=zone_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchHostedZone":
            return None
        raise


def _parent_ns(route53: Any, parent_id: str, zone: str) -> list[str]:
    page = route53.list_resource_record_sets(
        HostedZoneId=parent_id, StartRecordName=zone, StartRecordType="NS", MaxItems="1"
    )
    for record in page.get("ResourceRecordSets", []):
        if record["Name"].rstrip(".") == zone and record["Type"] == "NS":
            return _names([r["Value"] for r in record.get("ResourceRecords", [])])
    return []


def _existing_zone(route53: Any, zone: str) -> dict[str, Any] | None:
    page = route53.list_hosted_zones_by_name(DNSName=zone, MaxItems="1")
    for found in page.get("HostedZones", []):
        if found["Name"].rstrip(".") == zone and not found.get("Config", {}).get("PrivateZone"):
            return route53.get_hosted_zone(Id=found["Id"])
    return None


def delegation(settings: Settings, clouds: Clouds) -> list[Row]:
    edge = settings.edge
    if edge is None:
        return []
    route53 = clouds.aws("route53", GLOBAL)
    zone = edge.zone_name
    if edge.hosted_zone_id is not None:
        found = _zone(route53, edge.hosted_zone_id)
        if found is None:
            return [
                Row(
                    CHECK,
                    f"{zone} {edge.hosted_zone_id}",
                    Result.BLOCK,
                    "no such hosted zone in this account. Fix: "
                    "edge.hostedZoneId of a zone the deployer's account holds (aws route53 list-hosted-zones)",
                )
            ]
    elif edge.parent_zone_id is not None:
        parent = _zone(route53, edge.parent_zone_id)
        if parent is None:
            return [
                Row(
                    CHECK,
                    f"{edge.parent_zone_name} {edge.parent_zone_id}",
                    Result.BLOCK,
                    "no such parent zone in this "
                    "account: the stack cannot write the delegation. Fix: edge.parentZoneId of the parent's zone",
                )
            ]
        found = _existing_zone(route53, zone)
        if found is None:
            return [
                Row(CHECK, zone, Result.OK, f"created by the stack and delegated in {edge.parent_zone_name}")
            ]
    else:
        found = _existing_zone(route53, zone)
        if found is None:
            return [
                Row(
                    CHECK,
                    zone,
                    Result.WARN,
                    f"created by the stack; its parent {edge.parent_zone_name} is not in "
                    "Route 53 here: after the first apply, delegate it at the registrar to the stack output "
                    "nameServers (docs/first-apply-dns.md)",
                )
            ]
    servers = _names(found["DelegationSet"]["NameServers"])
    if edge.parent_zone_id is not None:
        delegated = _parent_ns(route53, edge.parent_zone_id, zone)
        where = f"parent zone {edge.parent_zone_id}"
    else:
        answer = clouds.name_servers(zone)
        if answer is None:
            return [
                Row(
                    CHECK,
                    zone,
                    Result.WARN,
                    "not checked: public DNS could not be asked (pip install dnspython). "
                    f"Check: dig NS {zone} names {', '.join(servers)}",
                )
            ]
        delegated, where = answer, "public DNS"
    if delegated == servers:
        return [Row(CHECK, zone, Result.OK, f"delegated to {', '.join(servers)}")]
    # A parent in this account is written by the apply itself: a stale record there is corrected.
    result = Result.WARN if edge.parent_zone_id is not None else Result.BLOCK
    return [
        Row(
            CHECK,
            zone,
            result,
            f"{where} answers NS {', '.join(delegated) or 'none'}, the zone's name servers "
            f"are {', '.join(servers)}. Fix: set the NS records of {zone} in its parent to the zone's name servers",
        )
    ]
