"""What one AWS account needs before the first `pulumi up` of any platform stack.

The platform's stacks cannot create the things their own first run depends on, so a separate,
small project (``bootstrap/``, one stack per account) creates them once:

  - the **state backend**: an S3 bucket for Pulumi's DIY backend (``pulumi login s3://...``),
    versioned so that every state file an update replaces can be restored, encrypted with a
    customer-managed key, with every public-access switch on, bucket-owner-enforced ownership and
    a policy that refuses plain HTTP. Pulumi's DIY backends lock a stack with a lock file by
    default ("Using a DIY backend": "A basic file-based locking system is enabled by default for
    all DIY backends"), so two updates of one stack cannot interleave;
  - a **secrets key per platform stack** (``alias/inferstack-<stack>-secrets``): the stack's
    ``secretsprovider`` (``awskms://alias/...?region=...``) encrypts its config secrets with it,
    so ``pulumi config set --secret`` works for anyone, or any CI job, allowed to use that key;
  - **CI identities** through GitHub's OIDC provider, without a long-lived key: a preview role that
    pull requests of the repository assume (read-only, state and secrets usable), and a deploy
    role per environment that only a workflow job bound to the GitHub environment of that name can
    assume (AWS IAM user guide, "Configuring a role for GitHub OIDC identity provider": the `sub`
    claim is `repo:<owner>/<repo>:pull_request` for pull requests and
    `repo:<owner>/<repo>:environment:<name>` for jobs that name an environment);
  - the **Auto Scaling service-linked role**, which the EKS stacks' key policies name: KMS refuses
    a key policy whose principal does not exist (MalformedPolicyDocumentException), and the role is
    only created by AWS on an account's first Auto Scaling group, which comes after the key;
  - the **deploy runner** (``infra.bootstrap.runner``): a small VPC and a CodeBuild-hosted GitHub
    Actions runner in it. A runner created by a platform stack could not carry that stack's first
    `pulumi up`, so it lives here; the platform stacks peer their private clusters with its VPC.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.aws.stores import customer_managed_key, private_bucket
from infra.bootstrap.runner import RUNS_ON, DeployRunner
from infra.bootstrap.settings import BootstrapSettings, StackEntry

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"
"""The audience the official aws-actions/configure-aws-credentials action asks GitHub for."""

READ_ONLY_POLICY = "ReadOnlyAccess"
DEPLOY_POLICY = "AdministratorAccess"
"""A platform stack creates IAM roles, KMS keys, EKS clusters and their access entries: a narrower
policy would have to be kept in step with every layer. The trust policy is what is narrow: only a
job bound to the protected GitHub environment of the role's environment can assume it."""


def github_trust(*, provider_arn: str, repository: str, subjects: Sequence[str]) -> str:
    """Trust for GitHub's OIDC tokens of exactly these subjects, with the STS audience."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            "token.actions.githubusercontent.com:aud": GITHUB_OIDC_AUDIENCE,
                            "token.actions.githubusercontent.com:sub": [
                                f"repo:{repository}:{s}" for s in subjects
                            ],
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


DEPLOY_SESSION_SECONDS = 4 * 3600
"""How long a deploy job's credentials last: a first prod up (EKS, node groups, an Aurora global
database) runs past an hour, and credentials that expire mid-apply leave a pending operation. IAM
allows 1-12 hours (IAM API reference, CreateRole MaxSessionDuration); the workflow asks for as much."""

KEPT_KUBECONFIGS = "inferstack/"
"""Name prefix of the Secrets Manager secrets that hold existing clusters' kubeconfigs
(``kubeconfigFrom.awsSecretArn``), which a preview reads as an apply does."""


def kept_kubeconfigs_access(*, partition: str, account: str) -> str:
    """Read the kubeconfigs kept in Secrets Manager: ReadOnlyAccess does not include GetSecretValue."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadKeptKubeconfigs",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": f"arn:{partition}:secretsmanager:*:{account}:secret:{KEPT_KUBECONFIGS}*",
                }
            ],
        },
        sort_keys=True,
    )


def state_access(*, bucket_arn: str, key_arns: Sequence[str]) -> str:
    """Read and write the state bucket (state files, history, lock files) and use the stacks' keys."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "ListState", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
                {
                    "Sid": "ReadWriteState",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": f"{bucket_arn}/*",
                },
                {
                    "Sid": "UseStateAndSecretsKeys",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    "Resource": list(key_arns),
                },
            ],
        },
        sort_keys=True,
    )


class Bootstrap(pulumi.ComponentResource):
    """The state backend, the secrets keys and the CI roles of one account."""

    state_bucket: aws.s3.Bucket
    secrets_keys: dict[str, aws.kms.Key]
    preview_role: aws.iam.Role
    deploy_roles: dict[str, aws.iam.Role]
    runner: DeployRunner

    def __init__(
        self,
        name: str,
        settings: BootstrapSettings,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("inferstack:bootstrap:Bootstrap", name, None, opts)
        provider = aws.Provider(
            f"aws-{settings.region}",
            region=settings.region,
            allowed_account_ids=[settings.aws_account_id],
            default_tags=aws.ProviderDefaultTagsArgs(tags=settings.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        kept = pulumi.ResourceOptions(parent=self, provider=provider, protect=True)

        state_key = customer_managed_key(
            f"{name}-state",
            description="Encrypts the Pulumi state of the inferstack stacks",
            provider=provider,
            region=settings.region,
            tags=settings.tags,
            protect=True,
            parent=self,
        )
        self.state_bucket = self._state_bucket(name, settings, state_key, child, kept)
        self.secrets_keys = self._secrets_keys(name, settings, provider)
        key_arns = [state_key.arn, *(k.arn for k in self.secrets_keys.values())]

        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-github",
            url=GITHUB_OIDC_URL,
            client_id_lists=[GITHUB_OIDC_AUDIENCE],
            # No thumbprint: IAM verifies GitHub's JWKS endpoint against its own library of trusted
            # root CAs; thumbprints are only used for IdPs whose certificate no trusted CA signed.
            opts=child,
        )
        repository = settings.github.repository
        # Pull requests preview; the nightly drift check runs on the deploy branch (a scheduled run's
        # subject is repo:<owner>/<repo>:ref:refs/heads/<branch>) and previews with the same rights.
        preview_subjects = ["pull_request", f"ref:refs/heads/{settings.github.deploy_branch}"]
        self.preview_role = self._role(
            f"{name}-ci-preview",
            trust=oidc.arn.apply(
                lambda arn: github_trust(provider_arn=arn, repository=repository, subjects=preview_subjects)
            ),
            policy=READ_ONLY_POLICY,
            bucket=self.state_bucket,
            key_arns=key_arns,
            opts=child,
        )
        # A preview of a stack with an existing cluster reads its kubeconfig, as the apply does.
        aws.iam.RolePolicy(
            f"{name}-ci-preview-kubeconfigs",
            role=self.preview_role.id,
            policy=aws.get_partition_output(
                opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)
            ).partition.apply(
                lambda p: kept_kubeconfigs_access(partition=p, account=settings.aws_account_id)
            ),
            opts=child,
        )
        self.deploy_roles = {
            env.value: self._role(
                f"{name}-ci-deploy-{env.value}",
                trust=oidc.arn.apply(
                    lambda arn, env=env: github_trust(
                        provider_arn=arn, repository=repository, subjects=[f"environment:{env.value}"]
                    )
                ),
                policy=DEPLOY_POLICY,
                bucket=self.state_bucket,
                key_arns=key_arns,
                opts=child,
                session_seconds=DEPLOY_SESSION_SECONDS,
            )
            for env in settings.environments
        }
        if settings.autoscaling_service_linked_role:
            aws.iam.ServiceLinkedRole(
                f"{name}-autoscaling",
                aws_service_name="autoscaling.amazonaws.com",
                opts=kept,
            )
        self.runner = DeployRunner(
            f"{name}-deploy",
            region=settings.region,
            account=settings.aws_account_id,
            cidr=settings.runner.cidr,
            repository=repository,
            connection_arn=settings.runner.connection_arn,
            log_retention_days=settings.runner.log_retention_days,
            provider=provider,
            tags=settings.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"stateBucket": self.state_bucket.bucket})

    def _state_bucket(
        self,
        name: str,
        settings: BootstrapSettings,
        key: aws.kms.Key,
        child: pulumi.ResourceOptions,
        kept: pulumi.ResourceOptions,
    ) -> aws.s3.Bucket:
        return private_bucket(
            f"{name}-state",
            key=key,
            noncurrent_days=settings.noncurrent_state_days,
            lifecycle_id="expire-superseded-state",
            child=child,
            kept=kept,
            bucket_name=settings.state_bucket,
        )

    def _secrets_keys(
        self, name: str, settings: BootstrapSettings, provider: aws.Provider
    ) -> dict[str, aws.kms.Key]:
        keys: dict[str, aws.kms.Key] = {}
        for stack in settings.stacks:
            key = self._secrets_key(name, settings, provider, stack)
            aws.kms.Alias(
                f"{name}-{stack.name}-secrets-alias",
                name=settings.secrets_alias(stack.name),
                target_key_id=key.key_id,
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
            keys[stack.name] = key
        return keys

    def _secrets_key(
        self, name: str, settings: BootstrapSettings, provider: aws.Provider, stack: StackEntry
    ) -> aws.kms.Key:
        return customer_managed_key(
            f"{name}-{stack.name}-secrets",
            description=f"Encrypts the config secrets of the inferstack stack {stack.name}",
            provider=provider,
            region=settings.region,
            tags={**settings.tags, "stack": stack.name, "environment": stack.environment.value},
            protect=True,
            parent=self,
        )

    def _role(
        self,
        name: str,
        *,
        trust: pulumi.Output[str],
        policy: str,
        bucket: aws.s3.Bucket,
        key_arns: Sequence[pulumi.Output[str]],
        opts: pulumi.ResourceOptions,
        session_seconds: int = 3600,
    ) -> aws.iam.Role:
        role = aws.iam.Role(name, assume_role_policy=trust, max_session_duration=session_seconds, opts=opts)
        partition = aws.get_partition_output(
            opts=pulumi.InvokeOutputOptions(parent=self, provider=opts.provider)
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy.lower()}",
            role=role.name,
            policy_arn=partition.partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{policy}"),
            opts=opts,
        )
        aws.iam.RolePolicy(
            f"{name}-state",
            role=role.id,
            policy=pulumi.Output.all(bucket.arn, *key_arns).apply(
                lambda a: state_access(bucket_arn=a[0], key_arns=a[1:])
            ),
            opts=opts,
        )
        return role


def build(settings: BootstrapSettings) -> Bootstrap:
    boot = Bootstrap("inferstack", settings)
    pulumi.export("backendUrl", settings.backend_url)
    pulumi.export("stateBucket", boot.state_bucket.bucket)
    pulumi.export(
        "secretsProviders", {stack.name: settings.secrets_provider(stack.name) for stack in settings.stacks}
    )
    pulumi.export("previewRoleArn", boot.preview_role.arn)
    pulumi.export("deployRoleArns", {env: role.arn for env, role in boot.deploy_roles.items()})
    # What a platform stack's deployNetwork setting takes (docs/settings.md#deploynetwork).
    network = boot.runner.network
    pulumi.export("deployRegion", settings.region)
    pulumi.export("deployVpcId", network.vpc_id)
    pulumi.export("deployCidr", network.vpc_cidr)
    pulumi.export("deployRouteTableIds", network.private_route_table_ids)
    pulumi.export("deployRunnerProject", boot.runner.project.name)
    pulumi.export("deployRunsOn", RUNS_ON)
    return boot
