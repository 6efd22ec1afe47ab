"""The README's command output is the command's real output, not a pasted copy that went stale."""

from __future__ import annotations

import pytest

from inferstack import docs
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_has_generated_blocks() -> None:
    commands = [command for command, _ in docs.blocks(README)]
    assert "inferstack plan prod" in commands


@pytest.mark.parametrize("command", [c for c, _ in docs.blocks(README)])
def test_generated_block_is_current(command: str) -> None:
    body = dict(docs.blocks(README))[command]
    fresh = docs.run_command(command, ROOT)
    assert docs.normalised(body) == docs.normalised(fresh), f"README is stale for `{command}`: run make docs"


def test_a_stale_block_is_seen(tmp_path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- output of: inferstack plan dev -->\n```text\nold output\n```\n")
    assert docs.update(readme, ROOT) is True
    assert "old output" not in readme.read_text() and "inferstack/dev" in readme.read_text()
    assert docs.update(readme, ROOT) is False
