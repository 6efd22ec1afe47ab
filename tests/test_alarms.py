"""What Prometheus cannot see reaches the stack's receivers: CloudWatch alarms, EventBridge rules and
Cloud Monitoring alert policies, each delivered to the receivers of its severity."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferstack.engine import Graph, Resource, plan_stack
from inferstack.project import find_project
from infra.monitoring.rules import STACK_LABEL, firing_alerts_query, stack_label
from tests.conftest import ROOT
from tests.test_data import GCP_STACK as GCP_DATA_STACK

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
LOG_METRIC = "gcp:logging/metric:Metric"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
MEMORYSTORE = "gcp:redis/instance:Instance"


def _topic_arn(graph: Graph, region: str, severity: str) -> str:
    (topic,) = [
        t
        for t in graph.of_type(TOPIC)
        if graph.region_of(t) == region and t.inputs["tags"]["severity"] == severity
    ]
    return f"arn:aws:sns:{region}:123456789012:{topic.name}"


def _alarms(graph: Graph, metric: str) -> list[Resource]:
    found = [a for a in graph.of_type(ALARM) if a.inputs["metricName"] == metric]
    assert found, f"no {metric} alarm"
    return found


# --- AWS: alarms and rules --------------------------------------------------------------------


def test_every_aurora_secondary_has_a_replication_lag_alarm_that_pages(prod: Graph) -> None:
    secondaries = [c for c in prod.of_type(RDS_CLUSTER) if "masterUsername" not in c.inputs]
    assert secondaries, "prod's database is global: it has a secondary"
    alarms = _alarms(prod, "AuroraGlobalDBReplicationLag")
    # Every member has one (the primary's sees no data): a switchover creates and deletes nothing.
    assert sorted(prod.region_of(a) for a in alarms) == sorted(
        prod.region_of(c) for c in prod.of_type(RDS_CLUSTER)
    )
    assert {prod.region_of(c) for c in secondaries} <= {prod.region_of(a) for a in alarms}
    for alarm in alarms:
        region = prod.region_of(alarm)
        assert region is not None
        assert alarm.inputs["namespace"] == "AWS/RDS"
        assert set(alarm.inputs["dimensions"]) == {"DBClusterIdentifier"}
        assert alarm.inputs["alarmActions"] == [_topic_arn(prod, region, "critical")]
        assert alarm.inputs["threshold"] == 60_000  # milliseconds


def test_a_regional_database_has_no_lag_alarm(dev: Graph) -> None:
    assert [a for a in dev.of_type(ALARM) if a.inputs["metricName"] == "AuroraGlobalDBReplicationLag"] == []


@pytest.mark.parametrize("metric", ["DatabaseMemoryUsagePercentage", "Evictions"])
def test_every_cache_node_has_memory_and_eviction_alarms(prod: Graph, metric: str) -> None:
    groups = prod.of_type(REPLICATION_GROUP)
    assert groups
    alarms = _alarms(prod, metric)
    for group in groups:
        region = prod.region_of(group)
        assert region is not None
        mine = [a for a in alarms if prod.region_of(a) == region]
        assert len(mine) == group.inputs["numCacheClusters"], f"one {metric} alarm per node in {region}"
        for alarm in mine:
            assert alarm.inputs["namespace"] == "AWS/ElastiCache"
            assert set(alarm.inputs["dimensions"]) == {"CacheClusterId"}
            assert alarm.inputs["alarmActions"] == [_topic_arn(prod, region, "warning")]


def _rule(graph: Graph, suffix: str) -> list[Resource]:
    return [r for r in graph.of_type(RULE) if r.name.endswith(suffix)]


def test_spot_interruption_rule_targets_the_warning_topic_of_its_region(prod: Graph) -> None:
    (rule,) = _rule(prod, "spot-interruption")
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Spot Instance Interruption Warning"],
    }
    (target,) = [t for t in prod.of_type(TARGET) if t.name == rule.name]
    assert prod.region_of(rule) == prod.region_of(target) == "us-east-1"  # prod's only spot GPU pool
    assert target.inputs["arn"] == _topic_arn(prod, "us-east-1", "warning")
    assert "roleArn" not in target.inputs  # SNS admits EventBridge by its topic policy


def test_no_spot_rule_where_no_gpu_pool_runs_on_spot(dev: Graph) -> None:
    assert _rule(dev, "spot-interruption") == []


def test_gpu_launch_failures_are_watched_in_every_region_with_gpu_node_groups(prod: Graph) -> None:
    rules = _rule(prod, "gpu-launch-failed")
    assert sorted(prod.region_of(r) for r in rules) == ["us-east-1", "us-west-2"]
    for rule in rules:
        region = prod.region_of(rule)
        assert region is not None
        (target,) = [t for t in prod.of_type(TARGET) if t.name == rule.name]
        assert target.inputs["arn"] == _topic_arn(prod, region, "warning")


def _statement(document: str, sid: str) -> dict[str, Any]:
    (found,) = [s for s in json.loads(document)["Statement"] if s.get("Sid") == sid]
    return found


def test_every_alert_topic_lets_eventbridge_and_alarms_of_the_account_publish(prod: Graph) -> None:
    topics = prod.of_type(TOPIC)
    assert topics
    policies = {p.name: p for p in prod.of_type(TOPIC_POLICY)}
    for topic in topics:
        policy = policies[topic.name]
        region = prod.region_of(topic)
        assert region is not None
        arn = _topic_arn(prod, region, topic.inputs["tags"]["severity"])
        assert policy.inputs["arn"] == arn
        grant = _statement(policy.inputs["policy"], "AlarmsAndRulesPublish")
        assert grant["Effect"] == "Allow" and grant["Action"] == "sns:Publish" and grant["Resource"] == arn
        assert "events.amazonaws.com" in grant["Principal"]["Service"]
        assert "cloudwatch.amazonaws.com" in grant["Principal"]["Service"]
        assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_alert_topics_are_encrypted_with_a_key_eventbridge_may_use(prod: Graph) -> None:
    keys = {k.name: k for k in prod.of_type("aws:kms/key:Key") if k.name.startswith("alerts-")}
    topics = prod.of_type(TOPIC)
    assert keys and topics
    for topic in topics:
        region = prod.region_of(topic)
        key = keys[f"alerts-{region}"]
        assert topic.inputs["kmsMasterKeyId"]  # the key's ARN (unknown until it exists)
        assert key.urn in topic.dependencies
        grant = _statement(key.inputs["policy"], "AlarmsRulesAndAlertManagerPublishToEncryptedTopics")
        assert "events.amazonaws.com" in grant["Principal"]["Service"]
        assert {"kms:GenerateDataKey*", "kms:Decrypt"} <= set(grant["Action"])
        assert key.inputs["enableKeyRotation"] is True


def test_receivers_hear_exactly_their_severities(prod: Graph) -> None:
    subscriptions = prod.of_type(SUBSCRIPTION)
    assert subscriptions
    topic_severity = {
        _topic_arn(prod, prod.region_of(t) or "", t.inputs["tags"]["severity"]): t.inputs["tags"]["severity"]
        for t in prod.of_type(TOPIC)
    }
    heard = {(s.inputs["endpoint"], topic_severity[s.inputs["topic"]]) for s in subscriptions}
    # stacks/Pulumi.prod.yaml: oncall takes critical, platform critical and warning; nobody info.
    assert heard == {
        ("oncall@example.com", "critical"),
        ("platform-team@example.com", "critical"),
        ("platform-team@example.com", "warning"),
    }
    assert all(s.inputs["protocol"] == "email" for s in subscriptions)


# --- GCP: notification channels and alert policies ---------------------------------------------

GCP_STACK = copy.deepcopy(GCP_DATA_STACK)
"""The data layer's GCP stack (tests/test_data.py) with a spot pool to be preempted and receivers."""
GCP_STACK["config"]["clusters"][0]["nodePools"].append(
    {
        "name": "l4-spot",
        "machineType": "g2-standard-8",
        "accelerator": "L4",
        "capacity": "spot",
        "minSize": 0,
        "maxSize": 2,
    }
)
GCP_STACK["config"]["monitoring"] = {
    "receivers": [
        {"name": "oncall", "severities": ["critical"], "emails": ["oncall@example.com"]},
        {
            "name": "platform",
            "severities": ["warning"],
            "emails": ["platform@example.com", "sre@example.com"],
        },
    ]
}


def _plan(tmp_path_factory: pytest.TempPathFactory, stack: dict[str, Any], name: str) -> Graph:
    path = Path(tmp_path_factory.mktemp("stacks")) / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(stack), encoding="utf-8")
    return plan_stack(name, config_file=path, project=find_project(ROOT))


@pytest.fixture(scope="module")
def gcp_alerts(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    return _plan(tmp_path_factory, GCP_STACK, "gcpalerts")


def _channel_receivers(graph: Graph) -> dict[str, str]:
    return {c.name: c.inputs["userLabels"]["receiver"] for c in graph.of_type(CHANNEL)}


def test_every_receiver_address_has_an_email_channel(gcp_alerts: Graph) -> None:
    channels = gcp_alerts.of_type(CHANNEL)
    assert sorted(c.inputs["labels"]["email_address"] for c in channels) == [
        "oncall@example.com",
        "platform@example.com",
        "sre@example.com",
    ]
    assert all(c.inputs["type"] == "email" for c in channels)


@pytest.mark.parametrize("stack", ["gcp_alerts", "prod"])
def test_every_gcp_alert_policy_notifies_the_receivers_of_its_severity(
    stack: str, request: pytest.FixtureRequest
) -> None:
    graph: Graph = request.getfixturevalue(stack)
    policies = graph.of_type(POLICY)
    assert policies
    receivers = {
        r["name"]: set(r["severities"])
        for r in (
            GCP_STACK["config"]["monitoring"]["receivers"]
            if stack == "gcp_alerts"
            else yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]["monitoring"][
                "receivers"
            ]
        )
    }
    of = _channel_receivers(graph)
    for policy in policies:
        severity = policy.inputs["userLabels"]["severity"]
        assert policy.inputs["severity"] == severity.upper()
        named = {of[c] for c in policy.inputs["notificationChannels"]}
        assert named == {name for name, severities in receivers.items() if severity in severities}, (
            policy.name
        )


def _policy(graph: Graph, metric: str) -> list[Resource]:
    return [
        p
        for p in graph.of_type(POLICY)
        if metric in str(p.inputs["conditions"][0].get("conditionThreshold", {}).get("filter", ""))
    ]


def test_every_memorystore_instance_has_a_memory_policy(gcp_alerts: Graph) -> None:
    instances = gcp_alerts.of_type(MEMORYSTORE)
    assert instances
    policies = _policy(gcp_alerts, "redis.googleapis.com/stats/memory/usage_ratio")
    assert len(policies) == len(instances)
    assert all(p.inputs["userLabels"]["severity"] == "warning" for p in policies)


def test_every_cloud_sql_replica_has_a_lag_policy_that_pages(gcp_alerts: Graph) -> None:
    replicas = [i for i in gcp_alerts.of_type(SQL) if "masterInstanceName" in i.inputs]
    assert replicas
    policies = _policy(gcp_alerts, "cloudsql.googleapis.com/database/replication/replica_lag")
    assert len(policies) == len(replicas)
    for policy in policies:
        condition = policy.inputs["conditions"][0]["conditionThreshold"]
        assert condition["thresholdValue"] == 60 and condition["comparison"] == "COMPARISON_GT"
        assert policy.inputs["userLabels"]["severity"] == "critical"


@pytest.mark.parametrize("stack", ["gcp_alerts", "prod"])
def test_gke_spot_preemptions_are_counted_and_alerted(stack: str, request: pytest.FixtureRequest) -> None:
    graph: Graph = request.getfixturevalue(stack)
    (metric,) = graph.of_type(LOG_METRIC)
    assert 'protoPayload.methodName="compute.instances.preempted"' in metric.inputs["filter"]
    (policy,) = _policy(graph, f"logging.googleapis.com/user/{metric.inputs['name']}")
    assert policy.inputs["userLabels"]["severity"] == "warning"


def test_no_policy_where_no_receiver_takes_its_severity(dev: Graph) -> None:
    # dev's only receiver takes critical; its GKE spot pool's preemptions are warnings, and so are
    # half its Prometheus alerts: only the critical ones are delivered.
    assert dev.of_type(CHANNEL)
    assert [p.name for p in dev.of_type(POLICY)] == ["gcp-alerts-prometheus-critical"]
    assert dev.of_type(LOG_METRIC) == []


def test_every_edge_certificate_warns_then_pages_as_its_expiry_nears(prod: Graph) -> None:
    certificates = prod.of_type("aws:acm/certificate:Certificate")
    assert len(certificates) >= 2, "prod's edge has a certificate per AWS region"
    alarms = _alarms(prod, "DaysToExpiry")
    for certificate in certificates:
        region = prod.region_of(certificate)
        mine = [
            a for a in alarms if a.inputs["dimensions"]["CertificateArn"].endswith(f":{certificate.name}")
        ]
        # A certificate renewed by ACM starts over at about 395 days; under 45 its renewal is failing.
        assert {a.inputs["tags"]["severity"]: a.inputs["threshold"] for a in mine} == {
            "warning": 45,
            "critical": 14,
        }, certificate.name
        for alarm in mine:
            assert prod.region_of(alarm) == region
            assert alarm.inputs["namespace"] == "AWS/CertificateManager"
            assert alarm.inputs["comparisonOperator"] == "LessThanThreshold"
            assert (alarm.inputs["statistic"], alarm.inputs["period"]) == ("Minimum", 86400)
            # A certificate issued today publishes its first figure within a day: no page meanwhile.
            assert alarm.inputs["treatMissingData"] == "notBreaching"
            assert alarm.inputs["alarmActions"] == [
                _topic_arn(prod, region, alarm.inputs["tags"]["severity"])
            ]


# --- GCP: the Prometheus rules' alerts ----------------------------------------------------------

CLUSTER_RULES = "kubernetes:monitoring.googleapis.com/v1:ClusterRules"
GLOBAL_RULES = "kubernetes:monitoring.googleapis.com/v1:GlobalRules"


def _prometheus_policies(graph: Graph) -> dict[str, Resource]:
    """Severity -> the PromQL policy that delivers the stack's firing Prometheus alerts."""
    found: dict[str, Resource] = {}
    for policy in graph.of_type(POLICY):
        (condition,) = policy.inputs["conditions"]
        if "conditionPrometheusQueryLanguage" in condition:
            severity = policy.inputs["userLabels"]["severity"]
            assert severity not in found, f"two policies deliver {severity} alerts"
            found[severity] = policy
    return found


@pytest.mark.parametrize("stack", ["gcp_alerts", "prod", "dev"])
def test_every_gke_alerting_rule_names_its_stack(stack: str, request: pytest.FixtureRequest) -> None:
    graph: Graph = request.getfixturevalue(stack)
    objects = graph.of_type(CLUSTER_RULES) + graph.of_type(GLOBAL_RULES)
    rules = [rule for o in objects for group in o.inputs["spec"]["groups"] for rule in group["rules"]]
    alerts = [r for r in rules if "alert" in r]
    assert alerts and len(alerts) < len(rules), "GKE evaluates both alerting and recording rules"
    assert {r["labels"][STACK_LABEL] for r in alerts} == {stack_label("inferstack", graph.stack)}
    assert all(STACK_LABEL not in r.get("labels", {}) for r in rules if "record" in r)
    if stack == "prod":
        assert graph.of_type(GLOBAL_RULES), "prod's burst pressure is a GlobalRules alert"


@pytest.mark.parametrize("stack", ["gcp_alerts", "prod"])
def test_each_severity_taken_has_a_policy_on_the_stacks_firing_alerts(
    stack: str, request: pytest.FixtureRequest
) -> None:
    graph: Graph = request.getfixturevalue(stack)
    policies = _prometheus_policies(graph)
    # Both shipped receivers' sets take critical and warning; info reaches only the dashboards.
    assert sorted(policies) == ["critical", "warning"]
    for severity, policy in policies.items():
        (condition,) = policy.inputs["conditions"]
        promql = condition["conditionPrometheusQueryLanguage"]
        assert promql["query"] == firing_alerts_query(severity, stack_label("inferstack", graph.stack))
        # ALERTS exists only once a rule has fired: without this the first apply is refused.
        assert promql["disableMetricValidation"] is True
        assert promql["duration"] == "0s"
        assert "${metric.label.alertname}" in policy.inputs["documentation"]["subject"]


def test_a_stack_without_gke_has_no_prometheus_policy(onprem: Graph) -> None:
    assert onprem.of_type(CLUSTER_RULES) == []
    assert _prometheus_policies(onprem) == {}
