"""Run by Checkov's own interpreter (tests/test_checkov.py): which Terraform types its checks name.

Prints {"resource": [types with a single-resource check], "graph": [types a graph check names]}.
Not imported by the project: Checkov lives in its own virtualenv.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import checkov
import yaml
from checkov.terraform.checks.resource.registry import resource_registry


def _walk(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key in ("resource_types", "connected_resource_types"):
            if isinstance(node.get(key), list):
                found.update(node[key])
        if node.get("attribute") == "resource_type" and isinstance(node.get("value"), list):
            found.update(node["value"])
        for value in node.values():
            _walk(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk(value, found)


def main() -> None:
    graph: set[str] = set()
    base = Path(checkov.__file__).parent / "terraform" / "checks" / "graph_checks"
    for path in base.rglob("*"):
        if path.suffix == ".json":
            _walk(json.loads(path.read_text()).get("definition"), graph)
        elif path.suffix in (".yaml", ".yml"):
            _walk((yaml.safe_load(path.read_text()) or {}).get("definition"), graph)
    print(json.dumps({"resource": sorted(resource_registry.checks), "graph": sorted(graph)}))


if __name__ == "__main__":
    main()
