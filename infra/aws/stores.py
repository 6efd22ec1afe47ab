"""What the AWS data stores share: where a store lives (its region's provider, a core cluster's
private subnets, the client ranges it admits) and a customer-managed key per store.

The key policy lets the account administer the key through IAM, as AWS's default key policy
does, so that no principal outside the account and no wildcard principal is ever named (S12).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


def key_policy(provider: pulumi.ProviderResource, region: str, *, logs: bool = False) -> pulumi.Output[str]:
    """The account administers the key through IAM, as in AWS's default key policy; with `logs`,
    CloudWatch Logs of this region may also use it, for this account's log groups only."""
    identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider))

    def document(caller_arn: str, account: str) -> str:
        partition = caller_arn.split(":")[1]
        statements: list[dict[str, object]] = [
            {
                "Sid": "AccountAdministersTheKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
        if logs:
            statements.append(
                {
                    "Sid": "CloudWatchLogsOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:log-group:*"
                        }
                    },
                }
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
