"""Identities, not keys: every workload that calls a cloud API has its own identity with listed
actions, and no credential is written into the graph (issue: zero trust, item 5)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from inferstack.engine import Graph, Resource
from tests.conftest import planned

STACKS = ("dev", "staging", "prod", "onprem")
CREDENTIAL = re.compile(r"(password|passwd|secret|token|apikey|api_key|privatekey|credential)", re.I)
NOT_CREDENTIALS = {
    "httpTokens": "IMDSv2 required, a setting",
    "authTokenUpdateStrategy": "how ElastiCache rotates, a setting",
    "secretId": "which secret a version belongs to",
    "secretKey": "the name of the key an ExternalSecret writes",
    "skipCredentialsValidation": "a provider switch",
}
"""Keys that look like credentials and are not: the name says what they hold instead."""


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def credential_literals(graph: Graph) -> list[str]:
    """Every input whose name says credential and whose value is a plain string in the graph."""
    found = []
    for resource in graph.resources:
        for path, value in _leaves(resource.inputs):
            leaf = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
            if not isinstance(value, str) or not CREDENTIAL.search(leaf) or leaf in NOT_CREDENTIALS:
                continue
            if value == "[secret]" or leaf.endswith(("Arn", "KmsKeyId", "arn", "_ARN")):
                continue
            found.append(f"{resource.type} {resource.name}: {path}")
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_no_credential_is_written_into_the_graph(stack: str) -> None:
    graph = planned(stack)
    assert credential_literals(graph) == []
    # Secrets reach pods only through External Secrets: the program writes no Secret object itself.
    assert graph.of_type("kubernetes:core/v1:Secret") == []


def test_the_credential_check_catches_a_literal_password() -> None:
    graph = planned("prod")
    (cluster, *_) = graph.of_type("aws:rds/cluster:Cluster")
    leaked = Resource(**{**vars(cluster), "inputs": {**cluster.inputs, "masterPassword": "hunter2"}})
    changed = Graph.__new__(Graph)
    changed.__dict__.update(vars(graph))
    changed.resources = [leaked if r is cluster else r for r in graph.resources]
    assert credential_literals(changed) == [f"{cluster.type} {cluster.name}: masterPassword"]


@pytest.mark.parametrize("stack", STACKS)
def test_kubeconfigs_carry_no_credential(stack: str) -> None:
    """An EKS provider's kubeconfig asks the AWS CLI for a short-lived token; it holds none."""
    providers = [p for p in planned(stack).of_type("pulumi:providers:kubernetes") if "EksCluster" in p.urn]
    if stack != "onprem":
        assert providers
    for provider in providers:
        config = json.loads(provider.inputs["kubeconfig"])
        (user,) = config["users"]
        assert set(user["user"]) == {"exec"}, user["user"].keys()


def _policy_actions(document: str) -> list[str]:
    statements = json.loads(document)["Statement"]
    return [a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_pod_identity_lists_its_actions(stack: str) -> None:
    """Each association's role is the workload's own, with inline policies naming every action: no
    wildcard action and no AWS managed policy, whose contents change without the program."""
    graph = planned(stack)
    index = graph.by_urn()
    associations = graph.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert associations
    roles_seen: set[str] = set()
    for association in associations:
        (role,) = [index[u] for u in association.dependencies if index[u].type == "aws:iam/role:Role"]
        assert role.urn not in roles_seen, f"{role.name} serves two workloads"
        roles_seen.add(role.urn)
        policies = [p for p in graph.of_type("aws:iam/rolePolicy:RolePolicy") if role.urn in p.dependencies]
        assert policies, f"{association.name}: role without an inline policy"
        actions = [a for p in policies for a in _policy_actions(p.inputs["policy"])]
        assert actions and not [a for a in actions if "*" in a], (association.name, actions)
        attached = [
            a
            for a in graph.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if role.urn in a.dependencies
        ]
        assert attached == [], (
            f"{association.name}: managed policies {[a.inputs['policyArn'] for a in attached]}"
        )


BROAD_GCP_ROLES = {"roles/owner", "roles/editor", "roles/viewer", "roles/iam.serviceAccountAdmin"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_gke_workload_identity_has_narrow_roles(stack: str) -> None:
    graph = planned(stack)
    index = graph.by_urn()
    bindings = [
        b
        for b in graph.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if b.inputs["role"] == "roles/iam.workloadIdentityUser"
    ]
    assert bindings
    for binding in bindings:
        assert re.fullmatch(
            r"serviceAccount:[a-z0-9-]+\.svc\.id\.goog\[[a-z0-9-]+/[a-z0-9-]+\]", binding.inputs["member"]
        )
        (account,) = [
            index[u] for u in binding.dependencies if index[u].type == "gcp:serviceaccount/account:Account"
        ]
        grants = [
            g for g in graph.of_type("gcp:projects/iAMMember:IAMMember") if account.urn in g.dependencies
        ]
        assert grants, f"{account.name} acts as a workload but holds no role"
        assert not {g.inputs["role"] for g in grants} & BROAD_GCP_ROLES
