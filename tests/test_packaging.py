"""What pyproject.toml declares is what the code uses: no dead dependency, no missing data folder."""

from __future__ import annotations

import ast
import re
import tomllib

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
IMPORT_NAMES = {"pyyaml": "yaml"}
"""Distributions whose import name is not their name with '-' as '_'."""


def _imported_top_levels() -> set[str]:
    found: set[str] = set()
    for package in ("infra", "inferstack", "policies"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    return found


def test_every_runtime_dependency_is_imported() -> None:
    imported = _imported_top_levels()
    declared = [
        re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in PYPROJECT["project"]["dependencies"]
    ]
    assert declared
    unused = [d for d in declared if IMPORT_NAMES.get(d, d.replace("-", "_")) not in imported]
    assert not unused, f"declared but never imported by infra/, inferstack/ or policies/: {unused}"


def test_every_package_data_entry_names_an_existing_folder_with_files() -> None:
    entries = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert entries
    for package, patterns in entries.items():
        folder = ROOT / package.replace(".", "/")
        assert folder.is_dir(), f"package-data names {package}, which has no folder"
        assert any(any(folder.glob(p)) for p in patterns), f"{package}: nothing matches {patterns}"
