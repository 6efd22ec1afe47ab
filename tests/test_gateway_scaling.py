"""Burst from zero that wakes on its gateway's traffic, and serving that sleeps outside working hours."""

from __future__ import annotations

from typing import Any

import pytest

from inferstack.engine import Resource
from inferstack.report import settings_of
from infra.catalog import catalog
from infra.settings import cron_problem
from tests.conftest import planned
from tests.test_settings import SOURCE, broken

SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"


def _serving_scalers(stack: str) -> dict[str, Resource]:
    return {
        r.name: r
        for r in planned(stack).of_type(SCALED_OBJECT)
        if r.inputs["metadata"]["namespace"] == "serving"
    }


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_burst_serving_scales_from_zero_on_a_metric_that_exists_at_zero_replicas(stack: str) -> None:
    graph = planned(stack)
    settings = settings_of(graph)
    assert settings is not None
    burst = [c for c in settings.clusters if c.role.value == "burst" and c.cloud.value == "gcp"]
    assert burst
    load_seconds = catalog().models[settings.model.name].load_minutes * 60
    scalers = _serving_scalers(stack)
    for cluster in burst:
        pools = [pool for _, pool, _ in settings.served_pools(cluster)]
        assert pools
        for pool in pools:
            spec = scalers[f"{cluster.name}-vllm-{pool.name}-scaler"].inputs["spec"]
            assert spec["scaleTargetRef"]["name"] == f"vllm-{pool.name}"
            assert spec["minReplicaCount"] == 0
            assert spec["cooldownPeriod"] > load_seconds, (
                "the pool stays up longer than a replica takes to start"
            )
            (requests,) = [t for t in spec["triggers"] if t["type"] == "prometheus"]
            query = requests["metadata"]["query"]
            # The gateway's counter, not the model server's: no vLLM pod exists at zero replicas.
            assert "litellm_proxy_total_requests_metric" in query and "vllm" not in query
            assert requests["metadata"]["activationThreshold"] == "0"
        # The gateway in the same cluster stays up and its metrics are collected.
        monitoring = [
            r
            for r in graph.of_type("kubernetes:monitoring.googleapis.com/v1:PodMonitoring")
            if r.name == f"{cluster.name}-gateway-metrics"
        ]
        assert len(monitoring) == 1
        assert monitoring[0].inputs["spec"]["selector"]["matchLabels"] == {"app": "deepseek"}
        assert monitoring[0].inputs["spec"]["endpoints"][0]["port"] == "http"


def test_dev_serving_sleeps_outside_working_hours() -> None:
    scalers = _serving_scalers("dev")
    spec = scalers["core-use1-vllm-l4-scaler"].inputs["spec"]
    assert spec["minReplicaCount"] == 0 and spec["maxReplicaCount"] == 1
    (cron,) = spec["triggers"]
    assert cron == {
        "type": "cron",
        "metadata": {
            "timezone": "America/New_York",
            "start": "0 7 * * 1-5",
            "end": "0 20 * * 1-5",
            "desiredReplicas": "1",
        },
    }


def test_prod_core_serving_never_sleeps() -> None:
    scalers = _serving_scalers("prod")
    assert scalers, "prod's burst pool has its scaler"
    assert not [name for name in scalers if name.startswith("core-")]


# --- bad input ------------------------------------------------------------------------------


def _off_peak(values: dict[str, Any], **keys: str) -> None:
    values["gateway"] = {
        "offPeak": {"timezone": "Europe/Berlin", "start": "0 7 * * 1-5", "end": "0 20 * * 1-5", **keys}
    }


def test_an_unknown_time_zone_is_refused() -> None:
    line = broken("dev", lambda v: _off_peak(v, timezone="Europe/Atlantis"))
    assert line == (
        f"{SOURCE}: inferstack:gateway.offPeak.timezone: 'Europe/Atlantis' is not an IANA time zone; "
        "allowed: e.g. Europe/Berlin, UTC"
    )


def test_a_schedule_that_is_not_cron_is_refused() -> None:
    line = broken("dev", lambda v: _off_peak(v, start="7am weekdays"))
    assert line.startswith(
        f"{SOURCE}: inferstack:gateway.offPeak.start: '7am weekdays' is not a cron expression"
    )


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 7 * *", "4 fields"),
        ("60 7 * * 1-5", "minute '60'"),
        ("0 24 * * *", "hour '24'"),
        ("0 7 0 * *", "day of month '0'"),
        ("0 7 * 13 *", "month '13'"),
        ("0 7 * * 1-9", "day of week '1-9'"),
        ("0 7 * * FRI-MON", "a range runs from low to high"),
        ("*/0 7 * * *", "a step is a whole number above 0"),
        ("0 7 * * MOO", "day of week 'MOO'"),
    ],
)
def test_each_cron_rule_refuses_its_own_mistake(expression: str, problem: str) -> None:
    found = cron_problem(expression)
    assert found is not None and problem in found, found


@pytest.mark.parametrize(
    "expression", ["0 7 * * 1-5", "*/15 8-18 * JAN-MAR MON-FRI", "0 0 1,15 * *", "30 6 * * 0"]
)
def test_ordinary_schedules_parse(expression: str) -> None:
    assert cron_problem(expression) is None


def test_a_cooldown_shorter_than_the_cold_start_is_refused() -> None:
    budget = catalog().models["DeepSeek-R1"].load_minutes * 60
    line = broken("prod", lambda v: v.update(gateway={"burstCooldownSeconds": budget}))
    assert line.startswith(
        f"{SOURCE}: inferstack:gateway.burstCooldownSeconds: {budget} is not longer than DeepSeek-R1's start budget"
    )
