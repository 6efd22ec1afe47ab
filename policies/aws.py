"""Security guards over the AWS resources the program creates (POLICY-RULES S1..S14, C7, C8; S15..S26 beyond it).

Every check treats a missing property as the provider's default (an unset ``enableKeyRotation``
is off, an unset ``publiclyAccessible`` is false) and tests values created elsewhere in the stack
(KMS key ARNs, security group ids) by presence only: see guardkit.py. The defaults quoted below
are the pulumi-aws 7.x input docs (the upstream Terraform provider's registry pages).

What a guard here cannot see, and why:

- A policy document built from another resource's output (an IAM role policy naming a bucket ARN,
  a bucket policy) is unknown at the first preview; the IAM guard judges it only once it is known
  (every later preview, and ``inferstack plan``).
- A CIDR, port or protocol that is itself unknown is skipped, not guessed.
- Joins belong to the stack guards: which bucket a public-access block or encryption config
  belongs to, whether a VPC has a flow log, whether a public load balancer has a WAF association,
  and whether the security group that opens 443 to the internet is a load balancer's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from guardkit import (
    ADVISORY,
    CRITICAL,
    HIGH,
    LOW,
    MEDIUM,
    covers_the_internet,
    items,
    known,
    present,
    resource_guard,
    value,
)
from pulumi_policy import Policy

Props = Mapping[str, Any]


def _listed(v: Any) -> list[Any]:
    """An IAM policy field that may be one value or a list of them, as a list."""
    if v is None:
        return []
    return list(v) if isinstance(v, list) else [v]


def _statements(document: Any) -> list[Mapping[str, Any]] | None:
    """The statements of a policy JSON document, or None when it is not known yet or not JSON.

    Local to this module: guardkit reads props, not the JSON documents some props carry.
    """
    if not isinstance(document, str | Mapping):
        return None
    try:
        parsed = json.loads(document) if isinstance(document, str) else document
    except ValueError:
        return None
    if not isinstance(parsed, Mapping):
        return None
    return [s for s in _listed(parsed.get("Statement")) if isinstance(s, Mapping)]


# --- EKS ------------------------------------------------------------------------------------------


def _eks_endpoint(props: Props, _: Props) -> str | None:
    # Provider default: endpointPublicAccess true (aws_eks_cluster vpc_config docs).
    if value(props, "vpcConfig.endpointPublicAccess", True) is not True:
        return None
    cidrs = list(items(props, "vpcConfig.publicAccessCidrs"))
    if not cidrs or covers_the_internet(cidrs):
        return "EKS API endpoint is public to the internet; make it private or list the allowed CIDRs"
    return None


def _eks_secrets(props: Props, _: Props) -> list[str]:
    resources = [r for r in items(props, "encryptionConfig.resources")]
    if "secrets" not in resources:
        return [
            "EKS secrets are not envelope-encrypted; set encryptionConfig.resources [secrets] with a KMS key"
        ]
    if not present(props, "encryptionConfig.provider.keyArn"):
        return ["EKS secrets encryption names no KMS key (encryptionConfig.provider.keyArn)"]
    return []


EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


def _eks_logs(props: Props, _: Props) -> str | None:
    # Provider default: no control-plane log type enabled (enabledClusterLogTypes empty).
    enabled = set(items(props, "enabledClusterLogTypes"))
    missing = [t for t in EKS_LOG_TYPES if t not in enabled]
    if missing:
        return f"EKS control-plane logs not enabled for {', '.join(missing)} (enabledClusterLogTypes)"
    return None


EKS_MIN_VERSION = "1.35"
"""The oldest EKS minor in standard support for the life of this pack's catalog date: 1.34 leaves
standard support on 2026-12-02 (infra/catalog/kubernetes.yaml, from the Amazon EKS release calendar)."""


def _version(text: Any) -> tuple[int, ...] | None:
    if not isinstance(text, str) or not re.fullmatch(r"\d+(\.\d+)*", text.strip()):
        return None
    return tuple(int(p) for p in text.strip().split("."))


def _eks_version(props: Props, config: Props) -> list[str]:
    found: list[str] = []
    minimum = str(config.get("minVersion", EKS_MIN_VERSION))
    # No version: EKS creates the cluster on its current default version, in standard support.
    version = known(props, "version")
    have, floor = _version(version), _version(minimum)
    if have is not None and floor is not None and have < floor:
        found.append(f"EKS version {version} is below {minimum}, the oldest in standard support (version)")
    # EKS API default: EXTENDED, https://docs.aws.amazon.com/eks/latest/APIReference/API_UpgradePolicyRequest.html
    if value(props, "upgradePolicy.supportType", "EXTENDED") != "STANDARD":
        found.append(
            "EKS cluster enters paid extended support when its version leaves standard support "
            "(upgradePolicy.supportType is not STANDARD)"
        )
    return found


def _eks_access(props: Props, _: Props) -> list[str]:
    found: list[str] = []
    # EKS API defaults: authenticationMode CONFIG_MAP, bootstrapClusterCreatorAdminPermissions true
    # (https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAccessConfigRequest.html).
    mode = value(props, "accessConfig.authenticationMode", "CONFIG_MAP")
    if mode != "API":
        found.append(
            f"EKS cluster grants access through the aws-auth ConfigMap (accessConfig.authenticationMode {mode}); "
            "use API access entries only"
        )
    if value(props, "accessConfig.bootstrapClusterCreatorAdminPermissions", True) is not False:
        found.append(
            "EKS cluster makes its creator a hidden cluster admin "
            "(accessConfig.bootstrapClusterCreatorAdminPermissions)"
        )
    return found


def _nodegroup_ssh(props: Props, _: Props) -> str | None:
    # A node group built on a launch template takes its SSH key from the template (keyName).
    if present(props, "keyName"):
        return "launch template installs an SSH key on the nodes (keyName); reach nodes through SSM instead"
    if not present(props, "remoteAccess.ec2SshKey"):
        return None
    if not present(props, "remoteAccess.sourceSecurityGroupIds.0"):
        return "node group opens SSH to 0.0.0.0/0 (remoteAccess.ec2SshKey with no sourceSecurityGroupIds)"
    return "node group accepts SSH (remoteAccess.ec2SshKey); reach nodes through SSM instead"


# --- EC2 ------------------------------------------------------------------------------------------


def _imdsv2(props: Props, _: Props) -> list[str]:
    found: list[str] = []
    if value(props, "metadataOptions.httpTokens") != "required":
        found.append("launch template does not require IMDSv2 (metadataOptions.httpTokens: required)")
    hops = value(props, "metadataOptions.httpPutResponseHopLimit")
    if isinstance(hops, int) and hops > 2:
        found.append(
            f"IMDS hop limit {hops} lets pods reach node credentials (metadataOptions.httpPutResponseHopLimit); "
            "allowed: 1, or 2 when pods need IMDS"
        )
    return found


def _is_true(v: Any) -> bool:
    """A flag the provider types as a string ("true") in some blocks and a bool in others."""
    return v is True or (isinstance(v, str) and v.lower() == "true")


def _launch_template_volumes(props: Props, _: Props) -> list[str]:
    found: list[str] = []
    for i, mapping in enumerate(items(props, "blockDeviceMappings")):
        if not isinstance(mapping, Mapping) or not present(mapping, "ebs"):
            continue
        device = known(mapping, "deviceName", f"#{i}")
        # Unset: the volume is encrypted only if the account's EBS encryption-by-default is on.
        if not _is_true(value(mapping, "ebs.encrypted")):
            found.append(
                f"launch template volume {device} is not encrypted (blockDeviceMappings.ebs.encrypted)"
            )
        elif not present(mapping, "ebs.kmsKeyId"):
            found.append(
                f"launch template volume {device} uses the AWS-managed EBS key; "
                "name a customer-managed key (blockDeviceMappings.ebs.kmsKeyId)"
            )
    return found


def _subnet_public_ip(props: Props, _: Props) -> str | None:
    # Provider default: mapPublicIpOnLaunch false.
    if value(props, "mapPublicIpOnLaunch", False) is True:
        return "subnet gives every instance a public IP (mapPublicIpOnLaunch)"
    return None


INTERNET_PORTS = [443]
"""Ports a rule may open to the whole internet: HTTPS, for the load balancers in front of the API."""


def _ports(rule: Mapping[str, Any], protocol_key: str) -> tuple[str, int | None, int | None] | None:
    """(protocol, from, to) of a rule, None when one of them is not known yet."""
    protocol = known(rule, protocol_key)
    if protocol is None:
        return None
    protocol = str(protocol).lower()
    if protocol in ("-1", "all"):
        return ("all", None, None)
    low, high = known(rule, "fromPort"), known(rule, "toPort")
    if not isinstance(low, int) or not isinstance(high, int):
        return None
    return (protocol, low, high)


def _open_rule(
    rule: Mapping[str, Any], cidrs: Iterable[Any], protocol_key: str, allowed: list[int], where: str
) -> str | None:
    if not covers_the_internet(cidrs):
        return None
    ports = _ports(rule, protocol_key)
    if ports is None:
        return None
    protocol, low, high = ports
    if protocol in ("tcp", "6") and low == high and low in allowed:
        return None
    span = "every port" if protocol == "all" else f"{protocol} {low}" + (f"-{high}" if high != low else "")
    allowed_text = ", ".join(f"tcp {p}" for p in allowed) or "none"
    return f"{where} opens {span} to the whole internet; allowed from anywhere: {allowed_text}"


def _sg_ingress(props: Props, config: Props) -> list[str]:
    allowed = [int(p) for p in config.get("internetPorts", INTERNET_PORTS)]
    found: list[str] = []
    # aws:vpc/securityGroupIngressRule: one CIDR per rule, ipProtocol "-1" for all traffic.
    if present(props, "ipProtocol"):
        cidrs = [known(props, "cidrIpv4"), known(props, "cidrIpv6")]
        problem = _open_rule(props, cidrs, "ipProtocol", allowed, "ingress rule (cidrIpv4/cidrIpv6)")
        return [problem] if problem else []
    # aws:ec2/securityGroupRule: type ingress or egress, CIDR lists.
    if present(props, "type"):
        if known(props, "type") != "ingress":
            return []
        cidrs = [*items(props, "cidrBlocks"), *items(props, "ipv6CidrBlocks")]
        problem = _open_rule(props, cidrs, "protocol", allowed, "ingress rule (cidrBlocks)")
        return [problem] if problem else []
    # aws:ec2/securityGroup and aws:ec2/defaultSecurityGroup: inline ingress blocks.
    for i, rule in enumerate(items(props, "ingress")):
        if not isinstance(rule, Mapping):
            continue
        cidrs = [*items(rule, "cidrBlocks"), *items(rule, "ipv6CidrBlocks")]
        problem = _open_rule(rule, cidrs, "protocol", allowed, f"security group ingress[{i}]")
        if problem:
            found.append(problem)
    return found


def _default_sg(props: Props, _: Props) -> list[str]:
    # The provider strips every rule of the default group it adopts and recreates only those given
    # (aws_default_security_group docs): no ingress/egress here means the group allows nothing.
    return [
        f"the VPC's default security group keeps {key} rules; leave it with none ({key})"
        for key in ("ingress", "egress")
        if present(props, f"{key}.0")
    ]


def _flow_log(props: Props, _: Props) -> str | None:
    # trafficType has no provider default: required whenever vpcId/subnetId/eniId is given.
    traffic = value(props, "trafficType")
    if traffic != "ALL":
        return f"flow log captures {traffic or 'no'} traffic; capture ALL (trafficType)"
    return None


# --- IAM ------------------------------------------------------------------------------------------


def _iam_documents(props: Props) -> list[tuple[str, Any]]:
    """(where, document) of every policy document a resource carries that is known already."""
    documents: list[tuple[str, Any]] = []
    if present(props, "policy"):
        documents.append(("policy", known(props, "policy")))
    for i, inline in enumerate(items(props, "inlinePolicies")):
        if isinstance(inline, Mapping):
            documents.append((f"inlinePolicies[{i}].policy", known(inline, "policy")))
    return [(where, doc) for where, doc in documents if doc is not None]


def _iam_least_privilege(props: Props, _: Props) -> list[str]:
    found: list[str] = []
    for where, document in _iam_documents(props):
        statements = _statements(document)
        if statements is None:
            continue
        for n, statement in enumerate(statements):
            if statement.get("Effect") != "Allow" or "*" not in _listed(statement.get("Resource")):
                continue
            actions = [a.lower() for a in _listed(statement.get("Action")) if isinstance(a, str)]
            if any(a in ("*", "*:*") for a in actions):
                found.append(f"{where} Statement[{n}] allows every action on every resource (Action * on *)")
            elif any(fnmatchcase("iam:passrole", a) for a in actions):
                found.append(
                    f"{where} Statement[{n}] lets its holder pass any role (iam:PassRole on *); "
                    "name the roles in Resource"
                )
    return found


# --- KMS ------------------------------------------------------------------------------------------


def _kms_rotation(props: Props, _: Props) -> list[str]:
    found: list[str] = []
    if value(props, "enableKeyRotation", False) is not True:
        found.append("KMS key does not rotate (enableKeyRotation)")
    if value(props, "bypassPolicyLockoutSafetyCheck", False) is True:
        found.append("KMS key bypasses the policy lockout safety check (bypassPolicyLockoutSafetyCheck)")
    return found


def _wildcard(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in _listed(v) for v in principal.values())
    return False


def _kms_policy(props: Props, _: Props) -> list[str]:
    statements = _statements(known(props, "policy"))
    if not statements:
        return []
    return [
        f"KMS key policy Statement[{n}] allows any principal (Principal *) with no Condition (policy)"
        for n, s in enumerate(statements)
        if s.get("Effect") == "Allow" and _wildcard(s.get("Principal")) and not s.get("Condition")
    ]


def _secret_cmk(props: Props, _: Props) -> str | None:
    # Provider default: the account's aws/secretsmanager key, which no key policy of ours controls.
    if not present(props, "kmsKeyId"):
        return "secret is encrypted with the AWS-managed aws/secretsmanager key; name a customer-managed key (kmsKeyId)"
    return None


def _sns_cmk(props: Props, _: Props) -> str | None:
    # Provider default: no server-side encryption at all; alert messages name clusters and endpoints.
    if not present(props, "kmsMasterKeyId"):
        return "SNS topic is not encrypted; name a customer-managed key (kmsMasterKeyId)"
    if known(props, "kmsMasterKeyId") == "alias/aws/sns":
        return "SNS topic uses the AWS-managed alias/aws/sns key, which alarm services cannot use; name a customer-managed key (kmsMasterKeyId)"
    return None


def _amp_cmk(props: Props, _: Props) -> str | None:
    # Provider default: an AWS-owned key, which no key policy of ours controls and which the
    # workspace can never leave (AMP User Guide, "Encryption at rest").
    if not present(props, "kmsKeyArn"):
        return "Prometheus workspace is encrypted with an AWS-owned key; name a customer-managed key (kmsKeyArn) when creating it"
    return None


OPENSEARCH_TLS_POLICIES: tuple[str, ...] = ("Policy-Min-TLS-1-2-2019-07", "Policy-Min-TLS-1-2-PFS-2023-10")
"""The domain endpoint policies that refuse TLS 1.0 and 1.1 (OpenSearch Service API Reference,
DomainEndpointOptions TLSSecurityPolicy:
https://docs.aws.amazon.com/opensearch-service/latest/APIReference/API_DomainEndpointOptions.html)."""


def _on(props: Props, path: str) -> bool:
    """Set to true, or to a value not known yet (a preview judges what it can)."""
    return present(props, path) and known(props, path, True) is True


def _opensearch(props: Props, _: Props) -> list[str]:
    # Provider defaults: no encryption at rest, no node-to-node encryption, a public endpoint, no
    # fine-grained access control; the API's EnforceHTTPS default is false. A log domain holds every
    # container's lines: each default is a way to read them.
    found = []
    if not _on(props, "encryptAtRest.enabled"):
        found.append("OpenSearch domain is not encrypted at rest (encryptAtRest.enabled)")
    if not _on(props, "nodeToNodeEncryption.enabled"):
        found.append("OpenSearch domain nodes talk in plain text (nodeToNodeEncryption.enabled)")
    if not _on(props, "domainEndpointOptions.enforceHttps"):
        found.append("OpenSearch domain accepts plain HTTP (domainEndpointOptions.enforceHttps)")
    policy = known(props, "domainEndpointOptions.tlsSecurityPolicy")
    if not present(props, "domainEndpointOptions.tlsSecurityPolicy") or (
        policy is not None and policy not in OPENSEARCH_TLS_POLICIES
    ):
        found.append(
            f"OpenSearch domain endpoint admits TLS below 1.2 (domainEndpointOptions.tlsSecurityPolicy: "
            f"{policy or 'unset'}); allowed: {', '.join(OPENSEARCH_TLS_POLICIES)}"
        )
    if not present(props, "vpcOptions.subnetIds"):
        found.append(
            "OpenSearch domain has a public endpoint; place it in private subnets (vpcOptions.subnetIds)"
        )
    if not _on(props, "advancedSecurityOptions.enabled"):
        found.append("OpenSearch domain has no fine-grained access control (advancedSecurityOptions.enabled)")
    elif known(props, "advancedSecurityOptions.internalUserDatabaseEnabled") is True:
        found.append(
            "OpenSearch domain keeps users and passwords of its own "
            "(advancedSecurityOptions.internalUserDatabaseEnabled); use an IAM master role"
        )
    return found


# --- Databases and caches -------------------------------------------------------------------------


def _rds_encrypted(props: Props, _: Props) -> str | None:
    if value(props, "storageEncrypted", False) is not True:
        return "Aurora cluster storage is not encrypted (storageEncrypted)"
    # A secondary member of a global cluster inherits the global cluster's encryption.
    if not present(props, "kmsKeyId") and not present(props, "globalClusterIdentifier"):
        return (
            "Aurora cluster is encrypted with the AWS-managed key; use a customer-managed KMS key (kmsKeyId)"
        )
    return None


def _global_encrypted(props: Props, _: Props) -> str | None:
    # Provider default: false, unless created from an encrypted sourceDbClusterIdentifier.
    if present(props, "sourceDbClusterIdentifier"):
        return None
    if value(props, "storageEncrypted", False) is not True:
        return "Aurora global cluster storage is not encrypted (storageEncrypted)"
    return None


def _rds_iam_auth(props: Props, _: Props) -> str | None:
    if value(props, "iamDatabaseAuthenticationEnabled", False) is not True:
        return "Aurora cluster does not accept IAM authentication (iamDatabaseAuthenticationEnabled)"
    return None


def _rds_public(props: Props, _: Props) -> str | None:
    # Provider default: publiclyAccessible false.
    if value(props, "publiclyAccessible", False) is True:
        return "database instance is publicly accessible (publiclyAccessible)"
    return None


def _insights_cmk(props: Props, _: Props) -> str | None:
    if value(props, "performanceInsightsEnabled", False) is True and not present(
        props, "performanceInsightsKmsKeyId"
    ):
        return (
            "Performance Insights data is encrypted with the AWS-managed RDS key; "
            "name a customer-managed key (performanceInsightsKmsKeyId)"
        )
    return None


FORCED_TLS = {
    "aurora-postgresql": ("rds.force_ssl", ("1",)),
    "aurora-mysql": ("require_secure_transport", ("ON", "1")),
}
"""The cluster parameter that refuses clients without TLS, per engine family; both default off
(https://repost.aws/knowledge-center/aurora-postgresql-ssl-certificates: rds.force_ssl is 0 by default)."""


def _aurora_tls(props: Props, _: Props) -> str | None:
    if present(props, "family"):  # aws:rds/clusterParameterGroup
        family = str(value(props, "family"))
        engine = next((e for e in FORCED_TLS if family.startswith(e)), None)
        if engine is None:
            return None
        name, on = FORCED_TLS[engine]
        values = [
            str(known(p, "value", "")).upper()
            for p in items(props, "parameters")
            if isinstance(p, Mapping) and known(p, "name") == name
        ]
        if not any(v in on for v in values):
            return f"cluster parameter group lets clients connect without TLS (parameters {name}: {on[0]})"
        return None
    # aws:rds/cluster: without its own parameter group it runs the engine's default one, TLS optional.
    if not present(props, "dbClusterParameterGroupName"):
        return "Aurora cluster runs the default parameter group, where TLS is optional (dbClusterParameterGroupName)"
    return None


def _elasticache(props: Props, _: Props) -> list[str]:
    found = [
        f"Redis replication group without {k}"
        for k in ("atRestEncryptionEnabled", "transitEncryptionEnabled")
        if value(props, k) is not True
    ]
    if value(props, "transitEncryptionMode") == "preferred":
        found.append("Redis accepts clients without TLS (transitEncryptionMode preferred; use required)")
    if value(props, "atRestEncryptionEnabled") is True and not present(props, "kmsKeyId"):
        found.append(
            "Redis at-rest encryption uses the service-managed key; name a customer-managed key (kmsKeyId)"
        )
    return found


def _elasticache_auth(props: Props, _: Props) -> str | None:
    # Presence only: the token is a secret, and RBAC (userGroupIds) is the other way to require AUTH.
    if not present(props, "authToken") and not present(props, "userGroupIds.0"):
        return "Redis accepts unauthenticated clients; set authToken or an RBAC user group (userGroupIds)"
    return None


# --- S3 -------------------------------------------------------------------------------------------

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _public_access_block(props: Props, _: Props) -> list[str]:
    # Provider default: each flag false.
    return [
        f"bucket public-access block leaves {flag} off"
        for flag in PUBLIC_ACCESS_FLAGS
        if value(props, flag) is not True
    ]


def _bucket_encryption(props: Props, _: Props) -> list[str]:
    rules = [r for r in items(props, "rules") if isinstance(r, Mapping)]
    if not rules and not present(props, "rules.0"):
        return ["bucket encryption configuration has no rule (rules)"]
    found: list[str] = []
    for i, rule in enumerate(rules):
        algorithm = value(rule, "applyServerSideEncryptionByDefault.sseAlgorithm")
        if algorithm not in ("aws:kms", "aws:kms:dsse"):
            found.append(
                f"bucket default encryption is {algorithm or 'unset'}, not aws:kms (rules[{i}].sseAlgorithm)"
            )
            continue
        if not present(rule, "applyServerSideEncryptionByDefault.kmsMasterKeyId"):
            found.append(
                f"bucket default encryption uses the AWS-managed aws/s3 key; name a customer-managed key "
                f"(rules[{i}].applyServerSideEncryptionByDefault.kmsMasterKeyId)"
            )
        if value(rule, "bucketKeyEnabled", False) is not True:
            found.append(
                f"bucket default encryption calls KMS for every object (rules[{i}].bucketKeyEnabled)"
            )
    return found


# --- Load balancers and WAF -----------------------------------------------------------------------

TLS12_POLICY = re.compile(r"^ELBSecurityPolicy-(TLS13-1-[23]|TLS-1-2|FS-1-2)-")
"""ELB security policy names whose minimum protocol is TLS 1.2 or 1.3: the name carries the floor
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html;
the same prefixes as Checkov's CKV_AWS_103)."""


def _listener(props: Props, _: Props) -> list[str]:
    # Provider defaults: protocol HTTP (application LB), sslPolicy ELBSecurityPolicy-2016-08 (TLS 1.0+).
    protocol = value(props, "protocol", "HTTP")
    if protocol in ("HTTPS", "TLS"):
        policy = value(props, "sslPolicy", "ELBSecurityPolicy-2016-08")
        if not TLS12_POLICY.match(str(policy)):
            return [
                f"listener accepts TLS below 1.2 (sslPolicy {policy}); use ELBSecurityPolicy-TLS13-1-2-2021-06"
            ]
        return []
    if protocol != "HTTP":
        return []
    listed = known(props, "defaultActions")
    actions = [a for a in items(props, "defaultActions") if isinstance(a, Mapping)]
    if (listed is None and present(props, "defaultActions")) or len(actions) != len(listed or []):
        return []  # actions built from other resources' outputs: judged once they are known
    if not actions or not all(
        value(a, "type") == "redirect" and value(a, "redirect.protocol") == "HTTPS" for a in actions
    ):
        return [
            "HTTP listener serves plain HTTP; redirect it to HTTPS (defaultActions redirect protocol HTTPS)"
        ]
    return []


def _load_balancer(props: Props, _: Props) -> list[str]:
    # Provider defaults: loadBalancerType application, dropInvalidHeaderFields false,
    # desyncMitigationMode defensive.
    if value(props, "loadBalancerType", "application") != "application":
        return []
    found: list[str] = []
    if value(props, "dropInvalidHeaderFields", False) is not True:
        found.append("load balancer forwards invalid HTTP headers (dropInvalidHeaderFields)")
    if value(props, "desyncMitigationMode", "defensive") not in ("defensive", "strictest"):
        found.append(
            "load balancer only monitors HTTP desync (desyncMitigationMode; use defensive or strictest)"
        )
    return found


WAF_GROUPS = ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]
"""AWS managed rule groups every web ACL runs in block mode: the OWASP-style baseline and the known
bad inputs (Log4j JNDI lookups among them)."""

WAF_COUNTED_RULES = [
    "SizeRestrictions_BODY",
    "CrossSiteScripting_BODY",
    "GenericLFI_BODY",
    "GenericRFI_BODY",
]
"""Rules of AWSManagedRulesCommonRuleSet that may count instead of block: they inspect the request
body, and a prompt legitimately carries code, paths and markup and runs past the 8 KB an ALB lets
WAF see. Blocking them would refuse ordinary prompts; counting keeps them visible."""


def _web_acl(props: Props, config: Props) -> list[str]:
    required = [str(g) for g in config.get("requiredManagedRuleGroups", WAF_GROUPS)]
    counted = {str(r) for r in config.get("countedRules", WAF_COUNTED_RULES)}
    groups: dict[str, Mapping[str, Any]] = {}
    for rule in items(props, "rules"):
        if (
            isinstance(rule, Mapping)
            and value(rule, "statement.managedRuleGroupStatement.vendorName") == "AWS"
        ):
            groups[str(value(rule, "statement.managedRuleGroupStatement.name"))] = rule
    found: list[str] = []
    for name in required:
        rule = groups.get(name)
        if rule is None:
            found.append(f"web ACL does not run the AWS managed rule group {name} (rules)")
            continue
        if present(rule, "overrideAction.count"):
            found.append(f"web ACL only counts what {name} matches (overrideAction count; use none)")
        overrides = items(rule, "statement.managedRuleGroupStatement.ruleActionOverrides")
        for override in overrides:
            if (
                isinstance(override, Mapping)
                and present(override, "actionToUse.count")
                and value(override, "name") not in counted
            ):
                found.append(
                    f"web ACL only counts {name} rule {value(override, 'name')} (ruleActionOverrides actionToUse count)"
                )
    return found


# --- Logs and DNS ---------------------------------------------------------------------------------


def _log_group_kms(props: Props, _: Props) -> str | None:
    if not present(props, "kmsKeyId"):
        return "log group is encrypted with the CloudWatch Logs service key; name a customer-managed key (kmsKeyId)"
    return None


def _log_group_retention(props: Props, config: Props) -> str | None:
    # Provider default: 0, kept forever.
    days = value(props, "retentionInDays", 0)
    low, high = int(config.get("minRetentionDays", 1)), int(config.get("maxRetentionDays", 3653))
    if not days:
        return f"log group keeps events forever (retentionInDays 0 or unset); allowed: {low}..{high} days"
    if not low <= days <= high:
        return f"log group keeps events {days} days (retentionInDays); allowed: {low}..{high}"
    return None


def _cloudtrail(props: Props, _: Props) -> list[str]:
    # Provider defaults: single-region, no validation, SSE-S3 (aws_cloudtrail docs).
    found = []
    if value(props, "isMultiRegionTrail") is not True:
        found.append("trail records one region only; set isMultiRegionTrail true")
    if value(props, "enableLogFileValidation") is not True:
        found.append("trail writes no signed digests; set enableLogFileValidation true")
    if not present(props, "kmsKeyId"):
        found.append("trail log files are encrypted with S3's key; name a customer-managed key (kmsKeyId)")
    for selector in items(props, "advancedEventSelectors"):
        fields = [(known(f, "field"), known(f, "equals")) for f in items(selector, "fieldSelectors")]
        if ("eventCategory", ["Management"]) not in [(name, list(eq or [])) for name, eq in fields]:
            continue
        dropped = sorted(str(name) for name, _ in fields if name in ("readOnly", "eventSource"))
        if dropped:
            found.append(
                f"management events filtered on {', '.join(dropped)}: reads of secrets and uses of keys "
                "are read-only management events; filter on neither"
            )
    return found


def _health_check(props: Props, _: Props) -> str | None:
    interval = value(props, "requestInterval", 30)
    if value(props, "type") in ("HTTP", "HTTPS", "HTTPS_STR_MATCH", "HTTP_STR_MATCH") and interval not in (
        10,
        30,
    ):
        return f"Route 53 health check interval {interval}; allowed: 10 or 30 seconds"
    return None


def _health_check_https(props: Props, _: Props) -> str | None:
    kind = value(props, "type")
    if kind in ("HTTP", "HTTP_STR_MATCH"):
        return f"Route 53 health check probes over plain HTTP (type {kind}); use HTTPS"
    return None


POLICIES: list[Policy] = [
    resource_guard(
        "eks-endpoint-private",
        "EKS API endpoint private, or public only to allow-listed CIDRs",
        types="aws:eks/cluster:Cluster",
        rule="S2",
        mirrors="CKV_AWS_38, CKV_AWS_39, AVD-AWS-0040, AVD-AWS-0041",
        severity=CRITICAL,
        fix="set access.publicEndpoint false, or list the CIDRs allowed to reach it",
        check=_eks_endpoint,
        concern="aws",
    ),
    resource_guard(
        "eks-secrets-encrypted",
        "EKS secrets envelope-encrypted with a customer-managed KMS key",
        types="aws:eks/cluster:Cluster",
        rule="S1",
        mirrors="CKV_AWS_58, AVD-AWS-0039",
        severity=HIGH,
        fix="give the cluster encryptionConfig {resources: [secrets], provider.keyArn: <KMS key>}",
        check=_eks_secrets,
        concern="aws",
    ),
    resource_guard(
        "eks-control-plane-logs",
        "EKS control plane logs api, audit, authenticator, controllerManager and scheduler",
        types="aws:eks/cluster:Cluster",
        rule="S3",
        mirrors="CKV_AWS_37, AVD-AWS-0038",
        severity=MEDIUM,
        fix="enabledClusterLogTypes: api, audit, authenticator, controllerManager, scheduler",
        check=_eks_logs,
        level=ADVISORY,
        concern="aws",
    ),
    resource_guard(
        "eks-version-supported",
        "EKS clusters on a version in standard support, and never drifting into paid extended support",
        types="aws:eks/cluster:Cluster",
        rule="C7",
        mirrors="CKV_AWS_339",
        severity=LOW,
        fix="clusters[].version at or above the policy's minVersion; upgradePolicy.supportType STANDARD",
        check=_eks_version,
        level=ADVISORY,
        config={
            "minVersion": {
                "type": "string",
                "pattern": r"^\d+\.\d+$",
                "default": EKS_MIN_VERSION,
                "description": "The oldest EKS minor version in standard support",
            }
        },
        concern="aws",
    ),
    resource_guard(
        "eks-access-entries",
        "EKS access through access entries only, with no implicit admin for the cluster's creator",
        types="aws:eks/cluster:Cluster",
        rule="S22",
        mirrors="custom",
        severity=HIGH,
        fix="accessConfig: authenticationMode API, bootstrapClusterCreatorAdminPermissions false; grant access "
        "with aws.eks.AccessEntry",
        check=_eks_access,
        concern="aws",
    ),
    resource_guard(
        "nodegroup-no-ssh",
        "EKS node groups accept no SSH; nodes are reached through SSM",
        types=("aws:eks/nodeGroup:NodeGroup", "aws:ec2/launchTemplate:LaunchTemplate"),
        rule="S4",
        mirrors="CKV_AWS_100",
        severity=HIGH,
        fix="drop remoteAccess from the node group and keyName from its launch template; use SSM Session "
        "Manager for node access",
        check=_nodegroup_ssh,
        concern="aws",
    ),
    resource_guard(
        "launch-template-imdsv2",
        "Node launch templates require IMDSv2 with a hop limit of 1 or 2",
        types="aws:ec2/launchTemplate:LaunchTemplate",
        rule="S5",
        mirrors="CKV_AWS_79, CKV_AWS_341",
        severity=HIGH,
        fix="metadataOptions: httpTokens required, httpPutResponseHopLimit 1 (2 when pods need IMDS)",
        check=_imdsv2,
        concern="aws",
    ),
    resource_guard(
        "launch-template-volumes-encrypted",
        "Node root volumes encrypted with a customer-managed KMS key",
        types="aws:ec2/launchTemplate:LaunchTemplate",
        rule="S20",
        mirrors="CKV_AWS_8, CKV_AWS_189",
        severity=HIGH,
        fix="blockDeviceMappings[].ebs: encrypted true and kmsKeyId set",
        check=_launch_template_volumes,
        concern="aws",
    ),
    resource_guard(
        "subnet-no-public-ip",
        "Subnets do not hand out public IPs",
        types="aws:ec2/subnet:Subnet",
        rule="S19",
        mirrors="CKV_AWS_130",
        severity=MEDIUM,
        fix="mapPublicIpOnLaunch false; public entry points are load balancers and NAT gateways",
        check=_subnet_public_ip,
        concern="aws",
    ),
    resource_guard(
        "security-group-ingress-restricted",
        "No security group rule opens a port to the whole internet except HTTPS",
        types=(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            "aws:ec2/securityGroup:SecurityGroup",
        ),
        rule="S16",
        mirrors="CKV_AWS_24, CKV_AWS_25, CKV_AWS_260, CKV_AWS_277",
        severity=CRITICAL,
        fix="allow the private CIDRs or a source security group; only a load balancer's group opens tcp 443 "
        "to 0.0.0.0/0",
        check=_sg_ingress,
        config={
            "internetPorts": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 65535},
                "default": INTERNET_PORTS,
                "description": "TCP ports a rule may open to 0.0.0.0/0 or ::/0",
            }
        },
        concern="aws",
    ),
    resource_guard(
        "default-security-group-closed",
        "Every VPC's default security group allows no traffic",
        types="aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        rule="S16",
        mirrors="CKV2_AWS_12 (the per-resource part)",
        severity=MEDIUM,
        fix="adopt the default group with no ingress and no egress; give workloads their own groups",
        check=_default_sg,
        concern="aws",
    ),
    resource_guard(
        "flow-log-all-traffic",
        "VPC flow logs capture accepted and rejected traffic",
        types="aws:ec2/flowLog:FlowLog",
        rule="S17",
        mirrors="CKV2_AWS_11 (the per-resource part); custom",
        severity=LOW,
        fix="trafficType ALL",
        check=_flow_log,
        concern="aws",
    ),
    resource_guard(
        "iam-least-privilege",
        "IAM policies grant no * action on * and no iam:PassRole on *",
        types=("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/role:Role"),
        rule="S15",
        mirrors="CKV_AWS_62, CKV_AWS_63, CKV_AWS_286",
        severity=CRITICAL,
        fix="list the actions the role needs; scope iam:PassRole to the ARNs of the roles it hands on",
        check=_iam_least_privilege,
        concern="aws",
    ),
    resource_guard(
        "kms-key-rotation",
        "KMS keys rotate and keep the policy lockout safety check",
        types="aws:kms/key:Key",
        rule="S12",
        mirrors="CKV_AWS_7, AVD-AWS-0065",
        severity=MEDIUM,
        fix="enableKeyRotation true; never bypassPolicyLockoutSafetyCheck",
        check=_kms_rotation,
        concern="aws",
    ),
    resource_guard(
        "kms-key-policy-principals",
        "KMS key policies name their principals",
        types="aws:kms/key:Key",
        rule="S12",
        mirrors="CKV_AWS_33",
        severity=HIGH,
        fix="name the account root, roles or service principals; a * principal needs a Condition",
        check=_kms_policy,
        concern="aws",
    ),
    resource_guard(
        "secret-cmk",
        "Secrets Manager secrets encrypted with a customer-managed KMS key",
        types="aws:secretsmanager/secret:Secret",
        rule="S18",
        mirrors="CKV_AWS_149",
        severity=MEDIUM,
        fix="kmsKeyId: the key of the component the secret belongs to",
        check=_secret_cmk,
        concern="aws",
    ),
    resource_guard(
        "sns-topic-cmk",
        "SNS topics encrypted with a customer-managed KMS key",
        types="aws:sns/topic:Topic",
        rule="S24",
        mirrors="CKV_AWS_26",
        severity=MEDIUM,
        fix="kmsMasterKeyId: the region's alert key (infra/aws/alerting.py)",
        check=_sns_cmk,
        concern="aws",
    ),
    resource_guard(
        "amp-workspace-cmk",
        "Managed Prometheus workspaces encrypted with a customer-managed KMS key",
        types="aws:amp/workspace:Workspace",
        rule="S25",
        mirrors="",
        severity=MEDIUM,
        fix="kmsKeyArn: the workspace's own key (infra/aws/amp.py); set at creation, it cannot be added later",
        check=_amp_cmk,
        concern="aws",
    ),
    resource_guard(
        "opensearch-domain-secure",
        "OpenSearch domains encrypted at rest and between nodes, HTTPS with TLS 1.2+, in a VPC, with "
        "fine-grained access control",
        types="aws:opensearch/domain:Domain",
        rule="S26",
        mirrors="CKV_AWS_5, CKV_AWS_6, CKV_AWS_83, CKV_AWS_137, CKV2_AWS_52",
        severity=HIGH,
        fix="encryptAtRest and nodeToNodeEncryption enabled, domainEndpointOptions enforceHttps with "
        "Policy-Min-TLS-1-2-PFS-2023-10, vpcOptions in private subnets, advancedSecurityOptions with an "
        "IAM master role (infra/aws/opensearch.py)",
        check=_opensearch,
        concern="aws",
    ),
    resource_guard(
        "aurora-encrypted",
        "Aurora storage encrypted with a customer-managed KMS key",
        types="aws:rds/cluster:Cluster",
        rule="S6",
        mirrors="CKV_AWS_96, CKV_AWS_327, AVD-AWS-0079",
        severity=HIGH,
        fix="storageEncrypted true and kmsKeyId set (a global cluster member inherits it)",
        check=_rds_encrypted,
        concern="aws",
    ),
    resource_guard(
        "aurora-global-encrypted",
        "Aurora global clusters encrypted",
        types="aws:rds/globalCluster:GlobalCluster",
        rule="S6",
        mirrors="CKV_AWS_140",
        severity=HIGH,
        fix="storageEncrypted true on the global cluster",
        check=_global_encrypted,
        concern="aws",
    ),
    resource_guard(
        "aurora-iam-auth",
        "Aurora clusters accept IAM database authentication",
        types="aws:rds/cluster:Cluster",
        rule="S8",
        mirrors="CKV_AWS_162, AVD-AWS-0176",
        severity=LOW,
        fix="iamDatabaseAuthenticationEnabled true",
        check=_rds_iam_auth,
        level=ADVISORY,
        concern="aws",
    ),
    resource_guard(
        "db-instance-private",
        "Database instances are not publicly accessible",
        types="aws:rds/clusterInstance:ClusterInstance",
        rule="S7",
        mirrors="CKV_AWS_17, AVD-AWS-0180",
        severity=CRITICAL,
        fix="publiclyAccessible false; reach the database from the cluster's private subnets",
        check=_rds_public,
        concern="aws",
    ),
    resource_guard(
        "db-insights-cmk",
        "Performance Insights encrypted with a customer-managed KMS key",
        types="aws:rds/clusterInstance:ClusterInstance",
        rule="S6",
        mirrors="CKV_AWS_354",
        severity=MEDIUM,
        fix="performanceInsightsKmsKeyId: the database's key",
        check=_insights_cmk,
        concern="aws",
    ),
    resource_guard(
        "aurora-tls-required",
        "Aurora refuses clients without TLS",
        types=("aws:rds/cluster:Cluster", "aws:rds/clusterParameterGroup:ClusterParameterGroup"),
        rule="S23",
        mirrors="custom",
        severity=HIGH,
        fix="a cluster parameter group with rds.force_ssl 1 (PostgreSQL) or require_secure_transport ON (MySQL), "
        "named by the cluster's dbClusterParameterGroupName",
        check=_aurora_tls,
        concern="aws",
    ),
    resource_guard(
        "redis-encrypted",
        "Redis encrypted at rest with a customer-managed key and in transit with TLS required",
        types="aws:elasticache/replicationGroup:ReplicationGroup",
        rule="S9",
        mirrors="CKV_AWS_29, CKV_AWS_30, CKV_AWS_191, AVD-AWS-0045, AVD-AWS-0051",
        severity=HIGH,
        fix="atRestEncryptionEnabled and transitEncryptionEnabled true, transitEncryptionMode required, kmsKeyId set",
        check=_elasticache,
        concern="aws",
    ),
    resource_guard(
        "redis-auth",
        "Redis requires AUTH (a token or RBAC users)",
        types="aws:elasticache/replicationGroup:ReplicationGroup",
        rule="S9",
        mirrors="CKV_AWS_31",
        severity=HIGH,
        fix="authToken (kept in Secrets Manager) or userGroupIds",
        check=_elasticache_auth,
        concern="aws",
    ),
    resource_guard(
        "s3-public-access-block",
        "S3 public-access blocks set all four flags",
        types="aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        rule="S10",
        mirrors="CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, CKV_AWS_56, AVD-AWS-0086, AVD-AWS-0087, AVD-AWS-0091, "
        "AVD-AWS-0093",
        severity=CRITICAL,
        fix="blockPublicAcls, blockPublicPolicy, ignorePublicAcls, restrictPublicBuckets all true",
        check=_public_access_block,
        concern="aws",
    ),
    resource_guard(
        "s3-encryption-kms",
        "S3 default encryption with a customer-managed KMS key and bucket keys",
        types="aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        rule="S11",
        mirrors="CKV_AWS_145, AVD-AWS-0088, AVD-AWS-0132",
        severity=MEDIUM,
        fix="rules: sseAlgorithm aws:kms, kmsMasterKeyId set, bucketKeyEnabled true",
        check=_bucket_encryption,
        level=ADVISORY,
        concern="aws",
    ),
    resource_guard(
        "lb-listener-https",
        "Load balancer listeners speak TLS 1.2+ or redirect HTTP to HTTPS",
        types="aws:lb/listener:Listener",
        rule="S13",
        mirrors="CKV_AWS_2, CKV_AWS_103, CKV2_AWS_20, AVD-AWS-0054, AVD-AWS-0047",
        severity=HIGH,
        fix="protocol HTTPS with sslPolicy ELBSecurityPolicy-TLS13-1-2-2021-06, or an HTTP listener whose "
        "default action redirects to HTTPS",
        check=_listener,
        concern="aws",
    ),
    resource_guard(
        "lb-drop-invalid-headers",
        "Application load balancers drop invalid headers and mitigate HTTP desync",
        types="aws:lb/loadBalancer:LoadBalancer",
        rule="S13",
        mirrors="CKV_AWS_131, CKV_AWS_328, AVD-AWS-0052",
        severity=MEDIUM,
        fix="dropInvalidHeaderFields true; desyncMitigationMode defensive or strictest",
        check=_load_balancer,
        concern="aws",
    ),
    resource_guard(
        "waf-managed-rules",
        "Web ACLs block with the AWS common and known-bad-inputs rule groups",
        types="aws:wafv2/webAcl:WebAcl",
        rule="S13",
        mirrors="CKV_AWS_192, CKV_AWS_342",
        severity=HIGH,
        fix="add the AWS managed rule groups with overrideAction none; override to count only the body rules "
        "in countedRules",
        check=_web_acl,
        config={
            "countedRules": {
                "type": "array",
                "items": {"type": "string"},
                "default": WAF_COUNTED_RULES,
                "description": "rules that may only count: the ones that inspect a prompt's body",
            },
            "requiredManagedRuleGroups": {
                "type": "array",
                "items": {"type": "string"},
                "default": WAF_GROUPS,
                "description": "AWS managed rule groups every web ACL runs in block mode",
            },
        },
        concern="aws",
    ),
    resource_guard(
        "log-group-kms",
        "CloudWatch log groups encrypted with a customer-managed KMS key",
        types="aws:cloudwatch/logGroup:LogGroup",
        rule="S14",
        mirrors="CKV_AWS_158",
        severity=MEDIUM,
        fix="kmsKeyId: a key whose policy lets logs.<region>.amazonaws.com use it",
        check=_log_group_kms,
        level=ADVISORY,
        concern="aws",
    ),
    resource_guard(
        "cloudtrail-validated-encrypted",
        "CloudTrail trails record every region, sign their log files, encrypt them with a customer-managed "
        "key and drop no read of a secret or key",
        types="aws:cloudtrail/trail:Trail",
        rule="custom",
        mirrors="CKV_AWS_67, CKV_AWS_36, CKV_AWS_35",
        severity=HIGH,
        fix="isMultiRegionTrail true, enableLogFileValidation true, kmsKeyId a CMK whose policy admits "
        "cloudtrail.amazonaws.com; management selectors without readOnly or eventSource fields",
        check=_cloudtrail,
        concern="aws",
    ),
    resource_guard(
        "log-group-retention",
        "CloudWatch log groups expire events within the environment's retention bounds",
        types="aws:cloudwatch/logGroup:LogGroup",
        rule="C8",
        mirrors="CKV_AWS_66, CKV_AWS_338",
        severity=LOW,
        fix="the stack's logRetentionDays within the environment's minRetentionDays..maxRetentionDays",
        check=_log_group_retention,
        level=ADVISORY,
        config={
            "minRetentionDays": {
                "type": "integer",
                "minimum": 0,
                "maximum": 3653,
                "default": 1,
                "description": "Shortest retention allowed, in days (0: no lower bound)",
            },
            "maxRetentionDays": {
                "type": "integer",
                "minimum": 1,
                "maximum": 3653,
                "default": 3653,
                "description": "Longest retention allowed, in days",
            },
        },
        concern="aws",
    ),
    resource_guard(
        "health-check-https",
        "Route 53 health checks probe over HTTPS",
        types="aws:route53/healthCheck:HealthCheck",
        rule="S21",
        mirrors="custom",
        severity=LOW,
        fix="type HTTPS (or HTTPS_STR_MATCH) against the endpoint's TLS port",
        check=_health_check_https,
        concern="aws",
    ),
    resource_guard(
        "health-check-interval",
        "Route 53 health checks run every 10 or 30 s",
        types="aws:route53/healthCheck:HealthCheck",
        rule="R10",
        mirrors="",
        severity=MEDIUM,
        fix="edge.healthCheckIntervalSeconds: 10 or 30",
        check=_health_check,
        concern="reliability",
    ),
]
