"""``inferstack``: every check that needs no credentials, on a laptop or in CI, in seconds.

Exit codes (the README's contract, which CI depends on): 0 fine, 1 mandatory policy violations,
2 bad input or usage, 3 an internal error: a bug in inferstack, never a verdict on the stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inferstack import cost as costs
from inferstack import policy as pack
from inferstack.engine import Graph, ProgramError, plan_stack, run_program
from inferstack.project import ConfigFileError, Project, StackConfig, find_project, load_stack_config
from inferstack.report import plan_json, settings_from, settings_of
from inferstack.saved import load_graph

EXIT_OK, EXIT_VIOLATIONS, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_enable=False, rich_markup_mode="rich")
# Piped output (CI logs, files) is not cut at 80 columns: tables take the width they need.
# emoji=False: ":secret:" in a Secrets Manager ARN is text, not an emoji code.
out = Console(soft_wrap=True, emoji=False, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True, emoji=False, width=None if sys.stderr.isatty() else 200)


class _State:
    debug = bool(os.environ.get("INFERSTACK_DEBUG"))


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """One line per problem on stderr, then the exit code."""
    for line in message.splitlines() or [message]:
        err.print(f"[bold red]error:[/] {line}", highlight=False, markup=True)
    return typer.Exit(code)


def _internal_error(error: BaseException, what: str) -> typer.Exit:
    """A bug, said in one line, with the full traceback kept where the reader can find it."""
    trace = "".join(traceback.format_exception(error))
    if _State.debug:
        sys.stderr.write(trace)
        where = "the traceback is above"
    else:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = Path(tempfile.gettempdir()) / f"inferstack-crash-{stamp}-{os.getpid()}.txt"
        path.write_text(trace, encoding="utf-8")
        where = f"the traceback is in {path} (or rerun with --debug)"
    err.print(
        f"[bold red]internal error:[/] {what}. This is a bug in inferstack, not a problem with the stack "
        f"file; {where}",
        highlight=False,
        markup=True,
    )
    return typer.Exit(EXIT_INTERNAL)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the traceback of an internal error (exit 3)")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Print only errors and JSON (exit codes are unchanged)"),
    ] = False,
) -> None:
    if debug:
        _State.debug = True
    if quiet:
        out.quiet = True
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())
        raise typer.Exit(EXIT_BAD_INPUT)


def _apply_pack(graph: Graph, config: dict[str, Any], source: str | None) -> pack.Outcome:
    try:
        return pack.check(graph, config=config)
    except pack.PolicyConfigError as error:
        where = f"policies/config/{source}.json" if source else "the policy config"
        raise _fail(f"{where}: {error}") from None


def _plan(stack: str, config_file: Path | None, *, new: bool = False) -> Graph:
    if config_file is not None and config_file.is_dir():
        raise _fail(f"--config-file: {str(config_file)!r} is a directory; allowed: a stack file")
    # A progress line where a person watches (a terminal); logs and pipes get none.
    progress = (
        err.status(f"planning {stack} offline...", spinner="dots")
        if err.is_terminal and not out.quiet
        else contextlib.nullcontext()
    )
    try:
        with progress:
            return plan_stack(stack, config_file=config_file, new=new)
    except ConfigFileError as error:
        raise _fail(str(error)) from None
    except ProgramError as error:
        if error.bad_input:
            raise _fail(str(error)) from None
        raise _internal_error(error.__cause__ or error, f"planning {stack} failed: {error}") from None


@app.command("render")
def render_command(
    stack: Annotated[str, typer.Argument(help="Stack name: renders stacks/Pulumi.STACK.yaml")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory for <cluster>/objects.yaml and releases.yaml")
    ],
    config_file: Annotated[
        Path | None,
        typer.Option("--config-file", help="Render this stack file instead (as pulumi --config-file)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was done as one JSON object")] = False,
) -> None:
    """Every Kubernetes object per cluster, validated against the cluster's Kubernetes version.

    Exit 1 when an object would be refused by the API server's schema (strict: unknown fields too).
    """
    from inferstack.render import render, write
    from inferstack.report import settings_of

    if out_dir.exists() and not out_dir.is_dir():
        raise _fail(f"--out: {str(out_dir)!r} is a file; allowed: a directory")
    graph = _plan(stack, config_file)
    settings = settings_of(graph)
    if settings is None:
        raise _fail(f"{graph.project}/{stack}: render needs a stack of the inferstack project")
    clusters, problems = render(graph, {c.name: c.kubernetes_version for c in settings.clusters})
    try:
        write(clusters, out_dir)
    except OSError as error:
        raise _fail(f"--out: {str(out_dir)!r} cannot be written ({error.strerror or error})") from None
    if as_json:
        payload = {
            "stack": stack,
            "out": str(out_dir),
            "clusters": [
                {
                    "name": c.name,
                    "kubernetesVersion": c.kubernetes_version,
                    "objects": len(c.objects),
                    "validated": len(c.objects) - len(c.unvalidated),
                    "unvalidated": len(c.unvalidated),
                    "releases": len(c.releases),
                    "dir": str(out_dir / c.name),
                }
                for c in clusters.values()
            ],
            "problems": list(problems),
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    for cluster in [] if as_json else clusters.values():
        note = f"; {len(cluster.unvalidated)} custom resources not validated" if cluster.unvalidated else ""
        out.print(
            f"{cluster.name}: {len(cluster.objects) - len(cluster.unvalidated)} objects valid for Kubernetes "
            f"{cluster.kubernetes_version}, "
            f"{len(cluster.releases)} Helm releases{note} -> {out_dir / cluster.name}",
            highlight=False,
        )
    for problem in problems:
        err.print(f"[bold red]invalid:[/] {problem}", highlight=False)
    if problems:
        raise typer.Exit(EXIT_VIOLATIONS)


@app.command("graph")
def graph_command(
    stack: Annotated[str, typer.Argument(help="Stack name: draws stacks/Pulumi.STACK.yaml")],
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the picture here; the suffix picks the format: .dot .mmd .svg .png"
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="dot or mmd on stdout (default mmd), or override the suffix"),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option("--config-file", help="Draw this stack file instead (as pulumi --config-file)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was done as one JSON object")] = False,
) -> None:
    """The topology: clusters by cloud and region, pools, the edge's failover order, database, Redis."""
    from inferstack.picture import FORMATS, GraphvizMissing, draw, format_of, picture
    from inferstack.report import settings_of

    allowed = ", ".join(FORMATS)
    if fmt is not None and fmt not in FORMATS:
        raise _fail(f"--format: {fmt!r} is not a format; allowed: {allowed}")
    if out_file is None:
        chosen = fmt or "mmd"
        if chosen not in ("dot", "mmd"):
            raise _fail(f"--format {chosen}: binary output needs --out F; allowed on stdout: dot, mmd")
    else:
        _check_out_file(out_file)
        chosen = fmt or format_of(out_file) or ""
        if not chosen:
            raise _fail(f"--out: {str(out_file)!r} has no known suffix; allowed: {allowed}")
    graph = _plan(stack, config_file)
    settings = settings_of(graph)
    if settings is None:
        raise _fail(f"{graph.project}/{stack}: graph needs a stack of the inferstack project")
    try:
        body = draw(picture(settings, graph), chosen)
    except GraphvizMissing as error:
        raise _fail(f"--out {out_file}: {error}") from None
    if out_file is None:
        if as_json:
            sys.stdout.write(json.dumps({"stack": stack, "format": chosen, "picture": body.decode()}) + "\n")
        else:
            sys.stdout.write(body.decode())
        return
    try:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_bytes(body)
    except OSError as error:
        raise _fail(f"--out: {str(out_file)!r} cannot be written ({error.strerror or error})") from None
    if as_json:
        payload = {"stack": stack, "format": chosen, "out": str(out_file), "bytes": len(body)}
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    err.print(f"{graph.project}/{stack}: topology written to {out_file} ({chosen})", highlight=False)


@app.command("schema")
def schema_command(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the schema here instead of stdout")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --out: print what was written as one JSON object")
    ] = False,
) -> None:
    """A JSON Schema of a whole stack file, for editors (stacks/stack.schema.json is this output)."""
    from inferstack.schema import schema_text

    text = schema_text()
    if out_file is None:
        sys.stdout.write(text)  # the schema is JSON already
        return
    _check_out_file(out_file)
    _write(out_file, text)
    if as_json:
        sys.stdout.write(json.dumps({"out": str(out_file), "bytes": len(text.encode())}) + "\n")


@app.command("new-stack")
def new_stack_command(
    name: Annotated[str, typer.Argument(help="Stack name: writes stacks/Pulumi.NAME.yaml")],
    profile: Annotated[str, typer.Option("--from", help="Environment profile: dev, staging or prod")] = "dev",
    cloud: Annotated[str, typer.Option("--cloud", help="Cloud of the core cluster: aws or gcp")] = "aws",
    region: Annotated[
        str | None, typer.Option("--region", help="Core region (default us-east-1 / us-central1)")
    ] = None,
    accelerator: Annotated[str, typer.Option("--accelerator", help="GPU of the serving pools")] = "L4",
    model: Annotated[str, typer.Option("--model", help="Model to serve (infra/catalog/models.yaml)")] = (
        "DeepSeek-R1-Distill-Qwen-7B"
    ),
    precision: Annotated[str, typer.Option("--precision", help="Serving precision")] = "bf16",
    budget: Annotated[int | None, typer.Option("--budget", help="budget.maxMonthlyUsd")] = None,
    owner: Annotated[str, typer.Option("--owner", help="owner tag")] = "platform-team",
    cost_center: Annotated[str | None, typer.Option("--cost-center", help="costCenter tag")] = None,
    gcp_project: Annotated[
        str | None, typer.Option("--gcp-project", help="Needed when a cluster is on GCP")
    ] = None,
    burst_cloud: Annotated[
        str | None, typer.Option("--burst-cloud", help="Add a spot burst cluster here")
    ] = None,
    burst_region: Annotated[
        str | None, typer.Option("--burst-region", help="Region of the burst cluster")
    ] = None,
    secondary_region: Annotated[
        str | None,
        typer.Option("--secondary-region", help="A second core region, and the database's secondary"),
    ] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="Public name of the edge")] = None,
    jwt_issuer: Annotated[
        str | None,
        typer.Option("--jwt-issuer", help="Issuer of the tokens every request carries (required beyond dev)"),
    ] = None,
    jwks_uri: Annotated[
        str | None,
        typer.Option("--jwks-uri", help="Its signing keys (default <issuer>/.well-known/jwks.json)"),
    ] = None,
    directory: Annotated[Path, typer.Option("--dir", help="Where stack files live")] = Path("stacks"),
    as_json: Annotated[bool, typer.Option("--json", help="Print what was done as one JSON object")] = False,
) -> None:
    """Write a new stack file from a template with the choices given, validated before it is written."""
    from inferstack.newstack import Choices, NewStackError, write

    choices = Choices(
        name=name,
        profile=profile,
        cloud=cloud,
        region=region,
        accelerator=accelerator,
        model=model,
        precision=precision,
        budget=budget,
        owner=owner,
        cost_center=cost_center,
        gcp_project=gcp_project,
        burst_cloud=burst_cloud,
        burst_region=burst_region,
        secondary_region=secondary_region,
        domain=domain,
        jwt_issuer=jwt_issuer,
        jwks_uri=jwks_uri,
    )
    try:
        path = write(choices, directory)
    except NewStackError as error:
        raise _fail(str(error)) from None
    except OSError as error:
        raise _fail(f"--dir: {str(directory)!r} cannot be written ({error.strerror or error})") from None
    if as_json:
        payload = {"stack": name, "path": str(path), "profile": profile, "next": f"inferstack plan {name}"}
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    out.print(f"{path}: written; next: inferstack plan {name}", highlight=False)
    out.print(
        f"before the first pulumi up: add {{name: {name}, environment: {profile}}} to the bootstrap's stacks "
        "(bootstrap/stacks/Pulumi.<org>.yaml) and apply it, so that the stack's secrets key exists",
        highlight=False,
    )


def _check_out_file(path: Path) -> None:
    """Refuse an --out that cannot be a file before spending a plan on it."""
    if path.is_dir():
        raise _fail(f"--out: {str(path)!r} is a directory; allowed: a file path")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise _fail(f"--out: {str(path)!r} cannot be written ({str(blocker)!r} is a file, not a directory)")


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise _fail(f"--out: {str(path)!r} cannot be written ({error.strerror or error})") from None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _pools_table(summary: dict[str, Any]) -> Table:
    table = Table(
        "cluster",
        "pool",
        "machine",
        "accelerators/node",
        "capacity",
        "min/desired/max",
        "accelerators desired/max",
        box=None,
        pad_edge=False,
    )
    for cluster in summary["clusters"]:
        for pool in cluster["nodePools"]:
            per_node = (
                f"{pool['acceleratorsPerNode']}x {pool['accelerator']}"
                + (f" ({pool['tpuTopology']})" if pool["tpuTopology"] else "")
                if pool["accelerator"]
                else "-"
            )
            reach = (
                f"{pool['acceleratorsAtDesired']}/{pool['acceleratorsAtMax']}" if pool["accelerator"] else "-"
            )
            table.add_row(
                cluster["name"],
                pool["name"],
                pool["machineType"],
                per_node,
                pool["capacity"],
                f"{pool['minSize']}/{pool['desiredSize']}/{pool['maxSize']}",
                reach,
            )
    return table


def _clusters_table(summary: dict[str, Any]) -> Table:
    table = Table("cluster", "cloud", "region", "role", "endpoint", "kubernetes", box=None, pad_edge=False)
    for cluster in summary["clusters"]:
        if cluster["cloud"] == "existing":
            where, endpoint, version = "-", f"kubeconfig from secret {cluster['kubeconfigSecret']}", "-"
        else:
            where, endpoint, version = (
                cluster["region"],
                cluster["endpointAccess"],
                cluster["kubernetesVersion"],
            )
        table.add_row(cluster["name"], cluster["cloud"], where, cluster["role"], endpoint, version)
    return table


def _print_summary(graph: Graph, data: dict[str, Any], *, verbose: bool) -> None:
    s = data["summary"]
    out.print(
        f"[bold]{graph.project}/{graph.stack}[/]: "
        + (f"environment {s['environment']}, " if "environment" in s else "")
        + f"from {graph.source}, planned offline in {graph.seconds:.2f} s",
        highlight=False,
    )
    if "model" in s:
        out.print(f"model: {s['model']['name']} ({s['model']['precision']})", highlight=False)
    if s.get("clusters"):
        out.print()
        out.print(_clusters_table(s))
        if any(c["nodePools"] for c in s["clusters"]):
            out.print()
            out.print(_pools_table(s))
        totals = s["accelerators"]
        if totals["max"]:
            each = ", ".join(
                f"{name} {totals['desired'].get(name, 0)}/{count}" for name, count in totals["max"].items()
            )
            out.print(
                f"\naccelerators desired/max: {sum(totals['desired'].values())}/{sum(totals['max'].values())} "
                f"({each})",
                highlight=False,
            )
    if data["outputs"].get("publicName"):
        out.print(f"public name: {data['outputs']['publicName']}", highlight=False)
    for line in s["shape"]:
        out.print(line, highlight=False)

    out.print()
    for warning in data["warnings"]:
        out.print(f"[yellow]warning:[/] {warning['message']}", highlight=False)
    violations = data["violations"]
    mandatory = [v for v in violations if v["enforcement"] == "mandatory"]
    for v in violations:
        out.print(f"[red]{v['enforcement']}[/] {v['policy']}: {v['message']} ({v['urn']})", highlight=False)
    for d in data["degraded"]:
        out.print(
            f"[yellow]cannot run at preview[/] {d['policy']}: {d['message']} ({d['urn']})", highlight=False
        )
    out.print(
        f"policy: {len(mandatory)} mandatory, {len(violations) - len(mandatory)} advisory violations"
        + (f", {len(data['degraded'])} guard runs lost to unknown values" if data["degraded"] else "")
        + f"; {_count(len(data['warnings']), 'warning')}",
        highlight=False,
    )
    cost = data["cost"]
    if cost.get("estimated") is False:
        out.print("cost: not estimated", highlight=False)
    else:
        out.print(costs.summary_line(cost) + f"; inferstack cost {graph.stack} itemises it", highlight=False)
    out.print(
        f"resources: {s['resources']} registered ({s['custom']} custom resources, {s['components']} components)"
        + ("" if verbose else "; --verbose counts them by region and type"),
        highlight=False,
    )
    if verbose:
        table = Table("cloud/region", "resources", box=None, pad_edge=False)
        for key, count in s["byRegion"].items():
            table.add_row(key, str(count))
        out.print(table)
        types = Table("type", "count", box=None, pad_edge=False)
        for key, count in sorted(s["byType"].items(), key=lambda kv: (-kv[1], kv[0])):
            types.add_row(key, str(count))
        out.print(types)


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
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also count resources by region and by type")
    ] = False,
    first_preview: Annotated[
        bool,
        typer.Option(
            "--first-preview",
            help="Plan as the first preview of an empty stack sees it: every value the clouds compute unknown",
        ),
    ] = False,
) -> None:
    """Run the program offline, apply the policy pack with the stack's environment config, price the result."""
    if out_file is not None:
        _check_out_file(out_file)
    graph = _plan(stack, config_file, new=first_preview)
    settings = settings_of(graph)
    outcome = _apply_pack(
        graph, pack.policy_config(settings), settings.environment.value if settings else None
    )
    data = plan_json(
        graph,
        violations=outcome.violations,
        cost=costs.cost_block(graph, settings),
        degraded=outcome.degraded,
    )
    text = json.dumps(data, indent=2, sort_keys=False)
    if out_file is not None:
        _write(out_file, text + "\n")
    if as_json:
        sys.stdout.write(text + "\n")
    else:
        _print_summary(graph, data, verbose=verbose)
    if any(v["enforcement"] == "mandatory" for v in data["violations"]):
        raise typer.Exit(EXIT_VIOLATIONS)


_SEVERITIES = ("critical", "high", "medium", "low", None)


def _check_report(graph: Graph, outcome: pack.Outcome, source: str, where: str) -> None:
    """Violations grouped by severity, each naming the resource, the rule and the fix."""
    names = {r.urn: f"{r.type} {r.name}" for r in graph.resources}
    for severity in _SEVERITIES:
        found = [v for v in outcome.violations if v["severity"] == severity]
        if not found:
            continue
        out.print(f"[bold]{severity or 'unrated'}[/] ({len(found)})", highlight=False)
        for v in sorted(found, key=lambda v: (v["enforcement"] != "mandatory", v["policy"], v["urn"] or "")):
            out.print(
                f"  [red]{v['enforcement']}[/] {v['policy']}: {names.get(v['urn'], v['urn'] or 'the stack')}",
                highlight=False,
            )
            out.print(f"    {v['message']}", highlight=False, markup=False)
            if v.get("fix"):
                out.print(f"    fix: {v['fix']}", highlight=False, markup=False)
    for d in outcome.degraded:
        out.print(
            f"  [yellow]cannot run at preview[/] {d['policy']} ({d['enforcement']}): {d['message']}",
            highlight=False,
        )
    mandatory = [v for v in outcome.violations if v["enforcement"] == "mandatory"]
    out.print(
        f"{source}: {len(graph.resources)} resources checked against {len(pack.PACK)} policies ({where}); "
        f"{len(mandatory)} mandatory, {len(outcome.violations) - len(mandatory)} advisory violations"
        + (f"; {len(outcome.degraded)} guard runs lost to unknown values" if outcome.degraded else ""),
        highlight=False,
    )


def _stack_settings(stack: str) -> Any:
    from infra.settings import SettingsError

    try:
        return settings_from(load_stack_config(find_project(), stack))
    except (ConfigFileError, SettingsError) as error:
        raise _fail(str(error)) from None


@app.command()
def check(
    graph_file: Annotated[
        Path, typer.Option("--graph", help="A plan JSON (inferstack plan --out) or its resources list")
    ],
    stack: Annotated[
        str | None,
        typer.Option("--stack", help="Judge with this stack's policy config (its environment and budget)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the violations as one JSON object")] = False,
) -> None:
    """Apply the policy pack to a saved graph; exit 1 on any mandatory violation.

    Without --stack every policy runs at its own level with its defaults; with it, at the levels and
    settings that stack's environment has under `pulumi preview` (inferstack policy-config STACK).
    """
    settings = _stack_settings(stack) if stack else None
    try:
        graph = load_graph(graph_file)
    except ConfigFileError as error:
        raise _fail(str(error)) from None
    environment = settings.environment.value if settings else None
    outcome = _apply_pack(graph, pack.policy_config(settings), environment)
    mandatory = [v for v in outcome.violations if v["enforcement"] == "mandatory"]
    if as_json:
        payload = {"violations": outcome.violations, "degraded": outcome.degraded}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        where = f"{stack}: {environment} environment config" if settings else "each policy's own level"
        _check_report(graph, outcome, str(graph_file), where)
    if mandatory:
        raise typer.Exit(EXIT_VIOLATIONS)


@app.command("policy-config")
def policy_config(
    stack: Annotated[str, typer.Argument(help="Stack name: reads stacks/Pulumi.STACK.yaml")],
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the config to this file")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --out: print what was written as one JSON object")
    ] = False,
) -> None:
    """The stack's --policy-pack-config: its environment's levels and settings plus its budget.

    `make preview` and the workflows pass this file to `pulumi preview --policy-pack policies`, so
    the real analyzer judges with the same config as `inferstack plan`.
    """
    if out_file is not None:
        _check_out_file(out_file)
    settings = _stack_settings(stack)
    config = pack.policy_config(settings)
    try:
        pack.reconcile(pack.PACK, config)
    except pack.PolicyConfigError as error:
        raise _fail(f"policies/config/{settings.environment.value}.json: {error}") from None
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    if out_file is None:
        sys.stdout.write(text)  # the config is JSON already
        return
    _write(out_file, text)
    if as_json:
        payload = {"stack": stack, "environment": settings.environment.value, "out": str(out_file)}
        sys.stdout.write(json.dumps(payload) + "\n")


@app.command()
def cost(
    stack: Annotated[str, typer.Argument(help="Stack name: prices stacks/Pulumi.STACK.yaml")],
    config_file: Annotated[
        Path | None,
        typer.Option("--config-file", help="Price this stack file instead (as pulumi --config-file)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the cost report as one JSON object")] = False,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against", help="A saved plan JSON (plan --out) to compare with: what the change adds or saves"
        ),
    ] = None,
) -> None:
    """The monthly cost of a stack at min, desired and max scale, item by item, with its basis."""
    base_graph = None
    if against is not None:
        try:
            base_graph = load_graph(against)
        except ConfigFileError as error:
            raise _fail(str(error)) from None
    graph = _plan(stack, config_file)
    settings = settings_of(graph)
    result = costs.estimate_graph(graph, settings)
    change = (
        costs.diff(costs.estimate_graph(base_graph, settings), result) if base_graph is not None else None
    )
    if as_json:
        data: dict[str, Any] = {"project": graph.project, "stack": graph.stack, **result.to_json()}
        if settings is not None and settings.budget is not None:
            data["budgetUsd"] = settings.budget.max_monthly_usd
        data["tokens"] = costs.tokens(result, settings)
        if change is not None:
            data["against"] = {"file": str(against), **change}
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    if change is not None:
        out.print(
            f"[bold]{graph.project}/{graph.stack}[/] against {against}: "
            f"{change['monthlyUsdDelta']:+,.2f} USD a month at desired scale, "
            f"{change['monthlyUsdMaxDelta']:+,.2f} at max scale",
            highlight=False,
        )
        out.print(costs.diff_table(change))
        return
    out.print(
        f"[bold]{graph.project}/{graph.stack}[/]: monthly cost in USD, prices of {result.as_of} "
        f"(policies/pricing), {costs.price_book().hours} h a month",
        highlight=False,
    )
    out.print(costs.items_table(result))
    tiers = costs.tiers_table(result)
    if tiers is not None:
        out.print()
        out.print(tiers)
    if settings is not None and settings.budget is not None:
        limit = settings.budget.max_monthly_usd
        desired = float(result.total())
        out.print(
            f"\nbudget: {limit:,.2f} USD a month; desired scale uses {desired / limit:.0%}, "
            f"max scale {float(result.total('max')) / limit:.0%}",
            highlight=False,
        )
    out.print()
    for line in costs.tokens_lines(costs.tokens(result, settings)):
        out.print(line, highlight=False)
    out.print()
    for line in costs.listed(result.of(costs.UNPRICED), "unpriced, not counted") + costs.listed(
        result.of(costs.USAGE), "billed with use, not counted"
    ):
        out.print(line, highlight=False)


_FLOOR_PROGRAM = """
import pulumi
for i in range({count}):
    pulumi.CustomResource("inferstack:bench:Trivial", f"r{{i}}", {{"index": i}})
"""


@app.command()
def preflight(
    stack: Annotated[str, typer.Argument(help="Stack name: asks about stacks/Pulumi.STACK.yaml")],
    config_file: Annotated[
        Path | None,
        typer.Option("--config-file", help="Use this stack file instead (as pulumi --config-file)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as one JSON object")] = False,
    network_source: Annotated[
        list[str] | None,
        typer.Option(
            "--network-source",
            help="REGION=ID (repeatable): where the deployer's traffic starts, for Reachability Analyzer "
            "to each private EKS endpoint (an i-, eni-, vgw-, tgw-attach-... id)",
        ),
    ] = None,
) -> None:
    """Ask the clouds, with your credentials, whether an apply of the stack can succeed; exit 1 on a block."""
    # The clouds' SDKs are an extra: imported here only, so the rest of the toolkit never needs them.
    from inferstack.preflight.clients import LiveClouds, MissingExtra, NoCredentials

    try:
        from inferstack.preflight import blocked, run
        from inferstack.preflight.network import eks_names, parse_sources
        from inferstack.preflight.render import as_json as rows_json
        from inferstack.preflight.render import table, verdict
        from inferstack.preflight.secrets import operator_secrets

        clouds = LiveClouds()
    except (ImportError, MissingExtra) as error:
        raise _fail(
            escape(f"preflight needs the preflight extra ({error}): pip install 'inferstack[preflight]'")
        ) from None
    try:
        sources = parse_sources(network_source or [])
    except ValueError as error:
        raise _fail(str(error)) from None
    graph = _plan(stack, config_file)
    settings = settings_of(graph)
    if settings is None:
        raise _fail(
            f"{stack}: not a stack of this project; preflight asks about the inferstack program's stacks"
        )
    try:
        rows = run(
            settings,
            clouds,
            eks_names=eks_names(graph),
            sources=sources,
            operator_secrets=operator_secrets(graph, settings),
        )
    except NoCredentials as error:
        raise _fail(str(error)) from None
    if as_json:
        sys.stdout.write(json.dumps(rows_json(stack, rows), indent=2) + "\n")
    else:
        out.print(table(rows))
        out.print(verdict(rows), highlight=False)
    if blocked(rows):
        raise typer.Exit(EXIT_VIOLATIONS)


@app.command()
def bench(
    stacks: Annotated[list[str] | None, typer.Argument(help="Stacks to time (default: every stack)")] = None,
    runs: Annotated[int, typer.Option(min=1, help="Timed runs per stack after one warm-up")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the timings as one JSON object")] = False,
) -> None:
    """Time the offline plan of each stack against the floor: as many trivial resources, same runtime."""
    try:
        project = find_project()
    except ConfigFileError as error:
        raise _fail(str(error)) from None
    names = stacks or project.stacks()
    table = Table("stack", "resources", "first run s", "median s", "floor median s", "overhead x")
    rows: list[dict[str, Any]] = []
    for name in names:
        started = time.perf_counter()
        graph = _plan(name, None)
        first = time.perf_counter() - started
        times = [_plan(name, None).seconds for _ in range(runs)]
        floor = _floor_times(project, len(graph.resources), runs)
        median, floor_median = statistics.median(times), statistics.median(floor)
        rows.append(
            {
                "stack": name,
                "resources": len(graph.resources),
                "firstRunSeconds": round(first, 2),
                "medianSeconds": round(median, 3),
                "floorMedianSeconds": round(floor_median, 3),
                "overhead": round(median / floor_median, 1),
            }
        )
        table.add_row(
            name,
            str(len(graph.resources)),
            f"{first:.2f}",
            f"{median:.3f}",
            f"{floor_median:.3f}",
            f"{median / floor_median:.1f}",
        )
    if as_json:
        sys.stdout.write(json.dumps({"runs": runs, "stacks": rows}, indent=2) + "\n")
        return
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
    as_json: Annotated[
        bool, typer.Option("--json", help="With --out: print what was written as one JSON object")
    ] = False,
) -> None:
    """The planned graph as a Terraform plan JSON, for Checkov, Trivy and other plan scanners."""
    from inferstack.tfplan import MappingError, manifests
    from inferstack.tfplan import export as to_tfplan

    if fmt != "tfplan":
        raise _fail(f"--format: {fmt!r} is not a format; allowed: tfplan")
    if out_file is not None:
        _check_out_file(out_file)
    if out_k8s is not None and out_k8s.exists() and not out_k8s.is_dir():
        raise _fail(f"--out-k8s: {str(out_k8s)!r} is a file; allowed: a directory")
    graph = _plan(stack, config_file)
    try:
        exported = to_tfplan(graph)
    except MappingError as error:
        # The program registered a type the mapping table does not know: a gap in inferstack, not the stack.
        raise _internal_error(error, str(error)) from None
    text = json.dumps(exported.plan, indent=2)
    if out_file is not None:
        _write(out_file, text + "\n")
    else:
        sys.stdout.write(text + "\n")
    written = manifests(graph) if out_k8s is not None else {}
    for relative, body in written.items():
        _write((out_k8s or Path()) / relative, body)
    skipped = ", ".join(
        f"{count} {reason.split(':')[0]}" for reason, count in sorted(exported.skipped.items())
    )
    if as_json and out_file is not None:
        payload = {
            "stack": graph.stack,
            "out": str(out_file),
            "resources": len(exported.addresses),
            "unscanned": len(exported.unscanned),
            "manifests": len(written),
            "skipped": dict(sorted(exported.skipped.items())),
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    err.print(
        f"{graph.project}/{graph.stack}: {len(exported.addresses)} resources as Terraform plan "
        f"({len(exported.unscanned)} of types no Checkov check evaluates on their own), {len(written)} Kubernetes manifests; "
        f"not in the plan: {skipped or 'nothing'}",
        highlight=False,
    )


def main() -> None:
    """The console script: every outcome is an exit code of the contract, never a bare traceback."""
    try:
        code = app(standalone_mode=False)
    except typer.Exit as done:
        code = done.exit_code
    except typer.TyperException as usage:  # a usage error: unknown option, bad value, missing argument
        err.print(f"[bold red]error:[/] {usage.format_message()}", highlight=False, markup=True)
        code = getattr(usage, "exit_code", EXIT_BAD_INPUT)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        code = 130
    except Exception as error:
        code = _internal_error(error, f"{type(error).__name__}: {error}").exit_code
    _close_event_loop()
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _close_event_loop() -> None:
    """Close every event loop still open before the interpreter exits.

    The engine runs each plan on a loop of its own and the Pulumi runtime can leave others behind;
    a loop left to the garbage collector at shutdown may be finalised after its self-pipe socket,
    and its __del__ then prints an "Exception ignored ... Invalid file descriptor" traceback after
    the command has finished. Closing them here, while their sockets are intact, avoids that.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for obj in gc.get_objects():
            if isinstance(obj, asyncio.AbstractEventLoop) and not obj.is_closed() and not obj.is_running():
                with contextlib.suppress(Exception):
                    obj.close()


if __name__ == "__main__":
    main()
