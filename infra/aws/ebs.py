"""What the EBS CSI driver may do in the account, as a policy document built from data.

The driver is the EKS managed add-on ``aws-ebs-csi-driver`` (infra/aws/eks.py): without it no
PersistentVolumeClaim on an EKS cluster is ever bound, since EKS 1.23 and later ship no in-tree
EBS provisioner (https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html). Its controller runs
as ``CONTROLLER_SERVICE_ACCOUNT`` and gets its role through EKS Pod Identity.

The policy is the driver's published example policy (kubernetes-sigs/aws-ebs-csi-driver v1.64.0,
docs/example-iam-policy.json) with the partition filled in, inline rather than the AWS managed
AmazonEBSCSIDriverPolicy: every pod identity lists its actions in the program, and a managed
policy's contents change without it (tests/test_identities.py). Creating and deleting volumes and
snapshots is limited, as upstream does, to those the driver tags (``ebs.csi.aws.com/cluster``,
``CSIVolumeName``, ``kubernetes.io/created-for/pvc/name``). Volumes are encrypted with the account's
EBS key (the StorageClass's ``encrypted: "true"``, no ``kmsKeyId``), which needs no KMS grant here.
"""

from __future__ import annotations

from typing import Any

ADDON = "aws-ebs-csi-driver"
CONTROLLER_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
"""The controller's service account in kube-system (the driver's docs/install.md at v1.64.0)."""
PROVISIONER = "ebs.csi.aws.com"

DESCRIBE: tuple[str, ...] = (
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeSnapshots",
    "ec2:DescribeTags",
    "ec2:DescribeVolumes",
    "ec2:DescribeVolumesModifications",
    "ec2:DescribeVolumeStatus",
)


def _allow(
    actions: list[str], resource: str | list[str], condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resource}
    if condition is not None:
        statement["Condition"] = condition
    return statement


def driver_policy(partition: str) -> dict[str, Any]:
    """The controller's rights: describe, attach and detach, and create, tag, resize, snapshot and
    delete only the volumes and snapshots it tags as its own."""
    volume = f"arn:{partition}:ec2:*:*:volume/*"
    snapshot = f"arn:{partition}:ec2:*:*:snapshot/*"
    instance = f"arn:{partition}:ec2:*:*:instance/*"
    like = "StringLike"
    return {
        "Version": "2012-10-17",
        "Statement": [
            _allow(list(DESCRIBE), "*"),
            _allow(["ec2:CreateSnapshot", "ec2:ModifyVolume"], volume),
            _allow(["ec2:CopyVolumes"], [f"arn:{partition}:ec2:*:*:volume/vol-*"]),
            _allow(["ec2:AttachVolume", "ec2:DetachVolume"], [volume, instance]),
            _allow(["ec2:CreateVolume", "ec2:EnableFastSnapshotRestores"], snapshot),
            _allow(
                ["ec2:CreateTags"],
                [volume, snapshot],
                {"StringEquals": {"ec2:CreateAction": ["CreateVolume", "CreateSnapshot", "CopyVolumes"]}},
            ),
            _allow(["ec2:DeleteTags"], [volume, snapshot]),
            _allow(
                ["ec2:CreateVolume", "ec2:CopyVolumes"],
                volume,
                {like: {"aws:RequestTag/ebs.csi.aws.com/cluster": "true"}},
            ),
            _allow(
                ["ec2:CreateVolume", "ec2:CopyVolumes"], volume, {like: {"aws:RequestTag/CSIVolumeName": "*"}}
            ),
            _allow(["ec2:DeleteVolume"], volume, {like: {"ec2:ResourceTag/ebs.csi.aws.com/cluster": "true"}}),
            _allow(["ec2:DeleteVolume"], volume, {like: {"ec2:ResourceTag/CSIVolumeName": "*"}}),
            _allow(
                ["ec2:DeleteVolume"],
                volume,
                {like: {"ec2:ResourceTag/kubernetes.io/created-for/pvc/name": "*"}},
            ),
            _allow(["ec2:CreateSnapshot"], snapshot, {like: {"aws:RequestTag/CSIVolumeSnapshotName": "*"}}),
            _allow(
                ["ec2:CreateSnapshot"], snapshot, {like: {"aws:RequestTag/ebs.csi.aws.com/cluster": "true"}}
            ),
            _allow(
                ["ec2:DeleteSnapshot", "ec2:LockSnapshot"],
                snapshot,
                {like: {"ec2:ResourceTag/CSIVolumeSnapshotName": "*"}},
            ),
            _allow(
                ["ec2:DeleteSnapshot", "ec2:LockSnapshot"],
                snapshot,
                {like: {"ec2:ResourceTag/ebs.csi.aws.com/cluster": "true"}},
            ),
        ],
    }
