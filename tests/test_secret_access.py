"""Every secret a pod is handed through External Secrets is one its cluster's secret store may read.

An ExternalSecret whose remote key the store's role cannot read (or whose key it cannot decrypt)
leaves the Kubernetes Secret unwritten, and every pod that takes it through ``envFrom`` stays in
CreateContainerConfigError: the gateway would never start on a core cluster. The Aurora master
secret and the Redis AUTH token are named by the services, outside the stack's prefix, so the role
is granted them by ARN, with ``kms:Decrypt`` on the customer managed keys that encrypt them.
"""

from __future__ import annotations

import copy
import json
from fnmatch import fnmatchcase
from typing import Any

import pytest

from inferstack.engine import Graph, Resource
from tests.conftest import planned

ESO_ROLE_POLICY = "{cluster}-addons-external-secrets"
SUFFIX = "-AbC123"
"""Secrets Manager appends six random characters to a secret's ARN."""


def _cluster_of(graph: Graph, resource: Resource) -> str:
    provider = graph.by_urn()[resource.provider or ""]
    assert provider.name.endswith("-k8s"), provider.name
    return provider.name.removesuffix("-k8s")


def _aws_clusters(graph: Graph) -> dict[str, str]:
    """EKS cluster name (the stack's) -> region."""
    out: dict[str, str] = {}
    for policy in graph.of_type("aws:iam/rolePolicy:RolePolicy"):
        if policy.name.endswith("-addons-external-secrets"):
            region = graph.region_of(policy)
            assert region is not None
            out[policy.name.removesuffix("-addons-external-secrets")] = region
    return out


def _allowed(policy: dict[str, Any], action: str) -> list[str]:
    found: list[str] = []
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow" and action in statement["Action"]:
            resources = statement["Resource"]
            found.extend([resources] if isinstance(resources, str) else resources)
    return found


def _secret_arn(key: str, region: str) -> str:
    """The ARN a remote key names: an ARN as written, a name as Secrets Manager's ARN for it."""
    return (
        key
        if key.startswith("arn:")
        else f"arn:aws:secretsmanager:{region}:123456789012:secret:{key}{SUFFIX}"
    )


def _secret_keys(graph: Graph, region: str) -> dict[str, str]:
    """The ARN of every Secret the stack creates, as served in ``region`` -> the key encrypting it there."""
    out: dict[str, str] = {}
    for secret in graph.of_type("aws:secretsmanager/secret:Secret"):
        home = graph.region_of(secret)
        keys: dict[str | None, Any] = {home: secret.inputs.get("kmsKeyId")}
        keys.update({r["region"]: r.get("kmsKeyId") for r in secret.inputs.get("replicas") or []})
        if keys.get(region):
            out[f"arn:aws:secretsmanager:{region}:123456789012:{secret.name}"] = keys[region]
    return out


def unreadable(graph: Graph) -> list[str]:
    """Every (cluster, remote key) whose secret the cluster's External Secrets role cannot read."""
    clusters = _aws_clusters(graph)
    policies = {
        name: json.loads(
            next(
                p
                for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")
                if p.name == ESO_ROLE_POLICY.format(cluster=name)
            ).inputs["policy"]
        )
        for name in clusters
    }
    problems: list[str] = []
    for external in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret"):
        cluster = _cluster_of(graph, external)
        if cluster not in clusters:
            continue
        region, policy = clusters[cluster], policies[cluster]
        readable = _allowed(policy, "secretsmanager:GetSecretValue")
        decryptable = _allowed(policy, "kms:Decrypt")
        keys = _secret_keys(graph, region)
        for entry in external.inputs["spec"]["data"]:
            arn = _secret_arn(entry["remoteRef"]["key"], region)
            if not any(fnmatchcase(arn, pattern) for pattern in readable):
                problems.append(f"{cluster}: {external.name} cannot read {arn}")
            if arn in keys and keys[arn] not in decryptable:
                problems.append(f"{cluster}: {external.name} cannot decrypt {arn} ({keys[arn]})")
    return problems


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_external_secret_on_eks_is_readable_by_its_store(stack: str) -> None:
    graph = planned(stack)
    externals = [
        e
        for e in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
        if _cluster_of(graph, e) in _aws_clusters(graph)
    ]
    assert externals, f"{stack} has no ExternalSecret on an EKS cluster"
    assert unreadable(graph) == []


def test_prod_core_gateways_read_the_database_and_redis_secrets_by_arn() -> None:
    """The data layer's secrets are among what is checked (the check is not only over the prefix)."""
    graph = planned("prod")
    remote = {
        entry["remoteRef"]["key"]
        for e in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
        if e.name.startswith("core-use1-")
        for entry in e.inputs["spec"]["data"]
    }
    assert any(k.endswith(":database-master") for k in remote), remote
    assert any(k.endswith(":core-use1-cache-auth") for k in remote), remote


def _without_statement(graph: Graph, sid: str) -> Graph:
    changed = copy.deepcopy(graph)
    for policy in changed.of_type("aws:iam/rolePolicy:RolePolicy"):
        if policy.name.endswith("-addons-external-secrets"):
            document = json.loads(policy.inputs["policy"])
            document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]
            policy.inputs["policy"] = json.dumps(document)
    return changed


@pytest.mark.parametrize(
    ("sid", "message"),
    [
        (
            "ReadTheDataLayersSecrets",
            "cannot read arn:aws:secretsmanager:us-east-1:123456789012:database-master",
        ),
        (
            "DecryptTheDataLayersSecrets",
            "cannot decrypt arn:aws:secretsmanager:us-east-1:123456789012:core-use1-cache-auth",
        ),
        (
            "ReadThisStacksSecrets",
            "cannot read arn:aws:secretsmanager:us-east-1:123456789012:secret:inferstack/prod/gateway-master-key",
        ),
    ],
)
def test_the_check_catches_a_missing_grant(sid: str, message: str) -> None:
    problems = unreadable(_without_statement(planned("prod"), sid))
    assert any(message in p for p in problems), problems


def test_a_cross_region_secret_is_not_readable() -> None:
    """A store reads its own region only: the primary's ARN is no use to a secondary's cluster."""
    problems = unreadable(planned("prod"))
    assert problems == []
    graph = copy.deepcopy(planned("prod"))
    for external in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret"):
        if external.name == "core-usw2-gateway-litellm-database":
            for entry in external.inputs["spec"]["data"]:
                entry["remoteRef"]["key"] = entry["remoteRef"]["key"].replace("us-west-2", "us-east-1")
    assert any("core-usw2" in p and "cannot read" in p for p in unreadable(graph))
