"""The managed node groups of an EKS cluster, one per node pool of the stack.

Each pool gets a launch template and an EKS managed node group:

- the launch template requires IMDSv2 with a hop limit of 1, so that pods (which are one hop
  further away) cannot read the node role's credentials, and gives the node an encrypted gp3
  root volume under the cluster's KMS key; it sets no AMI and no SSH key, so EKS keeps
  choosing the AMI and nobody logs in to nodes;
- the node group picks the EKS-optimised AL2023 AMI (NVIDIA variant for GPU machines),
  the capacity type of the pool, its size, labels and taints; GPU pools are tainted so that
  only pods that ask for a GPU land there;
- the size the pool starts at is only a starting point: the cluster autoscaler owns the desired
  size after creation, so later runs ignore drift in it;
- pools that can scale to zero also tag their Auto Scaling group with the labels, taints and
  GPU count of the nodes it would create. Tags on an EKS node group are not copied to its Auto
  Scaling group, and with no node to look at the cluster autoscaler only knows what these tags
  tell it.

GPU node groups live only in the private subnets whose Availability Zone offers their instance
type (``offering_zones``): an Auto Scaling group spread over a zone without the type fails every
launch there. Offerings are catalogued by AZ ID (machines.yaml, ``awsAzIds``), because zone names
map to different physical zones in different accounts; the account's own mapping comes from
DescribeAvailabilityZones (``aws.get_availability_zones_output``), asked once per cluster.

Why the catalog and not DescribeInstanceTypeOfferings, the per-account authority
(``aws.ec2.get_instance_type_offerings_output(location_type="availability-zone-id")``):
the settings must refuse a pool whose region has no zone with its type before anything runs,
offline included, and that needs the table anyway; with one source the offline plan, the
settings and ``pulumi preview`` decide alike. A node group's subnets cannot change in place (a
new subnet list replaces the group), so they should change when a reviewed catalog change says
so, not whenever AWS adds a zone between two previews. The cost: a type newly offered in a zone
is only used there once the catalog says so, and the catalog can be stale; its dated sources
name the CLI call that checks it (AWS docs: "AZ IDs", DescribeAvailabilityZones ZoneId,
DescribeInstanceTypeOfferings LocationType availability-zone-id).

The helpers are pure functions of the pool, so that the rules can be tested without Pulumi.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.catalog import AwsInstanceType, DeviceKind, PoolHardware, catalog
from infra.naming import AUTONAMED_MAX, resource_name
from infra.settings import SERVED, Capacity, Cloud, NodePool, Role

GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
AUTOSCALER = "k8s.io/cluster-autoscaler"

CAPACITY_TYPES: Mapping[Capacity, str] = {
    Capacity.ON_DEMAND: "ON_DEMAND",
    Capacity.SPOT: "SPOT",
    Capacity.RESERVED: "CAPACITY_BLOCK",
}
"""Stack capacity -> EKS node group capacityType. "reserved" means an EC2 Capacity Block for ML."""

GPU_ROOT_VOLUME_IOPS = 16000
GPU_ROOT_VOLUME_THROUGHPUT = 1000
"""gp3 maximums for GPU nodes, whose root volume holds the serving image and the model cache:
at the gp3 baseline (3000 IOPS, 125 MiB/s) reading hundreds of GiB of weights takes over an hour."""


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str
    """EKS spelling: NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE."""

    @property
    def kubernetes_effect(self) -> str:
        """The Kubernetes spelling of the effect (NoSchedule), as the autoscaler's tags expect."""
        return "".join(part.capitalize() for part in self.effect.split("_"))


def machine_of(pool: NodePool) -> AwsInstanceType:
    machine = catalog().machine("aws", pool.machine_type)
    if not isinstance(machine, AwsInstanceType):
        raise ValueError(
            f"node pool {pool.name!r}: {pool.machine_type!r} is not a catalogued AWS instance type"
        )
    return machine


AMI_TYPES: Mapping[DeviceKind, str] = {
    DeviceKind.CPU: "AL2023_x86_64_STANDARD",
    DeviceKind.GPU: "AL2023_x86_64_NVIDIA",
}
"""The EKS-optimised AL2023 AMI family per kind of node: with NVIDIA drivers and container toolkit for
GPUs: one for each kind the settings let onto AWS (infra.settings.SERVED)."""


def hardware_of(machine: AwsInstanceType) -> PoolHardware:
    """What the catalog says a node of ``machine`` carries; ValueError if these node groups cannot serve it."""
    hardware = catalog().hardware_of(machine)
    if hardware.kind not in SERVED[Cloud.AWS] or (hardware.accelerated and hardware.vendor != "nvidia"):
        raise ValueError(
            f"{hardware.count}x {hardware.accelerator} ({hardware.vendor} {hardware.kind.value}): "
            "EKS node groups are built for CPU and NVIDIA GPU machines only"
        )
    return hardware


def is_gpu(machine: AwsInstanceType) -> bool:
    return hardware_of(machine).kind is DeviceKind.GPU


def ami_type_for(machine: AwsInstanceType) -> str:
    """The EKS-optimised AL2023 AMI family for nodes of ``machine``."""
    return AMI_TYPES[hardware_of(machine).kind]


def offering_zones(
    pool: NodePool, *, cluster: str, region: str, zones: Sequence[str], zone_ids: Mapping[str, str]
) -> tuple[str, ...]:
    """The zones (names, in order) whose subnets a node group of ``pool`` may use.

    CPU pools use every zone. GPU pools use the zones whose AZ ID in this account (``zone_ids``,
    name -> ID, from DescribeAvailabilityZones) offers the instance type by the catalog; none is a
    ValueError that names the pool, the zones and the AZ IDs that would do.
    """
    if not is_gpu(machine_of(pool)):
        return tuple(zones)
    offered = catalog().aws_az_ids(pool.machine_type, region)
    picked = tuple(z for z in zones if zone_ids.get(z) in offered)
    if not picked:
        mapped = ", ".join(f"{z}={zone_ids.get(z, '?')}" for z in zones)
        raise ValueError(
            f"cluster {cluster!r} nodePools[{pool.name}].machineType={pool.machine_type!r}: none of the cluster's "
            f"zones offers it in this account ({mapped}); {region} offers it in AZ IDs {', '.join(offered) or 'none'} "
            "(infra/catalog/machines.yaml awsAzIds); allowed: another region, or zones in regions.yaml that reach them"
        )
    return picked


def capacity_type_for(capacity: Capacity) -> str:
    return CAPACITY_TYPES[capacity]


def pool_labels(pool: NodePool, role: Role) -> dict[str, str]:
    """Kubernetes labels of the pool's nodes; the pool's own labels come last and win."""
    labels = {"inferstack.io/pool": pool.name, "inferstack.io/role": role.value}
    if pool.accelerator is not None:
        labels["inferstack.io/accelerator"] = pool.accelerator
        if is_gpu(machine_of(pool)):
            labels[f"{GPU_RESOURCE}.present"] = "true"
    return {**labels, **pool.labels}


def pool_taints(pool: NodePool) -> list[Taint]:
    """GPU nodes repel every pod that does not tolerate nvidia.com/gpu (which GPU workloads do)."""
    if is_gpu(machine_of(pool)):
        return [Taint(GPU_RESOURCE, GPU_TAINT_VALUE, "NO_SCHEDULE")]
    return []


def node_template_tags(pool: NodePool, role: Role) -> dict[str, str]:
    """What the cluster autoscaler needs to build a node of this pool from nothing (scale from 0)."""
    tags = {f"{AUTOSCALER}/node-template/label/{k}": v for k, v in pool_labels(pool, role).items()}
    for taint in pool_taints(pool):
        tags[f"{AUTOSCALER}/node-template/taint/{taint.key}"] = f"{taint.value}:{taint.kubernetes_effect}"
    hardware = hardware_of(machine_of(pool))
    if hardware.kind is DeviceKind.GPU:
        tags[f"{AUTOSCALER}/node-template/resources/{GPU_RESOURCE}"] = str(hardware.count)
    return tags


def autoscaler_tags(cluster_name: str, pool: NodePool, role: Role) -> dict[str, str]:
    """Auto-discovery tags for this cluster's autoscaler, plus the pool's node template."""
    return {
        f"{AUTOSCALER}/enabled": "true",
        f"{AUTOSCALER}/{cluster_name}": "owned",
        **node_template_tags(pool, role),
    }


@dataclass(frozen=True, kw_only=True)
class NodeGroupContext:
    """What every node group of one cluster shares."""

    base_name: str
    """The cluster component's logical name; children are named <base>-<pool>."""
    cluster_name: pulumi.Input[str]
    """Physical EKS cluster name (an output of the cluster, so that node groups wait for it)."""
    autoscaler_cluster_name: str
    """The same name as plain text, for tag keys."""
    kubernetes_version: pulumi.Input[str]
    """Kubelet version of the nodes; follows the control plane."""
    node_role_arn: pulumi.Input[str]
    """IAM role the nodes run as."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """Private subnets the nodes live in, one per zone, in the order of ``zones``."""
    region: str
    """The cluster's AWS region."""
    zones: Sequence[str]
    """Zone names of ``subnet_ids``, in the same order."""
    zone_ids: pulumi.Input[Mapping[str, str]] | None
    """Zone name -> AZ ID in this account (DescribeAvailabilityZones); None if no pool needs it (no GPU pool)."""
    stack_file: str = ""
    """The stack file, named in the error when no zone of the cluster offers a GPU pool's type."""
    kms_key_arn: pulumi.Input[str]
    """KMS key that encrypts the root volumes."""
    role: Role
    """The cluster's role (core or burst), as a node label."""
    tags: Mapping[str, str]
    """Tags for the launch template, node group, instances and volumes."""
    capacity_reservation_ids: Mapping[str, str]
    """Pool name -> Capacity Block reservation id, for pools with capacity reserved."""


def launch_template(
    ctx: NodeGroupContext, pool: NodePool, opts: pulumi.ResourceOptions
) -> aws.ec2.LaunchTemplate:
    name = resource_name(ctx.base_name, pool.name, max_len=AUTONAMED_MAX)
    accelerated = hardware_of(machine_of(pool)).accelerated
    node_tags = {**ctx.tags, "Name": name, "inferstack.io/pool": pool.name}
    reservation = ctx.capacity_reservation_ids.get(pool.name) if pool.capacity is Capacity.RESERVED else None
    return aws.ec2.LaunchTemplate(
        name,
        description=f"EKS nodes of pool {pool.name}: IMDSv2 only, encrypted gp3 root volume",
        update_default_version=True,
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled",
            http_tokens="required",
            http_put_response_hop_limit=1,
            instance_metadata_tags="disabled",
        ),
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_type="gp3",
                    volume_size=pool.disk_size_gib,
                    iops=GPU_ROOT_VOLUME_IOPS if accelerated else None,
                    throughput=GPU_ROOT_VOLUME_THROUGHPUT if accelerated else None,
                    encrypted="true",
                    kms_key_id=ctx.kms_key_arn,
                    delete_on_termination="true",
                ),
            )
        ],
        instance_market_options=(
            aws.ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type="capacity-block")
            if reservation
            else None
        ),
        capacity_reservation_specification=(
            aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
                capacity_reservation_target=aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
                    capacity_reservation_id=reservation
                )
            )
            if reservation
            else None
        ),
        tag_specifications=[
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=node_tags)
            for kind in ("instance", "volume")
        ],
        tags={**ctx.tags, "Name": name},
        opts=opts,
    )


def node_group(
    ctx: NodeGroupContext,
    pool: NodePool,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource],
) -> aws.eks.NodeGroup:
    """The launch template and managed node group of one pool (and its ASG tags if it can reach zero)."""
    name = resource_name(ctx.base_name, pool.name, max_len=AUTONAMED_MAX)
    template = launch_template(ctx, pool, pulumi.ResourceOptions(parent=parent))
    group = aws.eks.NodeGroup(
        name,
        cluster_name=ctx.cluster_name,
        version=ctx.kubernetes_version,
        node_role_arn=ctx.node_role_arn,
        subnet_ids=_subnets_for(ctx, pool),
        ami_type=ami_type_for(machine_of(pool)),
        capacity_type=capacity_type_for(pool.capacity),
        instance_types=[pool.machine_type],
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=pool.min_size, max_size=pool.max_size, desired_size=pool.desired
        ),
        update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
        node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True),
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
            id=template.id, version=template.latest_version.apply(str)
        ),
        labels=pool_labels(pool, ctx.role),
        taints=[
            aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in pool_taints(pool)
        ]
        or None,
        tags={**ctx.tags, "Name": name, **autoscaler_tags(ctx.autoscaler_cluster_name, pool, ctx.role)},
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(depends_on),
            # The cluster autoscaler owns the node count once the group exists.
            ignore_changes=["scalingConfig.desiredSize"],
        ),
    )
    if pool.min_size == 0:
        _tag_auto_scaling_group(name, group, node_template_tags(pool, ctx.role), parent)
    return group


def _subnets_for(ctx: NodeGroupContext, pool: NodePool) -> pulumi.Input[Sequence[str]]:
    """Every private subnet for a CPU pool; for a GPU pool, those in zones that offer its type."""
    if not is_gpu(machine_of(pool)):
        return ctx.subnet_ids
    if ctx.zone_ids is None:
        raise ValueError(
            f"node pool {pool.name!r}: a GPU pool needs the account's zone IDs (NodeGroupContext.zone_ids)"
        )

    def pick(values: list[Any]) -> list[str]:
        subnets, zone_ids = values
        try:
            keep = offering_zones(
                pool, cluster=ctx.base_name, region=ctx.region, zones=ctx.zones, zone_ids=zone_ids
            )
        except ValueError as error:
            # Raised once the account has answered, after the program body: one line, as the settings' are.
            raise pulumi.RunError(f"{ctx.stack_file}: {error}" if ctx.stack_file else str(error)) from None
        return [subnet for zone, subnet in zip(ctx.zones, subnets, strict=True) if zone in keep]

    return pulumi.Output.all(ctx.subnet_ids, ctx.zone_ids).apply(pick)


def _tag_auto_scaling_group(
    name: str, group: aws.eks.NodeGroup, tags: Mapping[str, str], parent: pulumi.Resource
) -> None:
    asg_name = group.resources.apply(_first_asg_name)
    for key, value in tags.items():
        suffix = key.removeprefix(f"{AUTOSCALER}/node-template/")
        aws.autoscaling.Tag(
            resource_name(name, "asg", suffix, max_len=AUTONAMED_MAX),
            autoscaling_group_name=asg_name,
            tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
            opts=pulumi.ResourceOptions(parent=parent),
        )


def _first_asg_name(resources: Sequence[aws.eks.outputs.NodeGroupResource] | None) -> str:
    """The Auto Scaling group EKS made for the node group (a managed node group has exactly one)."""
    for resource in resources or []:
        for group in resource.autoscaling_groups or []:
            if group.name:
                return group.name
    raise ValueError("the EKS node group reports no Auto Scaling group")
