"""Whether each pool's machine type is sold in the zones its nodes will use.

AZ names are per account (us-east-1a is a different data centre in another account), so EC2 is
asked by AZ ID (DescribeInstanceTypeOfferings with LocationType availability-zone-id:
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstanceTypeOfferings.html).
Compute Engine answers per zone: a machine type the zone does not offer to the project is a 404 on
machineTypes.get (https://cloud.google.com/compute/docs/reference/rest/v1/machineTypes/get); any other
refusal (an AI zone the project has not been granted may answer so) is reported as not asked.
"""

from __future__ import annotations

from typing import Any

from inferstack.preflight.clients import Clouds
from inferstack.preflight.rows import Result, Row
from inferstack.preflight.targets import pools
from infra.catalog import DeviceKind, catalog
from infra.parts import zones as cluster_zones
from infra.settings import Cloud, Settings

CHECK = "offering"


def aws_offerings(settings: Settings, clouds: Clouds) -> list[Row]:
    rows: list[Row] = []
    for pool in pools(settings, Cloud.AWS):
        ec2 = clouds.aws("ec2", pool.region)
        names = cluster_zones(pool.cluster)
        zones = ec2.describe_availability_zones(ZoneNames=names)["AvailabilityZones"]
        ids = {z["ZoneName"]: z["ZoneId"] for z in zones}
        if pool.kind is DeviceKind.CPU:
            used = names
        else:  # infra.aws.nodegroups.subnet_zones: the cluster's zones the catalog says offer the type
            expected = catalog().aws_az_ids(pool.pool.machine_type, pool.region)
            used = [n for n in names if ids.get(n) in expected]
        offered = _offered_az_ids(ec2, pool.pool.machine_type)
        good = [n for n in used if ids.get(n) in offered]
        where = ", ".join(f"{n}={ids.get(n, '?')}" for n in names)
        if not good:
            rows.append(
                Row(
                    CHECK,
                    pool.name,
                    Result.BLOCK,
                    f"{pool.pool.machine_type} is offered in none of the zones the node group would use "
                    f"({where}); {pool.region} offers it in {', '.join(sorted(offered)) or 'no AZ'}. Fix: another "
                    "region or machine type, or refresh awsAzIds in infra/catalog/machines.yaml",
                )
            )
        elif len(good) < len(used):
            missing = [n for n in used if n not in good]
            rows.append(
                Row(
                    CHECK,
                    pool.name,
                    Result.WARN,
                    f"{pool.pool.machine_type} is not offered in {', '.join(missing)} ({where}); nodes launch only "
                    f"in {', '.join(good)}. Fix: refresh awsAzIds in infra/catalog/machines.yaml",
                )
            )
        else:
            rows.append(
                Row(CHECK, pool.name, Result.OK, f"{pool.pool.machine_type} offered in {', '.join(good)}")
            )
    return rows


def _offered_az_ids(ec2: Any, instance_type: str) -> set[str]:
    offered: set[str] = set()
    token: dict[str, str] = {}
    while True:
        page = ec2.describe_instance_type_offerings(
            LocationType="availability-zone-id",
            Filters=[{"Name": "instance-type", "Values": [instance_type]}],
            **token,
        )
        offered.update(o["Location"] for o in page.get("InstanceTypeOfferings", []))
        if not page.get("NextToken"):
            return offered
        token = {"NextToken": page["NextToken"]}


def gcp_offerings(settings: Settings, clouds: Clouds) -> list[Row]:
    from googleapiclient.errors import HttpError

    rows: list[Row] = []
    found = pools(settings, Cloud.GCP)
    compute = clouds.gcp("compute", "v1") if found else None
    for pool in found:
        assert compute is not None
        zones = pool.gcp_zones()
        missing: list[str] = []
        for zone in zones:
            try:
                compute.machineTypes().get(
                    project=settings.gcp_project, zone=zone, machineType=pool.pool.machine_type
                ).execute()
            except HttpError as error:
                if error.resp.status != 404:
                    raise
                missing.append(zone)
        if missing:
            rows.append(
                Row(
                    CHECK,
                    pool.name,
                    Result.BLOCK,
                    f"{pool.pool.machine_type} is not offered to project {settings.gcp_project} in "
                    f"{', '.join(missing)} (the pool's zones: {', '.join(zones)}). Fix: another zone or region; an "
                    "AI zone must be enabled for the project first; refresh the zones in infra/catalog/machines.yaml",
                )
            )
        else:
            rows.append(
                Row(CHECK, pool.name, Result.OK, f"{pool.pool.machine_type} offered in {', '.join(zones)}")
            )
    return rows
