"""The plan: the JSON object scripts and CI read, and the summary people read.

The JSON shape is a contract (README, "The plan JSON"): keys are only ever added.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from inferstack.engine import Graph
from inferstack.project import StackConfig
from infra.catalog import catalog
from infra.settings import PROJECT, Settings, parse_settings, project_config


def cloud_of(token: str) -> str:
    package = token.split(":")[0]
    if package == "pulumi":
        return token.split(":")[-1]  # pulumi:providers:aws -> aws
    return package


def shape(graph: Graph) -> list[str]:
    """What a reviewer asks first of the data and edge layers, read off the graph itself."""
    lines: list[str] = []
    instances: Counter[str] = Counter(
        graph.region_of(r) or "global" for r in graph.of_type("aws:rds/clusterInstance:ClusterInstance")
    )
    members = graph.of_type("aws:rds/cluster:Cluster")
    if graph.of_type("aws:rds/globalCluster:GlobalCluster"):
        regions = ", ".join(f"{region} ({count} instances)" for region, count in sorted(instances.items()))
        lines.append(f"database: Aurora global database over {len(members)} regions: {regions}")
    elif members:
        regions = ", ".join(
            f"{region} ({count} instance{'s' if count > 1 else ''})"
            for region, count in sorted(instances.items())
        )
        lines.append(f"database: single-region Aurora, no global database: {regions}")
    for sql in graph.of_type("gcp:sql/databaseInstance:DatabaseInstance"):
        role = "replica" if sql.inputs.get("masterInstanceName") else "primary"
        lines.append(f"database: Cloud SQL {role} in {sql.inputs.get('region')}")
    for group in graph.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        nodes = group.inputs.get("numCacheClusters", 1)
        failover = "automatic failover" if group.inputs.get("automaticFailoverEnabled") else "no failover"
        lines.append(f"cache: {graph.region_of(group)}: {nodes} node{'s' if nodes != 1 else ''}, {failover}")
    for redis in graph.of_type("gcp:redis/instance:Instance"):
        lines.append(f"cache: Memorystore {redis.inputs.get('tier')} in {redis.inputs.get('region')}")
    checks = graph.of_type("aws:route53/healthCheck:HealthCheck")
    probes = [c for c in checks if c.inputs.get("type") != "CALCULATED"]
    if probes:
        intervals = sorted({int(c.inputs.get("requestInterval") or 0) for c in probes})
        lines.append(f"edge: {len(probes)} origin health checks every {'/'.join(map(str, intervals))} s")
    nat: Counter[str] = Counter(
        graph.region_of(r) or "global" for r in graph.of_type("aws:ec2/natGateway:NatGateway")
    )
    for region, count in sorted(nat.items()):
        lines.append(f"network: {region}: {count} NAT gateway{'s' if count > 1 else ''}")
    return lines


def settings_of(graph: Graph) -> Settings | None:
    """The settings the program ran with, read again from the same config (None for a saved graph)."""
    if graph.config is None or graph.project != PROJECT:  # a saved graph, or another project (bootstrap)
        return None
    return settings_from(graph.config)


def settings_from(config: StackConfig) -> Settings:
    """A stack file's settings without running the program (raises the program's SettingsError)."""
    secrets = frozenset(key.partition(":")[2] for key in config.secret_keys)
    return parse_settings(project_config(config.values), config.source, secrets)


def clusters(settings: Settings) -> list[dict[str, Any]]:
    """Per cluster what a reviewer asks before an apply: where, which role, how reachable, which pools."""
    out: list[dict[str, Any]] = []
    for cluster in settings.clusters:
        pools: list[dict[str, Any]] = []
        for pool in cluster.node_pools:
            machine = catalog().machine(cluster.cloud.value, pool.machine_type)
            per_node = machine.accelerator_count if machine else 0
            pools.append(
                {
                    "name": pool.name,
                    "machineType": pool.machine_type,
                    "accelerator": pool.accelerator,
                    "acceleratorsPerNode": per_node,
                    "tpuTopology": pool.tpu_topology,
                    "capacity": pool.capacity.value,
                    "minSize": pool.min_size,
                    "desiredSize": pool.desired,
                    "maxSize": pool.max_size,
                    "acceleratorsAtDesired": per_node * pool.desired,
                    "acceleratorsAtMax": per_node * pool.max_size,
                }
            )
        out.append(
            {
                "name": cluster.name,
                "cloud": cluster.cloud.value,
                "region": cluster.region,
                "role": cluster.role.value,
                "endpointAccess": None if not cluster.provisioned else cluster.endpoint_access.value,
                "kubernetesVersion": cluster.kubernetes_version if cluster.provisioned else None,
                "scaleFromZero": cluster.scale_from_zero,
                # The secret the kubeconfig is read from: a secret config key, or a Secrets Manager ARN.
                "kubeconfigSecret": cluster.kubeconfig_secret
                or (cluster.kubeconfig_from.aws_secret_arn if cluster.kubeconfig_from else None),
                "nodePools": pools,
            }
        )
    return out


def accelerator_totals(cluster_rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Accelerators of the whole stack by type, at desired size and at max size."""
    desired: Counter[str] = Counter()
    most: Counter[str] = Counter()
    for cluster in cluster_rows:
        for pool in cluster["nodePools"]:
            if pool["accelerator"]:
                desired[pool["accelerator"]] += pool["acceleratorsAtDesired"]
                most[pool["accelerator"]] += pool["acceleratorsAtMax"]
    return {"desired": dict(sorted(desired.items())), "max": dict(sorted(most.items()))}


def summary(graph: Graph) -> dict[str, Any]:
    custom = [r for r in graph.resources if r.custom]
    index = graph.by_urn()
    by_region: Counter[str] = Counter()
    for r in custom:
        cloud = cloud_of(r.type)
        if cloud == "kubernetes":
            # Kubernetes objects live in a cluster, not a region: count them by the cluster's provider.
            provider = r if r.type.startswith("pulumi:providers:") else index.get(r.provider or "")
            by_region[f"kubernetes/{provider.name if provider else 'default'}"] += 1
        else:
            by_region[f"{cloud}/{graph.region_of(r) or 'global'}"] += 1
    return {
        "resources": len(graph.resources),
        "custom": len(custom),
        "components": len(graph.resources) - len(custom),
        "byType": dict(sorted(Counter(r.type for r in graph.resources).items())),
        "byCloud": dict(sorted(Counter(cloud_of(r.type) for r in custom).items())),
        "byRegion": dict(sorted(by_region.items())),
        "shape": shape(graph),
    }


def stack_summary(graph: Graph) -> dict[str, Any]:
    """The summary with the stack's clusters, pools and accelerator totals, when the settings are known."""
    out = summary(graph)
    settings = settings_of(graph)
    if settings is not None:
        rows = clusters(settings)
        out["environment"] = settings.environment.value
        out["model"] = {"name": settings.model.name, "precision": settings.model.precision.value}
        out["clusters"] = rows
        out["accelerators"] = accelerator_totals(rows)
    return out


def plan_json(
    graph: Graph,
    violations: list[dict[str, Any]] | None = None,
    cost: dict[str, Any] | None = None,
    degraded: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "project": graph.project,
        "stack": graph.stack,
        "resources": [r.to_json() for r in graph.resources],
        "outputs": graph.outputs,
        "violations": violations or [],
        # Guards that read a value unknown at preview: the SDK reports each as an advisory note and
        # its check does not run, whatever its level.
        "degraded": degraded or [],
        "warnings": [w.to_json() for w in graph.warnings],
        # Until a cost model prices the graph, say so: a bare 0.0 would read as "free".
        "cost": cost or {"estimated": False, "monthlyUsd": None, "items": []},
        "summary": stack_summary(graph),
    }
