"""`inferstack new-stack`: a new environment in one command, and what it writes plans."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from inferstack.engine import plan_stack
from inferstack.newstack import Choices, choose_machine, region_tag, render
from inferstack.policy import check_graph
from inferstack.project import find_project
from inferstack.schema import stack_schema
from infra.catalog import catalog, model_fit
from tests.conftest import ROOT
from tests.test_cli import run

CASES = {
    "sandbox": [],
    "bigprod": [
        "--from", "prod", "--region", "us-east-1", "--secondary-region", "us-west-2",
        "--accelerator", "H200", "--model", "DeepSeek-R1", "--precision", "fp8",
        "--burst-cloud", "gcp", "--burst-region", "us-central1", "--gcp-project", "acme-x",
        "--domain", "api.big.example.com", "--jwt-issuer", "https://login.example.com/",
    ],
    "gcpstage": [
        "--from", "staging", "--cloud", "gcp", "--region", "us-central1", "--gcp-project", "acme-s",
        "--model", "DeepSeek-R1-Distill-Llama-70B", "--precision", "fp8", "--burst-cloud", "aws",
        "--jwt-issuer", "https://acme.okta.example.com/oauth2/default", "--jwks-uri",
        "https://acme.okta.example.com/oauth2/default/v1/keys",
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("stacks")
    paths = {}
    for name, args in CASES.items():
        result = run("new-stack", name, *args, "--dir", str(directory))
        assert result.returncode == 0, result.stderr
        assert f"Pulumi.{name}.yaml: written; next: inferstack plan {name}" in result.stdout
        paths[name] = directory / f"Pulumi.{name}.yaml"
    return paths


@pytest.mark.parametrize("name", CASES)
def test_what_new_stack_writes_plans_with_no_mandatory_violation(written: dict[str, Path], name: str) -> None:
    graph = plan_stack(name, config_file=written[name], project=find_project(ROOT))
    assert graph.resources
    assert [v for v in check_graph(graph) if v["enforcement"] == "mandatory"] == []


@pytest.mark.parametrize("name", CASES)
def test_what_new_stack_writes_passes_the_editor_schema(written: dict[str, Path], name: str) -> None:
    text = written[name].read_text()
    assert text.startswith("# yaml-language-server: $schema=stack.schema.json\n")
    jsonschema.validate(yaml.safe_load(text), stack_schema())
    assert f"secretsprovider: awskms://alias/inferstack-{name}-secrets?region=us-east-1" in text


def test_the_prod_profile_spans_two_core_regions_with_a_database_secondary(written: dict[str, Path]) -> None:
    config = yaml.safe_load(written["bigprod"].read_text())["config"]
    cores = [(c["name"], c["region"]) for c in config["clusters"] if c["role"] == "core"]
    assert cores == [("core-use1", "us-east-1"), ("core-usw2", "us-west-2")]
    assert config["database"]["secondaryRegions"] == ["us-west-2"]
    (burst,) = [c for c in config["clusters"] if c["role"] == "burst"]
    assert burst["scaleFromZero"] is True and burst["nodePools"][1]["capacity"] == "spot"
    assert burst["nodePools"][1]["minSize"] == 0


@pytest.mark.parametrize(
    ("cloud", "region", "accelerator", "model", "precision"),
    [
        ("aws", "us-east-1", "L4", "DeepSeek-R1-Distill-Qwen-7B", "bf16"),
        ("aws", "us-east-1", "L4", "DeepSeek-R1-Distill-Llama-70B", "fp8"),
        ("gcp", "us-central1", "L4", "DeepSeek-R1-Distill-Qwen-14B", "bf16"),
    ],
)
def test_the_machine_is_the_smallest_that_holds_the_model(
    cloud: str, region: str, accelerator: str, model: str, precision: str
) -> None:
    name, count = choose_machine(cloud, region, accelerator, model, precision)
    assert model_fit(model, precision, accelerator, count).fits
    machines = catalog().aws_instance_types if cloud == "aws" else catalog().gcp_machine_types
    smaller = {
        m.accelerator_count
        for m in machines.values()
        if m.accelerator == accelerator and region in (m.regions or ()) and m.accelerator_count < count
    }
    assert all(not model_fit(model, precision, accelerator, c).fits for c in smaller)
    assert machines[name].accelerator_count == count


def test_region_tags_make_the_shipped_cluster_names() -> None:
    assert [region_tag(r) for r in ("us-east-1", "us-west-2", "us-central1", "us-east-2")] == [
        "use1",
        "usw2",
        "usc1",
        "use2",
    ]


def test_an_existing_stack_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("mine\n")
    result = run("new-stack", "dev", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: exists; new-stack never overwrites a stack file (choose another NAME)"
    ]
    assert path.read_text() == "mine\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--region", "us-east-9"], "--region 'us-east-9': not a known aws region"),
        (["--accelerator", "tpu-v6e"], "--accelerator 'tpu-v6e': allowed: "),
        (["--model", "DeepSeek-R1", "--precision", "bf16"], "--model DeepSeek-R1 (bf16) needs"),
        (["--cloud", "gcp"], "--gcp-project: required when a cluster is on GCP"),
        (["--from", "qa"], "--from 'qa': allowed: dev, staging, prod"),
        (["--cloud", "azure"], "--cloud 'azure': allowed: aws, gcp"),
    ],
)
def test_a_choice_no_stack_can_hold_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run("new-stack", "x1", *args, "--dir", str(tmp_path))
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "Pulumi.x1.yaml").exists()


def test_a_bad_name_is_refused() -> None:
    with pytest.raises(ValueError, match="NAME 'Prod_1'"):
        render(Choices(name="Prod_1"))


def test_what_the_settings_model_refuses_is_never_written(tmp_path: Path) -> None:
    result = run("new-stack", "x2", "--budget", "-5", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert "inferstack:budget.maxMonthlyUsd" in result.stderr and "Pulumi.x2.yaml" in result.stderr
    assert not (tmp_path / "Pulumi.x2.yaml").exists()


def test_beyond_dev_a_new_stack_needs_the_token_issuer() -> None:
    result = run("new-stack", "edge", "--from", "staging", "--dir", "/nonexistent")
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "--jwt-issuer: required with --from staging: every request must carry a token "
        "(an https URL, your identity provider's issuer)"
    )


def test_the_issuer_and_its_keys_are_written_into_the_security_block(written: dict[str, Path]) -> None:
    bigprod = yaml.safe_load(written["bigprod"].read_text())["config"]["security"]["jwt"]
    assert bigprod == {
        "issuer": "https://login.example.com/",
        "audiences": ["inferstack-bigprod"],
        "jwksUri": "https://login.example.com/.well-known/jwks.json",
    }
    okta = yaml.safe_load(written["gcpstage"].read_text())["config"]["security"]["jwt"]
    assert okta["jwksUri"] == "https://acme.okta.example.com/oauth2/default/v1/keys"
