"""The model stores: one per serving region, private, encrypted with a key of their own, versioned,
and readable by the model servers' identities only."""

from __future__ import annotations

import json

import pytest

from inferstack.engine import Graph, Resource
from tests.conftest import planned

BUCKET = "aws:s3/bucket:Bucket"
GCS = "gcp:storage/bucket:Bucket"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
GCS_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"


def _on(graph: Graph, bucket: Resource, token: str) -> list[Resource]:
    """The resources of ``token`` that configure ``bucket`` (they depend on it)."""
    return [r for r in graph.of_type(token) if bucket.urn in r.dependencies]


def _aws_buckets(graph: Graph) -> list[Resource]:
    return [b for b in graph.of_type(BUCKET) if b.name.startswith("models-")]


@pytest.mark.parametrize(
    ("stack", "aws", "gcp"),
    [
        ("dev", ["us-east-1"], ["us-central1"]),
        ("staging", ["us-east-1"], ["us-east4"]),
        ("prod", ["us-east-1", "us-west-2"], ["us-central1"]),
        ("onprem", ["us-east-2"], []),
    ],
)
def test_a_store_per_region_that_serves(stack: str, aws: list[str], gcp: list[str]) -> None:
    graph = planned(stack)
    assert sorted(b.name for b in _aws_buckets(graph)) == [f"models-{r}" for r in aws]
    assert sorted(b.name for b in graph.of_type(GCS) if b.name.startswith("models-")) == [
        f"models-{r}" for r in gcp
    ]
    assert sorted(graph.outputs["modelStores"]) == sorted(
        [*(f"aws:{r}" for r in aws), *(f"gcp:{r}" for r in gcp)]
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_s3_stores_are_private_encrypted_versioned_and_tls_only(stack: str) -> None:
    graph = planned(stack)
    buckets = _aws_buckets(graph)
    assert buckets
    for bucket in buckets:
        (block,) = _on(graph, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        assert all(
            block.inputs[k] is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        (owner,) = _on(graph, bucket, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
        assert owner.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        (versions,) = _on(graph, bucket, "aws:s3/bucketVersioning:BucketVersioning")
        assert versions.inputs["versioningConfiguration"]["status"] == "Enabled"
        (sse,) = _on(
            graph,
            bucket,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        )
        (rule,) = sse.inputs["rules"]
        default = rule["applyServerSideEncryptionByDefault"]
        assert default["sseAlgorithm"] == "aws:kms"
        (key,) = [k for k in graph.of_type("aws:kms/key:Key") if k.urn in sse.dependencies]
        assert key.inputs["enableKeyRotation"] is True and key.parent == bucket.parent
        (lifecycle,) = _on(graph, bucket, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        assert lifecycle.inputs["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"] >= 1
        (policy,) = _on(graph, bucket, "aws:s3/bucketPolicy:BucketPolicy")
        (deny,) = json.loads(policy.inputs["policy"])["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert bucket.protect is (stack == "prod")


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_only_the_model_servers_of_the_region_s_clusters_read_an_s3_store(stack: str) -> None:
    graph = planned(stack)
    buckets = _aws_buckets(graph)
    assert buckets
    for bucket in buckets:
        region = bucket.name.removeprefix("models-")
        readers = [p for p in graph.of_type("aws:iam/rolePolicy:RolePolicy") if bucket.urn in p.dependencies]
        clusters = {name for name, c in graph.outputs["clusters"].items() if c["region"] == region}
        assert {p.name.removesuffix("-model-reader-read") for p in readers} == clusters
        for policy in readers:
            statements = json.loads(policy.inputs["policy"])["Statement"]
            assert sorted(s["Action"] for s in statements) == ["kms:Decrypt", "s3:GetObject", "s3:ListBucket"]
            assert all(s["Effect"] == "Allow" for s in statements)
            (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.urn in policy.dependencies]
            (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
            assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
            (association,) = [a for a in graph.of_type(ASSOCIATION) if role.urn in a.dependencies]
            assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
                "serving",
                "model-server",
            )
            (eks,) = [
                c for c in graph.of_type("aws:eks/cluster:Cluster") if c.urn in association.dependencies
            ]
            assert eks.name == policy.name.removesuffix("-model-reader-read")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_gcs_stores_are_private_encrypted_versioned_and_read_by_the_serving_account_only(stack: str) -> None:
    graph = planned(stack)
    buckets = [b for b in graph.of_type(GCS) if b.name.startswith("models-")]
    assert buckets
    for bucket in buckets:
        assert bucket.inputs["uniformBucketLevelAccess"] is True
        assert bucket.inputs["publicAccessPrevention"] == "enforced"
        assert bucket.inputs["versioning"] == {"enabled": True}
        (key,) = [k for k in graph.of_type("gcp:kms/cryptoKey:CryptoKey") if k.urn in bucket.dependencies]
        assert key.inputs["rotationPeriod"] == "7776000s"
        actions = {rule["action"]["type"] for rule in bucket.inputs["lifecycleRules"]}
        assert actions == {"Delete", "AbortIncompleteMultipartUpload"}
        members = _on(graph, bucket, GCS_MEMBER)
        assert members
        for member in members:
            assert member.inputs["role"] == "roles/storage.objectViewer"
            assert member.inputs["member"].startswith("principal://iam.googleapis.com/projects/")
            assert member.inputs["member"].endswith(
                f"workloadIdentityPools/{'acme-inference-' + stack}.svc.id.goog/subject/ns/serving/sa/model-server"
            )
        # No other grant on the bucket, for anyone.
        assert [m for m in graph.of_type(GCS_MEMBER) if m.inputs["bucket"] == bucket.name] == members
