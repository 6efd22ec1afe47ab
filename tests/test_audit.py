"""Audit: the project's secret and key reads are recorded and kept for the stack's audit retention."""

from __future__ import annotations

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
