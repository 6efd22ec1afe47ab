"""Whether the Kubernetes and database engine versions the stack asks for can still be created.

EKS: DescribeClusterVersions (https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeClusterVersions.html);
Aurora: DescribeDBEngineVersions, whose SupportsGlobalDatabases says whether a global database can use
the version (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBEngineVersions.html);
EKS add-ons: DescribeAddonVersions for each add-on the catalog pins (infra/catalog/kubernetes.yaml
``eksAddons``), whose compatibilities name the Kubernetes versions an add-on version installs on
(https://docs.aws.amazon.com/eks/latest/APIReference/API_DescribeAddonVersions.html): several pins come
from public configurations, not from an AWS table, and a version EKS does not offer fails CreateAddon
after the cluster already exists;
GKE: projects.locations.getServerConfig, the versions a new control plane may run in a location
(https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations/getServerConfig).
"""

from __future__ import annotations

from inferstack.preflight.clients import Clouds
from inferstack.preflight.rows import Result, Row
from infra.catalog import catalog
from infra.settings import Cloud, Settings

CHECK = "version"


def eks_versions(settings: Settings, clouds: Clouds) -> list[Row]:
    rows: list[Row] = []
    asked = sorted(
        {(c.region, c.kubernetes_version) for c in settings.clusters if c.cloud is Cloud.AWS and c.region}
    )
    for region, version in asked:
        answer = clouds.aws("eks", region).describe_cluster_versions(clusterVersions=[version])
        found = [v for v in answer.get("clusterVersions", []) if v.get("clusterVersion") == version]
        resource = f"{region} EKS {version}"
        if not found or found[0].get("versionStatus", found[0].get("status", "")).upper() == "UNSUPPORTED":
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.BLOCK,
                    f"EKS does not create {version} clusters in {region}. Fix: "
                    "kubernetesVersion one of `aws eks describe-cluster-versions` (with pinned add-ons in the catalog)",
                )
            )
            continue
        status = found[0].get("versionStatus") or found[0].get("status") or "available"
        result = Result.WARN if "EXTENDED" in status.upper() else Result.OK
        detail = f"{status}" + (
            ", billed for extended support; plan an upgrade" if result is Result.WARN else ""
        )
        rows.append(Row(CHECK, resource, result, detail))
    return rows


def eks_addon_versions(settings: Settings, clouds: Clouds) -> list[Row]:
    """Every pinned add-on version is one EKS offers for the cluster's Kubernetes version, in each
    region with an EKS cluster."""
    asked = sorted(
        {(c.region, c.kubernetes_version) for c in settings.clusters if c.cloud is Cloud.AWS and c.region}
    )
    pinned = catalog().eks_addons
    rows: list[Row] = []
    for region, version in asked:
        for addon, want in sorted(pinned.get(version, {}).items()):
            answer = clouds.aws("eks", region).describe_addon_versions(
                addonName=addon, kubernetesVersion=version
            )
            offered = [
                v["addonVersion"]
                for a in answer.get("addons", [])
                if a.get("addonName") == addon
                for v in a.get("addonVersions", [])
                if any(c.get("clusterVersion") == version for c in v.get("compatibilities", []))
            ]
            resource = f"{region} EKS {version} {addon}"
            if want in offered:
                rows.append(Row(CHECK, resource, Result.OK, f"{want} offered"))
                continue
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.BLOCK,
                    f"EKS offers no {addon} {want} for Kubernetes {version} in {region}. Fix: "
                    f"infra/catalog/kubernetes.yaml eksAddons.{version}.{addon} one of "
                    f"{', '.join(offered[:3]) or 'none offered'}",
                )
            )
    return rows


def aurora_versions(settings: Settings, clouds: Clouds) -> list[Row]:
    db = settings.database
    if db is None or db.cloud != "aws":
        return []
    rows: list[Row] = []
    for _, region in db.members():
        answer = clouds.aws("rds", region).describe_db_engine_versions(
            Engine="aurora-postgresql", EngineVersion=db.engine_version
        )
        found = answer.get("DBEngineVersions", [])
        resource = f"{region} aurora-postgresql {db.engine_version}"
        if not found:
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.BLOCK,
                    f"Aurora PostgreSQL {db.engine_version} is not offered in {region}. "
                    "Fix: database.engineVersion one of `aws rds describe-db-engine-versions --engine aurora-postgresql`",
                )
            )
        elif db.secondary_regions and not found[0].get("SupportsGlobalDatabases"):
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.BLOCK,
                    f"{db.engine_version} cannot be a global database member. Fix: a "
                    "version whose SupportsGlobalDatabases is true",
                )
            )
        else:
            rows.append(Row(CHECK, resource, Result.OK, found[0].get("Status", "available")))
    return rows


def gke_versions(settings: Settings, clouds: Clouds) -> list[Row]:
    asked = sorted(
        {(c.region, c.kubernetes_version) for c in settings.clusters if c.cloud is Cloud.GCP and c.region}
    )
    rows: list[Row] = []
    configs: dict[str, dict] = {}
    for region, version in asked:
        if region not in configs:
            name = f"projects/{settings.gcp_project}/locations/{region}"
            configs[region] = (
                clouds.gcp("container", "v1").projects().locations().getServerConfig(name=name).execute()
            )
        valid = configs[region].get("validMasterVersions", [])
        matching = [v for v in valid if v == version or v.startswith(version + ".")]
        resource = f"{region} GKE {version}"
        if matching:
            rows.append(Row(CHECK, resource, Result.OK, f"newest {matching[0]}"))
        else:
            minors = sorted({".".join(v.split(".")[:2]) for v in valid})
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.BLOCK,
                    f"GKE creates no {version} control plane in {region}. Fix: "
                    f"kubernetesVersion one of {', '.join(minors) or 'none offered'}",
                )
            )
    return rows
