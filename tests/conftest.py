"""Shared fixtures: each shipped stack planned once per test session through the offline engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferstack.engine import Graph, Resource, plan_stack
from inferstack.project import Project, find_project

ROOT = Path(__file__).resolve().parents[1]
_PLANS: dict[str, Graph] = {}
_VARIANTS: dict[str, Graph] = {}


@pytest.fixture(scope="session")
def project() -> Project:
    return find_project(ROOT)


def planned(stack: str) -> Graph:
    if stack not in _PLANS:
        _PLANS[stack] = plan_stack(stack, project=find_project(ROOT))
    return _PLANS[stack]


_FIRST_PREVIEWS: dict[str, Graph] = {}


def first_preview(stack: str) -> Graph:
    """The stack as its first preview sees it: every value the clouds compute still unknown."""
    if stack not in _FIRST_PREVIEWS:
        _FIRST_PREVIEWS[stack] = plan_stack(stack, project=find_project(ROOT), new=True)
    return _FIRST_PREVIEWS[stack]


def stack_variant(tmp_path_factory: pytest.TempPathFactory, stack: str, old: str, new: str) -> Graph:
    """A shipped stack with one line changed, planned from a temporary stack file."""
    key = f"{stack}:{old}->{new}"
    if key not in _VARIANTS:
        text = (ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()
        assert old in text, old
        path: Path = tmp_path_factory.mktemp("stacks") / "Pulumi.variant.yaml"
        path.write_text(text.replace(old, new))
        _VARIANTS[key] = plan_stack("variant", config_file=path, project=find_project(ROOT))
    return _VARIANTS[key]


DEPLOYERS = (
    ("10.200.0.0/24", "CI runners in the deploy VPC"),
    ("100.64.8.0/22", "Platform team VPN (Client VPN range)"),
)
"""Two deployer blocks, as a stack file would list them: the runners' VPC and a VPN's client range."""


def prod_with_deployers(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    """prod with DEPLOYERS listed in its stack file."""
    listed = "".join(f"\n    - cidr: {cidr}\n      description: {about}" for cidr, about in DEPLOYERS)
    return stack_variant(
        tmp_path_factory,
        "prod",
        "  logRetentionDays: 90\n",
        f"  logRetentionDays: 90\n  deployers:{listed}\n",
    )


V6E_SLICE = """          maxSize: 2
        - name: v6e-spot
          machineType: ct6e-standard-4t
          accelerator: tpu-v6e
          tpuTopology: 4x8
          capacity: spot
          minSize: 0
          maxSize: 8
  database:"""
"""A multi-host TPU pool (a v6e 4x8 slice: 8 hosts of 4 chips) for dev's GCP burst cluster."""


def dev_with_tpu(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    """dev with a v6e 4x8 spot slice next to its L4 burst pool: its 7B model fits one TPU host."""
    return stack_variant(tmp_path_factory, "dev", "          maxSize: 2\n  database:", V6E_SLICE)


@pytest.fixture(scope="session")
def dev() -> Graph:
    return planned("dev")


@pytest.fixture(scope="session")
def staging() -> Graph:
    return planned("staging")


@pytest.fixture(scope="session")
def prod() -> Graph:
    return planned("prod")


@pytest.fixture(scope="session")
def onprem() -> Graph:
    return planned("onprem")


def children_of(graph: Graph, component: Resource) -> list[Resource]:
    """Every resource under a component, at any depth."""
    out: list[Resource] = []
    frontier = [component.urn]
    while frontier:
        urn = frontier.pop()
        kids = [r for r in graph.resources if r.parent == urn]
        out.extend(kids)
        frontier.extend(k.urn for k in kids)
    return out


def component(graph: Graph, token: str, name: str) -> Resource:
    found = [r for r in graph.resources if r.type == token and r.name == name]
    assert len(found) == 1, f"{token} {name}: {len(found)} found"
    return found[0]
