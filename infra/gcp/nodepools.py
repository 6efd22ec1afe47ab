"""GKE node pools from the stack's pools: boot disks, accelerators, TPU slices and autoscaling bounds.

A stack's pool says what it wants in numbers a person means ("at most 4 H200 nodes"); GKE
counts differently, so the translation lives here and is tested without Pulumi:

- Autoscaling limits on a regional pool are per zone unless the total limits are used, so a
  pool over three zones with ``max_node_count=4`` could grow to 12 nodes. Multi-zone pools get
  ``total_min_node_count``/``total_max_node_count``; single-zone pools (TPU) get the per-zone
  limits, which there mean the same and are what GKE documents for TPU slices.
- A multi-host TPU slice (e.g. ct6e-standard-4t in 4x8: 32 chips on 8 VMs) is one atomic node
  pool: GKE creates, repairs and removes its VMs together, and nodes cannot be added to it. To
  grow by slices GKE needs one node pool per slice. A stack pool of such a machine therefore
  has to ask for whole slices (sizes a multiple of the VMs per slice) and becomes that many
  GKE node pools, each autoscaling between 0 and exactly one slice.
- ``initial_node_count`` is per zone too: a pool that should start with fewer nodes than the
  cluster has zones starts in fewer zones, rather than with none (see ``_spread``).
- TPU slices live in a single zone, and not every zone of a region has TPUs: TPU pools are
  pinned to the zones the catalog lists for their TPU generation (machines.yaml, accelerators).
- Not every zone has every GPU either (us-east4-b has no L4, us-central1 has H200 in b only), and a
  pool over a zone without its machine type cannot create nodes there: GPU pools name their zones
  (``nodeLocations``), those of the cluster's zones that offer the GPU, or other zones of the region
  when none does (``infra.settings.gke_gpu_zones``). A pool left to follow the cluster's zones would
  also change zones whenever the cluster's do. Only CPU pools follow the cluster.
- Boot disks: some machine series take only Hyperdisk, TPUs only their generation's disk types
  (machines.yaml, ``bootDisk``); any other GPU node boots on pd-ssd so that multi-GB images and
  model caches load fast; CPU nodes on pd-balanced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.catalog import DeviceKind, GcpMachineType, catalog, tpu_topology_chips
from infra.naming import gcp_label_value, resource_name
from infra.settings import SERVED, Capacity, Cloud, NodePool, gke_gpu_zones

GKE_NAME_MAX = 40 - 8
"""Longest logical name whose auto-name ("-" + 7 hex) fits GKE's 40-character cluster / pool names."""

SPOT_SHUTDOWN_SECONDS = 120
SPOT_CRITICAL_PODS_SECONDS = 15
"""The kubelet's graceful node shutdown on spot accelerator pools: 120 s, the most GKE allows, of
which the last 15 s are for system-critical pods, so that other pods get 105 s instead of the
default 15 of a spot VM's 30 s notice. GKE docs, "Spot VMs", "Terminate and gracefully shut down
Spot VMs" (up to 120 s on Standard node pools through the node system config, control plane
1.35.0-gke.1171000 or later); provider: NodePoolNodeConfigKubeletConfig
shutdown_grace_period_seconds / shutdown_grace_period_critical_pods_seconds (Spot or preemptible
pools only)."""

_GPU_TAINT = ("nvidia.com/gpu", "present")
_TPU_TAINT = ("google.com/tpu", "present")
_CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


Kind = DeviceKind
"""What a pool's nodes compute on, as the catalog decides it (infra.catalog.Catalog.hardware)."""


def boot_disk_type(machine: GcpMachineType) -> str:
    """The boot disk a node of ``machine`` should use: the one it requires, else the default for its kind."""
    if machine.boot_disk is not None:
        return machine.boot_disk
    return "pd-ssd" if catalog().hardware_of(machine).accelerated else "pd-balanced"


@dataclass(frozen=True)
class GkePool:
    """One GKE node pool to create: a stack pool, or one slice of a multi-host TPU stack pool."""

    logical_name: str
    """Role part of the Pulumi name: the stack pool's name, plus "-s<i>" for slice i of a TPU pool."""
    pool: NodePool
    machine: GcpMachineType
    kind: Kind
    disk_type: str
    node_locations: tuple[str, ...] | None
    """Zones of the pool; None follows the cluster's node locations."""
    zone_count: int
    min_nodes: int
    """Lower bound over all zones."""
    max_nodes: int
    """Upper bound over all zones."""
    initial_nodes_per_zone: int
    nodes_per_slice: int
    """VMs one TPU slice spans; 1 for everything but multi-host TPU machines."""
    slice_index: int | None = None

    @property
    def multi_host(self) -> bool:
        return self.nodes_per_slice > 1

    @property
    def single_zone(self) -> bool:
        return self.zone_count == 1


def _spread(desired: int, maximum: int, zones: Sequence[str]) -> tuple[tuple[str, ...], int]:
    """The zones a pool starts in and the nodes per zone, so that it starts with >= ``desired``.

    GKE counts ``initial_node_count`` per zone, so 1 desired node over 3 zones means 3 nodes, or
    0 if rounded down, which leaves a new cluster without nodes. This takes the most zones whose
    per-zone start still fits under ``maximum`` (a pool with nothing to start keeps every zone).
    """
    if desired == 0:
        return tuple(zones), 0
    for count in range(len(zones), 0, -1):
        per_zone = -(-desired // count)
        if per_zone * count <= maximum:
            return tuple(zones[:count]), per_zone
    raise ValueError(f"desired {desired} is above maximum {maximum}")


def plan_pool(pool: NodePool, *, cluster: str, region: str, zones: Sequence[str]) -> list[GkePool]:
    """The GKE node pools that realise one stack pool; ValueError names the key and what is allowed."""
    at = f"cluster {cluster!r} nodePools[{pool.name}]"
    machine = catalog().gcp_machine_types.get(pool.machine_type)
    if machine is None:
        raise ValueError(f"{at}.machineType={pool.machine_type!r}: not a catalogued GCP machine type")
    hardware = catalog().hardware_of(machine)
    kind = hardware.kind
    if kind not in SERVED[Cloud.GCP] or (kind is Kind.GPU and hardware.vendor != "nvidia"):
        raise ValueError(
            f"{at}.machineType={pool.machine_type!r}: {hardware.accelerator} ({hardware.vendor} {kind.value}) "
            "is not served by GKE node pools; allowed: CPU, NVIDIA GPU or TPU machine types"
        )
    disk = boot_disk_type(machine)

    if kind is not Kind.TPU:
        pinned: tuple[str, ...] | None = None
        if kind is Kind.GPU:
            assert machine.accelerator is not None
            pinned = gke_gpu_zones(machine.accelerator, region)
            if pool.capacity is Capacity.RESERVED and pool.reservation_zone:
                # A specific reservation is zonal: VMs elsewhere cannot consume it and are not created.
                pinned = (pool.reservation_zone,)
            if not pinned:
                raise ValueError(
                    f"{at}.machineType={pool.machine_type!r}: no zone of {region} offers {machine.accelerator} "
                    "(infra/catalog/machines.yaml)"
                )
        spread, per_zone = _spread(pool.desired, pool.max_size, pinned or zones)
        return [
            GkePool(
                logical_name=pool.name,
                pool=pool,
                machine=machine,
                kind=kind,
                disk_type=disk,
                node_locations=spread if pinned or len(spread) != len(zones) else None,
                zone_count=len(spread),
                min_nodes=pool.min_size,
                max_nodes=pool.max_size,
                initial_nodes_per_zone=per_zone,
                nodes_per_slice=1,
            )
        ]

    assert machine.accelerator is not None
    if pool.tpu_topology is None or pool.tpu_topology not in machine.tpu_topologies:
        allowed = ", ".join(machine.tpu_topologies)
        raise ValueError(
            f"{at}.tpuTopology={pool.tpu_topology!r}: allowed for {pool.machine_type}: {allowed}"
        )
    offered = catalog().tpu_zones(machine.accelerator, region)
    if not offered:
        first = catalog().gcp_regions[region][0]
        pulumi.log.warn(
            f"{at}: no zone of {region} is listed for {machine.accelerator} in infra/catalog/machines.yaml; "
            f"placing it in {first}. Check the TPU regions and zones page."
        )
        offered = (first,)
    per_slice = tpu_topology_chips(pool.tpu_topology) // machine.accelerator_count
    if per_slice == 1:
        spread, per_zone = _spread(pool.desired, pool.max_size, offered)
        return [
            GkePool(
                logical_name=pool.name,
                pool=pool,
                machine=machine,
                kind=kind,
                disk_type=disk,
                node_locations=spread,
                zone_count=len(spread),
                min_nodes=pool.min_size,
                max_nodes=pool.max_size,
                initial_nodes_per_zone=per_zone,
                nodes_per_slice=1,
            )
        ]

    shape = f"a {pool.machine_type} {pool.tpu_topology} slice spans {per_slice} nodes"
    for key, value in (("maxSize", pool.max_size), ("minSize", pool.min_size), ("desiredSize", pool.desired)):
        if value % per_slice:
            raise ValueError(
                f"{at}.{key}={value}: {shape} and GKE adds or removes whole slices; "
                f"allowed: a multiple of {per_slice} (0, {per_slice}, {2 * per_slice}, ...)"
            )
    slices = pool.max_size // per_slice
    floor, start = pool.min_size // per_slice, pool.desired // per_slice
    return [
        GkePool(
            logical_name=pool.name if slices == 1 else f"{pool.name}-s{i}",
            pool=pool,
            machine=machine,
            kind=kind,
            disk_type=disk,
            node_locations=offered[:1],
            zone_count=1,
            min_nodes=per_slice if i < floor else 0,
            max_nodes=per_slice,
            initial_nodes_per_zone=per_slice if i < start else 0,
            nodes_per_slice=per_slice,
            slice_index=i,
        )
        for i in range(slices)
    ]


RESERVATION_NAME_KEY = "compute.googleapis.com/reservation-name"


def _reservation_affinity(pool: NodePool) -> gcp.container.NodePoolNodeConfigReservationAffinityArgs | None:
    """A reserved pool consumes exactly its named reservation, and nothing else.

    SPECIFIC_RESERVATION with the key compute.googleapis.com/reservation-name and the reservation's
    name (or projects/<p>/reservations/<name> for a shared one), as the GKE API's ReservationAffinity
    documents it ("Consuming reserved zonal resources" in the GKE docs). Not ANY_RESERVATION: that
    falls back to on-demand VMs when the reservation is full or gone, so a pool meant to hold the
    reserved H200s would quietly start buying them on demand, or not get them at all. Other pools
    leave the field unset, and GKE's default lets them consume any matching open reservation.
    """
    if pool.capacity is not Capacity.RESERVED:
        return None
    return gcp.container.NodePoolNodeConfigReservationAffinityArgs(
        consume_reservation_type="SPECIFIC_RESERVATION",
        key=RESERVATION_NAME_KEY,
        values=[pool.reservation_name or ""],
    )


@dataclass(frozen=True, kw_only=True)
class NodePoolContext:
    """What every node pool of one cluster shares."""

    cluster_name: str
    """Logical name of the cluster (prefix of every pool's Pulumi name)."""
    project: str
    location: str
    """The cluster's region."""
    cluster: pulumi.Input[str]
    """The cluster's id (projects/<p>/locations/<l>/clusters/<n>)."""
    service_account: pulumi.Input[str]
    """Email of the dedicated node service account."""
    role: str
    """The cluster's role (core / burst), as a node label."""
    labels: Mapping[str, str]
    """GCP labels for the node VMs (cost allocation)."""


def node_pool(spec: GkePool, ctx: NodePoolContext, opts: pulumi.ResourceOptions) -> gcp.container.NodePool:
    """Register the GKE node pool for ``spec``."""
    pool = spec.pool
    node_labels = {
        **pool.labels,
        "inferstack.io/pool": pool.name,
        "inferstack.io/role": ctx.role,
        "inferstack.io/accelerator": pool.accelerator or "none",
        "inferstack.io/capacity": pool.capacity.value,
    }
    if spec.slice_index is not None and spec.logical_name != pool.name:
        node_labels["inferstack.io/slice"] = str(spec.slice_index)

    taints: list[gcp.container.NodePoolNodeConfigTaintArgs] = []
    accelerators: list[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs] | None = None
    if spec.kind is Kind.GPU:
        key, value = _GPU_TAINT
        taints.append(gcp.container.NodePoolNodeConfigTaintArgs(key=key, value=value, effect="NO_SCHEDULE"))
        accelerators = [
            gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                type=spec.machine.gke_accelerator_type or "",
                count=spec.machine.accelerator_count,
                # vLLM's CUDA 12.x builds need a recent driver; DEFAULT lags a branch behind.
                gpu_driver_installation_config=(
                    gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                        gpu_driver_version="LATEST"
                    )
                ),
            )
        ]
    elif spec.kind is Kind.TPU:
        key, value = _TPU_TAINT
        taints.append(gcp.container.NodePoolNodeConfigTaintArgs(key=key, value=value, effect="NO_SCHEDULE"))

    if spec.single_zone:
        autoscaling = gcp.container.NodePoolAutoscalingArgs(
            min_node_count=spec.min_nodes, max_node_count=spec.max_nodes
        )
    else:
        autoscaling = gcp.container.NodePoolAutoscalingArgs(
            total_min_node_count=spec.min_nodes,
            total_max_node_count=spec.max_nodes,
            # Spot capacity comes and goes per zone: take it wherever it is.
            location_policy="ANY" if pool.capacity is Capacity.SPOT else "BALANCED",
        )

    upgrade = None
    if spec.kind is Kind.CPU:
        upgrade = gcp.container.NodePoolUpgradeSettingsArgs(strategy="SURGE", max_surge=1, max_unavailable=0)
    elif not spec.multi_host:
        # No spare accelerators to surge into: replace one node at a time instead.
        upgrade = gcp.container.NodePoolUpgradeSettingsArgs(strategy="SURGE", max_surge=0, max_unavailable=1)

    node_config = gcp.container.NodePoolNodeConfigArgs(
        machine_type=pool.machine_type,
        service_account=ctx.service_account,
        oauth_scopes=[_CLOUD_PLATFORM],
        workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
            mode="GKE_METADATA"
        ),
        shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
            enable_secure_boot=True, enable_integrity_monitoring=True
        ),
        spot=True if pool.capacity is Capacity.SPOT else None,
        reservation_affinity=_reservation_affinity(pool),
        disk_size_gb=pool.disk_size_gib,
        disk_type=spec.disk_type,
        gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True) if spec.kind is Kind.GPU else None,
        guest_accelerators=accelerators,
        taints=taints or None,
        kubelet_config=(
            gcp.container.NodePoolNodeConfigKubeletConfigArgs(
                shutdown_grace_period_seconds=SPOT_SHUTDOWN_SECONDS,
                shutdown_grace_period_critical_pods_seconds=SPOT_CRITICAL_PODS_SECONDS,
            )
            if pool.capacity is Capacity.SPOT and spec.kind is not Kind.CPU
            else None
        ),
        labels=node_labels,
        resource_labels={
            **ctx.labels,
            "pool": gcp_label_value(pool.name),
            "role": gcp_label_value(ctx.role),
        },
    )

    return gcp.container.NodePool(
        resource_name(ctx.cluster_name, spec.logical_name, max_len=GKE_NAME_MAX),
        project=ctx.project,
        location=ctx.location,
        cluster=ctx.cluster,
        node_locations=list(spec.node_locations) if spec.node_locations else None,
        initial_node_count=spec.initial_nodes_per_zone,
        autoscaling=autoscaling,
        management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
        upgrade_settings=upgrade,
        placement_policy=(
            gcp.container.NodePoolPlacementPolicyArgs(type="COMPACT", tpu_topology=pool.tpu_topology)
            if spec.kind is Kind.TPU
            else None
        ),
        node_config=node_config,
        # A creation-time hint: the autoscaler moves the size afterwards, and a changed hint
        # must not replace a pool full of accelerators.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["initialNodeCount"])),
    )
