"""Layers only look down: no module imports the one that composes it, at any depth of the file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

INFRA = ROOT / "infra"

# Lower number = lower layer. A module may import only modules of its own layer or below.
LAYERS: dict[str, int] = {
    "infra": 0,
    "infra.naming": 0,
    "infra.catalog": 0,
    "infra.settings": 1,
    "infra.monitoring": 2,
    "infra.aws": 2,
    "infra.gcp": 2,
    "infra.parts": 3,
    "infra.data": 4,
    "infra.edge": 4,
    "infra.k8s": 5,
    "infra.topology": 6,
    "infra.bootstrap": 6,
    "infra.__main__": 7,
}


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int | None:
    best = None
    for prefix, level in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, level)
    return None if best is None else best[1]


def _imports(path: Path) -> set[str]:
    """Every infra module the file imports, including imports inside functions and TYPE_CHECKING blocks."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("infra"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("infra"):
            found.add(node.module)
    return found


MODULES = sorted(INFRA.rglob("*.py"))


def test_every_infra_module_has_a_layer() -> None:
    assert MODULES, "no infra modules found"
    missing = [_module(p) for p in MODULES if _layer(_module(p)) is None]
    assert not missing, f"modules without a layer in LAYERS: {missing}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module(p))
def test_imports_only_look_down(path: Path) -> None:
    own = _layer(_module(path))
    assert own is not None
    upward = sorted(m for m in _imports(path) if (_layer(m) or 0) > own)
    assert not upward, f"{_module(path)} (layer {own}) imports a layer above it: {upward}"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The rule bites: a data-layer file that imports the topology (even lazily) is caught."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from infra.topology import zones\n", encoding="utf-8")
    assert "infra.topology" in _imports(sample)
    assert _layer("infra.topology") > _layer("infra.data")  # type: ignore[operator]
