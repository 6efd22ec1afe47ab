"""GKE under STRICT mTLS: the metrics of vLLM and the gateway reach Managed Prometheus through a
collector inside the mesh, and nothing outside the mesh is expected to scrape a STRICT namespace."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from inferstack.engine import Graph, Resource
from inferstack.report import settings_of
from infra.k8s import monitoring
from infra.k8s.monitoring import COLLECTOR, SCRAPES, pod_monitors, scrape_job
from infra.settings import Cloud
from tests.conftest import planned

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PEER_AUTHENTICATION = "kubernetes:security.istio.io/v1:PeerAuthentication"
POD_MONITORING = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
CLUSTER_POD_MONITORING = "kubernetes:monitoring.googleapis.com/v1:ClusterPodMonitoring"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
AMBIENT = ("istio.io/dataplane-mode", "ambient")


def _cluster(graph: Graph, resource: Resource) -> str:
    """An in-cluster object's cluster: its Kubernetes provider is named <cluster>-k8s."""
    return graph.by_urn()[resource.provider or ""].name.removesuffix("-k8s")


def _gke_clusters(graph: Graph) -> list[str]:
    """The stack's GKE clusters, from its settings."""
    settings = settings_of(graph)
    assert settings is not None
    clusters = [c.name for c in settings.clusters if c.cloud is Cloud.GCP]
    assert clusters, "the stack has no GKE cluster"
    return clusters


def _collector(graph: Graph, cluster: str) -> Resource:
    (release,) = [
        r for r in graph.of_type(RELEASE) if r.inputs["name"] == COLLECTOR and _cluster(graph, r) == cluster
    ]
    return release


# --- Prometheus relabelling, as the collector applies it to discovered pods --------------------


def _relabel(rules: list[dict[str, Any]], labels: Mapping[str, str]) -> dict[str, str] | None:
    """Prometheus's keep, drop and replace relabelling (anchored regexes, ';' between source labels,
    $n in replacements); None when the target is dropped. The labels left are the series' own."""
    out = dict(labels)
    for rule in rules:
        value = ";".join(out.get(name, "") for name in rule.get("source_labels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        action = rule.get("action", "replace")
        if action == "keep" and match is None:
            return None
        if action == "drop" and match is not None:
            return None
        if action == "replace" and match is not None:
            out[rule["target_label"]] = match.expand(
                re.sub(r"\$(\d+)", r"\\\1", rule.get("replacement", "$1"))
            )
    return {k: v for k, v in out.items() if not k.startswith("__")}


def _target(
    namespace: str, pod: str, labels: Mapping[str, str], container: str, port: str, phase: str = "Running"
) -> dict[str, str]:
    """What Kubernetes service discovery (role pod) says of one named container port of a pod."""
    return {
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_pod_name": pod,
        "__meta_kubernetes_pod_container_name": container,
        "__meta_kubernetes_pod_container_port_name": port,
        "__meta_kubernetes_pod_phase": phase,
        **{"__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): v for k, v in labels.items()},
    }


def _scraped(job: Mapping[str, Any], target: Mapping[str, str]) -> dict[str, str] | None:
    """The series labels of a target the job discovers and keeps; None otherwise."""
    (discovery,) = job["kubernetes_sd_configs"]
    if target["__meta_kubernetes_namespace"] not in discovery["namespaces"]["names"]:
        return None
    return _relabel(job["relabel_configs"], target)


def _jobs(graph: Graph, cluster: str) -> dict[str, dict[str, Any]]:
    """The collector's enabled scrape jobs, as the chart writes them into prometheus.yml."""
    configs = _collector(graph, cluster).inputs["values"]["scrapeConfigs"]
    return {name: job for name, job in configs.items() if job.get("enabled", True)}


def _pod_targets(graph: Graph, cluster: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(Deployment name:port, discovery labels) of every named port of every Deployment the program
    puts in the cluster, whatever its namespace."""
    for deployment in graph.of_type(DEPLOYMENT):
        if _cluster(graph, deployment) != cluster:
            continue
        namespace = deployment.inputs["metadata"]["namespace"]
        template = deployment.inputs["spec"]["template"]
        for container in template["spec"]["containers"]:
            for port in container.get("ports", []):
                if "name" in port:
                    yield (
                        f"{deployment.inputs['metadata']['name']}:{port['name']}",
                        _target(
                            namespace,
                            f"{deployment.inputs['metadata']['name']}-abc12",
                            template["metadata"]["labels"],
                            container["name"],
                            port["name"],
                        ),
                    )


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_gke_cluster_runs_the_collector_in_an_ambient_namespace(stack: str) -> None:
    graph = planned(stack)
    for cluster in _gke_clusters(graph):
        release = _collector(graph, cluster)
        inputs = release.inputs
        assert inputs["namespace"] == "monitoring"
        assert (inputs["chart"], inputs["version"]) == ("prometheus", monitoring.COLLECTOR_CHART_VERSION)
        server = inputs["values"]["server"]
        assert server["image"] == {
            "repository": "gke.gcr.io/prometheus-engine/prometheus",
            "tag": monitoring.COLLECTOR_TAG,
        }, "Google's fork, the one that exports to Managed Prometheus"
        assert server["replicaCount"] == 1, "a second replica would export every sample twice"
        assert not any(inputs["values"][sub]["enabled"] for sub in ("alertmanager", "kube-state-metrics"))
        (namespace,) = [
            n
            for n in graph.of_type(NAMESPACE)
            if _cluster(graph, n) == cluster and n.inputs["metadata"]["name"] == "monitoring"
        ]
        labels = namespace.inputs["metadata"]["labels"]
        assert labels[AMBIENT[0]] == AMBIENT[1], "the collector's connections must be mTLS"
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert namespace.urn in release.dependencies


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_collectors_google_account_may_only_write_metrics(stack: str) -> None:
    graph = planned(stack)
    accounts = [
        a for a in graph.of_type("gcp:serviceaccount/account:Account") if a.name.endswith("-collector")
    ]
    assert len(accounts) == len(_gke_clusters(graph))
    for account in accounts:
        grants = [
            g for g in graph.of_type("gcp:projects/iAMMember:IAMMember") if account.urn in g.dependencies
        ]
        assert [g.inputs["role"] for g in grants] == ["roles/monitoring.metricWriter"]
        (binding,) = [
            b
            for b in graph.of_type("gcp:serviceaccount/iAMMember:IAMMember")
            if account.urn in b.dependencies
        ]
        assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
        assert binding.inputs["member"].endswith(".svc.id.goog[monitoring/gmp-collector]")
        cluster = account.name.removesuffix("-monitoring-collector")
        accounts_values = _collector(graph, cluster).inputs["values"]["serviceAccounts"]["server"]
        assert accounts_values["name"] == COLLECTOR, "the Kubernetes account Workload Identity maps"
        assert "iam.gke.io/gcp-service-account" in accounts_values["annotations"]
        assert {g.urn for g in grants} | {binding.urn} <= set(_collector(graph, cluster).dependencies)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_collector_scrapes_exactly_the_vllm_and_gateway_pods_of_the_program(stack: str) -> None:
    graph = planned(stack)
    for cluster in _gke_clusters(graph):
        jobs = _jobs(graph, cluster)
        assert set(jobs) == {"vllm", "gateway", *MESH_TARGETS}, "the chart's default jobs are off"
        kept = {
            (name, where)
            for name, job in jobs.items()
            for where, target in _pod_targets(graph, cluster)
            if _scraped(job, target) is not None
        }
        deployments = {where.split(":")[0] for _, where in kept}
        assert any(d.startswith("vllm-") for d in deployments), "some model server is scraped"
        assert kept == {
            *(("vllm", w) for _, w in kept if w.startswith("vllm-") and w.endswith(":http")),
            ("gateway", "deepseek-deployment:http"),
        }
        assert {w for _, w in kept if w.startswith("vllm-")} == {
            w for w, _ in _pod_targets(graph, cluster) if w.startswith("vllm-") and w.endswith(":http")
        }, "every model server's API port, nothing else"


MESH_TARGETS = {
    # job -> a pod of that component as Kubernetes discovery sees it: namespace, the labels, container
    # and port names the Istio 1.30.3 charts give it (infra/k8s/monitoring.py MESH_SCRAPES names the files).
    "istiod": _target(
        "istio-system",
        "istiod-5d8f7-abc12",
        {"app": "istiod", "istio": "pilot", "istio.io/dataplane-mode": "none"},
        "discovery",
        "http-monitoring",
    ),
    "ztunnel": _target(
        "istio-system",
        "ztunnel-x7k2p",
        {"app": "ztunnel", "app.kubernetes.io/name": "ztunnel", "istio.io/dataplane-mode": "none"},
        "istio-proxy",
        "ztunnel-stats",
    ),
    "istio-cni": _target(
        "istio-system",
        "istio-cni-node-q9w8e",
        {
            "k8s-app": "istio-cni-node",
            "app.kubernetes.io/name": "istio-cni",
            "istio.io/dataplane-mode": "none",
        },
        "install-cni",
        "metrics",
    ),
    "istio-ingress": _target(
        "istio-ingress",
        "istio-ingress-6c9d4-zz1aa",
        {"app": "istio-ingress", "istio": "ingress", "sidecar.istio.io/inject": "true"},
        "istio-proxy",
        "http-envoy-prom",
    ),
    # The peer entrance: the same chart released as istio-peer (infra/k8s/mesh.py PEER).
    "istio-peer": _target(
        "istio-ingress",
        "istio-peer-7f5b8-pp2bb",
        {"app": "istio-peer", "istio": "peer", "sidecar.istio.io/inject": "true"},
        "istio-proxy",
        "http-envoy-prom",
    ),
}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_gke_collector_scrapes_the_mesh_on_its_components_metrics_ports(stack: str) -> None:
    graph = planned(stack)
    for cluster in _gke_clusters(graph):
        jobs = _jobs(graph, cluster)
        for name, target in MESH_TARGETS.items():
            namespace = target["__meta_kubernetes_namespace"]
            pod = target["__meta_kubernetes_pod_name"]
            port = target["__meta_kubernetes_pod_container_port_name"]
            assert _scraped(jobs[name], target) == {
                "namespace": namespace,
                "pod": pod,
                "container": target["__meta_kubernetes_pod_container_name"],
                "instance": f"{pod}:{port}",
            }, (cluster, name)
            others = [other for job, other in MESH_TARGETS.items() if job != name]
            assert all(_scraped(jobs[name], other) is None for other in others), (cluster, name)
            elsewhere = {**target, "__meta_kubernetes_namespace": "default"}
            assert _scraped(jobs[name], elsewhere) is None, "only the mesh's own namespace"
            readiness = {**target, "__meta_kubernetes_pod_container_port_name": "http-envoy-status"}
            assert _scraped(jobs[name], readiness) is None, "only the metrics port"
        assert {jobs[n]["metrics_path"] for n in ("istio-ingress", "istio-peer")} == {"/stats/prometheus"}
        assert {jobs[n]["metrics_path"] for n in ("istiod", "ztunnel", "istio-cni")} == {"/metrics"}


def test_the_scrape_jobs_match_the_eks_pod_monitors() -> None:
    monitors = pod_monitors()
    assert {s.name for s in SCRAPES} == set(monitors)
    for scrape in SCRAPES:
        (endpoint,) = monitors[scrape.name]["podMetricsEndpoints"]  # type: ignore[index]
        job = scrape_job(scrape)
        assert (job["metrics_path"], job["scrape_interval"]) == (endpoint["path"], endpoint["interval"])
        assert endpoint["interval"] == "30s"
    assert scrape_job(SCRAPES[1])["metrics_path"] == "/metrics/", "LiteLLM's metrics app, no redirect"


def test_a_target_keeps_the_labels_the_rules_group_by() -> None:
    (vllm,) = [s for s in SCRAPES if s.name == "vllm"]
    job = scrape_job(vllm)
    labels = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "vllm-l4"}
    assert _scraped(job, _target("serving", "vllm-l4-7d9", labels, "vllm", "http")) == {
        "namespace": "serving",
        "pod": "vllm-l4-7d9",
        "container": "vllm",
        "instance": "vllm-l4-7d9:http",
    }, "as GMP's ClusterPodMonitoring labels them (namespace, pod, container, instance pod:port)"


@pytest.mark.parametrize(
    ("why", "target"),
    [
        ("another app", _target("serving", "x-1", {"app.kubernetes.io/name": "vllmx"}, "x", "http")),
        ("no label", _target("serving", "x-1", {}, "x", "http")),
        ("another port", _target("serving", "v-1", {"app.kubernetes.io/name": "vllm"}, "vllm", "grpc")),
        (
            "a finished pod",
            _target("serving", "v-1", {"app.kubernetes.io/name": "vllm"}, "vllm", "http", "Failed"),
        ),
        (
            "a pod that succeeded",
            _target("serving", "v-1", {"app.kubernetes.io/name": "vllm"}, "vllm", "http", "Succeeded"),
        ),
        ("another namespace", _target("default", "v-1", {"app.kubernetes.io/name": "vllm"}, "vllm", "http")),
    ],
)
def test_the_vllm_job_drops(why: str, target: dict[str, str]) -> None:
    (vllm,) = [s for s in SCRAPES if s.name == "vllm"]
    assert _scraped(scrape_job(vllm), target) is None, why


def _matchers(query: str) -> dict[str, str]:
    (selector,) = re.findall(r"\{([^}]*)\}", query)
    return dict(re.findall(r'(\w+)="([^"]*)"', selector))


def test_the_burst_triggers_metric_is_still_produced() -> None:
    graph = planned("prod")
    gke = _gke_clusters(graph)
    queries = [
        t["metadata"]["query"]
        for s in graph.of_type(SCALED_OBJECT)
        if _cluster(graph, s) in gke and s.inputs["metadata"]["namespace"] == "serving"
        for t in s.inputs["spec"]["triggers"]
        if t["type"] == "prometheus"
    ]
    assert queries, "a GKE burst pool scales on its gateway's requests"
    for cluster in gke:
        gateway = _jobs(graph, cluster)["gateway"]
        targets = [t for w, t in _pod_targets(graph, cluster) if w == "deepseek-deployment:http"]
        assert len(targets) == 1
        series = _scraped(gateway, targets[0])
        assert series is not None
        for query in queries:
            assert "litellm_proxy_total_requests_metric" in query
            assert _matchers(query).items() <= series.items(), (query, series)


# --- nothing outside the mesh scrapes a STRICT namespace ---------------------------------------


def strict_namespaces(graph: Graph, cluster: str) -> set[str]:
    """The cluster's ambient namespaces whose effective mTLS mode is STRICT: their own default
    PeerAuthentication, else the mesh-wide one in istio-system."""
    modes = {
        p.inputs["metadata"]["namespace"]: p.inputs["spec"]["mtls"]["mode"]
        for p in graph.of_type(PEER_AUTHENTICATION)
        if _cluster(graph, p) == cluster and "selector" not in p.inputs["spec"]
    }
    ambient = {
        n.inputs["metadata"]["name"]
        for n in graph.of_type(NAMESPACE)
        if _cluster(graph, n) == cluster
        and (n.inputs["metadata"].get("labels") or {}).get(AMBIENT[0]) == AMBIENT[1]
    }
    mesh = modes.get("istio-system", "PERMISSIVE")
    return {ns for ns in ambient if modes.get(ns, mesh) == "STRICT"}


def managed_scrapes_of_strict_pods(graph: Graph) -> list[str]:
    """'monitor -> deployment' for every GMP PodMonitoring or ClusterPodMonitoring (read by GKE's
    managed collectors, outside the mesh) whose selector matches pods in a STRICT namespace."""
    found: list[str] = []
    for monitor in [*graph.of_type(POD_MONITORING), *graph.of_type(CLUSTER_POD_MONITORING)]:
        cluster = _cluster(graph, monitor)
        strict = strict_namespaces(graph, cluster)
        wanted = monitor.inputs["spec"]["selector"].get("matchLabels", {})
        scope = monitor.inputs["metadata"].get("namespace") if monitor.type == POD_MONITORING else None
        for deployment in graph.of_type(DEPLOYMENT):
            namespace = deployment.inputs["metadata"]["namespace"]
            labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
            if (
                _cluster(graph, deployment) == cluster
                and namespace in strict
                and scope in (None, namespace)
                and wanted.items() <= labels.items()
            ):
                found.append(f"{monitor.name} -> {namespace}/{deployment.inputs['metadata']['name']}")
    return found


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_no_managed_collector_is_expected_to_scrape_a_strict_namespace(stack: str) -> None:
    graph = planned(stack)
    for cluster in _gke_clusters(graph):
        assert {"inference", "serving"} <= strict_namespaces(graph, cluster)
    assert managed_scrapes_of_strict_pods(graph) == []


def _with_monitor(graph: Graph, kind: str, namespace: str | None, selector: dict[str, str]) -> Graph:
    """The graph plus one GMP monitor in its first GKE cluster (a copy of an object there)."""
    cluster = _gke_clusters(graph)[0]
    template = next(r for r in graph.of_type(NAMESPACE) if _cluster(graph, r) == cluster)
    metadata: dict[str, Any] = {"name": "probe"}
    if namespace is not None:
        metadata["namespace"] = namespace
    monitor = dataclasses.replace(
        template,
        urn=template.urn + "-monitor",
        type=f"kubernetes:monitoring.googleapis.com/v1:{kind}",
        name=f"{cluster}-probe",
        inputs={"metadata": metadata, "spec": {"selector": {"matchLabels": selector}, "endpoints": []}},
    )
    return dataclasses.replace(graph, resources=[*graph.resources, monitor])


@pytest.mark.parametrize(
    ("kind", "namespace", "selector"),
    [
        ("ClusterPodMonitoring", None, {"app.kubernetes.io/name": "vllm"}),
        ("PodMonitoring", "inference", {"app": "deepseek"}),
        ("PodMonitoring", "serving", {}),
    ],
)
def test_a_managed_scrape_of_a_strict_namespace_is_caught(
    kind: str, namespace: str | None, selector: dict[str, str]
) -> None:
    assert managed_scrapes_of_strict_pods(_with_monitor(planned("prod"), kind, namespace, selector))


@pytest.mark.parametrize(
    ("why", "namespace", "selector"),
    [
        ("a namespace outside the mesh", "monitoring", {"app": "deepseek"}),
        ("no pod carries the labels", "inference", {"app": "other"}),
    ],
)
def test_a_managed_scrape_elsewhere_is_not_flagged(
    why: str, namespace: str, selector: dict[str, str]
) -> None:
    assert (
        managed_scrapes_of_strict_pods(_with_monitor(planned("prod"), "PodMonitoring", namespace, selector))
        == []
    ), why


def test_a_permissive_stack_has_no_strict_namespace() -> None:
    dev = planned("dev")
    assert all(strict_namespaces(dev, c) == set() for c in _gke_clusters(dev)), "dev is permissive"


# --- the collector's network paths --------------------------------------------------------------


def _policy(graph: Graph, cluster: str, namespace: str, name: str) -> dict[str, Any]:
    (found,) = [
        p
        for p in graph.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if _cluster(graph, p) == cluster
        and p.inputs["metadata"]["namespace"] == namespace
        and p.inputs["metadata"]["name"] == name
    ]
    return found.inputs["spec"]


def _ports(rules: list[dict[str, Any]]) -> set[int]:
    return {p["port"] for rule in rules for p in rule["ports"]}


def test_the_scraped_pods_admit_the_collector_over_hbone() -> None:
    graph = planned("prod")
    for cluster in _gke_clusters(graph):
        for namespace, edge, port in (
            ("serving", "prometheus-scrapes-vllm", 8000),
            ("inference", "prometheus-scrapes-gateway", 4000),
        ):
            admitted = _policy(graph, cluster, namespace, f"{edge}-in")
            (source,) = [s for rule in admitted["ingress"] for s in rule["from"]]
            assert source["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
            assert _ports(admitted["ingress"]) == {port, 15008}, "ztunnel delivers the scrape on HBONE"
            leaving = _policy(graph, cluster, "monitoring", f"{edge}-out")
            assert _ports(leaving["egress"]) == {port, 15008}
        default = _policy(graph, cluster, "monitoring", "default-deny")
        assert default["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in default
        (named,) = [
            p
            for p in graph.of_type("kubernetes:networking.gke.io/v1alpha1:FQDNNetworkPolicy")
            if _cluster(graph, p) == cluster and p.inputs["metadata"]["namespace"] == "monitoring"
        ]
        assert named.inputs["spec"]["egress"] == [
            {"matches": [{"name": "monitoring.googleapis.com"}], "ports": [{"protocol": "TCP", "port": 443}]}
        ]
