"""A planned graph read back from a file: the whole plan JSON or just its ``resources`` list.

``inferstack check --graph F`` judges such a file with the policy pack, so that a graph saved by
``inferstack plan --out`` (in CI, or on another machine) can be checked again without the program.
A file that is not such a graph is refused with one line naming the file, the place and the rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inferstack.engine import Graph, Resource
from inferstack.project import ConfigFileError

_REQUIRED = {"urn": str, "type": str, "name": str, "custom": bool, "inputs": dict}


def _resource(source: str, index: int, item: Any) -> Resource:
    where = f"{source}: resources[{index}]"
    if not isinstance(item, dict):
        raise ConfigFileError(
            f"{where}: {type(item).__name__}; allowed: an object with {', '.join(_REQUIRED)}"
        )
    for key, kind in _REQUIRED.items():
        if not isinstance(item.get(key), kind):
            shown = json.dumps(item.get(key))[:60]
            raise ConfigFileError(f"{where}.{key}: {shown}; allowed: a {kind.__name__}")
    return Resource(
        urn=item["urn"],
        type=item["type"],
        name=item["name"],
        parent=item.get("parent"),
        provider=item.get("provider"),
        custom=item["custom"],
        inputs=item["inputs"],
        dependencies=list(item.get("dependencies") or []),
        protect=bool(item.get("protect", False)),
        ignore_changes=[str(k) for k in item.get("ignoreChanges") or []],
    )


def load_graph(path: Path) -> Graph:
    source = str(path)
    if path.is_dir():
        raise ConfigFileError(f"{source}: is a directory; allowed: a plan JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(f"{source}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"{source}: cannot be read ({error})") from None
    except json.JSONDecodeError as error:
        raise ConfigFileError(
            f"{source}: line {error.lineno}, column {error.colno}: invalid JSON ({error.msg})"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("resources"), list):
        items, project, stack = data["resources"], data.get("project", "?"), data.get("stack", "?")
    elif isinstance(data, list):
        items, project, stack = data, "?", "?"
    else:
        raise ConfigFileError(
            f"{source}: neither a plan (an object with a 'resources' list) nor a list of resources"
        )
    resources = [_resource(source, i, item) for i, item in enumerate(items)]
    return Graph(project=str(project), stack=str(stack), source=source, resources=resources, outputs={})
