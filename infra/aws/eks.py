"""A private EKS cluster for serving models, and the Kubernetes provider that reaches it.

Creates, for one cluster:

- a KMS key (rotated yearly, no wildcard principal) with an alias. It envelope-encrypts the
  cluster's Kubernetes secrets, the control-plane log group and the nodes' root volumes, so its
  policy lets CloudWatch Logs use it for that log group and the container log groups, and lets EC2 Auto Scaling use it
  for the volumes of the instances it launches;
- the control-plane log group `/aws/eks/<cluster>/cluster`, with a retention and the key,
  created before the cluster so that EKS does not create an unmanaged one that never expires;
  all five control-plane log types go to it;
- the cluster role (AmazonEKSClusterPolicy, plus use of the key) and the node role;
- a security group for the control plane's network interfaces that admits the stack's deployers
  on 443 (one rule per block; none when no deployer is listed), so that `pulumi up` reaches the
  private endpoint from a routed network (see `EksCluster._deployer_access`);
- the cluster: API endpoint private (public only to listed CIDRs), authentication by EKS access
  entries only (no aws-auth ConfigMap, no implicit admin for whoever created it), one access
  entry with cluster-admin per admin principal, and the upgrade policy STANDARD so that the
  cluster is upgraded rather than billed for extended support when its version ages out;
- IAM roles for service accounts (an OIDC provider) and EKS Pod Identity (its agent add-on),
  and the VPC CNI, kube-proxy and CoreDNS add-ons at pinned versions;
- one managed node group per node pool (see `infra.aws.nodegroups`);
- the CloudWatch Observability add-on (the nodes' and containers' logs to CloudWatch Logs, with an
  EKS Pod Identity role holding CloudWatchAgentServerPolicy), and its log groups
  `/aws/containerinsights/<cluster>/*` created first with the stack's log retention and the key;
- the EBS CSI driver add-on, whose controller's Pod Identity role may manage only the volumes it
  tags (infra/aws/ebs.py): without it no PersistentVolumeClaim is bound;
- an exec-based kubeconfig (`aws eks get-token`) and a Kubernetes provider built from it.

The AWS provider is not created here: pass it as
`opts=pulumi.ResourceOptions(providers=[aws_provider])`; `region` must be the provider's region.
The Kubernetes provider reaches a private endpoint only from a deployer's block (routed to the VPC
by peering, Transit Gateway or VPN), with the AWS credentials of an admin principal.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws import ebs
from infra.aws.firewall import Ingress, admit
from infra.aws.nodegroups import NodeGroupContext, is_gpu, machine_of, node_group
from infra.aws.stores import account_administers_key, logs_may_use_key
from infra.catalog import catalog
from infra.naming import AUTONAMED_MAX, resource_name
from infra.settings import Capacity, Deployer, Environment, NodePool, Role

CLUSTER_LOG_TYPES: tuple[str, ...] = ("api", "audit", "authenticator", "controllerManager", "scheduler")

NODE_ADDONS: tuple[str, ...] = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
"""Add-ons that run on every node (DaemonSets): installed before the node groups, so that the
first nodes come up with them. CoreDNS is a Deployment and waits for nodes to schedule on."""
ADDON_CONFIGURATION: dict[str, str] = {
    # The VPC CNI enforces Kubernetes NetworkPolicies only when asked to (from v1.14; the catalog's
    # releases are v1.20 and later): the add-on's configuration value enableNetworkPolicy "true"
    # starts the network policy agent on every node. Without it the namespaces' default-deny
    # policies (infra/k8s/netpol.py) would be accepted and ignored.
    # https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html
    "vpc-cni": json.dumps({"enableNetworkPolicy": "true"}),
}
"""Add-on -> its configuration values (JSON, the add-on's configuration schema)."""

OBSERVABILITY_ADDON = "amazon-cloudwatch-observability"
"""CloudWatch agent and Fluent Bit: the nodes' and containers' logs and Container Insights metrics
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-setup-EKS-addon.html)."""
OBSERVABILITY_SERVICE_ACCOUNT = "cloudwatch-agent"
"""The add-on's agents run as this service account; from add-on 3.1.0 on, EKS Pod Identity may give it
its role (same page), so the nodes' role never holds the agent's rights."""
OBSERVABILITY_POLICY = "CloudWatchAgentServerPolicy"
CONTAINER_LOG_GROUPS: tuple[str, ...] = ("application", "dataplane", "host", "performance")
"""The log groups the add-on writes, /aws/containerinsights/<cluster>/<name>: created here first with
the environment's retention and the cluster's key, since the agents would create them without either."""

NO_CONTAINER_LOGS = json.dumps({"containerLogs": {"enabled": False}})
"""The add-on's opt-out of container log collection (CloudWatch User Guide, "Install the CloudWatch
agent with the Amazon CloudWatch Observability EKS add-on or the Helm chart", "Opt out of collecting
container logs":
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/install-CloudWatch-Observability-EKS-addon.html);
metrics and the nodes' own logs stay."""

CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
CLUSTER_POLICIES: tuple[str, ...] = ("AmazonEKSClusterPolicy",)
NODE_POLICIES: tuple[str, ...] = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonEKS_CNI_Policy",
)
"""Joining the cluster, pulling images, and the VPC CNI's ENI/IP management. Pull-only is the
narrow successor of AmazonEC2ContainerRegistryReadOnly. The CNI policy stays on the node role
instead of a Pod Identity role for aws-node: pods cannot reach the node role (IMDS hop limit 1),
only host-network pods such as aws-node can, and a node's network then does not wait for the
Pod Identity agent to be up on that same node."""

KMS_DELETION_WINDOW_DAYS = 30
API_PORT = 443
"""The port of the Kubernetes API on an EKS endpoint, private or public."""
_IAM_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$")
_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def support_warning(version: str, today: dt.date) -> str | None:
    """What goes wrong with `version` on `today`, if anything (dates from the catalog).

    Past standard support a cluster either pays six times as much (extended support) or, with the
    STANDARD upgrade policy set here, is upgraded by EKS on its own, after which the stack's version
    is behind the cluster's.
    """
    end = catalog().eks_versions.get(version)
    if end is None or today <= end:
        return None
    current = [
        f"{v} (until {d.isoformat()})" for v, d in sorted(catalog().eks_versions.items()) if d >= today
    ]
    return (
        f"EKS {version} left standard support on {end.isoformat()}; EKS upgrades such a cluster on its own "
        f"(upgradePolicy STANDARD) and the stack would then ask for a downgrade. In standard support: "
        f"{', '.join(current) or 'none in the catalog'}."
    )


def key_policy(*, account_id: str, partition: str, dns_suffix: str, region: str, cluster_name: str) -> str:
    """Key policy: the account administers the key through IAM; two services may use it."""
    log_group_arn = f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/eks/{cluster_name}/cluster"
    container_logs_arn = (
        f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/containerinsights/{cluster_name}/*"
    )
    autoscaling = (
        f"arn:{partition}:iam::{account_id}:role/aws-service-role/autoscaling.amazonaws.com/"
        "AWSServiceRoleForAutoScaling"
    )
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                account_administers_key(partition, account_id),
                logs_may_use_key("ControlPlaneLogGroup", region, log_group_arn, dns_suffix=dns_suffix),
                logs_may_use_key(
                    "ContainerLogGroups", region, container_logs_arn, like=True, dns_suffix=dns_suffix
                ),
                {
                    "Sid": "AutoScalingEncryptsNodeVolumes",
                    "Effect": "Allow",
                    "Principal": {"AWS": autoscaling},
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:DescribeKey",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "AutoScalingAttachesNodeVolumes",
                    "Effect": "Allow",
                    "Principal": {"AWS": autoscaling},
                    "Action": "kms:CreateGrant",
                    "Resource": "*",
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                },
            ],
        }
    )


def assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def kubeconfig(*, cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig (JSON, which is YAML) that gets a token from the AWS CLI on every use."""
    user = f"{cluster_name}-admin"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
            "current-context": cluster_name,
        },
        indent=2,
    )


@dataclass(frozen=True, kw_only=True)
class EksClusterArgs:
    """What the cluster needs to know; validated before any resource exists."""

    cluster_name: str
    """Physical EKS cluster name; also names the log group and the autoscaler's discovery tags."""
    region: str
    """AWS region of the provider passed in opts, e.g. "us-east-1"."""
    kubernetes_version: str
    """EKS minor version, e.g. "1.33"; one with pinned add-on versions (the catalog's eksAddons)."""
    vpc_id: pulumi.Input[str]
    """The VPC of the subnets; exported for in-cluster controllers, which cannot read it from IMDS."""
    private_subnet_ids: pulumi.Input[Sequence[str]]
    """Private subnets (at least two zones) for the control plane's network interfaces and the nodes."""
    zones: Sequence[str]
    """Zone names of ``private_subnet_ids``, in the same order: GPU node groups keep the zones offering their type."""
    endpoint_public: bool
    """Whether the API endpoint is also reachable from outside the VPC (the private one always is)."""
    public_access_cidrs: Sequence[str] = ()
    """The only CIDRs that reach a public endpoint; required when public, unused when private."""
    log_retention_days: int
    """Days CloudWatch keeps control-plane logs; one of the values CloudWatch accepts."""
    node_pools: Sequence[NodePool]
    """Node pools of the cluster (machine types from the catalog); at least one without a GPU and
    minSize >= 1, where CoreDNS and other system pods run."""
    role: Role
    """core or burst; becomes the inferstack.io/role node label."""
    environment: Environment
    """dev, staging or prod; only in descriptions."""
    tags: Mapping[str, str]
    """Tags for every taggable child."""
    admin_principal_arns: Sequence[str] = ()
    """IAM roles or users given cluster-admin through access entries. Empty: the identity running
    the deployment, so that the Kubernetes provider below can reach the cluster."""
    deployers: Sequence[Deployer] = ()
    """Networks admitted on 443 to the private endpoint, one rule each (described by the setting); the
    group that holds the rules exists even when this is empty."""
    capacity_reservation_ids: Mapping[str, str] = field(default_factory=dict)
    """Pool name -> EC2 Capacity Block reservation id (cr-...), one for each pool with capacity reserved."""
    container_logs: bool = True
    """Whether the CloudWatch Observability add-on ships the containers' logs; off where Fluent Bit sends
    them to the stack's OpenSearch domain instead (infra/k8s/logs.py)."""
    protect: bool = False
    """Turn on the cluster's deletion protection and protect the key and log group from `pulumi destroy`."""
    stack_file: str = ""
    """The stack file, named in errors found only once the account answers (no zone offers a GPU type)."""

    def __post_init__(self) -> None:
        where = "EksClusterArgs"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}", self.cluster_name):
            raise ValueError(f"{where}.cluster_name={self.cluster_name!r}: 1-100 letters, digits, '-' or '_'")
        if not _REGION.match(self.region):
            raise ValueError(f"{where}.region={self.region!r}: expected a region such as 'us-east-1'")
        pinned = catalog().eks_addons
        if self.kubernetes_version not in pinned:
            raise ValueError(
                f"{where}.kubernetes_version={self.kubernetes_version!r}: no add-on versions are pinned for it "
                f"in infra/catalog/kubernetes.yaml (eksAddons); allowed: {', '.join(pinned)}"
            )
        if self.log_retention_days not in catalog().log_retention_days:
            raise ValueError(
                f"{where}.log_retention_days={self.log_retention_days}: "
                f"must be one of {sorted(catalog().log_retention_days)}"
            )
        cidrs = list(self.public_access_cidrs)
        if self.endpoint_public and (not cidrs or "0.0.0.0/0" in cidrs):
            raise ValueError(
                f"{where}.public_access_cidrs={cidrs!r}: a public endpoint needs a list of CIDRs, not the internet"
            )
        if not self.endpoint_public and cidrs:
            raise ValueError(f"{where}.public_access_cidrs={cidrs!r}: only for a public endpoint")
        pools = list(self.node_pools)
        if not pools:
            raise ValueError(f"{where}.node_pools: must not be empty")
        for pool in pools:
            machine_of(pool)
        if not any(not p.is_accelerated and p.min_size >= 1 for p in pools):
            raise ValueError(
                f"{where}.node_pools: needs a pool without accelerators and minSize >= 1; GPU nodes are "
                "tainted, so CoreDNS and other system pods would have nowhere to run"
            )
        reserved = {p.name for p in pools if p.capacity is Capacity.RESERVED}
        missing = sorted(reserved - set(self.capacity_reservation_ids))
        if missing:
            raise ValueError(
                f"{where}.capacity_reservation_ids: no Capacity Block reservation id for reserved pool(s) "
                f"{', '.join(missing)}; EKS launches capacity-block nodes only into a named reservation"
            )
        extra = sorted(set(self.capacity_reservation_ids) - reserved)
        if extra:
            raise ValueError(f"{where}.capacity_reservation_ids: {', '.join(extra)} are not reserved pools")
        blocks = [d.cidr for d in self.deployers]
        if len(set(blocks)) != len(blocks):
            raise ValueError(f"{where}.deployers: {blocks!r} must be distinct (one rule per block)")
        for deployer in self.deployers:
            if deployer.network is None:
                raise ValueError(
                    f"{where}.deployers: {deployer.cidr!r} is not an IPv4 block a deployer can be in "
                    "(the settings say why)"
                )
        admins = list(self.admin_principal_arns)
        if len(set(admins)) != len(admins):
            raise ValueError(f"{where}.admin_principal_arns={admins!r}: must be distinct")
        for arn in admins:
            if not _IAM_PRINCIPAL.match(arn):
                raise ValueError(
                    f"{where}.admin_principal_arns: {arn!r} is not an IAM role or user ARN "
                    "(arn:aws:iam::<account>:role/<name>)"
                )


class EksCluster(pulumi.ComponentResource):
    """A private EKS cluster with encrypted secrets, logged control plane, IRSA/Pod Identity and node groups."""

    name: pulumi.Output[str]
    """Physical cluster name."""
    endpoint: pulumi.Output[str]
    """URL of the Kubernetes API server."""
    certificate_authority: pulumi.Output[str]
    """Base64 PEM of the cluster's certificate authority."""
    oidc_issuer: pulumi.Output[str]
    """OIDC issuer URL of the cluster's service account tokens."""
    oidc_provider_arn: pulumi.Output[str]
    """IAM OIDC provider for IAM roles for service accounts (IRSA)."""
    node_role_arn: pulumi.Output[str]
    """IAM role the nodes run as."""
    cluster_security_group_id: pulumi.Output[str]
    """Security group EKS created for the control plane and managed nodes."""
    kms_key_arn: pulumi.Output[str]
    """KMS key of secrets, control-plane logs and node volumes."""
    vpc_id: pulumi.Output[str]
    """The cluster's VPC."""
    kubeconfig: pulumi.Output[str]
    """Exec-based kubeconfig (aws eks get-token); holds no credentials."""
    kubernetes_provider: k8s.Provider
    """Kubernetes provider for everything that runs in this cluster."""
    node_groups: dict[str, aws.eks.NodeGroup]
    """Pool name -> its managed node group (the autoscaler's expander names their groups)."""
    block_storage: aws.eks.Addon
    """The EBS CSI driver add-on: what waits on a persistent volume waits for it."""

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:aws:EksCluster", name, None, opts)
        warning = support_warning(args.kubernetes_version, dt.date.today())
        if warning:
            pulumi.log.warn(f"cluster {args.cluster_name}: {warning}", resource=self)
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=args.protect)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)

        def child_name(*role: str) -> str:
            return resource_name(name, *role, max_len=AUTONAMED_MAX)

        def tags(resource: str) -> dict[str, str]:
            return {**args.tags, "Name": resource}

        key_name = child_name("eks")
        key = aws.kms.Key(
            key_name,
            description=f"EKS {args.cluster_name} ({args.environment.value}): secrets, control-plane logs, node volumes",
            enable_key_rotation=True,
            deletion_window_in_days=KMS_DELETION_WINDOW_DAYS,
            policy=pulumi.Output.all(identity.account_id, partition.partition, partition.dns_suffix).apply(
                lambda v: key_policy(
                    account_id=v[0],
                    partition=v[1],
                    dns_suffix=v[2],
                    region=args.region,
                    cluster_name=args.cluster_name,
                )
            ),
            tags=tags(key_name),
            opts=kept,
        )
        aws.kms.Alias(key_name, name=f"alias/eks/{args.cluster_name}", target_key_id=key.key_id, opts=child)

        log_group_name = child_name("control-plane")
        log_group = aws.cloudwatch.LogGroup(
            log_group_name,
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=key.arn,
            tags=tags(log_group_name),
            opts=kept,
        )

        cluster_role, cluster_role_grants = self._role(
            child_name("cluster"),
            service="eks.amazonaws.com",
            description=f"EKS control plane of {args.cluster_name}",
            policies=CLUSTER_POLICIES,
            partition=partition,
            tags=args.tags,
        )
        # Envelope encryption: the control plane encrypts and decrypts secrets with the key.
        cluster_role_grants.append(
            aws.iam.RolePolicy(
                child_name("cluster", "kms"),
                role=cluster_role.id,
                policy=pulumi.Output.json_dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                                "Resource": key.arn,
                            }
                        ],
                    }
                ),
                opts=child,
            )
        )
        node_role, node_role_grants = self._role(
            child_name("node"),
            service="ec2.amazonaws.com",
            description=f"EKS nodes of {args.cluster_name}",
            policies=NODE_POLICIES,
            partition=partition,
            tags=args.tags,
        )

        deployers = self._deployer_access(child_name("deployers"), args, tags)

        cluster = aws.eks.Cluster(
            name,
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.private_subnet_ids,
                security_group_ids=[deployers.id],
                endpoint_private_access=True,
                endpoint_public_access=args.endpoint_public,
                public_access_cidrs=list(args.public_access_cidrs) if args.endpoint_public else None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=False,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=list(CLUSTER_LOG_TYPES),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            deletion_protection=args.protect,
            tags=tags(name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, *cluster_role_grants]),
        )

        admins = self._admins(name, cluster, args, identity, partition)

        issuer = cluster.identities.apply(_oidc_issuer)
        oidc = aws.iam.OpenIdConnectProvider(
            child_name("oidc"),
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=tags(child_name("oidc")),
            opts=child,
        )

        versions = catalog().eks_addons[args.kubernetes_version]

        def addon(
            addon_name: str,
            depends_on: Sequence[pulumi.Resource] = (),
            pod_identity: Sequence[aws.eks.AddonPodIdentityAssociationArgs] | None = None,
            configuration: str | None = None,
        ) -> aws.eks.Addon:
            return aws.eks.Addon(
                child_name(addon_name),
                cluster_name=cluster.name,
                addon_name=addon_name,
                addon_version=versions[addon_name],
                pod_identity_associations=list(pod_identity) if pod_identity else None,
                configuration_values=configuration or ADDON_CONFIGURATION.get(addon_name),
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=tags(child_name(addon_name)),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
            )

        node_addons = [addon(a) for a in NODE_ADDONS]

        context = NodeGroupContext(
            base_name=name,
            cluster_name=cluster.name,
            autoscaler_cluster_name=args.cluster_name,
            kubernetes_version=cluster.version,
            node_role_arn=node_role.arn,
            subnet_ids=args.private_subnet_ids,
            region=args.region,
            zones=args.zones,
            stack_file=args.stack_file,
            zone_ids=self._zone_ids() if any(is_gpu(machine_of(p)) for p in args.node_pools) else None,
            kms_key_arn=key.arn,
            role=args.role,
            tags=args.tags,
            capacity_reservation_ids=args.capacity_reservation_ids,
        )
        self.node_groups = {
            pool.name: node_group(context, pool, self, [*node_role_grants, *node_addons])
            for pool in args.node_pools
        }
        groups = list(self.node_groups.values())
        addon("coredns", depends_on=groups)
        self._observability(name, args, cluster, key, partition, addon, [*groups, *node_addons], tags)
        self.block_storage = self._block_storage(name, partition, addon, [*groups, *node_addons], tags)

        self.name = cluster.name
        self.endpoint = cluster.endpoint
        self.certificate_authority = cluster.certificate_authority.apply(lambda ca: ca.data or "")
        self.oidc_issuer = issuer
        self.oidc_provider_arn = oidc.arn
        self.node_role_arn = node_role.arn
        self.cluster_security_group_id = cluster.vpc_config.apply(
            lambda vpc: vpc.cluster_security_group_id or ""
        )
        self.kms_key_arn = key.arn
        self.vpc_id = pulumi.Output.from_input(args.vpc_id)
        self.kubeconfig = pulumi.Output.all(cluster.name, self.endpoint, self.certificate_authority).apply(
            lambda v: kubeconfig(
                cluster_name=v[0], endpoint=v[1], certificate_authority=v[2], region=args.region
            )
        )
        self.kubernetes_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            # Until the admins' access policies exist, the API answers 401 to the provider.
            opts=pulumi.ResourceOptions(parent=self, depends_on=admins),
        )
        self.register_outputs(
            {
                "name": self.name,
                "endpoint": self.endpoint,
                "certificateAuthority": self.certificate_authority,
                "oidcIssuer": self.oidc_issuer,
                "oidcProviderArn": self.oidc_provider_arn,
                "nodeRoleArn": self.node_role_arn,
                "clusterSecurityGroupId": self.cluster_security_group_id,
                "kmsKeyArn": self.kms_key_arn,
                "vpcId": self.vpc_id,
                "kubeconfig": self.kubeconfig,
            }
        )

    def _observability(
        self,
        name: str,
        args: EksClusterArgs,
        cluster: aws.eks.Cluster,
        key: aws.kms.Key,
        partition: pulumi.Output[Any],
        addon: Callable[..., aws.eks.Addon],
        after: Sequence[pulumi.Resource],
        tags: Callable[[str], dict[str, str]],
    ) -> None:
        """The CloudWatch Observability add-on, its Pod Identity role and its log groups."""
        child = pulumi.ResourceOptions(parent=self)
        logs = [
            aws.cloudwatch.LogGroup(
                resource_name(name, "logs", group, max_len=AUTONAMED_MAX),
                name=f"/aws/containerinsights/{args.cluster_name}/{group}",
                retention_in_days=args.log_retention_days,
                kms_key_id=key.arn,
                tags=tags(resource_name(name, "logs", group, max_len=AUTONAMED_MAX)),
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            for group in CONTAINER_LOG_GROUPS
        ]
        role_name = resource_name(name, "cloudwatch", max_len=AUTONAMED_MAX)
        role = aws.iam.Role(
            role_name,
            description=f"CloudWatch agent and Fluent Bit of {args.cluster_name} (EKS Pod Identity)",
            # EKS Pod Identity assumes the role and tags the session
            # (https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html).
            assume_role_policy=json.dumps(
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
            ),
            tags=tags(role_name),
            opts=child,
        )
        grant = aws.iam.RolePolicyAttachment(
            resource_name(role_name, OBSERVABILITY_POLICY, max_len=AUTONAMED_MAX),
            role=role.name,
            policy_arn=partition.partition.apply(lambda p: f"arn:{p}:iam::aws:policy/{OBSERVABILITY_POLICY}"),
            opts=child,
        )
        addon(
            OBSERVABILITY_ADDON,
            depends_on=[*after, *logs, grant],
            configuration=None if args.container_logs else NO_CONTAINER_LOGS,
            pod_identity=[
                aws.eks.AddonPodIdentityAssociationArgs(
                    role_arn=role.arn, service_account=OBSERVABILITY_SERVICE_ACCOUNT
                )
            ],
        )

    def _block_storage(
        self,
        name: str,
        partition: pulumi.Output[Any],
        addon: Callable[..., aws.eks.Addon],
        after: Sequence[pulumi.Resource],
        tags: Callable[[str], dict[str, str]],
    ) -> aws.eks.Addon:
        """The EBS CSI driver add-on and its controller's Pod Identity role (infra/aws/ebs.py): what
        binds the persistent volumes Prometheus keeps its data on."""
        child = pulumi.ResourceOptions(parent=self)
        role_name = resource_name(name, "ebs-csi", max_len=AUTONAMED_MAX)
        role = aws.iam.Role(
            role_name,
            description="EBS CSI driver controller (EKS Pod Identity)",
            assume_role_policy=json.dumps(
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
            ),
            tags=tags(role_name),
            opts=child,
        )
        grant = aws.iam.RolePolicy(
            role_name,
            role=role.id,
            policy=partition.partition.apply(lambda p: json.dumps(ebs.driver_policy(p))),
            opts=child,
        )
        return addon(
            ebs.ADDON,
            depends_on=[*after, grant],
            pod_identity=[
                aws.eks.AddonPodIdentityAssociationArgs(
                    role_arn=role.arn, service_account=ebs.CONTROLLER_SERVICE_ACCOUNT
                )
            ],
        )

    def _role(
        self,
        role_name: str,
        *,
        service: str,
        description: str,
        policies: Sequence[str],
        partition: pulumi.Output[Any],
        tags: Mapping[str, str],
    ) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        """A role only `service` can assume, with AWS managed policies attached."""
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            role_name,
            description=description,
            assume_role_policy=assume_role_policy(service),
            tags={**tags, "Name": role_name},
            opts=child,
        )
        attachments: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(
                resource_name(role_name, policy, max_len=AUTONAMED_MAX),
                role=role.name,
                policy_arn=partition.partition.apply(
                    lambda p, policy=policy: f"arn:{p}:iam::aws:policy/{policy}"
                ),
                opts=child,
            )
            for policy in policies
        ]
        return role, attachments

    def _deployer_access(
        self, group_name: str, args: EksClusterArgs, tags: Callable[[str], dict[str, str]]
    ) -> aws.ec2.SecurityGroup:
        """The control plane's extra security group: 443 from each deployer's block, and nothing else.

        `pulumi up` creates objects inside the cluster through its private endpoint, but the cluster
        security group EKS creates admits only its own members (the control plane and managed
        nodes). For a private-only endpoint "you must ensure that your Amazon EKS control plane
        security group contains rules to allow ingress traffic on port 443" from the connected
        network or bastion (Amazon EKS User Guide, "Cluster API server endpoint"). Security groups
        given at cluster creation are associated with the network interfaces EKS creates for the
        control plane, and not with any node group (Amazon EKS User Guide, "Amazon EKS security
        group requirements"), so these rules open the API and nothing on the nodes.

        The group exists even with no deployer, attached from the cluster's creation. EKS can change
        `resourcesVpcConfig.securityGroupIds` in place (UpdateClusterConfig, since October 2023; the
        provider updates rather than replaces since terraform-provider-aws 5.25.0), but that is an
        asynchronous update of the cluster itself, minutes in UPDATING, during which EKS refuses
        any other update of it (a version upgrade in the same run). With the group always there,
        listing or dropping a deployer adds or removes a rule and never touches the cluster.

        No egress rule: security groups are stateful, so the responses to admitted requests leave
        whatever the outbound rules say (Amazon VPC User Guide, "Security group rules"); the control
        plane's own outbound traffic uses the cluster security group beside this one.
        """
        child = pulumi.ResourceOptions(parent=self)
        group = aws.ec2.SecurityGroup(
            group_name,
            vpc_id=args.vpc_id,
            description=f"EKS {args.cluster_name} API endpoint: HTTPS from the deployers only",
            tags=tags(group_name),
            opts=child,
        )
        admit(
            group.id,
            port=API_PORT,
            sources=[
                Ingress(resource_name(group_name, d.cidr, max_len=AUTONAMED_MAX), d.cidr, d.description)
                for d in args.deployers
            ],
            tags=tags,
            opts=child,
        )
        return group

    def _zone_ids(self) -> pulumi.Output[dict[str, str]]:
        """This account's zone name -> AZ ID in the provider's region (DescribeAvailabilityZones).

        Names map to physical zones per account in the oldest regions (AWS docs, "AZ IDs"), so which
        subnets offer a GPU type can only be told from this answer. Local Zones are left out (they
        need an opt-in; the cluster's subnets never use one).
        """
        found = aws.get_availability_zones_output(
            filters=[
                aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])
            ],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        return pulumi.Output.all(found.names, found.zone_ids).apply(
            lambda v: dict(zip(v[0] or [], v[1] or [], strict=True))
        )

    def _deployer_arn(self, identity: pulumi.Output[Any]) -> pulumi.Output[str]:
        """The IAM principal that runs the deployment, as an access entry must name it.

        STS reports a role session (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`), which
        carries the role's name but not its path; an access entry must name the role itself, path
        included ("If the ARN is for an IAM role, it can include a path": Amazon EKS user guide,
        Create access entries), and IAM Identity Center roles always have one
        (`role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_...`). The session context data source
        (aws_iam_session_context) returns the source role's real ARN as `issuer_arn`, and passes an
        IAM user's ARN through unchanged, so no ARN is rebuilt by hand.
        """
        invoke = pulumi.InvokeOutputOptions(parent=self)
        return aws.iam.get_session_context_output(arn=identity.arn, opts=invoke).issuer_arn

    def _admins(
        self,
        name: str,
        cluster: aws.eks.Cluster,
        args: EksClusterArgs,
        identity: pulumi.Output[Any],
        partition: pulumi.Output[Any],
    ) -> list[pulumi.Resource]:
        """An access entry with cluster-admin for each admin (or for the deploying identity)."""
        child = pulumi.ResourceOptions(parent=self)
        principals: list[tuple[str, pulumi.Input[str]]] = [
            (f"admin-{i}", arn) for i, arn in enumerate(args.admin_principal_arns)
        ] or [("deployer", self._deployer_arn(identity))]
        policy_arn = partition.partition.apply(
            lambda p: f"arn:{p}:eks::aws:cluster-access-policy/{CLUSTER_ADMIN_POLICY}"
        )
        out: list[pulumi.Resource] = []
        for role, principal in principals:
            entry_name = resource_name(name, role, max_len=AUTONAMED_MAX)
            entry = aws.eks.AccessEntry(
                entry_name,
                cluster_name=cluster.name,
                principal_arn=principal,
                type="STANDARD",
                tags={**args.tags, "Name": entry_name},
                opts=child,
            )
            out.append(
                aws.eks.AccessPolicyAssociation(
                    entry_name,
                    cluster_name=cluster.name,
                    principal_arn=entry.principal_arn,
                    policy_arn=policy_arn,
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                    opts=child,
                )
            )
        return out


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity] | None) -> str:
    for identity in identities or []:
        for oidc in identity.oidcs or []:
            if oidc.issuer:
                return oidc.issuer
    raise ValueError("the EKS cluster reports no OIDC issuer")
