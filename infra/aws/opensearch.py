"""The ELK-style log store: one Amazon OpenSearch Service domain per stack, for ``monitoring.logs: opensearch``.

Fluent Bit on the EKS clusters (``infra.k8s.logs``) writes every container's log lines here, signed
with SigV4 as one IAM role that EKS Pod Identity hands its pods. The domain lives in the first EKS
core cluster's region and private subnets (core clusters first, stack-file order, as the metrics
workspace, ``infra.aws.amp``): never the database's primary region, which a switchover moves, and a
domain whose provider changes is replaced with its indices. It is reached only from the clusters
whose networks are routed to its VPC (``log_shippers``).

What the domain holds, and the AWS rules each choice follows:

- VPC access only, in the host cluster's private subnets, behind a security group of its own that
  admits 443 from the shipping clusters' private subnets and nothing else. A VPC domain has no
  public endpoint at all (Developer Guide, "Launching your Amazon OpenSearch Service domains within
  a VPC": https://docs.aws.amazon.com/opensearch-service/latest/developerguide/vpc.html); it takes
  one subnet per Availability Zone it uses.
- Encryption at rest with a customer-managed key that rotates yearly
  (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/encryption-at-rest.html),
  node-to-node encryption
  (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/ntn.html), and HTTPS only
  with the TLS 1.2+ forward-secrecy policy ``Policy-Min-TLS-1-2-PFS-2023-10`` (API Reference,
  DomainEndpointOptions:
  https://docs.aws.amazon.com/opensearch-service/latest/APIReference/API_DomainEndpointOptions.html).
- Fine-grained access control, which requires all three of the above
  (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/fgac.html, "Prerequisites"),
  with an IAM role as master user: no internal user database, no password anywhere. The resource
  policy lets the Fluent Bit role post and put documents and the master role call the HTTP API;
  fine-grained access control then decides what each may do inside (the Fluent Bit role is mapped
  to a security-plugin role that may only create and write the log indices, ``writer_role``).
- Audit, application (error) and slow logs published to CloudWatch Logs groups created here with the
  stack's retention and the domain's key, under a log resource policy that lets
  es.amazonaws.com write to exactly those groups for this domain
  (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/createdomain-configure-slow-logs.html).
  Audit logs need fine-grained access control
  (https://docs.aws.amazon.com/opensearch-service/latest/developerguide/audit-logs.html).
- Zone awareness when there are two data nodes or more: two zones, three when the count divides
  by three and the cluster has three subnets (Developer Guide, "Configuring a multi-AZ domain":
  https://docs.aws.amazon.com/opensearch-service/latest/developerguide/managedomains-multiaz.html).

Index retention is not a domain setting: it is an Index State Management policy, which lives in the
domain's own REST API (``_plugins/_ism``), not in the AWS API the provider drives. The program
renders it (``index_policy``) with the security plugin's role mapping (``bootstrap_requests``), and
the stack exports both as requests the master role sends once (docs/monitoring.md, "Logs").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.aws.firewall import Ingress, admit
from infra.aws.stores import account_administers_key, logs_may_use_key
from infra.naming import AUTONAMED_MAX, resource_name
from infra.settings import Cloud, Cluster, Role, Settings

ENGINE_VERSION = "OpenSearch_2.19"
"""The domain's engine (API Reference, CreateDomain EngineVersion, "OpenSearch_X.Y"): the last 2.x
line. The service's feature table names engines up to 3.3
(https://docs.aws.amazon.com/opensearch-service/latest/developerguide/features-by-version.html);
that 2.19 is offered in the stack's region was not checked offline (ListVersions needs credentials)."""
TLS_POLICY = "Policy-Min-TLS-1-2-PFS-2023-10"
"""TLS 1.2 and 1.3 with perfect forward secrecy only (API Reference, DomainEndpointOptions)."""
PORT = 443
LOG_TYPES: Mapping[str, str] = {
    "AUDIT_LOGS": "audit",
    "ES_APPLICATION_LOGS": "application",
    "INDEX_SLOW_LOGS": "index-slow",
    "SEARCH_SLOW_LOGS": "search-slow",
}
"""Log type (DomainLogPublishingOption log_type) -> the last part of its log group's name."""
WRITER_ACTIONS: tuple[str, ...] = ("es:ESHttpPost", "es:ESHttpPut")
"""What Fluent Bit needs: POST /_bulk, and PUT for an index the bulk request creates."""
INDEX_PREFIX = "logstash"
"""Fluent Bit's opensearch output names daily indices <prefix>-YYYY.MM.DD with Logstash_Format On."""
WRITER_ROLE = "inferstack-log-writer"
"""The security plugin's role the Fluent Bit IAM role is mapped to (``writer_role``)."""


def log_host(settings: Settings) -> Cluster | None:
    """The cluster whose region and private subnets hold the domain: the first AWS core cluster, else
    the first AWS cluster (stack-file order), or None when the stack ships no logs to OpenSearch."""
    if settings.monitoring.log_domain is None:
        return None
    aws_clusters = [c for c in settings.clusters if c.cloud is Cloud.AWS and c.region]
    if not aws_clusters:
        return None
    return next((c for c in aws_clusters if c.role is Role.CORE), aws_clusters[0])


def log_shippers(settings: Settings) -> list[Cluster]:
    """The EKS clusters whose Fluent Bit writes to the domain: the host, and, when the host is a core
    cluster, the other AWS core clusters, whose networks are peered with it and routed to its
    subnets (infra/topology.py ``peer_core_networks``). Any other AWS cluster (a burst cluster in a
    VPC of its own) has no route to a VPC domain and keeps the CloudWatch pipeline."""
    host = log_host(settings)
    if host is None:
        return []
    if host.role is not Role.CORE:
        return [host]
    return [c for c in settings.clusters if c.cloud is Cloud.AWS and c.region and c.role is Role.CORE]


def zone_count(instance_count: int, subnets: int) -> int:
    """Availability Zones the domain spreads over: 1 for a single node, else 3 when the count divides
    by three and the host has three subnets, else 2."""
    if instance_count < 2:
        return 1
    if instance_count % 3 == 0 and subnets >= 3:
        return 3
    return 2


def _allow(sid: str, principal: str, actions: Sequence[str], resource: str) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": list(actions),
        "Resource": resource,
    }


def access_policy(*, domain_arn: str, writer_role_arn: str, admin_role_arn: str) -> dict[str, Any]:
    """Who may call the domain's HTTP API at all: the Fluent Bit role may only post and put, the
    master role may use the whole API (to set the role mapping and index policy); nobody else
    (Developer Guide, "Identity and Access Management in Amazon OpenSearch Service", resource-based
    policies: https://docs.aws.amazon.com/opensearch-service/latest/developerguide/ac.html)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            _allow("FluentBitWrites", writer_role_arn, WRITER_ACTIONS, f"{domain_arn}/*"),
            _allow("MasterRoleAdministers", admin_role_arn, ["es:ESHttp*"], f"{domain_arn}/*"),
        ],
    }


def writer_policy(domain_arn: str) -> dict[str, Any]:
    """The Fluent Bit role's own policy: the same two actions, on this domain's paths only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteLogs",
                "Effect": "Allow",
                "Action": list(WRITER_ACTIONS),
                "Resource": [f"{domain_arn}/*"],
            }
        ],
    }


def log_resource_policy(*, log_group_arns: Sequence[str], account: str, domain_arn: str) -> dict[str, Any]:
    """es.amazonaws.com may write the domain's log groups, for this domain only (confused-deputy
    conditions aws:SourceAccount and aws:SourceArn, as the slow-logs page shows)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OpenSearchPublishesItsLogs",
                "Effect": "Allow",
                "Principal": {"Service": "es.amazonaws.com"},
                "Action": ["logs:PutLogEvents", "logs:CreateLogStream"],
                "Resource": [f"{arn}:*" for arn in sorted(log_group_arns)],
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": domain_arn},
                },
            }
        ],
    }


def key_policy(*, account: str, partition: str, region: str, log_group_prefix: str) -> dict[str, Any]:
    """The account administers the key through IAM (so the principal that creates the domain may make
    the grants OpenSearch Service asks for); CloudWatch Logs may use it for the domain's log groups
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            account_administers_key(partition, account),
            logs_may_use_key(
                "DomainLogGroups",
                region,
                f"arn:{partition}:logs:{region}:{account}:log-group:{log_group_prefix}/*",
                like=True,
            ),
        ],
    }


def index_policy(retention_days: int) -> dict[str, Any]:
    """The ISM policy that deletes a day's index once it is ``retention_days`` old, attached to every
    new ``logstash-*`` index (OpenSearch docs, "Index State Management", policies and ism_template:
    https://docs.opensearch.org/latest/im-plugin/ism/policies/)."""
    return {
        "policy": {
            "description": f"Delete log indices after {retention_days} days (logRetentionDays)",
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [],
                    "transitions": [
                        {"state_name": "delete", "conditions": {"min_index_age": f"{retention_days}d"}}
                    ],
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
            "ism_template": [{"index_patterns": [f"{INDEX_PREFIX}-*"], "priority": 100}],
        }
    }


def writer_role() -> dict[str, Any]:
    """What Fluent Bit may do inside the domain: bulk-write, and create and index the log indices
    only. The names are the security plugin's static action groups (opensearch-project/security,
    src/main/resources/static_config/static_action_groups.yml: ``cluster_composite_ops`` holds
    indices:data/write/bulk, ``create_index`` and ``index`` the index-level actions)."""
    return {
        "cluster_permissions": ["cluster_composite_ops", "cluster_monitor"],
        "index_permissions": [
            {"index_patterns": [f"{INDEX_PREFIX}-*"], "allowed_actions": ["create_index", "index"]}
        ],
    }


def bootstrap_requests(*, writer_role_arn: str, retention_days: int) -> list[dict[str, Any]]:
    """What the master role sends once after the first apply: the writer role, the Fluent Bit IAM role
    as its backend role (FGAC, "Mapping roles to users":
    https://docs.aws.amazon.com/opensearch-service/latest/developerguide/fgac.html#fgac-mapping;
    security REST API, roles and rolesmapping:
    https://docs.opensearch.org/latest/security/access-control/api/), and the index retention policy."""
    return [
        {"method": "PUT", "path": f"/_plugins/_security/api/roles/{WRITER_ROLE}", "body": writer_role()},
        {
            "method": "PUT",
            "path": f"/_plugins/_security/api/rolesmapping/{WRITER_ROLE}",
            "body": {"backend_roles": [writer_role_arn]},
        },
        {
            "method": "PUT",
            "path": "/_plugins/_ism/policies/inferstack-log-retention",
            "body": index_policy(retention_days),
        },
    ]


def admin_trust(principals: Sequence[str]) -> dict[str, Any]:
    """Only the named principals may become the master role, never the whole account."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": sorted(principals)}, "Action": "sts:AssumeRole"}
        ],
    }


def _pod_identity_trust() -> str:
    # EKS Pod Identity assumes the role and tags the session
    # (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html).
    return json.dumps(
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


@dataclass(kw_only=True)
class LogDomainArgs:
    domain_name: str
    """3-28 characters: lower-case letters, digits and '-', starting with a letter (CreateDomain)."""
    region: str
    """The provider's region, where the host cluster runs."""
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    """The host cluster's private subnets, one per zone; the domain takes as many as it has zones."""
    subnets: int
    """How many ``subnet_ids`` there are (known before they exist)."""
    client_cidrs: Sequence[str]
    """The shipping clusters' private subnets: the only sources the security group admits on 443."""
    instance_type: str
    instance_count: int
    volume_gib: int
    log_retention_days: int
    """CloudWatch retention of the domain's own logs, and the age at which an index is deleted."""
    admin_principal_arns: Sequence[str] = ()
    """Who may assume the master role: the stack's cluster admins; empty, the deploying identity."""
    protect: bool = False
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = "LogDomainArgs"
        if not 3 <= len(self.domain_name) <= 28 or not self.domain_name[0].isalpha():
            raise ValueError(
                f"{where}.domain_name={self.domain_name!r}: 3-28 characters, starting with a letter"
            )
        if not self.client_cidrs:
            raise ValueError(f"{where}.client_cidrs: empty; nothing could write to the domain")
        if self.instance_count > 1 and self.subnets < 2:
            raise ValueError(f"{where}.subnets={self.subnets}: a zone-aware domain needs two subnets or more")


class LogDomain(pulumi.ComponentResource):
    """The stack's OpenSearch domain, its key, security group, log groups and the two IAM roles."""

    domain: aws.opensearch.Domain
    endpoint: pulumi.Output[str]
    """The domain's VPC endpoint host name (no scheme), what Fluent Bit's ``Host`` takes."""
    writer_role_arn: pulumi.Output[str]
    """The role every Fluent Bit pod gets through EKS Pod Identity."""
    admin_role_arn: pulumi.Output[str]
    """The fine-grained access control master role."""
    requests: pulumi.Output[list[dict[str, Any]]]
    """``bootstrap_requests``: what the master role sends once."""

    def __init__(self, name: str, args: LogDomainArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:aws:LogDomain", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke).partition
        stem = resource_name(name, max_len=AUTONAMED_MAX)

        def child_name(*role: str) -> str:
            return resource_name(name, *role, max_len=AUTONAMED_MAX)

        def tags(resource: str) -> dict[str, str]:
            return {**args.tags, "Name": resource}

        domain_arn = pulumi.Output.all(partition, identity.account_id).apply(
            lambda v: f"arn:{v[0]}:es:{args.region}:{v[1]}:domain/{args.domain_name}"
        )
        group_prefix = f"/aws/vendedlogs/opensearch/{args.domain_name}"

        key = aws.kms.Key(
            stem,
            description=f"OpenSearch log domain {args.domain_name}: indices and the domain's own logs",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(partition, identity.account_id).apply(
                lambda v: json.dumps(
                    key_policy(
                        account=v[1], partition=v[0], region=args.region, log_group_prefix=group_prefix
                    ),
                    sort_keys=True,
                )
            ),
            tags=tags(stem),
            opts=kept,
        )
        aws.kms.Alias(stem, name=f"alias/opensearch/{args.domain_name}", target_key_id=key.key_id, opts=child)

        groups = {
            log_type: aws.cloudwatch.LogGroup(
                child_name(suffix),
                name=f"{group_prefix}/{suffix}",
                retention_in_days=args.log_retention_days,
                kms_key_id=key.arn,
                tags=tags(child_name(suffix)),
                opts=kept,
            )
            for log_type, suffix in LOG_TYPES.items()
        }
        publishing = aws.cloudwatch.LogResourcePolicy(
            stem,
            policy_name=f"opensearch-{args.domain_name}",
            policy_document=pulumi.Output.all(
                identity.account_id, domain_arn, *(g.arn for g in groups.values())
            ).apply(
                lambda v: json.dumps(
                    log_resource_policy(log_group_arns=v[2:], account=v[0], domain_arn=v[1]), sort_keys=True
                )
            ),
            opts=child,
        )

        group = aws.ec2.SecurityGroup(
            child_name("https"),
            vpc_id=args.vpc_id,
            description=f"OpenSearch {args.domain_name}: 443 from the EKS clusters' private subnets only",
            tags=tags(child_name("https")),
            opts=child,
        )
        admit(
            group.id,
            port=PORT,
            sources=[
                Ingress(child_name("https", cidr), cidr, f"Fluent Bit from {cidr}")
                for cidr in args.client_cidrs
            ],
            tags=tags,
            opts=child,
        )

        # The stack's cluster admins, or the deploying identity, as the EKS access entries name them
        # (infra/aws/eks.py ``_deployer_arn``: the session context gives an assumed role's real ARN).
        admins: pulumi.Input[Sequence[str]] = list(
            args.admin_principal_arns
        ) or aws.iam.get_session_context_output(arn=identity.arn, opts=invoke).issuer_arn.apply(
            lambda arn: [arn]
        )
        admin = aws.iam.Role(
            child_name("admin"),
            description=f"Fine-grained access control master of OpenSearch {args.domain_name}",
            assume_role_policy=pulumi.Output.from_input(admins).apply(
                lambda arns: json.dumps(admin_trust(arns))
            ),
            tags=tags(child_name("admin")),
            opts=child,
        )
        writer = aws.iam.Role(
            child_name("fluent-bit"),
            description=f"Fluent Bit on the EKS clusters, writing to OpenSearch {args.domain_name} (Pod Identity)",
            assume_role_policy=_pod_identity_trust(),
            tags=tags(child_name("fluent-bit")),
            opts=child,
        )
        aws.iam.RolePolicy(
            child_name("fluent-bit"),
            role=writer.id,
            policy=domain_arn.apply(lambda arn: json.dumps(writer_policy(arn))),
            opts=child,
        )

        zones = zone_count(args.instance_count, args.subnets)
        self.domain = aws.opensearch.Domain(
            stem,
            domain_name=args.domain_name,
            engine_version=ENGINE_VERSION,
            cluster_config=aws.opensearch.DomainClusterConfigArgs(
                instance_type=args.instance_type,
                instance_count=args.instance_count,
                zone_awareness_enabled=zones > 1,
                zone_awareness_config=(
                    aws.opensearch.DomainClusterConfigZoneAwarenessConfigArgs(availability_zone_count=zones)
                    if zones > 1
                    else None
                ),
            ),
            ebs_options=aws.opensearch.DomainEbsOptionsArgs(
                ebs_enabled=True, volume_type="gp3", volume_size=args.volume_gib
            ),
            encrypt_at_rest=aws.opensearch.DomainEncryptAtRestArgs(enabled=True, kms_key_id=key.arn),
            node_to_node_encryption=aws.opensearch.DomainNodeToNodeEncryptionArgs(enabled=True),
            domain_endpoint_options=aws.opensearch.DomainDomainEndpointOptionsArgs(
                enforce_https=True, tls_security_policy=TLS_POLICY
            ),
            advanced_security_options=aws.opensearch.DomainAdvancedSecurityOptionsArgs(
                enabled=True,
                anonymous_auth_enabled=False,
                internal_user_database_enabled=False,
                master_user_options=aws.opensearch.DomainAdvancedSecurityOptionsMasterUserOptionsArgs(
                    master_user_arn=admin.arn
                ),
            ),
            vpc_options=aws.opensearch.DomainVpcOptionsArgs(
                subnet_ids=pulumi.Output.from_input(args.subnet_ids).apply(
                    lambda ids: list(ids)[: max(zones, 1)]
                ),
                security_group_ids=[group.id],
            ),
            log_publishing_options=[
                aws.opensearch.DomainLogPublishingOptionArgs(
                    log_type=log_type, cloudwatch_log_group_arn=g.arn, enabled=True
                )
                for log_type, g in groups.items()
            ],
            access_policies=pulumi.Output.all(domain_arn, writer.arn, admin.arn).apply(
                lambda v: json.dumps(
                    access_policy(domain_arn=v[0], writer_role_arn=v[1], admin_role_arn=v[2]), sort_keys=True
                )
            ),
            tags=tags(stem),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=[publishing]),
        )
        self.endpoint = self.domain.endpoint
        self.writer_role_arn = writer.arn
        self.admin_role_arn = admin.arn
        self.requests = writer.arn.apply(
            lambda arn: bootstrap_requests(writer_role_arn=arn, retention_days=args.log_retention_days)
        )
        self.register_outputs(
            {
                "domainArn": self.domain.arn,
                "endpoint": self.endpoint,
                "writerRoleArn": self.writer_role_arn,
                "adminRoleArn": self.admin_role_arn,
            }
        )
