"""Service quotas for every accelerator pool at its max size: the first thing a GPU apply runs into.

EC2 counts running instances in vCPUs per instance family group and per region, separately for
on-demand and spot; Compute Engine counts GPUs per model and per region, separately for preemptible
(spot) VMs. A pool that can never reach its max size fails late and silently (the autoscaler logs
"quota exceeded"), so the need is the pools' max sizes, summed per quota and region.

Reserved pools are left out: capacity that a reservation or Capacity Block already holds was counted
when it was reserved (the capacity check asks about it).
"""

from __future__ import annotations

import re
from collections import defaultdict

from botocore.exceptions import ClientError

from inferstack.preflight.clients import Clouds
from inferstack.preflight.rows import Result, Row
from inferstack.preflight.targets import Pool, pools
from infra.catalog import DeviceKind, GcpMachineType
from infra.settings import Capacity, Cloud, Settings

CHECK = "quota"

# EC2 vCPU quotas per family group, on-demand and spot, as Service Quotas codes (service code ec2).
# Names: Amazon EC2 User Guide, "Amazon EC2 service quotas" (on-demand) and "Spot Instance quotas"
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html); the codes are the ones
# the Service Quotas console and `aws service-quotas list-service-quotas --service-code ec2` list.
# Some versions of the Spot page list "All P4, P3 and P2" and "All P5" Spot quotas instead of one
# "All P": an account that has the split quotas answers L-7212CCBC with NoSuchResourceException, which
# shows as a row that could not be asked (a warning), never as a pass.
EC2_QUOTAS: dict[str, dict[bool, tuple[str, str]]] = {
    "P": {
        False: ("L-417A185B", "Running On-Demand P instances"),
        True: ("L-7212CCBC", "All P Spot Instance Requests"),
    },
    "G and VT": {
        False: ("L-DB2E81BA", "Running On-Demand G and VT instances"),
        True: ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    },
    "Standard": {
        False: ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"),
        True: ("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests"),
    },
}

# Compute Engine regional GPU quota metrics by accelerator type (Compute Engine API, Quota.metric:
# https://cloud.google.com/compute/docs/reference/rest/v1/regions#Quota); spot and preemptible VMs
# count against the PREEMPTIBLE_ metric of the same GPU (https://cloud.google.com/compute/resource-usage).
STANDARD_FAMILIES = frozenset({"a", "c", "d", "h", "i", "m", "r", "t", "z", "im", "is"})
"""Instance families counted by the Standard quota (A, C, D, H, I, M, R, T, Z; im4gn and is4gen are I)."""

GPU_METRICS: dict[str, str] = {
    "nvidia-l4": "NVIDIA_L4_GPUS",
    "nvidia-tesla-a100": "NVIDIA_A100_GPUS",
    "nvidia-a100-80gb": "NVIDIA_A100_80GB_GPUS",
    "nvidia-h100-80gb": "NVIDIA_H100_GPUS",
    "nvidia-h100-mega-80gb": "NVIDIA_H100_MEGA_GPUS",
    "nvidia-h200-141gb": "NVIDIA_H200_GPUS",
}


def ec2_family(instance_type: str) -> str | None:
    """The quota family group of an instance type (p5en.48xlarge -> P), None if not one of ours."""
    prefix = re.match(r"[a-z]+", instance_type)
    letters = prefix.group(0) if prefix else ""
    if letters == "p":
        return "P"
    if letters in ("g", "vt"):
        return "G and VT"
    if letters in STANDARD_FAMILIES:
        return "Standard"
    return None  # inf, trn, dl, f, x, u, hpc, mac: quotas of their own, for pools this program does not build


def aws_quotas(settings: Settings, clouds: Clouds) -> list[Row]:
    need: dict[tuple[str, str, bool], int] = defaultdict(int)
    users: dict[tuple[str, str, bool], list[str]] = defaultdict(list)
    rows: list[Row] = []
    for pool in pools(settings, Cloud.AWS):
        if pool.pool.capacity is Capacity.RESERVED:
            continue
        family = ec2_family(pool.pool.machine_type)
        if family is None:
            rows.append(
                Row(
                    CHECK,
                    pool.name,
                    Result.WARN,
                    f"{pool.pool.machine_type}: no EC2 quota family known; check it by hand",
                )
            )
            continue
        key = (pool.region, family, pool.spot)
        need[key] += pool.pool.max_size * pool.machine.vcpus
        users[key].append(f"{pool.name} {pool.pool.max_size} x {pool.machine.vcpus}")
    for (region, family, spot), vcpus in sorted(need.items()):
        code, name = EC2_QUOTAS[family][spot]
        resource = f"{region} {name}"
        try:
            answer = clouds.aws("service-quotas", region).get_service_quota(ServiceCode="ec2", QuotaCode=code)
        except ClientError as error:
            # One quota that cannot be read (no permission, a code this account does not have) leaves
            # the others to be asked.
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.WARN,
                    f"could not ask {code}: {error}. Check it in the Service Quotas console",
                )
            )
            continue
        value = float(answer["Quota"]["Value"])
        what = f"{vcpus} vCPUs at max size ({', '.join(users[(region, family, spot)])}); quota {value:g}"
        if value < vcpus:
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.BLOCK,
                    f"{what}. Fix: aws service-quotas request-service-quota-increase --region {region} "
                    f"--service-code ec2 --quota-code {code} --desired-value {vcpus}",
                )
            )
        else:
            rows.append(Row(CHECK, resource, Result.OK, what))
    return rows


def gcp_quotas(settings: Settings, clouds: Clouds) -> list[Row]:
    need: dict[tuple[str, str], int] = defaultdict(int)
    users: dict[tuple[str, str], list[str]] = defaultdict(list)
    rows: list[Row] = []
    for pool in pools(settings, Cloud.GCP):
        if pool.pool.capacity is Capacity.RESERVED or pool.kind is DeviceKind.CPU:
            continue
        machine = pool.machine
        assert isinstance(machine, GcpMachineType)
        if pool.kind is DeviceKind.TPU:
            rows.append(_tpu_not_checked(pool))
            continue
        metric = GPU_METRICS.get(machine.gke_accelerator_type or "")
        if metric is None:
            rows.append(
                Row(
                    CHECK,
                    pool.name,
                    Result.WARN,
                    f"{machine.gke_accelerator_type}: no GPU quota metric known",
                )
            )
            continue
        if pool.spot:
            metric = f"PREEMPTIBLE_{metric}"
        key = (pool.region, metric)
        need[key] += pool.pool.max_size * machine.accelerator_count
        users[key].append(f"{pool.name} {pool.pool.max_size} x {machine.accelerator_count}")
    compute = clouds.gcp("compute", "v1") if need else None
    quotas: dict[str, dict[str, tuple[float, float]]] = {}
    for (region, metric), gpus in sorted(need.items()):
        if region not in quotas:
            assert compute is not None
            answer = compute.regions().get(project=settings.gcp_project, region=region).execute()
            quotas[region] = {
                q["metric"]: (float(q.get("limit", 0)), float(q.get("usage", 0)))
                for q in answer.get("quotas", [])
            }
        limit, usage = quotas[region].get(metric, (0.0, 0.0))
        what = f"{gpus} GPUs at max size ({', '.join(users[(region, metric)])}); quota {limit:g} ({usage:g} in use)"
        if limit < gpus:
            rows.append(
                Row(
                    CHECK,
                    f"{region} {metric}",
                    Result.BLOCK,
                    f"{what}. Fix: request {metric} >= {gpus} in {region} for project {settings.gcp_project} "
                    "(IAM & Admin > Quotas, https://cloud.google.com/docs/quotas/view-manage)",
                )
            )
        else:
            rows.append(Row(CHECK, f"{region} {metric}", Result.OK, what))
    return rows


def _tpu_not_checked(pool: Pool) -> Row:
    # TPU quotas are per generation and per consumption model, and their names differ between
    # Cloud TPU VMs and GKE node pools (https://cloud.google.com/tpu/docs/quota); no regional
    # Compute Engine metric answers for a GKE TPU slice, so this one is left to a person.
    chips = pool.pool.max_size * pool.machine.accelerator_count
    return Row(
        CHECK,
        pool.name,
        Result.WARN,
        f"{pool.machine.accelerator} needs {chips} chips at max size in {pool.region}; TPU quota is not asked "
        "here: see https://cloud.google.com/kubernetes-engine/docs/concepts/plan-tpus",
    )
