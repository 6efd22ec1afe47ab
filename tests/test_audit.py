"""Audit: the project's secret and key reads are recorded and kept for the stack's audit retention."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inferstack.engine import Graph
from tests.conftest import stack_variant

AUDIT_CONFIG = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
BUCKET = "gcp:logging/projectBucketConfig:ProjectBucketConfig"
SINK = "gcp:logging/projectSink:ProjectSink"


def test_gcp_data_access_is_audited_for_secrets_and_keys(prod: Graph) -> None:
    configs = {c.inputs["service"]: c for c in prod.of_type(AUDIT_CONFIG)}
    assert sorted(configs) == ["cloudkms.googleapis.com", "secretmanager.googleapis.com"]
    for config in configs.values():
        types = sorted(c["logType"] for c in config.inputs["auditLogConfigs"])
        assert types == ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]
    (bucket,) = prod.of_type(BUCKET)
    assert {c.inputs["project"] for c in configs.values()} == {bucket.inputs["project"]}


def test_the_audit_entries_are_kept_for_the_retention(prod: Graph) -> None:
    (bucket,) = prod.of_type(BUCKET)
    assert bucket.inputs["retentionDays"] == 2557  # prod: security.auditRetentionDays
    assert bucket.inputs["location"] == "global"
    (sink,) = prod.of_type(SINK)
    assert "cloudaudit.googleapis.com%2Fdata_access" in sink.inputs["filter"]
    assert '"secretmanager.googleapis.com"' in sink.inputs["filter"]
    assert '"cloudkms.googleapis.com"' in sink.inputs["filter"]
    assert sink.dependencies and bucket.urn in sink.dependencies


def test_the_retention_follows_the_setting(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = stack_variant(
        tmp_path_factory,
        "prod",
        "    auditRetentionDays: 2557\n",
        "    auditRetentionDays: 3653\n",
    )
    (bucket,) = graph.of_type(BUCKET)
    # Cloud Logging keeps at most 3650 days; the setting allows a few more for CloudTrail's bucket.
    assert bucket.inputs["retentionDays"] == 3650


def test_a_stack_without_gcp_has_no_gcp_audit(onprem: Graph) -> None:
    assert not [r for r in onprem.resources if r.type in (AUDIT_CONFIG, BUCKET, SINK)]


TRAIL = "aws:cloudtrail/trail:Trail"
KMS_KEY = "aws:kms/key:Key"
S3_BUCKET = "aws:s3/bucket:Bucket"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _audit(graph: Graph, token: str, suffix: str = "") -> dict[str, Any]:
    (found,) = [r for r in graph.of_type(token) if r.name.startswith("aws-audit") and r.name.endswith(suffix)]
    return found.inputs


def _trail_arn(graph: Graph) -> str:
    """The trail's ARN as the key policy names it (the trail's own ARN is an output)."""
    key = json.loads(_audit(graph, KMS_KEY)["policy"])
    (encrypt,) = [s for s in key["Statement"] if s["Sid"] == "CloudTrailEncryptsThisTrailsLogs"]
    return encrypt["Condition"]["StringEquals"]["aws:SourceArn"]


def _records(trail: dict[str, Any], home: str, arn: str) -> bool:
    """Whether the trail writes down a read of the secret or key ``arn``: a read-only management event of
    its service, in its region, in the trail's account (https://docs.aws.amazon.com/kms/latest/
    developerguide/ct-generatedatakey.html: KMS reads are management events; Secrets Manager's likewise)."""
    _, _, service, region, account, _ = arn.split(":", 5)
    _, _, _, trail_region, trail_account, _ = home.split(":", 5)
    if account != trail_account or not (trail["isMultiRegionTrail"] or region == trail_region):
        return False
    for selector in trail["advancedEventSelectors"]:
        fields = {f["field"]: f for f in selector["fieldSelectors"]}
        if fields.get("eventCategory", {}).get("equals") != ["Management"]:
            continue
        read_only = fields.get("readOnly", {}).get("equals")
        source = fields.get("eventSource", {})
        if read_only not in (None, ["true"]):
            continue
        if f"{service}.amazonaws.com" in source.get("notEquals", []) or source.get(
            "equals", [f"{service}.amazonaws.com"]
        ) != [f"{service}.amazonaws.com"]:
            continue
        return True
    return False


def _external_secrets_reads(graph: Graph) -> list[str]:
    """Every secret and key ARN the External Secrets roles may read, from their policies in the graph."""
    arns: list[str] = []
    for policy in graph.of_type(ROLE_POLICY):
        if not policy.name.endswith("-addons-external-secrets"):
            continue
        for statement in json.loads(policy.inputs["policy"])["Statement"]:
            resources = statement["Resource"]
            arns += [resources] if isinstance(resources, str) else resources
    return arns


def test_one_trail_records_every_region_signed_and_encrypted(prod: Graph) -> None:
    trail = _audit(prod, TRAIL)
    assert trail["isMultiRegionTrail"] is True
    assert trail["includeGlobalServiceEvents"] is True
    assert trail["enableLogFileValidation"] is True
    assert trail["enableLogging"] is True
    # The mocks give a key the ARN arn:aws:kms:<region>:<account>:<name>: the trail's key is the audit key.
    assert trail["kmsKeyId"] == "arn:aws:kms:us-east-1:123456789012:aws-audit-key"
    assert _trail_arn(prod) == f"arn:aws:cloudtrail:us-east-1:123456789012:trail/{trail['name']}"
    key = _audit(prod, KMS_KEY)
    assert key["enableKeyRotation"] is True


def test_every_secret_and_key_external_secrets_reads_is_on_record(prod: Graph) -> None:
    reads = _external_secrets_reads(prod)
    services = {arn.split(":")[2] for arn in reads}
    assert services == {"secretsmanager", "kms"}
    regions = {arn.split(":")[3] for arn in reads}
    assert regions == {"us-east-1", "us-west-2"}, "both core regions' secrets"
    trail, home = _audit(prod, TRAIL), _trail_arn(prod)
    missed = [arn for arn in reads if not _records(trail, home, arn)]
    assert not missed


@pytest.mark.parametrize(
    "change",
    [
        {"isMultiRegionTrail": False},
        {"advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": ["Data"]}]}]},
        {
            "advancedEventSelectors": [
                {
                    "fieldSelectors": [
                        {"field": "eventCategory", "equals": ["Management"]},
                        {"field": "readOnly", "equals": ["false"]},
                    ]
                }
            ]
        },
        {
            "advancedEventSelectors": [
                {
                    "fieldSelectors": [
                        {"field": "eventCategory", "equals": ["Management"]},
                        {"field": "eventSource", "notEquals": ["kms.amazonaws.com"]},
                    ]
                }
            ]
        },
    ],
)
def test_a_trail_that_drops_a_read_misses_a_secret_or_key(prod: Graph, change: dict[str, Any]) -> None:
    """The check above can fail: a single-region trail, data events only, writes only, KMS excluded."""
    trail = {**_audit(prod, TRAIL), **change}
    reads = _external_secrets_reads(prod)
    assert reads
    assert [arn for arn in reads if not _records(trail, _trail_arn(prod), arn)]


def test_the_log_bucket_is_private_versioned_encrypted_and_kept_for_the_retention(prod: Graph) -> None:
    bucket = [b for b in prod.of_type(S3_BUCKET) if b.name == "aws-audit-logs"]
    assert len(bucket) == 1
    blocks = _audit(prod, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert {k: v for k, v in blocks.items() if k != "bucket"} == {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    versions = _audit(prod, "aws:s3/bucketVersioning:BucketVersioning")
    assert versions["versioningConfiguration"]["status"] == "Enabled"
    (rule,) = _audit(
        prod, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == _audit(prod, TRAIL)["kmsKeyId"]
    (lifecycle,) = _audit(prod, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["rules"]
    assert lifecycle["expiration"] == {"days": 2557}  # prod: security.auditRetentionDays


def test_only_this_trail_writes_to_the_bucket_and_only_over_tls(prod: Graph) -> None:
    policy = json.loads(_audit(prod, "aws:s3/bucketPolicy:BucketPolicy")["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert set(by_sid) == {"DenyPlainHttp", "CloudTrailChecksTheAcl", "CloudTrailWritesLogs"}
    assert by_sid["DenyPlainHttp"]["Effect"] == "Deny"
    assert by_sid["DenyPlainHttp"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    trail = _trail_arn(prod)
    for sid in ("CloudTrailChecksTheAcl", "CloudTrailWritesLogs"):
        statement = by_sid[sid]
        assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceArn"] == trail
    assert by_sid["CloudTrailWritesLogs"]["Resource"].endswith("/AWSLogs/123456789012/*")


def test_the_trails_retention_follows_the_setting(tmp_path_factory: pytest.TempPathFactory) -> None:
    graph = stack_variant(
        tmp_path_factory,
        "prod",
        "    auditRetentionDays: 2557\n",
        "    auditRetentionDays: 3653\n",
    )
    (lifecycle,) = _audit(graph, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["rules"]
    assert lifecycle["expiration"] == {"days": 3653}
