"""The public name of the platform in Route 53: one name, every healthy serving cluster behind it.

Writes into the hosted zone that ``infra.aws.zone.PublicZone`` creates or takes: one Route 53
HTTPS health check per origin, probing the gateway's readiness path from several checker
regions; the records on the public name for the chosen routing; a DNS-validated ACM
certificate in every AWS region whose load balancers terminate TLS for the name; and,
optionally, a Global Accelerator in front of the AWS core regions.

An *origin* is where the public name can send a client: a serving cluster's gateway, reached on
the regional name it answers on (``<cluster>.<domain>``, which the workloads layer points at the
cluster's ingress load balancer), or a static address such as the GCP global load balancer's,
which this component publishes as ``<key>.<domain>``.

Readiness contract. Each health check requests ``health_check_path`` (the gateway's own
``/health/readiness``) over HTTPS on 443, and must never be redirected: Route 53 counts every 2xx
and 3xx as healthy. It is the gateway's readiness, not the model's: the gateway falls back to the
burst clusters and DeepSeek's public API when its own model is down or still loading, so a cluster
whose gateway answers still serves, and the name moves clients away only when the gateway itself
fails (infra/k8s/gateway.py). The checkers come from the Route 53 health-checker address ranges
(``ROUTE53_HEALTHCHECKS`` in AWS ip-ranges.json): origin load balancers must admit them on 443.

Routing on the public name:

- ``failover``: PRIMARY is the core side, SECONDARY the burst side. A side with one origin is a
  CNAME to it carrying its health check. A side with several is an alias to ``core.<domain>`` /
  ``burst.<domain>`` (evaluate target health on), under which one latency record per origin (or
  equal-weight records when an origin has no AWS region) carries that origin's check, so the
  side is healthy while any of its origins is. With a Global Accelerator, PRIMARY is a CNAME to
  the accelerator carrying a calculated check that is healthy while any AWS core origin is.
- ``latency``: one latency record per origin on the public name, each with its check.
- ``weighted``: one weighted record per origin, each with its check; core origins share
  ``core_weight`` (90) and burst origins ``burst_weight`` (10), so burst serves a steady tenth and
  all of it once no core origin is healthy. (Route 53 also sends traffic to weight-0 records when
  every non-zero record is unhealthy, but that is failover by another name: use ``failover``.)

Every routing record is a CNAME (or an alias of type CNAME): Route 53 requires one record type
per name, and the origins are names. That is also why the public name cannot be the zone apex.

Route 53 is a global service; the component's own provider (``opts.providers``) may be any AWS
region. Certificates and the accelerator take explicit providers in the args, because ACM
certificates are regional and the Global Accelerator API lives in us-west-2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import pulumi
import pulumi_aws as aws

from infra.naming import resource_name

ROUTE53_CHECKER_REGIONS = frozenset(
    {
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
    }
)
"""Regions Route 53 runs health checkers in (Route 53 API reference, HealthCheckConfig.Regions)."""

DEFAULT_CHECKER_REGIONS: tuple[str, ...] = ("us-east-1", "us-west-2", "eu-west-1")
"""Three vantage points on two continents: the fewest Route 53 accepts when regions are listed."""

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_RESERVED_LABELS = frozenset({"core", "burst"})


class Tier(StrEnum):
    """Which side of the edge an origin is on."""

    CORE = "core"
    BURST = "burst"


class Routing(StrEnum):
    """How the public name spreads clients over healthy origins."""

    FAILOVER = "failover"
    LATENCY = "latency"
    WEIGHTED = "weighted"


@dataclass(frozen=True, kw_only=True)
class Origin:
    """One place the public name can send clients to; it gets its own Route 53 health check."""

    key: str
    """DNS label that names this origin in logical names and set identifiers: the cluster name, or e.g. "gcp"."""
    tier: Tier
    """CORE: primary capacity; BURST: failover (failover routing) or overflow (weighted routing) capacity."""
    hostname: str | None = None
    """The regional name the cluster's gateway answers on; the workloads layer points it at its load balancer."""
    address: pulumi.Input[str] | None = None
    """A static IPv4 address instead of a hostname (the GCP global load balancer's); published as <key>.<domain>
    and checked with the public name as Host and SNI, exactly as clients arrive."""
    region: str | None = None
    """AWS region Route 53 measures latency against (latency sets); None when the origin has none (on-prem)."""
    clusters: Sequence[str]
    """Clusters whose traffic arrives through this origin, for the per-cluster health check map."""

    def __post_init__(self) -> None:
        where = f"Origin({self.key!r})"
        if not _LABEL.match(self.key) or self.key in _RESERVED_LABELS:
            raise ValueError(
                f"{where}.key: must be a DNS label other than {', '.join(sorted(_RESERVED_LABELS))} (used for record sets)"
            )
        if (self.hostname is None) == (self.address is None):
            raise ValueError(f"{where}: set exactly one of hostname and address")
        if self.region is not None and not _REGION.match(self.region):
            raise ValueError(f"{where}.region={self.region!r}: expected an AWS region such as 'us-east-1'")
        if not list(self.clusters):
            raise ValueError(f"{where}.clusters: must name at least one cluster")


@dataclass(frozen=True, kw_only=True)
class DnsRecord:
    """A plain record another component needs in the zone (e.g. a GCP certificate DNS authorization)."""

    key: str
    """Role of the record, for its logical name, e.g. "gcp-cert-authorization"."""
    name: pulumi.Input[str]
    """Fully qualified record name."""
    type: pulumi.Input[str]
    """Record type, e.g. "CNAME"."""
    value: pulumi.Input[str]
    """The one value of the record."""
    ttl: int = 300
    """Seconds resolvers may cache it."""


@dataclass(frozen=True, kw_only=True)
class GlobalAcceleratorArgs:
    """A Global Accelerator in front of the AWS core regions: two static anycast IPs, TCP passthrough.

    The accelerator does not terminate TLS: each region's load balancer does, with the regional
    certificate. For ALB/NLB endpoints Global Accelerator ignores the endpoint group's health
    check settings and uses the load balancer's own target health, so the readiness contract must
    also be the target group's health check (workloads layer); the settings here apply to EC2 and
    Elastic IP endpoints. With no healthy endpoint at all, Global Accelerator sends traffic to all
    of them (fail open): the Route 53 failover off the accelerator is what moves clients to burst.
    """

    provider: pulumi.ProviderResource
    """An AWS provider for us-west-2: the Global Accelerator API is served only there."""
    regions: Sequence[str]
    """AWS core regions, one endpoint group each."""
    endpoints: Mapping[str, Sequence[pulumi.Input[str]]] = field(default_factory=dict)
    """Region -> ARNs of the regional ALB/NLB of the cluster gateway. The workloads layer owns those load
    balancers; until it passes them here the endpoint groups are empty and the accelerator reaches nothing."""
    health_check_interval_seconds: int = 30
    """10 or 30 (what Global Accelerator allows)."""
    threshold_count: int = 3
    """Consecutive results that flip an endpoint's health, 1..10."""
    traffic_dial_percentage: Mapping[str, float] = field(default_factory=dict)
    """Region -> share of that region's traffic it keeps (default 100). Drain a region before maintenance by
    lowering its dial to 0: new connections go to the other regions, established streams finish."""
    client_affinity: str = "SOURCE_IP"
    """SOURCE_IP keeps a client on one region, so its prompts keep hitting the same prefix caches; or NONE."""

    def __post_init__(self) -> None:
        where = "GlobalAcceleratorArgs"
        regions = list(self.regions)
        if not regions or len(set(regions)) != len(regions):
            raise ValueError(f"{where}.regions={regions!r}: must be a non-empty list of distinct AWS regions")
        for region in regions:
            if not _REGION.match(region):
                raise ValueError(f"{where}.regions: {region!r} is not an AWS region such as 'us-east-1'")
        for label, mapping in (
            ("endpoints", self.endpoints),
            ("traffic_dial_percentage", self.traffic_dial_percentage),
        ):
            unknown = sorted(set(mapping) - set(regions))
            if unknown:
                raise ValueError(
                    f"{where}.{label}: regions {unknown} have no endpoint group; allowed: {regions}"
                )
        for region, dial in self.traffic_dial_percentage.items():
            if not 0 <= dial <= 100:
                raise ValueError(f"{where}.traffic_dial_percentage[{region!r}]={dial}: allowed 0..100")
        if self.health_check_interval_seconds not in (10, 30):
            raise ValueError(
                f"{where}.health_check_interval_seconds={self.health_check_interval_seconds}: allowed 10 or 30"
            )
        if not 1 <= self.threshold_count <= 10:
            raise ValueError(f"{where}.threshold_count={self.threshold_count}: allowed 1..10")
        if self.client_affinity not in ("SOURCE_IP", "NONE"):
            raise ValueError(f"{where}.client_affinity={self.client_affinity!r}: allowed SOURCE_IP or NONE")


@dataclass(frozen=True, kw_only=True)
class AwsEdgeArgs:
    """What the Route 53 side of the edge needs; validated before any resource exists."""

    domain: str
    """The public name clients use, e.g. "api.inference.example.com"."""
    zone_name: str
    """The hosted zone that holds it, e.g. "inference.example.com"; the domain must be below its apex."""
    zone_id: pulumi.Input[str]
    """ID of that zone (``infra.aws.zone.PublicZone``, which creates or takes it)."""
    dns_ready: Sequence[pulumi.Resource] = ()
    """What must exist before a record in the zone resolves (the delegation of a created zone): every
    certificate validation waits for it."""
    routing: Routing
    """failover, latency or weighted; see the module docstring."""
    origins: Sequence[Origin]
    """Every origin of the public name; at least one core origin."""
    health_check_path: str
    """Readiness path of the gateways ("/health/readiness"): 200 while the gateway takes traffic."""
    health_check_interval_seconds: int
    """Seconds between checks from each checker: 10 or 30 (what Route 53 allows)."""
    failure_threshold: int = 3
    """Consecutive results that flip an origin's health, 1..10: with 30 s, about 90 s to fail over."""
    checker_regions: Sequence[str] = DEFAULT_CHECKER_REGIONS
    """Route 53 checker regions (at least three) that probe every origin."""
    record_ttl: int = 60
    """Seconds resolvers may cache a routing answer: bounds how long clients stay on a failed origin."""
    core_weight: int = 90
    """Weighted routing: total weight the core origins share, 0..255."""
    burst_weight: int = 10
    """Weighted routing: total weight the burst origins share, 0..255."""
    certificate_providers: Mapping[str, pulumi.ProviderResource] = field(default_factory=dict)
    """AWS region -> provider of that region, for every region whose load balancers terminate TLS for the
    domain: one DNS-validated certificate each (ACM certificates are regional)."""
    accelerator: GlobalAcceleratorArgs | None = None
    """Put a Global Accelerator in front of the AWS core regions as the failover PRIMARY (failover routing only)."""
    extra_records: Sequence[DnsRecord] = ()
    """Further records other components need in the zone."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""

    def __post_init__(self) -> None:
        where = "AwsEdgeArgs"
        domain, zone = self.domain.rstrip("."), self.zone_name.rstrip(".")
        if not domain.endswith("." + zone):
            raise ValueError(
                f"{where}.domain={self.domain!r}: must be below the zone apex {self.zone_name!r} "
                "(the public name is a CNAME, which the apex cannot hold)"
            )
        origins = list(self.origins)
        keys = [o.key for o in origins]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{where}.origins: keys {keys} must be distinct")
        if not any(o.tier is Tier.CORE for o in origins):
            raise ValueError(f"{where}.origins: no core origin; allowed: at least one")
        if self.routing is Routing.LATENCY:
            missing = [o.key for o in origins if o.region is None]
            if missing:
                raise ValueError(
                    f"{where}.routing=latency: origins {missing} have no AWS region to measure latency against; "
                    "allowed: failover or weighted"
                )
        if not self.health_check_path.startswith("/"):
            raise ValueError(f"{where}.health_check_path={self.health_check_path!r}: must start with '/'")
        if self.health_check_interval_seconds not in (10, 30):
            raise ValueError(
                f"{where}.health_check_interval_seconds={self.health_check_interval_seconds}: allowed 10 or 30"
            )
        if not 1 <= self.failure_threshold <= 10:
            raise ValueError(f"{where}.failure_threshold={self.failure_threshold}: allowed 1..10")
        regions = list(self.checker_regions)
        if (
            len(set(regions)) != len(regions)
            or len(regions) < 3
            or not set(regions) <= ROUTE53_CHECKER_REGIONS
        ):
            raise ValueError(
                f"{where}.checker_regions={regions!r}: at least three distinct of {sorted(ROUTE53_CHECKER_REGIONS)}"
            )
        if not 0 <= self.record_ttl <= 86400:
            raise ValueError(f"{where}.record_ttl={self.record_ttl}: allowed 0..86400")
        for label, weight in (("core_weight", self.core_weight), ("burst_weight", self.burst_weight)):
            if not 0 <= weight <= 255:
                raise ValueError(f"{where}.{label}={weight}: allowed 0..255")
        for region in self.certificate_providers:
            if not _REGION.match(region):
                raise ValueError(f"{where}.certificate_providers: {region!r} is not an AWS region")
        if self.accelerator is not None:
            if self.routing is not Routing.FAILOVER:
                raise ValueError(
                    f"{where}.accelerator: the accelerator is the failover PRIMARY; allowed with routing failover, "
                    f"not {self.routing.value}"
                )
            core = [o for o in origins if o.tier is Tier.CORE]
            outside = [o.key for o in core if o.region not in self.accelerator.regions]
            if outside:
                raise ValueError(
                    f"{where}.accelerator: core origins {outside} are not in its regions "
                    f"{list(self.accelerator.regions)}; every core origin must be an AWS region of the accelerator"
                )


def _validation_record(
    options: Sequence[aws.acm.outputs.CertificateDomainValidationOption], domain: str
) -> tuple[str, str, str]:
    """(name, type, value) of the CNAME that ACM asks for to validate ``domain``."""
    for option in options:
        if option.domain_name == domain:
            name, kind, value = (
                option.resource_record_name,
                option.resource_record_type,
                option.resource_record_value,
            )
            if name and kind and value:
                return name, kind, value
    raise ValueError(f"ACM returned no DNS validation record for {domain!r}")


class AwsEdge(pulumi.ComponentResource):
    """The public name in Route 53: zone, per-origin health checks, routing records, certificates."""

    public_name: str
    """The name clients use."""
    zone_id: pulumi.Output[str]
    """ID of the hosted zone that holds the name."""
    health_check_ids: dict[str, pulumi.Output[str]]
    """Origin key -> ID of its Route 53 health check."""
    cluster_health_check_ids: dict[str, pulumi.Output[str]]
    """Cluster name -> ID of the health check of the origin it is reached through."""
    certificate_arns: dict[str, pulumi.Output[str]]
    """AWS region -> ARN of the issued certificate for the domain and *.<domain>, for that region's load balancers."""
    accelerator_dns_name: pulumi.Output[str] | None
    """DNS name of the Global Accelerator, when there is one."""
    accelerator_health_check_id: pulumi.Output[str] | None
    """The calculated check on the accelerator's PRIMARY record: healthy while any AWS core origin is."""

    def __init__(self, name: str, args: AwsEdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:aws:GlobalEdge", name, None, opts)
        self._args = args
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        domain = args.domain.rstrip(".")

        self.zone_id = pulumi.Output.from_input(args.zone_id)

        targets: dict[str, pulumi.Input[str]] = {}
        for origin in args.origins:
            if origin.address is None:
                assert origin.hostname is not None  # Origin holds exactly one of the two
                targets[origin.key] = origin.hostname
                continue
            published = f"{origin.key}.{domain}"
            aws.route53.Record(
                self._child(origin.key, "address"),
                zone_id=self.zone_id,
                name=published,
                type="A",
                ttl=300,
                records=[origin.address],
                opts=child,
            )
            targets[origin.key] = published
        self._targets = targets

        checks = {origin.key: self._health_check(origin) for origin in args.origins}
        self.health_check_ids = {key: check.id for key, check in checks.items()}
        self.cluster_health_check_ids = {
            cluster: checks[origin.key].id for origin in args.origins for cluster in origin.clusters
        }

        self.accelerator_dns_name = None
        self.accelerator_health_check_id = None
        primary_override: tuple[pulumi.Input[str], pulumi.Input[str]] | None = None
        if args.accelerator is not None:
            accelerator = self._accelerator(args.accelerator)
            self.accelerator_dns_name = accelerator.dns_name
            core_checks = [checks[o.key].id for o in args.origins if o.tier is Tier.CORE]
            core_check = aws.route53.HealthCheck(
                self._child("accelerator", "health"),
                type="CALCULATED",
                child_healthchecks=core_checks,
                child_health_threshold=1,
                tags={**args.tags, "Name": f"{domain} accelerator (any AWS core region ready)"},
                opts=child,
            )
            self.accelerator_health_check_id = core_check.id
            primary_override = (accelerator.dns_name, core_check.id)

        if args.routing is Routing.FAILOVER:
            self._failover(domain, checks, primary_override)
        elif args.routing is Routing.LATENCY:
            for origin in args.origins:
                self._member(
                    domain, origin, checks[origin.key], logical=self._child(origin.key), latency=True
                )
        else:
            self._weighted_public(domain, checks)

        for record in args.extra_records:
            aws.route53.Record(
                self._child(record.key),
                zone_id=self.zone_id,
                name=record.name,
                type=record.type,
                ttl=record.ttl,
                records=[record.value],
                opts=child,
            )

        self.certificate_arns = self._certificates(domain)
        self.public_name = domain
        self.register_outputs(
            {
                "publicName": self.public_name,
                "zoneId": self.zone_id,
                "healthCheckIds": self.health_check_ids,
                "clusterHealthCheckIds": self.cluster_health_check_ids,
                "certificateArns": self.certificate_arns,
                "acceleratorDnsName": self.accelerator_dns_name,
                "acceleratorHealthCheckId": self.accelerator_health_check_id,
            }
        )

    def _child(self, *role: str) -> str:
        return resource_name(self._name, *role)

    def _health_check(self, origin: Origin) -> aws.route53.HealthCheck:
        args = self._args
        domain = args.domain.rstrip(".")
        return aws.route53.HealthCheck(
            self._child(origin.key, "health"),
            type="HTTPS",
            fqdn=origin.hostname if origin.hostname is not None else domain,
            ip_address=origin.address,
            port=443,
            resource_path=args.health_check_path,
            request_interval=args.health_check_interval_seconds,
            failure_threshold=args.failure_threshold,
            regions=list(args.checker_regions),
            measure_latency=True,
            enable_sni=True,
            tags={
                **args.tags,
                "Name": f"{domain} {origin.key} ready",
                "origin": origin.key,
                "tier": origin.tier.value,
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _failover(
        self,
        domain: str,
        checks: Mapping[str, aws.route53.HealthCheck],
        primary_override: tuple[pulumi.Input[str], pulumi.Input[str]] | None,
    ) -> None:
        for tier, role in ((Tier.CORE, "PRIMARY"), (Tier.BURST, "SECONDARY")):
            members = [o for o in self._args.origins if o.tier is tier]
            if not members:
                continue
            policy = [aws.route53.RecordFailoverRoutingPolicyArgs(type=role)]
            logical = self._child(role.lower())
            if tier is Tier.CORE and primary_override is not None:
                target, check_id = primary_override
                self._cname(logical, domain, target, role.lower(), check_id, failover=policy)
            elif len(members) == 1:
                origin = members[0]
                self._cname(
                    logical,
                    domain,
                    self._targets[origin.key],
                    role.lower(),
                    checks[origin.key].id,
                    failover=policy,
                )
            else:
                side = f"{tier.value}.{domain}"
                latency = all(o.region is not None for o in members)
                for origin in members:
                    self._member(
                        side,
                        origin,
                        checks[origin.key],
                        logical=self._child(tier.value, origin.key),
                        latency=latency,
                    )
                aws.route53.Record(
                    logical,
                    zone_id=self.zone_id,
                    name=domain,
                    type="CNAME",
                    set_identifier=role.lower(),
                    failover_routing_policies=policy,
                    aliases=[
                        aws.route53.RecordAliasArgs(
                            name=side, zone_id=self.zone_id, evaluate_target_health=True
                        )
                    ],
                    opts=pulumi.ResourceOptions(parent=self),
                )

    def _weighted_public(self, domain: str, checks: Mapping[str, aws.route53.HealthCheck]) -> None:
        args = self._args
        for tier, total in ((Tier.CORE, args.core_weight), (Tier.BURST, args.burst_weight)):
            members = [o for o in args.origins if o.tier is tier]
            for origin in members:
                weight = max(1, total // len(members)) if total else 0
                self._cname(
                    self._child(origin.key),
                    domain,
                    self._targets[origin.key],
                    origin.key,
                    checks[origin.key].id,
                    weighted=[aws.route53.RecordWeightedRoutingPolicyArgs(weight=weight)],
                )

    def _member(
        self, name: str, origin: Origin, check: aws.route53.HealthCheck, *, logical: str, latency: bool
    ) -> None:
        """One origin in a set of records of one name: latency by its region, or an equal weight."""
        if latency:
            assert origin.region is not None
            self._cname(
                logical,
                name,
                self._targets[origin.key],
                origin.key,
                check.id,
                latency=[aws.route53.RecordLatencyRoutingPolicyArgs(region=origin.region)],
            )
        else:
            self._cname(
                logical,
                name,
                self._targets[origin.key],
                origin.key,
                check.id,
                weighted=[aws.route53.RecordWeightedRoutingPolicyArgs(weight=100)],
            )

    def _cname(
        self,
        logical: str,
        name: str,
        target: pulumi.Input[str],
        set_identifier: str,
        health_check_id: pulumi.Input[str],
        *,
        failover: Sequence[aws.route53.RecordFailoverRoutingPolicyArgs] | None = None,
        latency: Sequence[aws.route53.RecordLatencyRoutingPolicyArgs] | None = None,
        weighted: Sequence[aws.route53.RecordWeightedRoutingPolicyArgs] | None = None,
    ) -> aws.route53.Record:
        return aws.route53.Record(
            logical,
            zone_id=self.zone_id,
            name=name,
            type="CNAME",
            ttl=self._args.record_ttl,
            records=[target],
            set_identifier=set_identifier,
            health_check_id=health_check_id,
            failover_routing_policies=failover,
            latency_routing_policies=latency,
            weighted_routing_policies=weighted,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _accelerator(self, ga: GlobalAcceleratorArgs) -> aws.globalaccelerator.Accelerator:
        args = self._args
        opts = pulumi.ResourceOptions(parent=self, provider=ga.provider)
        accelerator = aws.globalaccelerator.Accelerator(
            self._child("accelerator"),
            ip_address_type="IPV4",
            enabled=True,
            tags={**args.tags, "Name": f"{args.domain} accelerator"},
            opts=opts,
        )
        listener = aws.globalaccelerator.Listener(
            self._child("accelerator", "https"),
            accelerator_arn=accelerator.arn,
            protocol="TCP",
            client_affinity=ga.client_affinity,
            port_ranges=[aws.globalaccelerator.ListenerPortRangeArgs(from_port=443, to_port=443)],
            opts=opts,
        )
        for region in ga.regions:
            aws.globalaccelerator.EndpointGroup(
                self._child("accelerator", region),
                listener_arn=listener.arn,
                endpoint_group_region=region,
                health_check_interval_seconds=ga.health_check_interval_seconds,
                threshold_count=ga.threshold_count,
                health_check_path=args.health_check_path,
                health_check_protocol="HTTPS",
                health_check_port=443,
                traffic_dial_percentage=ga.traffic_dial_percentage.get(region, 100),
                endpoint_configurations=[
                    aws.globalaccelerator.EndpointGroupEndpointConfigurationArgs(
                        endpoint_id=arn, client_ip_preservation_enabled=True
                    )
                    for arn in ga.endpoints.get(region, ())
                ],
                opts=opts,
            )
        return accelerator

    def _certificates(self, domain: str) -> dict[str, pulumi.Output[str]]:
        """One certificate per region for the domain and *.<domain> (every origin name and set name).

        The apex and its wildcard share one validation record, and ACM gives the same record for the
        same name in every region of an account, so one record, written once, validates them all.
        """
        args = self._args
        if not args.certificate_providers:
            return {}
        certificates = {
            region: aws.acm.Certificate(
                self._child("cert", region),
                domain_name=domain,
                subject_alternative_names=[f"*.{domain}"],
                validation_method="DNS",
                tags={**args.tags, "Name": f"{domain} ({region})"},
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
            for region, provider in sorted(args.certificate_providers.items())
        }
        first = next(iter(certificates.values()))
        record = first.domain_validation_options.apply(lambda options: _validation_record(options, domain))
        validation = aws.route53.Record(
            self._child("cert", "validation"),
            zone_id=self.zone_id,
            name=record[0],
            type=record[1],
            ttl=300,
            records=[record[2]],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return {
            # ACM looks the validation CNAME up in public DNS, so it finds it only once the zone is
            # delegated: it retries for 72 hours, then the certificate is VALIDATION_TIMED_OUT and must
            # be requested again (ACM API reference, CertificateDetail.Status). The validation resource
            # gives up sooner, after its create timeout: 75 minutes by default (aws_acm_certificate_validation
            # in terraform-provider-aws, which pulumi-aws bridges). Hence: wait for the delegation.
            region: aws.acm.CertificateValidation(
                self._child("cert", region),
                certificate_arn=certificate.arn,
                validation_record_fqdns=[validation.fqdn],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=args.certificate_providers[region],
                    depends_on=list(args.dns_ready),
                ),
            ).certificate_arn
            for region, certificate in certificates.items()
        }
