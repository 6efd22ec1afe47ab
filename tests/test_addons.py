"""The add-ons on the planned graphs: what every cluster runs before a workload can, pinned and scoped."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inferstack.engine import Graph, Resource
from infra.catalog import catalog
from infra.k8s import MESH_ADDONS, SERVING_PRIORITY_CLASS, SYSTEM_PRIORITY_CLASS
from infra.k8s.mesh import PEER
from infra.k8s.monitoring import COLLECTOR
from tests.conftest import ROOT, planned, stack_variant
from tests.test_cli import run
from tests.test_settings import only_line, valid

STACKS = ("dev", "staging", "prod", "onprem")
RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GPU_LABEL = "nvidia.com/gpu.present"


def cluster_of(graph: Graph, resource: Resource) -> str:
    """The cluster an in-cluster object is created in: its Kubernetes provider is ``<cluster>-k8s``."""
    provider = graph.by_urn()[resource.provider or ""]
    assert provider.type == "pulumi:providers:kubernetes", resource.name
    return provider.name.removesuffix("-k8s")


def releases(graph: Graph) -> dict[str, dict[str, Resource]]:
    """Cluster -> add-on (release name) -> its Helm release; the mesh's are tests/test_mesh.py's,
    the peer entrance's too, the GKE metrics collector's tests/test_gke_collector.py's."""
    out: dict[str, dict[str, Resource]] = {}
    for release in graph.of_type(RELEASE):
        if release.inputs["name"] in (*MESH_ADDONS, PEER, COLLECTOR):
            continue
        out.setdefault(cluster_of(graph, release), {})[release.inputs["name"]] = release
    return out


def eks_node_groups(graph: Graph) -> dict[str, list[Resource]]:
    """EKS cluster (the component's name) -> its node groups."""
    index = graph.by_urn()
    out: dict[str, list[Resource]] = {}
    for group in graph.of_type(NODE_GROUP):
        parent = index[group.parent or ""]
        assert parent.type == "inferstack:aws:EksCluster"
        out.setdefault(parent.name, []).append(group)
    return out


def by_name(graph: Graph, token: str, name: str) -> Resource:
    [found] = [r for r in graph.of_type(token) if r.name == name]
    return found


def policy(graph: Graph, name: str) -> dict[str, Any]:
    return json.loads(by_name(graph, "aws:iam/rolePolicy:RolePolicy", name).inputs["policy"])


def walk(value: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` at any depth of a values tree."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                yield v
            yield from walk(v, key)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v, key)


@pytest.fixture(scope="module", params=STACKS)
def graph(request: pytest.FixtureRequest) -> Graph:
    return planned(request.param)


# --- GPUs -----------------------------------------------------------------------------------


def test_every_eks_cluster_with_a_gpu_pool_runs_the_device_plugin_on_its_gpu_nodes(graph: Graph) -> None:
    gpu_clusters = {
        cluster: [g for g in groups if g.inputs["labels"].get(GPU_LABEL) == "true"]
        for cluster, groups in eks_node_groups(graph).items()
    }
    gpu_clusters = {c: g for c, g in gpu_clusters.items() if g}
    assert gpu_clusters, "every shipped stack has an EKS cluster with a GPU pool"
    installed = releases(graph)
    for cluster, groups in gpu_clusters.items():
        plugin = installed[cluster]["nvidia-device-plugin"]
        values = plugin.inputs["values"]
        assert values["nodeSelector"] == {GPU_LABEL: "true"}
        [term] = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ]
        assert term["matchExpressions"] == [{"key": GPU_LABEL, "operator": "In", "values": ["true"]}]
        for group in groups:
            # The plugin lands on these nodes: it matches their label and tolerates each of their taints.
            assert group.inputs["labels"][GPU_LABEL] == "true"
            taints = group.inputs["taints"]
            assert taints
            for taint in taints:
                effect = "".join(p.capitalize() for p in taint["effect"].split("_"))
                assert any(
                    t["key"] == taint["key"] and t["operator"] == "Exists" and t.get("effect") == effect
                    for t in values["tolerations"]
                ), (cluster, taint)


def test_gke_gets_keda_and_external_secrets_only(prod: Graph) -> None:
    gke = releases(prod)["burst-usc1"]
    assert set(gke) == {"keda", "external-secrets"}, "GKE runs drivers, device plugin and autoscaler itself"
    # ...because its GPU pools ask GKE for the driver: UNSPECIFIED installs none, INSTALLATION_DISABLED
    # leaves it to the user (GKE v1 API, GPUDriverInstallationConfig.GPUDriverVersion). The node image
    # is GKE's default, COS, the one LATEST is defined for.
    pools = prod.of_type("gcp:container/nodePool:NodePool")
    gpus = [p for p in pools if p.inputs["nodeConfig"].get("guestAccelerators")]
    assert gpus
    for pool in gpus:
        assert "imageType" not in pool.inputs["nodeConfig"], pool.name
        for accelerator in pool.inputs["nodeConfig"]["guestAccelerators"]:
            assert accelerator["gpuDriverInstallationConfig"]["gpuDriverVersion"] in ("LATEST", "DEFAULT")


def test_an_eks_cluster_without_gpus_gets_no_device_plugin() -> None:
    from infra.k8s.addons import wanted
    from infra.parts import ClusterParts
    from infra.settings import Cluster

    def eks(*pools: dict[str, Any]) -> Cluster:
        return Cluster.model_validate(
            {"name": "cpu", "role": "burst", "cloud": "aws", "region": "us-east-1", "nodePools": list(pools)}
        )

    system = {"name": "system", "machineType": "m7i.large", "minSize": 1, "maxSize": 2}
    gpu = {"name": "l4", "machineType": "g6.xlarge", "accelerator": "L4", "minSize": 0, "maxSize": 2}
    cpu_only = wanted(ClusterParts(eks(system)))
    assert "nvidia-device-plugin" not in cpu_only and "cluster-autoscaler" in cpu_only
    assert "nvidia-device-plugin" in wanted(ClusterParts(eks(system, gpu)))


# --- scaling from zero ----------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["prod", "onprem"])
def test_every_eks_cluster_that_scales_from_zero_has_an_autoscaler_scoped_to_its_own_groups(
    stack: str,
) -> None:
    graph = planned(stack)
    from_zero = {
        cluster: groups
        for cluster, groups in eks_node_groups(graph).items()
        if any(g.inputs["scalingConfig"]["minSize"] == 0 for g in groups)
    }
    assert from_zero, f"{stack} has an EKS pool from zero"
    installed = releases(graph)
    for cluster, groups in from_zero.items():
        [owner] = {k for g in groups for k, v in g.inputs["tags"].items() if v == "owned"}
        physical = owner.removeprefix("k8s.io/cluster-autoscaler/")
        autoscaler = installed[cluster]["cluster-autoscaler"].inputs
        assert autoscaler["values"]["autoDiscovery"]["clusterName"] == physical
        writes = [
            s
            for s in policy(graph, f"{cluster}-addons-cluster-autoscaler")["Statement"]
            if any(not a.split(":")[1].startswith(("Describe", "Get")) for a in s["Action"])
        ]
        assert writes, "the autoscaler must be able to scale"
        for statement in writes:
            assert statement["Condition"] == {"StringEquals": {f"aws:ResourceTag/{owner}": "owned"}}, cluster
            assert statement["Resource"].endswith(":autoScalingGroup:*:autoScalingGroupName/*")
        association = by_name(
            graph,
            "aws:eks/podIdentityAssociation:PodIdentityAssociation",
            f"{cluster}-addons-cluster-autoscaler",
        ).inputs
        assert association["clusterName"] == physical
        assert association["namespace"] == autoscaler["namespace"]
        assert association["serviceAccount"] == autoscaler["values"]["rbac"]["serviceAccount"]["name"]


def test_gke_pools_that_scale_from_zero_are_scaled_by_gke(prod: Graph) -> None:
    from_zero = [
        p
        for p in prod.of_type("gcp:container/nodePool:NodePool")
        if p.inputs.get("autoscaling", {}).get(
            "totalMinNodeCount", p.inputs.get("autoscaling", {}).get("minNodeCount")
        )
        == 0
    ]
    assert from_zero, "prod's burst cluster has spot pools from zero"
    assert "cluster-autoscaler" not in releases(prod)["burst-usc1"]


def test_the_expander_prefers_paid_capacity_over_spot(prod: Graph) -> None:
    groups = {g.name: g for g in eks_node_groups(prod)["core-use1"]}
    priorities = releases(prod)["core-use1"]["cluster-autoscaler"].inputs["values"]["expanderPriorities"]
    capacity_at: dict[str, set[str]] = {}
    for priority, patterns in priorities.items():
        for pattern in patterns:
            if pattern == ".*":
                continue
            name = re.fullmatch(r"\^eks-(.+)-[0-9a-f]{7}-\.\*", pattern)
            assert name is not None, pattern
            capacity_at.setdefault(priority, set()).add(groups[name[1]].inputs["capacityType"])
    assert {c for caps in capacity_at.values() for c in caps} == {"ON_DEMAND", "SPOT"}
    spot = max(int(p) for p, caps in capacity_at.items() if "SPOT" in caps)
    paid = min(int(p) for p, caps in capacity_at.items() if "ON_DEMAND" in caps)
    assert paid > spot > int(min(priorities, key=int)), priorities
    assert priorities[min(priorities, key=int)] == [".*"], "a group no pattern matches would never scale"


# --- pinned -----------------------------------------------------------------------------------


def _addon_releases(graph: Graph) -> list[Resource]:
    """The add-ons' releases; the others are the monitoring layer's CRD chart, kube-prometheus-stack
    (tests/test_monitoring_stack.py), GKE collector and DCGM exporter (tests/test_gpu_metrics.py),
    pinned there. The mesh's releases (addons.yaml rows too) are judged in tests/test_mesh.py."""
    found = [r for r in graph.of_type(RELEASE) if r.inputs["name"] not in (*MESH_ADDONS, PEER)]
    others = {r.inputs["name"] for r in found if r.inputs["name"] not in catalog().addons}
    assert others <= {"prometheus-operator-crds", "kube-prometheus-stack", COLLECTOR, "dcgm-exporter"}, others
    return [r for r in found if r.inputs["name"] in catalog().addons]


def test_every_release_has_an_exact_chart_version_and_pinned_images(graph: Graph) -> None:
    found = _addon_releases(graph)
    assert found
    for release in found:
        inputs = release.inputs
        addon = catalog().addons[inputs["name"]]
        assert re.fullmatch(r"\d+\.\d+\.\d+", inputs["version"]), inputs["version"]
        assert inputs["version"] in {r.version for r in addon.releases}
        assert inputs["chart"] == addon.chart and inputs["repositoryOpts"]["repo"] == addon.repository
        tags = list(walk(inputs["values"], "tag"))
        assert len(tags) >= len(addon.images), (release.name, "an image left to the chart's default")
        for tag in tags:
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), (release.name, tag)
        [pinned] = [
            r for r in addon.releases if r.version == inputs["version"] and set(r.tags.values()) >= set(tags)
        ]
        for image in addon.images.values():
            assert image.split("/")[-1] in json.dumps(inputs["values"]), (release.name, image)
        assert set(tags) == set(pinned.tags.values())


def test_every_add_on_container_has_requests_and_limits(graph: Graph) -> None:
    for release in _addon_releases(graph):
        sizes = list(walk(release.inputs["values"], "resources"))
        assert sizes, release.name
        # KEDA sizes its three parts under one key: resources.{operator,metricServer,webhooks}.
        sizes = [p for s in sizes for p in (s.values() if "requests" not in s else [s])]
        for size in sizes:
            for bound in ("requests", "limits"):
                assert set(size[bound]) == {"cpu", "memory"}, (release.name, size)


def test_a_kubernetes_version_no_release_supports_is_refused(tmp_path: Path) -> None:
    text = (ROOT / "stacks" / "Pulumi.onprem.yaml").read_text()
    existing = "        awsSecretArn: arn:aws:secretsmanager:us-east-2:123456789012:secret:inferstack/onprem/kubeconfig-Ab12Cd\n"
    assert existing in text
    path = tmp_path / "Pulumi.old.yaml"
    path.write_text(text.replace(existing, existing + '      kubernetesVersion: "1.32"\n'))
    result = run("plan", "old", "--config-file", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert f"{path}: inferstack:clusters[0].kubernetesVersion: '1.32' is supported by no release of " in line
    assert "keda (supports 1.33-1.35)" in line and "external-secrets" in line
    assert "metrics-server" not in line, "metrics-server 0.8 supports 1.31+"


# --- what every cluster runs ----------------------------------------------------------------


def test_keda_is_the_one_external_metrics_provider_of_every_cluster(graph: Graph) -> None:
    installed = releases(graph)
    clusters = {p.name.removesuffix("-k8s") for p in graph.of_type("pulumi:providers:kubernetes")}
    assert clusters and set(installed) == clusters
    for cluster, addons in installed.items():
        assert addons["keda"].inputs["values"]["metricsServer"]["enabled"] is True, cluster
    charts = {r.inputs["chart"] for r in graph.of_type(RELEASE)}
    assert "prometheus-adapter" not in charts


def test_both_priority_classes_exist_in_every_cluster(graph: Graph) -> None:
    classes: dict[str, dict[str, int]] = {}
    for pc in graph.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass"):
        classes.setdefault(cluster_of(graph, pc), {})[pc.inputs["metadata"]["name"]] = pc.inputs["value"]
    assert set(classes) == set(releases(graph))
    for cluster, values in classes.items():
        assert set(values) == {SERVING_PRIORITY_CLASS, SYSTEM_PRIORITY_CLASS}, cluster
        assert values[SYSTEM_PRIORITY_CLASS] > values[SERVING_PRIORITY_CLASS] > 0
    for release in graph.of_type(RELEASE):
        if release.inputs["name"] in ("keda", "external-secrets"):
            assert SYSTEM_PRIORITY_CLASS in walk(release.inputs["values"], "priorityClassName")


def test_every_eks_cluster_reads_only_its_stacks_secrets_through_pod_identity(prod: Graph) -> None:
    stores = {
        cluster_of(prod, s): s for s in prod.of_type("kubernetes:external-secrets.io/v1:ClusterSecretStore")
    }
    installed = releases(prod)
    eks = eks_node_groups(prod)
    assert eks
    for cluster in eks:
        store = stores[cluster]
        assert store.inputs["spec"]["provider"]["aws"]["service"] == "SecretsManager"
        assert installed[cluster]["external-secrets"].urn in store.dependencies, "a CRD: after the operator"
        statements = {s["Sid"]: s for s in policy(prod, f"{cluster}-addons-external-secrets")["Statement"]}
        assert set(statements) == {
            "ReadThisStacksSecrets",
            "ReadTheDataLayersSecrets",
            "DecryptTheDataLayersSecrets",
        }
        assert statements["ReadThisStacksSecrets"]["Resource"].endswith(":secret:inferstack/prod/*")
        region = prod.region_of(
            by_name(prod, "aws:iam/rolePolicy:RolePolicy", f"{cluster}-addons-external-secrets")
        )
        assert region
        # By ARN, only the data layer's secrets and keys in the cluster's own region: nothing wildcarded.
        for sid in ("ReadTheDataLayersSecrets", "DecryptTheDataLayersSecrets"):
            resources = statements[sid]["Resource"]
            assert resources and all(f":{region}:" in r and "*" not in r for r in resources), resources
        for sid in ("ReadThisStacksSecrets", "ReadTheDataLayersSecrets"):
            assert all(
                a.startswith("secretsmanager:Get")
                or a.startswith("secretsmanager:Describe")
                or a.startswith("secretsmanager:List")
                for a in statements[sid]["Action"]
            )
        decrypt = statements["DecryptTheDataLayersSecrets"]
        assert decrypt["Action"] == ["kms:Decrypt"]
        assert decrypt["Condition"] == {
            "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
        }


def test_the_gke_cluster_reads_secrets_through_workload_identity(prod: Graph) -> None:
    [store] = [
        s
        for s in prod.of_type("kubernetes:external-secrets.io/v1:ClusterSecretStore")
        if cluster_of(prod, s) == "burst-usc1"
    ]
    assert store.inputs["spec"]["provider"] == {"gcpsm": {"projectID": "acme-inference-prod"}}
    eso = releases(prod)["burst-usc1"]["external-secrets"].inputs
    account = eso["values"]["serviceAccount"]
    assert "iam.gke.io/gcp-service-account" in account["annotations"]
    binding = by_name(
        prod, "gcp:serviceaccount/iAMMember:IAMMember", "burst-usc1-addons-eso-workload-identity"
    )
    assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
    assert (
        binding.inputs["member"]
        == f"serviceAccount:acme-inference-prod.svc.id.goog[{eso['namespace']}/{account['name']}]"
    )
    access = by_name(prod, "gcp:projects/iAMMember:IAMMember", "burst-usc1-addons-eso-secret-accessor")
    assert access.inputs["role"] == "roles/secretmanager.secretAccessor"
    assert "/secrets/inferstack-prod-" in access.inputs["condition"]["expression"]


def test_the_private_gke_control_plane_reaches_keda(prod: Graph) -> None:
    rule = by_name(prod, "gcp:compute/firewall:Firewall", "burst-usc1-addons-keda-from-control-plane")
    keda = releases(prod)["burst-usc1"]["keda"]
    assert rule.urn in keda.dependencies
    [allowed] = rule.inputs["allows"]
    assert set(allowed["ports"]) == {"6443", "9443"}
    [source] = rule.inputs["sourceRanges"]
    assert source.endswith("/28")


# --- existing clusters ----------------------------------------------------------------------

_EXISTING = "        awsSecretArn: arn:aws:secretsmanager:us-east-2:123456789012:secret:inferstack/onprem/kubeconfig-Ab12Cd\n"


def test_an_existing_cluster_gets_what_applies_there(onprem: Graph) -> None:
    assert set(releases(onprem)["onprem-core"]) == {
        "nvidia-device-plugin",
        "metrics-server",
        "keda",
        "external-secrets",
    }


def test_an_existing_cluster_skips_what_it_already_runs(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = stack_variant(
        tmp_path_factory,
        "onprem",
        _EXISTING,
        _EXISTING + "      addons:\n        skip: [metrics-server, nvidia-device-plugin]\n",
    )
    assert set(releases(graph)["onprem-core"]) == {"keda", "external-secrets"}
    assert "metrics-server" in releases(graph)["burst-use2"], "the skip is the existing cluster's only"


def _existing(values: dict[str, Any]) -> dict[str, Any]:
    [cluster] = [c for c in values["clusters"] if c["cloud"] == "existing"]
    return cluster


def _burst(values: dict[str, Any]) -> dict[str, Any]:
    [cluster] = [c for c in values["clusters"] if c["cloud"] == "aws"]
    return cluster


def test_skip_names_an_add_on_an_existing_cluster_gets() -> None:
    only_line(
        "onprem",
        lambda v: _existing(v).update(addons={"skip": ["cluster-autoscaler"]}),
        "clusters[0].addons.skip[0]",
        "'cluster-autoscaler' is not an add-on installed on an existing cluster",
        "allowed: nvidia-device-plugin, metrics-server, keda, external-secrets",
    )
    only_line(
        "onprem",
        lambda v: _existing(v).update(addons={"skip": ["kube-state"]}),
        "addons.skip[0]",
        "'kube-state'",
    )


def test_skip_is_only_for_existing_clusters() -> None:
    only_line(
        "onprem",
        lambda v: _burst(v).update(addons={"skip": ["keda"]}),
        "clusters[1].addons.skip",
        "only for cloud: existing",
    )


def test_a_skipped_add_on_no_longer_limits_the_version() -> None:
    valid(
        "onprem",
        lambda v: _existing(v).update(
            kubernetesVersion="1.32", addons={"skip": ["keda", "external-secrets"]}
        ),
    )
    only_line(
        "onprem",
        lambda v: _existing(v).update(kubernetesVersion="1.32", addons={"skip": ["keda"]}),
        "clusters[0].kubernetesVersion",
        "external-secrets",
        "or skip them (addons.skip)",
    )


def test_an_existing_clusters_version_must_be_a_minor_version() -> None:
    only_line(
        "onprem", lambda v: _existing(v).update(kubernetesVersion="latest"), "kubernetesVersion", "'latest'"
    )


def test_each_eks_version_gets_the_autoscaler_of_its_minor(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = stack_variant(
        tmp_path_factory, "onprem", 'kubernetesVersion: "1.35"', 'kubernetesVersion: "1.34"'
    )
    values = releases(graph)["burst-use2"]["cluster-autoscaler"].inputs["values"]
    assert values["image"]["tag"] == "v1.34.5"
    eso = releases(graph)["burst-use2"]["external-secrets"].inputs
    assert eso["version"] == "2.6.0", "ESO 2.8 is tested on 1.35-1.36 only"
