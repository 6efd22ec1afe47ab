"""``inferstack``: every check that needs no credentials, on a laptop or in CI, in seconds.

Exit codes (the README's contract): 0 fine, 1 mandatory policy violations, 2 bad config or usage.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from inferstack.engine import Graph, ProgramError, plan_stack, run_program
from inferstack.policy import check_graph
from inferstack.project import ConfigFileError, Project, StackConfig, find_project
from inferstack.report import plan_json

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def _plan(stack: str, config_file: Path | None) -> Graph:
    try:
        return plan_stack(stack, config_file=config_file)
    except ConfigFileError as error:
        raise _fail(str(error)) from None
    except ProgramError as error:
        if not error.bad_input and os.environ.get("INFERSTACK_DEBUG") and error.__cause__:
            traceback.print_exception(error.__cause__)
        hint = (
            ""
            if error.bad_input or os.environ.get("INFERSTACK_DEBUG")
            else " (INFERSTACK_DEBUG=1 shows the traceback)"
        )
        raise _fail(f"{error}{hint}") from None


def _print_summary(graph: Graph, data: dict[str, Any]) -> None:
    s = data["summary"]
    out.print(
        f"[bold]{graph.project}/{graph.stack}[/] from {graph.source}: "
        f"{s['custom']} resources in {s['components']} components, planned offline in {graph.seconds:.2f}s"
    )
    table = Table("cloud/region", "resources", box=None, pad_edge=False)
    for key, count in s["byRegion"].items():
        table.add_row(key, str(count))
    out.print(table)
    types = Table("type", "count", box=None, pad_edge=False)
    for key, count in sorted(s["byType"].items(), key=lambda kv: (-kv[1], kv[0])):
        types.add_row(key, str(count))
    out.print(types)
    for line in s["shape"]:
        out.print(f"  {line}", highlight=False)
    for warning in graph.warnings:
        out.print(f"[yellow]warning:[/] {warning}", highlight=False)
    violations = data["violations"]
    mandatory = [v for v in violations if v["enforcement"] == "mandatory"]
    for v in violations:
        out.print(f"[red]{v['enforcement']}[/] {v['policy']}: {v['message']} ({v['urn']})", highlight=False)
    out.print(f"policy: {len(mandatory)} mandatory, {len(violations) - len(mandatory)} advisory violations")


@app.command()
def plan(
    stack: Annotated[str, typer.Argument(help="Stack name: plans stacks/Pulumi.STACK.yaml")],
    config_file: Annotated[
        Path | None,
        typer.Option("--config-file", help="Plan this stack file instead (as pulumi --config-file)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as one JSON object")] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the plan JSON to this file")
    ] = None,
) -> None:
    """Run the program offline, apply the policy pack and price the result."""
    graph = _plan(stack, config_file)
    data = plan_json(graph, violations=check_graph(graph))
    text = json.dumps(data, indent=2, sort_keys=False)
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(text + "\n", encoding="utf-8")
    if as_json:
        sys.stdout.write(text + "\n")
    else:
        _print_summary(graph, data)
    if any(v["enforcement"] == "mandatory" for v in data["violations"]):
        raise typer.Exit(1)


_FLOOR_PROGRAM = """
import pulumi
for i in range({count}):
    pulumi.CustomResource("inferstack:bench:Trivial", f"r{{i}}", {{"index": i}})
"""


@app.command()
def bench(
    stacks: Annotated[list[str] | None, typer.Argument(help="Stacks to time (default: every stack)")] = None,
    runs: Annotated[int, typer.Option(help="Timed runs per stack after one warm-up")] = 3,
) -> None:
    """Time the offline plan of each stack against the floor: as many trivial resources, same runtime."""
    project = find_project()
    names = stacks or project.stacks()
    table = Table("stack", "resources", "first run s", "median s", "floor median s", "overhead x")
    for name in names:
        started = time.perf_counter()
        graph = _plan(name, None)
        first = time.perf_counter() - started
        times = [_plan(name, None).seconds for _ in range(runs)]
        floor = _floor_times(project, len(graph.resources), runs)
        median, floor_median = statistics.median(times), statistics.median(floor)
        table.add_row(
            name,
            str(len(graph.resources)),
            f"{first:.2f}",
            f"{median:.3f}",
            f"{floor_median:.3f}",
            f"{median / floor_median:.1f}",
        )
    out.print(table)


def _floor_times(project: Project, count: int, runs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        main = Path(tmp)
        (main / "__main__.py").write_text(_FLOOR_PROGRAM.format(count=count), encoding="utf-8")
        floor_project = Project(root=project.root, name=project.name, main=main, stack_config_dir=main)
        config = StackConfig(source="(floor)", values={}, secret_keys=frozenset())
        run_program(floor_project, "floor", config)
        return [run_program(floor_project, "floor", config).seconds for _ in range(runs)]


@app.command()
def export(
    stack: Annotated[str, typer.Argument(help="Stack name: exports stacks/Pulumi.STACK.yaml")],
    fmt: Annotated[
        str, typer.Option("--format", help="Output format: tfplan (Terraform plan JSON)")
    ] = "tfplan",
    config_file: Annotated[
        Path | None,
        typer.Option("--config-file", help="Export this stack file instead (as pulumi --config-file)"),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the plan JSON here instead of stdout")
    ] = None,
    out_k8s: Annotated[
        Path | None,
        typer.Option("--out-k8s", help="Also write every Kubernetes object as YAML under this directory"),
    ] = None,
) -> None:
    """The planned graph as a Terraform plan JSON, for Checkov, Trivy and other plan scanners."""
    from inferstack.tfplan import MappingError, manifests
    from inferstack.tfplan import export as to_tfplan

    if fmt != "tfplan":
        raise _fail(f"--format {fmt!r}: only 'tfplan' is supported")
    graph = _plan(stack, config_file)
    try:
        exported = to_tfplan(graph)
    except MappingError as error:
        raise _fail(str(error)) from None
    text = json.dumps(exported.plan, indent=2)
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    written = manifests(graph) if out_k8s is not None else {}
    for relative, body in written.items():
        path = (out_k8s or Path()) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    skipped = ", ".join(
        f"{count} {reason.split(':')[0]}" for reason, count in sorted(exported.skipped.items())
    )
    err.print(
        f"{graph.project}/{graph.stack}: {len(exported.addresses)} resources as Terraform plan "
        f"({len(exported.unscanned)} of types no Checkov check evaluates on their own), {len(written)} Kubernetes manifests; "
        f"not in the plan: {skipped or 'nothing'}",
        highlight=False,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
