"""Where an alert leaves AWS: one SNS topic per severity in each region that runs a cluster.

Alertmanager's routes and the clouds' own alarms (CloudWatch alarms, EventBridge rules) deliver to
the same topics, so a receiver hears an alert of its severity whichever system raised it. Every
caller gets the topics of a region from ``alert_topics``; they are created once per region and
stack run, whoever asks first.

A topic exists for each severity that some receiver of the stack takes (`monitoring.receivers`);
a severity no receiver takes has no topic and stays on the dashboards, as docs/settings.md says.
Each receiver's addresses are e-mail subscriptions of its severities' topics (AWS sends each
address a confirmation message first).

The topics are encrypted with a customer-managed key of their own per region. A service that
publishes to an encrypted topic must be able to use its key: CloudWatch alarms and EventBridge are
allowed to in the key policy, for this account's resources only
(https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html);
EventBridge is also allowed to publish in the topic policy, which CloudWatch alarms of the account
do not need (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.settings import AlertSeverity, Settings

KEY_DELETION_WINDOW_DAYS = 30
PUBLISHING_SERVICES = ("cloudwatch.amazonaws.com", "events.amazonaws.com")
"""The AWS services that deliver the clouds' alarms to the topics."""

_BUILT: dict[int, tuple[aws.Provider, dict[AlertSeverity, aws.sns.Topic]]] = {}
"""Topics per region provider of this run (a provider is created once per region and run)."""


def severities(settings: Settings) -> list[AlertSeverity]:
    """The severities some receiver takes, in the order the settings declare them."""
    return [s for s in AlertSeverity if any(s in r.severities for r in settings.monitoring.receivers)]


def topic_name(severity: AlertSeverity) -> str:
    """<project>-<stack>-alerts-<severity>: two stacks in one account never share a topic."""
    return f"{pulumi.get_project()}-{pulumi.get_stack()}-alerts-{severity.value}"


def _key_policy(provider: aws.Provider) -> pulumi.Output[str]:
    identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider))

    def document(caller_arn: str, account: str) -> str:
        partition = caller_arn.split(":")[1]
        statements = [
            {
                "Sid": "AccountAdministersTheKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "AlarmServicesOfThisAccountPublish",
                "Effect": "Allow",
                "Principal": {"Service": list(PUBLISHING_SERVICES)},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            },
        ]
        return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)

    return pulumi.Output.all(identity.arn, identity.account_id).apply(lambda a: document(a[0], a[1]))


def _topic_policy(topic_arn: str, account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EventBridgeOfThisAccountPublishes",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            ],
        },
        sort_keys=True,
    )


class AlertTopics(pulumi.ComponentResource):
    """The alert topics of one region, their key and their e-mail subscriptions."""

    def __init__(
        self,
        name: str,
        *,
        settings: Settings,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("inferstack:aws:AlertTopics", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        tags = {**settings.tags, "component": "monitoring"}
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{pulumi.get_project()}-{pulumi.get_stack()} alert topics",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=_key_policy(provider),
            tags={**tags, "Name": f"{name}-key"},
            # Deleting the key would make every message still queued for delivery unreadable.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=settings.is_prod)),
        )
        account = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(provider=provider)
        ).account_id
        self.topics: dict[AlertSeverity, aws.sns.Topic] = {}
        for severity in severities(settings):
            topic = aws.sns.Topic(
                f"{name}-{severity.value}",
                name=topic_name(severity),
                kms_master_key_id=key.arn,
                tags={**tags, "severity": severity.value},
                opts=child,
            )
            aws.sns.TopicPolicy(
                f"{name}-{severity.value}",
                arn=topic.arn,
                policy=pulumi.Output.all(topic.arn, account).apply(lambda a: _topic_policy(a[0], a[1])),
                opts=child,
            )
            addresses = sorted(
                {e for r in settings.monitoring.receivers if severity in r.severities for e in r.emails}
            )
            for address in addresses:
                aws.sns.TopicSubscription(
                    f"{name}-{severity.value}-{address}",
                    topic=topic.arn,
                    protocol="email",
                    endpoint=address,
                    opts=child,
                )
            self.topics[severity] = topic
        self.register_outputs({})


def alert_topics(
    settings: Settings, region: str, provider: aws.Provider
) -> dict[AlertSeverity, aws.sns.Topic]:
    """The topics of `region`, one per severity a receiver takes; created on the first call for the
    region's provider and shared by every later caller (Alertmanager, CloudWatch alarms)."""
    built = _BUILT.get(id(provider))
    if built is None or built[0] is not provider:
        topics = AlertTopics(f"alerts-{region}", settings=settings, provider=provider).topics
        _BUILT[id(provider)] = (provider, topics)
        return topics
    return built[1]
