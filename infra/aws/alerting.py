"""Where the AWS side of the stack's alerts goes: one SNS topic per (region, severity).

Creates, in one region: a customer-managed KMS key (rotated yearly) that encrypts the topics;
one topic per severity (critical, warning, info) encrypted with it; a topic policy per topic that
lets the account's CloudWatch alarms and EventBridge rules publish (the account's own principals
publish through their IAM policies); and an e-mail
subscription per address of every receiver (settings: ``monitoring.receivers``) that takes that
severity. A severity no receiver takes still has its topic, so that an alarm always has somewhere
to publish and a receiver added later hears it without touching the alarms.

Why the key policy names two services: an SNS topic encrypted with a customer-managed key accepts
a message only from a publisher that may use the key. CloudWatch alarms and EventBridge publish as
their service principals, so the key policy lets ``cloudwatch.amazonaws.com`` and
``events.amazonaws.com`` call ``kms:GenerateDataKey*`` and ``kms:Decrypt`` on it (EventBridge User
Guide, "Permissions for encrypted Amazon SNS topics":
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions;
CloudWatch User Guide, "Using Amazon CloudWatch alarms", encrypted SNS topics:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html). The topic
policy grants ``sns:Publish`` to ``events.amazonaws.com`` (the same EventBridge page): a rule's SNS
target carries no role, it is the topic's resource policy that admits the rule. Both grants are
limited to this account with ``aws:SourceAccount``.

The managed Prometheus workspace's alert manager (``aps.amazonaws.com``, infra/aws/amp.py) publishes
the rules over every core cluster to the topics of its region. Its grants are the same two, plus
``sns:GetTopicAttributes``, which it calls before publishing (AMP User Guide, "Giving Amazon Managed
Service for Prometheus permission to send alert messages to your Amazon SNS topic", which also asks
for the key grant on an encrypted topic:
https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-alertmanager-receiver-AMPpermission.html).
Every topic admits it, limited to this account, so that the workspace's region can be any region
with topics and a later move of the workspace needs no policy change.

An e-mail subscription stays "pending confirmation" until its recipient follows the link SNS sends;
Pulumi does not wait for that (the provider's documented behaviour for the email protocol).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.aws.stores import account_administers_key
from infra.naming import AUTONAMED_MAX, resource_name
from infra.settings import AlertSeverity, Settings

SEVERITIES: tuple[str, ...] = tuple(s.value for s in AlertSeverity)
"""critical, warning, info: the severities the stack's receivers subscribe to."""

ALERT_MANAGER = "aps.amazonaws.com"
"""Amazon Managed Service for Prometheus: the alert manager of the stack's workspace (infra/aws/amp.py)."""

PUBLISHERS: tuple[str, ...] = ("cloudwatch.amazonaws.com", "events.amazonaws.com", ALERT_MANAGER)
"""The service principals that publish the stack's alerts: alarms, EventBridge rules, and the
managed Prometheus workspace's alert manager."""


def _key_policy(partition: str, account: str) -> str:
    """The account administers the key through IAM (AWS's default key policy); the publishers may
    encrypt messages for the topics, for this account's alarms, rules and alert manager only."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                account_administers_key(partition, account),
                {
                    "Sid": "AlarmsRulesAndAlertManagerPublishToEncryptedTopics",
                    "Effect": "Allow",
                    "Principal": {"Service": list(PUBLISHERS)},
                    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
            ],
        },
        sort_keys=True,
    )


def topic_policy(topic_arn: str, account: str) -> str:
    """Who may publish to one alert topic besides the account's own principals (whose IAM policies
    suffice within the account): the account's CloudWatch alarms, EventBridge rules and managed
    Prometheus alert manager."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AlarmsAndRulesPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": list(PUBLISHERS)},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
                {
                    "Sid": "AlertManagerReadsTheTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": ALERT_MANAGER},
                    "Action": "sns:GetTopicAttributes",
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
            ],
        },
        sort_keys=True,
    )


def alert_topics(settings: Settings, region: str, provider: aws.Provider) -> dict[str, aws.sns.Topic]:
    """The encrypted alert topic of each severity in ``region``, with its receivers subscribed."""
    invoke = pulumi.InvokeOutputOptions(provider=provider)
    identity = aws.get_caller_identity_output(opts=invoke)
    partition = aws.get_partition_output(opts=invoke).partition
    opts = pulumi.ResourceOptions(provider=provider)
    stem = f"alerts-{region}"
    key = aws.kms.Key(
        resource_name(stem, max_len=AUTONAMED_MAX),
        description=f"inferstack alert topics in {region}",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=pulumi.Output.all(partition, identity.account_id).apply(lambda v: _key_policy(v[0], v[1])),
        tags={**settings.tags, "component": "monitoring", "Name": stem},
        opts=pulumi.ResourceOptions(provider=provider, protect=settings.is_prod),
    )
    topics: dict[str, aws.sns.Topic] = {}
    for severity in SEVERITIES:
        name = resource_name(stem, severity, max_len=AUTONAMED_MAX)
        topic = aws.sns.Topic(
            name,
            display_name=f"inferstack {severity}",
            kms_master_key_id=key.arn,
            tags={**settings.tags, "component": "monitoring", "severity": severity, "Name": name},
            opts=opts,
        )
        aws.sns.TopicPolicy(
            name,
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, identity.account_id).apply(
                lambda v: topic_policy(v[0], v[1])
            ),
            opts=opts,
        )
        for receiver in settings.monitoring.receivers:
            if severity not in {s.value for s in receiver.severities}:
                continue
            for k, email in enumerate(receiver.emails):
                aws.sns.TopicSubscription(
                    resource_name(stem, severity, receiver.name, str(k + 1), max_len=AUTONAMED_MAX),
                    topic=topic.arn,
                    protocol="email",
                    endpoint=email,
                    opts=opts,
                )
        topics[severity] = topic
    return topics
