"""``inferstack graph``: the topology of a stack as a picture a reviewer reads in seconds.

Clusters grouped by cloud and region, each with its pools (accelerators, capacity type, scale
range); the public name with its health checks and the order in which it sends clients to the
clusters; the database's primary and secondaries; Redis per core region. Drawn from the settings
the program ran with and the graph it planned (the health checks are counted in the graph, not
assumed), written as Graphviz DOT or Mermaid text, and as SVG or PNG through Graphviz's ``dot``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from inferstack.engine import Graph
from infra.catalog import catalog
from infra.settings import Cloud, Cluster, Role, Settings

FORMATS = ("dot", "mmd", "svg", "png")
GRAPHVIZ_HINT = (
    "Graphviz's `dot` is not on PATH; install the `graphviz` package (apt-get install graphviz, "
    "brew install graphviz) or write .dot or .mmd"
)
KIND = {Cloud.AWS: "EKS", Cloud.GCP: "GKE", Cloud.EXISTING: "existing cluster"}


@dataclass
class Node:
    id: str
    label: str
    shape: str = "box"
    """box, ellipse, cylinder or hexagon (DOT shapes; Mermaid gets the nearest bracket form)."""


@dataclass
class Group:
    id: str
    label: str
    nodes: list[Node] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)


@dataclass
class Link:
    source: str
    target: str
    label: str = ""
    dashed: bool = False


@dataclass
class Picture:
    title: str
    groups: list[Group] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)


def _id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def _pool_label(cluster: Cluster, pool_index: int) -> str:
    pool = cluster.node_pools[pool_index]
    machine = catalog().machine(cluster.cloud.value, pool.machine_type)
    chips = (
        f"{machine.accelerator_count} x {pool.accelerator} per node"
        if machine and pool.accelerator
        else "general purpose"
    )
    topology = f" {pool.tpu_topology}" if pool.tpu_topology else ""
    return (
        f"{pool.name}: {pool.machine_type}{topology}\\n{chips}\\n"
        f"{pool.capacity.value}, {pool.min_size}..{pool.max_size} nodes"
    )


_CLUSTER_COMPONENTS = (
    "inferstack:aws:EksCluster",
    "inferstack:gcp:GkeCluster",
    "inferstack:aws:Network",
    "inferstack:gcp:Network",
)


def cluster_costs(settings: Settings, graph: Graph) -> dict[str, float]:
    """Each cluster's monthly cost at desired scale: its control plane, pools and network (NAT, endpoints).

    The items of ``inferstack cost`` whose resource sits under the cluster's own component or its
    network's; shared services (database, cache, edge) belong to no single cluster and are left out.
    """
    from inferstack.cost import estimate_graph

    index = graph.by_urn()
    names = {c.name for c in settings.clusters}
    totals: dict[str, float] = {}
    for item in estimate_graph(graph, settings).items:
        current = index.get(item.urn)
        while current is not None and not (current.type in _CLUSTER_COMPONENTS and current.name in names):
            current = index.get(current.parent) if current.parent else None
        usd = item.usd("desired")
        if current is not None and usd is not None:
            totals[current.name] = totals.get(current.name, 0.0) + usd
    return totals


def _cluster_group(cluster: Cluster, serving: bool, monthly: float | None = None) -> Group:
    kind = KIND[cluster.cloud]
    version = f" {cluster.kubernetes_version}" if cluster.cloud is not Cloud.EXISTING else ""
    cost = f", {monthly:,.0f} USD/month" if monthly else ""
    group = Group(
        _id("cluster", cluster.name), f"{cluster.name} ({cluster.role.value}, {kind}{version}{cost})"
    )
    group.nodes.append(
        Node(
            _id(cluster.name, "api"),
            f"{cluster.name}\\n{'serves inference' if serving else 'no accelerators'}",
            "hexagon",
        )
    )
    for k, pool in enumerate(cluster.node_pools):
        group.nodes.append(Node(_id(cluster.name, pool.name), _pool_label(cluster, k)))
    return group


def _serves(cluster: Cluster) -> bool:
    return cluster.cloud is Cloud.EXISTING or any(pool.is_accelerated for pool in cluster.node_pools)


def picture(settings: Settings, graph: Graph) -> Picture:
    """The stack's topology: from its settings, with the edge's health checks counted in its graph."""
    pic = Picture(f"{graph.project}/{graph.stack} ({settings.environment.value})")
    regions: dict[tuple[Cloud, str], Group] = {}
    clouds: dict[Cloud, Group] = {}
    costs = cluster_costs(settings, graph)
    for cluster in settings.clusters:
        cloud = clouds.setdefault(
            cluster.cloud,
            Group(
                _id("cloud", cluster.cloud.value),
                cluster.cloud.value.upper() if cluster.cloud is not Cloud.EXISTING else "on-prem",
            ),
        )
        region_name = cluster.region or "on-prem"
        key = (cluster.cloud, region_name)
        if key not in regions:
            regions[key] = Group(_id("region", cluster.cloud.value, region_name), region_name)
            cloud.groups.append(regions[key])
        regions[key].groups.append(_cluster_group(cluster, _serves(cluster), costs.get(cluster.name)))
    pic.groups = list(clouds.values())

    if settings.edge is not None:
        edge = settings.edge
        probes = [
            c
            for c in graph.of_type("aws:route53/healthCheck:HealthCheck")
            if c.inputs.get("type") != "CALCULATED"
        ]
        pic.nodes.append(
            Node(
                "public_name",
                f"{edge.domain}\\nRoute 53 {edge.routing}, {len(probes)} health checks\\n"
                f"HTTPS {edge.health_check_path} every {edge.health_check_interval_seconds} s",
                "ellipse",
            )
        )
        serving = [c for c in settings.clusters if _serves(c)]
        gcp = [c for c in serving if c.cloud is Cloud.GCP]
        if gcp:
            pic.nodes.append(Node("gcp_lb", "GCP global external\\nHTTPS load balancer", "ellipse"))
        order = sorted(serving, key=lambda c: c.role is not Role.CORE)
        for cluster in order:
            tier = "primary" if cluster.role is Role.CORE else "failover"
            target = _id(cluster.name, "api")
            if cluster.cloud is Cloud.GCP:
                pic.links.append(Link("gcp_lb", target, "by proximity and health"))
            else:
                pic.links.append(Link("public_name", target, tier, dashed=cluster.role is not Role.CORE))
        if gcp:
            tier = "primary" if gcp[0].role is Role.CORE else "failover"
            pic.links.append(Link("public_name", "gcp_lb", tier, dashed=gcp[0].role is not Role.CORE))

    # The gateway's routing order: its own model first (implicit), then the fallback clusters, then
    # the public DeepSeek API when the stack allows it (infra/k8s/gateway.py renders the same chain).
    gateways = settings.gateway_clusters()
    if gateways and settings.gateway.public_api_fallback:
        pic.nodes.append(Node("deepseek_api", "DeepSeek public API\\nlast fallback", "ellipse"))
    for cluster in gateways:
        chain = settings.fallback_clusters(cluster)
        for k, target in enumerate(chain, start=1):
            pic.links.append(
                Link(_id(cluster.name, "api"), _id(target.name, "api"), f"gateway fallback {k}", dashed=True)
            )
        if settings.gateway.public_api_fallback:
            label = f"gateway fallback {len(chain) + 1}"
            pic.links.append(Link(_id(cluster.name, "api"), "deepseek_api", label, dashed=True))

    if settings.database is not None:
        db = settings.database
        engine = "Aurora PostgreSQL global database" if db.cloud == "aws" else "Cloud SQL PostgreSQL"
        pic.nodes.append(Node("db_primary", f"{engine}\\nprimary (writer) {db.primary_region}", "cylinder"))
        for region in db.secondary_regions:
            node = _id("db", region)
            pic.nodes.append(Node(node, f"database secondary\\n{region} (read, promotable)", "cylinder"))
            pic.links.append(Link("db_primary", node, "replicates", dashed=True))
    cores = [c for c in settings.clusters if c.role is Role.CORE and c.cloud is not Cloud.EXISTING]
    for cluster in cores:
        if settings.database is not None:
            pic.links.append(Link(_id(cluster.name, "api"), "db_primary", "writes"))
        if settings.cache is not None:
            node = _id("redis", cluster.name)
            pic.nodes.append(Node(node, f"Redis {settings.cache.node_type}\\n{cluster.region}", "cylinder"))
            pic.links.append(Link(_id(cluster.name, "api"), node, "cache"))
    return pic


def _quote(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def to_dot(pic: Picture) -> str:
    shapes = {"box": "box", "ellipse": "ellipse", "cylinder": "cylinder", "hexagon": "hexagon"}
    lines = [
        "digraph topology {",
        f"  label={_quote(pic.title)}; labelloc=t; fontname=Helvetica; rankdir=LR; compound=true;",
        '  node [fontname=Helvetica, fontsize=10, style="rounded"]; edge [fontname=Helvetica, fontsize=9];',
    ]

    def emit(group: Group, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}subgraph cluster_{group.id} {{")
        lines.append(f"{pad}  label={_quote(group.label)};")
        for node in group.nodes:
            lines.append(
                f"{pad}  {_quote(node.id)} [label={_quote(node.label)}, shape={shapes[node.shape]}];"
            )
        for child in group.groups:
            emit(child, depth + 1)
        lines.append(f"{pad}}}")

    for group in pic.groups:
        emit(group, 1)
    for node in pic.nodes:
        lines.append(f"  {_quote(node.id)} [label={_quote(node.label)}, shape={shapes[node.shape]}];")
    for link in pic.links:
        style = ", style=dashed" if link.dashed else ""
        lines.append(f"  {_quote(link.source)} -> {_quote(link.target)} [label={_quote(link.label)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(pic: Picture) -> str:
    brackets = {
        "box": ('["', '"]'),
        "ellipse": ('(["', '"])'),
        "cylinder": ('[("', '")]'),
        "hexagon": ('{{"', '"}}'),
    }
    lines = ["flowchart LR"]

    def label(text: str) -> str:
        return text.replace("\\n", "<br/>").replace('"', "#quot;")

    def emit(group: Group, depth: int) -> None:
        pad = "  " * depth
        lines.append(f'{pad}subgraph {group.id}["{label(group.label)}"]')
        for node in group.nodes:
            left, right = brackets[node.shape]
            lines.append(f"{pad}  {node.id}{left}{label(node.label)}{right}")
        for child in group.groups:
            emit(child, depth + 1)
        lines.append(f"{pad}end")

    for group in pic.groups:
        emit(group, 1)
    for node in pic.nodes:
        left, right = brackets[node.shape]
        lines.append(f"  {node.id}{left}{label(node.label)}{right}")
    for link in pic.links:
        arrow = "-.->" if link.dashed else "-->"
        text = f"|{label(link.label)}|" if link.label else ""
        lines.append(f"  {link.source} {arrow}{text} {link.target}")
    return "\n".join(lines) + "\n"


class GraphvizMissing(Exception):
    pass


def draw(pic: Picture, fmt: str) -> bytes:
    """The picture in ``fmt`` (one of FORMATS); SVG and PNG through Graphviz's ``dot``."""
    if fmt == "dot":
        return to_dot(pic).encode()
    if fmt == "mmd":
        return to_mermaid(pic).encode()
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing(GRAPHVIZ_HINT)
    result = subprocess.run([dot, f"-T{fmt}"], input=to_dot(pic).encode(), capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def format_of(path: Path) -> str | None:
    suffix = path.suffix.lstrip(".").lower()
    return suffix if suffix in FORMATS else None
