"""Pulumi.yaml, PulumiPolicy.yaml and the stack files, held to what the Pulumi CLI accepts.

The real path cannot run here, so the files it reads are checked against Pulumi's documented
rules (project file reference; project config schema types; policy pack layout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from inferstack.project import ConfigFileError, find_project, load_stack_config
from infra.settings import Settings
from tests.conftest import ROOT

PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
CONFIG_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


def test_project_file_names_program_stacks_and_virtualenv() -> None:
    assert PROJECT["name"] == "inferstack"
    assert PROJECT["runtime"]["name"] == "python"
    assert PROJECT["runtime"]["options"] == {"toolchain": "pip", "virtualenv": ".venv"}
    assert (ROOT / PROJECT["main"] / "__main__.py").is_file()
    assert (ROOT / PROJECT["stackConfigDir"]).is_dir()


@pytest.mark.parametrize("key", sorted(PROJECT["config"]))
def test_declared_config_follows_the_project_schema(key: str) -> None:
    decl = PROJECT["config"][key]
    assert set(decl) <= {"type", "description", "secret", "default", "items"}, key
    assert decl["type"] in CONFIG_TYPES, f"{key}: Pulumi.yaml config types are {sorted(CONFIG_TYPES)}"
    assert decl.get("description"), key
    if decl["type"] == "array":
        assert "items" in decl, key
    if "default" in decl:
        assert isinstance(decl["default"], CONFIG_TYPES[decl["type"]]), key


def test_every_declared_key_is_a_setting() -> None:
    aliases = {f.alias for f in Settings.model_fields.values()}
    assert set(PROJECT["config"]) <= aliases


def _secret_like(path: str) -> bool:
    return any(word in path.lower() for word in ("kubeconfig", "password", "token", "secret", "authstring"))


def _walk(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return []
        return [item for k, v in value.items() for item in _walk(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in _walk(v, f"{path}[{i}]")]
    return [(path, value)]


@pytest.mark.parametrize("path", sorted((ROOT / "stacks").glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_no_plaintext_secret_in_a_stack_file(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    assert set(data) <= {"config", "secretsprovider", "encryptionsalt", "encryptedkey", "environment"}
    for key, value in _walk(data["config"], ""):
        # Names of where a secret is kept (a config key, a Secrets Manager ARN) are not secrets.
        if _secret_like(key) and not key.endswith(("kubeconfigSecret", "kubeconfigFrom.awsSecretArn")):
            pytest.fail(f"{path.name}: {key} holds a plaintext value {value!r}")


def test_policy_pack_layout() -> None:
    pack = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    assert pack["version"]
    requirements = (ROOT / "policies" / "requirements.txt").read_text()
    assert "pulumi-policy" in requirements
    assert (ROOT / "policies" / "__main__.py").is_file()


# --- the stack file reader refuses what the CLI would silently get wrong ------------------------


def _stack_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(text)
    return path


def _refusal(tmp_path: Path, text: str, stack: str = "t") -> list[str]:
    with pytest.raises(ConfigFileError) as caught:
        load_stack_config(find_project(ROOT), stack, _stack_file(tmp_path, text))
    return str(caught.value).split("\n")


DEV = (ROOT / "stacks" / "Pulumi.dev.yaml").read_text()


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    text = DEV.replace("          maxSize: 3\n", "          maxSize: 3\n          maxSize: 30\n", 1)
    (line,) = _refusal(tmp_path, text)
    first = DEV.splitlines().index("          maxSize: 3") + 1
    assert (
        f"Pulumi.t.yaml: line {first + 1}: key 'maxSize' is given twice in one mapping (first on line {first})"
        in line
    )


def test_every_key_given_twice_is_named(tmp_path: Path) -> None:
    text = DEV.replace("  owner: platform-team\n", "  owner: platform-team\n  owner: ml-team\n").replace(
        "  logRetentionDays: 7\n", "  logRetentionDays: 7\n  logRetentionDays: 30\n"
    )
    lines = _refusal(tmp_path, text)
    assert [("'owner'" in li, "'logRetentionDays'" in li) for li in lines] == [(True, False), (False, True)]


def test_the_same_key_in_two_mappings_is_fine(tmp_path: Path) -> None:
    config = load_stack_config(find_project(ROOT), "t", _stack_file(tmp_path, DEV))
    assert config.values["inferstack:owner"] == "platform-team"


def test_a_merge_key_may_be_overridden(tmp_path: Path) -> None:
    text = "config:\n  a: &base {x: 1, y: 2}\n  b:\n    <<: *base\n    y: 3\n"
    config = load_stack_config(
        find_project(ROOT), "t", _stack_file(tmp_path, text + DEV.split("config:\n", 1)[1])
    )
    assert config.values["inferstack:b"] == '{"x": 1, "y": 3}'


@pytest.mark.parametrize("stack", ["../x", "a/b", "..", "x\\y", ""])
def test_a_stack_name_is_never_a_path(stack: str) -> None:
    with pytest.raises(ConfigFileError, match="is not a stack name"):
        load_stack_config(find_project(ROOT), stack)


def test_an_unknown_stack_lists_the_stacks_that_exist() -> None:
    with pytest.raises(ConfigFileError) as caught:
        load_stack_config(find_project(ROOT), "prdo")
    message = str(caught.value)
    assert message.startswith("stacks/Pulumi.prdo.yaml: no stack 'prdo'")
    assert message.endswith("stacks: dev, onprem, prod, staging")


def test_a_misspelt_namespace_is_named_not_reported_as_a_missing_key(tmp_path: Path) -> None:
    text = DEV.replace("  owner: platform-team\n", "  inferstak:owner: platform-team\n")
    (line,) = _refusal(tmp_path, text)
    assert line.endswith(
        "Pulumi.t.yaml: inferstak:owner: unknown namespace 'inferstak'; did you mean 'inferstack'?"
    )


def test_provider_namespaces_are_not_misspellings(tmp_path: Path) -> None:
    text = DEV.replace(
        "config:\n",
        "config:\n  aws:region: us-east-1\n  gcp:project: p\n  kubernetes:context: k\n  infra:x: y\n",
        1,
    )
    config = load_stack_config(find_project(ROOT), "t", _stack_file(tmp_path, text))
    assert config.values["aws:region"] == "us-east-1" and config.values["infra:x"] == "y"


def test_several_problems_of_one_stack_file_each_get_a_line(tmp_path: Path) -> None:
    text = DEV.replace("  owner: platform-team\n", "  inferstak:owner: platform-team\n").replace(
        "  logRetentionDays: 7\n", "  logRetentionDays: [7]\n"
    )
    lines = _refusal(tmp_path, text)
    assert len(lines) == 2
    assert "inferstak:owner: unknown namespace" in lines[0]
    assert "inferstack:logRetentionDays: [7] is not allowed; Pulumi.yaml declares type integer" in lines[1]
