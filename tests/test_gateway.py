"""The gateway: the seed's Deployment and autoscaling, its LiteLLM config, and its place at the GCP edge."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, cast

import pulumi_kubernetes as k8s
import pytest
import yaml

from inferstack.engine import Graph, Resource
from inferstack.render import render
from inferstack.report import settings_of
from infra.catalog import catalog
from infra.k8s.gateway import GatewayArgs, GatewayConfig, neg_name
from infra.settings import Cloud, Role, SettingsError, parse_settings
from tests.conftest import planned, stack_variant
from tests.test_settings import SOURCE, broken, raw

KEYS = yaml.safe_load((Path(__file__).parent / "data" / "litellm-config-keys.yaml").read_text())
STACKS = ("dev", "staging", "prod")


def _one(graph: Graph, token: str, name: str) -> Resource:
    found = [r for r in graph.of_type(token) if r.name == name]
    assert len(found) == 1, (token, name, [r.name for r in graph.of_type(token)])
    return found[0]


def _core_clusters(graph: Graph) -> list[str]:
    settings = settings_of(graph)
    assert settings is not None
    names = [c.name for c in settings.clusters if c.role.value == "core" and c.provisioned]
    assert names
    return names


def _config(graph: Graph, cluster: str) -> dict[str, Any]:
    config_map = _one(graph, "kubernetes:core/v1:ConfigMap", f"{cluster}-gateway-litellm-config")
    loaded = yaml.safe_load(config_map.inputs["data"]["config.yaml"])
    assert isinstance(loaded, dict)
    return loaded


# --- the seed's objects ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_core_cluster_runs_deepseek_deployment_with_a_pdb(stack: str) -> None:
    graph = planned(stack)
    for cluster in _core_clusters(graph):
        deployment = _one(graph, "kubernetes:apps/v1:Deployment", f"{cluster}-gateway-deepseek-deployment")
        meta = deployment.inputs["metadata"]
        assert (meta["name"], meta["namespace"]) == ("deepseek-deployment", "inference")
        assert meta["labels"]["app"] == "deepseek"
        assert deployment.inputs["spec"]["template"]["metadata"]["labels"]["app"] == "deepseek"
        pdb = _one(
            graph, "kubernetes:policy/v1:PodDisruptionBudget", f"{cluster}-gateway-deepseek-deployment"
        )
        assert pdb.inputs["spec"]["selector"]["matchLabels"] == {"app": "deepseek"}
        assert pdb.inputs["spec"]["maxUnavailable"] == 1


def test_prod_scaled_object_and_its_hpa_carry_exactly_the_seeds_numbers() -> None:
    graph = planned("prod")
    clusters = ["core-use1", "core-usw2", "burst-usc1"]
    for cluster in clusters:
        scaler = _one(graph, "kubernetes:keda.sh/v1alpha1:ScaledObject", f"{cluster}-gateway-scaler")
        assert scaler.inputs["apiVersion"] == "keda.sh/v1alpha1"
        spec = scaler.inputs["spec"]
        assert spec["scaleTargetRef"]["name"] == "deepseek-deployment"
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (3, 20)
        hpa = spec["advanced"]["horizontalPodAutoscalerConfig"]
        assert hpa["name"] == "deepseek-hpa"
        assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
        cpu, requests = spec["triggers"]
        assert cpu == {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}}
        assert requests["type"] == "prometheus" and requests["metricType"] == "AverageValue"
        assert requests["metadata"]["query"] == 'sum(deepseek_api_requests_per_second{app="deepseek"})'
        assert requests["metadata"]["threshold"] == "500"
        # The metric may not exist yet (no recording rules loaded): an empty answer is 0, not an error.
        assert requests["metadata"]["ignoreNullValues"] == "true"
    burst = _one(graph, "kubernetes:keda.sh/v1alpha1:ScaledObject", "burst-usc1-gateway-scaler")
    assert burst.inputs["spec"]["triggers"][1]["metadata"]["serverAddress"] == (
        "https://monitoring.googleapis.com/v1/projects/acme-inference-prod/location/global/prometheus"
    )


def test_the_gateway_pods_are_pinned_probed_and_unprivileged() -> None:
    deployment = _one(
        planned("prod"), "kubernetes:apps/v1:Deployment", "core-use1-gateway-deepseek-deployment"
    )
    pod = deployment.inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == catalog().gateway_image
    assert ":" in container["image"] and not container["image"].endswith(":latest")
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    sources = [s.get("secretRef", s.get("configMapRef"))["name"] for s in container["envFrom"]]
    assert sources == ["litellm-secrets", "litellm-database", "litellm-redis", "inferstack-data"]


def test_every_gateway_object_is_in_its_clusters_render() -> None:
    graph = planned("prod")
    settings = settings_of(graph)
    assert settings is not None
    clusters, problems = render(graph, {c.name: c.kubernetes_version for c in settings.clusters})
    assert problems == []
    for cluster in ("core-use1", "core-usw2", "burst-usc1"):
        kinds = {(o["kind"], o["metadata"]["name"]) for o in clusters[cluster].objects}
        assert {
            ("Deployment", "deepseek-deployment"),
            ("PodDisruptionBudget", "deepseek-deployment"),
            ("Service", "deepseek"),
            ("ConfigMap", "litellm-config"),
            ("ServiceAccount", "deepseek-gateway"),
            ("ScaledObject", "deepseek-deployment"),
            ("ExternalSecret", "litellm-secrets"),
        } <= kinds, cluster
        assert "ScaledObject keda.sh/v1alpha1 inference/deepseek-deployment" in clusters[cluster].unvalidated


# --- the config ---------------------------------------------------------------------------------


def _unknown_keys(config: dict[str, Any]) -> list[str]:
    """Every key of a rendered config that LiteLLM's configuration reference does not document."""
    out = [f"{k}" for k in config if k not in KEYS["top"]]
    for i, entry in enumerate(config.get("model_list", [])):
        out += [f"model_list[{i}].{k}" for k in entry if k not in KEYS["model_list"]]
        out += [
            f"model_list[{i}].litellm_params.{k}"
            for k in entry["litellm_params"]
            if k not in KEYS["litellm_params"]
        ]
        out += [
            f"model_list[{i}].model_info.{k}"
            for k in entry.get("model_info", {})
            if k not in KEYS["model_info"]
        ]
    for section in ("litellm_settings", "general_settings", "router_settings"):
        out += [f"{section}.{k}" for k in config.get(section, {}) if k not in KEYS[section]]
    cache = config.get("litellm_settings", {}).get("cache_params", {})
    out += [f"cache_params.{k}" for k in cache if k not in KEYS["cache_params"]]
    router = config.get("router_settings", {})
    out += [f"retry_policy.{k}" for k in router.get("retry_policy", {}) if k not in KEYS["retry_policy"]]
    if router.get("routing_strategy") not in KEYS["routing_strategy"]:
        out.append(f"routing_strategy={router.get('routing_strategy')}")
    upper = config.get("litellm_settings", {}).get("upperbound_key_generate_params", {})
    out += [
        f"upperbound_key_generate_params.{k}"
        for k in upper
        if k not in KEYS["upperbound_key_generate_params"]
    ]
    for i, guard in enumerate(config.get("guardrails", [])):
        out += [f"guardrails[{i}].{k}" for k in guard if k not in KEYS["guardrail"]]
        params = guard.get("litellm_params", {})
        out += [f"guardrails[{i}].litellm_params.{k}" for k in params if k not in KEYS["guardrail_params"]]
        modes = params.get("mode", [])
        out += [
            f"guardrails[{i}].mode={m}"
            for m in ([modes] if isinstance(modes, str) else modes)
            if m not in KEYS["guardrail_modes"]
        ]
        out += [
            f"guardrails[{i}].pii_entities_config.{e}={a}"
            for e, a in params.get("pii_entities_config", {}).items()
            if a not in KEYS["pii_actions"]
        ]
    out += [
        f"general_settings.{k} (enterprise)"
        for k in config.get("general_settings", {})
        if k in KEYS["enterprise_only"]
    ]
    return out


@pytest.mark.parametrize(
    ("stack", "cluster"), [("prod", "core-use1"), ("prod", "burst-usc1"), ("dev", "core-use1")]
)
def test_the_rendered_config_uses_only_documented_keys(stack: str, cluster: str) -> None:
    config = _config(planned(stack), cluster)
    assert config["model_list"]
    assert _unknown_keys(config) == []


def test_the_key_check_catches_an_undocumented_key() -> None:
    config = copy.deepcopy(_config(planned("prod"), "core-use1"))
    config["router_settings"]["retries"] = 2
    config["litellm_settings"]["cache_params"]["tls"] = True
    config["general_settings"]["enforced_params"] = ["user"]
    config["litellm_settings"]["upperbound_key_generate_params"]["rpm"] = 5
    guard = config["guardrails"][0]["litellm_params"]
    guard["entities"] = ["PERSON"]
    guard["mode"] = "before_call"
    guard["pii_entities_config"]["PERSON"] = "REDACT"
    assert sorted(_unknown_keys(config)) == [
        "cache_params.tls",
        "general_settings.enforced_params",
        "general_settings.enforced_params (enterprise)",
        "guardrails[0].litellm_params.entities",
        "guardrails[0].mode=before_call",
        "guardrails[0].pii_entities_config.PERSON=REDACT",
        "router_settings.retries",
        "upperbound_key_generate_params.rpm",
    ]


def test_prod_routes_local_model_first_then_burst_then_the_public_api() -> None:
    config = _config(planned("prod"), "core-use1")
    local = [m for m in config["model_list"] if m["model_name"] == "DeepSeek-R1"]
    assert [m["litellm_params"]["api_base"] for m in local] == [
        "http://vllm-h200.serving.svc.cluster.local:8000/v1",
        "http://vllm-h200-spot.serving.svc.cluster.local:8000/v1",
    ]
    assert config["router_settings"]["fallbacks"] == [
        {"DeepSeek-R1": ["DeepSeek-R1@burst-usc1", "DeepSeek-R1@deepseek-api"]}
    ]
    by_group = {m["model_name"]: m["litellm_params"] for m in config["model_list"]}
    assert by_group["DeepSeek-R1@burst-usc1"]["api_base"] == "https://peer.api.inference.example.com/v1"
    assert by_group["DeepSeek-R1@deepseek-api"]["api_key"] == "os.environ/DEEPSEEK_API_KEY"
    assert by_group["DeepSeek-R1@deepseek-api"]["model"] == "deepseek/deepseek-reasoner"
    # A stream cut by a spot shutdown is retried on another deployment of the group.
    assert config["router_settings"]["num_retries"] >= 1
    assert config["router_settings"]["allowed_fails"] >= 1


def test_core_gateways_cache_in_redis_over_tls_and_keep_keys_in_the_database() -> None:
    config = _config(planned("prod"), "core-usw2")
    cache = config["litellm_settings"]["cache_params"]
    assert config["litellm_settings"]["cache"] is True
    assert cache["type"] == "redis" and cache["ssl"] is True
    assert cache["password"] == "os.environ/REDIS_PASSWORD"
    assert config["general_settings"]["database_url"] == "os.environ/DATABASE_URL"
    assert "prometheus" in config["litellm_settings"]["callbacks"]


def test_a_burst_gateway_without_data_falls_back_to_the_public_api_only() -> None:
    config = _config(planned("prod"), "burst-usc1")
    assert "cache" not in config["litellm_settings"]
    assert "database_url" not in config["general_settings"]
    assert config["router_settings"]["fallbacks"] == [{"DeepSeek-R1": ["DeepSeek-R1@deepseek-api"]}]


def test_a_config_without_fallbacks_has_no_fallback_list() -> None:
    rendered = yaml.safe_load(
        GatewayConfig(
            model="DeepSeek-R1-Distill-Qwen-7B", local=[("vllm-l4.serving", 8000)], public_api=False
        ).render()
    )
    assert "fallbacks" not in rendered["router_settings"]
    assert [m["model_name"] for m in rendered["model_list"]] == ["DeepSeek-R1-Distill-Qwen-7B"]


# --- the edge -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_gcp_backend_service_has_the_gateways_negs_in_every_zone(stack: str) -> None:
    graph = planned(stack)
    settings = settings_of(graph)
    assert settings is not None
    gcp = [c for c in settings.gateway_clusters() if c.cloud.value == "gcp"]
    assert gcp
    backend = _one(graph, "gcp:compute/backendService:BackendService", "edge-gateways")
    groups = [b["group"] for b in backend.inputs["backends"]]
    assert groups
    expected = []
    for cluster in gcp:
        # The NEGs are the mesh ingress's (LiteLLM's pods refuse plain text under STRICT mTLS); the
        # Istio Gateway listens on the NEG's port and the VirtualService leads to LiteLLM's Service.
        litellm = _one(graph, "kubernetes:core/v1:Service", f"{cluster.name}-gateway-deepseek")
        assert "cloud.google.com/neg" not in (litellm.inputs["metadata"].get("annotations") or {})
        ingress = _one(graph, "kubernetes:helm.sh/v3:Release", f"{cluster.name}-mesh-istio-ingress")
        service = ingress.inputs["values"]["service"]
        annotation = yaml.safe_load(service["annotations"]["cloud.google.com/neg"])
        name = f"inferstack-{stack}-{cluster.name}-gateway"
        assert annotation == {"exposed_ports": {"8080": {"name": name}}}
        assert service["type"] == "ClusterIP"
        assert {"name": "http2", "port": 8080, "protocol": "TCP", "targetPort": 8080} in service["ports"]
        gateway = _one(
            graph,
            "kubernetes:networking.istio.io/v1:Gateway",
            f"{cluster.name}-mesh-istio-ingress-gateway-inferstack",
        )
        assert gateway.inputs["spec"]["servers"][0]["port"]["number"] == 8080
        route = _one(
            graph,
            "kubernetes:networking.istio.io/v1:VirtualService",
            f"{cluster.name}-mesh-istio-ingress-virtualservice-inferstack",
        )
        destination = route.inputs["spec"]["http"][0]["route"][0]["destination"]
        assert destination == {"host": "deepseek.inference.svc.cluster.local", "port": {"number": 4000}}
        zones = catalog().gcp_regions[cluster.region or ""][:3]
        expected += [f"projects/{settings.gcp_project}/zones/{z}/networkEndpointGroups/{name}" for z in zones]
    assert groups == expected
    assert backend.inputs["protocol"] == "HTTP"


def test_neg_names_are_dns_labels_unique_per_stack_and_cluster() -> None:
    names = {neg_name(c) for c in ("burst-usc1", "burst-use4", "a" * 70)}
    assert len(names) == 3
    assert all(len(n) <= 63 and n.islower() for n in names)


@pytest.mark.parametrize("stack", STACKS)
def test_the_edge_checks_the_gateways_own_readiness_path(stack: str) -> None:
    graph = planned(stack)
    checks = graph.of_type("aws:route53/healthCheck:HealthCheck")
    assert checks
    assert {c.inputs["resourcePath"] for c in checks} == {"/health/readiness"}
    (ready,) = graph.of_type("gcp:compute/healthCheck:HealthCheck")
    assert ready.inputs["httpHealthCheck"]["requestPath"] == "/health/readiness"


# --- settings ----------------------------------------------------------------------------------


def test_dev_lowers_the_replica_bounds_through_its_stack_file() -> None:
    scaler = _one(planned("dev"), "kubernetes:keda.sh/v1alpha1:ScaledObject", "core-use1-gateway-scaler")
    assert (scaler.inputs["spec"]["minReplicaCount"], scaler.inputs["spec"]["maxReplicaCount"]) == (1, 3)


def _gateway(values: dict[str, Any], **keys: Any) -> None:
    values["gateway"] = keys


def test_min_above_max_is_refused() -> None:
    line = broken("dev", lambda v: _gateway(v, minReplicas=5, maxReplicas=4))
    assert (
        line == f"{SOURCE}: inferstack:gateway.minReplicas: 5 is above maxReplicas 4; allowed: <= maxReplicas"
    )


@pytest.mark.parametrize(("key", "value", "seed"), [("minReplicas", 2, 3), ("maxReplicas", 19, 20)])
def test_prod_may_not_go_below_the_seeds_bounds(key: str, value: int, seed: int) -> None:
    line = broken("prod", lambda v: _gateway(v, **{key: value}))
    assert line == (
        f"{SOURCE}: inferstack:gateway.{key}: {value} in prod is below the seed's {seed}; allowed: >= {seed}"
    )


def test_a_fallback_naming_an_unknown_cluster_is_refused() -> None:
    line = broken("prod", lambda v: _gateway(v, fallbacks=["burst-usc2"]))
    assert line.startswith(
        f"{SOURCE}: inferstack:gateway.fallbacks[0]: 'burst-usc2' is not a cluster of this stack"
    )
    assert "burst-usc1" in line


def test_a_fallback_to_a_cluster_without_a_gateway_is_refused() -> None:
    values = copy.deepcopy(raw("prod"))
    values["clusters"].append(
        {
            "name": "cpu-only",
            "role": "burst",
            "cloud": "gcp",
            "region": "us-central1",
            "kubernetesVersion": "1.35",
            "networkCidr": "10.40.0.0/16",
            "nodePools": [{"name": "system", "machineType": "n2-standard-8", "minSize": 1, "maxSize": 2}],
        }
    )
    values["gateway"] = {"fallbacks": ["cpu-only"]}
    with pytest.raises(SettingsError) as caught:
        parse_settings(values, SOURCE, frozenset())
    assert [p for p in caught.value.problems if "gateway" in p[0]] == [
        (
            "inferstack:gateway.fallbacks[0]",
            "'cpu-only' runs no gateway (no accelerator pool); allowed: burst-usc1, core-use1, core-usw2",
        )
    ]


def test_a_fallback_named_twice_is_refused() -> None:
    line = broken("prod", lambda v: _gateway(v, fallbacks=["burst-usc1", "burst-usc1"]))
    assert (
        line == f"{SOURCE}: inferstack:gateway.fallbacks: ['burst-usc1', 'burst-usc1'] names a cluster twice"
    )


def test_an_unpinned_gateway_image_is_refused() -> None:
    line = broken("dev", lambda v: _gateway(v, image="ghcr.io/berriai/litellm"))
    assert line.startswith(f"{SOURCE}: inferstack:gateway.image: 'ghcr.io/berriai/litellm' has no tag")


def test_the_fallback_chain_follows_the_stack() -> None:
    values = copy.deepcopy(raw("prod"))
    values["gateway"] = {"fallbacks": ["core-usw2", "burst-usc1"]}
    # Without the JWT an AWS cluster's ingress takes the master key; with it, see test_peer.py.
    del values["security"]["jwt"]
    settings = parse_settings(values, SOURCE, frozenset())
    use1 = next(c for c in settings.clusters if c.name == "core-use1")
    usw2 = next(c for c in settings.clusters if c.name == "core-usw2")
    assert [c.name for c in settings.fallback_clusters(use1)] == ["core-usw2", "burst-usc1"]
    assert [c.name for c in settings.fallback_clusters(usw2)] == ["burst-usc1"]


def test_a_core_cluster_with_a_database_and_no_cache_keeps_keys_without_caching(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    graph = stack_variant(
        tmp_path_factory, "staging", "  cache:\n    nodeType: cache.r7g.large\n    replicas: 1\n", ""
    )
    config = _config(graph, "core-use1")
    assert "cache" not in config["litellm_settings"]
    assert config["general_settings"]["database_url"] == "os.environ/DATABASE_URL"
    assert not [
        r for r in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret") if "redis" in r.name
    ]


# --- the component's own checks (a direct caller's mistakes) ---------------------------------


def _args(**changes: Any) -> GatewayArgs:
    base: dict[str, Any] = {
        "cluster": "core-use1",
        "cloud": Cloud.AWS,
        "role": Role.CORE,
        "provider": cast(k8s.Provider, None),
        "config": GatewayConfig(model="DeepSeek-R1", local=[("vllm-h200.serving.svc.cluster.local", 8000)]),
        "image": "ghcr.io/berriai/litellm-non_root:v1.108.11",
        "min_replicas": 3,
        "max_replicas": 20,
        "secret_prefix": "inferstack/prod/",
    }
    return GatewayArgs(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_replicas": 0}, "replicas 0..20"),
        ({"min_replicas": 21}, "replicas 21..20"),
        ({"cloud": Cloud.GCP, "zones": ["us-central1-a"]}, "needs gcp_project and zones"),
        ({"cloud": Cloud.GCP, "gcp_project": "p"}, "needs gcp_project and zones"),
        (
            {
                "config": GatewayConfig(model="m", local=[("h", 8000)], cache=True),
                "data_config_map": "inferstack-data",
            },
            "the cache needs",
        ),
        ({"config": GatewayConfig(model="m", local=[("h", 8000)], database=True)}, "go together"),
    ],
)
def test_gateway_args_refuse_each_inconsistency(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _args(**changes)


def test_gateway_args_accept_a_consistent_cluster() -> None:
    assert _args().min_replicas == 3


# --- PII masking and per-key limits --------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_gateway_masks_the_stacks_entities_before_any_deployment(stack: str) -> None:
    """default_on runs the guardrail on every request, whatever the client asks; pre_call runs it
    before the router picks the local model, a burst gateway or the public API."""
    graph = planned(stack)
    settings = settings_of(graph)
    assert settings is not None
    gateways = [c.name for c in settings.gateway_clusters()]
    assert gateways
    for cluster in gateways:
        (guard,) = _config(graph, cluster)["guardrails"]
        params = guard["litellm_params"]
        assert params["guardrail"] == "presidio" and params["default_on"] is True
        assert params["mode"] == "pre_call" and params["presidio_filter_scope"] == "input"
        assert params["pii_entities_config"] == {e: "MASK" for e in settings.security.masking.entities}


def test_masking_responses_scans_the_answers_too() -> None:
    config = GatewayConfig(model="m", local=[("h", 8000)], masked_entities=["PERSON"], mask_responses=True)
    (guard,) = yaml.safe_load(config.render())["guardrails"]
    assert guard["litellm_params"]["mode"] == ["pre_call", "post_call"]
    assert guard["litellm_params"]["presidio_filter_scope"] == "both"
    assert "guardrails" not in yaml.safe_load(GatewayConfig(model="m", local=[("h", 8000)]).render())


@pytest.mark.parametrize("stack", STACKS)
def test_every_gateway_reaches_its_own_pinned_presidio_services(stack: str) -> None:
    graph = planned(stack)
    deployments = {
        (d.provider, d.inputs["metadata"]["name"]): d for d in graph.of_type("kubernetes:apps/v1:Deployment")
    }
    services = {
        (s.provider, s.inputs["metadata"]["name"]): s for s in graph.of_type("kubernetes:core/v1:Service")
    }
    gateways = [d for (_, name), d in deployments.items() if name == "deepseek-deployment"]
    assert gateways
    for gateway in gateways:
        (container,) = gateway.inputs["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        for variable, service in (
            ("PRESIDIO_ANALYZER_API_BASE", "presidio-analyzer"),
            ("PRESIDIO_ANONYMIZER_API_BASE", "presidio-anonymizer"),
        ):
            assert env[variable] == f"http://{service}.inference.svc.cluster.local:3000"
            target = services[(gateway.provider, service)]
            assert target.inputs["metadata"]["namespace"] == "inference"
            (masker,) = deployments[(gateway.provider, service)].inputs["spec"]["template"]["spec"][
                "containers"
            ]
            assert masker["image"] == f"ghcr.io/data-privacy-stack/{service}:{catalog().presidio_version}"
            assert masker["securityContext"]["readOnlyRootFilesystem"] is True
            assert {e["name"]: e["value"] for e in masker["env"]}["LOG_LEVEL"] == "WARNING"


def test_prod_runs_two_of_each_masking_service_behind_a_pdb() -> None:
    graph = planned("prod")
    maskers = [
        d
        for d in graph.of_type("kubernetes:apps/v1:Deployment")
        if d.inputs["metadata"]["name"].startswith("presidio-")
    ]
    assert maskers and all(d.inputs["spec"]["replicas"] == 2 for d in maskers)
    pdbs = {
        (p.provider, p.inputs["metadata"]["name"])
        for p in graph.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    }
    assert all((d.provider, d.inputs["metadata"]["name"]) in pdbs for d in maskers)


def test_every_key_the_gateway_issues_is_rate_limited_and_no_prompt_is_stored() -> None:
    settings = settings_of(planned("prod"))
    assert settings is not None
    config = _config(planned("prod"), "core-use1")
    assert config["litellm_settings"]["upperbound_key_generate_params"] == {
        "rpm_limit": settings.gateway.key_rpm_limit,
        "max_parallel_requests": settings.gateway.key_max_parallel_requests,
    }
    assert config["litellm_settings"]["turn_off_message_logging"] is True
    assert config["general_settings"]["store_prompts_in_spend_logs"] is False


def test_only_the_gateway_may_send_prompts_to_the_masking_services() -> None:
    graph = planned("prod")
    policies = [
        p
        for p in graph.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if p.inputs["metadata"]["name"].startswith("presidio-")
    ]
    assert len(policies) == 2 * 3  # two services in each of prod's three gateway clusters
    for policy in policies:
        spec = policy.inputs["spec"]
        assert spec["policyTypes"] == ["Ingress"]
        assert spec["podSelector"]["matchLabels"] == {
            "app.kubernetes.io/name": policy.inputs["metadata"]["name"]
        }
        (rule,) = spec["ingress"]
        assert rule["from"] == [{"podSelector": {"matchLabels": {"app": "deepseek"}}}]
        assert rule["ports"] == [{"port": 3000, "protocol": "TCP"}, {"port": 15008, "protocol": "TCP"}]
