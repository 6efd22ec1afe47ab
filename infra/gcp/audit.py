"""GCP audit: who read which secret and used which key, kept for the stack's audit retention.

Admin Activity audit logs are always on; Data Access audit logs are off by default for most
services (https://cloud.google.com/logging/docs/audit, "Data Access audit logs"). This component
turns them on, for the project, for the two services that hold the platform's credentials:

- an IAM audit config (``google_project_iam_audit_config``, pulumi_gcp ``projects.IAMAuditConfig``)
  per service, secretmanager.googleapis.com and cloudkms.googleapis.com, with ADMIN_READ,
  DATA_READ and DATA_WRITE;
- a log bucket (``logging.ProjectBucketConfig``) that keeps them ``security.auditRetentionDays``,
  and a sink (``logging.ProjectSink``) routing those services' data-access entries into it. The
  ``_Default`` bucket keeps its own 30 days as well; the sink adds the long copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

AUDITED_SERVICES: tuple[str, ...] = ("cloudkms.googleapis.com", "secretmanager.googleapis.com")
LOG_TYPES: tuple[str, ...] = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")


@dataclass(frozen=True, kw_only=True)
class ProjectAuditArgs:
    project: str
    """The stack's GCP project."""
    bucket_id: str
    """The log bucket's id (letters, digits, '-', '_', '.'; at most 100)."""
    retention_days: int
    """How long the bucket keeps the entries (``security.auditRetentionDays``)."""
    services: Sequence[str] = AUDITED_SERVICES


def sink_filter(project: str, services: Sequence[str]) -> str:
    """The data-access entries of ``services`` in ``project`` (Logging query language)."""
    names = " OR ".join(f'"{s}"' for s in sorted(services))
    return (
        f'logName="projects/{project}/logs/cloudaudit.googleapis.com%2Fdata_access" '
        f"AND protoPayload.serviceName=({names})"
    )


class ProjectAudit(pulumi.ComponentResource):
    """Data Access audit logs for the project's secrets and keys, in a bucket of their own."""

    bucket: gcp.logging.ProjectBucketConfig

    def __init__(self, name: str, args: ProjectAuditArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:gcp:ProjectAudit", name, None, opts)
        if not 1 <= args.retention_days <= 3650:
            # Cloud Logging keeps a bucket's entries 1 to 3650 days.
            raise ValueError(f"ProjectAuditArgs.retention_days={args.retention_days}: allowed 1..3650")
        child = pulumi.ResourceOptions(parent=self)
        for service in args.services:
            gcp.projects.IAMAuditConfig(
                f"{name}-{service.split('.')[0]}",
                project=args.project,
                service=service,
                audit_log_configs=[
                    gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type=t) for t in LOG_TYPES
                ],
                opts=child,
            )
        self.bucket = gcp.logging.ProjectBucketConfig(
            f"{name}-bucket",
            project=args.project,
            location="global",
            bucket_id=args.bucket_id,
            retention_days=args.retention_days,
            description="Data Access audit logs of Secret Manager and Cloud KMS",
            opts=child,
        )
        gcp.logging.ProjectSink(
            f"{name}-sink",
            project=args.project,
            destination=self.bucket.name.apply(lambda bucket: f"logging.googleapis.com/{bucket}"),
            filter=sink_filter(args.project, args.services),
            unique_writer_identity=True,
            description="Secret Manager and Cloud KMS data access, kept for the audit retention",
            opts=child,
        )
        self.register_outputs({"bucket": self.bucket.name})
