"""``inferstack schema``: a JSON Schema of a whole stack file, as Pulumi reads it, for editors.

Pulumi's stack file (``stacks/Pulumi.<stack>.yaml``) holds ``secretsprovider``, ``encryptedkey``,
``encryptionsalt``, ``environment`` (Pulumi ESC imports) and ``config``. Config keys are namespaced:
this project's own as ``inferstack:key`` or bare ``key`` (Pulumi puts a bare key in the project's
namespace), providers' as ``aws:region``; any value may be a secret, written as
``{secure: <ciphertext>}``. The settings inside come from the settings model itself, so the schema
cannot drift from what ``inferstack plan`` accepts; the catalog adds the allowed regions, machine
types and accelerators for completion. Rules that join several keys (a pool's zone has its GPU,
blocks do not overlap) stay with the model: ``inferstack plan`` names them.

Docs: https://www.pulumi.com/docs/iac/concepts/projects/stack-settings-file/ and
https://www.pulumi.com/docs/iac/concepts/config/ (namespaces, ``secure`` values).
"""

from __future__ import annotations

import json
from typing import Any

from infra.catalog import catalog
from infra.settings import PROJECT, Settings

SCHEMA_ID = "https://inferstack.dev/schema/stack.schema.json"
SECURE: dict[str, Any] = {
    "type": "object",
    "description": "A secret, encrypted by the stack's secrets provider (pulumi config set --secret).",
    "properties": {"secure": {"type": "string", "minLength": 1}},
    "required": ["secure"],
    "additionalProperties": False,
}


def _catalog_enums() -> dict[str, list[str]]:
    table = catalog()
    return {
        "region": sorted({*table.aws_regions, *table.gcp_regions}),
        "primaryRegion": sorted({*table.aws_regions, *table.gcp_regions}),
        "machineType": sorted({*table.aws_instance_types, *table.gcp_machine_types}),
        "accelerator": sorted(table.accelerators),
    }


def _enrich(node: Any, enums: dict[str, list[str]]) -> None:
    """Add the catalog's allowed values to every string property of those names, at any depth."""
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if name in enums and isinstance(prop, dict):
                if prop.get("type") == "string":
                    prop["enum"] = enums[name]
                for option in prop.get("anyOf", []):
                    if option.get("type") == "string":
                        option["enum"] = enums[name]
        for value in node.values():
            _enrich(value, enums)
    elif isinstance(node, list):
        for value in node:
            _enrich(value, enums)


def _clean(node: Any) -> Any:
    """Drop pydantic's metadata that is not JSON Schema (``ge`` inside anyOf) and its generated titles."""
    if isinstance(node, dict):
        return {
            k: _clean(v)
            for k, v in node.items()
            if k not in ("ge", "gt", "le", "lt") and not (k == "title" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def stack_schema() -> dict[str, Any]:
    model = Settings.model_json_schema(by_alias=True)
    definitions = _clean(model.pop("$defs", {}))
    settings = _clean(model)
    _enrich(settings, _catalog_enums())
    _enrich(definitions, _catalog_enums())
    config_properties: dict[str, Any] = {}
    for name, prop in settings["properties"].items():
        either = {"anyOf": [prop, {"$ref": "#/$defs/secure"}]}
        config_properties[name] = either
        config_properties[f"{PROJECT}:{name}"] = either
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "inferstack stack file (stacks/Pulumi.<stack>.yaml)",
        "type": "object",
        "properties": {
            "secretsprovider": {
                "type": "string",
                "description": "Where config secrets are encrypted, e.g. awskms://alias/inferstack-<stack>-secrets?region=us-east-1",
            },
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "environment": {
                "description": "Pulumi ESC environments imported into this stack",
                "oneOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {
                        "type": "object",
                        "properties": {"imports": {"type": "array", "items": {"type": "string"}}},
                    },
                ],
            },
            "config": {
                "type": "object",
                "description": settings.get("description", "The stack's settings"),
                "properties": config_properties,
                "allOf": [
                    {"anyOf": [{"required": [name]}, {"required": [f"{PROJECT}:{name}"]}]}
                    for name in settings.get("required", [])
                ],
                # Another namespace's key (a provider's, such as aws:region) is that provider's business.
                "patternProperties": {f"^(?!{PROJECT}:)[A-Za-z0-9_.-]+:.+$": {}},
                # A bare key that is no setting can only be a secret a setting names (kubeconfigSecret).
                "additionalProperties": {"$ref": "#/$defs/secure"},
            },
        },
        "additionalProperties": False,
        "$defs": {**definitions, "secure": SECURE},
    }


def schema_text() -> str:
    return json.dumps(stack_schema(), indent=2, sort_keys=False) + "\n"
