"""The reservations the stack names: they exist, are active, and fit the pool that consumes them.

A node group launched into a Capacity Block that has expired, or a GKE pool bound to a reservation of
another machine type, is created by the apply and then never gets a node. EC2:
DescribeCapacityReservations (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeCapacityReservations.html);
Compute Engine: reservations.get (https://cloud.google.com/compute/docs/reference/rest/v1/reservations/get).
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from inferstack.preflight.clients import Clouds
from inferstack.preflight.rows import Result, Row
from inferstack.preflight.targets import pools
from infra.parts import zones as cluster_zones
from infra.settings import Capacity, Cloud, Settings

CHECK = "capacity"

SOLD_BY_RESERVATION: dict[str, str] = {
    # AWS: no On-Demand price in any region, or capacity mostly through Capacity Blocks for ML
    # (infra/catalog/machines.yaml notes, from the EC2 pricing pages and Capacity Blocks docs).
    "p5e.48xlarge": "EC2 sells it through Capacity Blocks for ML; it has no On-Demand price",
    "p4de.24xlarge": "EC2 capacity for it comes mostly through reservations and Capacity Blocks",
    # GCP: A3 Ultra and A4 are obtained as reservations, Flex-start or Spot, not on demand
    # (https://cloud.google.com/ai-hypercomputer/docs/consumption-models).
    "a3-ultragpu-8g": "A3 Ultra is obtained through reservations, Flex-start or Spot, not on demand",
    "a4-highgpu-8g": "A4 is obtained through reservations, Flex-start or Spot, not on demand",
}
"""Machine types an on-demand pool will rarely get: the apply succeeds and the pool never scales."""


def sold_by_reservation(settings: Settings, cloud: Cloud) -> list[Row]:
    """A warning per on-demand pool of a machine type that is sold mainly by reservation."""
    return [
        Row(
            CHECK,
            pool.name,
            Result.WARN,
            f"on-demand {pool.pool.machine_type}: {SOLD_BY_RESERVATION[pool.pool.machine_type]}. Fix: capacity "
            "reserved with the reservation named, or spot",
        )
        for pool in pools(settings, cloud)
        if pool.pool.capacity is Capacity.ON_DEMAND and pool.pool.machine_type in SOLD_BY_RESERVATION
    ]


def aws_reservations(settings: Settings, clouds: Clouds) -> list[Row]:
    rows: list[Row] = sold_by_reservation(settings, Cloud.AWS)
    for pool in pools(settings, Cloud.AWS):
        rid = pool.pool.capacity_reservation_id
        if pool.pool.capacity is not Capacity.RESERVED or rid is None:
            continue
        ec2 = clouds.aws("ec2", pool.region)
        resource = f"{pool.name} {rid}"
        try:
            found = ec2.describe_capacity_reservations(CapacityReservationIds=[rid])["CapacityReservations"]
        except ClientError as error:
            if "NotFound" not in error.response.get("Error", {}).get("Code", ""):
                raise
            found = []
        if not found:
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.BLOCK,
                    f"no reservation {rid} in {pool.region} for this account. Fix: the "
                    "Capacity Block's id (aws ec2 describe-capacity-reservations) in capacityReservationId",
                )
            )
            continue
        cr = found[0]
        problems: list[str] = []
        if cr.get("State") != "active":
            problems.append(f"state {cr.get('State')}, not active")
        if cr.get("InstanceType") != pool.pool.machine_type:
            problems.append(f"instance type {cr.get('InstanceType')}, the pool runs {pool.pool.machine_type}")
        names = cluster_zones(pool.cluster)
        if cr.get("AvailabilityZone") not in names:
            problems.append(
                f"in {cr.get('AvailabilityZone')}, outside the cluster's zones {', '.join(names)}"
            )
        if problems:
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.BLOCK,
                    "; ".join(problems) + ". Fix: a reservation that matches the pool",
                )
            )
            continue
        total = int(cr.get("TotalInstanceCount", 0))
        if total < pool.pool.max_size:
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.WARN,
                    f"active, {total} instances for maxSize {pool.pool.max_size}: the "
                    "pool cannot grow past the reservation. Fix: maxSize <= the reservation's count",
                )
            )
        else:
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.OK,
                    f"active, {total} x {cr.get('InstanceType')} in {cr.get('AvailabilityZone')}",
                )
            )
    return rows


def gcp_reservations(settings: Settings, clouds: Clouds) -> list[Row]:
    from googleapiclient.errors import HttpError

    rows: list[Row] = sold_by_reservation(settings, Cloud.GCP)
    for pool in pools(settings, Cloud.GCP):
        name, zone = pool.pool.reservation_name, pool.pool.reservation_zone
        if pool.pool.capacity is not Capacity.RESERVED or name is None or zone is None:
            continue
        project, _, short = name.rpartition("/reservations/")
        project = project.removeprefix("projects/") or settings.gcp_project
        resource = f"{pool.name} {short}"
        try:
            res = (
                clouds.gcp("compute", "v1")
                .reservations()
                .get(project=project, zone=zone, reservation=short)
                .execute()
            )
        except HttpError as error:
            if error.resp.status != 404:
                raise
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.BLOCK,
                    f"no reservation {short} in {zone} of project {project}. Fix: the "
                    "reservation's name and zone (gcloud compute reservations list) in reservationName/reservationZone",
                )
            )
            continue
        specific = res.get("specificReservation", {})
        machine = specific.get("instanceProperties", {}).get("machineType")
        problems: list[str] = []
        if res.get("status") != "READY":
            problems.append(f"status {res.get('status')}, not READY")
        if machine != pool.pool.machine_type:
            problems.append(f"machine type {machine}, the pool runs {pool.pool.machine_type}")
        if not res.get("specificReservationRequired"):
            problems.append("not specificReservationRequired: other VMs of the project may consume it first")
        if problems:
            result = (
                Result.BLOCK
                if len(problems) > 1 or not problems[0].startswith("not specific")
                else Result.WARN
            )
            rows.append(
                Row(
                    CHECK,
                    resource,
                    result,
                    "; ".join(problems) + ". Fix: a reservation that matches the pool",
                )
            )
            continue
        count = int(specific.get("count", 0))
        if count < pool.pool.max_size:
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.WARN,
                    f"READY, {count} VMs for maxSize {pool.pool.max_size}: the pool "
                    "cannot grow past the reservation. Fix: maxSize <= the reservation's count",
                )
            )
        else:
            rows.append(Row(CHECK, resource, Result.OK, f"READY, {count} x {machine} in {zone}"))
    return rows
