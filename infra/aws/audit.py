"""AWS audit: one CloudTrail trail per stack, so that every read of a secret and use of a key is on record.

Creates, in the region of its provider (the stack's first AWS cluster's region):

- a customer-managed KMS key (yearly rotation) that CloudTrail encrypts the log and digest files
  with. Its policy lets the account administer it through IAM (as every key of the platform), lets
  CloudTrail generate data keys only for this trail (``aws:SourceArn``) and within this account's
  trails' encryption context, and lets CloudTrail describe it (CloudTrail User Guide, "Configure AWS
  KMS key policies for CloudTrail",
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html);
- a private S3 bucket (``infra.aws.stores.private_bucket``: every public access block, owner
  enforced, versioned, SSE-KMS with that key, TLS only) whose policy adds the two statements
  CloudTrail needs, ``s3:GetBucketAcl`` on the bucket and ``s3:PutObject`` under
  ``AWSLogs/<account>/``, both for this trail only (``aws:SourceArn``; CloudTrail User Guide,
  "Amazon S3 bucket policy for CloudTrail",
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html).
  Log files expire after ``security.auditRetentionDays``;
- the trail: every region (``is_multi_region_trail``), global service events (IAM, STS), log file
  validation (signed hourly digests, so a deleted or edited log file is detectable), and one advanced
  event selector, ``eventCategory = Management``, with no ``readOnly`` or ``eventSource`` filter.

Why management events and not data events for the secrets and keys: Secrets Manager's
``GetSecretValue`` and KMS's ``Decrypt``/``GenerateDataKey`` are recorded by CloudTrail as
*management* events (read-only ones): a KMS call's record carries ``"managementEvent": true,
"eventCategory": "Management"`` (KMS Developer Guide, "GenerateDataKey" CloudTrail example,
https://docs.aws.amazon.com/kms/latest/developerguide/ct-generatedatakey.html), and Secrets Manager
writes an entry for every operation, ``GetSecretValue`` included
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/cloudtrail_log_entries.html). CloudTrail
has no data-event resource type for either service (the ``resources.type`` table of "Logging data
events"), and the only management-event filters it accepts are ``readOnly``, ``eventCategory`` and
``eventSource`` (``NotEquals kms.amazonaws.com`` to drop KMS events; API Reference,
AdvancedFieldSelector): so recording every read of the platform's secrets and keys means recording
every management event, reads included, and excluding no event source. ``management_selector``
holds that rule and the tests check it.

No CloudWatch Logs delivery: management events with KMS reads run to millions a month in a busy
account, and CloudWatch Logs bills ingestion per GB (several times the S3 storage of the same
events for the whole retention); the S3 copy, queried with Athena when needed, is the record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws.stores import account_administers_key, private_bucket_with_policy

CLOUDTRAIL = "cloudtrail.amazonaws.com"
NONCURRENT_DAYS = 30
"""A log file overwritten or deleted stays this long as a non-current version (the bucket is
versioned), so that tampering is recoverable as well as detectable by the digests."""


@dataclass(frozen=True, kw_only=True)
class AccountAuditArgs:
    trail_name: str
    """The trail's physical name: the key and bucket policies name the trail's ARN before it exists."""
    region: str
    """The trail's home region (the provider's): where the bucket and the key live."""
    retention_days: int
    """How long log files are kept (``security.auditRetentionDays``)."""
    protect: bool = False
    """Protect the bucket and the key from deletion (prod)."""
    tags: Mapping[str, str] = field(default_factory=dict)


def management_selector() -> list[aws.cloudtrail.TrailAdvancedEventSelectorArgs]:
    """Every management event, reads included, of every service, KMS and Secrets Manager included."""
    return [
        aws.cloudtrail.TrailAdvancedEventSelectorArgs(
            name="Management events, reads and writes, KMS and Secrets Manager included",
            field_selectors=[
                aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                    field="eventCategory", equals=["Management"]
                )
            ],
        )
    ]


def trail_arn(partition: str, region: str, account: str, name: str) -> str:
    return f"arn:{partition}:cloudtrail:{region}:{account}:trail/{name}"


def key_policy(partition: str, account: str, trail: str) -> str:
    """The account administers the key through IAM (readers of the logs need ``kms:Decrypt`` in their
    own IAM policy); CloudTrail encrypts for this trail only and may describe the key."""
    statements: list[dict[str, Any]] = [
        account_administers_key(partition, account),
        {
            "Sid": "CloudTrailEncryptsThisTrailsLogs",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceArn": trail},
                "StringLike": {
                    "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:{partition}:cloudtrail:*:{account}:trail/*"
                },
            },
        },
        {
            "Sid": "CloudTrailDescribesTheKey",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def delivery_grants(bucket_arn: str, account: str, trail: str) -> list[dict[str, Any]]:
    """What CloudTrail needs on the bucket, for this trail only."""
    only_this_trail = {"aws:SourceArn": trail}
    return [
        {
            "Sid": "CloudTrailChecksTheAcl",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": {"StringEquals": only_this_trail},
        },
        {
            "Sid": "CloudTrailWritesLogs",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/AWSLogs/{account}/*",
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **only_this_trail}},
        },
    ]


class AccountAudit(pulumi.ComponentResource):
    """The stack's CloudTrail trail, its encrypted bucket and its key."""

    trail: aws.cloudtrail.Trail
    bucket: aws.s3.Bucket
    key: aws.kms.Key

    def __init__(self, name: str, args: AccountAuditArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:aws:AccountAudit", name, None, opts)
        if not 1 <= args.retention_days <= 3653:
            raise ValueError(f"AccountAuditArgs.retention_days={args.retention_days}: allowed 1..3653")
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = identity.arn.apply(lambda arn: arn.split(":")[1])
        account = identity.account_id
        arn = pulumi.Output.all(partition, account).apply(
            lambda v: trail_arn(v[0], args.region, v[1], args.trail_name)
        )
        tags = dict(args.tags)
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"CloudTrail log files of {args.trail_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(partition, account, arn).apply(lambda v: key_policy(v[0], v[1], v[2])),
            tags={**tags, "Name": f"{name}-key"},
            opts=kept,
        )
        self.bucket, bucket_policy = private_bucket_with_policy(
            f"{name}-logs",
            key=self.key,
            noncurrent_days=NONCURRENT_DAYS,
            lifecycle_id="audit-retention",
            child=child,
            kept=kept,
            tags={**tags, "Name": f"{name}-logs"},
            expire_days=args.retention_days,
            grants=lambda bucket_arn: pulumi.Output.all(account, arn).apply(
                lambda v: delivery_grants(bucket_arn, v[0], v[1])
            ),
        )
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=args.trail_name,
            s3_bucket_name=self.bucket.id,
            kms_key_id=self.key.arn,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            advanced_event_selectors=management_selector(),
            tags={**tags, "Name": args.trail_name},
            # CloudTrail checks the bucket policy when the trail is created.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[bucket_policy])),
        )
        self.register_outputs({"trailArn": self.trail.arn, "bucket": self.bucket.id})
