"""The model store of one AWS region: the bucket the model servers stream their weights from.

Creates, in the region of its provider:
- a customer-managed KMS key (yearly rotation) and an S3 bucket encrypted with it (SSE-KMS with
  an S3 Bucket Key, so that streaming hundreds of GiB does not become millions of KMS calls),
  versioned, with every public access block on, object ownership enforced (no ACLs), a policy
  that refuses plain HTTP, and a lifecycle rule that expires superseded copies of the weights
  and abandoned multipart uploads;
- per EKS cluster that serves from it, an IAM role only EKS Pod Identity can assume, allowed to
  list the bucket, read its objects and decrypt them with its key, and nothing else, and the Pod
  Identity association that hands the role to the model servers' service account.

No keys, no IRSA annotation: the EKS Pod Identity agent (an add-on every cluster installs) serves
the role's credentials to pods of that service account. Its webhook mounts a token of its own
(audience pods.eks.amazonaws.com, under /var/run/secrets/pods.eks.amazonaws.com/serviceaccount)
and sets AWS_CONTAINER_CREDENTIALS_FULL_URI / AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, so the pods
keep automountServiceAccountToken false (EKS user guide, "Understand how EKS Pod Identity works"
and "Assign an IAM role to a Kubernetes service account"). Traffic to S3 stays on the VPC's S3
gateway endpoint (infra/aws/network.py), never the NAT.

Who fills the bucket (a one-off copy from Hugging Face) does so as an account principal through
IAM; the store grants nobody else anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.aws.stores import customer_managed_key, private_bucket
from infra.naming import AUTONAMED_MAX, resource_name

POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
NONCURRENT_DAYS = 30
"""Superseded copies of the weights are kept this long: long enough to roll back a bad re-upload."""


def pod_identity_trust(account: str) -> str:
    """Only EKS Pod Identity of this account assumes the role (and tags the session, as it must)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": POD_IDENTITY_SERVICE},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            ],
        },
        sort_keys=True,
    )


def read_policy(bucket_arn: str, key_arn: str) -> str:
    """List the bucket, read its objects, decrypt them with its key: what streaming weights needs."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ListTheStore", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
                {
                    "Sid": "ReadTheWeights",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": f"{bucket_arn}/*",
                },
                {"Sid": "DecryptTheWeights", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn},
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True, kw_only=True)
class PodReader:
    """A service account of one EKS cluster whose pods may read the store."""

    name: str
    """Logical name of the reader (the cluster's name): prefixes its role and association."""
    cluster_name: pulumi.Input[str]
    """The EKS cluster's name (an output of the cluster, so that the association waits for it)."""
    namespace: str
    service_account: str


@dataclass(frozen=True, kw_only=True)
class AwsModelStoreArgs:
    region: str
    """AWS region of ``provider``: the store lives next to the clusters that read it."""
    provider: aws.Provider
    """The explicit AWS provider of that region; every child uses it."""
    readers: Sequence[PodReader]
    """The model servers' service accounts, one per EKS cluster of the region that serves."""
    tags: Mapping[str, str] = field(default_factory=dict)
    protect: bool = False
    """Keep the bucket and key from `pulumi destroy` (prod): refilling a store takes hours."""

    def __post_init__(self) -> None:
        if not self.readers:
            raise ValueError(
                f"AwsModelStoreArgs({self.region}).readers: empty; a store nobody reads is waste"
            )


class AwsModelStore(pulumi.ComponentResource):
    """A private, encrypted, versioned bucket of model weights, readable only by the serving pods."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    reader_role_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: AwsModelStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("inferstack:aws:ModelStore", name, None, opts)
        provider = args.provider
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        kept = pulumi.ResourceOptions(parent=self, provider=provider, protect=args.protect)
        tags = {**args.tags, "component": "model-store"}
        key = customer_managed_key(
            resource_name(name, "key", max_len=AUTONAMED_MAX),
            description=f"Encrypts the model weights of the {args.region} model store",
            provider=provider,
            region=args.region,
            tags=tags,
            protect=args.protect,
            parent=self,
        )
        bucket = private_bucket(
            name,
            key=key,
            noncurrent_days=NONCURRENT_DAYS,
            lifecycle_id="expire-superseded-weights",
            child=child,
            kept=kept,
            tags={**tags, "Name": name},
        )

        identity = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)
        )
        self.reader_role_arns = {}
        for reader in args.readers:
            role_name = resource_name(reader.name, "model-reader", max_len=AUTONAMED_MAX)
            role = aws.iam.Role(
                role_name,
                description=f"Model servers of {reader.name}: read the {args.region} model store",
                assume_role_policy=identity.account_id.apply(pod_identity_trust),
                max_session_duration=3600,
                tags={**tags, "Name": role_name},
                opts=child,
            )
            aws.iam.RolePolicy(
                f"{role_name}-read",
                role=role.id,
                policy=pulumi.Output.all(bucket.arn, key.arn).apply(lambda a: read_policy(a[0], a[1])),
                opts=child,
            )
            aws.eks.PodIdentityAssociation(
                f"{reader.name}-model-reader",
                cluster_name=reader.cluster_name,
                namespace=reader.namespace,
                service_account=reader.service_account,
                role_arn=role.arn,
                tags={**tags, "Name": f"{reader.name}-model-reader"},
                opts=child,
            )
            self.reader_role_arns[reader.name] = role.arn

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.key_arn = key.arn
        self.register_outputs({"bucket": bucket.bucket, "bucketArn": bucket.arn, "keyArn": key.arn})
