"""What the AWS data stores share: a customer-managed key per store, and the check of the
client ranges a store admits.

The key policy lets the account administer the key through IAM, as AWS's default key policy
does, so that no principal outside the account and no wildcard principal is ever named (S12).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence

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
