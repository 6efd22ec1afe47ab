"""The model store of one GCP region: the bucket the model servers stream their weights from.

Creates, in the region:
- a Cloud KMS key ring and key (rotated every 90 days) that the project's Cloud Storage service
  agent may use, and a bucket whose default key it is (CMEK: Cloud Storage docs, "Use
  customer-managed encryption keys"), with uniform bucket-level access (no object ACLs), public
  access prevention enforced, versioning, and lifecycle rules that delete superseded copies of
  the weights and abandoned multipart uploads;
- per GKE cluster that serves from it, roles/storage.objectViewer on that bucket only, granted to
  the model servers' Kubernetes service account itself through Workload Identity Federation for
  GKE: the principal
  principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/PROJECT_ID.svc.id.goog/subject/ns/NAMESPACE/sa/KSA
  (GKE docs, "Authenticate to Google Cloud APIs from GKE workloads": the current documented form,
  with no Google service account to impersonate and no annotation on the Kubernetes one).

Readers need nothing on the key: Cloud Storage decrypts with its service agent. The pods reach
the bucket through Private Google Access on the nodes' subnet and get their token from the GKE
metadata server (node pools run GKE_METADATA), which answers for the pod's Kubernetes service
account without a token mounted in the pod: the model servers keep automountServiceAccountToken
false.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from infra.naming import AUTONAMED_MAX, resource_name

KEY_ROTATION = "7776000s"
"""90 days: the longest rotation period CIS GCP 1.10 / CKV_GCP_43 accept (as the GKE secrets key)."""
NONCURRENT_DAYS = 30
"""Superseded copies of the weights are kept this long: long enough to roll back a bad re-upload."""


def workload_principal(*, project_number: str, project: str, namespace: str, service_account: str) -> str:
    """The IAM principal of every pod that runs as ``namespace/service_account`` in this project's clusters."""
    return (
        f"principal://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/"
        f"{project}.svc.id.goog/subject/ns/{namespace}/sa/{service_account}"
    )


@dataclass(frozen=True, kw_only=True)
class GkeReader:
    """A Kubernetes service account of one GKE cluster whose pods may read the store."""

    name: str
    """Logical name of the reader (the cluster's name)."""
    cluster_name: pulumi.Input[str]
    """The GKE cluster's name: the grant waits for the cluster, which creates the workload pool."""
    namespace: str
    service_account: str


@dataclass(frozen=True, kw_only=True)
class GcpModelStoreArgs:
    project: str
    region: str
    """Where the bucket and its key live: next to the clusters that read it."""
    readers: Sequence[GkeReader]
    labels: Mapping[str, str] = field(default_factory=dict)
    protect: bool = False
    """Keep the bucket and key from `pulumi destroy` (prod): refilling a store takes hours."""

    def __post_init__(self) -> None:
        if not self.readers:
            raise ValueError(
                f"GcpModelStoreArgs({self.region}).readers: empty; a store nobody reads is waste"
            )


class GcpModelStore(pulumi.ComponentResource):
    """A private, CMEK-encrypted, versioned bucket of model weights, readable only by the serving pods."""

    bucket_name: pulumi.Output[str]
    key_id: pulumi.Output[str]

    def __init__(self, name: str, args: GcpModelStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("inferstack:gcp:ModelStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect)
        labels = {**args.labels, "component": "model-store"}
        ring = gcp.kms.KeyRing(
            resource_name(name, "ring", max_len=AUTONAMED_MAX),
            project=args.project,
            location=args.region,
            opts=kept,
        )
        key = gcp.kms.CryptoKey(
            resource_name(name, "key", max_len=AUTONAMED_MAX),
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=KEY_ROTATION,
            labels=labels,
            opts=kept,
        )
        agent = gcp.storage.get_project_service_account_output(
            project=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        agent_grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-storage-agent",
            crypto_key_id=key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=agent.email_address.apply(lambda email: f"serviceAccount:{email}"),
            opts=child,
        )
        bucket = gcp.storage.Bucket(
            name,
            project=args.project,
            location=args.region.upper(),
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=key.id),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_noncurrent_time=NONCURRENT_DAYS, with_state="ARCHIVED"
                    ),
                ),
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=7),
                ),
            ],
            force_destroy=False,
            labels=labels,
            # Cloud Storage checks at creation that its agent may use the default key.
            opts=pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(depends_on=[agent_grant])),
        )
        project = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        for reader in args.readers:
            gcp.storage.BucketIAMMember(
                f"{reader.name}-model-reader",
                bucket=bucket.name,
                role="roles/storage.objectViewer",
                member=pulumi.Output.all(project.number, reader.cluster_name).apply(
                    lambda a, r=reader: workload_principal(
                        project_number=str(a[0]),
                        project=args.project,
                        namespace=r.namespace,
                        service_account=r.service_account,
                    )
                ),
                opts=child,
            )
        self.bucket_name = bucket.name
        self.key_id = key.id
        self.register_outputs({"bucket": bucket.name, "keyId": key.id})
