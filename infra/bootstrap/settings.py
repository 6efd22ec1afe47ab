"""The bootstrap project's settings: one AWS account's state backend, secrets keys and CI identities.

Checked as a whole before any resource exists, with the same one-line-per-problem messages as the
platform's stack settings (``infra.settings``), under the ``inferstack-bootstrap`` namespace.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError, model_validator

from infra.catalog import catalog
from infra.settings import (
    DnsLabel,
    Environment,
    Problem,
    SettingsError,
    SettingsModel,
    deploy_vpc_block_problem,
    raise_problems,
    validation_problems,
)

NAMESPACE = "inferstack-bootstrap"

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,255}$")


def _bucket_name(value: str) -> str:
    """S3 general purpose bucket naming rules (Amazon S3 user guide, "Bucket naming rules")."""
    problems = []
    if not _BUCKET.match(value):
        problems.append(
            "3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit"
        )
    if ".." in value:
        problems.append("no two adjacent periods")
    try:
        ipaddress.IPv4Address(value)
        problems.append("not formatted as an IP address")
    except ValueError:
        pass
    if value.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or value.endswith(
        ("-s3alias", "--ol-s3", ".mrap")
    ):
        problems.append("no reserved prefix (xn--, sthree-) or suffix (-s3alias, --ol-s3, .mrap)")
    if "." in value:
        problems.append("no periods: a dotted name breaks virtual-hosted TLS to the bucket")
    if problems:
        raise ValueError(f"{value!r} is not an S3 bucket name; allowed: {'; '.join(problems)}")
    return value


BucketName = Annotated[str, AfterValidator(_bucket_name)]


class StackEntry(SettingsModel):
    """A stack of the platform project that this account serves."""

    name: DnsLabel
    environment: Environment


class GitHub(SettingsModel):
    """Where CI runs: GitHub Actions of one repository, trusted through its OIDC tokens."""

    repository: str
    """owner/name; the OIDC subject names it, so no other repository can assume the roles."""
    deploy_branch: str = "main"

    @model_validator(mode="after")
    def _names(self) -> GitHub:
        found: list[Problem] = []
        if not _REPOSITORY.match(self.repository):
            found.append(
                Problem("repository", f"{self.repository!r}; allowed: owner/name of a GitHub repository")
            )
        if not _BRANCH.match(self.deploy_branch) or "*" in self.deploy_branch:
            found.append(
                Problem("deployBranch", f"{self.deploy_branch!r}; allowed: one branch name, no wildcards")
            )
        raise_problems(found)
        return self


_CONNECTION_ARN = re.compile(
    r"arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z]{2}(-[a-z]+)+-\d+:\d{12}:connection/[0-9a-f-]{36}"
)
LARGEST_RUNNER_PREFIX = 22
"""The runner's VPC follows the program's address plan (``infra.aws.network``): /22 or larger."""


class Runner(SettingsModel):
    """The deploy runner: a CodeBuild-hosted GitHub Actions runner in a VPC of its own, which the
    platform stacks peer with their private clusters (their ``deployNetwork`` setting)."""

    cidr: str = "10.200.0.0/22"
    """The deploy VPC's block: must overlap no cluster network of the stacks that peer with it."""
    connection_arn: str | None = None
    """The CodeConnections connection to GitHub (a GitHub App installation, confirmed by hand in the
    console). Without it the runner's project exists but no webhook hands it jobs."""
    log_retention_days: int = 365
    """Days the runner's build logs and the deploy VPC's flow logs are kept."""

    @model_validator(mode="after")
    def _rules(self) -> Runner:
        found: list[Problem] = []
        problem = deploy_vpc_block_problem(self.cidr)
        if problem is None and ipaddress.IPv4Network(self.cidr).prefixlen > LARGEST_RUNNER_PREFIX:
            problem = (
                f"{self.cidr!r} is too small; allowed: a private block of /{LARGEST_RUNNER_PREFIX} or larger"
            )
        if problem:
            found.append(Problem("cidr", problem))
        if self.connection_arn is not None and not _CONNECTION_ARN.fullmatch(self.connection_arn):
            found.append(
                Problem(
                    "connectionArn",
                    f"{self.connection_arn!r}; allowed: a CodeConnections connection ARN "
                    "(arn:aws:codeconnections:<region>:<account>:connection/<id>)",
                )
            )
        if self.log_retention_days not in catalog().log_retention_days:
            allowed = ", ".join(str(d) for d in sorted(catalog().log_retention_days))
            found.append(Problem("logRetentionDays", f"{self.log_retention_days}; allowed: {allowed}"))
        raise_problems(found)
        return self


class BootstrapSettings(SettingsModel):
    """What one account needs before the first `pulumi up` of any platform stack."""

    owner: DnsLabel
    cost_center: str = Field(min_length=1, max_length=63)
    aws_account_id: Annotated[str, Field(pattern=r"^\d{12}$")]
    region: str
    state_bucket: BucketName
    noncurrent_state_days: int = Field(default=90, ge=1, le=3650)
    """How long superseded state files (every update writes one) are kept before they expire."""
    stacks: list[StackEntry] = Field(min_length=1)
    github: GitHub
    autoscaling_service_linked_role: bool = True
    """Create AWSServiceRoleForAutoScaling. EKS key policies name it; set false where it exists already."""
    runner: Runner = Field(default_factory=Runner)

    @model_validator(mode="after")
    def _rules(self) -> BootstrapSettings:
        found: list[Problem] = []
        if self.region not in catalog().aws_regions:
            found.append(
                Problem(
                    "region",
                    f"{self.region!r} is not a known aws region; allowed: {', '.join(sorted(catalog().aws_regions))}",
                )
            )
        seen: set[str] = set()
        for i, stack in enumerate(self.stacks):
            if stack.name in seen:
                found.append(Problem(f"stacks[{i}].name", f"{stack.name!r} is listed twice"))
            seen.add(stack.name)
        raise_problems(found)
        return self

    @property
    def tags(self) -> dict[str, str]:
        return {
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
            "project": NAMESPACE,
        }

    def secrets_alias(self, stack: str) -> str:
        """The KMS alias whose key encrypts ``stack``'s config secrets."""
        return f"alias/inferstack-{stack}-secrets"

    def secrets_provider(self, stack: str) -> str:
        """What ``stacks/Pulumi.<stack>.yaml`` names as its ``secretsprovider``."""
        return f"awskms://{self.secrets_alias(stack)}?region={self.region}"

    @property
    def backend_url(self) -> str:
        """``pulumi login`` URL of the state bucket (a DIY backend, locked by Pulumi's lock files)."""
        return f"s3://{self.state_bucket}?region={self.region}"

    @property
    def environments(self) -> list[Environment]:
        return sorted({s.environment for s in self.stacks}, key=lambda e: list(Environment).index(e))


def parse_bootstrap(raw: Mapping[str, Any], source: str) -> BootstrapSettings:
    """Validate the bootstrap stack's bare-keyed config; raise SettingsError with a line per problem."""
    try:
        return BootstrapSettings.model_validate(dict(raw))
    except ValidationError as error:
        raise SettingsError(source, validation_problems(error, BootstrapSettings, NAMESPACE)) from None
