"""A private, regional GKE Standard cluster for model serving, and the Kubernetes provider to reach it.

Creates:
- a dedicated node service account holding only what nodes need (write logs and metrics, read
  monitoring and resource metadata, pull from Artifact Registry), so that no node runs as the
  project's default compute service account (Editor);
- a Cloud KMS key ring and key (rotated every 90 days, protected in prod) for application-layer
  encryption of Kubernetes Secrets, and the grant that lets the GKE service agent use it;
- the cluster: private nodes, a private control-plane IP endpoint unless the stack opens it to
  listed CIDRs, the DNS-based control-plane endpoint open to callers that IAM allows (below),
  VPC-native on the network's pod and service ranges, Workload Identity, shielded
  nodes, Dataplane V2 (eBPF, enforces NetworkPolicy), a release channel, no client certificates
  and no legacy ABAC, system and workload logs, Managed Service for Prometheus (plus DCGM GPU
  metrics when the cluster has GPUs), the GCS FUSE CSI driver (model weights from buckets) and
  the Persistent Disk CSI driver. The default node pool is removed; its throwaway node config
  still uses the dedicated account and the GKE metadata server, so no node of the cluster ever
  exposes the VM's credentials;
- one node pool per stack pool (one per slice for multi-host TPU pools; see nodepools.py);
- a Kubernetes provider that reaches the API through the DNS-based endpoint, authenticating through
  ``gke-gcloud-auth-plugin`` (no long-lived credentials in the kubeconfig).

The API through its DNS name: ``pulumi up`` creates objects inside the cluster, and the IP endpoint
is private, reachable only from the VPC. Every GKE cluster also has a DNS-based endpoint
(``gke-<id>-<project number>.<region>.gke.goog``) on a Google front end that any network able to
reach Google APIs reaches; with ``controlPlaneEndpointsConfig.dnsEndpointConfig.allowExternalTraffic``
it admits user traffic, authorized by IAM (``container.clusters.connect`` on the caller's Google
identity) and then by Kubernetes RBAC, not by master authorized networks, which keep guarding the IP
endpoint only. So the deployer needs no network path into the VPC, and the IP endpoints stay as
private as they were. The front end presents a publicly trusted certificate, so the kubeconfig
names no cluster CA for it (``gcloud container clusters get-credentials --dns-endpoint`` writes the
same). The endpoint exists on every cluster whatever its version, so no version is checked.
Sources (2026-11): https://cloud.google.com/kubernetes-engine/docs/concepts/network-isolation#dns-based_endpoint,
https://cloud.google.com/kubernetes-engine/docs/how-to/latest/network-isolation,
the API's ControlPlaneEndpointsConfig.DNSEndpointConfig (https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters),
https://cloud.google.com/blog/products/containers-kubernetes/new-dns-based-endpoint-for-the-gke-control-plane.

Release channel: REGULAR in every environment by default. Prod needs versions that have soaked
in RAPID and that the GKE SLA covers; dev and staging exist to rehearse prod, so they run what
prod runs (GPU driver and TPU runtime support arrive per version). A stack that pins an older
minor (kubernetesVersion) can also only be created on a channel that still offers it, which
RAPID usually does not.

The Google provider is not created here: pass it as
``opts=pulumi.ResourceOptions(providers=[gcp_provider])``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.catalog import catalog
from infra.gcp.nodepools import GKE_NAME_MAX, GkePool, Kind, NodePoolContext, node_pool, plan_pool
from infra.naming import AUTONAMED_MAX, ipv4_network, resource_name
from infra.settings import Environment, NodePool, Role

NODE_ROLES: tuple[str, ...] = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
)
"""Everything a node's service account is granted (GKE hardening guide, least-privilege nodes)."""

KEY_ROTATION = "7776000s"
"""90 days: the longest rotation period CIS GCP 1.10 / CKV_GCP_43 accept."""

_REGION = re.compile(r"^[a-z]+(-[a-z]+)*\d+$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_INSTALL_HINT = (
    "Install gke-gcloud-auth-plugin for kubectl and Pulumi: `gcloud components install "
    "gke-gcloud-auth-plugin`; see https://cloud.google.com/kubernetes-engine/docs/how-to/"
    "cluster-access-for-kubectl#install_plugin"
)


_INTERNAL: tuple[ipaddress.IPv4Network, ...] = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
"""Ranges a VPC uses internally (RFC 1918 and RFC 6598); Python's ``is_private`` also admits
documentation and other reserved ranges that a private GKE endpoint refuses."""


def _internal(net: ipaddress.IPv4Network) -> bool:
    return any(net.subnet_of(block) for block in _INTERNAL)


@dataclass(frozen=True, kw_only=True)
class GkeClusterArgs:
    """What the cluster needs to know; validated before any resource exists."""

    project: str
    """GCP project id that owns the cluster."""
    region: str
    """Region of the (regional) cluster, e.g. "us-central1"."""
    zones: Sequence[str]
    """Zones the cluster's nodes spread over; node pools follow them unless pinned (TPU)."""
    kubernetes_version: str
    """Minimum control-plane version (e.g. "1.33"); the release channel upgrades from there."""
    release_channel: str = "REGULAR"
    """GKE release channel; one of the catalog's gkeReleaseChannels."""
    network: pulumi.Input[str]
    """Self link of the VPC network."""
    subnetwork: pulumi.Input[str]
    """Self link of the node subnetwork."""
    pods_range_name: str
    """Name of the subnetwork's secondary range for pods."""
    services_range_name: str
    """Name of the subnetwork's secondary range for Services."""
    node_cidr: str
    """Primary range of the node subnetwork; always allowed to reach the control plane."""
    pods_cidr: str
    """The pods secondary range (what data stores must admit besides the nodes)."""
    services_cidr: str
    """The Services secondary range (only checked against the control-plane block)."""
    master_ipv4_cidr_block: str
    """A private /28 for the control plane, outside every range of the VPC."""
    endpoint_public: bool = False
    """Whether the control plane also gets a public endpoint (still limited to the listed CIDRs)."""
    master_authorized_cidrs: Sequence[str] = ()
    """CIDRs, besides the node range, allowed to reach the control plane."""
    node_pools: Sequence[NodePool]
    """The stack's node pools of this cluster."""
    role: Role
    """core or burst: a node label, and burst clusters scale down more eagerly."""
    environment: Environment
    """prod turns on deletion protection for the cluster and Pulumi protect for the KMS key."""
    scale_from_zero: bool = False
    """Optimise the autoscaler for utilisation (fast scale-down), as a burst cluster wants."""
    labels: Mapping[str, str]
    """GCP labels for the cluster, the KMS key and the node VMs."""

    def __post_init__(self) -> None:
        where = "GkeClusterArgs"
        if not self.project:
            raise ValueError(f"{where}.project: must not be empty")
        if not _REGION.match(self.region):
            raise ValueError(f"{where}.region={self.region!r}: expected a region such as 'us-central1'")
        if not self.zones or any(not z.startswith(self.region + "-") for z in self.zones):
            raise ValueError(f"{where}.zones={list(self.zones)!r}: expected zones of {self.region}")
        channels = catalog().gke_release_channels
        if self.release_channel not in channels:
            raise ValueError(
                f"{where}.release_channel={self.release_channel!r}: allowed: {', '.join(channels)}"
            )
        if not re.fullmatch(r"\d+\.\d+(\.\d+(-gke\.\d+)?)?", self.kubernetes_version):
            raise ValueError(
                f"{where}.kubernetes_version={self.kubernetes_version!r}: expected e.g. '1.33' or '1.33.5-gke.1080000'"
            )
        ranges = {
            "node_cidr": ipv4_network(f"{where}.node_cidr", self.node_cidr),
            "pods_cidr": ipv4_network(f"{where}.pods_cidr", self.pods_cidr),
            "services_cidr": ipv4_network(f"{where}.services_cidr", self.services_cidr),
        }
        master = ipv4_network(f"{where}.master_ipv4_cidr_block", self.master_ipv4_cidr_block)
        if master.prefixlen != 28 or not _internal(master):
            raise ValueError(
                f"{where}.master_ipv4_cidr_block={master}: allowed: a private /28 (e.g. 172.16.0.0/28)"
            )
        for field, net in ranges.items():
            if master.overlaps(net):
                raise ValueError(f"{where}.master_ipv4_cidr_block={master} overlaps {field}={net}")
        for i, cidr in enumerate(self.master_authorized_cidrs):
            net = ipv4_network(f"{where}.master_authorized_cidrs[{i}]", cidr)
            if net.prefixlen == 0:
                raise ValueError(
                    f"{where}.master_authorized_cidrs[{i}]={cidr}: opens the API to the internet"
                )
            if not self.endpoint_public and not _internal(net):
                raise ValueError(
                    f"{where}.master_authorized_cidrs[{i}]={cidr}: a private endpoint admits only "
                    "internal ranges; allowed: RFC 1918 / RFC 6598 CIDRs, or endpoint_public=True"
                )
        if not self.node_pools:
            raise ValueError(f"{where}.node_pools: empty; a cluster needs at least one node pool")
        names = [p.name for p in self.node_pools]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}.node_pools: names must be unique, got {names}")
        for key, value in self.labels.items():
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise ValueError(
                    f"{where}.labels[{key!r}]={value!r}: GCP labels are lower-case letters, digits, '-' "
                    "and '_', keys starting with a letter, at most 63 characters"
                )


class GkeCluster(pulumi.ComponentResource):
    """A private regional GKE cluster with its node pools, KMS secrets key and Kubernetes provider."""

    name: pulumi.Output[str]
    """The cluster's GKE name."""
    endpoint: pulumi.Output[str]
    """IP of the control plane (the private endpoint unless the endpoint is public)."""
    dns_endpoint: pulumi.Output[str]
    """DNS name of the control plane, reachable from outside the VPC and authorized by IAM."""
    ca_certificate: pulumi.Output[str]
    """Base64 CA certificate of the control plane."""
    kubeconfig: pulumi.Output[str]
    """Exec-based kubeconfig (gke-gcloud-auth-plugin); holds no credentials."""
    kubernetes_provider: k8s.Provider
    """The provider everything inside this cluster must use."""
    node_service_account: pulumi.Output[str]
    """Email of the nodes' dedicated service account."""
    secrets_key_id: pulumi.Output[str]
    """Id of the KMS key that encrypts Kubernetes Secrets."""
    private_cidrs: list[str]
    """The node and pod ranges: where this cluster's traffic to data stores comes from."""
    pools: list[GkePool]
    """The GKE node pools created, as planned from the stack's pools."""

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:gcp:GkeCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prod = args.environment is Environment.PROD

        # Plan first: a bad pool stops the run before any resource is registered.
        self.pools = [
            spec
            for pool in args.node_pools
            for spec in plan_pool(pool, cluster=name, region=args.region, zones=args.zones)
        ]

        node_sa = gcp.serviceaccount.Account(
            resource_name(name, "nodes"),
            project=args.project,
            account_id=resource_name(name, "nodes", max_len=30),
            display_name=f"GKE nodes of {name}",
            description="inferstack: least-privilege identity of the cluster's nodes",
            opts=child,
        )
        grants = [
            gcp.projects.IAMMember(
                resource_name(name, "nodes", role.rsplit("/", 1)[-1]),
                project=args.project,
                role=role,
                member=node_sa.member,
                opts=child,
            )
            for role in NODE_ROLES
        ]
        # The email GCP will give the account, known at preview (``email`` is not), so that
        # policies can check the nodes' identity by value; derived from the account to keep the
        # dependency on it.
        node_email = node_sa.account_id.apply(
            lambda account: f"{account}@{args.project}.iam.gserviceaccount.com"
        )

        protect = pulumi.ResourceOptions(parent=self, protect=prod)
        key_ring = gcp.kms.KeyRing(
            resource_name(name, "gke", max_len=AUTONAMED_MAX),
            project=args.project,
            location=args.region,
            opts=protect,
        )
        secrets_key = gcp.kms.CryptoKey(
            resource_name(name, "gke-secrets", max_len=AUTONAMED_MAX),
            key_ring=key_ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=KEY_ROTATION,
            labels=dict(args.labels),
            opts=protect,
        )
        project = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        agent_grant = gcp.kms.CryptoKeyIAMMember(
            resource_name(name, "gke-secrets-agent"),
            crypto_key_id=secrets_key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=project.number.apply(
                lambda number: (
                    f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com"
                )
            ),
            opts=child,
        )

        authorized = [args.node_cidr, *[c for c in args.master_authorized_cidrs if c != args.node_cidr]]
        has_gpu = any(p.kind is Kind.GPU for p in self.pools)
        cluster = gcp.container.Cluster(
            resource_name(name, "gke", max_len=GKE_NAME_MAX),
            project=args.project,
            location=args.region,
            node_locations=list(args.zones),
            description=f"inferstack {args.role.value} cluster {name} ({args.environment.value})",
            network=args.network,
            subnetwork=args.subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=args.pods_range_name,
                services_secondary_range_name=args.services_range_name,
            ),
            private_cluster_config=gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                enable_private_endpoint=not args.endpoint_public,
                master_ipv4_cidr_block=args.master_ipv4_cidr_block,
            ),
            master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
                cidr_blocks=[
                    gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                        cidr_block=cidr, display_name="nodes" if cidr == args.node_cidr else f"allowed-{i}"
                    )
                    for i, cidr in enumerate(authorized)
                ],
                gcp_public_cidrs_access_enabled=False,
            ),
            control_plane_endpoints_config=gcp.container.ClusterControlPlaneEndpointsConfigArgs(
                dns_endpoint_config=gcp.container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(
                    allow_external_traffic=True
                )
            ),
            master_auth=gcp.container.ClusterMasterAuthArgs(
                client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
                    issue_client_certificate=False
                )
            ),
            enable_legacy_abac=False,
            enable_shielded_nodes=True,
            datapath_provider="ADVANCED_DATAPATH",
            # FQDNNetworkPolicy (the gateway's named egress, infra/k8s/netpol.py) needs Dataplane V2
            # and this flag: https://cloud.google.com/kubernetes-engine/docs/how-to/fqdn-network-policies
            enable_fqdn_network_policy=True,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{args.project}.svc.id.goog"
            ),
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(
                state="ENCRYPTED", key_name=secrets_key.id
            ),
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=args.release_channel),
            min_master_version=args.kubernetes_version,
            maintenance_policy=gcp.container.ClusterMaintenancePolicyArgs(
                # Weekend nights UTC: 8 h on Saturday and Sunday, well over GKE's 48 h per 32 days.
                recurring_window=gcp.container.ClusterMaintenancePolicyRecurringWindowArgs(
                    start_time="2026-01-03T02:00:00Z",
                    end_time="2026-01-03T10:00:00Z",
                    recurrence="FREQ=WEEKLY;BYDAY=SA,SU",
                )
            ),
            logging_config=gcp.container.ClusterLoggingConfigArgs(
                enable_components=["SYSTEM_COMPONENTS", "WORKLOADS"]
            ),
            # The list is the whole set: a package left out is switched off, the kube-state-metrics
            # ones GKE enables by default included. The rules read Deployment and HPA state
            # (kube_deployment_*, kube_horizontalpodautoscaler_*); the other KSM packages feed the
            # dashboards. https://cloud.google.com/kubernetes-engine/docs/how-to/kube-state-metrics
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=[
                    "SYSTEM_COMPONENTS",
                    # GKE's managed kube-state-metrics packages.
                    *("DEPLOYMENT", "HPA", "POD", "STATEFULSET", "DAEMONSET", "STORAGE"),
                    *(["DCGM"] if has_gpu else []),
                ],
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
            ),
            addons_config=gcp.container.ClusterAddonsConfigArgs(
                gcs_fuse_csi_driver_config=gcp.container.ClusterAddonsConfigGcsFuseCsiDriverConfigArgs(
                    enabled=True
                ),
                gce_persistent_disk_csi_driver_config=(
                    gcp.container.ClusterAddonsConfigGcePersistentDiskCsiDriverConfigArgs(enabled=True)
                ),
            ),
            cluster_autoscaling=gcp.container.ClusterClusterAutoscalingArgs(
                autoscaling_profile=(
                    "OPTIMIZE_UTILIZATION" if args.scale_from_zero or args.role is Role.BURST else "BALANCED"
                )
            ),
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=gcp.container.ClusterNodeConfigArgs(
                service_account=node_email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
            ),
            resource_labels=dict(args.labels),
            deletion_protection=prod,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[agent_grant],
                # nodeConfig only shapes the default pool, deleted right after creation; a change
                # to it would otherwise replace the whole cluster.
                ignore_changes=["nodeConfig"],
            ),
        )

        context = NodePoolContext(
            cluster_name=name,
            project=args.project,
            location=args.region,
            cluster=cluster.id,
            service_account=node_email,
            role=args.role.value,
            labels=args.labels,
        )
        pool_opts = pulumi.ResourceOptions(parent=self, depends_on=list(grants))
        for spec in self.pools:
            node_pool(spec, context, pool_opts)

        ca = cluster.master_auth.apply(lambda auth: auth.cluster_ca_certificate or "")
        self.name = cluster.name
        self.endpoint = cluster.endpoint
        self.ca_certificate = ca
        self.dns_endpoint = cluster.control_plane_endpoints_config.apply(_dns_endpoint)
        self.kubeconfig = pulumi.Output.all(cluster.name, self.dns_endpoint).apply(
            lambda values: _kubeconfig(args.project, args.region, *values)
        )
        self.kubernetes_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
        )
        self.node_service_account = node_email
        self.secrets_key_id = secrets_key.id
        self.private_cidrs = [args.node_cidr, args.pods_cidr]
        self.register_outputs(
            {
                "name": self.name,
                "endpoint": self.endpoint,
                "dnsEndpoint": self.dns_endpoint,
                "caCertificate": self.ca_certificate,
                "kubeconfig": self.kubeconfig,
                "nodeServiceAccount": self.node_service_account,
                "secretsKeyId": self.secrets_key_id,
                "privateCidrs": self.private_cidrs,
            }
        )


def _dns_endpoint(config: gcp.container.outputs.ClusterControlPlaneEndpointsConfig | None) -> str:
    endpoint = config.dns_endpoint_config.endpoint if config and config.dns_endpoint_config else None
    if not endpoint:
        raise ValueError("GKE returned no controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint")
    return endpoint


def _kubeconfig(project: str, region: str, cluster: str, dns_endpoint: str) -> str:
    """A kubeconfig for the DNS endpoint that asks gke-gcloud-auth-plugin for a token at each use.

    No certificate-authority-data: the DNS endpoint's certificate is publicly trusted, not issued
    by the cluster CA (JSON is valid YAML).
    """
    context = f"gke_{project}_{region}_{cluster}"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": context,
                    "cluster": {"server": f"https://{dns_endpoint}"},
                }
            ],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
            "users": [
                {
                    "name": context,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "gke-gcloud-auth-plugin",
                            "installHint": _INSTALL_HINT,
                            "provideClusterInfo": True,
                            "interactiveMode": "Never",
                        }
                    },
                }
            ],
        },
        indent=2,
    )
