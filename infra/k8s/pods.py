"""What every pod this project owns shares: the restricted Pod Security profile, HTTP probes on the
container's named port, and a spread over the cluster's zones.

The gateway, the masking services and the model servers each had their own copy of these; one
place keeps them meeting the ``restricted`` profile the workload namespaces enforce (and the
admission policy, ``infra.k8s.admission``) together.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_kubernetes as k8s


def http_probe(path: str, *, period: int, failures: int, timeout: int = 5) -> k8s.core.v1.ProbeArgs:
    """A GET of ``path`` on the container's port named ``http``."""
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=timeout,
    )


def restricted_pod(user: int) -> k8s.core.v1.PodSecurityContextArgs:
    """Non-root as ``user`` (and its group, which owns the volumes), RuntimeDefault seccomp."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=user,
        run_as_group=user,
        fs_group=user,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def restricted_container(user: int, *, read_only_root: bool | None = None) -> k8s.core.v1.SecurityContextArgs:
    """No privilege, no escalation, every capability dropped; ``read_only_root`` where the image is
    known to start that way (None leaves the field unset)."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=read_only_root,
        run_as_non_root=True,
        run_as_user=user,
        run_as_group=user,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def spread_over_zones(selector: Mapping[str, str]) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    """Replicas one zone apart at most, preferred, not required: a zone short of nodes still schedules."""
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key="topology.kubernetes.io/zone",
            when_unsatisfiable="ScheduleAnyway",
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
        )
    ]
