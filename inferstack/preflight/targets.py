"""What the stack will ask of each cloud, read from its settings and the catalog, before anything is asked.

The zones here are the ones the program itself picks (``infra.parts.zones``, ``gke_gpu_zones``, the
TPU zones of the catalog, a reservation's zone), so that a check asks about the zones the apply will
use and not about the region in general.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.catalog import AwsInstanceType, DeviceKind, GcpMachineType, catalog
from infra.parts import zones as cluster_zones
from infra.settings import Capacity, Cloud, Cluster, NodePool, Settings, gke_gpu_zones


@dataclass(frozen=True)
class Pool:
    cluster: Cluster
    pool: NodePool
    region: str
    machine: AwsInstanceType | GcpMachineType

    @property
    def name(self) -> str:
        return f"{self.cluster.name}/{self.pool.name}"

    @property
    def kind(self) -> DeviceKind:
        return catalog().hardware_of(self.machine).kind

    @property
    def spot(self) -> bool:
        return self.pool.capacity is Capacity.SPOT

    def gcp_zones(self) -> tuple[str, ...]:
        """The zones the GKE node pool's nodes are placed in (infra.gcp.nodepools)."""
        accelerator = self.machine.accelerator
        if self.pool.capacity is Capacity.RESERVED and self.pool.reservation_zone:
            return (self.pool.reservation_zone,)
        if accelerator is None:
            return tuple(cluster_zones(self.cluster))
        if self.kind is DeviceKind.TPU:
            return catalog().tpu_zones(accelerator, self.region) or (catalog().gcp_regions[self.region][0],)
        return gke_gpu_zones(accelerator, self.region)


def pools(settings: Settings, cloud: Cloud) -> list[Pool]:
    """Every node pool of the provisioned clusters on ``cloud`` whose machine type the catalog knows."""
    found: list[Pool] = []
    for cluster in settings.clusters:
        if cluster.cloud is not cloud or cluster.region is None:
            continue
        for pool in cluster.node_pools:
            machine = catalog().machine(cloud.value, pool.machine_type)
            if machine is not None:
                found.append(Pool(cluster, pool, cluster.region, machine))
    return found


def uses(settings: Settings, cloud: Cloud) -> bool:
    """Whether the stack creates anything on ``cloud`` that preflight asks about."""
    if any(c.cloud is cloud for c in settings.clusters):
        return True
    return settings.database is not None and settings.database.cloud == cloud.value
