"""What each cloud cluster's Prometheus scrapes: vLLM and the gateway, and GKE's managed packages."""

from __future__ import annotations

from inferstack.engine import Graph, Resource
from infra.k8s.gateway import PORT as GATEWAY_PORT
from tests.conftest import children_of, component

POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
GKE = "gcp:container/cluster:Cluster"


def _monitors(graph: Graph, cluster: str) -> dict[str, Resource]:
    owner = component(graph, "inferstack:k8s:ClusterMonitoring", f"{cluster}-monitoring")
    return {r.inputs["metadata"]["name"]: r for r in children_of(graph, owner) if r.type == POD_MONITOR}


def _selects(selector: dict[str, object], labels: dict[str, str]) -> bool:
    match = selector["matchLabels"]
    assert isinstance(match, dict) and match
    return all(labels.get(k) == v for k, v in match.items())


def _port_named(deployment: Resource, name: str) -> int:
    containers = deployment.inputs["spec"]["template"]["spec"]["containers"]
    ports = [p for c in containers for p in c.get("ports", []) if p.get("name") == name]
    assert len(ports) == 1, f"{deployment.name}: port {name!r}"
    return ports[0]["containerPort"]


def test_every_eks_cluster_scrapes_its_vllm_and_gateway_pods(prod: Graph) -> None:
    eks = [r.name for r in prod.resources if r.type == "inferstack:aws:EksCluster"]
    assert len(eks) == 2
    deployments = [r for r in prod.resources if r.type == DEPLOYMENT]
    for cluster in ["core-use1", "core-usw2"]:
        monitors = {k: v for k, v in _monitors(prod, cluster).items() if k in ("gateway", "vllm")}
        assert sorted(monitors) == ["gateway", "vllm"]
        for monitor in monitors.values():
            spec = monitor.inputs["spec"]
            assert spec["namespaceSelector"] == {"any": True}
            [endpoint] = spec["podMetricsEndpoints"]
            picked = [
                d
                for d in deployments
                if d.provider == monitor.provider
                and _selects(spec["selector"], d.inputs["spec"]["template"]["metadata"]["labels"])
            ]
            assert picked, f"{monitor.name} selects no Deployment of its cluster"
            for d in picked:
                _port_named(d, endpoint["port"])
        gateway = monitors["gateway"].inputs["spec"]["podMetricsEndpoints"][0]
        assert gateway["path"] == "/metrics/"
        gateways = [
            d
            for d in deployments
            if d.provider == monitors["gateway"].provider
            and _selects(
                monitors["gateway"].inputs["spec"]["selector"],
                d.inputs["spec"]["template"]["metadata"]["labels"],
            )
        ]
        assert [_port_named(d, gateway["port"]) for d in gateways] == [GATEWAY_PORT]
        vllm = monitors["vllm"].inputs["spec"]["podMetricsEndpoints"][0]
        assert (vllm["port"], vllm["path"]) == ("http", "/metrics")


def test_gke_enables_managed_kube_state_metrics_and_dcgm_on_gpu_clusters(prod: Graph) -> None:
    clusters = [r for r in prod.resources if r.type == GKE]
    assert clusters
    for cluster in clusters:
        components = cluster.inputs["monitoringConfig"]["enableComponents"]
        # The rules read Deployment and HPA state (kube_deployment_*, kube_horizontalpodautoscaler_*).
        assert {"DEPLOYMENT", "HPA", "POD"} <= set(components), cluster.name
        assert cluster.inputs["monitoringConfig"]["managedPrometheus"]["enabled"] is True
    assert any("DCGM" in c.inputs["monitoringConfig"]["enableComponents"] for c in clusters)
