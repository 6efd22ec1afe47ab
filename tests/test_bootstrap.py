"""The bootstrap project: state backend, secrets keys and CI roles, planned offline like any stack."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from inferstack.engine import Graph, Resource, plan_stack
from inferstack.policy import check_graph
from inferstack.project import find_project, load_stack_config
from infra.bootstrap.settings import NAMESPACE, parse_bootstrap
from infra.settings import SettingsError, project_config
from tests.conftest import ROOT, children_of

BOOTSTRAP = ROOT / "bootstrap"


@pytest.fixture(scope="module")
def boot() -> Graph:
    return plan_stack("acme", project=find_project(BOOTSTRAP))


def one(graph: Graph, token: str, name: str | None = None) -> Resource:
    found = [r for r in graph.of_type(token) if name is None or r.name == name]
    assert len(found) == 1, f"{token} {name}: {len(found)}"
    return found[0]


def _by_bucket(graph: Graph, token: str) -> Resource:
    bucket = one(graph, "aws:s3/bucket:Bucket")
    [found] = [r for r in graph.of_type(token) if bucket.urn in r.dependencies]
    return found


def test_project_file_runs_the_program_from_the_repositorys_virtualenv() -> None:
    project = yaml.safe_load((BOOTSTRAP / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"]["virtualenv"] == "../.venv"
    assert (BOOTSTRAP / project["runtime"]["options"]["virtualenv"]).resolve() == (ROOT / ".venv").resolve()
    assert (BOOTSTRAP / project["main"] / "__main__.py").is_file()
    assert (BOOTSTRAP / project["stackConfigDir"] / "Pulumi.acme.yaml").is_file()


def test_state_bucket_is_private_versioned_encrypted_and_tls_only(boot: Graph) -> None:
    bucket = one(boot, "aws:s3/bucket:Bucket")
    assert bucket.protect
    block = _by_bucket(boot, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    versions = _by_bucket(boot, "aws:s3/bucketVersioning:BucketVersioning")
    assert versions.inputs["versioningConfiguration"]["status"] == "Enabled"
    sse = _by_bucket(
        boot, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    [rule] = sse.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    state_key = one(boot, "aws:kms/key:Key", "inferstack-state")
    assert state_key.urn in sse.dependencies and rule["bucketKeyEnabled"] is True
    ownership = _by_bucket(boot, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    policy = json.loads(_by_bucket(boot, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    [deny] = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    lifecycle = _by_bucket(boot, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert versions.urn in lifecycle.dependencies  # S3 refuses noncurrent-version rules before versioning
    assert lifecycle.inputs["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"] == 90


def test_every_platform_stack_names_the_secrets_key_bootstrap_creates_for_it(boot: Graph) -> None:
    providers = boot.outputs["secretsProviders"]
    shipped = find_project(ROOT).stacks()
    assert sorted(providers) == shipped
    aliases = {a.inputs["name"]: a for a in boot.of_type("aws:kms/alias:Alias")}
    for stack in shipped:
        data = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
        assert data["secretsprovider"] == providers[stack], stack
        alias = data["secretsprovider"].removeprefix("awskms://").split("?")[0]
        assert alias in aliases, stack
    for key in boot.of_type("aws:kms/key:Key"):
        assert key.inputs["enableKeyRotation"] is True and key.protect, key.name
    assert check_graph(boot) == []


def _trust(role: Resource) -> dict[str, Any]:
    [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    return statement


def test_ci_roles_trust_only_this_repositorys_pull_requests_and_environments(boot: Graph) -> None:
    roles = {r.name: r for r in boot.of_type("aws:iam/role:Role")}
    preview = _trust(roles["inferstack-ci-preview"])
    assert preview["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert preview["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": ["repo:acme/inferstack:pull_request"],
        }
    }
    for env in ("dev", "staging", "prod"):
        deploy = _trust(roles[f"inferstack-ci-deploy-{env}"])
        assert deploy["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == [
            f"repo:acme/inferstack:environment:{env}"
        ]
        assert "StringLike" not in deploy["Condition"]
    ci = [name for name in roles if name.startswith("inferstack-ci-")]
    assert len(ci) == 4  # onprem's environment is staging: no role of its own
    attached = {
        r.name: r.inputs["policyArn"]
        for r in boot.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert attached["inferstack-ci-preview-readonlyaccess"].endswith(":iam::aws:policy/ReadOnlyAccess")
    oidc = one(boot, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"] == "https://token.actions.githubusercontent.com"
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]


def test_the_autoscaling_service_linked_role_exists_before_any_eks_key_names_it(boot: Graph) -> None:
    role = one(boot, "aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert role.inputs["awsServiceName"] == "autoscaling.amazonaws.com" and role.protect


def _raw() -> dict[str, Any]:
    project = find_project(BOOTSTRAP)
    return project_config(load_stack_config(project, "acme").values, NAMESPACE)


def test_an_account_where_the_role_exists_does_not_create_it(tmp_path) -> None:
    values = copy.deepcopy(_raw())
    path = tmp_path / "Pulumi.other.yaml"
    path.write_text(yaml.safe_dump({"config": {**values, "autoscalingServiceLinkedRole": False}}))
    graph = plan_stack("other", config_file=path, project=find_project(BOOTSTRAP))
    assert not graph.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (lambda v: v.update(stateBucket="Acme_State"), "inferstack-bootstrap:stateBucket"),
        (lambda v: v.update(stateBucket="acme.state.bucket"), "no periods"),
        (lambda v: v.update(region="us-east-9"), "inferstack-bootstrap:region"),
        (lambda v: v["github"].update(repository="acme/*"), "inferstack-bootstrap:github.repository"),
        (lambda v: v["github"].update(deployBranch="release/*"), "no wildcards"),
        (lambda v: v["stacks"].append(v["stacks"][0]), "listed twice"),
        (lambda v: v.update(awsAccountId="1234"), "inferstack-bootstrap:awsAccountId"),
        (lambda v: v.update(regoin="us-east-1"), "did you mean 'region'"),
        (lambda v: v["runner"].update(cidr="10.200.0.0/24"), "inferstack-bootstrap:runner.cidr"),
        (lambda v: v["runner"].update(cidr="198.51.100.0/22"), "not private address space"),
        (
            lambda v: v["runner"].update(connectionArn="acme/inferstack"),
            "inferstack-bootstrap:runner.connectionArn",
        ),
        (lambda v: v["runner"].update(logRetentionDays=366), "inferstack-bootstrap:runner.logRetentionDays"),
    ],
)
def test_broken_bootstrap_settings_say_what_and_where(change, expect: str) -> None:
    values = copy.deepcopy(_raw())
    change(values)
    with pytest.raises(SettingsError) as caught:
        parse_bootstrap(values, "stacks/Pulumi.acme.yaml")
    assert expect in str(caught.value)
    assert all(
        line.startswith("stacks/Pulumi.acme.yaml: inferstack-bootstrap:")
        for line in str(caught.value).splitlines()
    )


# --- the deploy runner ---------------------------------------------------------------------------


def _deploy_network(graph: Graph) -> tuple[Resource, list[Resource], list[Resource]]:
    """The deploy VPC, its private subnets and its NAT gateways."""
    net = one(graph, "inferstack:aws:Network")
    kids = children_of(graph, net)
    [vpc] = [r for r in kids if r.type == "aws:ec2/vpc:Vpc"]
    private = [
        r
        for r in kids
        if r.type == "aws:ec2/subnet:Subnet" and r.inputs["tags"].get("kubernetes.io/role/internal-elb")
    ]
    nats = [r for r in kids if r.type == "aws:ec2/natGateway:NatGateway"]
    return vpc, private, nats


def test_the_deploy_vpc_has_private_subnets_in_two_zones_one_nat_and_flow_logs(boot: Graph) -> None:
    vpc, private, nats = _deploy_network(boot)
    assert vpc.inputs["cidrBlock"] == "10.200.0.0/22"
    assert len({s.inputs["availabilityZone"] for s in private}) == 2 == len(private)
    assert len(nats) == 1
    [flow_log] = boot.of_type("aws:ec2/flowLog:FlowLog")
    assert flow_log.inputs["trafficType"] == "ALL" and vpc.urn in flow_log.dependencies
    assert not boot.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")[1:], "only the S3 gateway endpoint"


def test_the_runner_is_a_codebuild_github_actions_runner_in_the_deploy_subnets(boot: Graph) -> None:
    project = one(boot, "aws:codebuild/project:Project")
    assert project.inputs["name"] == "inferstack-deploy"
    assert project.inputs["source"] == {
        "type": "GITHUB",
        "location": "https://github.com/acme/inferstack.git",
        "auth": {"type": "CODECONNECTIONS", "resource": _raw()["runner"]["connectionArn"]},
    }
    vpc, private, _ = _deploy_network(boot)
    config = project.inputs["vpcConfig"]
    subnet_ids = {
        r.inputs["subnetId"]
        for r in boot.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if any(s.urn in r.dependencies for s in private)
    }
    assert set(config["subnets"]) == subnet_ids and len(subnet_ids) == 2
    assert vpc.urn in one(boot, "aws:ec2/securityGroup:SecurityGroup").dependencies
    assert project.inputs["environment"]["privilegedMode"] is False
    # The workflows' actions/setup-python needs an Ubuntu image (docs/ci.md).
    assert project.inputs["environment"]["image"].startswith("aws/codebuild/standard:")
    assert project.inputs["logsConfig"]["cloudwatchLogs"]["status"] == "ENABLED"
    webhook = one(boot, "aws:codebuild/webhook:Webhook")
    assert webhook.inputs["projectName"] == "inferstack-deploy" and project.urn in webhook.dependencies
    assert webhook.inputs["filterGroups"] == [
        {"filters": [{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}]}
    ]
    assert "scopeConfiguration" not in webhook.inputs  # a repository webhook, not an organization's
    assert (
        boot.outputs["deployRunsOn"]
        == "codebuild-inferstack-deploy-${{ github.run_id }}-${{ github.run_attempt }}"
    )


def test_the_runner_builds_send_only_https_and_take_nothing_in(boot: Graph) -> None:
    group = one(boot, "aws:ec2/securityGroup:SecurityGroup")
    assert not [
        r
        for r in boot.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if group.urn in r.dependencies
    ]
    [egress] = [
        r
        for r in boot.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if group.urn in r.dependencies
    ]
    assert (egress.inputs["ipProtocol"], egress.inputs["fromPort"], egress.inputs["toPort"]) == (
        "tcp",
        443,
        443,
    )


def test_the_runner_role_may_only_write_logs_manage_its_interfaces_and_use_the_connection(
    boot: Graph,
) -> None:
    role = one(boot, "aws:iam/role:Role", "inferstack-deploy-service")
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert not [
        a
        for a in boot.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if role.urn in a.dependencies
    ]
    [policy] = [p for p in boot.of_type("aws:iam/rolePolicy:RolePolicy") if role.urn in p.dependencies]
    statements = {st["Sid"]: st for st in json.loads(policy.inputs["policy"])["Statement"]}
    actions = {
        a
        for st in statements.values()
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ec2:DescribeDhcpOptions",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcs",
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:CreateNetworkInterfacePermission",
        "codeconnections:GetConnectionToken",
        "codeconnections:GetConnection",
    }
    wildcard = [sid for sid, st in statements.items() if st["Resource"] == "*"]
    assert wildcard == ["DescribeTheBuildNetwork"]
    permission = statements["LetCodeBuildAttachThem"]["Condition"]["StringEquals"]
    assert permission["ec2:AuthorizedService"] == "codebuild.amazonaws.com"
    project = one(boot, "aws:codebuild/project:Project")
    assert {s.rsplit("/", 1)[1] for s in permission["ec2:Subnet"]} == set(
        project.inputs["vpcConfig"]["subnets"]
    )
    assert statements["UseTheGitHubConnection"]["Resource"] == _raw()["runner"]["connectionArn"]
    assert policy.urn in project.dependencies  # CodeBuild checks the EC2 permissions at creation


def test_without_a_connection_the_runner_gets_no_webhook_and_says_so(tmp_path) -> None:
    values = copy.deepcopy(_raw())
    values["runner"].pop("connectionArn")
    path = tmp_path / "Pulumi.other.yaml"
    path.write_text(yaml.safe_dump({"config": values}))
    graph = plan_stack("other", config_file=path, project=find_project(BOOTSTRAP))
    assert not graph.of_type("aws:codebuild/webhook:Webhook")
    assert "auth" not in one(graph, "aws:codebuild/project:Project").inputs["source"]
    [warning] = [w for w in graph.warnings if "connectionArn" in w.message]
    assert "docs/first-apply.md" in warning.message
    policy = one(graph, "aws:iam/rolePolicy:RolePolicy", "inferstack-deploy-service")
    assert "codeconnections" not in policy.inputs["policy"]


def test_the_outputs_are_what_a_platform_stacks_deploy_network_takes(boot: Graph) -> None:
    vpc, private, _ = _deploy_network(boot)
    outputs = boot.outputs
    assert outputs["deployRegion"] == "us-east-1" and outputs["deployCidr"] == vpc.inputs["cidrBlock"]
    tables = [
        r.inputs["routeTableId"]
        for r in boot.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if any(s.urn in r.dependencies for s in private)
    ]
    assert sorted(outputs["deployRouteTableIds"]) == sorted(tables) and len(tables) == 2
    assert outputs["deployVpcId"] == one(boot, "aws:codebuild/project:Project").inputs["vpcConfig"]["vpcId"]
    documented = (ROOT / "docs" / "settings.md").read_text()
    for key in ("deployRegion", "deployVpcId", "deployCidr", "deployRouteTableIds"):
        assert key in documented, key


def test_pull_request_previews_may_read_the_kept_kubeconfigs_and_no_other_secret(boot: Graph) -> None:
    """ReadOnlyAccess cannot read a secret's value; an existing cluster's kubeconfig is one."""
    preview = one(boot, "aws:iam/role:Role", "inferstack-ci-preview")
    [policy] = [
        p
        for p in boot.of_type("aws:iam/rolePolicy:RolePolicy")
        if preview.urn in p.dependencies and "secretsmanager" in p.inputs["policy"]
    ]
    [statement] = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Resource"] == "arn:aws:secretsmanager:*:123456789012:secret:inferstack/*"
    onprem = yaml.safe_load((ROOT / "stacks" / "Pulumi.onprem.yaml").read_text())
    [arn] = [
        c["kubeconfigFrom"]["awsSecretArn"] for c in onprem["config"]["clusters"] if "kubeconfigFrom" in c
    ]
    assert arn.split(":secret:", 1)[1].startswith("inferstack/")
