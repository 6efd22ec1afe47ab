"""kube-prometheus-stack on every EKS cluster: pinned, sized by the stack, in the mesh, alerting by
severity to the region's topics, and writing to a shared store only when it has one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

import infra.topology
from inferstack.engine import Graph, Resource, plan_stack
from inferstack.project import find_project
from infra.k8s import mesh, monitoring, netpol
from infra.k8s.mesh import AMBIENT
from infra.parts import MetricsStore
from infra.settings import AlertSeverity, Monitoring
from tests.conftest import children_of, component, planned

ROOT = Path(__file__).resolve().parents[1]
RELEASE = "kubernetes:helm.sh/v3:Release"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
EKS = "inferstack:aws:EksCluster"
WORKSPACE = "arn:aws:aps:us-east-1:123456789012:workspace/ws-0123abcd"


def _settings(stack: str) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return config["monitoring"]


def _eks_clusters(graph: Graph) -> list[str]:
    names = [r.name for r in graph.resources if r.type == EKS]
    assert names
    return names


def _under(graph: Graph, cluster: str) -> list[Resource]:
    return children_of(graph, component(graph, "inferstack:k8s:ClusterMonitoring", f"{cluster}-monitoring"))


def _stack(graph: Graph, cluster: str) -> Resource:
    (release,) = [
        r
        for r in _under(graph, cluster)
        if r.type == RELEASE and r.inputs["chart"] == "kube-prometheus-stack"
    ]
    return release


def _role_policy(graph: Graph, cluster: str, role: str) -> dict[str, Any] | None:
    found = [
        r
        for r in _under(graph, cluster)
        if r.type == ROLE_POLICY and r.name == f"{cluster}-monitoring-{role}"
    ]
    return json.loads(found[0].inputs["policy"]) if found else None


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_eks_cluster_runs_the_pinned_stack_sized_by_its_settings(stack: str) -> None:
    graph = planned(stack)
    wanted = _settings(stack)
    for cluster in _eks_clusters(graph):
        release = _stack(graph, cluster)
        assert (release.inputs["version"], release.inputs["repositoryOpts"]["repo"]) == (
            "88.5.3",
            "https://prometheus-community.github.io/helm-charts",
        )
        values = release.inputs["values"]
        assert values["crds"] == {"enabled": False}
        spec = values["prometheus"]["prometheusSpec"]
        assert spec["retention"] == f"{wanted['retentionDays']}d"
        claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
        assert claim["resources"]["requests"]["storage"] == f"{wanted['storageGib']}Gi"
        assert claim["storageClassName"] == "gp3"
        assert spec["resources"]["limits"]["memory"]
        # The rules and PodMonitors carry no release label: the selectors must take them all.
        assert (spec["ruleSelector"], spec["ruleSelectorNilUsesHelmValues"]) == ({}, False)
        assert (spec["podMonitorSelector"], spec["podMonitorSelectorNilUsesHelmValues"]) == ({}, False)
        assert values["grafana"]["sidecar"]["dashboards"]["label"] == "grafana_dashboard"
        assert values["nodeExporter"] == values["kubeStateMetrics"] == {"enabled": True}


def test_dev_and_prod_keep_different_histories(dev: Graph, prod: Graph) -> None:
    dev_spec = _stack(dev, "core-use1").inputs["values"]["prometheus"]["prometheusSpec"]
    prod_spec = _stack(prod, "core-use1").inputs["values"]["prometheus"]["prometheusSpec"]
    assert dev_spec["retention"] != prod_spec["retention"]
    assert dev_spec["storageSpec"] != prod_spec["storageSpec"]


def test_the_monitoring_namespace_is_in_the_ambient_mesh(prod: Graph) -> None:
    for cluster in _eks_clusters(prod):
        (namespace,) = [r for r in _under(prod, cluster) if r.type == "kubernetes:core/v1:Namespace"]
        labels = namespace.inputs["metadata"]["labels"]
        assert namespace.inputs["metadata"]["name"] == "monitoring"
        assert AMBIENT.items() <= labels.items()


def test_every_eks_cluster_has_the_ebs_driver_and_an_encrypted_gp3_class(prod: Graph) -> None:
    addons = [
        r
        for r in prod.resources
        if r.type == "aws:eks/addon:Addon" and r.inputs["addonName"] == "aws-ebs-csi-driver"
    ]
    clusters = _eks_clusters(prod)
    assert len(addons) == len(clusters)
    for addon in addons:
        (association,) = addon.inputs["podIdentityAssociations"]
        assert association["serviceAccount"] == "ebs-csi-controller-sa"
    for cluster in clusters:
        (storage,) = [
            r for r in _under(prod, cluster) if r.type == "kubernetes:storage.k8s.io/v1:StorageClass"
        ]
        assert storage.inputs["provisioner"] == "ebs.csi.aws.com"
        assert storage.inputs["parameters"]["encrypted"] == "true"
        assert storage.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
        assert storage.inputs["metadata"]["name"] == "gp3"


def _region(stack: str, cluster: str) -> str:
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    (region,) = [c["region"] for c in config["clusters"] if c["name"] == cluster]
    return region


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_alertmanager_sends_each_severity_to_exactly_the_receivers_that_take_it(stack: str) -> None:
    graph = planned(stack)
    receivers = _settings(stack)["receivers"]
    for cluster in _eks_clusters(graph):
        region = _region(stack, cluster)
        config = _stack(graph, cluster).inputs["values"]["alertmanager"]["config"]
        by_name = {r["name"]: r for r in config["receivers"]}
        routed = {route["matchers"][0]: route["receiver"] for route in config["route"]["routes"]}
        assert config["route"]["receiver"] == "null"
        for severity in ("critical", "warning", "info"):
            takers = {e for r in receivers if severity in r["severities"] for e in r["emails"]}
            if not takers:
                assert f'severity="{severity}"' not in routed, severity
                continue
            (sns,) = by_name[routed[f'severity="{severity}"']]["sns_configs"]
            assert sns["sigv4"] == {"region": region}
            (topic,) = [t for t in graph.of_type(TOPIC) if t.name == f"alerts-{region}-{severity}"]
            # The topic of this severity in this region, whose subscriptions are exactly the takers.
            assert sns["topic_arn"].endswith(f":{topic.name}") and f":{region}:" in sns["topic_arn"]
            heard = {
                s.inputs["endpoint"]
                for s in graph.of_type(SUBSCRIPTION)
                if s.inputs["topic"] == sns["topic_arn"]
            }
            assert heard == takers, (cluster, severity)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_alertmanager_may_publish_only_to_the_routed_topics(stack: str) -> None:
    graph = planned(stack)
    for cluster in _eks_clusters(graph):
        config = _stack(graph, cluster).inputs["values"]["alertmanager"]["config"]
        routed = sorted(c["topic_arn"] for r in config["receivers"] for c in r.get("sns_configs", []))
        assert routed
        policy = _role_policy(graph, cluster, "alertmanager")
        assert policy is not None
        publish, encrypt = policy["Statement"]
        assert (publish["Action"], publish["Resource"]) == (["sns:Publish"], routed)
        assert encrypt["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
        assert [t.inputs["kmsMasterKeyId"] for t in graph.of_type(TOPIC) if t.name.endswith("-critical")]
        keys = {
            t.inputs["kmsMasterKeyId"]
            for t in graph.of_type(TOPIC)
            if any(a.endswith(f":{t.name}") for a in routed)
        }
        assert encrypt["Resource"] == sorted(keys)
        (association,) = [
            r
            for r in _under(graph, cluster)
            if r.type == ASSOCIATION and r.inputs["serviceAccount"] == monitoring.ALERTMANAGER_ACCOUNT
        ]
        assert association.inputs["namespace"] == "monitoring"


def test_every_eks_prometheus_writes_to_the_one_workspace_labelled_with_its_cluster(prod: Graph) -> None:
    """The stack's workspace is where the rules over every core cluster evaluate; they tell the
    clusters apart by the external label."""
    clusters = _eks_clusters(prod)
    assert len(clusters) == 2
    written: set[str] = set()
    for cluster in clusters:
        spec = _stack(prod, cluster).inputs["values"]["prometheus"]["prometheusSpec"]
        (write,) = spec["remoteWrite"]
        assert write["url"].endswith("/api/v1/remote_write")
        assert spec["externalLabels"] == {"cluster": cluster}
        policy = _role_policy(prod, cluster, "prometheus")
        assert policy is not None
        ((actions, resources),) = [(s["Action"], s["Resource"]) for s in policy["Statement"]]
        assert actions == ["aps:RemoteWrite"]
        written.update(resources)
        written.add(write["url"])
    assert len(written) == 2  # one workspace ARN and one URL for both clusters


def test_without_a_store_prometheus_writes_nowhere_and_has_no_role(monkeypatch: pytest.MonkeyPatch) -> None:
    built = infra.topology.build_monitoring

    def without_store(*args: Any, **kwargs: Any) -> Any:
        kwargs["stores"] = {}
        return built(*args, **kwargs)

    monkeypatch.setattr(infra.topology, "build_monitoring", without_store)
    graph = plan_stack("dev", project=find_project(ROOT))
    assert _stack(graph, "core-use1").inputs["values"]["prometheus"]["prometheusSpec"]["remoteWrite"] == []
    assert _role_policy(graph, "core-use1", "prometheus") is None


def test_with_a_store_prometheus_writes_there_and_may_write_nowhere_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = infra.topology.build_monitoring

    def with_store(*args: Any, **kwargs: Any) -> Any:
        kwargs["stores"] = {
            "core-use1": MetricsStore(
                region="us-east-1",
                workspace_arn=WORKSPACE,
                remote_write_url=pulumi.Output.from_input(
                    "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd/api/v1/remote_write"
                ),
            )
        }
        return built(*args, **kwargs)

    monkeypatch.setattr(infra.topology, "build_monitoring", with_store)
    graph = plan_stack("dev", project=find_project(ROOT))
    spec = _stack(graph, "core-use1").inputs["values"]["prometheus"]["prometheusSpec"]
    (write,) = spec["remoteWrite"]
    assert write["url"].endswith("/workspaces/ws-0123abcd/api/v1/remote_write")
    assert write["sigv4"] == {"region": "us-east-1"}
    policy = _role_policy(graph, "core-use1", "prometheus")
    assert policy is not None
    assert [(s["Action"], s["Resource"]) for s in policy["Statement"]] == [(["aps:RemoteWrite"], [WORKSPACE])]
    (association,) = [
        r
        for r in _under(graph, "core-use1")
        if r.type == ASSOCIATION and r.inputs["serviceAccount"] == monitoring.PROMETHEUS_ACCOUNT
    ]
    assert association.inputs["namespace"] == "monitoring"


def _monitoring(*receivers: tuple[str, list[str]]) -> Monitoring:
    return Monitoring.model_validate(
        {"receivers": [{"name": n, "severities": s, "emails": [f"{n}@example.com"]} for n, s in receivers]}
    )


TOPICS = {s.value: f"arn:aws:sns:eu-west-1:123456789012:alerts-eu-west-1-{s.value}" for s in AlertSeverity}


def test_a_severity_no_receiver_takes_is_not_routed() -> None:
    config = monitoring.alertmanager_config(_monitoring(("oncall", ["critical"])), "eu-west-1", TOPICS)
    routes = config["route"]["routes"]  # type: ignore[index]
    assert routes == [{"receiver": "critical", "matchers": ['severity="critical"']}]
    assert [r["name"] for r in config["receivers"]] == ["null", "critical"]  # type: ignore[union-attr]


def test_two_receivers_of_one_severity_share_one_publish() -> None:
    """The topic fans out to both: a route per receiver would send each of them every alert twice."""
    config = monitoring.alertmanager_config(
        _monitoring(("oncall", ["critical"]), ("platform", ["critical", "warning"])), "eu-west-1", TOPICS
    )
    receivers = {r["name"]: r for r in config["receivers"]}  # type: ignore[union-attr]
    assert sorted(receivers) == ["critical", "null", "warning"]
    assert [c["topic_arn"] for c in receivers["warning"]["sns_configs"]] == [TOPICS["warning"]]
    assert receivers["critical"]["sns_configs"][0]["sigv4"] == {"region": "eu-west-1"}


def test_no_receivers_routes_everything_to_null() -> None:
    config = monitoring.alertmanager_config(Monitoring(), "eu-west-1", TOPICS)
    assert config["route"]["routes"] == []  # type: ignore[index]
    assert config["receivers"] == [{"name": "null"}]


def test_stack_values_follow_the_settings() -> None:
    small = monitoring.stack_values(
        Monitoring(retention_days=3, storage_gib=10, grafana=False),
        cluster="core-euw1",
        region="eu-west-1",
        topic_arns={},
        store=None,
    )
    spec = small["prometheus"]["prometheusSpec"]  # type: ignore[index]
    assert (spec["retention"], spec["retentionSize"]) == ("3d", "9GB")
    # The shared store's rules tell the clusters apart by this label (infra/monitoring/rules.py).
    assert spec["externalLabels"] == {"cluster": "core-euw1"}
    assert small["grafana"]["enabled"] is False  # type: ignore[index]


POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
MESH_RELEASE = "inferstack:k8s:ClusterMesh"
MESH_COMPONENTS = {
    # PodMonitor -> (namespace, pod labels, port name, path), as the Istio 1.30.3 charts set them
    # (see infra/k8s/monitoring.py MESH_SCRAPES for the files read).
    "istiod": ("istio-system", {"app": "istiod"}, "http-monitoring", "/metrics"),
    "ztunnel": ("istio-system", {"app": "ztunnel"}, "ztunnel-stats", "/metrics"),
    "istio-cni": ("istio-system", {"k8s-app": "istio-cni-node"}, "metrics", "/metrics"),
    "istio-ingress": ("istio-ingress", {"istio": "ingress"}, "http-envoy-prom", "/stats/prometheus"),
}


def _mesh_charts(graph: Graph, cluster: str) -> set[str]:
    """The Helm release names the cluster's mesh component installs."""
    mesh = component(graph, MESH_RELEASE, f"{cluster}-mesh")
    return {r.inputs["name"] for r in children_of(graph, mesh) if r.type == RELEASE}


def test_every_eks_cluster_scrapes_the_mesh_in_its_own_namespaces(prod: Graph) -> None:
    for cluster in _eks_clusters(prod):
        monitors = {
            r.inputs["metadata"]["name"]: r.inputs["spec"]
            for r in _under(prod, cluster)
            if r.type == POD_MONITOR
        }
        assert set(MESH_COMPONENTS) <= set(monitors), cluster
        assert set(MESH_COMPONENTS) <= _mesh_charts(prod, cluster), "each monitor's component runs there"
        for name, (namespace, labels, port, path) in MESH_COMPONENTS.items():
            spec = monitors[name]
            assert spec["namespaceSelector"] == {"matchNames": [namespace]}, name
            assert spec["selector"] == {"matchLabels": labels}, name
            assert spec["podMetricsEndpoints"] == [{"port": port, "path": path, "interval": "30s"}], name


def test_the_mesh_monitors_select_the_labels_the_mesh_sets() -> None:
    """The ingress's labels come from its release name (infra/k8s/mesh.py); istiod's are the ones
    the network policy already selects: a rename there must not silently stop the scrape."""
    monitors = monitoring.pod_monitors()
    assert monitors["istio-ingress"]["selector"] == {"matchLabels": mesh.INGRESS_SELECTOR}
    assert monitors["istio-ingress"]["namespaceSelector"] == {"matchNames": [mesh.INGRESS_NAMESPACE]}
    assert monitors["istiod"]["selector"] == {"matchLabels": netpol.ISTIOD_PODS}
    assert {s.namespace for s in monitoring.MESH_SCRAPES} == {mesh.SYSTEM_NAMESPACE, mesh.INGRESS_NAMESPACE}
