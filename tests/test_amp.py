"""Where every cluster's metrics meet: the AMP workspace of the EKS clusters, and the GlobalRules of
the GKE clusters in Managed Prometheus."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from inferstack.engine import Graph, Resource
from infra.aws.amp import alert_manager_definition
from infra.monitoring.rules import core_regions_group
from infra.settings import Monitoring
from tests.conftest import stack_variant
from tests.test_alarms import GCP_STACK, TOPIC, TOPIC_POLICY, _plan, _statement, _topic_arn

WORKSPACE = "aws:amp/workspace:Workspace"
NAMESPACE = "aws:amp/ruleGroupNamespace:RuleGroupNamespace"
ALERT_MANAGER = "aws:amp/alertManagerDefinition:AlertManagerDefinition"
GLOBAL_RULES = "kubernetes:monitoring.googleapis.com/v1:GlobalRules"
KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SEVERITIES = {"critical", "warning", "info"}


def _one(graph: Graph, token: str) -> Resource:
    (found,) = graph.of_type(token)
    return found


def _named(graph: Graph, token: str, name: str) -> Resource:
    (found,) = [r for r in graph.of_type(token) if r.name == name]
    return found


# --- the workspace --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "region"), [("dev", "us-east-1"), ("prod", "us-east-1"), ("onprem", "us-east-2")]
)
def test_one_workspace_per_stack_with_eks_clusters_in_its_first_eks_region(
    request: pytest.FixtureRequest, stack: str, region: str
) -> None:
    graph: Graph = request.getfixturevalue(stack)
    workspace = _one(graph, WORKSPACE)
    assert graph.region_of(workspace) == region
    assert workspace.inputs["alias"] == f"inferstack-{stack}"


def test_the_workspace_is_encrypted_with_its_own_rotated_key(prod: Graph) -> None:
    workspace = _one(prod, WORKSPACE)
    key = _named(prod, KEY, workspace.name)
    assert key.inputs["enableKeyRotation"] is True
    assert key.urn in workspace.dependencies
    assert workspace.inputs["kmsKeyArn"] == f"arn:aws:kms:us-east-1:123456789012:{key.name}"
    assert workspace.protect, "prod keeps its metrics' history"


def test_the_workspace_logs_to_an_encrypted_log_group_the_key_admits(prod: Graph) -> None:
    workspace = _one(prod, WORKSPACE)
    log_group = _named(prod, LOG_GROUP, workspace.name)
    assert log_group.inputs["kmsKeyId"] and log_group.inputs["retentionInDays"] == 90
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{log_group.inputs['name']}"
    # AMP wants the log group's ARN with ":*" (CreateLoggingConfiguration).
    assert workspace.inputs["loggingConfiguration"]["logGroupArn"].endswith(":*")
    grant = _statement(_named(prod, KEY, workspace.name).inputs["policy"], "WorkspaceLogGroup")
    assert grant["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert grant["Condition"] == {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": arn}}


@pytest.fixture(scope="module")
def gcp_only(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    return _plan(tmp_path_factory, GCP_STACK, "gcponly")


def test_a_stack_without_eks_clusters_gets_no_workspace(gcp_only: Graph) -> None:
    # A core GKE cluster and no AWS cluster: its metrics meet in Managed Prometheus only.
    assert gcp_only.of_type("gcp:container/cluster:Cluster")
    assert gcp_only.of_type(WORKSPACE) == [] and gcp_only.of_type(ALERT_MANAGER) == []
    assert "metricsStores" not in gcp_only.outputs
    assert gcp_only.of_type(GLOBAL_RULES) == []  # no burst cluster to put pressure on


def test_every_eks_cluster_gets_a_store_pointing_at_the_workspace(prod: Graph, onprem: Graph) -> None:
    stores = prod.outputs["metricsStores"]
    assert set(stores) == {"core-use1", "core-usw2"}  # the GKE burst cluster meets in Managed Prometheus
    urls = {s["remoteWriteUrl"] for s in stores.values()}
    (url,) = urls
    assert url.startswith("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-")
    assert url.endswith("/api/v1/remote_write")
    assert {s["region"] for s in stores.values()} == {"us-east-1"}
    assert set(onprem.outputs["metricsStores"]) == {"burst-use2"}


# --- the rules in it ------------------------------------------------------------------------------


def _groups(namespace: Resource) -> list[dict[str, Any]]:
    return yaml.safe_load(namespace.inputs["data"])["groups"]


def test_the_namespace_holds_exactly_the_core_group_over_every_eks_core_cluster(prod: Graph) -> None:
    namespace = _one(prod, NAMESPACE)
    groups = _groups(namespace)
    assert [g["name"] for g in groups] == ["deepseek-global-core"]
    alerts = {r["alert"]: r for r in groups[0]["rules"]}
    assert set(alerts) == {"NoReadyReplicaInAnyCoreRegion", "CoreCapacityDegraded"}
    assert 'cluster=~"core-use1|core-usw2"' in alerts["NoReadyReplicaInAnyCoreRegion"]["expr"]
    assert "burst-usc1" not in namespace.inputs["data"]
    # Two core clusters: fewer than half ready is fewer than one.
    assert "< 1 and" in alerts["CoreCapacityDegraded"]["expr"]
    assert alerts["CoreCapacityDegraded"]["for"] == "15m"


def test_the_stacks_wait_reaches_the_workspace(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = stack_variant(
        tmp_path_factory,
        "prod",
        "    retentionDays: 30",
        "    retentionDays: 30\n    replicasPendingMinutes: 25",
    )
    (group,) = _groups(_one(graph, NAMESPACE))
    (degraded,) = [r for r in group["rules"] if r["alert"] == "CoreCapacityDegraded"]
    assert degraded["for"] == "25m"


def test_a_stack_without_eks_core_clusters_gets_no_rule_namespace(onprem: Graph) -> None:
    # onprem's core is an existing cluster that writes nowhere; its EKS burst cluster still writes.
    assert onprem.of_type(WORKSPACE)
    assert onprem.of_type(NAMESPACE) == []


def test_a_rule_over_no_cluster_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one cluster"):
        core_regions_group(Monitoring(), [])


# --- where its alerts go --------------------------------------------------------------------------


def _alertmanager(definition: str) -> dict[str, Any]:
    return yaml.safe_load(yaml.safe_load(definition)["alertmanager_config"])


def test_the_alert_manager_routes_each_severity_to_that_severitys_topic(prod: Graph) -> None:
    config = _alertmanager(_one(prod, ALERT_MANAGER).inputs["definition"])
    receivers = {r["name"]: r["sns_configs"] for r in config["receivers"]}
    routes = {route["matchers"][0]: route["receiver"] for route in config["route"]["routes"]}
    assert routes == {f'severity="{s}"': s for s in SEVERITIES}
    for severity in SEVERITIES:
        (sns,) = receivers[severity]
        assert sns == {"topic_arn": _topic_arn(prod, "us-east-1", severity), "sigv4": {"region": "us-east-1"}}
    assert config["route"]["receiver"] == "warning"
    assert config["inhibit_rules"] == [
        {
            "source_matchers": ['alertname="NoReadyReplicaInAnyCoreRegion"'],
            "target_matchers": ['alertname="CoreCapacityDegraded"'],
        }
    ]


def test_the_definition_has_only_what_amp_accepts() -> None:
    config = _alertmanager(alert_manager_definition({"critical": "arn:c", "warning": "arn:w"}, "eu-west-1"))
    for receiver in config["receivers"]:
        assert set(receiver) == {"name", "sns_configs"}  # AMP accepts SNS receivers only
        for sns in receiver["sns_configs"]:
            assert "api_url" not in sns and "http_config" not in sns
            assert sns["sigv4"] == {"region": "eu-west-1"}


def test_topic_and_key_policies_admit_the_alert_manager_of_this_account_only(prod: Graph) -> None:
    topics = [t for t in prod.of_type(TOPIC) if prod.region_of(t) == "us-east-1"]
    assert {t.inputs["tags"]["severity"] for t in topics} == SEVERITIES
    policies = {p.name: p for p in prod.of_type(TOPIC_POLICY)}
    for topic in topics:
        document = policies[topic.name].inputs["policy"]
        this_account = {"StringEquals": {"aws:SourceAccount": "123456789012"}}
        publish = _statement(document, "AlarmsAndRulesPublish")
        assert "aps.amazonaws.com" in publish["Principal"]["Service"] and publish["Condition"] == this_account
        read = _statement(document, "AlertManagerReadsTheTopic")
        assert read["Principal"] == {"Service": "aps.amazonaws.com"}
        assert read["Action"] == "sns:GetTopicAttributes" and read["Condition"] == this_account
    key = _named(prod, KEY, "alerts-us-east-1")
    grant = _statement(key.inputs["policy"], "AlarmsRulesAndAlertManagerPublishToEncryptedTopics")
    assert "aps.amazonaws.com" in grant["Principal"]["Service"]
    assert {"kms:GenerateDataKey*", "kms:Decrypt"} <= set(grant["Action"])
    assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


# --- GKE: GlobalRules in Managed Prometheus --------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "burst"), [("dev", "burst-usc1"), ("prod", "burst-usc1"), ("staging", "burst-use4")]
)
def test_gke_burst_pressure_is_one_global_rules_object_through_the_burst_cluster(
    request: pytest.FixtureRequest, stack: str, burst: str
) -> None:
    graph: Graph = request.getfixturevalue(stack)
    rules = _one(graph, GLOBAL_RULES)
    assert rules.provider is not None and rules.provider.endswith(f"::{burst}-k8s")
    (group,) = rules.inputs["spec"]["groups"]
    assert group["name"] == "deepseek-global-burst"
    (alert,) = group["rules"]
    assert alert["alert"] == "BurstCapacityExhausted"
    # The GKE cluster's cloud-side name: the label Managed Prometheus puts on its samples.
    assert f'cluster=~"{burst}-gke' in alert["expr"]
    assert "namespace" not in rules.inputs["metadata"]  # GlobalRules are cluster-scoped


def test_a_stack_without_gke_clusters_gets_no_global_rules(onprem: Graph) -> None:
    assert onprem.of_type(GLOBAL_RULES) == []
