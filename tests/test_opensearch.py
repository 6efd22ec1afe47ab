"""The ELK-style log option: `monitoring.logs: opensearch` ships the EKS clusters' container logs with
Fluent Bit to one OpenSearch domain per stack, locked down; the shipped stacks keep the clouds' pipelines."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from inferstack.engine import Graph, Resource
from inferstack.policy import check_graph
from inferstack.scan import run_checkov, write_inputs
from infra.aws import opensearch
from infra.k8s import logs
from policies.cost import PRICERS, price_book
from tests.conftest import stack_variant
from tests.test_checkov import _binary
from tests.test_front_door import DEV, refused
from tests.test_policy_coverage import UNGUARDED, _judged
from tests.test_settings import broken, problems

DOMAIN = "aws:opensearch/domain:Domain"
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ADDON = "aws:eks/addon:Addon"
EKS = "aws:eks/cluster:Cluster"
GKE = "gcp:container/cluster:Cluster"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LOG_POLICY = "aws:cloudwatch/logResourcePolicy:LogResourcePolicy"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SUBNET = "aws:ec2/subnet:Subnet"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
OBSERVABILITY = "amazon-cloudwatch-observability"

ADMIN = "arn:aws:iam::123456789012:role/platform-admin"
ON = ("  monitoring:\n    receivers:", "  monitoring:\n    logs: opensearch\n    receivers:")
"""The one change that turns the option on in a shipped stack file."""


@pytest.fixture(scope="module")
def prod_logs(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    """prod with the option on: two EKS core clusters (peered) and a GKE burst cluster."""
    return stack_variant(tmp_path_factory, "prod", *ON)


@pytest.fixture(scope="module")
def dev_logs(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    """dev with the option on: one EKS core cluster, one data node, and a cluster admin named."""
    return stack_variant(tmp_path_factory, "dev", ON[0], f"  clusterAdmins: [{ADMIN}]\n{ON[1]}")


def _one(graph: Graph, token: str) -> Resource:
    found = graph.of_type(token)
    assert len(found) == 1, f"{token}: {len(found)}"
    return found[0]


def _cluster_of(graph: Graph, resource: Resource) -> str:
    """The cluster of an in-cluster object: its Kubernetes provider is named <cluster>-k8s."""
    return graph.by_urn()[resource.provider].name.removesuffix("-k8s")


def _fluent_bits(graph: Graph) -> dict[str, Resource]:
    return {_cluster_of(graph, r): r for r in graph.of_type(RELEASE) if r.inputs["chart"] == logs.CHART}


def _eks_names(graph: Graph) -> set[str]:
    return {c.name for c in graph.of_type(EKS)}


def _domain_children(graph: Graph) -> list[Resource]:
    (component,) = [r for r in graph.resources if r.type == "inferstack:aws:LogDomain"]
    return [r for r in graph.resources if r.parent == component.urn]


# --- off by default ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "onprem"])
def test_shipped_stacks_keep_the_clouds_pipelines(stack: str, request: pytest.FixtureRequest) -> None:
    graph: Graph = request.getfixturevalue(stack)
    assert graph.of_type(EKS)
    assert not graph.of_type(DOMAIN)
    assert not _fluent_bits(graph)
    assert not [n for n in graph.of_type(NAMESPACE) if n.inputs["metadata"]["name"] == logs.NAMESPACE]
    addons = [a for a in graph.of_type(ADDON) if a.inputs["addonName"] == OBSERVABILITY]
    assert addons
    for addon in addons:
        assert "containerLogs" not in (addon.inputs.get("configurationValues") or "")
    assert "logDomain" not in graph.outputs


# --- the domain ---------------------------------------------------------------------------------


def test_one_domain_in_the_first_core_clusters_region_and_private_subnets(prod_logs: Graph) -> None:
    domain = _one(prod_logs, DOMAIN)
    assert prod_logs.region_of(domain) == "us-east-1"
    assert domain.inputs["domainName"] == "inferstack-variant-logs"
    assert len(domain.inputs["vpcOptions"]["subnetIds"]) == 2
    subnets = [s for s in prod_logs.of_type(SUBNET) if s.urn in domain.dependencies]
    assert subnets
    assert all(s.name.startswith("core-use1-private-") for s in subnets)


def test_the_domain_is_reached_on_443_from_the_eks_clusters_private_subnets_only(prod_logs: Graph) -> None:
    domain = _one(prod_logs, DOMAIN)
    (group_id,) = domain.inputs["vpcOptions"]["securityGroupIds"]
    groups = [g for g in _domain_children(prod_logs) if g.type == SECURITY_GROUP]
    assert len(groups) == 1
    rules = [r for r in prod_logs.of_type(INGRESS_RULE) if r.parent == groups[0].parent and "https" in r.name]
    assert rules
    for rule in rules:
        assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["ipProtocol"]) == (
            443,
            443,
            "tcp",
        )
    expected = {
        "10.16.0.0/19",
        "10.16.32.0/19",
        "10.16.64.0/19",
        "10.17.0.0/19",
        "10.17.32.0/19",
        "10.17.64.0/19",
    }
    assert {r.inputs["cidrIpv4"] for r in rules} == expected
    assert group_id  # the domain sits behind that group, and no other


def test_the_domain_is_encrypted_at_rest_with_a_rotated_key_of_its_own(prod_logs: Graph) -> None:
    domain = _one(prod_logs, DOMAIN)
    assert domain.inputs["encryptAtRest"]["enabled"] is True
    (key,) = [k for k in _domain_children(prod_logs) if k.type == KEY]
    assert key.inputs["enableKeyRotation"] is True
    assert domain.inputs["encryptAtRest"]["kmsKeyId"] == f"arn:aws:kms:us-east-1:123456789012:{key.name}"
    assert domain.inputs["nodeToNodeEncryption"] == {"enabled": True}


def test_only_https_with_tls_1_2_and_forward_secrecy(prod_logs: Graph) -> None:
    options = _one(prod_logs, DOMAIN).inputs["domainEndpointOptions"]
    assert options == {"enforceHttps": True, "tlsSecurityPolicy": "Policy-Min-TLS-1-2-PFS-2023-10"}


def test_fine_grained_access_with_an_iam_master_role_and_no_password(prod_logs: Graph) -> None:
    domain = _one(prod_logs, DOMAIN)
    security = domain.inputs["advancedSecurityOptions"]
    assert security["enabled"] is True
    assert security["internalUserDatabaseEnabled"] is False
    assert security["anonymousAuthEnabled"] is False
    assert set(security["masterUserOptions"]) == {"masterUserArn"}
    roles = {r.name: r for r in _domain_children(prod_logs) if r.type == ROLE}
    assert security["masterUserOptions"]["masterUserArn"].endswith(":logs-admin")
    trust = json.loads(roles["logs-admin"].inputs["assumeRolePolicy"])["Statement"]
    # The deploying identity (prod names no cluster admins), never the whole account.
    (principals,) = [s["Principal"]["AWS"] for s in trust]
    assert principals and not [p for p in principals if p.endswith(":root") or p == "*"]
    assert "password" not in json.dumps(domain.inputs).lower()


def test_the_stacks_cluster_admins_are_who_may_become_the_master_role(dev_logs: Graph) -> None:
    (role,) = [r for r in _domain_children(dev_logs) if r.type == ROLE and r.name == "logs-admin"]
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"AWS": [ADMIN]}
    assert statement["Action"] == "sts:AssumeRole"


def test_only_fluent_bit_writes_and_only_the_master_role_administers(prod_logs: Graph) -> None:
    domain = _one(prod_logs, DOMAIN)
    arn = "arn:aws:es:us-east-1:123456789012:domain/inferstack-variant-logs"
    statements = {s["Sid"]: s for s in json.loads(domain.inputs["accessPolicies"])["Statement"]}
    assert set(statements) == {"FluentBitWrites", "MasterRoleAdministers"}
    writes = statements["FluentBitWrites"]
    assert writes["Principal"]["AWS"].endswith(":logs-fluent-bit")
    assert writes["Action"] == ["es:ESHttpPost", "es:ESHttpPut"]
    assert writes["Resource"] == f"{arn}/*"
    assert statements["MasterRoleAdministers"]["Principal"]["AWS"].endswith(":logs-admin")
    for statement in statements.values():
        assert statement["Effect"] == "Allow" and statement["Principal"]["AWS"] != "*"
    (grant,) = [p for p in _domain_children(prod_logs) if p.type == ROLE_POLICY]
    (own,) = json.loads(grant.inputs["policy"])["Statement"]
    assert own["Action"] == ["es:ESHttpPost", "es:ESHttpPut"] and own["Resource"] == [f"{arn}/*"]


def test_audit_error_and_slow_logs_go_to_encrypted_groups_kept_for_the_stacks_retention(
    prod_logs: Graph,
) -> None:
    domain = _one(prod_logs, DOMAIN)
    published = {o["logType"]: o for o in domain.inputs["logPublishingOptions"]}
    assert set(published) == {"AUDIT_LOGS", "ES_APPLICATION_LOGS", "INDEX_SLOW_LOGS", "SEARCH_SLOW_LOGS"}
    groups = {g.name: g for g in _domain_children(prod_logs) if g.type == LOG_GROUP}
    assert len(groups) == 4
    for option in published.values():
        assert option["enabled"] is True
        group = groups[option["cloudwatchLogGroupArn"].rsplit(":", 1)[1]]
        assert group.inputs["name"].startswith("/aws/vendedlogs/opensearch/inferstack-variant-logs/")
        assert group.inputs["retentionInDays"] == 90
        assert group.inputs["kmsKeyId"]
    # es.amazonaws.com may write exactly those groups, for this domain only; the domain waits for it.
    policy = _one(prod_logs, LOG_POLICY)
    assert policy.urn in domain.dependencies
    (statement,) = json.loads(policy.inputs["policyDocument"])["Statement"]
    assert statement["Principal"] == {"Service": "es.amazonaws.com"}
    assert len(statement["Resource"]) == 4 and all(r.endswith(":*") for r in statement["Resource"])
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":domain/inferstack-variant-logs")


def test_two_data_nodes_in_prod_spread_over_two_zones_and_one_in_dev(
    prod_logs: Graph, dev_logs: Graph
) -> None:
    prod = _one(prod_logs, DOMAIN).inputs
    assert prod["clusterConfig"]["instanceCount"] == 2
    assert prod["clusterConfig"]["zoneAwarenessEnabled"] is True
    assert prod["clusterConfig"]["zoneAwarenessConfig"] == {"availabilityZoneCount": 2}
    dev = _one(dev_logs, DOMAIN).inputs
    assert dev["clusterConfig"]["instanceCount"] == 1
    assert dev["clusterConfig"]["zoneAwarenessEnabled"] is False
    assert "zoneAwarenessConfig" not in dev["clusterConfig"]
    assert len(dev["vpcOptions"]["subnetIds"]) == 1
    assert dev["ebsOptions"] == {"ebsEnabled": True, "volumeType": "gp3", "volumeSize": 20}


def test_zone_count_follows_the_node_count() -> None:
    assert opensearch.zone_count(1, 3) == 1
    assert opensearch.zone_count(2, 3) == 2
    assert opensearch.zone_count(4, 3) == 2
    assert opensearch.zone_count(6, 3) == 3
    assert opensearch.zone_count(6, 2) == 2


def test_index_retention_is_rendered_for_the_master_role_to_apply(prod_logs: Graph) -> None:
    output = prod_logs.outputs["logDomain"]
    assert output["region"] == "us-east-1"
    requests = {r["path"]: r for r in output["bootstrapRequests"]}
    assert list(requests) == [
        "/_plugins/_security/api/roles/inferstack-log-writer",
        "/_plugins/_security/api/rolesmapping/inferstack-log-writer",
        "/_plugins/_ism/policies/inferstack-log-retention",
    ]
    role = requests["/_plugins/_security/api/roles/inferstack-log-writer"]["body"]
    assert role["index_permissions"] == [
        {"index_patterns": ["logstash-*"], "allowed_actions": ["create_index", "index"]}
    ]
    mapping = requests["/_plugins/_security/api/rolesmapping/inferstack-log-writer"]
    assert mapping["body"] == {"backend_roles": [output["writerRoleArn"]]}
    policy = requests["/_plugins/_ism/policies/inferstack-log-retention"]["body"]["policy"]
    assert policy["ism_template"] == [{"index_patterns": ["logstash-*"], "priority": 100}]
    (hot,) = [s for s in policy["states"] if s["name"] == policy["default_state"]]
    assert hot["transitions"] == [{"state_name": "delete", "conditions": {"min_index_age": "90d"}}]
    assert dev_retention(opensearch.index_policy(7)) == "7d"


def dev_retention(policy: dict[str, Any]) -> str:
    (hot,) = [s for s in policy["policy"]["states"] if s["name"] == "hot"]
    return hot["transitions"][0]["conditions"]["min_index_age"]


def test_the_guard_passes_the_programs_domain_and_every_type_is_judged_and_classified(
    prod_logs: Graph,
) -> None:
    violations = check_graph(prod_logs)
    assert not [v for v in violations if v["policy"] == "opensearch-domain-secure"]
    assert not [v for v in violations if v["enforcement"] == "mandatory"]
    namespaces = [
        v for v in violations if v["policy"] == "k8s-namespace-pod-security" and "logs-ns" in (v["urn"] or "")
    ]
    assert not namespaces, "logging is a system namespace (policies/kubernetes_guards.py)"
    types = {r.type for r in prod_logs.resources if r.custom}
    assert DOMAIN in types
    assert sorted(types - _judged() - set(UNGUARDED)) == []
    book = price_book()
    assert sorted(t for t in types if t not in PRICERS and book.classify(t) is None) == []
    assert book.classify(DOMAIN) is not None and book.classify(DOMAIN)[0] == "unpriced"


# --- Fluent Bit ----------------------------------------------------------------------------------


def test_fluent_bit_runs_on_every_eks_cluster_and_no_gke_cluster(prod_logs: Graph) -> None:
    releases = _fluent_bits(prod_logs)
    assert set(releases) == _eks_names(prod_logs) == {"core-use1", "core-usw2"}
    assert prod_logs.of_type(GKE)
    for cluster in prod_logs.of_type(GKE):
        assert "WORKLOADS" in cluster.inputs["loggingConfig"]["enableComponents"]
    for release in releases.values():
        inputs = release.inputs
        assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"]["repo"]) == (
            "fluent-bit",
            "0.58.1",
            "https://fluent.github.io/helm-charts",
        )
        assert inputs["namespace"] == "logging"
        assert inputs["values"]["image"] == {"repository": "ghcr.io/fluent/fluent-bit", "tag": "5.1.1"}
        assert inputs["values"]["testFramework"] == {"enabled": False}
        assert inputs["values"]["serviceAccount"]["name"] == "fluent-bit"


def test_fluent_bit_gets_the_writer_role_through_pod_identity_in_each_cluster(prod_logs: Graph) -> None:
    associations = prod_logs.of_type(ASSOCIATION)
    mine = {a.inputs["clusterName"]: a for a in associations if a.inputs["namespace"] == "logging"}
    assert set(mine) == {"inferstack-variant-core-use1", "inferstack-variant-core-usw2"}
    for association in mine.values():
        assert association.inputs["serviceAccount"] == "fluent-bit"
        assert association.inputs["roleArn"].endswith(":logs-fluent-bit")
    assert {prod_logs.region_of(a) for a in mine.values()} == {"us-east-1", "us-west-2"}
    for release in _fluent_bits(prod_logs).values():
        assert any(u in release.dependencies for u in (a.urn for a in mine.values()))


def test_the_logging_namespace_is_privileged_for_host_paths_and_the_container_is_locked_down(
    prod_logs: Graph,
) -> None:
    namespaces = [n for n in prod_logs.of_type(NAMESPACE) if n.inputs["metadata"]["name"] == "logging"]
    assert {_cluster_of(prod_logs, n) for n in namespaces} == {"core-use1", "core-usw2"}
    for namespace in namespaces:
        assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    for release in _fluent_bits(prod_logs).values():
        context = release.inputs["values"]["securityContext"]
        assert context == {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        }
        assert release.inputs["values"]["resources"]["limits"]


def test_the_cloudwatch_addon_stops_shipping_container_logs_where_fluent_bit_does(prod_logs: Graph) -> None:
    addons = [a for a in prod_logs.of_type(ADDON) if a.inputs["addonName"] == OBSERVABILITY]
    assert len(addons) == 2
    for addon in addons:
        assert json.loads(addon.inputs["configurationValues"]) == {"containerLogs": {"enabled": False}}


def _sections(text: str) -> list[dict[str, list[str]]]:
    """A classic Fluent Bit config as [{"": [name], key: [values]}] per section, in order."""
    found: list[dict[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("["):
            found.append({"": [line.strip("[]")]})
        elif line.strip():
            key, _, value = line.strip().partition(" ")
            found[-1].setdefault(key, []).append(value)
    return found


def test_the_pipeline_tails_containers_adds_kubernetes_metadata_and_posts_signed_over_tls() -> None:
    config = logs.pipeline(host="vpc-logs.us-east-1.es.amazonaws.com", region="us-east-1")
    (tail,) = _sections(config["inputs"])
    assert tail["Name"] == ["tail"] and tail["Path"] == ["/var/log/containers/*.log"]
    (output,) = _sections(config["outputs"])
    assert output["Name"] == ["opensearch"]
    assert output["Host"] == ["vpc-logs.us-east-1.es.amazonaws.com"] and output["Port"] == ["443"]
    for key, expected in (
        ("AWS_Auth", "On"),
        ("AWS_Region", "us-east-1"),
        ("tls", "On"),
        ("tls.verify", "On"),
        ("Suppress_Type_Name", "On"),
        ("Trace_Output", "Off"),
        ("Trace_Error", "Off"),
        ("Logstash_Prefix", "logstash"),
    ):
        assert output[key] == [expected], key


def test_prompt_and_completion_keys_are_removed_after_the_kubernetes_filter_merges_json_lines(
    prod_logs: Graph,
) -> None:
    releases = _fluent_bits(prod_logs)
    assert releases
    for release in releases.values():
        filters = _sections(release.inputs["values"]["config"]["filters"])
        assert [f["Name"] for f in filters] == [["kubernetes"], ["modify"]]
        kubernetes, modify = filters
        assert kubernetes["Merge_Log"] == ["On"] and kubernetes["Keep_Log"] == ["Off"]
        assert kubernetes["K8S-Logging.Exclude"] == ["Off"]
        assert {"messages", "prompt", "input", "choices", "completion"} <= set(modify["Remove"])
        assert modify["Match"] == kubernetes["Match"] == ["kube.*"]


def test_fluent_bit_reaches_only_the_api_server_its_credentials_and_the_domains_subnets(
    prod_logs: Graph,
) -> None:
    found: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    for policy in prod_logs.of_type(NETWORK_POLICY):
        meta = policy.inputs["metadata"]
        found[(_cluster_of(prod_logs, policy), meta["namespace"])][meta["name"]] = policy.inputs["spec"]
    for cluster in ("core-use1", "core-usw2"):
        mine = found[(cluster, "logging")]
        assert set(mine) == {
            "default-deny",
            "dns-out",
            "logging-to-api-server-out",
            "logging-to-credentials-out",
            "logging-to-log-domain-out",
        }
        (rule,) = mine["logging-to-log-domain-out"]["egress"]
        # The host cluster's private subnets, where the domain's interfaces are, from either cluster.
        assert {p["ipBlock"]["cidr"] for p in rule["to"]} == {
            "10.16.0.0/19",
            "10.16.32.0/19",
            "10.16.64.0/19",
        }
        assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]
        assert not [p for p in mine.values() if p.get("ingress")], "nothing reaches Fluent Bit"


# --- settings --------------------------------------------------------------------------------------


def _logs(**opensearch_keys: Any) -> Any:
    def change(values: dict[str, Any]) -> None:
        values["monitoring"]["logs"] = "opensearch"
        if opensearch_keys:
            values["monitoring"]["opensearch"] = dict(opensearch_keys)

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda v: v["monitoring"].update(logs="elk"),
            "inferstack:monitoring.logs: 'elk'",
        ),
        (
            _logs(instanceType="t3.small.search"),
            "inferstack:monitoring.opensearch.instanceType: 't3.small.search'; allowed: m6g.large.search",
        ),
        (
            _logs(instanceCount=3),
            "inferstack:monitoring.opensearch.instanceCount: 3: a zone-aware domain over two zones needs "
            "an even number of data nodes",
        ),
        (_logs(instanceCount=12), "inferstack:monitoring.opensearch.instanceCount: 12 is out of range"),
        (_logs(volumeGib=5), "inferstack:monitoring.opensearch.volumeGib: 5 is out of range"),
        (
            lambda v: v["monitoring"].update(opensearch={"volumeGib": 50}),
            "inferstack:monitoring.opensearch: set while logs is 'cloud'; allowed: only with logs: opensearch",
        ),
    ],
)
def test_a_bad_log_setting_is_refused_in_one_line(change: Any, expected: str) -> None:
    assert expected in broken("dev", change)


def test_opensearch_without_an_aws_cluster_is_refused() -> None:
    def gcp_only(values: dict[str, Any]) -> None:
        values["monitoring"]["logs"] = "opensearch"
        values["clusters"] = [c for c in values["clusters"] if c["cloud"] == "gcp"]

    lines = problems("dev", gcp_only)
    assert any(
        "inferstack:monitoring.logs: 'opensearch' but no cluster is on aws (GKE keeps Cloud Logging)" in line
        for line in lines
    ), lines


def test_the_command_line_exits_2_with_one_line_and_registers_nothing(tmp_path: Path) -> None:
    bad = DEV.replace(
        "  monitoring:\n",
        "  monitoring:\n    logs: opensearch\n    opensearch:\n      instanceType: t3.small.search\n",
        1,
    )
    assert bad != DEV
    (line,) = refused(tmp_path, bad)
    assert "inferstack:monitoring.opensearch.instanceType: 't3.small.search'" in line


# --- Checkov on the export ---------------------------------------------------------------------------

ACCEPTED_CHECKOV = {
    "CKV_AWS_318": "three dedicated master nodes: a log domain of one or two data nodes does not pay for "
    "three more instances; a lost node costs searches, not the stack's serving",
    "CKV2_AWS_59": "dedicated master nodes, the same choice as CKV_AWS_318",
    "CKV_AWS_338": "a year of log retention: the stack's logRetentionDays, as for every log group "
    "(policies/checkov-skips.yaml)",
}
"""The only Checkov failures the option adds, and why each is accepted."""


def test_checkov_adds_no_failure_but_the_accepted_ones(prod_logs: Graph, prod: Graph, tmp_path: Path) -> None:
    binary = _binary()
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    write_inputs({"variant": prod_logs}, tmp_path / "on")
    write_inputs({"variant": prod}, tmp_path / "off")
    _, _, on = run_checkov(binary, tmp_path / "on")
    _, _, off = run_checkov(binary, tmp_path / "off")
    evaluated = {r.check for r in on if r.passed and r.resource == "aws_opensearch_domain.logs"}
    assert {"CKV_AWS_5", "CKV_AWS_6", "CKV_AWS_83", "CKV_AWS_137", "CKV_AWS_228", "CKV2_AWS_52"} <= evaluated
    before = {(r.check, r.resource) for r in off if not r.passed}
    added = {(r.check, r.resource) for r in on if not r.passed} - before
    assert added, "the domain's own log groups fail CKV_AWS_338 as every log group does"
    assert sorted({check for check, _ in added} - set(ACCEPTED_CHECKOV)) == []
