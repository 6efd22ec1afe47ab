"""The deploy runner: a self-hosted GitHub Actions runner inside a small VPC of the account.

The platform's EKS endpoints are private, so a GitHub-hosted runner cannot create the objects inside
the clusters; a runner whose network is peered with every cluster VPC can (``deployNetwork`` in a
platform stack, ``infra.aws.deploy``). It is an AWS CodeBuild project configured as a GitHub
Actions runner (CodeBuild user guide, "Self-hosted GitHub Actions runners in AWS CodeBuild"): a
repository webhook with the filter group ``EVENT = WORKFLOW_JOB_QUEUED`` starts one build per
queued job whose ``runs-on`` names the project,
``codebuild-inferstack-deploy-${{ github.run_id }}-${{ github.run_attempt }}``; the build registers
an ephemeral runner for that job and ends with it. The webhook is the repository's own: the
webhook's ``scope_configuration`` is only for organization or enterprise webhooks
(``GITHUB_ORGANIZATION``, ``GITHUB_GLOBAL``), which would hand this runner every repository's jobs.

**The network.** Two private subnets in two zones, the runner's builds placed in them by the
project's VPC config. Egress is through **one NAT gateway**, not VPC endpoints: a job talks to
GitHub (job assignment, checkout, actions), PyPI and Pulumi's plugin downloads, Google's APIs and
the AWS APIs of every region a stack uses; there is no endpoint for the first ones, and interface
endpoints are regional and billed per zone-hour each. One NAT rather than one per zone: a runner
is not serving traffic, and a job queued during a zone's outage waits for a retry. The free S3
gateway endpoint keeps state-bucket traffic off the NAT. Flow logs go to CloudWatch, as in every
network of the program.

**The service role** is what CodeBuild itself uses, and what the build's container holds as its
credentials, so it has only what the CodeBuild docs list for a project in a VPC and with a
GitHub connection: write the project's logs, manage the build's network interfaces in the deploy
subnets (CodeBuild user guide, "Allow CodeBuild access to AWS services required to create a VPC
network interface"; scoped here to the deploy subnets and group rather than "*", the resource
types the Service Authorization Reference gives for ec2:CreateNetworkInterface), and use the
connection's GitHub token ("GitHub App connections": codeconnections:GetConnectionToken and
GetConnection). A job needs nothing more from it: the workflow assumes the deploy role of its
GitHub environment through GitHub's OIDC token (``aws-actions/configure-aws-credentials`` with
``role-to-assume``), which the bootstrap already trusts for exactly that environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from infra.aws.network import AwsNetwork, AwsNetworkArgs
from infra.aws.stores import customer_managed_key
from infra.catalog import catalog
from infra.naming import AUTONAMED_MAX, resource_name

PROJECT_NAME = "inferstack-deploy"
"""The CodeBuild project; workflows name it in their runs-on label (``RUNS_ON``)."""
RUNS_ON = f"codebuild-{PROJECT_NAME}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
RUNNER_ZONES = 2
IMAGE = "aws/codebuild/standard:7.0"
"""CodeBuild's Ubuntu 22.04 standard image (CodeBuild user guide, "Docker images provided by
CodeBuild"). Ubuntu because the workflows install Python with actions/setup-python, whose builds
are made for GitHub's Ubuntu runners and are not offered for Amazon Linux (docs/ci.md)."""
COMPUTE = "BUILD_GENERAL1_MEDIUM"
"""4 vCPU / 7 GB: a preview of prod holds every provider plugin in memory at once."""
JOB_EVENT = "WORKFLOW_JOB_QUEUED"
HTTPS = 443


def runner_policy(
    *,
    partition: str,
    region: str,
    account: str,
    log_group_arn: str,
    subnet_ids: Sequence[str],
    security_group_id: str,
    connection_arn: str | None,
) -> str:
    """The service role's one policy: logs, the build's network interfaces, the GitHub connection."""
    ec2 = f"arn:{partition}:ec2:{region}:{account}"
    subnets = [f"{ec2}:subnet/{s}" for s in subnet_ids]
    statements: list[dict[str, object]] = [
        {
            "Sid": "WriteBuildLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
        },
        {
            "Sid": "DescribeTheBuildNetwork",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeVpcs",
            ],
            "Resource": "*",
        },
        {
            "Sid": "BuildInterfacesInTheDeploySubnets",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterface",
            "Resource": [f"{ec2}:network-interface/*", *subnets, f"{ec2}:security-group/{security_group_id}"],
        },
        {
            "Sid": "RemoveBuildInterfaces",
            "Effect": "Allow",
            "Action": "ec2:DeleteNetworkInterface",
            "Resource": f"{ec2}:network-interface/*",
        },
        {
            "Sid": "LetCodeBuildAttachThem",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterfacePermission",
            "Resource": f"{ec2}:network-interface/*",
            "Condition": {
                "StringEquals": {"ec2:Subnet": subnets, "ec2:AuthorizedService": "codebuild.amazonaws.com"}
            },
        },
    ]
    if connection_arn is not None:
        service = connection_arn.split(":")[2]  # the IAM prefix follows the ARN's (codestar-connections)
        statements.append(
            {
                "Sid": "UseTheGitHubConnection",
                "Effect": "Allow",
                "Action": [f"{service}:GetConnectionToken", f"{service}:GetConnection"],
                "Resource": connection_arn,
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


class DeployRunner(pulumi.ComponentResource):
    """The deploy VPC and the CodeBuild project that runs GitHub Actions jobs in it."""

    network: AwsNetwork
    project: aws.codebuild.Project
    webhook: aws.codebuild.Webhook | None

    def __init__(
        self,
        name: str,
        *,
        region: str,
        account: str,
        cidr: str,
        repository: str,
        connection_arn: str | None,
        log_retention_days: int,
        provider: aws.Provider,
        tags: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("inferstack:bootstrap:DeployRunner", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        def child_name(*role: str) -> str:
            return resource_name(name, *role, max_len=AUTONAMED_MAX)

        def tagged(resource: str) -> dict[str, str]:
            return {**tags, "Name": resource}

        logs_key = customer_managed_key(
            child_name("logs"),
            description="Encrypts the deploy runner's build logs and the deploy VPC's flow logs",
            provider=provider,
            region=region,
            tags=tags,
            protect=True,  # a deleted key leaves every log it encrypted unreadable
            parent=self,
            logs=True,
        )
        self.network = AwsNetwork(
            name,
            AwsNetworkArgs(
                cluster_name=PROJECT_NAME,
                region=region,
                cidr=cidr,
                zones=list(catalog().aws_regions[region][:RUNNER_ZONES]),
                nat_gateways=1,
                flow_log_retention_days=log_retention_days,
                flow_log_kms_key_arn=logs_key.arn,
                interface_endpoints=(),
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(parent=self, providers=[provider]),
        )
        group_name = child_name("builds")
        group = aws.ec2.SecurityGroup(
            group_name,
            vpc_id=self.network.vpc_id,
            description="Deploy runner builds: no inbound, HTTPS out (GitHub, package indexes, cloud APIs)",
            tags=tagged(group_name),
            opts=child,
        )
        # Security groups are stateful: no inbound rule is needed for the answers. DNS goes to the
        # VPC's resolver, which security groups do not filter.
        egress_name = child_name("builds", "https-out")
        aws.vpc.SecurityGroupEgressRule(
            egress_name,
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            cidr_ipv4="0.0.0.0/0",
            description="HTTPS to GitHub, package indexes, cloud APIs and the peered clusters",
            tags=tagged(egress_name),
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            child_name("builds"),
            name=f"/aws/codebuild/{PROJECT_NAME}",
            retention_in_days=log_retention_days,
            kms_key_id=logs_key.arn,
            tags=tagged(child_name("builds")),
            opts=child,
        )
        # The trust of AWS's own example (CodeBuild user guide, "Allow CodeBuild to interact with
        # other AWS services"): the service, nothing narrower that the docs do not show.
        role = aws.iam.Role(
            child_name("service"),
            description="What CodeBuild uses to run the deploy runner: logs, build interfaces, the GitHub connection",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "codebuild.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            max_session_duration=3600,
            tags=tagged(child_name("service")),
            opts=child,
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self, provider=provider))
        policy = aws.iam.RolePolicy(
            child_name("service"),
            role=role.id,
            policy=pulumi.Output.all(
                partition.partition, log_group.arn, self.network.private_subnet_ids, group.id
            ).apply(
                lambda a: runner_policy(
                    partition=a[0],
                    region=region,
                    account=account,
                    log_group_arn=a[1],
                    subnet_ids=a[2],
                    security_group_id=a[3],
                    connection_arn=connection_arn,
                )
            ),
            opts=child,
        )
        self.project = aws.codebuild.Project(
            PROJECT_NAME,
            name=PROJECT_NAME,
            description="GitHub Actions runner for the jobs that must reach the private clusters",
            service_role=role.arn,
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                type="LINUX_CONTAINER",
                image=IMAGE,
                compute_type=COMPUTE,
                image_pull_credentials_type="CODEBUILD",
                privileged_mode=False,
            ),
            source=aws.codebuild.ProjectSourceArgs(
                type="GITHUB",
                location=f"https://github.com/{repository}.git",
                auth=aws.codebuild.ProjectSourceAuthArgs(type="CODECONNECTIONS", resource=connection_arn)
                if connection_arn
                else None,
            ),
            vpc_config=aws.codebuild.ProjectVpcConfigArgs(
                vpc_id=self.network.vpc_id,
                subnets=self.network.private_subnet_ids,
                security_group_ids=[group.id],
            ),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                    status="ENABLED", group_name=log_group.name
                ),
            ),
            build_timeout=120,
            queued_timeout=60,
            tags=tagged(PROJECT_NAME),
            # CodeBuild checks the role's EC2 permissions when a project with a VPC config is
            # created; the policy must exist first (aws-cdk #2652: DescribeSecurityGroups refused).
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[policy])),
        )
        self.webhook = None
        if connection_arn:
            self.webhook = aws.codebuild.Webhook(
                PROJECT_NAME,
                project_name=self.project.name,
                build_type="BUILD",
                filter_groups=[
                    aws.codebuild.WebhookFilterGroupArgs(
                        filters=[aws.codebuild.WebhookFilterGroupFilterArgs(type="EVENT", pattern=JOB_EVENT)]
                    )
                ],
                opts=child,
            )
        else:
            pulumi.log.warn(
                f"runner.connectionArn is not set: the CodeBuild project {PROJECT_NAME} is created without a "
                "webhook, so no GitHub job reaches it. Create a GitHub connection in CodeConnections, confirm it "
                "in the console, set runner.connectionArn and run `pulumi up` again (docs/first-apply.md).",
                resource=self,
            )
        self.register_outputs({"projectName": self.project.name, "vpcId": self.network.vpc_id})
