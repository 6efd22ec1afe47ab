"""The runbooks name commands that exist, and each one is listed in the index."""

from __future__ import annotations

import re

import pytest
import typer.main

from inferstack.cli import app
from tests.conftest import ROOT

RUNBOOKS = ROOT / "docs" / "runbooks"
PAGES = sorted(p for p in RUNBOOKS.glob("*.md") if p.name != "README.md")


def test_the_runbooks_use_the_toolkit() -> None:
    text = "".join(p.read_text() for p in PAGES)
    assert "inferstack plan" in text and "inferstack preflight" in text


def test_the_runbooks_are_there() -> None:
    names = {p.stem for p in PAGES}
    assert {
        "failover-drill",
        "drain-region",
        "database-switchover",
        "rotate-secrets",
        "scale-burst",
        "add-accelerator",
    } <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_inferstack_command_a_runbook_names_exists(page: object) -> None:
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    # A command is `inferstack x` at the start of a shell line or inside backticks.
    text = page.read_text()  # type: ignore[attr-defined]
    named = set(re.findall(r"(?:^|`)(?:\.venv/bin/)?inferstack ([a-z][a-z-]+)", text, flags=re.MULTILINE))
    assert named - commands == set()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_runbook_is_in_the_index(page: object) -> None:
    assert f"]({page.name})" in (RUNBOOKS / "README.md").read_text()  # type: ignore[attr-defined]
