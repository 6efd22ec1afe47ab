"""The stack files' JSON Schema: editors validate a stack file as it is typed, at the right key."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from inferstack.schema import schema_text, stack_schema
from tests.conftest import ROOT
from tests.test_cli import run

STACK_FILES = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(stack_schema())


def _first_error(document: dict[str, Any]) -> tuple[list[Any], str] | None:
    error = jsonschema.exceptions.best_match(VALIDATOR.iter_errors(document))
    return None if error is None else (list(error.absolute_path), error.message)


def _prod() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text()))


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(stack_schema())


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_every_shipped_stack_file_is_accepted_and_names_the_schema(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=stack.schema.json\n")
    assert _first_error(yaml.safe_load(text)) is None


def test_the_committed_schema_is_the_generated_one() -> None:
    committed = (ROOT / "stacks" / "stack.schema.json").read_text()
    assert committed == schema_text(), "stale: run `make docs`"


def _set(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _drop(*path: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        node = document
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (
            _set("config", "clusters", 0, "nodePools", 1, "minSize", value=-1),
            ["config", "clusters", 0, "nodePools", 1, "minSize"],
            "minimum",
        ),
        (
            _set("config", "clusters", 0, "region", value="us-east-9"),
            ["config", "clusters", 0, "region"],
            "is not one of",
        ),
        (
            _set("config", "clusters", 0, "nodePools", 0, "machineTyp", value="x"),
            ["config", "clusters", 0, "nodePools", 0],
            "'machineTyp' was unexpected",
        ),
        (
            _set("config", "clusters", 0, "nodePools", 1, "accelerator", value="H300"),
            ["config", "clusters", 0, "nodePools", 1, "accelerator"],
            "is not one of",
        ),
        (_set("config", "clsuters", value=[]), ["config", "clsuters"], "is not of type 'object'"),
        (
            _set("config", "inferstack:typo", value=1),
            ["config", "inferstack:typo"],
            "is not of type 'object'",
        ),
        (_set("secretprovider", value="x"), [], "'secretprovider' was unexpected"),
        (_drop("config", "owner"), ["config"], ""),
    ],
)
def test_a_broken_stack_file_is_refused_at_the_key(
    change: Callable[[dict[str, Any]], None], where: list[Any], says: str
) -> None:
    document = _prod()
    change(document)
    found = _first_error(document)
    assert found is not None
    assert found[0] == where and says in found[1]


@pytest.mark.parametrize(
    "change",
    [
        _set("config", "aws:region", value="us-east-1"),
        _set("config", "inferstack:owner", value="team-b"),
        _set("config", "someSecret", value={"secure": "v1:abc"}),
        _set("environment", value=["acme/prod"]),
    ],
)
def test_what_pulumi_accepts_is_accepted(change: Callable[[dict[str, Any]], None]) -> None:
    document = _prod()
    change(document)
    assert _first_error(document) is None


def test_the_command_prints_the_schema(tmp_path: Path) -> None:
    result = run("schema")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == stack_schema()
    out = tmp_path / "s.json"
    assert run("schema", "--out", str(out)).returncode == 0
    assert out.read_text() == schema_text()
