"""The public entry of an EKS cluster's gateway: an internet-facing ALB behind AWS WAF, and its name.

Creates, in the cluster's region: a security group admitting HTTPS (and HTTP, which only
redirects) from anywhere; an Application Load Balancer in the public subnets that drops invalid
header fields and, in prod, cannot be deleted by accident; an IP target group on the gateway's pod
port whose health check is the gateway's readiness path (the Kubernetes side registers the pods
through a TargetGroupBinding, infra/k8s/gateway.py); an HTTPS listener with the edge's regional
ACM certificate and the TLS 1.3/1.2 policy, and an HTTP listener that redirects to HTTPS; a
regional WAF web ACL associated with the load balancer; and the Route 53 alias
``<cluster>.<domain>``, the origin name the edge's health checks request.

Rules this code follows, from the AWS docs:
- ELBSecurityPolicy-TLS13-1-2-2021-06 is the policy AWS recommends for HTTPS listeners (TLS 1.3 and
  1.2 only; Elastic Load Balancing docs, "Security policies for your Application Load Balancer").
- A web ACL for an ALB has scope REGIONAL and lives in the load balancer's region (AWS WAF docs,
  "Creating a web ACL"; CLOUDFRONT is for distributions only).
- For an ALB, WAF inspects at most the first 8 KB of a body (AWS WAF docs, "Oversize web request
  components"); the Core rule set's SizeRestrictions_BODY blocks every larger body, which most
  prompts are. It runs in count mode, as do the prompt-sensitive cross-site-scripting and SQL
  body rules of the managed groups: prompts legitimately carry code, HTML and SQL. Cloud Armor
  protects only the GCP side, so these are the AWS side's rules.
- The rate-based rule counts requests per client IP over five minutes (the default window) and
  blocks above ``rate_limit_per_5_minutes``, as Cloud Armor bans a flood on the GCP side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.naming import resource_name

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"

COUNTED_RULES: Mapping[str, Sequence[str]] = {
    "AWSManagedRulesCommonRuleSet": (
        "SizeRestrictions_BODY",
        "CrossSiteScripting_BODY",
        "GenericLFI_BODY",
        "GenericRFI_BODY",
    ),
    "AWSManagedRulesSQLiRuleSet": ("SQLi_BODY",),
    "AWSManagedRulesKnownBadInputsRuleSet": (),
    "AWSManagedRulesAnonymousIpList": ("HostingProviderIPList",),
}
"""Managed rule group (vendor AWS) -> its rules that only count: the body rules a prompt trips, and
the hosting-provider list, since other gateways and most API clients call from cloud addresses
(the anonymizer list itself, Tor exits and the like, blocks). Rule names from the AWS WAF docs,
"AWS Managed Rules rule groups list" (Core rule set, SQL database, Known bad inputs, Anonymous IP
list: https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-list.html)."""


@dataclass(frozen=True, kw_only=True)
class GatewayIngressArgs:
    """What the ALB of one EKS cluster's gateway needs; validated before any resource exists."""

    cluster: str
    """The cluster's name in the stack, for names and tags."""
    hostname: str
    """The origin name ``<cluster>.<domain>`` the edge checks and the other gateways fall back to."""
    zone_id: pulumi.Input[str]
    """The Route 53 zone that holds ``hostname``."""
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    public_subnet_ids: pulumi.Input[Sequence[str]]
    certificate_arn: pulumi.Input[str]
    """The edge's validated certificate of this region (the domain and its wildcard)."""
    target_port: int
    """The gateway pods' port (target type ip: the load balancer reaches the pods directly)."""
    health_check_path: str
    protect: bool
    """Deletion protection on the load balancer (prod)."""
    rate_limit_per_5_minutes: int = 1500
    """Requests one client IP may send in five minutes before WAF blocks it (the GCP side's 300 a minute)."""
    idle_timeout_seconds: int = 600
    """A long reasoning answer streams for minutes; the ALB's default of 60 s would cut it."""
    tags: Mapping[str, str]

    def __post_init__(self) -> None:
        where = f"GatewayIngressArgs({self.cluster!r})"
        if not self.health_check_path.startswith("/"):
            raise ValueError(f"{where}.health_check_path={self.health_check_path!r}: must start with '/'")
        # WAF rate-based rules: a limit of 10 to 2,000,000,000 (AWS WAF API, RateBasedStatement.Limit).
        if not 10 <= self.rate_limit_per_5_minutes <= 2_000_000_000:
            raise ValueError(
                f"{where}.rate_limit_per_5_minutes={self.rate_limit_per_5_minutes}: allowed 10..2e9"
            )
        # ALB idle timeout: 1 to 4000 seconds (ELB docs, "Connection idle timeout").
        if not 1 <= self.idle_timeout_seconds <= 4000:
            raise ValueError(f"{where}.idle_timeout_seconds={self.idle_timeout_seconds}: allowed 1..4000")


class GatewayIngress(pulumi.ComponentResource):
    """The ALB, WAF and origin record of one EKS cluster's gateway; pass the region's provider in opts."""

    load_balancer_arn: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    """The load balancer's security group: the pods admit it on their port (TargetGroupBinding networking)."""
    web_acl_arn: pulumi.Output[str]
    hostname: str

    def __init__(
        self, name: str, args: GatewayIngressArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("inferstack:aws:GatewayIngress", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)

        def tags(role: str) -> dict[str, str]:
            return {**args.tags, "Name": self._child(role), "cluster": args.cluster}

        group = aws.ec2.SecurityGroup(
            self._child("alb"),
            description=f"Gateway load balancer of {args.cluster}: HTTPS from clients, HTTP only redirects",
            vpc_id=args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description=f"{port}: {about}",
                    protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_blocks=["0.0.0.0/0"],
                )
                for port, about in ((443, "the inference API"), (80, "redirected to HTTPS"))
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="To the gateway pods in the VPC",
                    protocol="tcp",
                    from_port=args.target_port,
                    to_port=args.target_port,
                    cidr_blocks=[args.vpc_cidr],
                )
            ],
            tags=tags("alb"),
            opts=child,
        )
        balancer = aws.lb.LoadBalancer(
            self._child("alb"),
            internal=False,
            load_balancer_type="application",
            security_groups=[group.id],
            subnets=args.public_subnet_ids,
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.protect,
            idle_timeout=args.idle_timeout_seconds,
            tags=tags("alb"),
            opts=child,
        )
        target_group = aws.lb.TargetGroup(
            self._child("gateway"),
            port=args.target_port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=args.vpc_id,
            # Streams in flight finish when a pod leaves (the pods' grace period is 120 s).
            deregistration_delay=120,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                path=args.health_check_path,
                protocol="HTTP",
                matcher="200",
                interval=15,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=tags("gateway"),
            opts=child,
        )
        aws.lb.Listener(
            self._child("https"),
            load_balancer_arn=balancer.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=args.certificate_arn,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)
            ],
            tags=tags("https"),
            opts=child,
        )
        aws.lb.Listener(
            self._child("http"),
            load_balancer_arn=balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        protocol="HTTPS", port="443", status_code="HTTP_301"
                    ),
                )
            ],
            tags=tags("http"),
            opts=child,
        )
        acl = self._web_acl(args, tags("waf"), child)
        aws.wafv2.WebAclAssociation(
            self._child("waf"), resource_arn=balancer.arn, web_acl_arn=acl.arn, opts=child
        )
        aws.route53.Record(
            self._child("origin"),
            zone_id=args.zone_id,
            name=args.hostname,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=balancer.dns_name, zone_id=balancer.zone_id, evaluate_target_health=True
                )
            ],
            opts=child,
        )
        self.load_balancer_arn = balancer.arn
        self.target_group_arn = target_group.arn
        self.security_group_id = group.id
        self.web_acl_arn = acl.arn
        self.hostname = args.hostname
        self.register_outputs(
            {
                "loadBalancerArn": self.load_balancer_arn,
                "targetGroupArn": self.target_group_arn,
                "webAclArn": self.web_acl_arn,
                "hostname": self.hostname,
            }
        )

    def _child(self, *role: str) -> str:
        return resource_name(self._name, *role)

    def _web_acl(
        self, args: GatewayIngressArgs, tags: Mapping[str, str], opts: pulumi.ResourceOptions
    ) -> aws.wafv2.WebAcl:
        def visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
            return aws.wafv2.WebAclRuleVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
            )

        rules = [
            aws.wafv2.WebAclRuleArgs(
                name="rate-per-client-ip",
                priority=0,
                action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs()),
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                        aggregate_key_type="IP",
                        limit=args.rate_limit_per_5_minutes,
                        evaluation_window_sec=300,
                    )
                ),
                visibility_config=visibility("rate-per-client-ip"),
            )
        ]
        for priority, (group, counted) in enumerate(COUNTED_RULES.items(), start=1):
            override = aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs
            count = aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
                count=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
            )
            rules.append(
                aws.wafv2.WebAclRuleArgs(
                    name=group,
                    priority=priority * 10,
                    override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
                        none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()
                    ),
                    statement=aws.wafv2.WebAclRuleStatementArgs(
                        managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                            name=group,
                            vendor_name="AWS",
                            rule_action_overrides=[
                                override(name=rule, action_to_use=count) for rule in counted
                            ]
                            or None,
                        )
                    ),
                    visibility_config=visibility(group),
                )
            )
        return aws.wafv2.WebAcl(
            self._child("waf"),
            description=f"Gateway of {args.cluster}: rate limit and AWS managed rules, prompt-sensitive ones counted",
            scope="REGIONAL",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=rules,
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True,
                metric_name=self._child("waf"),
                sampled_requests_enabled=True,
            ),
            tags=dict(tags),
            opts=opts,
        )
