"""The cloud identities of the add-ons that call cloud APIs, as policy documents built from data.

Pure functions of names and ARNs, so that the scoping rules are testable without Pulumi. The AWS
roles are assumed through EKS Pod Identity: the agent (an EKS add-on, infra/aws/eks.py) hands the
pods of one service account the credentials of the role associated with it, so no role trusts the
cluster's OIDC issuer and no service account carries an annotation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from infra.aws.nodegroups import AUTOSCALER

POD_IDENTITY_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
)
"""Trust of every Pod Identity role (Amazon EKS User Guide, "Create an IAM role for EKS Pod
Identity": the pods.eks.amazonaws.com principal, with sts:AssumeRole and sts:TagSession)."""

AUTOSCALER_READS: tuple[str, ...] = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
)
AUTOSCALER_WRITES: tuple[str, ...] = (
    "autoscaling:SetDesiredCapacity",
    "autoscaling:TerminateInstanceInAutoScalingGroup",
)
"""The cluster autoscaler's policy for auto-discovery (cluster-autoscaler 1.35.2,
cloudprovider/aws/README.md, "Full Cluster Autoscaler Features Policy", which adds
eks:DescribeNodegroup): the reads are Describe calls that take no resource; the writes are
what scales a group."""


def autoscaler_policy(*, partition: str, region: str, account_id: str, cluster_name: str) -> dict[str, Any]:
    """The autoscaler may resize and shrink only the Auto Scaling groups of ``cluster_name``.

    EKS tags the Auto Scaling group of every managed node group with
    ``k8s.io/cluster-autoscaler/<cluster>: owned`` (Amazon EKS User Guide, "Managed node groups":
    the groups are tagged for cluster autoscaler auto-discovery), the same tag the autoscaler
    discovers them by; the tag condition scopes the writes to those groups, as the autoscaler's
    README recommends ("using tag based conditionals"), and holds for groups EKS replaces. The
    resource names the account's groups in the cluster's region, and the one read that takes a
    resource (eks:DescribeNodegroup) names this cluster's node groups.
    """
    groups = f"arn:{partition}:autoscaling:{region}:{account_id}:autoScalingGroup:*:autoScalingGroupName/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Discover", "Effect": "Allow", "Action": list(AUTOSCALER_READS), "Resource": "*"},
            {
                "Sid": "DescribeThisClustersNodeGroups",
                "Effect": "Allow",
                "Action": ["eks:DescribeNodegroup"],
                "Resource": f"arn:{partition}:eks:{region}:{account_id}:nodegroup/{cluster_name}/*/*",
            },
            {
                "Sid": "ScaleThisClustersGroups",
                "Effect": "Allow",
                "Action": list(AUTOSCALER_WRITES),
                "Resource": groups,
                "Condition": {"StringEquals": {f"aws:ResourceTag/{AUTOSCALER}/{cluster_name}": "owned"}},
            },
        ],
    }


def secrets_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    prefix: str,
    secret_arns: Sequence[str] = (),
    kms_key_arns: Sequence[str] = (),
) -> dict[str, Any]:
    """External Secrets reads the secrets under this stack's prefix in the cluster's region, the data
    layer's secrets it is handed (``secret_arns``: the Aurora master secret, the Redis AUTH token,
    whose names the services choose), and no others.

    The actions are the read-only set of the External Secrets AWS provider docs
    (docs/provider/aws-secrets-manager.md, IAM policy): a ClusterSecretStore serves every
    namespace, so the prefix and the listed ARNs are what keep one stack from reading another's
    secrets. A secret encrypted with a customer managed key is readable only with ``kms:Decrypt``
    on that key as well; the grant holds only for calls Secrets Manager makes in this region
    (``kms:ViaService``, https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html).
    """
    read = [
        "secretsmanager:GetResourcePolicy",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "secretsmanager:ListSecretVersionIds",
    ]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadThisStacksSecrets",
            "Effect": "Allow",
            "Action": read,
            "Resource": f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{prefix}*",
        }
    ]
    if secret_arns:
        statements.append(
            {
                "Sid": "ReadTheDataLayersSecrets",
                "Effect": "Allow",
                "Action": read,
                "Resource": sorted(secret_arns),
            }
        )
    if kms_key_arns:
        statements.append(
            {
                "Sid": "DecryptTheDataLayersSecrets",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": sorted(kms_key_arns),
                "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _statement(
    actions: Sequence[str], resource: str | list[str] = "*", condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    if condition:
        out["Condition"] = condition
    return out


_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
_REQUEST_TAGGED = {"Null": {f"aws:RequestTag/{_CLUSTER_TAG}": "false"}}
_RESOURCE_TAGGED = {"Null": {f"aws:ResourceTag/{_CLUSTER_TAG}": "false"}}
_RETAG = {"Null": {f"aws:RequestTag/{_CLUSTER_TAG}": "true", f"aws:ResourceTag/{_CLUSTER_TAG}": "false"}}


def load_balancer_controller_policy(partition: str) -> dict[str, Any]:
    """The AWS Load Balancer Controller's policy, statement for statement as its docs give it.

    Source: kubernetes-sigs/aws-load-balancer-controller v3.5.0, docs/install/iam_policy.json (the
    policy the installation guide attaches for Pod Identity). Whatever the controller creates or
    deletes is conditioned on its ``elbv2.k8s.aws/cluster`` tag; the Describe calls and the
    listener and rule calls are account-wide in the original and stay so, because the controller
    cannot tag listeners before it creates them. Only the partition is made a parameter.
    """
    elb = f"arn:{partition}:elasticloadbalancing:*:*"
    balancers = [f"{elb}:targetgroup/*/*", f"{elb}:loadbalancer/net/*/*", f"{elb}:loadbalancer/app/*/*"]
    security_groups = f"arn:{partition}:ec2:*:*:security-group/*"
    statements = [
        _statement(
            ["iam:CreateServiceLinkedRole"],
            condition={"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
        ),
        _statement(
            [
                "ec2:DescribeAccountAttributes",
                "ec2:DescribeAddresses",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeInternetGateways",
                "ec2:DescribeVpcs",
                "ec2:DescribeVpcPeeringConnections",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeInstances",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeTags",
                "ec2:GetCoipPoolUsage",
                "ec2:DescribeCoipPools",
                "ec2:GetSecurityGroupsForVpc",
                "ec2:DescribeIpamPools",
                "ec2:DescribeRouteTables",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeLoadBalancerAttributes",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeListenerCertificates",
                "elasticloadbalancing:DescribeSSLPolicies",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeTargetHealth",
                "elasticloadbalancing:DescribeTags",
                "elasticloadbalancing:DescribeTrustStores",
                "elasticloadbalancing:DescribeListenerAttributes",
                "elasticloadbalancing:DescribeCapacityReservation",
            ]
        ),
        _statement(
            [
                "cognito-idp:DescribeUserPoolClient",
                "acm:ListCertificates",
                "acm:DescribeCertificate",
                "iam:ListServerCertificates",
                "iam:GetServerCertificate",
                "waf-regional:GetWebACL",
                "waf-regional:GetWebACLForResource",
                "waf-regional:AssociateWebACL",
                "waf-regional:DisassociateWebACL",
                "wafv2:GetWebACL",
                "wafv2:GetWebACLForResource",
                "wafv2:AssociateWebACL",
                "wafv2:DisassociateWebACL",
                "shield:GetSubscriptionState",
                "shield:DescribeProtection",
                "shield:CreateProtection",
                "shield:DeleteProtection",
            ]
        ),
        _statement(["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]),
        _statement(["ec2:CreateSecurityGroup"]),
        _statement(
            ["ec2:CreateTags"],
            security_groups,
            condition={"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **_REQUEST_TAGGED},
        ),
        _statement(["ec2:CreateTags", "ec2:DeleteTags"], security_groups, _RETAG),
        _statement(
            [
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:DeleteSecurityGroup",
            ],
            condition=_RESOURCE_TAGGED,
        ),
        _statement(
            ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
            condition=_REQUEST_TAGGED,
        ),
        _statement(
            [
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteRule",
            ]
        ),
        _statement(["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], balancers, _RETAG),
        _statement(
            ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
            [
                f"{elb}:listener/net/*/*/*",
                f"{elb}:listener/app/*/*/*",
                f"{elb}:listener-rule/net/*/*/*",
                f"{elb}:listener-rule/app/*/*/*",
            ],
        ),
        _statement(
            [
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:SetIpAddressType",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:ModifyListenerAttributes",
                "elasticloadbalancing:ModifyCapacityReservation",
                "elasticloadbalancing:ModifyIpPools",
            ],
            condition=_RESOURCE_TAGGED,
        ),
        _statement(
            ["elasticloadbalancing:AddTags"],
            balancers,
            condition={
                "StringEquals": {
                    "elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]
                },
                **_REQUEST_TAGGED,
            },
        ),
        _statement(
            ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
            f"{elb}:targetgroup/*/*",
        ),
        _statement(
            [
                "elasticloadbalancing:SetWebAcl",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:AddListenerCertificates",
                "elasticloadbalancing:RemoveListenerCertificates",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:SetRulePriorities",
            ]
        ),
    ]
    return {"Version": "2012-10-17", "Statement": statements}
