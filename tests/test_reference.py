"""The generated references stay true: every settings key is in them, and they are never stale."""

from __future__ import annotations

import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from inferstack.policy import PACK
from inferstack.reference import CATALOG_DIR, CATALOG_DOC, POLICIES_DOC, SETTINGS_DOC, generated
from infra.settings import Settings
from tests.conftest import ROOT


def _paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key path of the settings model, as a stack file spells it (camelCase, ``[]`` for lists)."""
    out: list[str] = []
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        out.append(path)
        # X, X | None, list[X], list[X] | None: the model X and whether it is a list.
        union = typing.get_origin(info.annotation) in (typing.Union, types.UnionType)
        options = typing.get_args(info.annotation) if union else (info.annotation,)
        for option in options:
            is_list = typing.get_origin(option) is list
            candidate = typing.get_args(option)[0] if is_list else option
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                out += _paths(candidate, path + ("[]." if is_list else "."))
    return out


def test_every_settings_key_is_in_the_reference() -> None:
    text = generated(ROOT)[SETTINGS_DOC]
    paths = _paths(Settings)
    assert "clusters[].nodePools[].machineType" in paths and "edge.healthCheckPath" in paths
    missing = [p for p in paths if f"| `{p}` |" not in text]
    assert missing == []


def test_every_catalog_table_is_listed_with_its_date() -> None:
    text = generated(ROOT)[CATALOG_DOC]
    tables = sorted((ROOT / CATALOG_DIR).glob("*.yaml"))
    assert len(tables) >= 7
    for table in tables:
        section = text.split(f"## {table.name}\n", 1)[1].split("\n## ", 1)[0]
        assert "- as of: 20" in section, table.name


def test_every_guard_is_in_the_catalogue_with_its_severity_and_levels() -> None:
    text = generated(ROOT)[POLICIES_DOC]
    assert len(PACK) >= 11
    for policy in PACK:
        [row] = [line for line in text.splitlines() if line.startswith(f"| `{policy.name}` |")]
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[2] == (policy.severity.value if policy.severity else ""), policy.name
        assert set(cells[-3:]) <= {"mandatory", "advisory", "disabled", "remediate"}, policy.name


@pytest.mark.parametrize("relative", [SETTINGS_DOC, CATALOG_DOC, POLICIES_DOC], ids=str)
def test_the_committed_reference_is_the_generated_one(relative: Path) -> None:
    assert (ROOT / relative).read_text() == generated(ROOT)[relative], "stale: run `make docs`"
