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
from tests.conftest import ROOT

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
    assert len(roles) == 4  # onprem's environment is staging: no role of its own
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
