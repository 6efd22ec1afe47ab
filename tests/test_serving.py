"""Model serving: vLLM on every accelerator pool, fitting the way it is deployed, shut down as each cloud allows."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inferstack.engine import Graph, Resource
from inferstack.render import render
from inferstack.report import settings_of
from infra.catalog import catalog
from infra.k8s import SERVING_PRIORITY_CLASS
from infra.k8s.serving import checkpoint
from tests.conftest import ROOT, V6E_SLICE, dev_with_tpu, planned
from tests.test_settings import broken, pool, raw

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SHIPPED = ("dev", "staging", "prod", "onprem")
PER_NODE = {"g6.xlarge": 1, "g2-standard-8": 1, "g6e.xlarge": 1, "g2-standard-24": 2, "p5en.48xlarge": 8}
PER_NODE |= {"a3-ultragpu-8g": 8, "g6e.12xlarge": 4, "ct6e-standard-4t": 4}


def _graph(stack: str, tmp_path_factory: pytest.TempPathFactory) -> Graph:
    return dev_with_tpu(tmp_path_factory) if stack == "dev-tpu" else planned(stack)


def _servers(graph: Graph) -> list[Resource]:
    found = [d for d in graph.of_type(DEPLOYMENT) if d.inputs["metadata"]["name"].startswith("vllm-")]
    assert found, "no model server in the plan"
    return found


def _pod(deployment: Resource) -> dict[str, Any]:
    return deployment.inputs["spec"]["template"]["spec"]


def _vllm(deployment: Resource) -> dict[str, Any]:
    (container,) = _pod(deployment)["containers"]
    return container


def _node_pool_of(graph: Graph, deployment: Resource) -> tuple[str, dict[str, str], list[dict[str, str]]]:
    """The machine type, node labels and taints of the pool the deployment selects (EKS or GKE)."""
    wanted = _pod(deployment)["nodeSelector"]["inferstack.io/pool"]
    cluster = deployment.name.removesuffix(f"-vllm-{wanted}")
    for group in graph.of_type("aws:eks/nodeGroup:NodeGroup"):
        if group.inputs["labels"].get("inferstack.io/pool") == wanted and group.name.startswith(
            f"{cluster}-"
        ):
            (machine,) = group.inputs["instanceTypes"]
            taints = [{**t, "effect": "NoSchedule"} for t in group.inputs.get("taints", [])]
            return machine, group.inputs["labels"], taints
    for node_pool in graph.of_type("gcp:container/nodePool:NodePool"):
        config = node_pool.inputs["nodeConfig"]
        if config["labels"].get("inferstack.io/pool") == wanted and node_pool.name.startswith(f"{cluster}-"):
            taints = [{**t, "effect": "NoSchedule"} for t in config.get("taints", [])]
            labels = dict(config["labels"])
            if "placementPolicy" in node_pool.inputs:  # GKE labels TPU nodes with these itself
                machine = catalog().gcp_machine_types[config["machineType"]]
                labels["cloud.google.com/gke-tpu-accelerator"] = machine.gke_accelerator_type or ""
                labels["cloud.google.com/gke-tpu-topology"] = node_pool.inputs["placementPolicy"][
                    "tpuTopology"
                ]
            return config["machineType"], labels, taints
    raise AssertionError(f"{deployment.name}: no node pool labelled inferstack.io/pool={wanted}")


@pytest.mark.parametrize("stack", [*SHIPPED, "dev-tpu"])
def test_every_server_asks_for_its_accelerators_tolerates_their_taint_and_selects_their_pool(
    stack: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    graph = _graph(stack, tmp_path_factory)
    for deployment in _servers(graph):
        machine, labels, taints = _node_pool_of(graph, deployment)
        limits = _vllm(deployment)["resources"]["limits"]
        resource = "google.com/tpu" if machine.startswith("ct") else "nvidia.com/gpu"
        assert limits[resource] == str(PER_NODE[machine])
        assert _vllm(deployment)["resources"]["requests"] == limits
        selector = _pod(deployment)["nodeSelector"]
        assert selector.items() <= labels.items(), (selector, labels)
        tolerated = {t["key"] for t in _pod(deployment)["tolerations"] if t["operator"] == "Exists"}
        assert taints and {t["key"] for t in taints} <= tolerated


@pytest.mark.parametrize("stack", [*SHIPPED, "dev-tpu"])
def test_tensor_parallel_size_is_the_accelerators_of_one_node(
    stack: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    graph = _graph(stack, tmp_path_factory)
    for deployment in _servers(graph):
        machine, _, _ = _node_pool_of(graph, deployment)
        args = _vllm(deployment)["args"]
        assert f"--tensor-parallel-size={PER_NODE[machine]}" in args
        assert "--load-format=runai_streamer" in args
        assert args[0].startswith(("s3://models-", "gs://models-"))


@pytest.mark.parametrize("stack", [*SHIPPED, "dev-tpu"])
def test_every_server_is_hardened_probed_pinned_and_has_a_pdb_and_a_service(
    stack: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    graph = _graph(stack, tmp_path_factory)
    budgets = {
        (p.provider, p.inputs["metadata"]["name"])
        for p in graph.of_type("kubernetes:policy/v1:PodDisruptionBudget")
    }
    services = {
        (s.provider, s.inputs["metadata"]["name"]) for s in graph.of_type("kubernetes:core/v1:Service")
    }
    load_minutes = catalog().models[_model(graph)].load_minutes
    for deployment in _servers(graph):
        key = (deployment.provider, deployment.inputs["metadata"]["name"])
        assert key in budgets and key in services
        pod, vllm = _pod(deployment), _vllm(deployment)
        image = vllm["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
        assert image in (catalog().serving_images.values())
        assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "model-server"
        assert pod["priorityClassName"] == SERVING_PRIORITY_CLASS
        # An apply never waits on replicas that cannot start before the store is filled.
        assert deployment.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        context = vllm["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["runAsUser"] >= 10000
        writable = {m["mountPath"] for m in vllm["volumeMounts"]}
        empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        assert {m["name"] for m in vllm["volumeMounts"]} <= empty and {"/cache", "/tmp"} <= writable
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert vllm[probe]["httpGet"]["path"] == "/health"
        startup = vllm["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= load_minutes * 60
        assert {"cpu", "memory"} <= set(vllm["resources"]["limits"])


def _model(graph: Graph) -> str:
    (name,) = {
        a.split("=", 1)[1]
        for d in _servers(graph)
        for a in _vllm(d)["args"]
        if a.startswith("--served-model-name=")
    }
    return name


def _replicas(graph: Graph) -> dict[tuple[str, str], int]:
    return {
        (d.name.split("-vllm-")[0], d.name.split("-vllm-")[1]): d.inputs["spec"]["replicas"]
        for d in _servers(graph)
    }


def test_core_keeps_a_floor_in_every_core_region_and_burst_idles_at_zero(prod: Graph) -> None:
    replicas = _replicas(prod)
    assert replicas == {
        ("core-use1", "h200"): 1,
        ("core-use1", "h200-spot"): 0,
        ("core-usw2", "h200"): 1,
        ("burst-usc1", "h200-spot"): 0,
    }


@pytest.mark.parametrize("stack", ["dev", "staging", "onprem"])
def test_burst_clusters_serve_nothing_until_scaled(stack: str) -> None:
    graph = planned(stack)
    burst = {c for c, v in graph.outputs["clusters"].items() if v["role"] == "burst"}
    counts = {key: n for key, n in _replicas(graph).items() if key[0] in burst}
    assert counts and set(counts.values()) == {0}


def _shutdown(deployment: Resource) -> tuple[int, int]:
    return _pod(deployment)["terminationGracePeriodSeconds"], _vllm(deployment)["lifecycle"]["preStop"][
        "sleep"
    ]["seconds"]


def test_shutdown_fits_what_each_cloud_honours(prod: Graph) -> None:
    by_name = {d.name: _shutdown(d) for d in _servers(prod)}
    # EKS: the two-minute Spot notice; GKE spot: 120 s of graceful node shutdown less 15 s for system pods.
    assert by_name == {
        "core-use1-vllm-h200": (120, 10),
        "core-use1-vllm-h200-spot": (120, 10),
        "core-usw2-vllm-h200": (120, 10),
        "burst-usc1-vllm-h200-spot": (105, 10),
    }
    (gke_pool,) = [
        p
        for p in prod.of_type("gcp:container/nodePool:NodePool")
        if p.name.startswith("burst-usc1-h200-spot")
    ]
    assert gke_pool.inputs["nodeConfig"]["kubeletConfig"] == {
        "shutdownGracePeriodSeconds": 120,
        "shutdownGracePeriodCriticalPodsSeconds": 15,
    }
    (system,) = [
        p for p in prod.of_type("gcp:container/nodePool:NodePool") if p.name.startswith("burst-usc1-system")
    ]
    assert "kubeletConfig" not in system.inputs["nodeConfig"]


def test_the_serving_namespace_is_restricted(prod: Graph) -> None:
    namespaces = [
        n for n in prod.of_type("kubernetes:core/v1:Namespace") if n.inputs["metadata"]["name"] == "serving"
    ]
    assert len(namespaces) == 3  # one per cluster with accelerator pools
    for namespace in namespaces:
        assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize(
    ("model", "precision", "expect"),
    [
        ("DeepSeek-R1", "fp8", "fp8"),
        ("DeepSeek-R1", "bf16", "bf16"),
        ("DeepSeek-R1-Distill-Qwen-7B", "fp8", "bf16"),
        ("DeepSeek-R1-Distill-Qwen-7B", "int4", "int4"),
    ],
)
def test_the_store_holds_the_checkpoint_vllm_is_given(model: str, precision: str, expect: str) -> None:
    assert checkpoint(model, precision) == expect


# --- bad input: one line naming the file and the key -------------------------------------------


def _with_prod_tpu(values: dict[str, Any]) -> None:
    values["clusters"][2]["nodePools"].append(
        {
            "name": "v6e-spot",
            "machineType": "ct6e-standard-4t",
            "accelerator": "tpu-v6e",
            "tpuTopology": "4x8",
            "capacity": "spot",
            "minSize": 0,
            "maxSize": 8,
        }
    )


def test_a_model_that_needs_more_than_one_tpu_host_is_refused_on_a_multi_host_slice() -> None:
    line = broken("prod", _with_prod_tpu)
    assert "inferstack:clusters[2].nodePools[2].machineType: ct6e-standard-4t cannot hold one replica" in line
    assert "one host of the 4x8 slice, not across its 8 hosts" in line and "needs 770 GiB" in line


def test_a_model_that_fits_one_tpu_host_is_served_on_a_multi_host_slice(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    servers = [d for d in _servers(dev_with_tpu(tmp_path_factory)) if d.name.endswith("v6e-spot")]
    assert len(servers) == 1


def test_a_gpu_node_too_small_for_the_model_is_refused() -> None:
    def small(values: dict[str, Any]) -> None:
        pool(values, 0, 1).update(machineType="p5.4xlarge", accelerator="H100")

    line = broken("prod", small)
    assert line.startswith(
        "stacks/Pulumi.test.yaml: inferstack:clusters[0].nodePools[1].machineType: p5.4xlarge"
    )
    assert "a replica is served inside one node" in line


def test_tensor_parallel_larger_than_a_node_is_refused() -> None:
    def tp(values: dict[str, Any]) -> None:
        values["serving"] = {"tensorParallelSize": 2}

    line = broken("dev", tp)
    assert line.startswith("stacks/Pulumi.test.yaml: inferstack:serving.tensorParallelSize: 2 but a replica")
    assert "clusters[0].nodePools[1] (g6.xlarge: 1 L4)" in line and "clusters[1].nodePools[1]" in line
    assert "allowed: <= 1" in line


def test_tensor_parallel_within_a_node_is_taken() -> None:
    from infra.settings import parse_settings

    values = copy.deepcopy(raw("prod"))
    values["serving"] = {"tensorParallelSize": 8}
    assert parse_settings(values, "stacks/Pulumi.test.yaml").serving.tensor_parallel_size == 8


@pytest.mark.parametrize(
    ("image", "expect"),
    [
        ("vllm/vllm-openai:latest", "'latest' moves under a running fleet"),
        ("vllm/vllm-openai", "has no tag, which pulls 'latest'"),
        ("vllm/vllm-openai@sha256:abc", "the digest must be sha256:<64 hex digits>"),
        (":v0.27.1", "is not an image reference"),
    ],
)
def test_an_unpinned_image_is_refused(image: str, expect: str) -> None:
    def unpinned(values: dict[str, Any]) -> None:
        values["serving"] = {"gpuImage": image}

    line = broken("dev", unpinned)
    assert line.startswith("stacks/Pulumi.test.yaml: inferstack:serving.gpuImage: ") and expect in line


def test_prod_without_a_core_floor_is_refused() -> None:
    line = broken("prod", lambda v: v.update(serving={"coreReplicas": 0}))
    assert line.startswith("stacks/Pulumi.test.yaml: inferstack:serving.coreReplicas: 0 in prod")


def test_a_floor_larger_than_its_pool_is_refused() -> None:
    line = broken("dev", lambda v: v.update(serving={"coreReplicas": 3}))
    assert "inferstack:serving.coreReplicas: 3 replicas do not fit clusters[0].nodePools[1] (l4)" in line
    assert "allowed: <= 2" in line


def test_a_burst_count_larger_than_its_pool_is_refused() -> None:
    line = broken("dev", lambda v: v.update(serving={"burstReplicas": 3}))
    assert (
        "inferstack:serving.burstReplicas: 3 replicas do not fit clusters[1].nodePools[1] (l4-spot)" in line
    )


def test_the_catalog_refuses_an_unpinned_default_image() -> None:
    from tests.test_catalog import build, raw_tables

    tables = raw_tables()
    tables["models.yaml"]["servingImages"]["tpu"] = "vllm/vllm-tpu:latest"
    with pytest.raises(ValueError, match="'latest' moves under a running fleet"):
        build(tables)


def test_an_unknown_model_is_refused() -> None:
    line = broken("dev", lambda v: v["model"].update(name="DeepSeek-R9"))
    assert line.startswith(
        "stacks/Pulumi.test.yaml: inferstack:model.name: 'DeepSeek-R9' is not a known model"
    )


def test_the_cli_refuses_a_misfit_in_one_line_with_exit_2(tmp_path: Path) -> None:
    text = (ROOT / "stacks" / "Pulumi.prod.yaml").read_text()
    assert "  database:" in text
    stack = tmp_path / "Pulumi.tpu.yaml"
    slice_ = V6E_SLICE.split("\n", 1)[1]
    stack.write_text(
        text.replace("          diskSizeGib: 2048\n  database:", "          diskSizeGib: 2048\n" + slice_)
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
    inferstack = Path(sys.executable).parent / "inferstack"
    result = subprocess.run(
        [str(inferstack), "plan", "prod", "--config-file", str(stack)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "inferstack:clusters[2].nodePools[2].machineType: ct6e-standard-4t cannot hold" in lines[0]


def test_the_streamer_runs_distributed_only_where_the_loader_takes_it(
    prod: Graph, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """GPU replicas over several GPUs stream one share per rank; the TPU image's loader refuses the option."""

    def loader(deployment: Resource) -> dict[str, Any]:
        (arg,) = [a for a in _vllm(deployment)["args"] if a.startswith("--model-loader-extra-config=")]
        return json.loads(arg.split("=", 1)[1])

    assert all(loader(d) == {"concurrency": 32, "distributed": True} for d in _servers(prod))
    by_pool = {d.name: loader(d) for d in _servers(dev_with_tpu(tmp_path_factory))}
    assert by_pool["burst-usc1-vllm-v6e-spot"] == {"concurrency": 32}
    assert by_pool["core-use1-vllm-l4"] == {"concurrency": 32}  # one GPU: nothing to distribute


def test_the_tpu_servers_validate_against_their_cluster_s_kubernetes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The shipped stacks are rendered and validated in test_render; the TPU case only exists here."""
    graph = dev_with_tpu(tmp_path_factory)
    settings = settings_of(graph)
    assert settings is not None
    clusters, problems = render(graph, {c.name: c.kubernetes_version for c in settings.clusters})
    assert problems == []
    kinds = sorted(
        o["kind"] for o in clusters["burst-usc1"].objects if "vllm-v6e-spot" in o["metadata"]["name"]
    )
    # The burst pool's KEDA ScaledObject (infra/k8s/gateway.py) wakes it from zero.
    assert kinds == ["Deployment", "PodDisruptionBudget", "ScaledObject", "Service"]


def test_the_serving_namespace_waits_for_the_priority_class_its_pods_name(prod: Graph) -> None:
    """Admission refuses a pod whose PriorityClass does not exist yet: the add-ons' class comes first."""
    namespaces = [
        r for r in prod.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == "serving"
    ]
    classes = {
        r.urn: r.provider
        for r in prod.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")
        if r.inputs["metadata"]["name"] == "inferstack-serving"
    }
    assert namespaces and classes
    for namespace in namespaces:
        waited = [urn for urn in namespace.dependencies if urn in classes]
        assert [classes[urn] for urn in waited] == [namespace.provider], namespace.name
