"""Keeps the README's command output true: each generated block is the command's own output.

A block in README.md looks like this, and ``python -m inferstack.docs`` (``make docs``) rewrites its
body by running the command named in the marker from the project root::

    <!-- output of: inferstack plan prod -->
    ```text
    ...
    ```

A ``mermaid`` fence in place of ``text`` keeps a picture (``inferstack graph prod``) drawn on GitHub.

``tests/test_docs.py`` runs the same commands and fails when a block is stale. The plan's timing
is the one part that differs from run to run, so it is compared as a placeholder.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

BLOCK = re.compile(
    r"(<!-- output of: (?P<command>[^>]+?) -->\n```(?:text|mermaid)\n)(?P<body>.*?)(```)", re.DOTALL
)
_TIMING = re.compile(r"planned offline in \d+\.\d+ s")


def run_command(command: str, root: Path) -> str:
    """The output of ``inferstack ...`` as a reader sees it in a log: no colour, trailing spaces cut."""
    args = shlex.split(command)
    if args[:1] != ["inferstack"]:
        raise ValueError(f"only inferstack commands are generated, not {command!r}")
    result = subprocess.run(
        [sys.executable, "-m", "inferstack.cli", *args[1:]],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "NO_COLOR": "1", "TERM": "dumb"},
        check=False,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"{command} exited {result.returncode}: {result.stderr.strip()}")
    return "".join(line.rstrip() + "\n" for line in result.stdout.splitlines())


def normalised(text: str) -> str:
    return _TIMING.sub("planned offline in N s", text)


def blocks(readme: str) -> list[tuple[str, str]]:
    """(command, body) of every generated block."""
    return [(m["command"], m["body"]) for m in BLOCK.finditer(readme)]


def update(readme_path: Path, root: Path | None = None) -> bool:
    """Rewrite every generated block, running the commands in ``root``; say whether anything changed."""
    text = readme_path.read_text(encoding="utf-8")
    root = root or readme_path.parent
    new = BLOCK.sub(lambda m: m.group(1) + run_command(m["command"], root) + m.group(4), text)
    if normalised(new) == normalised(text):
        return False
    readme_path.write_text(new, encoding="utf-8")
    return True


SCHEMA = Path("stacks/stack.schema.json")
"""The stack files' JSON Schema, which their ``# yaml-language-server: $schema=`` line names."""


def update_schema(root: Path) -> bool:
    from inferstack.schema import schema_text

    path = root / SCHEMA
    text = schema_text()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("README.md")
    print(f"{path}: {'updated' if update(path) else 'up to date'}")
    print(f"{SCHEMA}: {'updated' if update_schema(path.parent) else 'up to date'}")
    from inferstack.reference import update as update_references

    for changed in update_references(path.parent):
        print(f"{changed}: updated")
