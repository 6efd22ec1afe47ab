"""The GCP side of the public name: one global external HTTPS load balancer for the GCP clusters.

Creates a reserved global IPv4 address; a Google-managed certificate for the public name,
issued through Certificate Manager with DNS authorization; a MODERN (or RESTRICTED) TLS 1.2+
SSL policy; a Cloud Armor policy; an HTTP health check on the gateways' readiness path; one
backend service for the gateways of every GCP cluster (EXTERNAL_MANAGED, HTTP to the pods, request
logging, the Cloud Armor policy); the URL map, target HTTPS proxy and forwarding rule on 443.
Nothing listens on 80: a client calling http:// would send its API key in clear text before a
redirect could answer, so plain HTTP is refused, as on the AWS side (infra/aws/ingress.py).

Why Certificate Manager and not ``compute.ManagedSslCertificate``: a compute managed
certificate is authorized through the load balancer and provisions (and renews) only while the
name resolves to this load balancer. Here the public name resolves to the AWS core while it is
healthy, so such a certificate would never become ACTIVE and failover to GCP would hand clients
a TLS error. DNS authorization proves control through a CNAME in the Route 53 zone
(written through ``write_authorization``; the certificate waits for it), independent of where the name
points.

Backends: the load balancer sends traffic to container-native network endpoint groups of the
clusters' gateway pods (GKE standalone zonal NEGs, GCE_VM_IP_PORT), which the gateway's Service
annotation makes GKE create under a fixed name in every zone of its cluster (infra/k8s/gateway.py);
the edge passes their URLs in as ``backend_groups``. That a NEG exists is only known at apply time. An INTERNET_FQDN_PORT NEG on the origin names was
rejected: it adds a second load balancer hop, and internet NEGs take no health checks, so the
load balancer could not skip a cluster whose model is not loaded. Until GKE has created them,
the backend service cannot take them and the load balancer answers 503, which keeps this origin
out of DNS. The gateways serve plain HTTP on their pod port: the backend service speaks HTTP to them
inside Google's network, which Google encrypts between its front ends and the backends
(https://cloud.google.com/load-balancing/docs/ssl-certificates/encryption-to-the-backends).

Cloud Armor: a per-client-IP rate-based ban on the inference API path (one prompt can hold a
GPU for seconds, so a flood is costly long before it is large), the preconfigured SQLi and XSS
rules in preview (prompts legitimately carry code and SQL; watch the preview logs before
enforcing), and an explicit default allow.

The Google provider is not created here: pass it as
``opts=pulumi.ResourceOptions(providers=[gcp_provider])``; every child is global.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.naming import AUTONAMED_MAX, resource_name

DEFAULT_RULE_PRIORITY = 2147483647
"""Cloud Armor's lowest priority: the default rule every security policy must have."""


@dataclass(frozen=True, kw_only=True)
class GcpEdgeArgs:
    """What the GCP load balancer needs; validated before any resource exists."""

    domain: str
    """The public name the load balancer serves, e.g. "api.inference.example.com"."""
    health_check_path: str
    """Readiness path of the gateways ("/health/readiness"): 200 while the gateway takes traffic."""
    health_check_interval_seconds: int
    """Seconds between load-balancer health checks of each endpoint (the edge's interval)."""
    unhealthy_threshold: int = 3
    """Consecutive failed checks that take an endpoint out."""
    backend_groups: Sequence[pulumi.Input[str]] = ()
    """URLs of the gateways' standalone zonal NEGs in every GCP cluster (``infra.edge.neg_self_links``)."""
    max_rate_per_endpoint: float = 10.0
    """Requests per second one gateway endpoint takes before the load balancer spills to other zones/regions."""
    api_path_prefix: str = "/v1/"
    """Path prefix of the OpenAI-compatible inference API, the target of the rate-based ban."""
    rate_limit_per_minute: int = 300
    """Requests per minute one client IP may send to the API; above it, 429."""
    ban_duration_sec: int = 600
    """How long a client that stays above the limit for five minutes is banned."""
    backend_timeout_sec: int = 600
    """Longest response the load balancer waits for: a long reasoning completion streams for minutes."""
    draining_timeout_sec: int = 300
    """How long a removed endpoint may finish its in-flight streams (scale-in, rollouts)."""
    ssl_profile: str = "MODERN"
    """MODERN or RESTRICTED; both with TLS 1.2 as the minimum."""
    dns_ready: Sequence[pulumi.Resource] = ()
    """What must exist before the authorization CNAME can resolve (the delegation of a created Route 53
    zone): the certificate, whose issuance starts with the DNS authorization check, waits for it."""
    write_authorization: (
        Callable[[pulumi.Output[str], pulumi.Output[str], pulumi.Output[str]], pulumi.Resource] | None
    ) = None
    """Writes the DNS-authorization record (name, type, value) into the public zone and returns it; the
    certificate waits for it too. None: the caller writes it from ``dns_authorization_record_*``."""

    peer_host: str | None = None
    """The name other clusters' gateways call this load balancer on (``peer.<domain>``), routed to the
    peer entrance: None builds none."""
    peer_groups: Sequence[pulumi.Input[str]] = ()
    """URLs of the peer entrance's standalone zonal NEGs in every GCP cluster that has one."""
    peer_sources: Sequence[pulumi.Input[str]] = ()
    """The IPv4 addresses the calling gateways' connections come from (their VPCs' NAT addresses):
    the only clients the peer entrance's Cloud Armor policy admits."""

    def __post_init__(self) -> None:
        where = "GcpEdgeArgs"
        if self.peer_host is not None:
            label, _, parent = self.peer_host.partition(".")
            # One label below the domain: the certificate's *.<domain> entry covers it, nothing deeper.
            if parent != self.domain or not label.replace("-", "").isalnum():
                raise ValueError(
                    f"{where}.peer_host={self.peer_host!r}: expected one label below {self.domain!r}, "
                    f"which its wildcard certificate covers"
                )
            if not self.peer_sources:
                raise ValueError(
                    f"{where}.peer_host={self.peer_host!r}: peer_sources is empty; nobody could call it"
                )
        if not self.domain or "." not in self.domain:
            raise ValueError(f"{where}.domain={self.domain!r}: expected a DNS name such as 'api.example.com'")
        for label, path in (
            ("health_check_path", self.health_check_path),
            ("api_path_prefix", self.api_path_prefix),
        ):
            if not path.startswith("/") or "'" in path:
                raise ValueError(f"{where}.{label}={path!r}: must start with '/' and hold no quote")
        if not 1 <= self.health_check_interval_seconds <= 300:
            raise ValueError(
                f"{where}.health_check_interval_seconds={self.health_check_interval_seconds}: allowed 1..300"
            )
        if not 1 <= self.unhealthy_threshold <= 10:
            raise ValueError(f"{where}.unhealthy_threshold={self.unhealthy_threshold}: allowed 1..10")
        if self.max_rate_per_endpoint <= 0:
            raise ValueError(f"{where}.max_rate_per_endpoint={self.max_rate_per_endpoint}: must be positive")
        if self.rate_limit_per_minute < 1:
            raise ValueError(
                f"{where}.rate_limit_per_minute={self.rate_limit_per_minute}: must be at least 1"
            )
        if not 1 <= self.ban_duration_sec <= 86400:
            raise ValueError(f"{where}.ban_duration_sec={self.ban_duration_sec}: allowed 1..86400")
        if not 1 <= self.backend_timeout_sec <= 2147483647:
            raise ValueError(f"{where}.backend_timeout_sec={self.backend_timeout_sec}: must be positive")
        if not 0 <= self.draining_timeout_sec <= 3600:
            raise ValueError(f"{where}.draining_timeout_sec={self.draining_timeout_sec}: allowed 0..3600")
        if self.ssl_profile not in ("MODERN", "RESTRICTED"):
            raise ValueError(f"{where}.ssl_profile={self.ssl_profile!r}: allowed MODERN or RESTRICTED")


MAX_SOURCE_RANGES = 10
"""Cloud Armor takes at most 10 ranges in one rule's basic match (``src_ip_ranges``;
SecurityPolicyRuleMatcherConfig, https://cloud.google.com/compute/docs/reference/rest/v1/securityPolicies:
"Maximum number of src_ip_ranges allowed is 10")."""


def peer_chunks(sources: Sequence[pulumi.Input[str]]) -> list[list[pulumi.Input[str]]]:
    """The addresses in rules of at most ``MAX_SOURCE_RANGES`` each, in order."""
    return [list(sources[i : i + MAX_SOURCE_RANGES]) for i in range(0, len(sources), MAX_SOURCE_RANGES)]


class GcpEdge(pulumi.ComponentResource):
    """A global external HTTPS load balancer in front of the GCP clusters' gateways."""

    address: pulumi.Output[str]
    """The load balancer's reserved IPv4 address: the GCP origin of the public name."""
    dns_authorization_record_name: pulumi.Output[str]
    """Name of the CNAME that proves control of the domain to Certificate Manager."""
    dns_authorization_record_type: pulumi.Output[str]
    """Its type (CNAME)."""
    dns_authorization_record_value: pulumi.Output[str]
    """Its value."""
    backend_service_id: pulumi.Output[str]
    """ID of the backend service of the gateways."""
    security_policy_id: pulumi.Output[str]
    """ID of the Cloud Armor policy on the backend service."""

    def __init__(self, name: str, args: GcpEdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:gcp:GlobalEdge", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def child_name(*role: str) -> str:
            return resource_name(name, *role, max_len=AUTONAMED_MAX)

        address = gcp.compute.GlobalAddress(
            child_name("ip"),
            address_type="EXTERNAL",
            ip_version="IPV4",
            description=f"Anycast address of {args.domain} on GCP",
            opts=child,
        )

        authorization = gcp.certificatemanager.DnsAuthorization(
            child_name("cert"),
            domain=args.domain,
            description=f"Proves control of {args.domain} through a CNAME in its Route 53 zone",
            opts=child,
        )
        record = authorization.dns_resource_records.apply(lambda records: records[0])
        self.dns_authorization_record_name = record.apply(lambda r: r.name or "")
        self.dns_authorization_record_type = record.apply(lambda r: r.type or "CNAME")
        self.dns_authorization_record_value = record.apply(lambda r: r.data or "")
        waits_for = list(args.dns_ready)
        if args.write_authorization is not None:
            waits_for.append(
                args.write_authorization(
                    self.dns_authorization_record_name,
                    self.dns_authorization_record_type,
                    self.dns_authorization_record_value,
                )
            )
        certificate = gcp.certificatemanager.Certificate(
            child_name("cert"),
            description=f"Google-managed certificate for {args.domain}",
            managed=gcp.certificatemanager.CertificateManagedArgs(
                # The wildcard covers gcp.<domain>, the name other gateways fall back to. One DNS
                # authorization of the domain serves its wildcard too (Certificate Manager docs,
                # "Create a Google-managed certificate with DNS authorization": wildcard domains).
                domains=[args.domain, f"*.{args.domain}"],
                dns_authorizations=[authorization.id],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits_for),
        )
        certificate_map = gcp.certificatemanager.CertificateMap(
            child_name("certs"),
            description=f"Certificates the load balancer of {args.domain} presents",
            opts=child,
        )
        for role, hostname in (("domain", args.domain), ("wildcard", f"*.{args.domain}")):
            gcp.certificatemanager.CertificateMapEntry(
                child_name("certs", role),
                map=certificate_map.name,
                hostname=hostname,
                certificates=[certificate.id],
                opts=child,
            )

        ssl_policy = gcp.compute.SSLPolicy(
            child_name("tls"),
            profile=args.ssl_profile,
            min_tls_version="TLS_1_2",
            description="TLS 1.2+ with forward-secret ciphers only",
            opts=child,
        )
        armor = self._security_policy(child_name("armor"), args, child)

        health_check = gcp.compute.HealthCheck(
            child_name("ready"),
            description=f"Gateway readiness ({args.health_check_path}): 200 while the gateway takes traffic",
            check_interval_sec=args.health_check_interval_seconds,
            timeout_sec=min(5, args.health_check_interval_seconds),
            healthy_threshold=2,
            unhealthy_threshold=args.unhealthy_threshold,
            http_health_check=gcp.compute.HealthCheckHttpHealthCheckArgs(
                port_specification="USE_SERVING_PORT",
                request_path=args.health_check_path,
            ),
            log_config=gcp.compute.HealthCheckLogConfigArgs(enable=True),
            opts=child,
        )
        backend = _backend_service(
            child_name("gateways"),
            f"Inference gateways of the GCP clusters behind {args.domain}",
            args.backend_groups,
            armor,
            health_check,
            args,
            child,
        )

        host_rules: list[gcp.compute.URLMapHostRuleArgs] = []
        path_matchers: list[gcp.compute.URLMapPathMatcherArgs] = []
        self.peer_backend_service_id: pulumi.Output[str] | None = None
        if args.peer_host is not None:
            peers = _backend_service(
                child_name("peers"),
                f"Peer entrance of the GCP clusters behind {args.peer_host}",
                args.peer_groups,
                self._peer_armor(child_name("armor", "peers"), args, child),
                health_check,
                args,
                child,
            )
            self.peer_backend_service_id = peers.id
            # A host rule sends peer.<domain> to its own path matcher, whose default service is the peer
            # entrance; every other host takes the map's default service (URL map concepts,
            # https://cloud.google.com/load-balancing/docs/url-map-concepts, "Host rules" and "Path matchers").
            host_rules.append(gcp.compute.URLMapHostRuleArgs(hosts=[args.peer_host], path_matcher="peers"))
            path_matchers.append(gcp.compute.URLMapPathMatcherArgs(name="peers", default_service=peers.id))
        https_map = gcp.compute.URLMap(
            child_name("https"),
            description=f"Requests to {args.domain} go to the gateways; {args.peer_host or 'no peer name'} to the peer entrance",
            default_service=backend.id,
            host_rules=host_rules,
            path_matchers=path_matchers,
            opts=child,
        )
        https_proxy = gcp.compute.TargetHttpsProxy(
            child_name("https"),
            url_map=https_map.id,
            ssl_policy=ssl_policy.id,
            certificate_map=pulumi.Output.concat("//certificatemanager.googleapis.com/", certificate_map.id),
            opts=child,
        )
        gcp.compute.GlobalForwardingRule(
            child_name("https"),
            ip_address=address.id,
            ip_protocol="TCP",
            port_range="443",
            load_balancing_scheme="EXTERNAL_MANAGED",
            target=https_proxy.id,
            opts=child,
        )

        self.address = address.address
        self.backend_service_id = backend.id
        self.security_policy_id = armor.id
        self.register_outputs(
            {
                "address": self.address,
                "dnsAuthorizationRecordName": self.dns_authorization_record_name,
                "dnsAuthorizationRecordValue": self.dns_authorization_record_value,
                "backendServiceId": self.backend_service_id,
                "securityPolicyId": self.security_policy_id,
                "peerBackendServiceId": self.peer_backend_service_id,
            }
        )

    @staticmethod
    def _peer_armor(
        logical: str, args: GcpEdgeArgs, opts: pulumi.ResourceOptions
    ) -> gcp.compute.SecurityPolicy:
        """The peer entrance's Cloud Armor policy. Its backends are the burst clusters' second ingress (infra/k8s/mesh.py
        ``PEER``), which checks no user JWT and leaves the master key to LiteLLM, so it is reached only
        from the calling gateways' NAT addresses. Cloud Armor judges the address the client connected
        from, not a header it could write. The health checks do not pass it: Google's probers connect to
        the backends themselves, from their own ranges (health check concepts,
        https://cloud.google.com/load-balancing/docs/health-check-concepts, "Probe IP ranges"), while
        Cloud Armor judges requests at the front ends (https://cloud.google.com/armor/docs/security-policy-overview)."""
        rules = [
            gcp.compute.SecurityPolicyRuleArgs(
                priority=1000 + index,
                description="The calling gateways' NAT addresses",
                action="allow",
                match=gcp.compute.SecurityPolicyRuleMatchArgs(
                    versioned_expr="SRC_IPS_V1",
                    config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(
                        src_ip_ranges=[pulumi.Output.concat(address, "/32") for address in chunk]
                    ),
                ),
            )
            for index, chunk in enumerate(peer_chunks(args.peer_sources))
        ]
        rules.append(
            gcp.compute.SecurityPolicyRuleArgs(
                priority=DEFAULT_RULE_PRIORITY,
                description="Default: deny every other client",
                action="deny(403)",
                match=gcp.compute.SecurityPolicyRuleMatchArgs(
                    versioned_expr="SRC_IPS_V1",
                    config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=["*"]),
                ),
            )
        )
        return gcp.compute.SecurityPolicy(
            logical,
            description=f"Only the calling gateways reach {args.peer_host}",
            type="CLOUD_ARMOR",
            rules=rules,
            opts=opts,
        )

    @staticmethod
    def _security_policy(
        logical: str, args: GcpEdgeArgs, opts: pulumi.ResourceOptions
    ) -> gcp.compute.SecurityPolicy:
        def expression(text: str) -> gcp.compute.SecurityPolicyRuleMatchArgs:
            return gcp.compute.SecurityPolicyRuleMatchArgs(
                expr=gcp.compute.SecurityPolicyRuleMatchExprArgs(expression=text)
            )

        rate = args.rate_limit_per_minute
        return gcp.compute.SecurityPolicy(
            logical,
            description=f"Cloud Armor for {args.domain}",
            type="CLOUD_ARMOR",
            advanced_options_config=gcp.compute.SecurityPolicyAdvancedOptionsConfigArgs(
                json_parsing="STANDARD",
                log_level="NORMAL",
            ),
            rules=[
                gcp.compute.SecurityPolicyRuleArgs(
                    priority=1000,
                    description=f"At most {rate} API requests a minute per client IP; ban clients that keep above it",
                    action="rate_based_ban",
                    match=expression(f"request.path.startsWith('{args.api_path_prefix}')"),
                    rate_limit_options=gcp.compute.SecurityPolicyRuleRateLimitOptionsArgs(
                        conform_action="allow",
                        exceed_action="deny(429)",
                        enforce_on_key="IP",
                        rate_limit_threshold=gcp.compute.SecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs(
                            count=rate, interval_sec=60
                        ),
                        ban_threshold=gcp.compute.SecurityPolicyRuleRateLimitOptionsBanThresholdArgs(
                            count=rate * 5, interval_sec=300
                        ),
                        ban_duration_sec=args.ban_duration_sec,
                    ),
                ),
                gcp.compute.SecurityPolicyRuleArgs(
                    priority=2000,
                    description="SQL injection (preconfigured WAF), preview: prompts carry SQL legitimately",
                    action="deny(403)",
                    preview=True,
                    match=expression("evaluatePreconfiguredWaf('sqli-v33-stable', {'sensitivity': 1})"),
                ),
                gcp.compute.SecurityPolicyRuleArgs(
                    priority=2001,
                    description="Cross-site scripting (preconfigured WAF), preview: prompts carry HTML legitimately",
                    action="deny(403)",
                    preview=True,
                    match=expression("evaluatePreconfiguredWaf('xss-v33-stable', {'sensitivity': 1})"),
                ),
                gcp.compute.SecurityPolicyRuleArgs(
                    priority=DEFAULT_RULE_PRIORITY,
                    description="Default: allow",
                    action="allow",
                    match=gcp.compute.SecurityPolicyRuleMatchArgs(
                        versioned_expr="SRC_IPS_V1",
                        config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=["*"]),
                    ),
                ),
            ],
            opts=opts,
        )


def _backend_service(
    logical: str,
    description: str,
    groups: Sequence[pulumi.Input[str]],
    armor: gcp.compute.SecurityPolicy,
    health_check: gcp.compute.HealthCheck,
    args: GcpEdgeArgs,
    opts: pulumi.ResourceOptions,
) -> gcp.compute.BackendService:
    """A backend service of gateway NEGs: HTTP to the pods, every request logged, ``armor`` in front;
    the gateways' and the peer entrance's differ only in their NEGs and their policy."""
    return gcp.compute.BackendService(
        logical,
        description=description,
        load_balancing_scheme="EXTERNAL_MANAGED",
        protocol="HTTP",
        timeout_sec=args.backend_timeout_sec,
        connection_draining_timeout_sec=args.draining_timeout_sec,
        health_checks=health_check.id,
        security_policy=armor.self_link,
        enable_cdn=False,
        log_config=gcp.compute.BackendServiceLogConfigArgs(enable=True, sample_rate=1.0),
        backends=[
            gcp.compute.BackendServiceBackendArgs(
                group=group,
                balancing_mode="RATE",
                max_rate_per_endpoint=args.max_rate_per_endpoint,
                capacity_scaler=1.0,
            )
            for group in groups
        ],
        opts=opts,
    )
