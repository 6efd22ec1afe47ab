"""Composes the layers of the platform for every cluster and region of a stack.

The topology is the only place that knows how settings map onto components: one explicit cloud
provider per region (nothing depends on ambient provider config), one network per provisioned
cluster, and one Kubernetes provider per cluster, handed to everything that runs inside it.
What the layers hand each other lives in ``infra.parts``, below them all: no layer imports
this module, which composes them.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.aws.alarms import AwsAlarms, AwsAlarmsArgs, CacheNodes, auto_scaling_group
from infra.aws.alerting import alert_topics
from infra.aws.amp import MetricsWorkspace, MetricsWorkspaceArgs
from infra.aws.audit import AccountAudit, AccountAuditArgs
from infra.aws.budget import StackBudget, StackBudgetArgs
from infra.aws.cache import AwsCache
from infra.aws.database import AwsGlobalDatabase
from infra.aws.deploy import kubeconfig_from_secret, reach_from_deploy_network
from infra.aws.eks import EksCluster, EksClusterArgs
from infra.aws.ingress import GatewayIngress, GatewayIngressArgs
from infra.aws.network import DEFAULT_INTERFACE_ENDPOINTS, AwsNetwork, AwsNetworkArgs, carve_subnets
from infra.aws.nodegroups import is_gpu, machine_of
from infra.aws.opensearch import LogDomain, LogDomainArgs, log_host, log_shippers
from infra.aws.peering import PeerSide, VpcPeering
from infra.data import DataOutputs, build_data
from infra.edge import EdgeOutputs, build_edge
from infra.gcp.alerts import SEVERITY as ALERT_SEVERITY
from infra.gcp.alerts import AlertReceiver, GcpAlerts, GcpAlertsArgs
from infra.gcp.audit import ProjectAudit, ProjectAuditArgs
from infra.gcp.budget import ProjectBudget, ProjectBudgetArgs
from infra.gcp.cache import GcpCache
from infra.gcp.database import GcpDatabase
from infra.gcp.gke import GkeCluster, GkeClusterArgs
from infra.gcp.network import GcpNetwork, GcpNetworkArgs
from infra.k8s import MESH_INGRESS_PORT
from infra.k8s.addons import ClusterAddons, ClusterAddonsArgs
from infra.k8s.admission import build_admission
from infra.k8s.dashboards import build_dashboards
from infra.k8s.egress import NAMESPACE as EGRESS
from infra.k8s.egress import build_egress
from infra.k8s.gateway import GatewayOutputs, build_gateways
from infra.k8s.global_rules import build_global_rules
from infra.k8s.gpu_metrics import build_gpu_metrics
from infra.k8s.logs import NAMESPACE as LOGGING
from infra.k8s.logs import ClusterLogs, build_logs
from infra.k8s.mesh import ClusterMesh, build_mesh
from infra.k8s.monitoring import NAMESPACE as MONITORING
from infra.k8s.monitoring import AlertTopics, ClusterMonitoring, build_monitoring, gmp_alert_labels
from infra.k8s.netpol import (
    EXTERNAL_SECRETS,
    INFERENCE,
    KEDA,
    NamespaceSet,
    build_network_policies,
    egress_names,
)
from infra.k8s.serving import NAMESPACE as SERVING
from infra.k8s.serving import ServingOutputs, build_serving
from infra.monitoring.rules import STACK_LABEL, core_regions_group, firing_alerts_query
from infra.naming import gcp_label_value, resource_name
from infra.parts import ClusterParts, MetricsStore, Providers, gcp_ranges, physical_name, zones
from infra.settings import Capacity, Cloud, Cluster, EndpointAccess, Environment, Role, Settings

CLUSTER_INTERFACE_ENDPOINTS = (*DEFAULT_INTERFACE_ENDPOINTS, "secretsmanager")
"""A cluster's VPC also reaches Secrets Manager privately: with the endpoint's private DNS the
regional name resolves to addresses in the private subnets, so External Secrets' egress is held to
them (infra/k8s/netpol.py) instead of any address on 443."""


def _aws_network(settings: Settings, cluster: Cluster, provider: aws.Provider) -> AwsNetwork:
    assert cluster.region is not None
    zone_list = zones(cluster)
    return AwsNetwork(
        cluster.name,
        AwsNetworkArgs(
            cluster_name=physical_name(cluster),
            region=cluster.region,
            cidr=str(settings.network_of(cluster)),
            zones=zone_list,
            nat_gateways=len(zone_list) if settings.environment is Environment.PROD else 1,
            flow_log_retention_days=settings.log_retention_days,
            flow_log_own_key=True,
            interface_endpoints=CLUSTER_INTERFACE_ENDPOINTS,
            tags={**settings.tags, "cluster": cluster.name},
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )


def _gcp_network(settings: Settings, cluster: Cluster, provider: gcp.Provider) -> GcpNetwork:
    assert cluster.region is not None
    nodes, pods, services = gcp_ranges(settings, cluster)
    return GcpNetwork(
        cluster.name,
        GcpNetworkArgs(
            project=settings.gcp_project,
            region=cluster.region,
            cidr=str(nodes),
            pods_cidr=str(pods),
            services_cidr=str(services),
            labels={k: gcp_label_value(v) for k, v in {**settings.tags, "cluster": cluster.name}.items()},
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


def _eks(settings: Settings, part: ClusterParts, providers: Providers) -> None:
    """The EKS cluster and node groups of an AWS cluster, on its network."""
    cluster = part.cluster
    assert cluster.region is not None
    assert isinstance(part.network, AwsNetwork)
    eks = EksCluster(
        cluster.name,
        EksClusterArgs(
            cluster_name=physical_name(cluster),
            region=cluster.region,
            kubernetes_version=cluster.kubernetes_version,
            vpc_id=part.network.vpc_id,
            private_subnet_ids=part.network.private_subnet_ids,
            zones=zones(cluster),
            stack_file=settings.source,
            endpoint_public=cluster.endpoint_access is EndpointAccess.PUBLIC,
            public_access_cidrs=cluster.public_access_cidrs,
            log_retention_days=settings.log_retention_days,
            node_pools=cluster.node_pools,
            role=cluster.role,
            environment=settings.environment,
            tags={**settings.tags, "cluster": cluster.name},
            protect=settings.is_prod,
            admin_principal_arns=settings.cluster_admins,
            deployers=settings.admitted_deployers,
            capacity_reservation_ids={
                p.name: p.capacity_reservation_id for p in cluster.node_pools if p.capacity_reservation_id
            },
            container_logs=cluster.name not in {c.name for c in log_shippers(settings)},
        ),
        opts=pulumi.ResourceOptions(providers=[providers.for_aws(cluster.region)]),
    )
    part.kubernetes = eks.kubernetes_provider
    part.eks = eks
    part.cloud_cluster_name = eks.name
    part.private_cidrs = carve_subnets(part.network.vpc_cidr, len(zones(cluster)))[0]


def _gke(settings: Settings, part: ClusterParts, providers: Providers) -> None:
    """The GKE cluster and node pools of a GCP cluster, on its network."""
    cluster = part.cluster
    assert cluster.region is not None
    assert isinstance(part.network, GcpNetwork)
    node_cidr, pods_cidr, services_cidr = gcp_ranges(settings, cluster)
    public = cluster.endpoint_access is EndpointAccess.PUBLIC
    gke = GkeCluster(
        cluster.name,
        GkeClusterArgs(
            project=settings.gcp_project,
            region=cluster.region,
            zones=zones(cluster),
            kubernetes_version=cluster.kubernetes_version,
            network=part.network.network_self_link,
            subnetwork=part.network.subnet_self_link,
            pods_range_name=part.network.pods_range_name,
            services_range_name=part.network.services_range_name,
            node_cidr=node_cidr,
            pods_cidr=pods_cidr,
            services_cidr=services_cidr,
            master_ipv4_cidr_block=str(settings.control_plane_of(cluster)),
            endpoint_public=public,
            master_authorized_cidrs=cluster.public_access_cidrs if public else [],
            node_pools=cluster.node_pools,
            role=cluster.role,
            environment=settings.environment,
            scale_from_zero=cluster.scale_from_zero,
            labels={k: gcp_label_value(v) for k, v in {**settings.tags, "cluster": cluster.name}.items()},
        ),
        opts=pulumi.ResourceOptions(providers=[providers.for_gcp(cluster.region)]),
    )
    part.kubernetes = gke.kubernetes_provider
    part.cloud_cluster_name = gke.name
    part.private_cidrs = gke.private_cidrs


def _addons(settings: Settings, part: ClusterParts, providers: Providers, data: DataOutputs) -> ClusterAddons:
    """What the cluster runs before any workload; cloud resources in the cluster's region."""
    cluster = part.cluster
    cloud: list[pulumi.ProviderResource] = []
    if cluster.cloud is Cloud.AWS:
        assert cluster.region is not None
        cloud = [providers.for_aws(cluster.region)]
    elif cluster.cloud is Cloud.GCP:
        assert cluster.region is not None
        cloud = [providers.for_gcp(cluster.region)]
    control_plane = settings.control_plane_of(cluster) if cluster.cloud is Cloud.GCP else None
    return ClusterAddons(
        f"{cluster.name}-addons",
        ClusterAddonsArgs(
            part=part,
            gcp_project=settings.gcp_project if cluster.cloud is Cloud.GCP else "",
            control_plane_cidr=str(control_plane) if control_plane is not None else None,
            tags={**settings.tags, "cluster": cluster.name, "component": "addons"},
            data_secrets=data.secrets_for(cluster.name, cluster.region) if cluster.cloud is Cloud.AWS else (),
        ),
        opts=pulumi.ResourceOptions(providers=cloud),
    )


def peer_core_networks(
    settings: Settings, parts: dict[str, ClusterParts], providers: Providers
) -> list[VpcPeering]:
    """Peer every pair of AWS core networks, so that each core cluster reaches the data stores of the
    others: the Aurora global writer lives in one VPC, and every core cluster writes to it."""
    cores = [p for p in parts.values() if p.cluster.role is Role.CORE and isinstance(p.network, AwsNetwork)]
    peerings: list[VpcPeering] = []
    for i, first in enumerate(cores):
        for second in cores[i + 1 :]:
            sides = [_peer_side(settings, part, providers) for part in (first, second)]
            peerings.append(
                VpcPeering(
                    f"peer-{first.cluster.name}-{second.cluster.name}",
                    requester=sides[0],
                    accepter=sides[1],
                    tags={**settings.tags, "component": "network"},
                )
            )
    return peerings


def _private_aws(part: ClusterParts) -> bool:
    """An AWS cluster whose API endpoint only a routed network reaches."""
    return isinstance(part.network, AwsNetwork) and part.cluster.endpoint_access is EndpointAccess.PRIVATE


def _peer_side(settings: Settings, part: ClusterParts, providers: Providers) -> PeerSide:
    assert isinstance(part.network, AwsNetwork) and part.cluster.region is not None
    return PeerSide(
        name=part.cluster.name,
        region=part.cluster.region,
        provider=providers.for_aws(part.cluster.region),
        vpc_id=part.network.vpc_id,
        cidr=part.network.vpc_cidr,
        route_table_ids=part.network.private_route_table_id_list,
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
            _eks(settings, part, providers)
        elif cluster.cloud is Cloud.GCP:
            assert cluster.region is not None
            part.network = _gcp_network(settings, cluster, providers.for_gcp(cluster.region))
            _gke(settings, part, providers)
        else:
            kept = cluster.kubeconfig_from
            kubeconfig = (
                kubeconfig_from_secret(kept.aws_secret_arn, provider=providers.for_aws(kept.region))
                if kept is not None
                else kubeconfigs[cluster.name]
            )
            part.kubernetes = _existing_cluster(cluster, kubeconfig)
        parts[cluster.name] = part

    peer_core_networks(settings, parts, providers)
    if settings.deploy_network is not None:
        reach_from_deploy_network(
            settings.deploy_network,
            [_peer_side(settings, p, providers) for p in parts.values() if _private_aws(p)],
            provider=providers.for_aws(settings.deploy_network.region),
            tags={**settings.tags, "component": "network"},
        )
    # The data layer hands endpoints to each core cluster; the edge puts one public name on top.
    data = build_data(settings, providers, parts)
    for key, value in data.stack_outputs().items():
        pulumi.export(key, value)
    addons: dict[str, ClusterAddons] = {}
    for name, part in parts.items():
        addons[name] = _addons(settings, part, providers, data)
        part.workload_prerequisites = addons[name].priority_classes
    build_admission(settings, parts)
    # The model servers on every accelerator pool, and the stores they stream their weights from.
    serving = build_serving(settings, providers, parts)
    pulumi.export("modelStores", {key: store.bucket_name for key, store in serving.stores.items()})
    # One set of alert topics per region: the clouds' alarms, the EKS clusters' Alertmanagers and
    # the metrics workspace's alert manager publish to the same ones.
    topics = _AlertTopics(settings, providers)
    stores = _metrics_workspace(settings, providers, parts, topics)
    if stores:
        pulumi.export(
            "metricsStores",
            {name: {"region": s.region, "remoteWriteUrl": s.remote_write_url} for name, s in stores.items()},
        )
    monitoring = build_monitoring(
        settings,
        parts,
        providers=providers,
        topics={
            region: topics.for_monitoring(region)
            for region in sorted({p.cluster.region for p in parts.values() if p.eks and p.cluster.region})
        },
        stores=stores,
    )
    build_global_rules(parts)
    build_dashboards(parts, monitoring)
    build_gpu_metrics(parts, monitoring)
    # The gateway in front of every cluster's servers; the edge takes the GKE gateways' NEGs.
    gateways = build_gateways(settings, parts, data, providers, serving.deployments)
    # Istio ambient: mTLS between the pods, and the mesh's ingress the edge reaches them through.
    meshes = build_mesh(
        settings.security,
        parts,
        {n: g.service for n, g in gateways.gateways.items()},
        serving.deployments,
        monitoring,
        peers={c.name for c in settings.peer_clusters()},
    )
    # EKS: the gateway's public names leave through an egress waypoint (GKE names them in policy).
    egress = build_egress(
        parts,
        {name: mesh.releases["istiod"] for name, mesh in meshes.items()},
        {name: egress_names(settings, part) for name, part in parts.items()},
    )
    logs = _log_domain(settings, providers, parts)
    namespaces = _namespaces(parts, addons, data, serving, monitoring, gateways, meshes)
    for name, shipped in logs.items():
        namespaces[name] = {**namespaces[name], LOGGING: [shipped]}
    for name, made in egress.items():
        namespaces[name] = {**namespaces[name], EGRESS: [made.namespace]}
    build_network_policies(settings, parts, namespaces, data, providers)
    edge: EdgeOutputs | None = None
    if settings.edge is not None:
        edge = build_edge(
            settings,
            providers,
            parts,
            neg_names=gateways.neg_names(),
            neg_owners=[
                *(meshes[n].ingress for n, g in gateways.gateways.items() if g.neg_name is not None),
                *(m.peer for m in meshes.values() if m.peer is not None),
            ],
            peer_neg_names={n: m.peer_neg_name for n, m in meshes.items() if m.peer_neg_name is not None},
        )
        _gateway_ingress(settings, providers, parts, gateways, edge, meshes)
        pulumi.export("publicName", edge.public_name)
        pulumi.export("healthCheckIds", edge.health_check_ids)
        pulumi.export("zoneId", edge.zone_id)
        if edge.name_servers is not None:
            pulumi.export("nameServers", edge.name_servers)

    _budgets(settings, providers)
    _aws_alarms(settings, providers, parts, data, topics, edge.certificate_arns if edge is not None else {})
    _gcp_alerts(settings, providers, parts, data)
    _aws_audit(settings, providers)
    _gcp_audit(settings, providers)

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


def _namespaces(
    parts: dict[str, ClusterParts],
    addons: dict[str, ClusterAddons],
    data: DataOutputs,
    serving: ServingOutputs,
    monitoring: dict[str, ClusterMonitoring],
    gateways: GatewayOutputs,
    meshes: Mapping[str, ClusterMesh],
) -> dict[str, NamespaceSet]:
    """Every namespace the layers created in each cluster, with what created it: each gets a
    default-deny policy once it exists (tests/test_netpol.py finds them in the graph)."""
    found: dict[str, dict[str, list[pulumi.Resource]]] = {name: {} for name in parts}
    for name, made in addons.items():
        for addon in (KEDA, EXTERNAL_SECRETS):
            if addon in made.releases:
                found[name][addon] = [made]
    for name, config_map in data.config_maps.items():
        found[name][INFERENCE] = [config_map]
    for name, gateway in gateways.gateways.items():
        found[name][INFERENCE] = [gateway]
    for name, deployments in serving.deployments.items():
        found[name][SERVING] = list(deployments.values())
    for name, built in monitoring.items():
        # EKS: the namespace of the rules and monitors; GKE: the collector's, in the mesh.
        found[name][MONITORING] = [built]
    for name, mesh in meshes.items():
        for namespace, made in mesh.namespaces.items():
            found[name][namespace] = [made]
    return {name: dict(made) for name, made in found.items()}


def _gateway_ingress(
    settings: Settings,
    providers: Providers,
    parts: dict[str, ClusterParts],
    gateways: GatewayOutputs,
    edge: EdgeOutputs,
    meshes: Mapping[str, ClusterMesh],
) -> None:
    """An ALB behind WAF in front of every EKS cluster's gateway (through its mesh ingress), on the
    origin name the edge checks."""
    assert settings.edge is not None
    for name, gateway in gateways.gateways.items():
        part = parts[name]
        cluster = part.cluster
        if (
            cluster.cloud is not Cloud.AWS
            or not isinstance(part.network, AwsNetwork)
            or cluster.region is None
        ):
            continue
        ingress = GatewayIngress(
            f"{name}-ingress",
            GatewayIngressArgs(
                cluster=name,
                hostname=edge.origin_hostnames[name],
                zone_id=edge.zone_id,
                vpc_id=part.network.vpc_id,
                vpc_cidr=part.network.vpc_cidr,
                public_subnet_ids=part.network.public_subnet_ids,
                certificate_arn=edge.certificate_arns[cluster.region],
                target_port=MESH_INGRESS_PORT,
                health_check_path=settings.edge.health_check_path,
                protect=settings.is_prod,
                tags={**settings.tags, "cluster": name, "component": "gateway"},
            ),
            opts=pulumi.ResourceOptions(providers=[providers.for_aws(cluster.region)]),
        )
        gateway.bind_target_group(ingress.target_group_arn, ingress.security_group_id, meshes[name].ingress)


def _log_domain(
    settings: Settings, providers: Providers, parts: dict[str, ClusterParts]
) -> dict[str, ClusterLogs]:
    """With ``monitoring.logs: opensearch``: the stack's OpenSearch domain in the private subnets of
    its first EKS core cluster (``log_host``; as the metrics workspace, never the database's primary
    region, which a switchover moves), and Fluent Bit in every EKS cluster routed to it; the Fluent
    Bit of each cluster, by name. The requests the domain's master role sends once (role mapping,
    index retention) are a stack output."""
    sizing = settings.monitoring.log_domain
    host = log_host(settings)
    if sizing is None or host is None:
        return {}
    part = parts[host.name]
    assert isinstance(part.network, AwsNetwork) and host.region is not None
    shippers = [c.name for c in log_shippers(settings)]
    domain = LogDomain(
        "logs",
        LogDomainArgs(
            domain_name=resource_name(pulumi.get_project(), pulumi.get_stack(), "logs", max_len=28),
            region=host.region,
            vpc_id=part.network.vpc_id,
            subnet_ids=part.network.private_subnet_ids,
            subnets=len(zones(host)),
            client_cidrs=[cidr for name in shippers for cidr in parts[name].private_cidrs],
            instance_type=sizing.instance_type,
            instance_count=sizing.nodes(settings.environment),
            volume_gib=sizing.volume_gib,
            log_retention_days=settings.log_retention_days,
            admin_principal_arns=settings.cluster_admins,
            protect=settings.is_prod,
            tags={**settings.tags, "component": "logs"},
        ),
        opts=pulumi.ResourceOptions(providers=[providers.for_aws(host.region)]),
    )
    pulumi.export(
        "logDomain",
        {
            "region": host.region,
            "endpoint": domain.endpoint,
            "adminRoleArn": domain.admin_role_arn,
            "writerRoleArn": domain.writer_role_arn,
            "bootstrapRequests": domain.requests,
        },
    )
    return build_logs(parts, shippers, domain, host.region, providers)


def _aws_audit(settings: Settings, providers: Providers) -> None:
    """One CloudTrail trail per stack with AWS clusters, multi-region, in the first AWS cluster's
    region (stack-file order: a switchover of the database's primary must not move it)."""
    regions = [c.region for c in settings.clusters if c.cloud is Cloud.AWS and c.region]
    if not regions:
        return
    AccountAudit(
        "aws-audit",
        AccountAuditArgs(
            trail_name=f"{pulumi.get_project()}-{pulumi.get_stack()}-audit",
            region=regions[0],
            retention_days=settings.security.audit_retention_days,
            protect=settings.is_prod,
            tags={**settings.tags, "component": "audit"},
        ),
        opts=pulumi.ResourceOptions(providers=[providers.for_aws(regions[0])]),
    )


def _gcp_audit(settings: Settings, providers: Providers) -> None:
    """Data Access audit logs of the project's secrets and keys, once per stack with GCP clusters."""
    regions = [c.region for c in settings.clusters if c.cloud is Cloud.GCP and c.region]
    if not settings.gcp_project or not regions:
        return
    ProjectAudit(
        "gcp-audit",
        ProjectAuditArgs(
            project=settings.gcp_project,
            bucket_id=f"{pulumi.get_project()}-{pulumi.get_stack()}-audit",
            # Cloud Logging keeps a bucket's entries at most 3650 days; the setting allows 3653.
            retention_days=min(settings.security.audit_retention_days, 3650),
        ),
        opts=pulumi.ResourceOptions(providers=[providers.for_gcp(regions[0])]),
    )


def _budgets(settings: Settings, providers: Providers) -> None:
    """The stack's budget in each cloud it spends in, alerting at the budget's thresholds.

    AWS Budgets and Cost Explorer are global services with one endpoint per partition (AWS General
    Reference, "Service endpoints and quotas"): any of the stack's AWS providers reaches them, so the
    budget uses the first region the stack already has a provider for. A GCP budget needs the
    billing account (and the rights on it), so only a stack that names one gets it.
    """
    budget = settings.budget
    if budget is None:
        return
    name = f"{pulumi.get_project()}-{pulumi.get_stack()}"
    # Never the database's primary region: a switchover moves it, and a budget whose provider changes
    # is replaced, losing its history (tests/test_switchover.py).
    aws_regions = [c.region for c in settings.clusters if c.cloud is Cloud.AWS and c.region]
    if not aws_regions and settings.database is not None and settings.database.cloud == "aws":
        aws_regions = sorted(region for _, region in settings.database.members())
    if aws_regions:
        StackBudget(
            "budget",
            StackBudgetArgs(
                name=name,
                monthly_usd=budget.max_monthly_usd,
                cost_center=settings.cost_center,
                thresholds=budget.alert_thresholds,
                emails=budget.alert_emails,
                activate_tag=budget.activate_cost_allocation_tag,
            ),
            opts=pulumi.ResourceOptions(providers=[providers.for_aws(aws_regions[0])]),
        )
    gcp_regions = [c.region for c in settings.clusters if c.cloud is Cloud.GCP and c.region]
    if budget.gcp_billing_account and settings.gcp_project and gcp_regions:
        ProjectBudget(
            "gcp-budget",
            ProjectBudgetArgs(
                billing_account=budget.gcp_billing_account,
                project=settings.gcp_project,
                display_name=name,
                monthly_usd=budget.max_monthly_usd,
                thresholds=budget.alert_thresholds,
            ),
            opts=pulumi.ResourceOptions(providers=[providers.for_gcp(gcp_regions[0])]),
        )


class _AlertTopics:
    """The alert topics of each region, made the first time a region asks for them."""

    def __init__(self, settings: Settings, providers: Providers) -> None:
        self._settings = settings
        self._providers = providers
        self._made: dict[str, dict[str, aws.sns.Topic]] = {}

    def __call__(self, region: str) -> dict[str, aws.sns.Topic]:
        if region not in self._made:
            self._made[region] = alert_topics(self._settings, region, self._providers.for_aws(region))
        return self._made[region]

    def for_monitoring(self, region: str) -> AlertTopics:
        made = self(region)
        (first, *_) = made.values()
        return AlertTopics(
            arns={severity: topic.arn for severity, topic in made.items()},
            key_arn=first.kms_master_key_id.apply(lambda key: key or ""),
        )


def _metrics_workspace(
    settings: Settings,
    providers: Providers,
    parts: dict[str, ClusterParts],
    topics: _AlertTopics,
) -> dict[str, MetricsStore]:
    """The AMP workspace every EKS cluster's Prometheus writes to, once per stack with EKS clusters,
    in the region of its first EKS cluster (core clusters first, stack-file order); the store of
    each EKS cluster, by name.

    The region follows the clusters, not the database's primary region: a switchover moves that,
    and a workspace whose provider changes is replaced, losing its history.
    """
    eks = [p for p in parts.values() if p.eks is not None and p.cluster.region is not None]
    if not eks:
        return {}
    first = next((p for p in eks if p.cluster.role is Role.CORE), eks[0])
    region = first.cluster.region
    assert region is not None
    core = [p.cluster.name for p in eks if p.cluster.role is Role.CORE]
    workspace = MetricsWorkspace(
        "metrics",
        MetricsWorkspaceArgs(
            alias=f"{pulumi.get_project()}-{pulumi.get_stack()}",
            region=region,
            groups=[core_regions_group(settings.monitoring, core)] if core else [],
            topic_arns={severity: topic.arn for severity, topic in topics(region).items()},
            log_retention_days=settings.log_retention_days,
            protect=settings.is_prod,
            tags={**settings.tags, "component": "monitoring"},
        ),
        opts=pulumi.ResourceOptions(providers=[providers.for_aws(region)]),
    )
    return {
        p.cluster.name: MetricsStore(
            region=region, workspace_arn=workspace.workspace.arn, remote_write_url=workspace.remote_write_url
        )
        for p in eks
    }


def _aws_alarms(
    settings: Settings,
    providers: Providers,
    parts: dict[str, ClusterParts],
    data: DataOutputs,
    topics_in: _AlertTopics,
    certificates: Mapping[str, pulumi.Output[str]],
) -> None:
    """CloudWatch alarms and EventBridge rules in every AWS region with something Prometheus cannot
    see: an Aurora secondary, a cache, GPU node groups, or the edge's certificate (``certificates``,
    region -> ARN)."""
    replicas: dict[str, dict[str, pulumi.Input[str]]] = {}
    if isinstance(data.database, AwsGlobalDatabase):
        for stem, cluster_id in data.database.member_cluster_ids.items():
            replicas.setdefault(data.database.member_regions[stem], {})[stem] = cluster_id
    caches: dict[str, list[CacheNodes]] = {}
    for region, cache in data.caches.items():
        if isinstance(cache, AwsCache):
            caches.setdefault(region, []).append(CacheNodes(f"cache-{region}", cache.node_cluster_ids))
    gpu_groups: dict[str, dict[str, pulumi.Input[str]]] = {}
    spot: set[str] = set()
    for part in parts.values():
        cluster = part.cluster
        if part.eks is None or cluster.region is None:
            continue
        for pool in cluster.node_pools:
            if is_gpu(machine_of(pool)) and pool.name in part.eks.node_groups:
                group = part.eks.node_groups[pool.name]
                gpu_groups.setdefault(cluster.region, {})[f"{cluster.name}-{pool.name}"] = auto_scaling_group(
                    group
                )
                if pool.capacity is Capacity.SPOT:
                    spot.add(cluster.region)
    for region in sorted({*replicas, *caches, *gpu_groups, *certificates}):
        provider = providers.for_aws(region)
        topics = topics_in(region)
        AwsAlarms(
            f"alarms-{region}",
            AwsAlarmsArgs(
                region=region,
                topic_arns={severity: topic.arn for severity, topic in topics.items()},
                replica_clusters=replicas.get(region, {}),
                caches=caches.get(region, []),
                gpu_groups=gpu_groups.get(region, {}),
                spot=region in spot,
                certificates={f"cert-{region}": certificates[region]} if region in certificates else {},
                tags={**settings.tags, "component": "monitoring"},
            ),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )


def _prometheus_alerts(parts: Mapping[str, ClusterParts]) -> dict[str, str]:
    """Severity -> the query of the stack's firing GKE Prometheus alerts, when Managed Prometheus
    evaluates rules of the stack (a GKE cluster with its Kubernetes provider gets them,
    infra/k8s/monitoring.py); the label selected is the one ``gmp_alert_labels`` puts on them."""
    if not any(p.cluster.cloud is Cloud.GCP and p.kubernetes is not None for p in parts.values()):
        return {}
    stack = gmp_alert_labels()[STACK_LABEL]
    return {severity: firing_alerts_query(severity, stack) for severity in ALERT_SEVERITY}


def _gcp_alerts(
    settings: Settings, providers: Providers, parts: dict[str, ClusterParts], data: DataOutputs
) -> None:
    """Cloud Monitoring alert policies for the stack's GCP data stores and Spot node pools, in the
    project, through the provider of the first GCP cluster (stack-file order: a switchover of the
    database's primary must not move them)."""
    gcp_clusters = [p.cluster for p in parts.values() if p.cluster.cloud is Cloud.GCP and p.cluster.region]
    if not gcp_clusters or not settings.gcp_project:
        return
    caches = {
        f"cache-{region}": cache.instance_id
        for region, cache in data.caches.items()
        if isinstance(cache, GcpCache)
    }
    replicas: dict[str, pulumi.Input[str]] = {}
    if isinstance(data.database, GcpDatabase):
        replicas = {f"db-{region}": db_id for region, db_id in data.database.replica_database_ids.items()}
    region = gcp_clusters[0].region
    assert region is not None
    GcpAlerts(
        "gcp-alerts",
        GcpAlertsArgs(
            project=settings.gcp_project,
            stack=pulumi.get_stack(),
            receivers=[
                AlertReceiver(r.name, frozenset(s.value for s in r.severities), list(r.emails))
                for r in settings.monitoring.receivers
            ],
            caches=caches,
            replicas=replicas,
            preemption=any(p.capacity is Capacity.SPOT for c in gcp_clusters for p in c.node_pools),
            prometheus_alerts=_prometheus_alerts(parts),
        ),
        opts=pulumi.ResourceOptions(providers=[providers.for_gcp(region)]),
    )
