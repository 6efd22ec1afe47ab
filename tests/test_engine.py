"""The offline engine's contract, on small programs of its own and on broken stack files."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import inferstack.cli
from inferstack.engine import ProgramError, plan_stack, run_program
from inferstack.policy import Outcome
from inferstack.project import Project, StackConfig, find_project, load_stack_config
from tests.conftest import ROOT


def _program(tmp_path: Path, source: str) -> Project:
    (tmp_path / "__main__.py").write_text(source)
    return Project(root=tmp_path, name="inferstack", main=tmp_path, stack_config_dir=tmp_path)


EMPTY = StackConfig(source="(test)", values={}, secret_keys=frozenset())


def test_an_unanswered_invoke_is_an_error_naming_its_token(tmp_path: Path) -> None:
    project = _program(
        tmp_path,
        "import pulumi_aws as aws\n"
        "p = aws.Provider('p', region='us-east-1')\n"
        "aws.ec2.get_ami_ids_output(owners=['amazon'], opts=__import__('pulumi').InvokeOutputOptions(provider=p))"
        ".ids.apply(print)\n",
    )
    with pytest.raises(ProgramError, match="aws:ec2/getAmiIds:getAmiIds has no offline answer"):
        run_program(project, "t", EMPTY)


def test_answered_invokes_and_outputs_come_from_the_table(tmp_path: Path) -> None:
    project = _program(
        tmp_path,
        "import pulumi, pulumi_aws as aws\n"
        "p = aws.Provider('p', region='eu-west-1')\n"
        "me = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=p))\n"
        "key = aws.kms.Key('k', description='d', opts=pulumi.ResourceOptions(provider=p))\n"
        "pulumi.export('account', me.account_id)\n"
        "pulumi.export('arn', key.arn)\n",
    )
    graph = run_program(project, "t", EMPTY)
    assert graph.outputs["account"] == "123456789012"
    assert graph.outputs["arn"].startswith("arn:aws:kms:eu-west-1:123456789012:")
    (key,) = graph.of_type("aws:kms/key:Key")
    assert key.provider and key.provider.endswith("pulumi:providers:aws::p")
    assert graph.region_of(key) == "eu-west-1"


def test_the_program_sees_only_its_own_directory_first_on_sys_path(tmp_path: Path) -> None:
    project = _program(
        tmp_path,
        "import sys, pulumi\npulumi.export('first', sys.path[0])\n",
    )
    assert run_program(project, "t", EMPTY).outputs["first"] == str(tmp_path)


def test_a_broken_stack_file_registers_nothing(tmp_path: Path) -> None:
    project = find_project(ROOT)
    text = (
        (ROOT / "stacks" / "Pulumi.prod.yaml")
        .read_text()
        .replace("backupRetentionDays: 14", "backupRetentionDays: 3")
    )
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(text)
    with pytest.raises(ProgramError) as caught:
        plan_stack("bad", config_file=path, project=project)
    assert caught.value.bad_input and caught.value.registered == 0
    assert "inferstack:database.backupRetentionDays: 3 is below the prod minimum" in str(caught.value)


def test_project_defaults_and_bare_keys(tmp_path: Path) -> None:
    config = load_stack_config(find_project(ROOT), "dev")
    assert config.values["inferstack:environment"] == "dev"
    assert config.values["inferstack:awsAccountId"] == ""  # Pulumi.yaml default applied
    assert config.values["inferstack:logRetentionDays"] == "7"


def test_secure_values_become_marked_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.onprem.yaml"
    text = (ROOT / "stacks" / "Pulumi.onprem.yaml").read_text()
    path.write_text(text.replace("config:\n", "config:\n  onpremKubeconfig:\n    secure: v1:AAAA:BBBB\n", 1))
    config = load_stack_config(find_project(ROOT), "onprem", path)
    assert config.values["inferstack:onpremKubeconfig"] == "[secret:inferstack:onpremKubeconfig]"
    assert config.secret_keys == frozenset({"inferstack:onpremKubeconfig"})


def test_plan_exits_1_on_a_mandatory_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    violation = {"policy": "p", "enforcement": "mandatory", "urn": "u", "message": "m"}
    monkeypatch.setattr(inferstack.cli.pack, "check", lambda graph, config: Outcome([violation], []))
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(inferstack.cli.app, ["plan", "dev", "--json"])
    assert result.exit_code == 1
    assert '"enforcement": "mandatory"' in result.stdout


def test_advisory_violations_do_not_fail_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    violation = {"policy": "p", "enforcement": "advisory", "urn": "u", "message": "m"}
    monkeypatch.setattr(inferstack.cli.pack, "check", lambda graph, config: Outcome([violation], []))
    monkeypatch.chdir(ROOT)
    assert CliRunner().invoke(inferstack.cli.app, ["plan", "dev"]).exit_code == 0
