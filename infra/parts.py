"""What the layers of a stack hand each other, below every layer that uses it.

The topology composes the layers (clusters, data, edge, and the workloads on top); each layer
takes from the ones below it through the objects here and never imports the module that composes
it: one explicit cloud provider per region (nothing depends on ambient provider config), where a
cluster lives (its zones, its address ranges, its cloud-side name), and what a built cluster
offers the layers above (its network, its Kubernetes provider, its private ranges).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.aws.eks import EksCluster
from infra.aws.network import AwsNetwork
from infra.catalog import catalog
from infra.gcp.network import GcpNetwork
from infra.gcp.services import ProjectServices, required_apis
from infra.naming import gcp_label_value
from infra.settings import ZONES_PER_CLUSTER, Cloud, Cluster, Settings


@dataclass
class Providers:
    """One provider per cloud region, created on first use and shared by everything in that region."""

    settings: Settings
    aws: dict[str, aws.Provider] = field(default_factory=dict)
    gcp: dict[str, gcp.Provider] = field(default_factory=dict)
    gcp_services: ProjectServices | None = None
    """The project's APIs, enabled before any regional GCP provider is used."""

    def for_aws(self, region: str) -> aws.Provider:
        if region not in self.aws:
            self.aws[region] = aws.Provider(
                f"aws-{region}",
                region=region,
                allowed_account_ids=[self.settings.aws_account_id] if self.settings.aws_account_id else None,
                default_tags=aws.ProviderDefaultTagsArgs(tags=self.settings.tags),
            )
        return self.aws[region]

    def for_gcp(self, region: str) -> gcp.Provider:
        if region not in self.gcp:
            self.gcp[region] = gcp.Provider(
                f"gcp-{region}",
                project=self.settings.gcp_project,
                region=region,
                default_labels={k: gcp_label_value(v) for k, v in self.settings.tags.items()},
                # A resource waits for its provider, so every GCP resource waits for its APIs.
                opts=pulumi.ResourceOptions(depends_on=[self._gcp_apis()]),
            )
        return self.gcp[region]

    def _gcp_apis(self) -> ProjectServices:
        if self.gcp_services is None:
            services_provider = gcp.Provider("gcp-project", project=self.settings.gcp_project)
            self.gcp_services = ProjectServices(
                "gcp-apis",
                project=self.settings.gcp_project,
                apis=required_apis(),
                opts=pulumi.ResourceOptions(providers=[services_provider]),
            )
        return self.gcp_services


def physical_name(cluster: Cluster) -> str:
    """The cloud-side cluster name, <project>-<stack>-<cluster>: two stacks in one account never collide."""
    return f"{pulumi.get_project()}-{pulumi.get_stack()}-{cluster.name}"


def gcp_ranges(settings: Settings, cluster: Cluster) -> tuple[str, str, str]:
    """The GKE cluster's node, pod and Service ranges, carved from its block (network and cluster agree).

    The block is the settings' own (``Settings.network_of``), the one their overlap rules check.
    """
    block = settings.network_of(cluster)
    nodes, services = list(block.subnets(new_prefix=20))[:2]
    pods = list(block.subnets(new_prefix=17))[1]
    return str(nodes), str(pods), str(services)


def zones(cluster: Cluster) -> list[str]:
    """The zones a provisioned cluster spreads over: the first three of its region in the catalog."""
    assert cluster.region is not None
    table = catalog().aws_regions if cluster.cloud is Cloud.AWS else catalog().gcp_regions
    return list(table[cluster.region][:ZONES_PER_CLUSTER])


@dataclass(frozen=True)
class MetricsStore:
    """Where an EKS cluster's Prometheus remote-writes its samples, so that rules over every cluster
    of the cloud (no ready replica in any region) evaluate where they all meet: an Amazon Managed
    Service for Prometheus workspace."""

    region: str
    """The workspace's region (SigV4 signs for it)."""
    workspace_arn: pulumi.Input[str]
    """What the writer's IAM policy names (``aps:RemoteWrite``)."""
    remote_write_url: pulumi.Input[str]
    """``<prometheus endpoint>api/v1/remote_write``."""


@dataclass
class ClusterParts:
    """What the layers of one cluster hand to each other."""

    cluster: Cluster
    network: AwsNetwork | GcpNetwork | None = None
    kubernetes: k8s.Provider | None = None
    """The Kubernetes provider of this cluster; everything that runs inside it uses this one."""
    private_cidrs: list[str] = field(default_factory=list)
    """Where this cluster's nodes live (private subnets / GKE node range): what data stores admit."""
    eks: EksCluster | None = None
    """An EKS cluster's component: its cloud-side name, VPC and node groups, for the add-ons that
    call AWS (Pod Identity roles, the autoscaler's groups)."""
    workload_prerequisites: list[pulumi.Resource] = field(default_factory=list)
    """What the workloads of this cluster wait for (the add-ons' PriorityClasses, which admission checks)."""
    cloud_cluster_name: pulumi.Output[str] | None = None
    """The EKS / GKE cluster's name as the cloud knows it, an output of the cluster (for what must wait for it)."""
