"""The add-ons every cluster runs before a workload can: one ``ClusterAddons`` component per cluster.

Creates, inside the cluster (through its ``ClusterParts.kubernetes`` provider only):

- the two PriorityClasses the layers share (``infra.k8s``): the add-ons' and the serving's;
- KEDA, the cluster's one provider of ``external.metrics.k8s.io`` (prometheus-adapter is being
  deprecated in favour of KEDA, and two providers cannot serve that API together);
- the External Secrets Operator and a ClusterSecretStore (``CLUSTER_SECRET_STORE``) on the
  cloud's secret manager, so that later layers take credentials from it, never from literals:
  AWS Secrets Manager through EKS Pod Identity, GCP Secret Manager through GKE Workload Identity.
  The store reads only the stack's own secrets (``secret_prefix``);
- on EKS: the NVIDIA device plugin on the GPU nodes (the AL2023 NVIDIA AMI ships the driver and
  the container toolkit, not the plugin, so without it no node advertises ``nvidia.com/gpu``), the
  cluster autoscaler, the AWS Load Balancer Controller and metrics-server, each cloud-calling one
  with a Pod Identity role of its own;
- on GKE: nothing more. GKE installs the GPU drivers (the node pools' driver-installation config),
  runs the device plugin and metrics-server itself, needs nothing for TPUs, and autoscales the
  pools itself. Its private control plane reaches the nodes on 443 and 10250 only, so a firewall
  rule admits it to KEDA's metrics API and webhook ports (ESO's webhook already listens on 10250);
- on an existing cluster: what applies there (no cloud identity, no autoscaler, no load balancer
  controller), less what the stack says it already runs (``addons.skip``). It has no cloud
  identity this program could give it, so its secret store is left to its owners.

Node autoscaling on EKS is the cluster autoscaler, not Karpenter: the pools are EKS managed node
groups whose Auto Scaling groups already carry the node templates that scaling from zero needs
(infra/aws/nodegroups.py), and the capacity choices (GPU zones, Capacity Blocks, spot) live there,
in one place. Karpenter would replace those groups by its own NodePools and launch logic, a second
source of truth for the same pools. The autoscaler's priority expander prefers on-demand and
reserved groups over spot ones, so that a burst fills the core's paid-for capacity first.

Versions come from infra/catalog/addons.yaml, the release that supports the cluster's Kubernetes
version (the settings refuse a version no release supports).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.aws.eks import EksCluster
from infra.aws.nodegroups import is_gpu, machine_of
from infra.catalog import Addon, AddonRelease, catalog
from infra.data import DataSecret
from infra.gcp.network import GcpNetwork
from infra.k8s import MESH_ADDONS, SERVING_PRIORITY_CLASS, SYSTEM_PRIORITY_CLASS
from infra.k8s.addons import iam, values
from infra.naming import AUTONAMED_MAX, resource_name
from infra.parts import ClusterParts, physical_name
from infra.settings import Capacity, Cloud

GCP_TRIGGER_AUTHENTICATION = "gcp-workload-identity"
"""The ClusterTriggerAuthentication of every GKE cluster: KEDA's operator queries Managed Prometheus
as its Google service account (KEDA 2.20 docs, Prometheus scaler, "Google Managed Service for
Prometheus": GCP workload identity on the operator, ``roles/monitoring.viewer``, no other auth)."""
KEDA_OPERATOR_ACCOUNT = "keda-operator"
"""The operator's service account (keda chart 2.20.2 values, ``serviceAccount.operator.name``)."""

CLUSTER_SECRET_STORE = "inferstack-secrets"
"""The ClusterSecretStore of every cluster with a cloud identity; ExternalSecrets name it."""

SYSTEM_PRIORITY = 1_000_000
SERVING_PRIORITY = 100_000
"""Above every pod without a class (0) and below Kubernetes' own system classes (2e9): the
add-ons preempt serving pods, which preempt ordinary ones."""

KEDA_PORTS: tuple[str, ...] = ("6443", "9443")
"""KEDA's metrics API server and admission webhook container ports (keda chart 2.20.2 values:
service.portHttpsTarget 6443; webhooks.port, default 9443), reached by the API server. A private
GKE control plane reaches nodes on 443 and 10250 only until a firewall rule admits more
(https://cloud.google.com/kubernetes-engine/docs/how-to/latest/network-isolation, "Add firewall
rules for specific use cases")."""

_NAMESPACES: Mapping[str, str] = {"keda": "keda", "external-secrets": "external-secrets"}
"""Add-on -> the namespace this program creates for it; the others go to kube-system."""
_SERVICE_ACCOUNTS: Mapping[str, str] = {
    "cluster-autoscaler": "cluster-autoscaler",
    "aws-load-balancer-controller": "aws-load-balancer-controller",
    "external-secrets": "external-secrets",
}
RELEASE_TIMEOUT = 900
"""Seconds a release waits for its pods: on a new cluster, for the first nodes to join."""


def secret_prefix(cloud: Cloud) -> str:
    """Names of the stack's secrets in its cloud's secret manager: AWS allows '/', GCP ids do not."""
    stack = f"{pulumi.get_project()}-{pulumi.get_stack()}"
    return f"{pulumi.get_project()}/{pulumi.get_stack()}/" if cloud is Cloud.AWS else f"{stack}-"


@dataclass(frozen=True, kw_only=True)
class ClusterAddonsArgs:
    """What the add-ons of one cluster need from the layers below."""

    part: ClusterParts
    """The cluster: its settings, its Kubernetes provider, and for EKS the cluster component."""
    gcp_project: str = ""
    """The GCP project of a GKE cluster (its Workload Identity pool and Secret Manager)."""
    control_plane_cidr: str | None = None
    """A private GKE cluster's control-plane /28, admitted to KEDA's ports on the nodes."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for the cloud resources (roles, service accounts)."""
    data_secrets: Sequence[DataSecret] = ()
    """The data layer's secrets this cluster's workloads read (``DataOutputs.secrets_for``): on EKS
    the secret store's role may read them and decrypt them, and nothing else outside the prefix."""

    def __post_init__(self) -> None:
        where = "ClusterAddonsArgs"
        cluster = self.part.cluster
        if self.part.kubernetes is None:
            raise ValueError(f"{where}.part: cluster {cluster.name!r} has no Kubernetes provider yet")
        if cluster.cloud is Cloud.AWS and self.part.eks is None:
            raise ValueError(f"{where}.part.eks: EKS cluster {cluster.name!r} without its cluster component")
        if cluster.cloud is Cloud.GCP and not (self.gcp_project and self.control_plane_cidr):
            raise ValueError(
                f"{where}: GKE cluster {cluster.name!r} needs gcp_project and control_plane_cidr"
            )


def wanted(part: ClusterParts) -> list[str]:
    """The add-ons (addons.yaml names) this cluster gets: by cloud, less skips; the device plugin on
    EKS only with a GPU pool (elsewhere its pods would wait for GPU nodes that never come)."""
    cluster = part.cluster
    names = [n for n in cluster.installed_addons() if n not in MESH_ADDONS]
    if cluster.cloud is Cloud.AWS and not any(is_gpu(machine_of(p)) for p in cluster.node_pools):
        names = [n for n in names if n != "nvidia-device-plugin"]
    return names


class ClusterAddons(pulumi.ComponentResource):
    """The add-ons of one cluster; cloud resources use the providers passed in opts."""

    releases: dict[str, k8s.helm.v3.Release]
    """Add-on name -> its Helm release."""
    priority_classes: list[pulumi.Resource]
    """The system and serving PriorityClasses: a pod naming one is refused until it exists."""

    def __init__(
        self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("inferstack:k8s:ClusterAddons", name, None, opts)
        self._name = name
        self._args = args
        cluster = args.part.cluster
        assert args.part.kubernetes is not None
        self._k8s = args.part.kubernetes
        self.releases = {}
        names = wanted(args.part)
        classes = self._priority_classes()
        self.priority_classes = classes
        namespaces = {
            addon: self._namespace(namespace) for addon, namespace in _NAMESPACES.items() if addon in names
        }
        after: dict[str, list[pulumi.Resource]] = {n: [*classes] for n in names}
        for addon, namespace in namespaces.items():
            after[addon].append(namespace)
        if cluster.cloud is Cloud.AWS:
            assert args.part.eks is not None
            self._eks(args.part.eks, names, after)
        if cluster.cloud is Cloud.GCP:
            self._gke(names, after)
        for addon in names:
            if addon not in self.releases:
                self._release(addon, self._values(addon), after[addon])
        if cluster.cloud is not Cloud.EXISTING and "external-secrets" in self.releases:
            self._secret_store(self.releases["external-secrets"])
        if cluster.cloud is Cloud.GCP and "keda" in self.releases:
            self._trigger_authentication(self.releases["keda"])
        self.register_outputs({"releases": {n: r.name for n, r in self.releases.items()}})

    # --- Kubernetes objects -------------------------------------------------------------------

    def _child(self, *role: str) -> str:
        return resource_name(self._name, *role, max_len=AUTONAMED_MAX)

    def _in_cluster(self, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._k8s, depends_on=list(depends_on))

    def _priority_classes(self) -> list[pulumi.Resource]:
        return [
            k8s.scheduling.v1.PriorityClass(
                self._child(class_name),
                metadata=k8s.meta.v1.ObjectMetaArgs(name=class_name),
                value=value,
                global_default=False,
                preemption_policy="PreemptLowerPriority",
                description=description,
                opts=self._in_cluster(),
            )
            for class_name, value, description in (
                (
                    SYSTEM_PRIORITY_CLASS,
                    SYSTEM_PRIORITY,
                    "Add-ons the serving depends on (KEDA, External Secrets)",
                ),
                (
                    SERVING_PRIORITY_CLASS,
                    SERVING_PRIORITY,
                    "Model servers: preempted after every ordinary pod",
                ),
            )
        ]

    def _namespace(self, namespace: str) -> k8s.core.v1.Namespace:
        """The add-on's own namespace, held to the restricted Pod Security profile its pods meet."""
        return k8s.core.v1.Namespace(
            self._child(namespace),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace,
                labels={
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            ),
            opts=self._in_cluster(),
        )

    def _release(
        self, addon: str, chart_values: Mapping[str, object], depends_on: Sequence[pulumi.Resource]
    ) -> k8s.helm.v3.Release:
        table, release = self._pinned(addon)
        created = k8s.helm.v3.Release(
            self._child(addon),
            k8s.helm.v3.ReleaseArgs(
                name=addon,
                chart=table.chart,
                version=release.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=table.repository),
                namespace=_NAMESPACES.get(addon, "kube-system"),
                values=dict(chart_values),
                timeout=RELEASE_TIMEOUT,
                cleanup_on_fail=True,
                max_history=10,
            ),
            opts=self._in_cluster(depends_on),
        )
        self.releases[addon] = created
        return created

    def _pinned(self, addon: str) -> tuple[Addon, AddonRelease]:
        table = catalog().addons[addon]
        release = table.release_for(self._args.part.cluster.kubernetes_version)
        if release is None:  # the settings refuse such a stack; a direct caller gets this
            raise ValueError(
                f"add-on {addon}: no release for Kubernetes {self._args.part.cluster.kubernetes_version} "
                f"(supports {table.supported()})"
            )
        return table, release

    def _values(self, addon: str, **extra: object) -> dict[str, object]:
        """Values of the add-ons that need nothing from the cloud."""
        table, release = self._pinned(addon)
        if addon == "nvidia-device-plugin":
            return values.device_plugin(table, release)
        if addon == "metrics-server":
            return values.metrics_server(table, release)
        if addon == "keda":
            return values.keda(table, release)
        if addon == "external-secrets":
            return values.external_secrets(
                table, release, service_account=_SERVICE_ACCOUNTS[addon], annotations={}
            )
        raise ValueError(f"add-on {addon}: needs the cloud's identity; built by the cloud's method")

    def _secret_store(self, operator: k8s.helm.v3.Release) -> None:
        """The cluster's store on its cloud's secret manager; a CRD, so after the operator's release."""
        cluster = self._args.part.cluster
        if cluster.cloud is Cloud.AWS:
            assert cluster.region is not None
            provider: dict[str, object] = {"aws": {"service": "SecretsManager", "region": cluster.region}}
        else:
            provider = {"gcpsm": {"projectID": self._args.gcp_project}}
        k8s.apiextensions.CustomResource(
            self._child("secret-store"),
            api_version="external-secrets.io/v1",
            kind="ClusterSecretStore",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CLUSTER_SECRET_STORE),
            spec={"provider": provider},
            opts=self._in_cluster([operator]),
        )

    # --- EKS ----------------------------------------------------------------------------------

    def _eks(self, eks: EksCluster, names: list[str], after: dict[str, list[pulumi.Resource]]) -> None:
        """Pod Identity roles for the add-ons that call AWS; every release waits for the nodes."""
        cluster = self._args.part.cluster
        assert cluster.region is not None
        region = cluster.region
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke).partition
        nodes = list(eks.node_groups.values())
        for addon in names:
            after[addon].extend(nodes)
        physical = physical_name(cluster)

        if "cluster-autoscaler" in names:
            scaling = pulumi.Output.all(partition, identity.account_id).apply(
                lambda v: json.dumps(
                    iam.autoscaler_policy(
                        partition=v[0], region=region, account_id=v[1], cluster_name=physical
                    )
                )
            )
            role = self._pod_role(eks, "cluster-autoscaler", scaling)
            table, release = self._pinned("cluster-autoscaler")
            self._release(
                "cluster-autoscaler",
                values.cluster_autoscaler(
                    table,
                    release,
                    cluster_name=physical,
                    region=region,
                    service_account=_SERVICE_ACCOUNTS["cluster-autoscaler"],
                    priorities=self._expander_priorities(eks),
                ),
                [*after["cluster-autoscaler"], role],
            )
        if "aws-load-balancer-controller" in names:
            role = self._pod_role(
                eks,
                "aws-load-balancer-controller",
                partition.apply(lambda p: json.dumps(iam.load_balancer_controller_policy(p))),
            )
            table, release = self._pinned("aws-load-balancer-controller")
            self._release(
                "aws-load-balancer-controller",
                values.load_balancer_controller(
                    table,
                    release,
                    cluster_name=physical,
                    region=region,
                    vpc_id=eks.vpc_id,
                    service_account=_SERVICE_ACCOUNTS["aws-load-balancer-controller"],
                ),
                [*after["aws-load-balancer-controller"], role],
            )
        if "external-secrets" in names:
            prefix = secret_prefix(Cloud.AWS)
            data = self._args.data_secrets
            policy = pulumi.Output.all(
                partition,
                identity.account_id,
                pulumi.Output.all(*[s.arn for s in data]),
                pulumi.Output.all(*[s.kms_key_arn for s in data]),
            ).apply(
                lambda v: json.dumps(
                    iam.secrets_policy(
                        partition=v[0],
                        region=region,
                        account_id=v[1],
                        prefix=prefix,
                        secret_arns=sorted(set(v[2])),
                        kms_key_arns=sorted(set(v[3])),
                    )
                )
            )
            after["external-secrets"].append(self._pod_role(eks, "external-secrets", policy))

    def _pod_role(self, eks: EksCluster, addon: str, policy: pulumi.Input[str]) -> pulumi.Resource:
        """A role only EKS Pod Identity assumes, with ``policy``, associated with the add-on's account."""
        role_name = self._child(addon)
        tags = {**self._args.tags, "Name": role_name}
        role = aws.iam.Role(
            role_name,
            description=f"{addon} in EKS {physical_name(self._args.part.cluster)}, through Pod Identity",
            assume_role_policy=iam.POD_IDENTITY_TRUST,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        grant = aws.iam.RolePolicy(
            role_name, role=role.id, policy=policy, opts=pulumi.ResourceOptions(parent=self)
        )
        return aws.eks.PodIdentityAssociation(
            role_name,
            cluster_name=eks.name,
            namespace=_NAMESPACES.get(addon, "kube-system"),
            service_account=_SERVICE_ACCOUNTS[addon],
            role_arn=role.arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[grant]),
        )

    def _expander_priorities(self, eks: EksCluster) -> dict[int, list[pulumi.Input[str]]]:
        """On-demand and reserved groups before spot ones; a catch-all last (unmatched groups never scale).

        EKS names a managed node group's Auto Scaling group ``eks-<node group name>-<uuid>`` (since
        2021; before, ``eks-<uuid>``: aws/containers-roadmap#1304, terraform-aws-eks#3007). Should a
        group not match, the catch-all still scales it, only without the preference. Anchored on
        the full node group name, ``h200`` does not also match ``h200-spot``. Node
        group names hold only letters, digits, '-' and '_', none of them special in a pattern.
        """
        paid: list[pulumi.Input[str]] = []
        spot: list[pulumi.Input[str]] = []
        for pool in self._args.part.cluster.node_pools:
            pattern = eks.node_groups[pool.name].node_group_name.apply(lambda n: f"^eks-{n}-.*")
            (spot if pool.capacity is Capacity.SPOT else paid).append(pattern)
        priorities: dict[int, list[pulumi.Input[str]]] = {1: [".*"]}
        if spot:
            priorities[10] = spot
        if paid:
            priorities[50] = paid
        return priorities

    def _trigger_authentication(self, operator: k8s.helm.v3.Release) -> None:
        """Scalers that name it authenticate as KEDA's Google service account; a CRD, so after KEDA."""
        k8s.apiextensions.CustomResource(
            self._child("gcp-trigger-auth"),
            api_version="keda.sh/v1alpha1",
            kind="ClusterTriggerAuthentication",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GCP_TRIGGER_AUTHENTICATION),
            spec={"podIdentity": {"provider": "gcp"}},
            opts=self._in_cluster([operator]),
        )

    # --- GKE ----------------------------------------------------------------------------------

    def _gke(self, names: list[str], after: dict[str, list[pulumi.Resource]]) -> None:
        """ESO's Google service account through Workload Identity; KEDA's ports open to the control plane."""
        part = self._args.part
        project = self._args.gcp_project
        if "keda" in names:
            network = part.network
            assert isinstance(network, GcpNetwork)
            after["keda"].append(
                gcp.compute.Firewall(
                    self._child("keda-from-control-plane"),
                    network=network.network_self_link,
                    direction="INGRESS",
                    source_ranges=[str(self._args.control_plane_cidr)],
                    allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=list(KEDA_PORTS))],
                    description="The GKE control plane to KEDA's metrics API and webhook (private nodes)",
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        if "keda" in names:
            self._keda_identity(project, after["keda"])
        if "external-secrets" not in names:
            return
        account = gcp.serviceaccount.Account(
            self._child("eso"),
            # 6-30 characters, unique in the project: stacks may share one.
            account_id=resource_name("eso", pulumi.get_stack(), part.cluster.name, max_len=30),
            display_name=f"External Secrets of {part.cluster.name}",
            description="Reads this stack's secrets from Secret Manager for the cluster's ClusterSecretStore",
            project=project,
            opts=pulumi.ResourceOptions(parent=self),
        )
        namespace, service_account = _NAMESPACES["external-secrets"], _SERVICE_ACCOUNTS["external-secrets"]
        binding = gcp.serviceaccount.IAMMember(
            self._child("eso", "workload-identity"),
            service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{project}.svc.id.goog[{namespace}/{service_account}]",
            opts=pulumi.ResourceOptions(parent=self),
        )
        number = gcp.organizations.get_project_output(
            project_id=project, opts=pulumi.InvokeOutputOptions(parent=self)
        ).number
        prefix = secret_prefix(Cloud.GCP)
        # Secret Manager evaluates IAM conditions on the secret's resource name, which carries the
        # project number (https://cloud.google.com/secret-manager/docs/access-control#conditions).
        access = gcp.projects.IAMMember(
            self._child("eso", "secret-accessor"),
            project=project,
            role="roles/secretmanager.secretAccessor",
            member=account.member,
            condition=gcp.projects.IAMMemberConditionArgs(
                title="this-stacks-secrets",
                description=f"Secrets whose id starts with {prefix}",
                expression=number.apply(
                    lambda n: f'resource.name.startsWith("projects/{n}/secrets/{prefix}")'
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        table, release = self._pinned("external-secrets")
        self._release(
            "external-secrets",
            values.external_secrets(
                table,
                release,
                service_account=service_account,
                annotations={"iam.gke.io/gcp-service-account": account.email},
            ),
            [*after["external-secrets"], binding, access],
        )

    def _keda_identity(self, project: str, after: list[pulumi.Resource]) -> None:
        """KEDA's operator reads Managed Prometheus (the burst scalers' and the gateway's triggers) as a
        Google service account of its own, through Workload Identity, with Monitoring Viewer only."""
        part = self._args.part
        account = gcp.serviceaccount.Account(
            self._child("keda"),
            # 6-30 characters, unique in the project: stacks may share one.
            account_id=resource_name("keda", pulumi.get_stack(), part.cluster.name, max_len=30),
            display_name=f"KEDA of {part.cluster.name}",
            description="Reads Managed Prometheus for the cluster's KEDA scalers",
            project=project,
            opts=pulumi.ResourceOptions(parent=self),
        )
        binding = gcp.serviceaccount.IAMMember(
            self._child("keda", "workload-identity"),
            service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{project}.svc.id.goog[{_NAMESPACES['keda']}/{KEDA_OPERATOR_ACCOUNT}]",
            opts=pulumi.ResourceOptions(parent=self),
        )
        viewer = gcp.projects.IAMMember(
            self._child("keda", "monitoring-viewer"),
            project=project,
            role="roles/monitoring.viewer",
            member=account.member,
            opts=pulumi.ResourceOptions(parent=self),
        )
        table, release = self._pinned("keda")
        self._release(
            "keda", values.keda(table, release, gcp_service_account=account.email), [*after, binding, viewer]
        )
