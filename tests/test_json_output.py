"""`--json` on every command: one JSON object on stdout a script can read, nothing else there."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

import inferstack.cli
from tests.test_cli import run


def test_every_command_takes_json() -> None:
    commands = {c.name or c.callback.__name__: c.callback for c in inferstack.cli.app.registered_commands}
    assert {"plan", "check", "render", "graph", "schema", "new-stack", "cost", "bench", "export"} <= set(
        commands
    )
    lacking = [name for name, fn in commands.items() if "as_json" not in inspect.signature(fn).parameters]
    assert lacking == []


def test_render_json_names_each_cluster_and_its_counts(tmp_path: Path) -> None:
    result = run("render", "dev", "--out", str(tmp_path / "r"), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["problems"] == [] and data["clusters"]
    for cluster in data["clusters"]:
        assert cluster["validated"] + cluster["unvalidated"] == cluster["objects"] > 0
        assert (Path(cluster["dir"]) / "objects.yaml").is_file()


def test_graph_json_on_stdout_and_to_a_file(tmp_path: Path) -> None:
    shown = json.loads(run("graph", "dev", "--json").stdout)
    assert shown["format"] == "mmd" and shown["picture"].startswith(("flowchart", "graph", "%%"))
    written = json.loads(run("graph", "dev", "--out", str(tmp_path / "g.dot"), "--json").stdout)
    assert written["format"] == "dot" and written["bytes"] == (tmp_path / "g.dot").stat().st_size


def test_new_stack_json_says_where_it_wrote(tmp_path: Path) -> None:
    result = run("new-stack", "qa", "--dir", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert Path(data["path"]).is_file() and data["next"] == "inferstack plan qa"


@pytest.mark.parametrize(
    "args",
    [
        ("schema", "--out", "{tmp}/s.json", "--json"),
        ("policy-config", "dev", "--out", "{tmp}/p.json", "--json"),
        ("export", "dev", "--out", "{tmp}/t.json", "--json"),
    ],
    ids=["schema", "policy-config", "export"],
)
def test_writers_report_the_file_as_json(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run(*(a.format(tmp=tmp_path) for a in args))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert Path(data["out"]).is_file()
