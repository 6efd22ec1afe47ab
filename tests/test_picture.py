"""`inferstack graph`: the topology a reviewer reads, drawn from the planned stack."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from inferstack.picture import picture, to_dot, to_mermaid
from inferstack.report import settings_of
from tests.conftest import dev_with_tpu, planned
from tests.test_cli import SCRIPT, run

STACKS = ("dev", "staging", "prod", "onprem")


def _picture(stack: str):  # type: ignore[no-untyped-def]
    graph = planned(stack)
    settings = settings_of(graph)
    assert settings is not None
    return settings, picture(settings, graph)


@pytest.mark.parametrize("stack", STACKS)
def test_every_cluster_and_pool_is_drawn_in_both_texts(stack: str) -> None:
    settings, pic = _picture(stack)
    dot, mermaid = to_dot(pic), to_mermaid(pic)
    assert settings.clusters
    for cluster in settings.clusters:
        for text in (dot, mermaid):
            assert f"{cluster.name} ({cluster.role.value}," in text
            for pool in cluster.node_pools:
                assert f"{pool.name}: {pool.machine_type}" in text
                assert f"{pool.capacity.value}, {pool.min_size}..{pool.max_size} nodes" in text


def test_prod_sends_clients_to_the_cores_first_and_fails_over_to_the_gcp_burst() -> None:
    _, pic = _picture("prod")
    from_edge = {(link.target, link.label, link.dashed) for link in pic.links if link.source == "public_name"}
    assert from_edge == {
        ("core_use1_api", "primary", False),
        ("core_usw2_api", "primary", False),
        ("gcp_lb", "failover", True),
    }
    assert ("gcp_lb", "burst_usc1_api") in {(link.source, link.target) for link in pic.links}
    edge = next(node for node in pic.nodes if node.id == "public_name")
    assert "Route 53 failover, 3 health checks" in edge.label and "every 30 s" in edge.label


def test_prod_database_has_its_writer_and_promotable_secondary() -> None:
    _, pic = _picture("prod")
    labels = {node.id: node.label for node in pic.nodes}
    assert "primary (writer) us-east-1" in labels["db_primary"]
    assert "us-west-2 (read, promotable)" in labels["db_us_west_2"]
    writers = sorted(link.source for link in pic.links if link.target == "db_primary")
    assert writers == ["core_use1_api", "core_usw2_api"]


def test_tpu_pools_show_chips_per_host_and_topology(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = dev_with_tpu(tmp_path_factory)  # no shipped stack has a TPU pool
    settings = settings_of(graph)
    assert settings is not None
    mermaid = to_mermaid(picture(settings, graph))
    assert "v6e-spot: ct6e-standard-4t 4x8<br/>4 x tpu-v6e per node<br/>spot, 0..8 nodes" in mermaid


def test_the_readme_shows_the_generated_prod_picture() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    marker = "<!-- output of: inferstack graph prod -->\n```mermaid\n"
    assert marker in readme
    assert readme.split(marker)[1].split("```")[0] == to_mermaid(_picture("prod")[1])


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed on this machine")
def test_svg_through_graphviz(tmp_path: Path) -> None:
    out = tmp_path / "prod.svg"
    result = run("graph", "prod", "--out", str(out))
    assert result.returncode == 0, result.stderr
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "core&#45;usw2 (core, EKS 1.35, " in svg


def test_without_graphviz_an_svg_is_refused_naming_the_package(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", "COLUMNS": "200"}
    result = subprocess.run(
        [str(SCRIPT), "graph", "dev", "--out", str(tmp_path / "dev.svg")],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "install the `graphviz` package" in result.stderr
    assert not (tmp_path / "dev.svg").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--out", "topology.txt"), "has no known suffix; allowed: dot, mmd, svg, png"),
        (("--format", "pdf"), "--format: 'pdf' is not a format; allowed: dot, mmd, svg, png"),
        (("--format", "svg"), "binary output needs --out F"),
    ],
)
def test_bad_formats_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    result = run("graph", "dev", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


@pytest.mark.parametrize("fmt", ["dot", "mmd"])
def test_text_formats_go_to_a_file_by_suffix(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"dev.{fmt}"
    result = run("graph", "dev", "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert text.startswith("digraph topology {" if fmt == "dot" else "flowchart LR")
    assert "core-use1 (core, EKS 1.35, " in text


def test_each_cluster_carries_its_monthly_cost_and_they_add_up_to_less_than_the_stack() -> None:
    from inferstack.cost import estimate_graph
    from inferstack.picture import cluster_costs

    graph = planned("prod")
    settings = settings_of(graph)
    assert settings is not None
    costs = cluster_costs(settings, graph)
    assert set(costs) == {c.name for c in settings.clusters if c.cloud.value != "existing"}
    total = sum(i.usd("desired") or 0.0 for i in estimate_graph(graph, settings).items)
    assert 0 < sum(costs.values()) < total  # the database, cache and edge belong to no cluster
    text = to_mermaid(picture(settings, graph))
    for name, usd in costs.items():
        assert f"{name} (" in text and f"{usd:,.0f} USD/month" in text


def test_the_picture_shows_each_gateways_fallback_order() -> None:
    graph = planned("prod")
    settings = settings_of(graph)
    assert settings is not None and settings.gateway_clusters()
    text = to_mermaid(picture(settings, graph))
    for cluster in settings.gateway_clusters():
        chain = [c.name for c in settings.fallback_clusters(cluster)]
        for k, name in enumerate(chain, start=1):
            source, target = cluster.name.replace("-", "_"), name.replace("-", "_")
            assert f"{source}_api -.->|gateway fallback {k}| {target}_api" in text
        if settings.gateway.public_api_fallback:
            assert (
                f"{cluster.name.replace('-', '_')}_api -.->|gateway fallback {len(chain) + 1}| deepseek_api"
                in text
            )
