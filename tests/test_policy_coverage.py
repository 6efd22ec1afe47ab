"""Every resource type the shipped stacks create is judged by a guard, or listed here with the reason it is not.

A guard names the types it judges in its tags (guardkit); a type nobody judges must say why, so
that a new resource type cannot slip in unguarded without a decision.
"""

from __future__ import annotations

import pytest

from inferstack.policy import PACK
from tests.conftest import planned

UNGUARDED = {
    # Plumbing with no security or reliability setting of its own: what matters is judged where it lands.
    "aws:autoscaling/tag:Tag": "a tag on a node group's Auto Scaling group (scale-from-zero hints)",
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": "lets es.amazonaws.com write the OpenSearch "
    "domain's own log groups, for that domain only (aws:SourceArn); the groups are judged where they land",
    "aws:ec2/eip:Eip": "the NAT gateways' addresses",
    "aws:ec2/internetGateway:InternetGateway": "the public subnets' gateway; exposure is judged on security groups",
    "aws:ec2/natGateway:NatGateway": "egress only; cost counts it",
    "aws:ec2/route:Route": "routes; what they reach is judged on security groups",
    "aws:ec2/routeTable:RouteTable": "routes; what they reach is judged on security groups",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "routing plumbing",
    "aws:ec2/vpc:Vpc": "flow logs and the default security group are judged as their own resources",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "private endpoints; their security groups are judged",
    "aws:ec2/vpcPeeringConnection:VpcPeeringConnection": "private peering between the program's own VPCs",
    "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter": "the other side of the same peering",
    "aws:elasticache/subnetGroup:SubnetGroup": "private subnets (the subnet guard judges them)",
    "aws:rds/subnetGroup:SubnetGroup": "private subnets (the subnet guard judges them)",
    "aws:kms/alias:Alias": "a name for a key the key guards judge",
    "aws:lb/targetGroup:TargetGroup": "no security setting of its own; the listener and WAF carry them",
    "aws:wafv2/webAclAssociation:WebAclAssociation": "the attachment of a web ACL the WAF guard judges",
    "aws:acm/certificate:Certificate": "DNS-validated, issued and renewed by ACM",
    "aws:acm/certificateValidation:CertificateValidation": "waits for the certificate; creates nothing",
    "aws:route53/zone:Zone": "a public zone by design; its routed records are judged",
    "aws:secretsmanager/secretVersion:SecretVersion": "the value of a secret the secret guard judges",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "ACLs off (BucketOwnerEnforced) on every bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "clean-up rules (C9); not judged yet",
    "aws:s3/bucketPolicy:BucketPolicy": "TLS-only policy built from the bucket's ARN, unknown at a first preview; "
    "a TLS-only guard is future work",
    "aws:eks/addon:Addon": "versions pinned by the program; no security setting",
    "aws:eks/accessEntry:AccessEntry": "who may reach the cluster; the cluster guard requires access entries",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": "the access entry's policy (cluster admin for deployers)",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "ties a service account to a role the IAM guard judges",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "the cluster's OIDC issuer",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "AWS-managed policies for EKS nodes and the cluster",
    "aws:budgets/budget:Budget": "cost alerting itself",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "alerting itself: thresholds on the data stores' metrics",
    "aws:cloudwatch/eventRule:EventRule": "alerting itself: matches EC2 and Auto Scaling events",
    "aws:cloudwatch/eventTarget:EventTarget": "delivers a rule's events to an alert topic",
    "aws:sns/topicPolicy:TopicPolicy": "admits the account's alarms and rules (aws:SourceAccount) to an alert topic",
    "aws:sns/topicSubscription:TopicSubscription": "e-mail addresses of the stack's receivers",
    "aws:amp/ruleGroupNamespace:RuleGroupNamespace": "alert rules over every core cluster, checked by promtool",
    "aws:amp/alertManagerDefinition:AlertManagerDefinition": "routes the workspace's alerts to the stack's own topics",
    "aws:costexplorer/costAllocationTag:CostAllocationTag": "activates a cost-allocation tag",
    "gcp:certificatemanager/certificate:Certificate": "Google-managed certificate",
    "gcp:certificatemanager/certificateMap:CertificateMap": "certificate plumbing",
    "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry": "certificate plumbing",
    "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": "certificate plumbing",
    "gcp:compute/globalAddress:GlobalAddress": "the edge's address and the private-services range",
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": "points at proxies the SSL-policy guards judge",
    "gcp:compute/healthCheck:HealthCheck": "the backends' readiness probe",
    "gcp:compute/network:Network": "custom-mode VPC; its firewalls are judged",
    "gcp:compute/router:Router": "Cloud NAT's router",
    "gcp:compute/routerNat:RouterNat": "egress only",
    "gcp:compute/subnetwork:Subnetwork": "private nodes are judged on the cluster",
    "gcp:compute/uRLMap:URLMap": "routing to backends the backend guard judges",
    "gcp:compute/securityPolicy:SecurityPolicy": "Cloud Armor's rules; the backend guard requires one; "
    "judging its rules is future work",
    "gcp:logging/metric:Metric": "counts GKE node preemptions in the audit log",
    "gcp:monitoring/alertPolicy:AlertPolicy": "alerting itself",
    "gcp:monitoring/notificationChannel:NotificationChannel": "e-mail addresses of the stack's receivers",
    "gcp:kms/keyRing:KeyRing": "a container for keys the key guard judges",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": "grants a Google service agent use of one key",
    "gcp:projects/service:Service": "enables an API",
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": "turns on Data Access audit logs (tests/test_audit.py)",
    "gcp:logging/projectBucketConfig:ProjectBucketConfig": "the audit log bucket; its retention is the "
    "stack's security.auditRetentionDays (tests/test_audit.py)",
    "gcp:logging/projectSink:ProjectSink": "routes the audit entries into that bucket",
    "gcp:serviceaccount/account:Account": "an identity; its grants are judged",
    "gcp:serviceaccount/iAMMember:IAMMember": "Workload Identity binding of one Kubernetes service account",
    "gcp:servicenetworking/connection:Connection": "private services access",
    "gcp:storage/bucketIAMMember:BucketIAMMember": "model readers on the model bucket; public access is refused "
    "by the bucket's public-access prevention, which the bucket guard requires",
    "kubernetes:core/v1:ConfigMap": "endpoints and settings, no secrets (those come through External Secrets)",
    "kubernetes:core/v1:ServiceAccount": "identities; token automount is judged on the pods",
    "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding": "binds the gateway's Service to a target group",
    "kubernetes:external-secrets.io/v1:ExternalSecret": "reads through a store the secret-store guard judges",
    "kubernetes:keda.sh/v1alpha1:ClusterTriggerAuthentication": "names a pod identity (gcp); what that identity may do is judged on its IAM bindings",
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": "alert rules, checked by promtool",
    "kubernetes:monitoring.coreos.com/v1:PodMonitor": "scrape configuration",
    "kubernetes:networking.istio.io/v1:VirtualService": "routes the ingress to the gateway's Service",
    "kubernetes:networking.istio.io/v1:ServiceEntry": "names one public host for an EKS cluster's egress "
    "waypoint (infra/k8s/egress.py); the names are the validated security.egress hosts and the gateways' "
    "own origins; what leaves is bounded by the namespaces' NetworkPolicies (namespace-default-deny)",
    "kubernetes:gateway.networking.k8s.io/v1:Gateway": "the egress waypoint: an HBONE listener inside the "
    "mesh; its AuthorizationPolicy admits the gateway's identity only (tests/test_egress.py)",
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition": "Gateway API's definitions, vendored "
    "unchanged and pinned by digest (infra/catalog/addons.yaml crdBundles)",
    "kubernetes:monitoring.googleapis.com/v1:ClusterPodMonitoring": "scrape configuration",
    "kubernetes:monitoring.googleapis.com/v1:ClusterRules": "alert rules, checked by promtool",
    "kubernetes:monitoring.googleapis.com/v1:GlobalRules": "alert rules over every GKE cluster, checked by promtool",
    "kubernetes:monitoring.googleapis.com/v1:PodMonitoring": "scrape configuration",
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy": "in-cluster admission rules "
    "(infra/k8s/admission.py), their CEL tested offline in tests/test_admission.py",
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding": "binds those rules to the "
    "serving namespaces with the stack's security.admission mode (tests/test_admission.py)",
    "kubernetes:networking.gke.io/v1alpha1:FQDNNetworkPolicy": "an allow by name (infra/k8s/netpol.py); "
    "the namespace's default-deny is judged (namespace-default-deny), its names come from validated settings",
    "kubernetes:scheduling.k8s.io/v1:PriorityClass": "scheduling priorities",
    "pulumi:providers:kubernetes": "a cluster's provider (region and tag guards judge the cloud providers)",
    "pulumi:providers:random": "no cloud",
    "random:index/randomPassword:RandomPassword": "a generated secret, stored as a secret",
}


def _judged() -> set[str]:
    return {tag for policy in PACK for tag in (policy.tags or []) if ":" in tag}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "onprem"])
def test_every_type_is_judged_or_has_a_reason(stack: str) -> None:
    types = {r.type for r in planned(stack).resources if r.custom}
    assert types
    lacking = sorted(types - _judged() - set(UNGUARDED))
    assert lacking == [], f"resource types no guard judges and UNGUARDED does not explain: {lacking}"


def test_no_reason_for_a_type_a_guard_now_judges() -> None:
    assert sorted(_judged() & set(UNGUARDED)) == []
