"""Defaults the pack keeps in step with the program, which it cannot import, and the shape of the config files."""

from __future__ import annotations

import json

import pytest

from inferstack.engine import plan_stack
from inferstack.project import find_project
from infra.catalog import catalog
from policies import POLICY_CONFIG
from policies.stack import REQUIRED_TAGS, SUPPORTED_REGIONS
from tests.conftest import planned


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
def test_each_environment_file_is_flat_one_key_per_line_sorted(environment: str) -> None:
    """Several people add keys to these files: sorted single lines merge without conflicts."""
    text = (POLICY_CONFIG / f"{environment}.json").read_text()
    config = json.loads(text)
    assert list(config) == sorted(config)
    assert len(text.strip().splitlines()) == len(config) + 2
