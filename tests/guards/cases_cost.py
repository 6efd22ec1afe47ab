"""Cases for policies/cost.py: one failing case per condition and a passing one per guard, with the
ids a first preview does not know (roles, subnets, launch templates, a GKE pool's cluster) unknown."""

from __future__ import annotations

import json

from tests.guards.case import STACK, UNKNOWN, Res, fails, passes

AWS = "pulumi:providers:aws"
GCP = "pulumi:providers:gcp"
EKS = "aws:eks/cluster:Cluster"
GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
BUDGET = "aws:budgets/budget:Budget"

_TAGS = {"environment": "dev", "owner": "platform-team", "cost-center": "cc-1"}


def _aws(tags: dict | None = None) -> Res:
    return Res(
        AWS,
        {"region": "us-east-1", "defaultTags": json.dumps({"tags": _TAGS if tags is None else tags})},
        name="aws-us-east-1",
    )


_GCP = Res(GCP, {"project": "p", "region": "us-central1"}, name="gcp-us-central1")
_EKS = Res(
    EKS,
    {"name": "core", "version": "1.35", "roleArn": UNKNOWN, "vpcConfig": {"subnetIds": UNKNOWN}},
    name="core",
    provider="aws-us-east-1",
)
_GKE = Res(
    GKE, {"location": "us-central1", "resourceLabels": _TAGS}, name="burst-gke", provider="gcp-us-central1"
)


def _group(
    name: str = "gpu",
    *,
    role: str = "core",
    accelerator: str = "L4",
    machine: str = "g6.xlarge",
    capacity: str = "ON_DEMAND",
    low: int = 1,
    desired: int | None = None,
    high: int = 2,
) -> Res:
    return Res(
        GROUP,
        {
            "clusterName": "core",
            "nodeRoleArn": UNKNOWN,
            "subnetIds": UNKNOWN,
            "launchTemplate": {"id": UNKNOWN, "version": UNKNOWN},
            "capacityType": capacity,
            "instanceTypes": [machine],
            "labels": {"inferstack.io/role": role, "inferstack.io/accelerator": accelerator},
            "scalingConfig": {
                "minSize": low,
                "desiredSize": low if desired is None else desired,
                "maxSize": high,
            },
        },
        name=name,
        provider="aws-us-east-1",
        dependencies=("core",),
    )


def _pool(
    name: str = "l4-spot",
    *,
    role: str = "burst",
    spot: bool = True,
    count: int = 1,
    low: int = 0,
    high: int = 2,
) -> Res:
    config: dict[str, object] = {
        "machineType": "g2-standard-8",
        "guestAccelerators": [{"type": "nvidia-l4", "count": count}],
        "labels": {"inferstack.io/role": role, "inferstack.io/accelerator": "L4"},
        "resourceLabels": _TAGS,
        "serviceAccount": UNKNOWN,
    }
    if spot:
        config["spot"] = True
    return Res(
        POOL,
        {
            "cluster": UNKNOWN,
            "location": "us-central1",
            "nodeLocations": ["us-central1-a"],
            "autoscaling": {"minNodeCount": low, "maxNodeCount": high},
            "nodeConfig": config,
        },
        name=name,
        provider="gcp-us-central1",
        dependencies=("burst-gke",),
    )


CASES = [
    # C1: the budget, at desired scale and at max scale
    fails(
        "cost-budget", "above budget.maxMonthlyUsd", _aws(), _EKS, _group(), culprit=STACK, maxMonthlyUsd=100
    ),
    fails(
        "cost-budget",
        "above the AWS budget the stack creates",
        _aws(),
        _EKS,
        _group(),
        Res(BUDGET, {"limitAmount": "100", "limitUnit": "USD", "budgetType": "COST"}, name="budget"),
        culprit=STACK,
    ),
    passes("cost-budget", "within the budget", _aws(), _EKS, _group(), maxMonthlyUsd=5000),
    passes("cost-budget", "no budget stated", _aws(), _EKS, _group()),
    fails(
        "cost-budget-at-max",
        "fits at desired scale, not with every pool at maxSize",
        _aws(),
        _EKS,
        _group(low=1, high=20),
        culprit=STACK,
        maxMonthlyUsd=2000,
    ),
    passes(
        "cost-budget-at-max", "fits at max scale", _aws(), _EKS, _group(low=1, high=2), maxMonthlyUsd=2000
    ),
    # C2: accelerators per pool
    fails(
        "cost-accelerator-cap",
        "EKS pool of 8-GPU nodes growing to 10",
        _aws(),
        _EKS,
        _group(machine="p5.48xlarge", accelerator="H100", high=10),
        culprit="gpu",
    ),
    fails(
        "cost-accelerator-cap",
        "GKE pool of 2-GPU nodes past a configured cap",
        _GCP,
        _GKE,
        _pool(count=2, high=4),
        culprit="l4-spot",
        maxAcceleratorsPerPool=4,
    ),
    passes(
        "cost-accelerator-cap",
        "within the cap",
        _aws(),
        _EKS,
        _group(machine="p5.48xlarge", accelerator="H100", high=4),
        _GCP,
        _GKE,
        _pool(high=4),
    ),
    # C3: burst pools on spot
    fails(
        "cost-burst-spot",
        "EKS burst pool on demand",
        _aws(),
        _EKS,
        _group(role="burst", low=0),
        culprit="gpu",
    ),
    fails("cost-burst-spot", "GKE burst pool not spot", _GCP, _GKE, _pool(spot=False), culprit="l4-spot"),
    passes(
        "cost-burst-spot",
        "spot burst pools",
        _aws(),
        _EKS,
        _group(role="burst", capacity="SPOT", low=0),
        _GCP,
        _GKE,
        _pool(),
    ),
    # C4: a core floor
    fails(
        "cost-core-floor",
        "core accelerators only on spot",
        _aws(),
        _EKS,
        _group(capacity="SPOT", low=1),
        culprit=STACK,
    ),
    fails(
        "cost-core-floor", "core on-demand pool scales to zero", _aws(), _EKS, _group(low=0), culprit=STACK
    ),
    fails(
        "cost-core-floor",
        "GKE core pool on spot (its cluster unknown at preview)",
        _GCP,
        _GKE,
        _pool(role="core", low=1),
        culprit=STACK,
    ),
    passes("cost-core-floor", "an on-demand floor of one node", _aws(), _EKS, _group(low=1)),
    passes(
        "cost-core-floor",
        "GKE core on-demand floor (its cluster unknown at preview)",
        _GCP,
        _GKE,
        _pool(role="core", spot=False, low=1),
    ),
    # C5: allow-lists per environment
    fails(
        "cost-allow-lists",
        "an accelerator not allowed in dev (environment from the provider's tags)",
        _aws(),
        _EKS,
        _group(machine="p5.48xlarge", accelerator="H100"),
        culprit="gpu",
    ),
    fails(
        "cost-allow-lists",
        "a machine type outside the configured list",
        _aws(),
        _EKS,
        _group(),
        culprit="gpu",
        environment="dev",
        allowedMachineTypes={"dev": ["g6.2xlarge"]},
    ),
    passes("cost-allow-lists", "L4 on g6.xlarge in dev", _aws(), _EKS, _group()),
    # C6: allocation tags
    fails(
        "cost-allocation-tags",
        "AWS provider without owner",
        _aws({"environment": "dev", "cost-center": "cc-1"}),
    ),
    fails(
        "cost-allocation-tags",
        "GKE cluster without cost-center label",
        Res(GKE, {"location": "us-central1", "resourceLabels": {"owner": "platform-team"}}, name="gke"),
    ),
    passes("cost-allocation-tags", "tagged provider and labelled GCP resources", _aws(), _GCP, _GKE, _pool()),
]
