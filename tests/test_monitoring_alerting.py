"""Alert delivery on AWS: one encrypted topic per severity and region, each receiver subscribed."""

from __future__ import annotations

import json
from typing import cast

import pulumi_aws as aws
import pytest

from inferstack.engine import Graph, Resource
from infra.aws import alerting
from infra.monitoring.rules import rule_groups
from infra.settings import AlertSeverity, Monitoring, Settings

TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
KEY = "aws:kms/key:Key"


def _topics(graph: Graph) -> list[Resource]:
    topics = [r for r in graph.resources if r.type == TOPIC]
    assert topics, "no alert topic"
    return topics


def _region(r: Resource) -> str:
    assert r.provider is not None
    return r.provider.rsplit("::aws-", 1)[1]


def test_every_receiver_address_is_subscribed_to_each_of_its_severities_topics_in_every_eks_region(
    prod: Graph,
) -> None:
    topics = {(_region(t), t.inputs["name"].rsplit("-", 1)[1]): t for t in _topics(prod)}
    subscribed = {
        (_region(s), s.inputs["topic"], s.inputs["endpoint"])
        for s in prod.resources
        if s.type == SUBSCRIPTION and s.inputs["protocol"] == "email"
    }
    # prod: oncall takes critical; platform takes critical and warning; clusters in two AWS regions.
    expected = {
        ("us-east-1", "critical", "oncall@example.com"),
        ("us-east-1", "critical", "platform-team@example.com"),
        ("us-east-1", "warning", "platform-team@example.com"),
        ("us-west-2", "critical", "oncall@example.com"),
        ("us-west-2", "critical", "platform-team@example.com"),
        ("us-west-2", "warning", "platform-team@example.com"),
    }
    assert sorted(topics) == sorted({(r, s) for r, s, _ in expected})
    assert subscribed == {
        (region, f"arn:aws:sns:{region}:123456789012:{topics[(region, sev)].name}", email)
        for region, sev, email in expected
    }


def test_a_severity_no_receiver_takes_has_no_topic(dev: Graph) -> None:
    # dev routes only critical: its warnings stay on the dashboards.
    assert sorted(t.inputs["name"] for t in _topics(dev)) == ["inferstack-dev-alerts-critical"]


def test_topics_are_encrypted_with_a_rotated_key_the_alarm_services_may_use(prod: Graph) -> None:
    keys = {r.name: r for r in prod.resources if r.type == KEY}
    for topic in _topics(prod):
        key_arn = topic.inputs.get("kmsMasterKeyId")
        assert key_arn, f"{topic.name} is not encrypted"
        key = keys[key_arn.rsplit(":", 1)[1]]
        assert key.inputs["enableKeyRotation"] is True
        assert _region(key) == _region(topic)
        services = [s for s in json.loads(key.inputs["policy"])["Statement"] if "Service" in s["Principal"]]
        assert len(services) == 1
        assert sorted(services[0]["Principal"]["Service"]) == [
            "cloudwatch.amazonaws.com",
            "events.amazonaws.com",
        ]
        assert services[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_every_severity_a_rule_emits_can_be_routed() -> None:
    emitted = {
        rule["labels"]["severity"]
        for group in rule_groups(Monitoring())
        for rule in group.rules
        if "alert" in rule
    }
    assert emitted, "no alerting rule"
    assert emitted <= {s.value for s in AlertSeverity}


def test_prod_routes_every_severity_a_rule_emits(prod: Graph) -> None:
    emitted = {r["labels"]["severity"] for g in rule_groups(Monitoring()) for r in g.rules if "alert" in r}
    routed = {t.inputs["name"].rsplit("-", 1)[1] for t in _topics(prod)}
    assert emitted - routed == set(), "prod leaves a severity on the dashboards only"


def test_topics_are_created_once_per_region_provider_and_shared_with_later_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CloudWatch alarms and Alertmanager both ask for a region's topics: the second ask must not
    create a second set (same names, so the deployment would fail)."""
    made: list[str] = []

    class Fake:
        def __init__(self, name: str, **_: object) -> None:
            made.append(name)
            self.topics = {AlertSeverity.CRITICAL: object()}

    monkeypatch.setattr(alerting, "AlertTopics", Fake)
    monkeypatch.setattr(alerting, "_BUILT", {})
    settings = cast(Settings, object())
    east, west = cast(aws.Provider, object()), cast(aws.Provider, object())
    first = alerting.alert_topics(settings, "us-east-1", east)
    assert alerting.alert_topics(settings, "us-east-1", east) is first
    assert alerting.alert_topics(settings, "us-west-2", west) is not first
    assert made == ["alerts-us-east-1", "alerts-us-west-2"]
