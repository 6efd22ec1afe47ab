"""The rows as people read them (a table) and as scripts read them (JSON)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table

from inferstack.preflight.rows import Result, Row, blocked

STYLE = {Result.OK: "green", Result.WARN: "yellow", Result.BLOCK: "bold red"}


def table(rows: list[Row]) -> Table:
    out = Table(box=None, pad_edge=False)
    out.add_column("check")
    out.add_column("resource", overflow="fold")
    out.add_column("result")
    out.add_column("how to fix / what the cloud said", overflow="fold")
    for row in rows:
        out.add_row(row.check, row.resource, f"[{STYLE[row.result]}]{row.result.value}[/]", row.detail)
    return out


def verdict(rows: list[Row]) -> str:
    counts = {r: sum(1 for row in rows if row.result is r) for r in Result}
    head = "blocked: fix the block rows before `pulumi up`" if blocked(rows) else "clear to apply"
    return f"{head} ({counts[Result.OK]} ok, {counts[Result.WARN]} warn, {counts[Result.BLOCK]} block)"


def text(rows: list[Row], width: int = 160) -> str:
    """The table and verdict as plain text, as a terminal of ``width`` columns shows them (no colour)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, soft_wrap=False)
    console.print(table(rows))
    console.print(verdict(rows), highlight=False)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in out.splitlines()) + "\n"


def as_json(stack: str, rows: list[Row]) -> dict[str, Any]:
    return {"stack": stack, "blocked": blocked(rows), "rows": [r.to_json() for r in rows]}
