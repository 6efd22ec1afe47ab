"""Pulumi.yaml, PulumiPolicy.yaml and the stack files, held to what the Pulumi CLI accepts.

The real path cannot run here, so the files it reads are checked against Pulumi's documented
rules (project file reference; project config schema types; policy pack layout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

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
        if _secret_like(key) and not key.endswith("kubeconfigSecret"):
            pytest.fail(f"{path.name}: {key} holds a plaintext value {value!r}")


def test_policy_pack_layout() -> None:
    pack = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    assert pack["version"]
    requirements = (ROOT / "policies" / "requirements.txt").read_text()
    assert "pulumi-policy" in requirements
    assert (ROOT / "policies" / "__main__.py").is_file()
