"""The data layer, end to end through the engine: the gateway's database and Redis, and their hand-over."""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferstack.engine import Graph, Resource, plan_stack
from inferstack.project import find_project, load_stack_config
from infra.catalog import catalog
from infra.settings import SettingsError, parse_settings, project_config
from tests.conftest import ROOT, children_of, component, planned

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
GLOBAL = "aws:rds/globalCluster:GlobalCluster"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
KEY = "aws:kms/key:Key"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
MEMORYSTORE = "gcp:redis/instance:Instance"


def _by_urn(graph: Graph, urns: list[str], token: str) -> list[Resource]:
    index = graph.by_urn()
    return [index[u] for u in urns if u in index and index[u].type == token]


def _instances_of(graph: Graph, cluster: Resource) -> list[Resource]:
    return [i for i in graph.of_type(INSTANCE) if cluster.urn in i.dependencies]


def _data_children(graph: Graph) -> list[Resource]:
    out: list[Resource] = []
    for token in ("inferstack:aws:GlobalDatabase", "inferstack:aws:Cache", "inferstack:gcp:Database"):
        for comp in graph.of_type(token):
            out.extend(children_of(graph, comp))
    return out


# --- Aurora ---------------------------------------------------------------------------------


def test_prod_is_a_global_database_over_both_core_regions(prod: Graph) -> None:
    (global_cluster,) = prod.of_type(GLOBAL)
    assert global_cluster.inputs["storageEncrypted"] is True
    assert global_cluster.inputs["engine"] == "aurora-postgresql"
    members = prod.of_type(CLUSTER)
    assert {prod.region_of(c) for c in members} == {"us-east-1", "us-west-2"}
    assert all(global_cluster.urn in c.dependencies for c in members)
    primary = component(prod, CLUSTER, "core-use1-db")
    secondary = component(prod, CLUSTER, "core-usw2-db")
    assert primary.inputs["masterUsername"] and "masterUsername" not in secondary.inputs
    writer = component(prod, INSTANCE, "core-use1-db-1")
    assert writer.urn in secondary.dependencies, "a secondary attaches only once the primary has a writer"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_aurora_is_created_on_a_version_that_still_accepts_new_clusters(stack: str) -> None:
    graph = planned(stack)
    versions = catalog().postgres_versions
    clusters = graph.of_type(CLUSTER)
    assert clusters and all(c.inputs["engineVersion"] in versions.aurora for c in clusters)
    for global_cluster in graph.of_type(GLOBAL):
        assert global_cluster.inputs["engineVersion"] in versions.aurora_global


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_aurora_storage_is_encrypted_with_a_rotating_key_of_its_region(stack: str) -> None:
    graph = planned(stack)
    for cluster in graph.of_type(CLUSTER):
        assert cluster.inputs["storageEncrypted"] is True
        assert str(cluster.inputs["kmsKeyId"]).startswith("arn:aws:kms:")
        keys = _by_urn(graph, cluster.dependencies, KEY)
        assert len(keys) == 1, cluster.name
        assert keys[0].inputs["enableKeyRotation"] is True
        assert graph.region_of(keys[0]) == graph.region_of(cluster)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_no_database_instance_is_reachable_from_the_internet(stack: str) -> None:
    graph = planned(stack)
    assert graph.of_type(INSTANCE)
    for instance in graph.of_type(INSTANCE):
        assert instance.inputs["publiclyAccessible"] is False
        assert instance.inputs["performanceInsightsEnabled"] is True
        assert "performanceInsightsKmsKeyId" in instance.inputs


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_member_has_a_writer_and_a_reader_in_different_zones(stack: str) -> None:
    graph = planned(stack)
    for cluster in graph.of_type(CLUSTER):
        instances = _instances_of(graph, cluster)
        assert len(instances) >= 2, cluster.name
        assert len({i.inputs["availabilityZone"] for i in instances}) == len(instances), cluster.name


def test_prod_members_use_iam_auth_and_keep_fourteen_days_of_backups(prod: Graph) -> None:
    for cluster in prod.of_type(CLUSTER):
        assert cluster.inputs["iamDatabaseAuthenticationEnabled"] is True
        assert cluster.inputs["backupRetentionPeriod"] >= 14
        assert cluster.inputs["enabledCloudwatchLogsExports"] == ["postgresql"]
        assert cluster.inputs["deletionProtection"] is True


def test_prod_stateful_data_resources_are_protected(prod: Graph) -> None:
    stateful = prod.of_type(GLOBAL) + prod.of_type(CLUSTER)
    stateful += [r for r in _data_children(prod) if r.type == KEY]
    assert len(stateful) == 1 + 2 + 2 + 2, "global cluster, two members, a key per member and per cache"
    assert all(r.protect for r in stateful), [r.name for r in stateful if not r.protect]
    primary = component(prod, CLUSTER, "core-use1-db")
    assert primary.inputs["skipFinalSnapshot"] is False
    assert primary.inputs["finalSnapshotIdentifier"] == "inferstack-prod-core-use1-db-final"


def test_dev_is_one_regional_cluster_with_one_instance_and_can_be_torn_down(dev: Graph) -> None:
    assert dev.of_type(GLOBAL) == []
    (cluster,) = dev.of_type(CLUSTER)
    assert "globalClusterIdentifier" not in cluster.inputs
    assert len(dev.of_type(INSTANCE)) == 1
    assert cluster.inputs["deletionProtection"] is False and cluster.inputs["skipFinalSnapshot"] is True
    assert not any(r.protect for r in _data_children(dev))


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_a_regional_cluster_lets_rds_own_the_master_password(stack: str) -> None:
    (cluster,) = planned(stack).of_type(CLUSTER)
    assert cluster.inputs["manageMasterUserPassword"] is True
    assert "masterUserSecretKmsKeyId" in cluster.inputs
    assert "masterPassword" not in cluster.inputs


def test_a_global_database_keeps_its_generated_password_in_a_replicated_secret(prod: Graph) -> None:
    primary = component(prod, CLUSTER, "core-use1-db")
    assert "manageMasterUserPassword" not in primary.inputs, (
        "AWS refuses managed passwords in a global database"
    )
    assert primary.inputs["masterPassword"] == "[secret]"
    database = component(prod, "inferstack:aws:GlobalDatabase", "database")
    (secret,) = [s for s in children_of(prod, database) if s.type == "aws:secretsmanager/secret:Secret"]
    assert [r["region"] for r in secret.inputs["replicas"]] == ["us-west-2"]
    assert all("kmsKeyId" in r for r in secret.inputs["replicas"]) and "kmsKeyId" in secret.inputs
    password = [r for r in prod.resources if r.type == "random:index/randomPassword:RandomPassword"]
    assert all(p.provider and "::default" not in p.provider for p in password)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_data_stores_admit_only_the_core_clusters_private_subnets(stack: str) -> None:
    graph = planned(stack)
    private = {
        s.inputs["cidrBlock"]
        for s in graph.of_type("aws:ec2/subnet:Subnet")
        if s.inputs.get("tags", {}).get("kubernetes.io/role/internal-elb") == "1"
    }
    comps = graph.of_type("inferstack:aws:GlobalDatabase") + graph.of_type("inferstack:aws:Cache")
    rules = [
        r
        for c in comps
        for r in children_of(graph, c)
        if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    ]
    assert rules
    for rule in rules:
        assert rule.inputs["cidrIpv4"] in private, rule.name
        assert ipaddress.ip_network(rule.inputs["cidrIpv4"]).prefixlen > 0
        assert rule.inputs["fromPort"] == rule.inputs["toPort"] in (5432, 6379)


def test_a_secondary_region_without_a_core_cluster_is_refused() -> None:
    values = copy.deepcopy(project_config(load_stack_config(find_project(ROOT), "prod").values))
    values["database"]["secondaryRegions"] = ["eu-west-1"]
    with pytest.raises(SettingsError) as caught:
        parse_settings(values, "stacks/Pulumi.prod.yaml")
    message = str(caught.value)
    assert message.startswith("stacks/Pulumi.prod.yaml: inferstack:database.secondaryRegions[0]:")
    assert "'eu-west-1'" in message and "us-east-1, us-west-2" in message


# --- ElastiCache ----------------------------------------------------------------------------


def test_prod_has_an_encrypted_tls_only_redis_with_failover_in_every_core_region(prod: Graph) -> None:
    groups = prod.of_type(REDIS)
    assert {prod.region_of(g) for g in groups} == {"us-east-1", "us-west-2"}
    for group in groups:
        inputs = group.inputs
        assert inputs["transitEncryptionEnabled"] is True and inputs["transitEncryptionMode"] == "required"
        assert inputs["atRestEncryptionEnabled"] is True and "kmsKeyId" in inputs
        assert inputs["authToken"] == "[secret]"
        # A rotated token is added beside the old one, never swapped under connected clients.
        assert inputs["authTokenUpdateStrategy"] == "ROTATE"
        assert inputs["automaticFailoverEnabled"] is True and inputs["multiAzEnabled"] is True
        assert inputs["numCacheClusters"] == 3
        assert len(set(inputs["preferredCacheClusterAzs"])) == 3
        assert inputs["snapshotRetentionLimit"] == 7
        (delivery,) = inputs["logDeliveryConfigurations"]
        assert delivery["logType"] == "slow-log" and delivery["destinationType"] == "cloudwatch-logs"
        logs = _by_urn(prod, group.dependencies, "aws:cloudwatch/logGroup:LogGroup")
        assert logs and logs[0].inputs["retentionInDays"] == 90 and "kmsKeyId" in logs[0].inputs


def test_dev_redis_is_one_node_without_failover(dev: Graph) -> None:
    (group,) = dev.of_type(REDIS)
    assert group.inputs["numCacheClusters"] == 1
    assert group.inputs["automaticFailoverEnabled"] is False and group.inputs["multiAzEnabled"] is False
    assert group.inputs["snapshotRetentionLimit"] == 1
    assert (
        group.inputs["transitEncryptionEnabled"] is True and group.inputs["atRestEncryptionEnabled"] is True
    )


def test_redis_auth_token_lives_in_secrets_manager_under_the_caches_key(prod: Graph) -> None:
    for comp in prod.of_type("inferstack:aws:Cache"):
        kids = children_of(prod, comp)
        (secret,) = [k for k in kids if k.type == "aws:secretsmanager/secret:Secret"]
        (key,) = [k for k in kids if k.type == KEY]
        assert key.urn in secret.dependencies
        (version,) = [k for k in kids if k.type == "aws:secretsmanager/secretVersion:SecretVersion"]
        assert version.inputs["secretString"] == "[secret]"


def test_onprem_has_no_data_layer(onprem: Graph) -> None:
    assert _data_children(onprem) == []
    assert _data_config_maps(onprem) == []
    assert "database" not in onprem.outputs and "cache" not in onprem.outputs


# --- hand-over ------------------------------------------------------------------------------


def _data_config_maps(graph: Graph) -> list[Any]:
    """The data layer's ConfigMaps (the gateway's own config is another ConfigMap)."""
    return [cm for cm in graph.of_type(CONFIG_MAP) if cm.inputs["metadata"]["name"] == "inferstack-data"]


def _config_maps(graph: Graph) -> dict[str, dict[str, Any]]:
    """ConfigMap data by the name of the Kubernetes provider that applies it."""
    index = graph.by_urn()
    out = {}
    for cm in _data_config_maps(graph):
        assert cm.inputs["metadata"] == {
            "name": "inferstack-data",
            "namespace": "inference",
            "labels": {"app.kubernetes.io/part-of": "inferstack"},
        }
        assert cm.provider is not None
        out[index[cm.provider].name] = cm.inputs["data"]
    return out


def test_every_core_cluster_gets_its_regions_endpoints(prod: Graph) -> None:
    maps = _config_maps(prod)
    assert set(maps) == {"core-use1-k8s", "core-usw2-k8s"}
    readers = prod.outputs["database"]["readerEndpoints"]
    caches = prod.outputs["cache"]
    for provider, region in (("core-use1-k8s", "us-east-1"), ("core-usw2-k8s", "us-west-2")):
        data = maps[provider]
        assert data["DATABASE_READER_HOST"] == readers[region]
        assert data["DATABASE_PORT"] == "5432"
        assert f":secretsmanager:{region}:" in data["DATABASE_SECRET_ARN"]
        assert data["REDIS_HOST"] == caches[region]["host"]
        assert data["REDIS_PORT"] == "6379" and data["REDIS_TLS"] == "true"
        assert f":secretsmanager:{region}:" in data["REDIS_AUTH_SECRET_ARN"]
    assert not any("password" in k.lower() or "token" in k.lower() for d in maps.values() for k in d)


def test_the_inference_namespace_enforces_the_restricted_pod_security_standard(prod: Graph) -> None:
    namespaces = [
        n for n in prod.of_type("kubernetes:core/v1:Namespace") if n.inputs["metadata"]["name"] == "inference"
    ]
    # The data layer's in each core cluster, the gateway's in the burst cluster (no data hand-over).
    assert len(namespaces) == 3
    for ns in namespaces:
        labels = ns.inputs["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_stack_outputs_name_endpoints_and_secret_arns_only(dev: Graph) -> None:
    db = dev.outputs["database"]
    assert db["global"] is False
    assert db["writerEndpoint"].endswith(".rds.amazonaws.com")
    assert db["masterSecretArn"].startswith("arn:aws:secretsmanager:us-east-1:")
    assert set(dev.outputs["cache"]) == {"us-east-1"}


# --- GCP: Cloud SQL and Memorystore (no shipped stack uses them yet) -----------------------

GCP_STACK = {
    "config": {
        "environment": "prod",
        "owner": "platform-team",
        "costCenter": "cc-inference-gcp",
        "gcpProject": "acme-inference-gcp",
        "model": {"name": "DeepSeek-R1-Distill-Qwen-7B", "precision": "bf16"},
        "clusters": [
            {
                "name": "core-usc1",
                "role": "core",
                "cloud": "gcp",
                "region": "us-central1",
                "nodePools": [
                    {"name": "system", "machineType": "e2-standard-4", "minSize": 1, "maxSize": 3},
                    {
                        "name": "l4",
                        "machineType": "g2-standard-8",
                        "accelerator": "L4",
                        "minSize": 1,
                        "maxSize": 2,
                    },
                ],
            }
        ],
        "database": {
            "cloud": "gcp",
            "primaryRegion": "us-central1",
            "secondaryRegions": ["us-east4"],
            "instanceClass": "db-custom-4-16384",
            "backupRetentionDays": 14,
        },
        "cache": {"nodeType": "cache.r7g.large", "replicas": 1, "memorySizeGb": 5},
    }
}


@pytest.fixture(scope="module")
def gcp_data(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    path = Path(tmp_path_factory.mktemp("stacks")) / "Pulumi.gcpdata.yaml"
    path.write_text(yaml.safe_dump(GCP_STACK), encoding="utf-8")
    return plan_stack("gcpdata", config_file=path, project=find_project(ROOT))


def test_gcp_database_is_private_tls_only_regional_with_pitr(gcp_data: Graph) -> None:
    assert gcp_data.of_type(CLUSTER) == [] and gcp_data.of_type(REDIS) == []
    primary = [i for i in gcp_data.of_type(SQL) if "masterInstanceName" not in i.inputs]
    assert len(primary) == 1
    settings = primary[0].inputs["settings"]
    assert primary[0].inputs["databaseVersion"] == "POSTGRES_16"
    assert settings["availabilityType"] == "REGIONAL"
    ip = settings["ipConfiguration"]
    assert ip["ipv4Enabled"] is False and ip["privateNetwork"] and ip["sslMode"] == "ENCRYPTED_ONLY"
    assert "authorizedNetworks" not in ip
    backups = settings["backupConfiguration"]
    assert backups["enabled"] is True and backups["pointInTimeRecoveryEnabled"] is True
    assert backups["backupRetentionSettings"]["retainedBackups"] == 14
    assert primary[0].inputs["deletionProtection"] is True and settings["deletionProtectionEnabled"] is True
    assert primary[0].protect


def test_gcp_database_has_a_cross_region_replica(gcp_data: Graph) -> None:
    replicas = [i for i in gcp_data.of_type(SQL) if "masterInstanceName" in i.inputs]
    assert [r.inputs["region"] for r in replicas] == ["us-east4"]
    assert replicas[0].inputs["settings"]["ipConfiguration"]["ipv4Enabled"] is False


def test_gcp_data_waits_for_the_private_service_connection(gcp_data: Graph) -> None:
    (connection,) = gcp_data.of_type("gcp:servicenetworking/connection:Connection")
    for resource in gcp_data.of_type(SQL) + gcp_data.of_type(MEMORYSTORE):
        assert connection.urn in resource.dependencies, resource.name


def test_memorystore_is_ha_with_auth_and_tls(gcp_data: Graph) -> None:
    (redis,) = gcp_data.of_type(MEMORYSTORE)
    inputs = redis.inputs
    assert inputs["tier"] == "STANDARD_HA"
    assert inputs["authEnabled"] is True and inputs["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
    assert inputs["connectMode"] == "PRIVATE_SERVICE_ACCESS" and inputs["authorizedNetwork"]
    assert inputs["persistenceConfig"]["persistenceMode"] == "RDB"


def test_gcp_core_cluster_gets_endpoints_and_the_auth_string_as_a_secret(gcp_data: Graph) -> None:
    (cm,) = _data_config_maps(gcp_data)
    assert cm.inputs["data"]["DATABASE_HOST"] == gcp_data.outputs["database"]["writerEndpoint"]
    assert cm.inputs["data"]["REDIS_TLS"] == "true" and "REDIS_CA_CERT" in cm.inputs["data"]
    (secret,) = [
        r
        for r in gcp_data.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == "inferstack-redis-auth"
    ]
    assert secret.inputs["stringData"] == "[secret]"
