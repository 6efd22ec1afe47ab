"""Every GCP resource waits for the API that serves it, and no destroy switches an API off."""

from __future__ import annotations

import pytest

from inferstack.engine import Graph
from infra.gcp.services import API_OF_MODULE, required_apis
from tests.conftest import planned
from tests.test_data import gcp_data  # noqa: F401  (the GCP-core stack with Cloud SQL and Memorystore)

GCP_STACKS = ["dev", "staging", "prod"]


def _enabled(graph: Graph) -> set[str]:
    return {r.inputs["service"] for r in graph.of_type("gcp:projects/service:Service")}


def _gcp_modules(graph: Graph) -> set[str]:
    return {r.type.split(":")[1].split("/")[0] for r in graph.resources if r.type.startswith("gcp:")}


def _check_apis(graph: Graph) -> None:
    modules = _gcp_modules(graph)
    unknown = sorted(m for m in modules if m not in API_OF_MODULE)
    assert not unknown, f"no API is known for GCP modules {unknown}: add them to API_OF_MODULE"
    missing = sorted(API_OF_MODULE[m] for m in modules if API_OF_MODULE[m] not in _enabled(graph))
    assert not missing, f"used but not enabled: {missing}"


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_every_gcp_resource_type_has_its_api_enabled(stack: str) -> None:
    graph = planned(stack)
    assert {"container", "compute", "kms", "certificatemanager"} <= _gcp_modules(graph)
    _check_apis(graph)


def test_cloud_sql_and_memorystore_have_their_apis(gcp_data: Graph) -> None:  # noqa: F811
    assert {"sql", "redis"} <= _gcp_modules(gcp_data)
    _check_apis(gcp_data)


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_every_regional_gcp_provider_waits_for_every_api(stack: str) -> None:
    graph = planned(stack)
    services = {r.urn for r in graph.of_type("gcp:projects/service:Service")}
    assert len(services) == len(required_apis())
    regional = [p for p in graph.of_type("pulumi:providers:gcp") if p.inputs.get("region")]
    assert regional
    for provider in regional:
        assert services <= set(provider.dependencies), provider.name
    # Every GCP resource but the APIs themselves uses a regional provider, so it waits for them.
    for r in graph.resources:
        if r.type.startswith("gcp:") and r.urn not in services:
            assert r.provider in {p.urn for p in regional}, r.urn


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_a_destroy_leaves_apis_on(stack: str) -> None:
    for service in planned(stack).of_type("gcp:projects/service:Service"):
        assert service.inputs["disableOnDestroy"] is False, service.name


def test_stacks_without_gcp_enable_nothing() -> None:
    graph = planned("onprem")
    assert not graph.of_type("gcp:projects/service:Service")
    assert not graph.of_type("pulumi:providers:gcp")
