"""What Prometheus cannot see on AWS, in one region: CloudWatch alarms and EventBridge rules.

Creates, in one region, each delivering to the alert topic of its severity (``infra.aws.alerting``):

- per member cluster of the Aurora global database there: an alarm on
  ``AuroraGlobalDBReplicationLag`` (namespace ``AWS/RDS``, dimension ``DBClusterIdentifier``,
  milliseconds), critical: the lag is what a managed failover to that region would lose. Only the
  secondary clusters report the metric; the primary's alarm sees no data and stays quiet until a
  switchover makes its cluster a secondary, so that a switchover neither creates nor deletes alarms
  (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.AuroraMonitoring.Metrics.html,
  "Cluster-level metrics": a cluster-level metric is reported per DBClusterIdentifier);
- per node of the Valkey replication group there: alarms on ``DatabaseMemoryUsagePercentage`` and
  ``Evictions`` (namespace ``AWS/ElastiCache``, dimension ``CacheClusterId``: ElastiCache computes
  the engine metrics per cache node, and every node of a cluster-mode-disabled replication group is
  a member cache cluster of its own:
  https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Redis.html), warning;
- when a GPU pool of the region runs on spot: an EventBridge rule on ``EC2 Spot Instance
  Interruption Warning`` (source ``aws.ec2``), warning. The event names an instance and nothing
  else (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html),
  so no pattern can narrow it to the stack's node groups: it reports every spot interruption of the
  account in the region;
- when the region has GPU node groups: an EventBridge rule on ``EC2 Instance Launch Unsuccessful``
  (source ``aws.autoscaling``) matching ``detail.AutoScalingGroupName`` against the node groups'
  Auto Scaling groups, warning: the capacity errors that keep a GPU pool from scaling out
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-event-reference.html).

- per ACM certificate of the edge there: alarms on ``DaysToExpiry`` (namespace
  ``AWS/CertificateManager``, dimension ``CertificateArn``, published once a day:
  https://docs.aws.amazon.com/acm/latest/userguide/cloudwatch-metrics.html), warning below
  ``CERTIFICATE_WARNING_DAYS`` and critical below ``CERTIFICATE_CRITICAL_DAYS``. ACM renews a DNS-validated
  certificate by itself from 60 days before it expires, as long as the validation CNAME still
  resolves (https://docs.aws.amazon.com/acm/latest/userguide/managed-renewal.html), so a
  certificate this close to expiry is one whose renewal is failing, and at expiry every client of
  the region's load balancer fails its TLS handshake.

An SNS target of a rule carries no role: the topic policy and the key policy of the alert topics
admit EventBridge (see ``infra.aws.alerting``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.naming import AUTONAMED_MAX, resource_name

REPLICATION_LAG_MS = 60_000
"""Aurora global database lag that pages: storage-level replication normally stays under a second,
and a minute held for five means a failover to that region would lose a minute of writes."""
REPLICATION_LAG_MINUTES = 5

CACHE_MEMORY_PERCENT = 90
"""Share of a node's maxmemory in use that warns: at 100 % Valkey evicts on every write (its
policy is volatile-lru), and a response cache that evicts constantly stops saving model calls."""
CACHE_MEMORY_MINUTES = 15

EVICTIONS_PER_5_MINUTES = 1000
"""Keys evicted per node in five minutes, held for fifteen, that warns: an LRU cache evicts a few
by design; thousands sustained mean the cache is too small for its working set."""
EVICTION_PERIODS = 3

CERTIFICATE_WARNING_DAYS = 45
"""Days before expiry under which a certificate warns: ACM has been trying to renew it for over two
weeks (and its own expiry events start at 45 days)."""
CERTIFICATE_CRITICAL_DAYS = 14
"""Days before expiry under which a certificate pages: two weeks to restore its validation record."""
CERTIFICATE_PERIOD = 86_400
"""ACM publishes DaysToExpiry once a day."""

SPOT_INTERRUPTION = {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]}
"""EventBridge pattern of EC2's two-minute spot interruption notice."""

LAUNCH_UNSUCCESSFUL = "EC2 Instance Launch Unsuccessful"
"""The detail-type Auto Scaling sends when a launch fails (capacity, quota, a bad template)."""


def auto_scaling_group(group: aws.eks.NodeGroup) -> pulumi.Output[str]:
    """The name of the Auto Scaling group EKS made for a managed node group (it has exactly one)."""
    return group.resources.apply(
        lambda resources: next(
            (g.name for r in resources or [] for g in r.autoscaling_groups or [] if g.name), ""
        )
    )


@dataclass(frozen=True)
class CacheNodes:
    """The member cache clusters of one replication group: one alarm pair per node."""

    name: str
    """Logical-name stem of the alarms, e.g. "core-use1-cache"."""
    cluster_ids: Sequence[pulumi.Input[str]]
    """CacheClusterId of each node, primary first."""


@dataclass(frozen=True, kw_only=True)
class AwsAlarmsArgs:
    """What to watch in one region and where each severity goes."""

    region: str
    """AWS region of the provider in ``opts.providers``."""
    topic_arns: Mapping[str, pulumi.Input[str]]
    """Alert topic ARN of each severity (critical, warning, info) in this region."""
    replica_clusters: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Aurora global database members in this region: logical-name stem -> DBClusterIdentifier."""
    caches: Sequence[CacheNodes] = ()
    """The replication groups in this region."""
    gpu_groups: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """GPU node groups in this region: logical-name stem -> Auto Scaling group name."""
    spot: bool = False
    """Whether a GPU node group of this region runs on spot."""
    certificates: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """ACM certificates in this region: logical-name stem -> certificate ARN."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = sorted({"critical", "warning"} - set(self.topic_arns))
        if missing:
            raise ValueError(f"AwsAlarmsArgs.topic_arns: no topic for {', '.join(missing)}")
        if self.spot and not self.gpu_groups:
            raise ValueError("AwsAlarmsArgs.spot: a spot rule needs the region's GPU node groups")


class AwsAlarms(pulumi.ComponentResource):
    """CloudWatch alarms and EventBridge rules of one region, routed to the alert topics by severity."""

    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    """Logical name -> alarm."""
    rules: dict[str, aws.cloudwatch.EventRule]
    """Logical name -> EventBridge rule."""

    def __init__(self, name: str, args: AwsAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:aws:Alarms", name, None, opts)
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self.alarms = {}
        self.rules = {}

        for stem, cluster_id in args.replica_clusters.items():
            self._alarm(
                resource_name(stem, "replication-lag", max_len=AUTONAMED_MAX),
                severity="critical",
                description=(
                    f"Aurora global database: {stem} more than {REPLICATION_LAG_MS // 1000} s behind the "
                    f"primary for {REPLICATION_LAG_MINUTES} minutes (what a failover there would lose)"
                ),
                namespace="AWS/RDS",
                metric="AuroraGlobalDBReplicationLag",
                dimensions={"DBClusterIdentifier": cluster_id},
                statistic="Maximum",
                period=60,
                periods=REPLICATION_LAG_MINUTES,
                threshold=REPLICATION_LAG_MS,
            )
        for cache in args.caches:
            for i, cluster_id in enumerate(cache.cluster_ids, start=1):
                node = resource_name(cache.name, str(i), max_len=AUTONAMED_MAX)
                self._alarm(
                    resource_name(node, "memory", max_len=AUTONAMED_MAX),
                    severity="warning",
                    description=(
                        f"Valkey {cache.name} node {i}: over {CACHE_MEMORY_PERCENT} % of its memory "
                        f"for {CACHE_MEMORY_MINUTES} minutes"
                    ),
                    namespace="AWS/ElastiCache",
                    metric="DatabaseMemoryUsagePercentage",
                    dimensions={"CacheClusterId": cluster_id},
                    statistic="Average",
                    period=60,
                    periods=CACHE_MEMORY_MINUTES,
                    threshold=CACHE_MEMORY_PERCENT,
                )
                self._alarm(
                    resource_name(node, "evictions", max_len=AUTONAMED_MAX),
                    severity="warning",
                    description=(
                        f"Valkey {cache.name} node {i}: over {EVICTIONS_PER_5_MINUTES} evictions per "
                        f"5 minutes for {EVICTION_PERIODS * 5} minutes (the cache is too small)"
                    ),
                    namespace="AWS/ElastiCache",
                    metric="Evictions",
                    dimensions={"CacheClusterId": cluster_id},
                    statistic="Sum",
                    period=300,
                    periods=EVICTION_PERIODS,
                    threshold=EVICTIONS_PER_5_MINUTES,
                )
        for stem, arn in args.certificates.items():
            for severity, days in (
                ("warning", CERTIFICATE_WARNING_DAYS),
                ("critical", CERTIFICATE_CRITICAL_DAYS),
            ):
                self._alarm(
                    resource_name(stem, "expiry", severity, max_len=AUTONAMED_MAX),
                    severity=severity,
                    description=(
                        f"ACM certificate {stem} expires in under {days} days: its managed renewal is "
                        "failing (is the DNS validation record still there?)"
                    ),
                    namespace="AWS/CertificateManager",
                    metric="DaysToExpiry",
                    dimensions={"CertificateArn": arn},
                    statistic="Minimum",
                    period=CERTIFICATE_PERIOD,
                    periods=1,
                    threshold=days,
                    comparison="LessThanThreshold",
                )
        if args.spot:
            self._rule(
                resource_name(name, "spot-interruption", max_len=AUTONAMED_MAX),
                severity="warning",
                description=f"EC2 spot interruption notices in {args.region} (GPU burst capacity leaving)",
                pattern=SPOT_INTERRUPTION,
            )
        if args.gpu_groups:
            self._rule(
                resource_name(name, "gpu-launch-failed", max_len=AUTONAMED_MAX),
                severity="warning",
                description=f"Failed launches of the stack's GPU node groups in {args.region}",
                pattern=pulumi.Output.all(*args.gpu_groups.values()).apply(
                    lambda names: {
                        "source": ["aws.autoscaling"],
                        "detail-type": [LAUNCH_UNSUCCESSFUL],
                        "detail": {"AutoScalingGroupName": sorted(names)},
                    }
                ),
            )
        self.register_outputs(
            {
                "alarms": {k: v.arn for k, v in self.alarms.items()},
                "rules": {k: v.arn for k, v in self.rules.items()},
            }
        )

    def _alarm(
        self,
        logical: str,
        *,
        severity: str,
        description: str,
        namespace: str,
        metric: str,
        dimensions: Mapping[str, pulumi.Input[str]],
        statistic: str,
        period: int,
        periods: int,
        threshold: float,
        comparison: str = "GreaterThanThreshold",
    ) -> None:
        topic = self._args.topic_arns[severity]
        self.alarms[logical] = aws.cloudwatch.MetricAlarm(
            logical,
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            dimensions=dict(dimensions),
            statistic=statistic,
            period=period,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            comparison_operator=comparison,
            threshold=threshold,
            # No data is no news: a node being replaced or a secondary being added reports nothing
            # for a while, and neither should page; nor should a certificate issued today, whose
            # first DaysToExpiry is up to a day away.
            treat_missing_data="notBreaching",
            actions_enabled=True,
            alarm_actions=[topic],
            ok_actions=[topic],
            tags={**self._args.tags, "severity": severity, "Name": logical},
            opts=self._child,
        )

    def _rule(
        self,
        logical: str,
        *,
        severity: str,
        description: str,
        pattern: pulumi.Input[Mapping[str, object]],
    ) -> None:
        rule = aws.cloudwatch.EventRule(
            logical,
            description=description,
            event_pattern=pulumi.Output.json_dumps(pattern),
            tags={**self._args.tags, "severity": severity, "Name": logical},
            opts=self._child,
        )
        aws.cloudwatch.EventTarget(
            logical,
            rule=rule.name,
            arn=self._args.topic_arns[severity],
            opts=self._child,
        )
        self.rules[logical] = rule
