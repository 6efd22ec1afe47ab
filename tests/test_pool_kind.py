"""One decision of what a pool is: the catalog says CPU, GPU, TPU or Neuron, and the settings, the
EKS node groups and the GKE node pools all act on that one answer."""

from __future__ import annotations

import pytest

from infra.aws.nodegroups import (
    AMI_TYPES,
    ami_type_for,
    machine_of,
    node_template_tags,
    pool_labels,
    pool_taints,
)
from infra.catalog import AwsInstanceType, DeviceKind, catalog
from infra.gcp.nodepools import plan_pool
from infra.settings import SERVED, Cloud, NodePool, Role


def _pool(machine_type: str, accelerator: str | None, **extra: object) -> NodePool:
    return NodePool.model_validate(
        {
            "name": "p",
            "machineType": machine_type,
            "accelerator": accelerator,
            "minSize": 0,
            "maxSize": 8,
            **extra,
        }
    )


SERVED_ON_AWS = sorted(
    name
    for name, machine in catalog().aws_instance_types.items()
    if catalog().hardware_of(machine).kind in SERVED[Cloud.AWS]
)


def test_every_kind_the_settings_let_onto_aws_has_a_node_image() -> None:
    assert set(AMI_TYPES) == set(SERVED[Cloud.AWS])


def test_aws_serves_every_catalogued_machine_but_trainium() -> None:
    assert set(catalog().aws_instance_types) - set(SERVED_ON_AWS) == {"trn1.32xlarge"}


@pytest.mark.parametrize("name", SERVED_ON_AWS)
def test_every_served_aws_machine_gets_the_image_taint_and_gpu_count_of_its_kind(name: str) -> None:
    machine = catalog().aws_instance_types[name]
    hardware = catalog().hardware_of(machine)
    pool = _pool(name, machine.accelerator)
    gpu = hardware.kind is DeviceKind.GPU
    assert ami_type_for(machine_of(pool)) == ("AL2023_x86_64_NVIDIA" if gpu else "AL2023_x86_64_STANDARD")
    assert bool(pool_taints(pool)) == gpu
    assert ("nvidia.com/gpu.present" in pool_labels(pool, Role.BURST)) == gpu
    gpus = node_template_tags(pool, Role.BURST).get(
        "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"
    )
    assert gpus == (str(hardware.count) if gpu else None)


def test_aws_node_groups_refuse_what_they_cannot_serve() -> None:
    trainium = catalog().aws_instance_types["trn1.32xlarge"]
    assert isinstance(trainium, AwsInstanceType)
    with pytest.raises(ValueError, match="CPU and NVIDIA GPU machines only"):
        ami_type_for(trainium)
    with pytest.raises(ValueError, match="Trainium"):
        pool_taints(_pool("trn1.32xlarge", "Trainium"))


@pytest.mark.parametrize("name", sorted(catalog().gcp_machine_types))
def test_every_gcp_machine_becomes_a_node_pool_of_its_catalog_kind(name: str) -> None:
    machine = catalog().gcp_machine_types[name]
    hardware = catalog().hardware_of(machine)
    assert hardware.kind in SERVED[Cloud.GCP]
    extra: dict[str, object] = {}
    if machine.tpu_topologies:
        topology = machine.tpu_topologies[0]
        extra = {"tpuTopology": topology, "maxSize": 64}
    region = (machine.regions or ["us-central1"])[0]
    zones = catalog().gcp_regions[region][:3]
    specs = plan_pool(_pool(name, machine.accelerator, **extra), cluster="c", region=region, zones=zones)
    assert {spec.kind for spec in specs} == {hardware.kind}
