"""Cases for policies/aws.py: one failing case per condition, passing cases, unknowns where a preview has them."""

from __future__ import annotations

import json

from tests.guards.case import UNKNOWN, Res, fails, passes

EKS = "aws:eks/cluster:Cluster"
_KEY = {"resources": ["secrets"], "provider": {"keyArn": UNKNOWN}}


def _eks(**vpc: object) -> Res:
    return Res(EKS, {"vpcConfig": dict(vpc), "encryptionConfig": _KEY})


def _management(*more: dict[str, object]) -> dict[str, object]:
    return {"fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}, *more]}


def _trail(**changes: object) -> Res:
    props: dict[str, object] = {
        "s3BucketName": UNKNOWN,
        "isMultiRegionTrail": True,
        "enableLogFileValidation": True,
        "kmsKeyId": UNKNOWN,
        "advancedEventSelectors": [_management()],
    }
    props.update(changes)
    return Res("aws:cloudtrail/trail:Trail", {k: v for k, v in props.items() if v is not None})


CASES = [
    fails(
        "eks-endpoint-private",
        "public to 0.0.0.0/0",
        _eks(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"]),
    ),
    fails("eks-endpoint-private", "public with no CIDR list", _eks(endpointPublicAccess=True)),
    fails("eks-endpoint-private", "public by the provider default", _eks()),
    fails(
        "eks-endpoint-private",
        "the internet in two halves",
        _eks(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/1", "128.0.0.0/1"]),
    ),
    passes(
        "eks-endpoint-private",
        "private endpoint",
        _eks(endpointPublicAccess=False, endpointPrivateAccess=True),
    ),
    passes(
        "eks-endpoint-private",
        "public to an allow-list",
        _eks(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"]),
    ),
    fails(
        "eks-secrets-encrypted",
        "no encryptionConfig",
        Res(EKS, {"vpcConfig": {"endpointPublicAccess": False}}),
    ),
    fails(
        "eks-secrets-encrypted",
        "no KMS key named",
        Res(EKS, {"encryptionConfig": {"resources": ["secrets"], "provider": {}}}),
    ),
    passes("eks-secrets-encrypted", "a key created in the same stack (unknown at preview)", _eks()),
    fails(
        "launch-template-imdsv2",
        "IMDSv1 allowed",
        Res("aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "optional"}}),
    ),
    fails(
        "launch-template-imdsv2",
        "hop limit 3",
        Res(
            "aws:ec2/launchTemplate:LaunchTemplate",
            {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 3}},
        ),
    ),
    passes(
        "launch-template-imdsv2",
        "IMDSv2, hop limit 1",
        Res(
            "aws:ec2/launchTemplate:LaunchTemplate",
            {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}},
        ),
    ),
    fails("kms-key-rotation", "rotation off by default", Res("aws:kms/key:Key", {})),
    fails(
        "kms-key-rotation",
        "lockout check bypassed",
        Res("aws:kms/key:Key", {"enableKeyRotation": True, "bypassPolicyLockoutSafetyCheck": True}),
    ),
    passes("kms-key-rotation", "rotates", Res("aws:kms/key:Key", {"enableKeyRotation": True})),
    fails("sns-topic-cmk", "not encrypted", Res("aws:sns/topic:Topic", {})),
    fails(
        "sns-topic-cmk", "AWS-managed key", Res("aws:sns/topic:Topic", {"kmsMasterKeyId": "alias/aws/sns"})
    ),
    passes(
        "sns-topic-cmk",
        "customer key unknown at preview",
        Res("aws:sns/topic:Topic", {"kmsMasterKeyId": UNKNOWN}),
    ),
    fails("amp-workspace-cmk", "AWS-owned key by default", Res("aws:amp/workspace:Workspace", {})),
    passes(
        "amp-workspace-cmk",
        "customer key unknown at preview",
        Res("aws:amp/workspace:Workspace", {"kmsKeyArn": UNKNOWN}),
    ),
    fails(
        "aurora-encrypted",
        "storage not encrypted",
        Res("aws:rds/cluster:Cluster", {"storageEncrypted": False}),
    ),
    fails("aurora-encrypted", "AWS-managed key", Res("aws:rds/cluster:Cluster", {"storageEncrypted": True})),
    passes(
        "aurora-encrypted",
        "customer key unknown at preview",
        Res("aws:rds/cluster:Cluster", {"storageEncrypted": True, "kmsKeyId": UNKNOWN}),
    ),
    passes(
        "aurora-encrypted",
        "a global cluster's member",
        Res("aws:rds/cluster:Cluster", {"storageEncrypted": True, "globalClusterIdentifier": UNKNOWN}),
    ),
    fails(
        "db-instance-private",
        "publicly accessible",
        Res("aws:rds/clusterInstance:ClusterInstance", {"publiclyAccessible": True}),
    ),
    passes(
        "db-instance-private",
        "private",
        Res("aws:rds/clusterInstance:ClusterInstance", {"publiclyAccessible": False}),
    ),
    fails(
        "redis-encrypted",
        "no TLS",
        Res(
            "aws:elasticache/replicationGroup:ReplicationGroup",
            {"atRestEncryptionEnabled": True, "kmsKeyId": UNKNOWN},
        ),
    ),
    fails(
        "redis-encrypted",
        "not encrypted at rest",
        Res("aws:elasticache/replicationGroup:ReplicationGroup", {"transitEncryptionEnabled": True}),
    ),
    passes(
        "redis-encrypted",
        "both",
        Res(
            "aws:elasticache/replicationGroup:ReplicationGroup",
            {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": True, "kmsKeyId": UNKNOWN},
        ),
    ),
    fails(
        "health-check-interval",
        "every 60 s",
        Res("aws:route53/healthCheck:HealthCheck", {"type": "HTTPS", "requestInterval": 60}),
    ),
    passes(
        "health-check-interval",
        "every 30 s",
        Res("aws:route53/healthCheck:HealthCheck", {"type": "HTTPS", "requestInterval": 30}),
    ),
]

LT = "aws:ec2/launchTemplate:LaunchTemplate"
NG = "aws:eks/nodeGroup:NodeGroup"
SGR = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KMS = "aws:kms/key:Key"
GLOBAL = "aws:rds/globalCluster:GlobalCluster"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
LISTENER = "aws:lb/listener:Listener"
LB = "aws:lb/loadBalancer:LoadBalancer"
WAF = "aws:wafv2/webAcl:WebAcl"
LOGS = "aws:cloudwatch/logGroup:LogGroup"
HC = "aws:route53/healthCheck:HealthCheck"

ALL_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def _cluster(**props: object) -> Res:
    return Res(EKS, {"version": "1.35", "upgradePolicy": {"supportType": "STANDARD"}, **props})


def _volume(**ebs: object) -> Res:
    return Res(LT, {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": dict(ebs)}]})


def _rule(cidr: str, port: int | None, protocol: str = "tcp") -> Res:
    props: dict[str, object] = {"ipProtocol": protocol, "securityGroupId": UNKNOWN}
    props["cidrIpv6" if ":" in cidr else "cidrIpv4"] = cidr
    if port is not None:
        props.update(fromPort=port, toPort=port)
    return Res(SGR, props)


def _policy(*statements: dict[str, object]) -> Res:
    return Res(
        ROLE_POLICY,
        {"role": UNKNOWN, "policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})},
    )


def _key(*statements: dict[str, object]) -> Res:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return Res(KMS, {"enableKeyRotation": True, "policy": json.dumps(document)})


_ROOT = {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "kms:*",
    "Resource": "*",
}
_REDIS_OK = {
    "atRestEncryptionEnabled": True,
    "transitEncryptionEnabled": True,
    "transitEncryptionMode": "required",
    "kmsKeyId": UNKNOWN,
    "authToken": "[secret]",
}
_PAB_OK = dict.fromkeys(
    ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True
)


def _sse(**rule: object) -> Res:
    default = {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": UNKNOWN}
    return Res(SSE, {"bucket": UNKNOWN, "rules": [{"applyServerSideEncryptionByDefault": default, **rule}]})


def _managed(name: str, **extra: object) -> dict[str, object]:
    statement: dict[str, object] = {"managedRuleGroupStatement": {"name": name, "vendorName": "AWS"}}
    overrides = extra.pop("overrides", None)
    if overrides:
        statement["managedRuleGroupStatement"]["ruleActionOverrides"] = overrides  # type: ignore[index]
    return {
        "name": name,
        "priority": 1,
        "overrideAction": extra.get("override", {"none": {}}),
        "statement": statement,
        "visibilityConfig": {
            "cloudwatchMetricsEnabled": True,
            "metricName": name,
            "sampledRequestsEnabled": True,
        },
    }


def _acl(*rules: dict[str, object]) -> Res:
    return Res(WAF, {"scope": "REGIONAL", "defaultAction": {"allow": {}}, "rules": list(rules)})


_COMMON = _managed("AWSManagedRulesCommonRuleSet")
_BAD_INPUTS = _managed("AWSManagedRulesKnownBadInputsRuleSet")
_HTTPS = {"loadBalancerArn": UNKNOWN, "port": 443, "certificateArn": UNKNOWN}
_FORWARD = [{"type": "forward", "targetGroupArn": UNKNOWN}]

CASES += [
    # S3: control-plane logs
    fails("eks-control-plane-logs", "none by the provider default", _cluster()),
    fails(
        "eks-control-plane-logs",
        "audit missing",
        _cluster(enabledClusterLogTypes=[t for t in ALL_LOGS if t != "audit"]),
    ),
    passes("eks-control-plane-logs", "all five", _cluster(enabledClusterLogTypes=ALL_LOGS)),
    # C7: version window
    fails("eks-version-supported", "below the default minimum", _cluster(version="1.33")),
    fails("eks-version-supported", "below a configured minimum", _cluster(), minVersion="1.36"),
    fails(
        "eks-version-supported",
        "extended support by the EKS default",
        Res(EKS, {"version": "1.35"}),
    ),
    fails(
        "eks-version-supported",
        "extended support asked for",
        _cluster(upgradePolicy={"supportType": "EXTENDED"}),
    ),
    passes("eks-version-supported", "current version, standard support", _cluster()),
    passes(
        "eks-version-supported",
        "no version: EKS picks its default",
        Res(EKS, {"upgradePolicy": {"supportType": "STANDARD"}}),
    ),
    # S4: SSH
    fails(
        "nodegroup-no-ssh",
        "SSH key open to the internet",
        Res(NG, {"remoteAccess": {"ec2SshKey": "ops"}, "nodeRoleArn": UNKNOWN}),
    ),
    fails(
        "nodegroup-no-ssh",
        "SSH key from named groups",
        Res(NG, {"remoteAccess": {"ec2SshKey": "ops", "sourceSecurityGroupIds": [UNKNOWN]}}),
    ),
    passes(
        "nodegroup-no-ssh",
        "no remote access",
        Res(NG, {"nodeRoleArn": UNKNOWN, "launchTemplate": {"id": UNKNOWN}}),
    ),
    fails(
        "nodegroup-no-ssh",
        "an SSH key on the launch template",
        Res(LT, {"keyName": "ops", "metadataOptions": {}}),
    ),
    passes(
        "nodegroup-no-ssh",
        "a launch template without a key",
        Res(LT, {"metadataOptions": {"httpTokens": "required"}, "imageId": UNKNOWN}),
    ),
    # S5: IMDS by default
    fails("launch-template-imdsv2", "IMDSv1 by the provider default", Res(LT, {})),
    # S20: root volumes
    fails(
        "launch-template-volumes-encrypted",
        "volume not encrypted",
        _volume(encrypted="false", kmsKeyId=UNKNOWN),
    ),
    fails(
        "launch-template-volumes-encrypted", "encryption left to the account default", _volume(volumeSize=200)
    ),
    fails("launch-template-volumes-encrypted", "AWS-managed EBS key", _volume(encrypted="true")),
    passes(
        "launch-template-volumes-encrypted",
        "customer key unknown at preview",
        _volume(encrypted="true", kmsKeyId=UNKNOWN),
    ),
    # S19: subnets
    fails(
        "subnet-no-public-ip",
        "public IPs on launch",
        Res("aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True}),
    ),
    passes("subnet-no-public-ip", "the provider default", Res("aws:ec2/subnet:Subnet", {"vpcId": UNKNOWN})),
    # S16: security groups
    fails("security-group-ingress-restricted", "SSH from 0.0.0.0/0", _rule("0.0.0.0/0", 22)),
    fails("security-group-ingress-restricted", "all traffic from ::/0", _rule("::/0", None, "-1")),
    fails(
        "security-group-ingress-restricted",
        "a range around 443 from 0.0.0.0/0",
        Res(SGR, {"cidrIpv4": "0.0.0.0/0", "ipProtocol": "tcp", "fromPort": 80, "toPort": 443}),
    ),
    fails(
        "security-group-ingress-restricted",
        "a security group rule in two halves of the internet",
        Res(
            SG_RULE,
            {
                "type": "ingress",
                "protocol": "tcp",
                "fromPort": 5432,
                "toPort": 5432,
                "cidrBlocks": ["0.0.0.0/1", "128.0.0.0/1"],
                "securityGroupId": UNKNOWN,
            },
        ),
    ),
    fails(
        "security-group-ingress-restricted",
        "an inline ingress block",
        Res(
            SG,
            {
                "vpcId": UNKNOWN,
                "ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}],
            },
        ),
    ),
    fails(
        "security-group-ingress-restricted",
        "443 when the environment allows no port",
        _rule("0.0.0.0/0", 443),
        internetPorts=[],
    ),
    fails(
        "security-group-ingress-restricted",
        "a range starting at 443 from 0.0.0.0/0",
        Res(SGR, {"cidrIpv4": "0.0.0.0/0", "ipProtocol": "tcp", "fromPort": 443, "toPort": 8443}),
    ),
    passes("security-group-ingress-restricted", "HTTPS from the internet", _rule("0.0.0.0/0", 443)),
    passes(
        "security-group-ingress-restricted", "a private CIDR on any port", _rule("10.16.0.0/19", None, "-1")
    ),
    passes(
        "security-group-ingress-restricted",
        "egress to the internet",
        Res(
            SG_RULE,
            {"type": "egress", "protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]},
        ),
    ),
    passes(
        "security-group-ingress-restricted",
        "a source group, not a CIDR",
        Res(SGR, {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "referencedSecurityGroupId": UNKNOWN}),
    ),
    # S16: default group
    fails(
        "default-security-group-closed",
        "an ingress rule kept",
        Res(
            DEFAULT_SG,
            {"vpcId": UNKNOWN, "ingress": [{"protocol": "-1", "self": True, "fromPort": 0, "toPort": 0}]},
        ),
    ),
    fails(
        "default-security-group-closed",
        "an egress rule kept",
        Res(
            DEFAULT_SG,
            {
                "vpcId": UNKNOWN,
                "egress": [{"protocol": "-1", "cidrBlocks": ["0.0.0.0/0"], "fromPort": 0, "toPort": 0}],
            },
        ),
    ),
    passes("default-security-group-closed", "no rules", Res(DEFAULT_SG, {"vpcId": UNKNOWN})),
    # S17: flow logs
    fails(
        "flow-log-all-traffic",
        "rejected traffic only",
        Res("aws:ec2/flowLog:FlowLog", {"trafficType": "REJECT", "vpcId": UNKNOWN}),
    ),
    fails("flow-log-all-traffic", "no traffic type", Res("aws:ec2/flowLog:FlowLog", {"vpcId": UNKNOWN})),
    passes(
        "flow-log-all-traffic",
        "all traffic",
        Res("aws:ec2/flowLog:FlowLog", {"trafficType": "ALL", "vpcId": UNKNOWN, "logDestination": UNKNOWN}),
    ),
    # S15: IAM
    fails(
        "iam-least-privilege",
        "admin on everything",
        _policy({"Effect": "Allow", "Action": "*", "Resource": "*"}),
    ),
    fails(
        "iam-least-privilege",
        "iam:PassRole on every role",
        _policy({"Effect": "Allow", "Action": ["ec2:RunInstances", "iam:PassRole"], "Resource": ["*"]}),
    ),
    fails(
        "iam-least-privilege",
        "iam:* on everything, PassRole included",
        _policy({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}),
    ),
    fails(
        "iam-least-privilege",
        "an inline policy of a role",
        Res(
            "aws:iam/role:Role",
            {
                "assumeRolePolicy": "{}",
                "inlinePolicies": [
                    {
                        "name": "all",
                        "policy": json.dumps(
                            {"Statement": {"Effect": "Allow", "Action": "*:*", "Resource": "*"}}
                        ),
                    }
                ],
            },
        ),
    ),
    passes(
        "iam-least-privilege",
        "describe calls on * and PassRole on named roles",
        _policy(
            {"Effect": "Allow", "Action": ["ec2:DescribeSubnets"], "Resource": "*"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:role/node"},
            {"Effect": "Deny", "Action": "*", "Resource": "*"},
        ),
    ),
    passes(
        "iam-least-privilege",
        "a document built from other outputs, unknown at preview",
        Res(ROLE_POLICY, {"role": UNKNOWN, "policy": UNKNOWN}),
    ),
    # S12: key policies
    fails(
        "kms-key-policy-principals",
        "Principal *",
        _key(_ROOT, {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}),
    ),
    fails(
        "kms-key-policy-principals",
        "Principal AWS *",
        _key({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "kms:*", "Resource": "*"}),
    ),
    passes("kms-key-policy-principals", "the account root", _key(_ROOT)),
    passes(
        "kms-key-policy-principals",
        "any principal of the organisation (a Condition)",
        _key(
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}},
            }
        ),
    ),
    # S18: secrets
    fails(
        "secret-cmk",
        "the AWS-managed key",
        Res("aws:secretsmanager/secret:Secret", {"recoveryWindowInDays": 30}),
    ),
    passes(
        "secret-cmk",
        "a key unknown at preview",
        Res("aws:secretsmanager/secret:Secret", {"kmsKeyId": UNKNOWN}),
    ),
    # S6: global cluster
    fails(
        "aurora-global-encrypted",
        "unencrypted by the provider default",
        Res(GLOBAL, {"engine": "aurora-postgresql"}),
    ),
    fails("aurora-global-encrypted", "storage not encrypted", Res(GLOBAL, {"storageEncrypted": False})),
    passes("aurora-global-encrypted", "encrypted", Res(GLOBAL, {"storageEncrypted": True})),
    passes(
        "aurora-global-encrypted",
        "made from an existing cluster",
        Res(GLOBAL, {"sourceDbClusterIdentifier": UNKNOWN}),
    ),
    # S8: IAM database auth
    fails(
        "aurora-iam-auth",
        "off by the provider default",
        Res("aws:rds/cluster:Cluster", {"storageEncrypted": True}),
    ),
    passes(
        "aurora-iam-auth", "on", Res("aws:rds/cluster:Cluster", {"iamDatabaseAuthenticationEnabled": True})
    ),
    # S7: by default
    passes(
        "db-instance-private",
        "the provider default",
        Res("aws:rds/clusterInstance:ClusterInstance", {"clusterIdentifier": UNKNOWN}),
    ),
    # S9: Redis
    fails(
        "redis-encrypted",
        "TLS only preferred",
        Res(REDIS, {**_REDIS_OK, "transitEncryptionMode": "preferred"}),
    ),
    fails(
        "redis-encrypted",
        "service-managed key",
        Res(REDIS, {k: v for k, v in _REDIS_OK.items() if k != "kmsKeyId"}),
    ),
    fails(
        "redis-auth",
        "no token, no RBAC",
        Res(REDIS, {k: v for k, v in _REDIS_OK.items() if k != "authToken"}),
    ),
    passes("redis-auth", "a token (a secret)", Res(REDIS, _REDIS_OK)),
    passes(
        "redis-auth",
        "an RBAC user group unknown at preview",
        Res(REDIS, {**{k: v for k, v in _REDIS_OK.items() if k != "authToken"}, "userGroupIds": [UNKNOWN]}),
    ),
    # S10: public-access block, one case per flag
    *[
        fails("s3-public-access-block", f"{flag} off", Res(PAB, {**_PAB_OK, flag: False, "bucket": UNKNOWN}))
        for flag in _PAB_OK
    ],
    fails("s3-public-access-block", "flags left to the provider default", Res(PAB, {"bucket": UNKNOWN})),
    passes("s3-public-access-block", "all four", Res(PAB, {**_PAB_OK, "bucket": UNKNOWN})),
    # S11: default encryption
    fails("s3-encryption-kms", "no rule", Res(SSE, {"bucket": UNKNOWN, "rules": []})),
    fails(
        "s3-encryption-kms",
        "SSE-S3",
        Res(
            SSE,
            {
                "bucket": UNKNOWN,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "AES256",
                            "kmsMasterKeyId": UNKNOWN,
                        },
                        "bucketKeyEnabled": True,
                    }
                ],
            },
        ),
    ),
    fails(
        "s3-encryption-kms",
        "the AWS-managed aws/s3 key",
        Res(
            SSE,
            {
                "bucket": UNKNOWN,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"},
                        "bucketKeyEnabled": True,
                    }
                ],
            },
        ),
    ),
    fails("s3-encryption-kms", "no bucket key", _sse()),
    passes("s3-encryption-kms", "customer key and bucket key", _sse(bucketKeyEnabled=True)),
    # S13: listeners
    fails(
        "lb-listener-https",
        "HTTP forwarding",
        Res(LISTENER, {"protocol": "HTTP", "port": 80, "defaultActions": _FORWARD}),
    ),
    fails(
        "lb-listener-https",
        "HTTP by the provider default",
        Res(LISTENER, {"port": 80, "defaultActions": _FORWARD}),
    ),
    fails(
        "lb-listener-https",
        "HTTP redirect to plain HTTP",
        Res(
            LISTENER,
            {
                "protocol": "HTTP",
                "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTP", "port": "8080"}}],
            },
        ),
    ),
    fails(
        "lb-listener-https",
        "HTTPS on the provider's default TLS 1.0 policy",
        Res(LISTENER, {**_HTTPS, "protocol": "HTTPS", "defaultActions": _FORWARD}),
    ),
    fails(
        "lb-listener-https",
        "HTTPS allowing TLS 1.1",
        Res(
            LISTENER,
            {
                **_HTTPS,
                "protocol": "HTTPS",
                "sslPolicy": "ELBSecurityPolicy-TLS13-1-1-2021-06",
                "defaultActions": _FORWARD,
            },
        ),
    ),
    fails(
        "lb-listener-https",
        "TLS listener on a 2016 policy",
        Res(
            LISTENER,
            {
                **_HTTPS,
                "protocol": "TLS",
                "sslPolicy": "ELBSecurityPolicy-2016-08",
                "defaultActions": _FORWARD,
            },
        ),
    ),
    passes(
        "lb-listener-https",
        "HTTPS with TLS 1.2+",
        Res(
            LISTENER,
            {
                **_HTTPS,
                "protocol": "HTTPS",
                "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "defaultActions": _FORWARD,
            },
        ),
    ),
    passes(
        "lb-listener-https",
        "HTTP redirecting to HTTPS",
        Res(
            LISTENER,
            {
                "loadBalancerArn": UNKNOWN,
                "protocol": "HTTP",
                "port": 80,
                "defaultActions": [
                    {
                        "type": "redirect",
                        "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
                    }
                ],
            },
        ),
    ),
    passes(
        "lb-listener-https",
        "HTTP actions unknown at preview",
        Res(LISTENER, {"loadBalancerArn": UNKNOWN, "protocol": "HTTP", "defaultActions": UNKNOWN}),
    ),
    # S13: load balancers
    fails(
        "lb-drop-invalid-headers",
        "invalid headers forwarded by default",
        Res(LB, {"internal": False, "subnets": [UNKNOWN]}),
    ),
    fails(
        "lb-drop-invalid-headers",
        "desync only monitored",
        Res(LB, {"dropInvalidHeaderFields": True, "desyncMitigationMode": "monitor"}),
    ),
    passes(
        "lb-drop-invalid-headers",
        "drops them, defensive by default",
        Res(
            LB,
            {"loadBalancerType": "application", "dropInvalidHeaderFields": True, "securityGroups": [UNKNOWN]},
        ),
    ),
    passes("lb-drop-invalid-headers", "a network load balancer", Res(LB, {"loadBalancerType": "network"})),
    # S13: WAF
    fails("waf-managed-rules", "no common rule set", _acl(_BAD_INPUTS)),
    fails("waf-managed-rules", "no known-bad-inputs rule set", _acl(_COMMON)),
    fails(
        "waf-managed-rules",
        "a group only counting",
        _acl(_COMMON, _managed("AWSManagedRulesKnownBadInputsRuleSet", override={"count": {}})),
    ),
    fails(
        "waf-managed-rules",
        "Log4JRCE overridden to count",
        _acl(
            _COMMON,
            _managed(
                "AWSManagedRulesKnownBadInputsRuleSet",
                overrides=[{"name": "Log4JRCE", "actionToUse": {"count": {}}}],
            ),
        ),
    ),
    fails(
        "waf-managed-rules",
        "a group the environment requires",
        _acl(_COMMON, _BAD_INPUTS),
        requiredManagedRuleGroups=["AWSManagedRulesAmazonIpReputationList"],
    ),
    passes("waf-managed-rules", "both groups blocking", _acl(_COMMON, _BAD_INPUTS)),
    passes(
        "waf-managed-rules",
        "the body rules a prompt trips only counting",
        _acl(
            _managed(
                "AWSManagedRulesCommonRuleSet",
                overrides=[{"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}],
            ),
            _BAD_INPUTS,
        ),
    ),
    fails(
        "waf-managed-rules",
        "a body rule counting that the environment does not allow",
        _acl(
            _managed(
                "AWSManagedRulesCommonRuleSet",
                overrides=[{"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}],
            ),
            _BAD_INPUTS,
        ),
        countedRules=[],
    ),
    # CloudTrail
    fails("cloudtrail-validated-encrypted", "one region", _trail(isMultiRegionTrail=False)),
    fails(
        "cloudtrail-validated-encrypted",
        "single-region by the provider default",
        _trail(isMultiRegionTrail=None),
    ),
    fails("cloudtrail-validated-encrypted", "no log file validation", _trail(enableLogFileValidation=False)),
    fails("cloudtrail-validated-encrypted", "S3's key", _trail(kmsKeyId=None)),
    fails(
        "cloudtrail-validated-encrypted",
        "management writes only",
        _trail(advancedEventSelectors=[_management({"field": "readOnly", "equals": ["false"]})]),
    ),
    fails(
        "cloudtrail-validated-encrypted",
        "KMS events excluded",
        _trail(
            advancedEventSelectors=[_management({"field": "eventSource", "notEquals": ["kms.amazonaws.com"]})]
        ),
    ),
    passes(
        "cloudtrail-validated-encrypted", "every region, validated, a CMK, every management event", _trail()
    ),
    passes(
        "cloudtrail-validated-encrypted",
        "a data-event selector may filter",
        _trail(
            advancedEventSelectors=[
                _management(),
                {
                    "fieldSelectors": [
                        {"field": "eventCategory", "equals": ["Data"]},
                        {"field": "readOnly", "equals": ["true"]},
                    ]
                },
            ]
        ),
    ),
    # S14 and C8: log groups
    fails("log-group-kms", "the service key", Res(LOGS, {"retentionInDays": 30})),
    passes(
        "log-group-kms", "a key unknown at preview", Res(LOGS, {"kmsKeyId": UNKNOWN, "retentionInDays": 30})
    ),
    fails("log-group-retention", "kept forever by the provider default", Res(LOGS, {"kmsKeyId": UNKNOWN})),
    fails(
        "log-group-retention",
        "kept forever (0) under no minimum",
        Res(LOGS, {"retentionInDays": 0}),
        minRetentionDays=0,
    ),
    fails(
        "log-group-retention",
        "shorter than the minimum",
        Res(LOGS, {"retentionInDays": 30}),
        minRetentionDays=90,
    ),
    fails(
        "log-group-retention",
        "longer than the maximum",
        Res(LOGS, {"retentionInDays": 365}),
        maxRetentionDays=30,
    ),
    passes(
        "log-group-retention",
        "within the bounds",
        Res(LOGS, {"retentionInDays": 90}),
        minRetentionDays=90,
        maxRetentionDays=365,
    ),
    # S21: health checks
    fails("health-check-https", "plain HTTP", Res(HC, {"type": "HTTP", "port": 80, "requestInterval": 30})),
    fails(
        "health-check-https",
        "plain HTTP string match",
        Res(HC, {"type": "HTTP_STR_MATCH", "searchString": "ok"}),
    ),
    passes("health-check-https", "HTTPS", Res(HC, {"type": "HTTPS", "port": 443, "fqdn": "api.example.com"})),
]

PG = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
_API = {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}

CASES += [
    # S22: access entries
    fails(
        "eks-access-entries",
        "the aws-auth ConfigMap by the EKS default",
        Res(EKS, {"accessConfig": {"bootstrapClusterCreatorAdminPermissions": False}}),
    ),
    fails(
        "eks-access-entries",
        "ConfigMap beside the API",
        Res(EKS, {"accessConfig": {**_API, "authenticationMode": "API_AND_CONFIG_MAP"}}),
    ),
    fails(
        "eks-access-entries",
        "the creator made admin by default",
        Res(EKS, {"accessConfig": {"authenticationMode": "API"}}),
    ),
    passes(
        "eks-access-entries",
        "API only, no creator admin",
        Res(EKS, {"accessConfig": _API, "roleArn": UNKNOWN}),
    ),
    # S6: Performance Insights
    fails(
        "db-insights-cmk",
        "insights on the AWS-managed key",
        Res(INSTANCE, {"performanceInsightsEnabled": True, "clusterIdentifier": UNKNOWN}),
    ),
    passes(
        "db-insights-cmk",
        "insights on a key unknown at preview",
        Res(INSTANCE, {"performanceInsightsEnabled": True, "performanceInsightsKmsKeyId": UNKNOWN}),
    ),
    passes("db-insights-cmk", "insights off", Res(INSTANCE, {"clusterIdentifier": UNKNOWN})),
    # S23: TLS to Aurora
    fails(
        "aurora-tls-required",
        "a cluster on the default parameter group",
        Res("aws:rds/cluster:Cluster", {"engine": "aurora-postgresql", "storageEncrypted": True}),
    ),
    fails(
        "aurora-tls-required",
        "a PostgreSQL group without rds.force_ssl",
        Res(PG, {"family": "aurora-postgresql16", "parameters": [{"name": "log_statement", "value": "ddl"}]}),
    ),
    fails(
        "aurora-tls-required",
        "a PostgreSQL group with rds.force_ssl 0",
        Res(PG, {"family": "aurora-postgresql16", "parameters": [{"name": "rds.force_ssl", "value": "0"}]}),
    ),
    fails(
        "aurora-tls-required",
        "a MySQL group without require_secure_transport",
        Res(PG, {"family": "aurora-mysql8.0"}),
    ),
    passes(
        "aurora-tls-required",
        "a cluster on its own group, unknown at preview",
        Res(
            "aws:rds/cluster:Cluster", {"engine": "aurora-postgresql", "dbClusterParameterGroupName": UNKNOWN}
        ),
    ),
    passes(
        "aurora-tls-required",
        "a PostgreSQL group forcing TLS",
        Res(PG, {"family": "aurora-postgresql16", "parameters": [{"name": "rds.force_ssl", "value": "1"}]}),
    ),
    passes(
        "aurora-tls-required",
        "a MySQL group forcing TLS",
        Res(
            PG,
            {
                "family": "aurora-mysql8.0",
                "parameters": [{"name": "require_secure_transport", "value": "ON"}],
            },
        ),
    ),
]


# S26: the OpenSearch log domain (infra/aws/opensearch.py)
OPENSEARCH = "aws:opensearch/domain:Domain"


def _domain(**changes: object) -> Res:
    props: dict[str, object] = {
        "encryptAtRest": {"enabled": True, "kmsKeyId": UNKNOWN},
        "nodeToNodeEncryption": {"enabled": True},
        "domainEndpointOptions": {
            "enforceHttps": True,
            "tlsSecurityPolicy": "Policy-Min-TLS-1-2-PFS-2023-10",
        },
        "vpcOptions": {"subnetIds": [UNKNOWN, UNKNOWN], "securityGroupIds": [UNKNOWN]},
        "advancedSecurityOptions": {
            "enabled": True,
            "internalUserDatabaseEnabled": False,
            "masterUserOptions": {"masterUserArn": UNKNOWN},
        },
    }
    props.update(changes)
    return Res(OPENSEARCH, {k: v for k, v in props.items() if v is not None})


CASES += [
    passes("opensearch-domain-secure", "the program's log domain", _domain()),
    passes(
        "opensearch-domain-secure",
        "the older TLS 1.2 policy",
        _domain(
            domainEndpointOptions={"enforceHttps": True, "tlsSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"}
        ),
    ),
    fails("opensearch-domain-secure", "nothing set: every provider default", Res(OPENSEARCH, {})),
    fails("opensearch-domain-secure", "not encrypted at rest", _domain(encryptAtRest={"enabled": False})),
    fails("opensearch-domain-secure", "no node-to-node encryption", _domain(nodeToNodeEncryption=None)),
    fails(
        "opensearch-domain-secure",
        "plain HTTP accepted",
        _domain(
            domainEndpointOptions={
                "enforceHttps": False,
                "tlsSecurityPolicy": "Policy-Min-TLS-1-2-PFS-2023-10",
            }
        ),
    ),
    fails(
        "opensearch-domain-secure",
        "TLS 1.0 admitted",
        _domain(
            domainEndpointOptions={"enforceHttps": True, "tlsSecurityPolicy": "Policy-Min-TLS-1-0-2019-07"}
        ),
    ),
    fails(
        "opensearch-domain-secure",
        "no TLS policy named",
        _domain(domainEndpointOptions={"enforceHttps": True}),
    ),
    fails("opensearch-domain-secure", "public endpoint (no VPC)", _domain(vpcOptions=None)),
    fails(
        "opensearch-domain-secure",
        "no fine-grained access control",
        _domain(advancedSecurityOptions={"enabled": False}),
    ),
    fails(
        "opensearch-domain-secure",
        "an internal user database with a password",
        _domain(
            advancedSecurityOptions={
                "enabled": True,
                "internalUserDatabaseEnabled": True,
                "masterUserOptions": {"masterUserName": "admin", "masterUserPassword": UNKNOWN},
            }
        ),
    ),
]
