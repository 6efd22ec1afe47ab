"""Where every EKS cluster's metrics meet: one Amazon Managed Service for Prometheus workspace.

Each cluster's Prometheus sees only its own cluster, so "no ready replica in any core region"
cannot be a rule there. Every EKS cluster's Prometheus remote-writes to this workspace (the
writers' side is ``infra.parts.MetricsStore``), with the external label ``cluster=<name>``
(``infra.k8s.monitoring.external_labels``), and the workspace's managed ruler evaluates the rule
groups over all of them (``infra.monitoring.rules.core_regions_group``); its alert manager
routes each severity to that severity's SNS topic in the workspace's region
(``infra.aws.alerting``), the topics every other alert of the stack goes to.

Created once per stack, in its first EKS region (core clusters first, in stack-file order):
never the database's primary region, which a switchover moves, and a workspace whose provider
changes is replaced with its history.

- The workspace is encrypted with its own customer-managed key; a workspace created with an
  AWS-owned key cannot be converted later (AMP User Guide, "Encryption at rest":
  https://docs.aws.amazon.com/prometheus/latest/userguide/encryption-at-rest-Amazon-Service-Prometheus.html).
  The account administers the key through IAM, so the principal that creates the workspace may
  create the grants AMP asks for; CloudWatch Logs may use it for the workspace's log group only.
- Rule evaluation and alert delivery errors are logged to a CloudWatch log group, encrypted with
  the same key and kept as long as the stack's other logs. The log group's ARN must end in ``:*``
  (AMP API Reference, CreateLoggingConfiguration:
  https://docs.aws.amazon.com/prometheus/latest/APIReference/API_CreateLoggingConfiguration.html).
- The alert manager accepts only SNS receivers, each with a ``sigv4.region``, and no ``api_url``
  or ``http_config`` (AMP User Guide, "Configure alert manager to send messages to your Amazon SNS
  topic": https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-alertmanager-receiver-config.html);
  the definition is YAML whose ``alertmanager_config`` key holds Alertmanager's own configuration
  as a string (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-alertmanager-config.html).
- Samples are kept 150 days, the workspace default (AMP service quotas; the retention is
  configurable since 2025 through a workspace configuration, which the stack does not set).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import yaml

from infra.aws.stores import account_administers_key, logs_may_use_key
from infra.monitoring.rules import RuleGroup, rule_file
from infra.naming import AUTONAMED_MAX, resource_name

INHIBITIONS: tuple[tuple[str, str], ...] = (("NoReadyReplicaInAnyCoreRegion", "CoreCapacityDegraded"),)
"""(source, target) alert names: while the source fires, the target is not sent. With one or two
core clusters both fire on the same outage; the page says it all."""


def alert_manager_definition(topic_arns: Mapping[str, str], region: str) -> str:
    """The alert manager definition: one receiver per severity, publishing to that severity's topic;
    an alert without a known severity goes to the warning topic rather than nowhere."""
    receivers = [
        {"name": severity, "sns_configs": [{"topic_arn": arn, "sigv4": {"region": region}}]}
        for severity, arn in sorted(topic_arns.items())
    ]
    config: dict[str, Any] = {
        "route": {
            "receiver": "warning",
            "group_by": ["alertname"],
            "routes": [
                {"matchers": [f'severity="{severity}"'], "receiver": severity}
                for severity in sorted(topic_arns)
            ],
        },
        "inhibit_rules": [
            {"source_matchers": [f'alertname="{source}"'], "target_matchers": [f'alertname="{target}"']}
            for source, target in INHIBITIONS
        ],
        "receivers": receivers,
    }
    return yaml.safe_dump({"alertmanager_config": yaml.safe_dump(config, sort_keys=False)}, sort_keys=False)


def key_policy(*, account: str, partition: str, region: str, log_group_arn: str) -> str:
    """The account administers the key through IAM; CloudWatch Logs may use it for the workspace's
    log group (CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS":
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                account_administers_key(partition, account),
                logs_may_use_key("WorkspaceLogGroup", region, log_group_arn),
            ],
        },
        sort_keys=True,
    )


@dataclass
class MetricsWorkspaceArgs:
    alias: str
    """The workspace's alias and the stem of its log group: <project>-<stack>."""
    region: str
    groups: Sequence[RuleGroup]
    """The rule groups over every cluster that writes here; none leaves the namespace out."""
    topic_arns: Mapping[str, pulumi.Input[str]]
    """Severity -> the alert topic of that severity in ``region``."""
    log_retention_days: int
    protect: bool = False
    tags: dict[str, str] = field(default_factory=dict)


class MetricsWorkspace(pulumi.ComponentResource):
    """The stack's AMP workspace, its rules, its alert manager and its log group."""

    workspace: aws.amp.Workspace
    remote_write_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: MetricsWorkspaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("inferstack:aws:MetricsWorkspace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke).partition
        log_group_name = f"/aws/vendedlogs/prometheus/{args.alias}"
        stem = resource_name(name, max_len=AUTONAMED_MAX)

        key = aws.kms.Key(
            stem,
            description=f"inferstack metrics workspace {args.alias}: samples, rules and their log group",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(partition, identity.account_id).apply(
                lambda v: key_policy(
                    account=v[1],
                    partition=v[0],
                    region=args.region,
                    log_group_arn=f"arn:{v[0]}:logs:{args.region}:{v[1]}:log-group:{log_group_name}",
                )
            ),
            tags={**args.tags, "Name": stem},
            opts=kept,
        )
        aws.kms.Alias(stem, name=f"alias/prometheus/{args.alias}", target_key_id=key.key_id, opts=child)
        log_group = aws.cloudwatch.LogGroup(
            stem,
            name=log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=key.arn,
            tags={**args.tags, "Name": stem},
            opts=child,
        )
        self.workspace = aws.amp.Workspace(
            stem,
            alias=args.alias,
            kms_key_arn=key.arn,
            logging_configuration=aws.amp.WorkspaceLoggingConfigurationArgs(
                log_group_arn=log_group.arn.apply(lambda arn: f"{arn}:*")
            ),
            tags={**args.tags, "Name": stem},
            opts=kept,
        )
        if args.groups:
            aws.amp.RuleGroupNamespace(
                stem,
                name="inferstack-global",
                workspace_id=self.workspace.id,
                data=yaml.safe_dump(rule_file(args.groups), sort_keys=False),
                tags={**args.tags, "Name": stem},
                opts=child,
            )
        aws.amp.AlertManagerDefinition(
            stem,
            workspace_id=self.workspace.id,
            definition=pulumi.Output.all(**dict(args.topic_arns)).apply(
                lambda arns: alert_manager_definition(arns, args.region)
            ),
            opts=child,
        )
        self.remote_write_url = self.workspace.prometheus_endpoint.apply(
            lambda url: f"{url}api/v1/remote_write"
        )
        self.register_outputs({"workspaceArn": self.workspace.arn, "remoteWriteUrl": self.remote_write_url})
