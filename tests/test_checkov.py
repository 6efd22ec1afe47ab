"""Checkov on the export of every shipped stack, in one run per test session.

Under `make test` (and CI) Checkov must run: the Makefile installs it in .venv-checkov and sets
INFERSTACK_CHECKOV; a missing binary then fails. Run alone (pytest without make, no checkov
installed, CI unset) the module is skipped with a message that says how to run it.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferstack.engine import Graph, plan_stack
from inferstack.project import find_project
from inferstack.scan import CHECKOV_ENV, Scan, checkov_binary, load_skips, scan, stale, unevaluated, unlisted
from inferstack.tfplan import export, load_map
from tests.conftest import DEPLOYERS, ROOT, planned, prod_with_deployers

SHIPPED = ("dev", "staging", "prod", "onprem")
BOOTSTRAP = "bootstrap-acme"
"""The bootstrap project's stack (state bucket, secrets keys, CI roles), scanned beside the platform's."""
SCANNED = (*SHIPPED, BOOTSTRAP)
BAD = "prod-known-bad"
NO_REFERENCES = "prod-no-references"
WITH_DEPLOYERS = "prod-with-deployers"
"""prod with deployers listed: the only export in which the deployers' ingress rules exist."""
EKS, AURORA, CACHE = (
    "aws_eks_cluster.core-use1",
    "aws_rds_cluster.core-use1-db",
    ("aws_elasticache_replication_group.core-use1-cache"),
)
NAMED_CHECKS = {
    EKS: {"CKV_AWS_39", "CKV_AWS_38"},
    AURORA: {"CKV_AWS_96", "CKV_AWS_327"},
    CACHE: {"CKV_AWS_29", "CKV_AWS_30", "CKV_AWS_31"},
}


def _binary() -> Path:
    binary = checkov_binary(ROOT)
    if binary is not None and binary.exists():
        return binary
    if os.environ.get("CI") or os.environ.get(CHECKOV_ENV):
        pytest.fail(
            f"checkov is not installed at {binary or '.venv-checkov/bin/checkov'}; `make test` installs it"
        )
    pytest.skip("checkov is not installed here; `make test` installs it in .venv-checkov and runs these")


def known_bad(graph: Graph) -> Graph:
    """prod with a public EKS endpoint, an unencrypted Aurora cluster and a plaintext cache."""
    bad = copy.deepcopy(graph)
    bad.stack = BAD
    for r in bad.resources:
        if r.type == "aws:eks/cluster:Cluster" and r.name == "core-use1":
            r.inputs["vpcConfig"].update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])
        elif r.type == "aws:rds/cluster:Cluster" and r.name == "core-use1-db":
            r.inputs["storageEncrypted"] = False
            r.inputs.pop("kmsKeyId")
        elif r.type == "aws:elasticache/replicationGroup:ReplicationGroup" and r.name == "core-use1-cache":
            r.inputs.update(atRestEncryptionEnabled=False, transitEncryptionEnabled=False)
            for key in ("kmsKeyId", "authToken", "transitEncryptionMode"):
                r.inputs.pop(key)
    return bad


@pytest.fixture(scope="session")
def checkov(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    binary = _binary()
    graphs = {stack: planned(stack) for stack in SHIPPED}
    graphs[BOOTSTRAP] = plan_stack("acme", project=find_project(ROOT / "bootstrap"))
    graphs[BAD] = known_bad(planned("prod"))
    graphs[WITH_DEPLOYERS] = prod_with_deployers(tmp_path_factory)
    control = without_references(export(planned("prod")).plan)
    return scan(graphs, tmp_path_factory.mktemp("checkov"), binary, extra_plans={NO_REFERENCES: control})


def without_references(plan: dict[str, Any]) -> dict[str, Any]:
    """The same plan with every ``references`` dropped: the control for the join test."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "references"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return {**plan, "configuration": strip(plan["configuration"])}


def shipped_failures(result: Scan) -> list[Any]:
    return [f for f in result.failures() if f.stack in SCANNED]


def test_checkov_is_the_pinned_version_and_ran_every_stack_in_one_run(checkov: Scan) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"CHECKOV_VERSION := {checkov.version}\n" in makefile
    skips = yaml.safe_load((ROOT / "policies" / "checkov-skips.yaml").read_text(encoding="utf-8"))
    assert skips["checkov"] == checkov.version, "the skip list was reviewed against another Checkov"
    for stack in (*SCANNED, BAD):
        assert any(r.stack == stack and r.framework == "terraform_plan" for r in checkov.results), stack
    assert any(r.framework == "kubernetes" for r in checkov.results)


def test_every_failed_check_is_listed_with_a_reason(checkov: Scan) -> None:
    missing = unlisted(shipped_failures(checkov), load_skips())
    assert not missing, "failed checks not in policies/checkov-skips.yaml:\n" + "\n".join(
        f"  {f.stack} {f.check} {f.resource} ({f.name})" for f in missing
    )


def test_no_listed_skip_outlives_its_failure(checkov: Scan) -> None:
    gone = stale(shipped_failures(checkov), load_skips(), set(SCANNED))
    assert not gone, "skips that match no failure any more (delete them):\n" + "\n".join(
        f"  {skip.check} {skip.resource} on {stack}" for skip, stack in gone
    )


def test_skip_list_entries_are_reviewable() -> None:
    for skip in load_skips():
        assert skip.check.startswith(("CKV_", "CKV2_")), skip
        assert set(skip.stacks) <= set(SCANNED), skip
        assert len(skip.reason) >= 80, f"{skip.check}: a reviewer needs more than {skip.reason!r}"


def test_every_exported_resource_is_evaluated_by_some_check(checkov: Scan) -> None:
    shipped = Scan(
        version=checkov.version,
        seconds=checkov.seconds,
        results=checkov.results,
        exports={s: e for s, e in checkov.exports.items() if s in SCANNED},
        manifests={s: m for s, m in checkov.manifests.items() if s in SCANNED},
    )
    gaps = unevaluated(shipped)
    assert not gaps, (
        "exported resources no Checkov check evaluated: a wrong mapping, or mark the type "
        f"`unscanned` in inferstack/tfmap.yaml with the reason: {json.dumps(gaps, indent=1)}"
    )


JOINS = {
    "CKV2_AWS_11": "aws_vpc.",  # VPC flow logging: the flow log's vpc_id reference
    "CKV2_AWS_19": "aws_eip.",  # EIP attached: the NAT gateway's allocation_id reference
    "CKV2_AWS_5": "aws_security_group.",  # security group attached to something
}


def test_the_joins_scanners_make_resolve_through_references(checkov: Scan) -> None:
    """Graph checks that pass only when the configuration's references link two resources."""
    for stack in SHIPPED:
        exported = checkov.exports[stack].addresses.values()
        for check, prefix in JOINS.items():
            resources = {a for a in exported if a.startswith(prefix)}
            passed = {
                r.resource for r in checkov.results if r.stack == stack and r.check == check and r.passed
            }
            assert resources and resources <= passed, f"{stack} {check}: {sorted(resources - passed)}"
    for check, prefix in JOINS.items():
        failed = {
            r.resource
            for r in checkov.results
            if r.stack == NO_REFERENCES and r.check == check and not r.passed
        }
        assert any(a.startswith(prefix) for a in failed), (
            f"{check} passes without references: the test proves nothing"
        )


def test_the_known_bad_export_fails_the_named_checks(checkov: Scan) -> None:
    failed = {(r.resource, r.check) for r in checkov.results if r.stack == BAD and not r.passed}
    passed = {(r.resource, r.check) for r in checkov.results if r.stack == "prod" and r.passed}
    for address, checks in NAMED_CHECKS.items():
        for check in checks:
            assert (address, check) in failed, f"{check} did not fail on the known-bad {address}"
            assert (address, check) in passed, f"{check} does not pass on the shipped {address}"


def test_the_deployers_groups_and_rules_pass_every_check(checkov: Scan) -> None:
    """Described, attached to the cluster and not open to the internet, as Checkov reads them."""
    results = [r for r in checkov.results if r.stack == WITH_DEPLOYERS and "-deployers" in r.resource]
    rules = {r.resource for r in results if r.resource.startswith("aws_vpc_security_group_ingress_rule.")}
    groups = {r.resource for r in results if r.resource.startswith("aws_security_group.")}
    assert len(rules) == 2 * len(DEPLOYERS) and len(groups) == 2, sorted(rules | groups)
    assert {"CKV_AWS_23", "CKV2_AWS_5", "CKV_AWS_277"} <= {r.check for r in results}
    assert [f"{r.check} {r.resource}" for r in results if not r.passed] == []


def test_unscanned_types_have_no_check_of_their_own() -> None:
    """The `unscanned` marks hold for the installed Checkov: none of those types has a resource check."""
    binary = _binary()
    done = subprocess.run(
        [str(binary.parent / "python"), str(ROOT / "tests" / "checkov_registry.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    registry = json.loads(done.stdout)
    table = load_map()
    with_checks = set(registry["resource"])
    named = with_checks | set(registry["graph"])
    for row in table.types.values():
        if row.unscanned:
            assert row.tf not in with_checks, f"{row.tf} has Checkov checks now: drop `unscanned`"
        else:
            assert row.tf in named, f"{row.tf}: no Checkov check names this type; mapped wrongly?"
