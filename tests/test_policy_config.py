"""Enforcement per environment: the policy config as the Pulumi CLI reconciles it, and the commands that use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy

from inferstack.policy import PACK, PolicyConfigError, environment_config, policy_config, reconcile
from inferstack.report import settings_of
from tests.conftest import planned
from tests.test_cli import once, run

MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY


def _policy(
    name: str, level: EnforcementLevel | None, schema: dict | None = None
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=name,
        validate=lambda args, report: None,
        enforcement_level=level,
        config_schema=PolicyConfigSchema(properties=schema) if schema else None,
    )


ONE = _policy("one", ADVISORY, {"minDays": {"type": "integer", "minimum": 1, "default": 7}})
TWO = _policy("two", MANDATORY)
THREE = _policy("three", None)


def test_defaults_come_from_each_policy_and_its_schema() -> None:
    levels = reconcile([ONE, TWO, THREE], {})
    assert levels == {"one": (ADVISORY, {"minDays": 7}), "two": (MANDATORY, {}), "three": (MANDATORY, {})}


def test_all_overrides_every_policys_own_level_and_an_entry_overrides_all() -> None:
    levels = reconcile([ONE, TWO, THREE], {"all": "advisory", "two": "mandatory"})
    assert {k: v[0] for k, v in levels.items()} == {"one": ADVISORY, "two": MANDATORY, "three": ADVISORY}
    levels = reconcile([ONE, TWO], {"all": {"enforcementLevel": "mandatory"}})
    assert levels["one"][0] is MANDATORY


def test_an_entry_sets_settings_over_the_schema_default() -> None:
    assert reconcile([ONE], {"one": {"minDays": 30}})["one"] == (ADVISORY, {"minDays": 30})
    assert reconcile([ONE], {"one": {"enforcementLevel": "disabled"}})["one"][0] is EnforcementLevel.DISABLED


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"one": {"minDays": 0}}, "one.minDays: 0 is less than the minimum of 1"),
        ({"one": {"minDays": "7"}}, "one.minDays: '7' is not of type 'integer'"),
        ({"two": {"minDays": 7}}, "two: has settings ['minDays'] but the policy takes none"),
        (
            {"two": "strict"},
            "two: enforcement level 'strict'; allowed: advisory, mandatory, remediate, disabled",
        ),
    ],
    ids=["below minimum", "wrong type", "settings without a schema", "unknown level"],
)
def test_a_config_the_cli_would_refuse_is_one_line(config: dict, message: str) -> None:
    with pytest.raises(PolicyConfigError) as error:
        reconcile([ONE, TWO], config)
    assert str(error.value) == message


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_every_environment_file_reconciles_against_the_pack(environment: str) -> None:
    config = environment_config(environment)
    unknown = sorted(set(config) - {p.name for p in PACK} - {"all"})
    assert unknown == [], f"policies/config/{environment}.json names policies the pack lacks: {unknown}"
    reconcile(PACK, config)


def test_a_stacks_config_is_its_environment_file_plus_its_budget() -> None:
    settings = settings_of(planned("prod"))
    assert settings is not None
    config = policy_config(settings)
    assert config["cost-budget"]["maxMonthlyUsd"] == settings.budget.max_monthly_usd  # type: ignore[union-attr]
    for name, entry in environment_config("prod").items():
        level = entry if isinstance(entry, str) else entry.get("enforcementLevel")
        got = config[name] if isinstance(config[name], str) else config[name].get("enforcementLevel")
        assert got == level, name


def test_policy_config_prints_what_pulumi_preview_is_given(tmp_path: Path) -> None:
    result = run("policy-config", "prod", "--out", str(tmp_path / "c.json"))
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "c.json").read_text())
    assert written == policy_config(settings_of(planned("prod")))
    assert run("policy-config", "nosuch").returncode == 2


def test_check_with_a_stack_applies_that_environments_levels(tmp_path: Path) -> None:
    """A saved graph judged with --stack dev reports what dev makes advisory as advisory."""
    plan = json.loads(once("plan", "dev", "--json").stdout)
    keys = [r for r in plan["resources"] if r["type"] == "aws:kms/key:Key"]
    assert keys
    keys[0]["inputs"]["enableKeyRotation"] = False
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(plan))
    default = run("check", "--graph", str(path), "--json")
    assert default.returncode == 1
    [violation] = [v for v in json.loads(default.stdout)["violations"] if v["policy"] == "kms-key-rotation"]
    assert violation["severity"] and violation["fix"]
    text = run("check", "--graph", str(path), "--stack", "dev")
    assert "kms-key-rotation" in text.stdout and "fix:" in text.stdout
    assert "dev: dev environment config" in text.stdout


def test_plan_reports_guards_lost_to_unknown_values() -> None:
    result = once("plan", "dev", "--first-preview", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["degraded"] == []
    assert sum(json.dumps(r["inputs"]).count("[unknown]") for r in data["resources"]) > 50
