"""The Terraform plan export: the mapping table, names, values and the references scanners join on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
import yaml

from inferstack.engine import Resource
from inferstack.tfplan import MAP_FILE, MappingError, export, load_map, manifests, snake
from tests.conftest import planned
from tests.test_cli import run

STACKS = ("dev", "staging", "prod", "onprem")


def plan_of(stack: str) -> dict[str, Any]:
    return export(planned(stack)).plan


def planned_values(stack: str) -> dict[str, dict[str, Any]]:
    return {r["address"]: r for r in plan_of(stack)["planned_values"]["root_module"]["resources"]}


def references(stack: str, address: str) -> dict[str, list[str]]:
    conf = next(
        r for r in plan_of(stack)["configuration"]["root_module"]["resources"] if r["address"] == address
    )
    return {
        k: v["references"]
        for k, v in conf["expressions"].items()
        if isinstance(v, dict) and "references" in v
    }


def test_the_table_is_dated_and_every_row_cites_its_source() -> None:
    raw = yaml.safe_load(MAP_FILE.read_text(encoding="utf-8"))
    assert dt.date(2026, 1, 1) <= dt.date.fromisoformat(raw["asOf"]) <= dt.date(2027, 12, 31)
    table = load_map()
    for token, row in table.types.items():
        cloud = token.split(":")[0]
        assert row.source.split(" ")[0].split(":")[0] in raw["sources"], f"{token}: source {row.source!r}"
        assert row.tf.startswith({"aws": "aws_", "gcp": "google_", "random": "random_"}[cloud]), token
        assert row.unscanned is None or len(row.unscanned) > 20, f"{token}: say why no check reads it"
    tf_types = [row.tf for row in table.types.values()]
    assert len(tf_types) == len(set(tf_types)), "two Pulumi tokens mapped to one Terraform type"


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_of_every_stack_is_mapped_or_said_why_not(stack: str) -> None:
    graph = planned(stack)
    exported = export(graph)
    table = load_map()
    for r in graph.resources:
        assert (r.urn in exported.addresses) == table.exported(r.type), r.type
    kinds = {r["type"] for r in exported.plan["planned_values"]["root_module"]["resources"]}
    assert kinds <= {row.tf for row in table.types.values()}
    addresses = list(exported.addresses.values())
    assert len(addresses) == len(set(addresses))


def test_an_unmapped_type_stops_the_export() -> None:
    stray = Resource(
        urn="urn:pulumi:dev::inferstack::aws:sqs/queue:Queue::logs",
        type="aws:sqs/queue:Queue",
        name="logs",
        parent=None,
        provider=None,
        custom=True,
        inputs={},
        dependencies=[],
        protect=False,
    )
    graph = dataclasses.replace(planned("dev"), resources=[*planned("dev").resources, stray])
    with pytest.raises(MappingError, match=r"aws:sqs/queue:Queue has no Terraform type"):
        export(graph)


def test_plan_shape_is_what_terraform_show_json_writes() -> None:
    plan = plan_of("dev")
    assert plan["format_version"] == "1.2"
    resources = plan["planned_values"]["root_module"]["resources"]
    changes = {c["address"]: c for c in plan["resource_changes"]}
    conf = {c["address"] for c in plan["configuration"]["root_module"]["resources"]}
    for r in resources:
        assert r["mode"] == "managed"
        assert r["address"] == f"{r['type']}.{r['name']}"
        assert r["provider_name"].startswith("registry.terraform.io/hashicorp/")
        assert changes[r["address"]]["change"]["actions"] == ["create"]
        assert changes[r["address"]]["change"]["after"] == r["values"]
        assert r["address"] in conf
    json.dumps(plan)


def test_names_are_snake_case_with_the_bridge_renames_reversed() -> None:
    assert snake("enableDnsHostnames") == "enable_dns_hostnames"
    values = planned_values("prod")
    oidc = values["aws_iam_openid_connect_provider.core-use1-oidc"]["values"]
    assert oidc["client_id_list"] == ["sts.amazonaws.com"]
    params = values["aws_rds_cluster_parameter_group.core-use1-db"]["values"]
    assert params["parameter"] == [{"name": "rds.force_ssl", "value": "1"}]
    firewall = next(v["values"] for a, v in values.items() if a.startswith("google_compute_firewall."))
    assert "allow" in firewall and "allows" not in firewall
    backend = values["google_compute_backend_service.edge-gateways"]["values"]
    assert isinstance(backend["health_checks"], list), "a MaxItems=1 set the bridge flattened to a string"
    armor = values["google_compute_security_policy.edge-armor"]["values"]
    assert armor["name"] == "edge-armor" and len(armor["rule"]) == 4
    secret = values["aws_secretsmanager_secret.database-master"]["values"]
    assert secret["replica"][0]["region"] == "us-west-2"
    pool = values["google_container_node_pool.burst-usc1-h200-spot"]["values"]
    assert pool["node_config"][0]["guest_accelerator"][0]["count"] == 8
    assert pool["node_config"][0]["taint"][0]["key"] == "nvidia.com/gpu"


def test_blocks_are_lists_and_maps_keep_their_keys() -> None:
    eks = planned_values("prod")["aws_eks_cluster.core-use1"]["values"]
    assert eks["vpc_config"][0]["endpoint_public_access"] is False
    assert eks["encryption_config"][0]["resources"] == ["secrets"]
    assert eks["tags"]["cost-center"] == "cc-inference-prod", "tag keys are data, not attribute names"
    pool = planned_values("prod")["google_container_node_pool.burst-usc1-h200-spot"]["values"]
    assert "inferstack.io/accelerator" in pool["node_config"][0]["labels"]


def test_secrets_stay_masked_and_unknowns_are_after_unknown() -> None:
    plan = plan_of("prod")
    cache = next(
        r
        for r in plan["planned_values"]["root_module"]["resources"]
        if r["type"] == "aws_elasticache_replication_group"
    )
    assert cache["values"]["auth_token"] == "[secret]"
    assert cache["sensitive_values"]["auth_token"] is True
    tags = [c for c in plan["resource_changes"] if c["type"] == "aws_autoscaling_group_tag"]
    assert tags and all(c["change"]["after_unknown"]["autoscaling_group_name"] is True for c in tags)
    assert all("autoscaling_group_name" not in c["change"]["after"] for c in tags)


def test_references_join_what_scanners_join() -> None:
    flow = references("prod", "aws_flow_log.core-use1-flow-logs")
    assert flow["vpc_id"] == ["aws_vpc.core-use1-vpc.id", "aws_vpc.core-use1-vpc"]
    assert flow["log_destination"][1] == "aws_cloudwatch_log_group.core-use1-flow-logs"
    nat = references("prod", "aws_nat_gateway.core-use1-nat-us-east-1a")
    assert nat["allocation_id"][1] == "aws_eip.core-use1-nat-us-east-1a"
    rule = references("prod", "aws_vpc_security_group_ingress_rule.core-use1-cache-valkey-10-16-0-0-19")
    assert rule["security_group_id"][1] == "aws_security_group.core-use1-cache"
    node_pool = references("prod", "google_container_node_pool.burst-usc1-h200-spot")
    assert node_pool == {
        "cluster": ["google_container_cluster.burst-usc1-gke.id", "google_container_cluster.burst-usc1-gke"]
    }


def test_a_name_shared_by_two_dependencies_goes_to_the_one_the_attribute_names() -> None:
    db = references("prod", "aws_rds_cluster.core-use1-db")
    assert db["db_subnet_group_name"] == [
        "aws_db_subnet_group.core-use1-db.name",
        "aws_db_subnet_group.core-use1-db",
    ]
    assert db["db_cluster_parameter_group_name"][1] == "aws_rds_cluster_parameter_group.core-use1-db"
    assert "engine" not in db, "a constant equal to a dependency's input is not a reference"


def test_kubernetes_objects_are_manifests_per_cluster() -> None:
    graph = planned("prod")
    files = manifests(graph)
    objects = [
        r
        for r in graph.resources
        if r.type.startswith("kubernetes:") and r.custom and not r.type.startswith("kubernetes:helm.sh/")
    ]
    assert len(files) == len(objects), "every object but the Helm releases, which are not rendered"
    assert {path.split("/")[0] for path in files} == {"core-use1", "core-usw2", "burst-usc1"}
    namespace = yaml.safe_load(files["core-use1/namespace-core-use1-inference.yaml"])
    assert namespace["apiVersion"] == "v1" and namespace["kind"] == "Namespace"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    onprem = manifests(planned("onprem"))
    # onprem's existing cluster gets add-ons, their network policies and the admission policy, but
    # no model servers (its accelerators are unknown).
    assert {path.split("/")[0] for path in onprem} == {"onprem-core", "burst-use2"}
    assert all(
        any(part in path for part in ("-addons-", "-netpol-", "-admission-"))
        for path in onprem
        if path.startswith("onprem-core/")
    )


def test_export_command(tmp_path: Any) -> None:
    out, k8s = tmp_path / "prod.json", tmp_path / "k8s"
    result = run("export", "prod", "--format", "tfplan", "--out", str(out), "--out-k8s", str(k8s))
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["planned_values"]["root_module"]["resources"]
    assert len(list(k8s.rglob("*.yaml"))) == len(manifests(planned("prod")))
    exported = len(export(planned("prod")).addresses)
    assert f"inferstack/prod: {exported} resources as Terraform plan" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("export", "prod", "--format", "hcl"), "allowed: tfplan"),
        (("export", "nosuch"), "Pulumi.nosuch.yaml"),
    ],
)
def test_export_bad_input_exits_2(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
