"""What the AWS data stores share: where a store lives (its region's provider, a core cluster's
private subnets, the client ranges it admits) and a customer-managed key per store.

The key policy lets the account administer the key through IAM, as AWS's default key policy
does, so that no principal outside the account and no wildcard principal is ever named (S12).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

LOGS_KEY_ACTIONS = ("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*")
"""What CloudWatch Logs needs of a key that encrypts a log group (CloudWatch Logs User Guide,
"Encrypt log data in CloudWatch Logs using AWS KMS":
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""


def account_administers_key(partition: str, account: str) -> dict[str, Any]:
    """The key-policy statement of AWS's default key policy: the account administers the key through
    IAM, so that IAM policies, not the key policy, say who else may use it."""
    return {
        "Sid": "AccountAdministersTheKeyThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def logs_may_use_key(
    sid: str, region: str, log_group_arn: str, *, like: bool = False, dns_suffix: str = "amazonaws.com"
) -> dict[str, Any]:
    """A key-policy statement letting CloudWatch Logs of ``region`` use the key for the log groups
    ``log_group_arn`` names (one ARN; with ``like``, a pattern), through the encryption context
    CloudWatch Logs sends."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.{dns_suffix}"},
        "Action": list(LOGS_KEY_ACTIONS),
        "Resource": "*",
        "Condition": {
            "ArnLike" if like else "ArnEquals": {"kms:EncryptionContext:aws:logs:arn": log_group_arn}
        },
    }


def key_policy(provider: pulumi.ProviderResource, region: str, *, logs: bool = False) -> pulumi.Output[str]:
    """The account administers the key through IAM, as in AWS's default key policy; with `logs`,
    CloudWatch Logs of this region may also use it, for this account's log groups only."""
    identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider))

    def document(caller_arn: str, account: str) -> str:
        partition = caller_arn.split(":")[1]
        statements: list[dict[str, Any]] = [account_administers_key(partition, account)]
        if logs:
            statements.append(
                logs_may_use_key(
                    "CloudWatchLogsOfThisAccount",
                    region,
                    f"arn:{partition}:logs:{region}:{account}:log-group:*",
                    like=True,
                )
            )
        return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)

    return pulumi.Output.all(identity.arn, identity.account_id).apply(lambda a: document(a[0], a[1]))


def customer_managed_key(
    name: str,
    *,
    description: str,
    provider: pulumi.ProviderResource,
    region: str,
    tags: Mapping[str, str],
    protect: bool,
    parent: pulumi.Resource,
    logs: bool = False,
) -> aws.kms.Key:
    """A symmetric CMK with yearly rotation and a 30-day deletion window (S12)."""
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=key_policy(provider, region, logs=logs),
        tags={**tags, "Name": name},
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, protect=protect),
    )


def check_cidrs(where: str, cidrs: Sequence[str]) -> None:
    if not cidrs:
        raise ValueError(f"{where}: empty; name the CIDRs that may connect")
    for cidr in cidrs:
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            raise ValueError(f"{where}: {cidr!r} is not a CIDR block") from None
        if net.prefixlen == 0:
            raise ValueError(f"{where}: {cidr!r} admits everyone; allowed: the private ranges of the clients")


_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


@dataclass(frozen=True, kw_only=True)
class StoreHome:
    """Where a data store lives: a region and the private network of a core cluster there."""

    region: str
    """AWS region of `provider`, e.g. "us-east-1"."""
    provider: aws.Provider
    """The explicit AWS provider of that region; every AWS child of the store uses it."""
    vpc_id: pulumi.Input[str]
    """VPC that holds the store (a core cluster's network)."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """Private subnets of that VPC, one per zone, for the store's subnet group."""
    zones: Sequence[str]
    """Zones of those subnets, in order; node or instance i goes to zones[i % len(zones)]."""
    allowed_cidrs: Sequence[str]
    """Client ranges admitted on the store's port (the core clusters' private subnets)."""

    def __post_init__(self) -> None:
        where = type(self).__name__
        if not _REGION.match(self.region):
            raise ValueError(f"{where}.region={self.region!r}: expected a region such as 'us-east-1'")
        zones = list(self.zones)
        if not zones or len(set(zones)) != len(zones):
            raise ValueError(f"{where}.zones={zones!r}: must be a non-empty list of distinct zones")
        check_cidrs(f"{where}.allowed_cidrs", list(self.allowed_cidrs))


def tls_only_policy(bucket_arn: str, grants: Sequence[Mapping[str, Any]] = ()) -> str:
    """Refuse every request that does not come over TLS (S3: the aws:SecureTransport condition);
    ``grants`` are the statements a service that writes into the bucket needs besides."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyPlainHttp",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                *grants,
            ],
        },
        sort_keys=True,
    )


def private_bucket_with_policy(
    stem: str,
    *,
    key: aws.kms.Key,
    noncurrent_days: int,
    lifecycle_id: str,
    child: pulumi.ResourceOptions,
    kept: pulumi.ResourceOptions,
    bucket_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    expire_days: int | None = None,
    grants: Callable[[str], pulumi.Input[Sequence[Mapping[str, Any]]]] | None = None,
) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
    """An S3 bucket only its account reaches, over TLS: owner-enforced, every public access blocked,
    versioned, SSE-KMS with ``key`` (and a bucket key), superseded versions expired after
    ``noncurrent_days`` and abandoned uploads after 7 days. Children are named ``<stem>-<part>``;
    the bucket itself takes ``kept`` (protect it where it holds what cannot be rebuilt).

    ``expire_days``: current objects expire after that many days too (a log bucket's retention).
    ``grants(bucket_arn)``: policy statements added to the TLS-only policy (a service that delivers
    into the bucket).
    """
    bucket = aws.s3.Bucket(stem, bucket=bucket_name, tags=dict(tags) if tags else None, opts=kept)
    aws.s3.BucketOwnershipControls(
        f"{stem}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=child,
    )
    aws.s3.BucketPublicAccessBlock(
        f"{stem}-private",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    versioning = aws.s3.BucketVersioning(
        f"{stem}-versions",
        bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        opts=child,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{stem}-encryption",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms", kms_master_key_id=key.arn
                ),
                bucket_key_enabled=True,
            )
        ],
        opts=child,
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{stem}-lifecycle",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id=lifecycle_id,
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=noncurrent_days
                ),
                expiration=(
                    aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_days)
                    if expire_days is not None
                    else None
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7
                ),
            )
        ],
        # S3 refuses a lifecycle configuration with noncurrent-version rules before versioning is on.
        opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[versioning])),
    )
    policy = (
        bucket.arn.apply(tls_only_policy)
        if grants is None
        else bucket.arn.apply(
            lambda arn: pulumi.Output.from_input(grants(arn)).apply(lambda g: tls_only_policy(arn, g))
        )
    )
    return bucket, aws.s3.BucketPolicy(f"{stem}-tls-only", bucket=bucket.id, policy=policy, opts=child)


def private_bucket(stem: str, **kwargs: Any) -> aws.s3.Bucket:
    """``private_bucket_with_policy``'s bucket, for callers that need nothing to wait for its policy."""
    return private_bucket_with_policy(stem, **kwargs)[0]
