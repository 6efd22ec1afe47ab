"""Stack guards: the joins between resources that no single resource's inputs show (R2, R3, R10,
S10, S11, K9, C6 of POLICY-RULES, and the platform's own multi-region rules).

Joins never go through values a preview does not know: a bucket's public-access block names the
bucket by its name, unknown until the bucket exists, so the join is the engine's dependency edge
from the block to the bucket. Kubernetes objects are joined within one cluster (the program gives
every cluster its own Kubernetes provider) and one namespace, by the names and labels the program
writes literally. Core and burst clusters are told apart by the ``inferstack.io/role`` node label the
program puts on every node group and node pool, the same label the cost guards read.

Provider resources carry their nested inputs JSON-encoded (the engine sends provider config as
strings), so default tags and labels are decoded here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from guardkit import (
    ADVISORY,
    HIGH,
    HPA_TYPES,
    LOW,
    MEDIUM,
    SCALED_OBJECT,
    Finding,
    UnknownValueError,
    cluster_of,
    depends_on,
    items,
    known,
    namespace_of,
    present,
    scalers,
    stack_guard,
    value,
)
from pulumi_policy import Policy

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
RECORD = "aws:route53/record:Record"
S3_BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
AWS_PROVIDER = "pulumi:providers:aws"
GCP_PROVIDER = "pulumi:providers:gcp"
EKS = "aws:eks/cluster:Cluster"
GKE = "gcp:container/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_POOL = "gcp:container/nodePool:NodePool"
AURORA = "aws:rds/cluster:Cluster"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"

ROLE_LABEL = "inferstack.io/role"

SUPPORTED_REGIONS = (
    "ap-northeast-1",
    "ap-southeast-1",
    "asia-northeast1",
    "asia-southeast1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "europe-west4",
    "us-central1",
    "us-east-1",
    "us-east-2",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-west-2",
    "us-west1",
    "us-west4",
)
"""The AWS and GCP regions of infra/catalog/regions.yaml (the pack cannot import the program; a
test keeps the two equal)."""

UNLABELLED = ("gcp:projects/service:Service",)
"""Types that carry no tags or labels: a provider that creates only these has nothing to tag."""

REQUIRED_TAGS = ("owner", "cost-center", "managed-by", "project")
"""The tags every provider of either project puts on every resource (the bootstrap's settings and the
platform's); the platform's environment configs add ``environment``, which the shared bootstrap has
no single value for."""

ROUTING_POLICIES = (
    "failoverRoutingPolicies",
    "latencyRoutingPolicies",
    "weightedRoutingPolicies",
    "geolocationRoutingPolicies",
    "geoproximityRoutingPolicy",
    "cidrRoutingPolicy",
)
"""Route 53 record inputs that make a record one of several answers chosen by the resolver."""

PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


# --- shared readers -------------------------------------------------------------------------------


def _of(resources: Sequence[Any], *types: str) -> list[Any]:
    return [r for r in resources if r.resource_type in types]


def _labels(props: Any, path: str) -> dict[str, str]:
    """The known entries of a label map (label keys hold dots, so they are no guardkit path)."""
    found = known(props, path, {})
    out: dict[str, str] = {}
    if isinstance(found, Mapping):
        for key in found:
            try:
                out[str(key)] = str(found[key])
            except UnknownValueError:
                continue
    return out


def _decoded(props: Any, key: str) -> Mapping[str, Any]:
    """A provider input the engine sends JSON-encoded (an object as a string), as a mapping."""
    raw = known(props, key)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, Mapping) else {}


def _region(resource: Any) -> str | None:
    """The region a resource is created in: its provider's region, else its own location input."""
    if resource.provider is not None:
        region = known(resource.provider.props, "region")
        if isinstance(region, str) and region:
            return region
    for key in ("region", "location"):
        region = known(resource.props, key)
        if isinstance(region, str) and region:
            return region
    return None


def _deployment_key(d: Any) -> tuple[str | None, str, str]:
    return cluster_of(d), namespace_of(d.props), str(known(d.props, "metadata.name", ""))


def _selects(pdb: Any, deployment: Any) -> bool:
    """Whether the PDB's matchLabels select the Deployment's pods (same cluster and namespace)."""
    if (cluster_of(pdb), namespace_of(pdb.props)) != (cluster_of(deployment), namespace_of(deployment.props)):
        return False
    wanted = _labels(pdb.props, "spec.selector.matchLabels")
    pods = _labels(deployment.props, "spec.template.metadata.labels") or _labels(
        deployment.props, "spec.selector.matchLabels"
    )
    return bool(wanted) and all(pods.get(k) == v for k, v in wanted.items())


def _replicated(resources: Sequence[Any]) -> Iterator[tuple[Any, int]]:
    """Every Deployment that runs, or may scale to, more than one replica, with its most replicas."""
    scaled = {}
    for scaler in scalers(resources):
        scaled[(scaler.cluster, scaler.namespace, scaler.target)] = scaler.high
    for d in _of(resources, DEPLOYMENT):
        most = max(int(known(d.props, "spec.replicas", 1)), scaled.get(_deployment_key(d), 0))
        if most > 1:
            yield d, most


# --- R2: disruption budgets ----------------------------------------------------------------------


def _pdb_exists(resources: Sequence[Any], _: Mapping[str, Any]) -> Iterator[Finding]:
    pdbs = _of(resources, PDB)
    for d, most in _replicated(resources):
        if not any(_selects(p, d) for p in pdbs):
            _cluster_urn, namespace, name = _deployment_key(d)
            yield (
                f"Deployment {namespace}/{name} runs up to {most} replicas and no PodDisruptionBudget "
                "selects its pods: a node drain may evict them all at once",
                d.urn,
            )


def _zero(v: Any) -> bool:
    return v in (0, "0", "0%")


def _pdb_allows_eviction(resources: Sequence[Any], _: Mapping[str, Any]) -> Iterator[Finding]:
    deployments = _of(resources, DEPLOYMENT)
    for p in _of(resources, PDB):
        name = f"{namespace_of(p.props)}/{known(p.props, 'metadata.name', p.name)}"
        if _zero(known(p.props, "spec.maxUnavailable")):
            yield (
                f"PodDisruptionBudget {name} has maxUnavailable 0: no node can ever be drained",
                p.urn,
            )
            continue
        floor = known(p.props, "spec.minAvailable")
        if floor == "100%":
            yield f"PodDisruptionBudget {name} has minAvailable 100%: no node can ever be drained", p.urn
            continue
        if not isinstance(floor, int):
            continue
        for d in deployments:
            replicas = known(d.props, "spec.replicas", 1)
            if _selects(p, d) and isinstance(replicas, int) and floor >= replicas:
                yield (
                    f"PodDisruptionBudget {name} has minAvailable {floor} for the {replicas} replicas of "
                    f"Deployment {_deployment_key(d)[2]}: no node can ever be drained",
                    p.urn,
                )


# --- R3: autoscalers ------------------------------------------------------------------------------


def _autoscalers(resources: Sequence[Any], _: Mapping[str, Any]) -> Iterator[Finding]:
    deployments = {_deployment_key(d) for d in _of(resources, DEPLOYMENT)}
    for scaler in scalers(resources):
        r = scaler.resource
        kind = r.resource_type.split(":")[-1]
        if scaler.low >= scaler.high:
            yield f"{kind} {r.name} has min {scaler.low} >= max {scaler.high}: it cannot scale", r.urn
        if (scaler.cluster, scaler.namespace, scaler.target) not in deployments:
            yield (
                f"{kind} {r.name} scales Deployment {scaler.namespace}/{scaler.target}, which the "
                "stack does not create",
                r.urn,
            )


# --- R10: routed DNS records ----------------------------------------------------------------------


def _records(resources: Sequence[Any], _: Mapping[str, Any]) -> Iterator[Finding]:
    for r in _of(resources, RECORD):
        routing = [k for k in ROUTING_POLICIES if present(r.props, k)]
        if not routing:
            continue
        if present(r.props, "healthCheckId"):
            continue
        if any(known(a, "evaluateTargetHealth") is True for a in items(r.props, "aliases")):
            continue
        yield (
            f"Route 53 record {r.name} is routed ({routing[0]}) without a health check: the resolver "
            "keeps answering with it when its target is down (set healthCheckId, or an alias with "
            "evaluateTargetHealth)",
            r.urn,
        )


# --- S10 / S11: the split S3 resources ------------------------------------------------------------


def _public_access(resources: Sequence[Any], _: Mapping[str, Any]) -> Iterator[Finding]:
    blocks = _of(resources, PUBLIC_ACCESS_BLOCK)
    for bucket in _of(resources, S3_BUCKET):
        mine = [b for b in blocks if depends_on(b, bucket)]
        if not mine:
            yield (
                f"S3 bucket {bucket.name} has no public-access block (aws:s3/bucketPublicAccessBlock)",
                bucket.urn,
            )
            continue
        for block in mine:
            # Provider default for each flag: false.
            for flag in PUBLIC_ACCESS_FLAGS:
                if value(block.props, flag, False) is not True:
                    yield f"public-access block of S3 bucket {bucket.name} leaves {flag} off", block.urn


def _encryption(resources: Sequence[Any], _: Mapping[str, Any]) -> Iterator[Finding]:
    configs = _of(resources, SSE)
    for bucket in _of(resources, S3_BUCKET):
        mine = [c for c in configs if depends_on(c, bucket)]
        if not mine:
            yield (
                f"S3 bucket {bucket.name} has no default encryption configuration "
                "(aws:s3/bucketServerSideEncryptionConfiguration)",
                bucket.urn,
            )
            continue
        for config in mine:
            rules = list(items(config.props, "rules"))
            if not any(
                known(rule, "applyServerSideEncryptionByDefault.sseAlgorithm") in ("aws:kms", "aws:kms:dsse")
                for rule in rules
            ):
                yield (
                    f"S3 bucket {bucket.name} is not encrypted with a KMS key by default (sseAlgorithm)",
                    config.urn,
                )
            elif not any(known(rule, "bucketKeyEnabled") is True for rule in rules):
                yield (
                    f"S3 bucket {bucket.name} encrypts with KMS without a bucket key: one KMS call per "
                    "object (bucketKeyEnabled)",
                    config.urn,
                )


# --- K9: default-deny per workload namespace ------------------------------------------------------


def _default_deny(resources: Sequence[Any], _: Mapping[str, Any]) -> Iterator[Finding]:
    workloads = {(cluster_of(d), namespace_of(d.props)) for d in _of(resources, DEPLOYMENT)}
    denied = set()
    for p in _of(resources, NETWORK_POLICY):
        selector = known(p.props, "spec.podSelector", {})
        types = {str(t) for t in items(p.props, "spec.policyTypes")}
        if isinstance(selector, Mapping) and not selector and {"Ingress", "Egress"} <= types:
            denied.add((cluster_of(p), namespace_of(p.props)))
    for ns in _of(resources, NAMESPACE):
        key = (cluster_of(ns), str(known(ns.props, "metadata.name", "")))
        if key in workloads and key not in denied:
            yield (
                f"namespace {key[1]} runs Deployments without a default-deny NetworkPolicy "
                "(empty podSelector, policyTypes Ingress and Egress)",
                ns.urn,
            )


# --- C6: regions ----------------------------------------------------------------------------------


def _regions_allowed(resources: Sequence[Any], config: Mapping[str, Any]) -> Iterator[Finding]:
    allowed = {str(r) for r in config.get("allowedRegions") or SUPPORTED_REGIONS}
    for p in _of(resources, AWS_PROVIDER, GCP_PROVIDER):
        region = known(p.props, "region")
        if region is None:
            if p.resource_type == AWS_PROVIDER:
                yield (
                    f"AWS provider {p.name} names no region: it would take one from the environment",
                    p.urn,
                )
            continue  # a GCP provider without a region manages project-level resources only
        if region not in allowed:
            yield f"provider {p.name} deploys to {region}, not an allowed region (allowedRegions)", p.urn


# --- multi-region prod ----------------------------------------------------------------------------


def _core_regions(resources: Sequence[Any], config: Mapping[str, Any]) -> Iterator[Finding]:
    floor = int(config.get("minCoreRegions", 2))
    pools = [(p, _labels(p.props, "labels")) for p in _of(resources, NODE_GROUP)] + [
        (p, _labels(p.props, "nodeConfig.labels")) for p in _of(resources, NODE_POOL)
    ]
    core = [
        c
        for c in _of(resources, EKS, GKE)
        if any(labels.get(ROLE_LABEL) == "core" and depends_on(p, c) for p, labels in pools)
    ]
    if not core:
        return  # no core cluster in a cloud (an on-prem core is outside the graph)
    regions = sorted({r for r in (_region(c) for c in core) if r})
    if len(regions) < floor:
        yield (
            f"core clusters run in {len(regions)} region(s) ({', '.join(regions) or 'unknown'}); at least "
            f"{floor} keep serving through a region's loss (minCoreRegions)",
            core[0].urn,
        )


def _database_regions(resources: Sequence[Any], config: Mapping[str, Any]) -> Iterator[Finding]:
    floor = int(config.get("minDatabaseRegions", 2))
    clusters = _of(resources, AURORA)
    members: set[str] = set()
    for g in _of(resources, GLOBAL_CLUSTER):
        mine = [c for c in clusters if depends_on(c, g) and present(c.props, "globalClusterIdentifier")]
        members.update(c.urn for c in mine)
        regions = {r for r in (_region(c) for c in mine) if r}
        if len(regions) < floor:
            yield (
                f"Aurora global cluster {g.name} has members in {len(regions)} region(s); at least {floor} "
                "(minDatabaseRegions)",
                g.urn,
            )
    for c in clusters:
        if c.urn not in members and floor > 1:
            yield (
                f"Aurora cluster {c.name} is regional: no secondary region takes over when its region "
                f"fails (minDatabaseRegions {floor})",
                c.urn,
            )
    instances = _of(resources, CLOUD_SQL)
    for primary in (i for i in instances if not present(i.props, "masterInstanceName")):
        regions = {_region(primary)} | {
            _region(r) for r in instances if present(r.props, "masterInstanceName") and depends_on(r, primary)
        }
        regions.discard(None)
        if len(regions) < floor:
            yield (
                f"Cloud SQL primary {primary.name} has replicas in {len(regions)} region(s); at least "
                f"{floor} (minDatabaseRegions)",
                primary.urn,
            )


# --- default tags ---------------------------------------------------------------------------------


def _default_tags(resources: Sequence[Any], config: Mapping[str, Any]) -> Iterator[Finding]:
    required = [str(t) for t in config.get("requiredTags") or REQUIRED_TAGS]
    used = {
        r.provider.urn
        for r in resources
        if r.provider is not None and r.resource_type not in UNLABELLED and r.provider.urn != r.urn
    }
    for p in _of(resources, AWS_PROVIDER, GCP_PROVIDER):
        if p.urn not in used:
            continue
        if p.resource_type == AWS_PROVIDER:
            tags, where = _decoded(p.props, "defaultTags").get("tags") or {}, "defaultTags.tags"
        else:
            tags, where = _decoded(p.props, "defaultLabels"), "defaultLabels"
        missing = [t for t in required if not (isinstance(tags, Mapping) and tags.get(t))]
        if missing:
            yield f"provider {p.name} does not put {', '.join(missing)} on its resources ({where})", p.urn


POLICIES: list[Policy] = [
    stack_guard(
        "pdb-for-replicated-deployments",
        "Every Deployment with more than one replica has a PodDisruptionBudget selecting its pods",
        rule="R2",
        mirrors="GK K8sPodDisruptionBudget",
        severity=MEDIUM,
        fix="add a PodDisruptionBudget (maxUnavailable 1) whose selector matches the pod labels",
        check=_pdb_exists,
        concern="reliability",
        types=[DEPLOYMENT, PDB, *HPA_TYPES, SCALED_OBJECT],
    ),
    stack_guard(
        "pdb-allows-eviction",
        "PodDisruptionBudgets let at least one pod go (not maxUnavailable 0, not minAvailable = replicas)",
        rule="R2",
        mirrors="PCP kubernetes-policy-v1-poddisruptionbudget-disallow-zero-voluntary-disruption",
        severity=MEDIUM,
        fix="maxUnavailable 1, or minAvailable below the replica count",
        check=_pdb_allows_eviction,
        concern="reliability",
        types=[PDB, DEPLOYMENT],
    ),
    stack_guard(
        "autoscaler-bounds",
        "Autoscalers can scale (min < max) a Deployment the stack creates",
        rule="R3",
        mirrors="GK K8sHorizontalPodAutoscaler",
        severity=LOW,
        fix="min below max, and scaleTargetRef naming a Deployment of the same namespace",
        check=_autoscalers,
        level=ADVISORY,
        concern="reliability",
        types=[*HPA_TYPES, SCALED_OBJECT, DEPLOYMENT],
    ),
    stack_guard(
        "routed-records-health-checked",
        "Every routed Route 53 record is health-checked or aliases with target health",
        rule="R10",
        mirrors="custom (R53 part of R10)",
        severity=HIGH,
        fix="give the record a healthCheckId, or an alias with evaluateTargetHealth true",
        check=_records,
        concern="reliability",
        types=[RECORD],
    ),
    stack_guard(
        "bucket-public-access-block",
        "Every S3 bucket has a public-access block with all four flags on",
        rule="S10",
        mirrors="CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, CKV_AWS_56, CKV2_AWS_6, AVD-AWS-0086, AVD-AWS-0087, "
        "AVD-AWS-0091, AVD-AWS-0093, AVD-AWS-0094",
        severity=HIGH,
        fix="add an aws.s3.BucketPublicAccessBlock for the bucket with all four flags true",
        check=_public_access,
        concern="aws",
        types=[S3_BUCKET, PUBLIC_ACCESS_BLOCK],
    ),
    stack_guard(
        "bucket-default-encryption",
        "Every S3 bucket encrypts by default with a KMS key and a bucket key",
        rule="S11",
        mirrors="CKV_AWS_145, AVD-AWS-0088, AVD-AWS-0132",
        severity=MEDIUM,
        fix="add an aws.s3.BucketServerSideEncryptionConfiguration: sseAlgorithm aws:kms, bucketKeyEnabled true",
        check=_encryption,
        concern="aws",
        types=[S3_BUCKET, SSE],
    ),
    stack_guard(
        "namespace-default-deny",
        "Every namespace with workloads has a default-deny NetworkPolicy",
        rule="K9",
        mirrors="KSV-0038, KY add-network-policy",
        severity=MEDIUM,
        fix="add a NetworkPolicy with an empty podSelector and policyTypes [Ingress, Egress], then allow "
        "what the workloads need",
        check=_default_deny,
        level=ADVISORY,
        concern="kubernetes",
        types=[NAMESPACE, NETWORK_POLICY, DEPLOYMENT],
    ),
    stack_guard(
        "provider-region-allowed",
        "Cloud providers deploy only to allowed regions",
        rule="C6",
        mirrors="FX require-region",
        severity=HIGH,
        fix="use a region of allowedRegions (by default the regions infra/catalog/regions.yaml supports)",
        check=_regions_allowed,
        config={
            "allowedRegions": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(SUPPORTED_REGIONS),
            }
        },
        concern="cost",
        types=[AWS_PROVIDER, GCP_PROVIDER],
    ),
    stack_guard(
        "core-spans-regions",
        "Core clusters span at least minCoreRegions regions",
        rule="R10",
        mirrors="custom (multi-region core)",
        severity=HIGH,
        fix="add a core cluster in another region to the stack's clusters",
        check=_core_regions,
        config={"minCoreRegions": {"type": "integer", "minimum": 1, "default": 2}},
        concern="reliability",
        types=[EKS, GKE, NODE_GROUP, NODE_POOL],
    ),
    stack_guard(
        "database-secondary-region",
        "The database spans at least minDatabaseRegions regions",
        rule="R9",
        mirrors="custom (cross-region replica part of R9)",
        severity=HIGH,
        fix="list database.secondaryRegions in the stack file",
        check=_database_regions,
        config={"minDatabaseRegions": {"type": "integer", "minimum": 1, "default": 2}},
        concern="reliability",
        types=[AURORA, GLOBAL_CLUSTER, CLOUD_SQL],
    ),
    stack_guard(
        "provider-default-tags",
        "Every AWS and GCP provider tags or labels what it creates with the stack's tags",
        rule="C10",
        mirrors="custom (Infracost tagging policies)",
        severity=LOW,
        fix="give the provider default_tags (AWS) or default_labels (GCP) with the stack's tags",
        check=_default_tags,
        config={
            "requiredTags": {"type": "array", "items": {"type": "string"}, "default": list(REQUIRED_TAGS)}
        },
        concern="cost",
        types=[AWS_PROVIDER, GCP_PROVIDER],
    ),
]
