"""The environment configs and the defaults the pack keeps in step with the program (it cannot import it)."""

from __future__ import annotations

import json

import pytest

from inferstack.engine import plan_stack
from inferstack.policy import PACK
from inferstack.project import find_project
from infra.catalog import catalog
from policies import POLICY_CONFIG
from policies.stack import REQUIRED_TAGS, SUPPORTED_REGIONS
from tests.conftest import planned

BY_NAME = {p.name: p for p in PACK}


def test_the_region_allow_list_defaults_to_the_catalog_regions() -> None:
    assert sorted(SUPPORTED_REGIONS) == sorted({*catalog().aws_regions, *catalog().gcp_regions})


def test_the_required_tags_are_the_tags_both_projects_set() -> None:
    """By default the tags the bootstrap and the platform both set; each platform environment adds its own."""
    from inferstack.report import settings_of
    from tests.test_bootstrap import BOOTSTRAP

    boot = plan_stack("acme", project=find_project(BOOTSTRAP))
    [provider] = boot.of_type("pulumi:providers:aws")
    bootstrap = json.loads(provider.inputs["defaultTags"])["tags"]
    platform = settings_of(planned("prod")).tags
    assert sorted(REQUIRED_TAGS) == sorted(set(platform) & set(bootstrap))
    for environment in ("dev", "staging", "prod"):
        config = json.loads((POLICY_CONFIG / f"{environment}.json").read_text())
        assert sorted(config["provider-default-tags"]["requiredTags"]) == sorted(platform)


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_each_setting_names_a_policy_and_a_setting_it_declares(environment: str) -> None:
    """A typo in a config file would be ignored by the analyzer's lookup: the policy would keep its default."""
    text = (POLICY_CONFIG / f"{environment}.json").read_text()
    config = json.loads(text)
    assert config["all"] == "mandatory"
    assert list(config) == sorted(config), "one key per line, sorted"
    assert len(text.strip().splitlines()) == len(config) + 2, "one key per line"
    for name, entry in config.items():
        if name == "all":
            continue
        assert name in BY_NAME, f"{environment}.json: {name} is no policy of the pack"
        if isinstance(entry, str):
            assert entry in ("advisory", "mandatory", "disabled")
            continue
        schema = BY_NAME[name].config_schema
        declared = set(schema.properties) if schema else set()
        assert set(entry) - {"enforcementLevel"} <= declared, f"{environment}.json: {name}: {sorted(entry)}"
