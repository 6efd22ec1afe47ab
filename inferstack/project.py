"""Reads a Pulumi project and a stack's config the way the Pulumi CLI hands them to a program.

Semantics followed (Pulumi project file reference and the CLI's config merge):
  - the project root is the nearest directory upwards holding Pulumi.yaml;
  - ``main`` names the program directory, ``stackConfigDir`` the folder of Pulumi.<stack>.yaml;
  - in a stack file, a key without a namespace belongs to the project (``environment`` is
    ``inferstack:environment``);
  - a key declared in Pulumi.yaml with a default and absent from the stack takes the default;
    a declared key with neither is an error; a declared ``type`` is checked;
  - every value reaches the program as a string; objects and arrays as JSON text;
  - ``secure:`` values are ciphertext only the CLI can open: offline they become a marked
    placeholder and their key is listed as secret, as the engine lists decrypted secrets.

Stricter than the CLI where the CLI is silently wrong: a key given twice in one YAML mapping
(YAML keeps the last) is refused, as is a key under a namespace that looks like a misspelling
of the project's (``inferstak:owner`` would otherwise go unread, and ``owner`` be reported
missing).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigFileError(Exception):
    """A project or stack file that cannot be read; ``str()`` is one line per problem, for a person."""


_STACK_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
"""Pulumi stack names: letters, digits, '-', '_' and '.'; never a path."""

PROVIDER_NAMESPACES = frozenset(
    {
        "pulumi",
        "aws",
        "aws-native",
        "awsx",
        "eks",
        "gcp",
        "google-native",
        "kubernetes",
        "azure",
        "azure-native",
        "random",
        "tls",
        "command",
        "docker",
        "cloudflare",
        "datadog",
        "github",
        "vault",
    }
)
"""Config namespaces of Pulumi itself and of providers: never taken for a misspelt project name."""


SECRET_PLACEHOLDER = "[secret:{key}]"


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    main: Path
    stack_config_dir: Path
    declared: dict[str, dict[str, Any]] = field(default_factory=dict)

    def stack_file(self, stack: str) -> Path:
        check_stack_name(stack)
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        return sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in self.stack_config_dir.glob("Pulumi.*.yaml")
        )


def check_stack_name(stack: str) -> None:
    if not _STACK_NAME.fullmatch(stack):
        raise ConfigFileError(
            f"{stack!r} is not a stack name; allowed: letters, digits, '-', '_' and '.' "
            "(STACK names stacks/Pulumi.STACK.yaml; for a file elsewhere use --config-file)"
        )


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that notes every key given twice in one mapping, where YAML lets the last win."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, int, Any]] = []
        """(line, line of the first, key) of each repeated key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *defaults' then overriding a key is how merges are meant to be used
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if first != key_node.start_mark.line + 1:
                self.duplicates.append((key_node.start_mark.line + 1, first, key))
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, shown: str | None = None) -> Any:
    name = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise ConfigFileError(f"{name}: is a directory; allowed: a YAML file") from None
    loader = _UniqueKeyLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigFileError(f"{name}: {where}invalid YAML ({problem})") from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigFileError(
            "\n".join(
                f"{name}: line {line}: key {key!r} is given twice in one mapping (first on line {first}); "
                "YAML would silently keep the last; allowed: each key once"
                for line, first, key in loader.duplicates
            )
        )
    return data


def find_project(start: Path | None = None) -> Project:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return load_project(folder / "Pulumi.yaml")
    raise ConfigFileError(f"{here}: no Pulumi.yaml here or in any parent directory")


def load_project(path: Path) -> Project:
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ConfigFileError(f"{path}: name: missing; a Pulumi project file needs a name")
    root = path.parent
    declared = data.get("config") or {}
    if not isinstance(declared, dict):
        raise ConfigFileError(f"{path}: config: must be a mapping of keys to declarations")
    return Project(
        root=root,
        name=data["name"],
        main=(root / (data.get("main") or ".")).resolve(),
        stack_config_dir=(root / (data.get("stackConfigDir") or ".")).resolve(),
        declared={k: (v if isinstance(v, dict) else {"value": v}) for k, v in declared.items()},
    )


def _qualify(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _as_config_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, sort_keys=True)


def _open_secrets(value: Any, key: str) -> tuple[Any, bool]:
    """Replace ``{secure: ...}`` anywhere in a value by a placeholder; say whether one was found."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER.format(key=key), True
        found = False
        out = {}
        for k, v in value.items():
            out[k], hit = _open_secrets(v, key)
            found = found or hit
        return out, found
    if isinstance(value, list):
        items = [_open_secrets(v, key) for v in value]
        return [v for v, _ in items], any(h for _, h in items)
    return value, False


_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
}


@dataclass(frozen=True)
class StackConfig:
    source: str
    values: dict[str, str]
    secret_keys: frozenset[str]


def load_stack_config(project: Project, stack: str, config_file: Path | None = None) -> StackConfig:
    check_stack_name(stack)
    path = config_file or project.stack_file(stack)
    try:
        source = str(path.resolve().relative_to(project.root))
    except ValueError:
        source = str(path)
    if config_file is None and not path.exists():
        known = ", ".join(project.stacks()) or "none"
        raise ConfigFileError(
            f"{source}: no stack {stack!r} in {project.stack_config_dir.name}/; stacks: {known}"
        )
    data = _read_yaml(path, source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{source}: the stack file must be a mapping with a 'config' key")
    unknown_top = set(data) - {"config", "secretsprovider", "encryptionsalt", "encryptedkey", "environment"}
    if unknown_top:
        raise ConfigFileError(
            f"{source}: {sorted(unknown_top)[0]}: unknown top-level key; allowed: config, secretsprovider, "
            "encryptionsalt, encryptedkey, environment"
        )
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigFileError(f"{source}: config: must be a mapping of keys to values")

    values: dict[str, str] = {}
    secrets: set[str] = set()
    raw: dict[str, Any] = {}
    problems: list[str] = []
    misspelt: set[str] = set()  # project keys spelt under a misspelt namespace
    for key, value in config.items():
        full = _qualify(project.name, str(key))
        namespace, _, name = full.partition(":")
        if _misspelt_namespace(namespace, project.name):
            problems.append(
                f"{source}: {full}: unknown namespace {namespace!r}; did you mean {project.name!r}?"
            )
            misspelt.add(f"{project.name}:{name}")
        opened, secret = _open_secrets(value, full)
        raw[full] = opened
        if secret:
            secrets.add(full)

    for key, decl in project.declared.items():
        full = _qualify(project.name, key)
        if full in raw:
            expected = decl.get("type")
            check = _TYPE_CHECKS.get(expected or "")
            value = raw[full]
            if check and not (full in secrets or check(value) or _coerces(expected, value)):
                problems.append(
                    f"{source}: {full}: {json.dumps(value)} is not allowed; Pulumi.yaml declares type {expected}"
                )
            continue
        if "default" in decl:
            raw[full] = decl["default"]
        elif "value" in decl:
            raw[full] = decl["value"]
        elif full.startswith(project.name + ":") and full not in misspelt:
            problems.append(f"{source}: {full}: missing; Pulumi.yaml declares it without a default")
    if problems:
        raise ConfigFileError("\n".join(problems))

    for full, value in raw.items():
        values[full] = _as_config_string(value)
    return StackConfig(source=source, values=values, secret_keys=frozenset(secrets))


def _misspelt_namespace(namespace: str, project: str) -> bool:
    """A namespace that is neither the project's nor a provider's, but close to the project's name."""
    if namespace == project or namespace in PROVIDER_NAMESPACES:
        return False
    return bool(difflib.get_close_matches(namespace, [project], n=1, cutoff=0.75))


def _coerces(expected: str | None, value: Any) -> bool:
    """Pulumi accepts the string forms of typed scalars ("30", "true") as the CLI writes them."""
    if not isinstance(value, str):
        return False
    if expected == "integer":
        return value.lstrip("-").isdigit()
    if expected == "boolean":
        return value in ("true", "false")
    return False
