"""Composes the layers of the platform for every cluster and region of a stack.

The topology is the only place that knows how settings map onto components: one explicit cloud
provider per region (nothing depends on ambient provider config), one network per provisioned
cluster, and one Kubernetes provider per cluster, handed to everything that runs inside it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.aws.network import AwsNetwork, AwsNetworkArgs
from infra.catalog import catalog
from infra.gcp.network import GcpNetwork, GcpNetworkArgs
from infra.settings import Cloud, Cluster, Environment, Settings

ZONES_PER_CLUSTER = 3


def _label_value(value: str) -> str:
    """GCP label values: lower-case letters, digits, '-' and '_', at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "_", value.lower())[:63]


@dataclass
class Providers:
    """One provider per cloud region, created on first use and shared by everything in that region."""

    settings: Settings
    aws: dict[str, aws.Provider] = field(default_factory=dict)
    gcp: dict[str, gcp.Provider] = field(default_factory=dict)

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
                default_labels={k: _label_value(v) for k, v in self.settings.tags.items()},
            )
        return self.gcp[region]


def cluster_cidr(settings: Settings, cluster: Cluster) -> ipaddress.IPv4Network:
    """The cluster's /16: as set in the stack, or 10.(16 + index).0.0/16 so that clusters never overlap."""
    if cluster.network_cidr:
        return ipaddress.IPv4Network(cluster.network_cidr)
    index = settings.clusters.index(cluster)
    return ipaddress.IPv4Network(f"10.{16 + index}.0.0/16")


def zones(cluster: Cluster) -> list[str]:
    assert cluster.region is not None
    table = catalog().aws_regions if cluster.cloud is Cloud.AWS else catalog().gcp_regions
    return list(table[cluster.region][:ZONES_PER_CLUSTER])


@dataclass
class ClusterParts:
    """What the layers of one cluster hand to each other."""

    cluster: Cluster
    network: AwsNetwork | GcpNetwork | None = None
    kubernetes: k8s.Provider | None = None


def _aws_network(settings: Settings, cluster: Cluster, provider: aws.Provider) -> AwsNetwork:
    assert cluster.region is not None
    zone_list = zones(cluster)
    return AwsNetwork(
        cluster.name,
        AwsNetworkArgs(
            cluster_name=cluster.name,
            region=cluster.region,
            cidr=str(cluster_cidr(settings, cluster)),
            zones=zone_list,
            nat_gateways=len(zone_list) if settings.environment is Environment.PROD else 1,
            flow_log_retention_days=settings.log_retention_days,
            tags={**settings.tags, "cluster": cluster.name},
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )


def _gcp_network(settings: Settings, cluster: Cluster, provider: gcp.Provider) -> GcpNetwork:
    assert cluster.region is not None
    block = cluster_cidr(settings, cluster)
    nodes, services = list(block.subnets(new_prefix=20))[:2]
    pods = list(block.subnets(new_prefix=17))[1]
    return GcpNetwork(
        cluster.name,
        GcpNetworkArgs(
            project=settings.gcp_project,
            region=cluster.region,
            cidr=str(nodes),
            pods_cidr=str(pods),
            services_cidr=str(services),
            labels={k: _label_value(v) for k, v in {**settings.tags, "cluster": cluster.name}.items()},
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )


def _existing_cluster(cluster: Cluster, kubeconfig: pulumi.Output[str]) -> k8s.Provider:
    """An on-prem (or any pre-existing) cluster: nothing is provisioned, only reached."""
    return k8s.Provider(
        f"{cluster.name}-k8s",
        kubeconfig=kubeconfig,
        enable_server_side_apply=True,
        delete_unreachable=False,
    )


def build(settings: Settings, *, kubeconfigs: dict[str, pulumi.Output[str]]) -> dict[str, ClusterParts]:
    """Register every resource of the stack; return each cluster's parts (for the layers above)."""
    providers = Providers(settings)
    parts: dict[str, ClusterParts] = {}
    for cluster in settings.clusters:
        part = ClusterParts(cluster)
        if cluster.cloud is Cloud.AWS:
            assert cluster.region is not None
            part.network = _aws_network(settings, cluster, providers.for_aws(cluster.region))
        elif cluster.cloud is Cloud.GCP:
            assert cluster.region is not None
            part.network = _gcp_network(settings, cluster, providers.for_gcp(cluster.region))
        else:
            part.kubernetes = _existing_cluster(cluster, kubeconfigs[cluster.name])
        parts[cluster.name] = part

    pulumi.export("environment", settings.environment.value)
    pulumi.export(
        "clusters",
        {
            name: {
                "role": p.cluster.role.value,
                "cloud": p.cluster.cloud.value,
                "region": p.cluster.region,
            }
            for name, p in parts.items()
        },
    )
    return parts
