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
        # The gateway in the same cluster stays up and the collector in its mesh scrapes it
        # (tests/test_gke_collector.py follows the series to the trigger's query).
        collectors = [
            r
            for r in graph.of_type("kubernetes:helm.sh/v3:Release")
            if r.name == f"{cluster.name}-monitoring-collector"
        ]
        assert len(collectors) == 1
        gateway = collectors[0].inputs["values"]["scrapeConfigs"]["gateway"]
        assert {
            "source_labels": ["__meta_kubernetes_pod_label_app"],
            "regex": "deepseek",
            "action": "keep",
        } in (gateway["relabel_configs"])


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


def _scaled_and_not(stack: str) -> tuple[set[tuple[str | None, str, str]], list[Resource]]:
    """(provider, namespace, name) of every Deployment a ScaledObject targets; every Deployment."""
    graph = planned(stack)
    targets = {
        (r.provider, r.inputs["metadata"]["namespace"], r.inputs["spec"]["scaleTargetRef"]["name"])
        for r in graph.of_type(SCALED_OBJECT)
        if r.inputs["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    }
    return targets, graph.of_type("kubernetes:apps/v1:Deployment")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_a_scaled_deployment_leaves_its_count_to_the_hpa_and_no_other_does(stack: str) -> None:
    """An update that sent the count again would conflict with the HPA under Server-Side Apply (or,
    forced, reset a scaled-out gateway to its floor at peak); an unscaled one must keep its count."""
    targets, deployments = _scaled_and_not(stack)
    scaled = [
        d
        for d in deployments
        if (d.provider, d.inputs["metadata"]["namespace"], d.inputs["metadata"]["name"]) in targets
    ]
    assert len(scaled) == len(targets), "a ScaledObject targets a Deployment the stack does not create"
    assert any(d.inputs["metadata"]["name"] == "deepseek-deployment" for d in scaled)
    for deployment in deployments:
        expected = ["spec.replicas"] if deployment in scaled else []
        assert deployment.ignore_changes == expected, (deployment.name, deployment.ignore_changes)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_managed_prometheus_trigger_authenticates_as_kedas_own_google_account(stack: str) -> None:
    """Managed Prometheus answers only an authenticated caller: without the pod identity a burst
    scaler reads nothing, and the burst pool never wakes from zero."""
    graph = planned(stack)
    index = graph.by_urn()
    auths = {
        (r.provider, r.inputs["metadata"]["name"]): r
        for r in graph.of_type("kubernetes:keda.sh/v1alpha1:ClusterTriggerAuthentication")
    }
    kedas = {
        r.provider: r for r in graph.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "keda"
    }
    checked = 0
    for scaler in graph.of_type(SCALED_OBJECT):
        for trigger in scaler.inputs["spec"]["triggers"]:
            if "monitoring.googleapis.com" not in trigger.get("metadata", {}).get("serverAddress", ""):
                continue
            checked += 1
            ref = trigger.get("authenticationRef")
            assert ref is not None and ref["kind"] == "ClusterTriggerAuthentication", scaler.name
            auth = auths[(scaler.provider, ref["name"])]
            assert auth.inputs["spec"] == {"podIdentity": {"provider": "gcp"}}
            keda = kedas[scaler.provider]
            assert keda.inputs["values"]["podIdentity"]["gcp"]["enabled"] is True
            grants = {
                (index[u].inputs["role"], index[u].inputs["member"])
                for u in keda.dependencies
                if index[u].type.endswith("/iAMMember:IAMMember")
            }
            roles = {role for role, _ in grants}
            assert {"roles/monitoring.viewer", "roles/iam.workloadIdentityUser"} <= roles, grants
            assert any(m.endswith(".svc.id.goog[keda/keda-operator]") for _, m in grants), grants
    assert checked, f"{stack} has no trigger on Managed Prometheus"


def test_eks_scalers_name_no_google_authentication() -> None:
    graph = planned("prod")
    eks = {p.urn for p in graph.of_type("pulumi:providers:kubernetes") if "EksCluster" in p.urn}
    triggers = [
        t
        for s in graph.of_type(SCALED_OBJECT)
        if s.provider in eks
        for t in s.inputs["spec"]["triggers"]
        if t["type"] == "prometheus"
    ]
    assert triggers
    assert all("authenticationRef" not in t for t in triggers)
