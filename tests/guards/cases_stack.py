"""Cases for policies/stack.py: the joins, with names and ids unknown where a first preview has them."""

from __future__ import annotations

import json

from tests.guards.case import UNKNOWN, Res, fails, passes

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED = "kubernetes:keda.sh/v1alpha1:ScaledObject"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
K8S = "pulumi:providers:kubernetes"
RECORD = "aws:route53/record:Record"
BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
AWS = "pulumi:providers:aws"
GCP = "pulumi:providers:gcp"
EKS = "aws:eks/cluster:Cluster"
GKE = "gcp:container/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_POOL = "gcp:container/nodePool:NodePool"
AURORA = "aws:rds/cluster:Cluster"
GLOBAL = "aws:rds/globalCluster:GlobalCluster"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"

_K8S = Res(K8S, {"kubeconfig": UNKNOWN}, name="k8s")
_OTHER = Res(K8S, {"kubeconfig": UNKNOWN}, name="other-k8s")
_POD = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "h200"}


def _deployment(replicas: int | None = 2, name: str = "vllm", namespace: str = "serving") -> Res:
    spec: dict[str, object] = {
        "selector": {"matchLabels": dict(_POD)},
        "template": {"metadata": {"labels": {**_POD, "app.kubernetes.io/part-of": "inferstack"}}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return Res(
        DEPLOYMENT,
        {"metadata": {"name": name, "namespace": namespace}, "spec": spec},
        name=name,
        provider="k8s",
    )


def _pdb(
    provider: str = "k8s", namespace: str = "serving", labels: dict | None = None, **spec: object
) -> Res:
    return Res(
        PDB,
        {
            "metadata": {"name": "vllm", "namespace": namespace},
            "spec": {"selector": {"matchLabels": dict(_POD if labels is None else labels)}, **spec},
        },
        name="pdb",
        provider=provider,
    )


def _scaled(target: str = "vllm", low: int = 1, high: int = 4, name: str = "scaler") -> Res:
    return Res(
        SCALED,
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": target, "namespace": "serving"},
            "spec": {"scaleTargetRef": {"name": target}, "minReplicaCount": low, "maxReplicaCount": high},
        },
        name=name,
        provider="k8s",
    )


def _hpa(target: str = "vllm", low: int = 1, high: int = 4) -> Res:
    return Res(
        HPA,
        {
            "metadata": {"name": target, "namespace": "serving"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": low,
                "maxReplicas": high,
            },
        },
        name="hpa",
        provider="k8s",
    )


def _record(name: str = "api", **props: object) -> Res:
    return Res(RECORD, {"zoneId": UNKNOWN, "name": "api.example.com", "type": "CNAME", **props}, name=name)


def _block(**flags: bool) -> Res:
    values = {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
        **flags,
    }
    return Res(PAB, {"bucket": UNKNOWN, **values}, name="models-private", dependencies=("models",))


def _sse(algorithm: str = "aws:kms", bucket_key: bool = True) -> Res:
    rule = {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": algorithm, "kmsMasterKeyId": UNKNOWN},
        "bucketKeyEnabled": bucket_key,
    }
    return Res(SSE, {"bucket": UNKNOWN, "rules": [rule]}, name="models-encryption", dependencies=("models",))


_BUCKET = Res(BUCKET, {}, name="models")

_TAGS = {
    "environment": "prod",
    "owner": "platform-team",
    "cost-center": "cc-1",
    "managed-by": "pulumi",
    "project": "inferstack",
}


def _aws(region: str | None = "us-east-1", tags: dict | None = None, name: str = "aws-us-east-1") -> Res:
    props: dict[str, object] = {"defaultTags": json.dumps({"tags": _TAGS if tags is None else tags})}
    if region is not None:
        props["region"] = region
    return Res(AWS, props, name=name)


def _gcp(
    region: str | None = "us-central1", labels: dict | None = None, name: str = "gcp-us-central1"
) -> Res:
    props: dict[str, object] = {
        "project": "p",
        "defaultLabels": json.dumps(_TAGS if labels is None else labels),
    }
    if region is not None:
        props["region"] = region
    return Res(GCP, props, name=name)


def _vpc(provider: str, name: str = "vpc") -> Res:
    return Res("aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"}, name=name, provider=provider)


def _eks(name: str, provider: str, role: str = "core") -> tuple[Res, Res]:
    cluster = Res(EKS, {"name": name, "roleArn": UNKNOWN}, name=name, provider=provider)
    group = Res(
        NODE_GROUP,
        {"clusterName": name, "nodeRoleArn": UNKNOWN, "labels": {"inferstack.io/role": role}},
        name=f"{name}-pool",
        provider=provider,
        dependencies=(name,),
    )
    return cluster, group


def _gke(name: str, provider: str, role: str) -> tuple[Res, Res]:
    cluster = Res(
        GKE,
        {"location": "us-central1", "databaseEncryption": {"keyName": UNKNOWN}},
        name=name,
        provider=provider,
    )
    pool = Res(
        NODE_POOL,
        {"cluster": UNKNOWN, "nodeConfig": {"labels": {"inferstack.io/role": role}}},
        name=f"{name}-pool",
        provider=provider,
        dependencies=(name,),
    )
    return cluster, pool


def _member(name: str, provider: str) -> Res:
    return Res(
        AURORA,
        {"globalClusterIdentifier": UNKNOWN, "kmsKeyId": UNKNOWN},
        name=name,
        provider=provider,
        dependencies=("global",),
    )


_EAST = _aws()
_WEST = _aws("us-west-2", name="aws-us-west-2")

CASES = [
    # R2: a PDB per replicated Deployment
    fails("pdb-for-replicated-deployments", "no PDB", _K8S, _deployment(), culprit="vllm"),
    fails(
        "pdb-for-replicated-deployments",
        "PDB in another namespace",
        _K8S,
        _deployment(),
        _pdb(namespace="other"),
        culprit="vllm",
    ),
    fails(
        "pdb-for-replicated-deployments",
        "PDB in another cluster",
        _K8S,
        _OTHER,
        _deployment(),
        _pdb(provider="other-k8s"),
        culprit="vllm",
    ),
    fails(
        "pdb-for-replicated-deployments",
        "PDB selecting other pods",
        _K8S,
        _deployment(),
        _pdb(labels={"app.kubernetes.io/name": "litellm"}),
        culprit="vllm",
    ),
    fails(
        "pdb-for-replicated-deployments",
        "one replica, but a scaler that grows it",
        _K8S,
        _deployment(replicas=None),
        _scaled(low=1, high=4),
        culprit="vllm",
    ),
    passes(
        "pdb-for-replicated-deployments", "selected by a PDB", _K8S, _deployment(), _pdb(maxUnavailable=1)
    ),
    passes("pdb-for-replicated-deployments", "one replica needs none", _K8S, _deployment(replicas=1)),
    fails(
        "pdb-allows-eviction", "maxUnavailable 0", _K8S, _deployment(), _pdb(maxUnavailable=0), culprit="pdb"
    ),
    fails(
        "pdb-allows-eviction",
        "minAvailable equal to the replicas",
        _K8S,
        _deployment(replicas=2),
        _pdb(minAvailable=2),
        culprit="pdb",
    ),
    fails(
        "pdb-allows-eviction",
        "minAvailable 100%",
        _K8S,
        _deployment(),
        _pdb(minAvailable="100%"),
        culprit="pdb",
    ),
    passes("pdb-allows-eviction", "maxUnavailable 1", _K8S, _deployment(), _pdb(maxUnavailable=1)),
    passes(
        "pdb-allows-eviction",
        "minAvailable below the replicas",
        _K8S,
        _deployment(replicas=3),
        _pdb(minAvailable=2),
    ),
    # R3
    fails("autoscaler-bounds", "HPA min = max", _K8S, _deployment(), _hpa(low=3, high=3), culprit="hpa"),
    fails("autoscaler-bounds", "HPA targets nothing", _K8S, _deployment(name="other"), _hpa(), culprit="hpa"),
    fails(
        "autoscaler-bounds",
        "ScaledObject min > max",
        _K8S,
        _deployment(),
        _scaled(low=5, high=3),
        culprit="scaler",
    ),
    fails(
        "autoscaler-bounds",
        "ScaledObject targets a Deployment of another namespace",
        _K8S,
        _deployment(namespace="gateway"),
        _scaled(),
        culprit="scaler",
    ),
    passes("autoscaler-bounds", "HPA 2..10 on its Deployment", _K8S, _deployment(), _hpa(low=2, high=10)),
    passes(
        "autoscaler-bounds",
        "ScaledObject 0..4 on its Deployment",
        _K8S,
        _deployment(),
        _scaled(low=0, high=4),
    ),
    # R10: routed records
    fails(
        "routed-records-health-checked",
        "failover record without health check",
        _record(
            failoverRoutingPolicies=[{"type": "SECONDARY"}], setIdentifier="s", records=["gcp.example.com"]
        ),
    ),
    fails(
        "routed-records-health-checked",
        "latency alias without target health",
        _record(
            latencyRoutingPolicies=[{"region": "us-east-1"}],
            setIdentifier="e",
            aliases=[{"name": UNKNOWN, "zoneId": UNKNOWN, "evaluateTargetHealth": False}],
        ),
    ),
    fails(
        "routed-records-health-checked",
        "weighted record without health check",
        _record(weightedRoutingPolicies=[{"weight": 10}], setIdentifier="w", records=["a.example.com"]),
    ),
    passes(
        "routed-records-health-checked",
        "health check created in the same stack (unknown at preview); alias with target health; plain record",
        _record(failoverRoutingPolicies=[{"type": "SECONDARY"}], setIdentifier="s", healthCheckId=UNKNOWN),
        _record(
            "primary",
            failoverRoutingPolicies=[{"type": "PRIMARY"}],
            setIdentifier="p",
            aliases=[{"name": "core.example.com", "zoneId": UNKNOWN, "evaluateTargetHealth": True}],
        ),
        _record("plain", records=["203.0.113.10"], ttl=300),
    ),
    # S10
    fails("bucket-public-access-block", "no block", _BUCKET),
    fails(
        "bucket-public-access-block",
        "a block of another bucket",
        _BUCKET,
        Res(BUCKET, {}, name="logs"),
        Res(
            PAB,
            {
                "bucket": UNKNOWN,
                **dict.fromkeys(
                    ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"),
                    True,
                ),
            },
            name="logs-private",
            dependencies=("logs",),
        ),
    ),
    fails(
        "bucket-public-access-block",
        "blockPublicAcls off",
        _BUCKET,
        _block(blockPublicAcls=False),
        culprit="models-private",
    ),
    fails(
        "bucket-public-access-block",
        "blockPublicPolicy off",
        _BUCKET,
        _block(blockPublicPolicy=False),
        culprit="models-private",
    ),
    fails(
        "bucket-public-access-block",
        "ignorePublicAcls off",
        _BUCKET,
        _block(ignorePublicAcls=False),
        culprit="models-private",
    ),
    fails(
        "bucket-public-access-block",
        "restrictPublicBuckets unset (provider default false)",
        _BUCKET,
        Res(
            PAB,
            {"bucket": UNKNOWN, "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True},
            name="models-private",
            dependencies=("models",),
        ),
        culprit="models-private",
    ),
    passes("bucket-public-access-block", "all four flags, bucket name unknown at preview", _BUCKET, _block()),
    # S11
    fails("bucket-default-encryption", "no encryption configuration", _BUCKET),
    fails(
        "bucket-default-encryption",
        "SSE-S3 instead of KMS",
        _BUCKET,
        _sse("AES256"),
        culprit="models-encryption",
    ),
    fails(
        "bucket-default-encryption",
        "KMS without a bucket key",
        _BUCKET,
        _sse(bucket_key=False),
        culprit="models-encryption",
    ),
    passes("bucket-default-encryption", "KMS with a bucket key, key unknown at preview", _BUCKET, _sse()),
    # K9
    fails(
        "namespace-default-deny",
        "workload namespace without a NetworkPolicy",
        Res(NAMESPACE, {"metadata": {"name": "serving"}}, name="serving-ns", provider="k8s"),
        _K8S,
        _deployment(),
    ),
    fails(
        "namespace-default-deny",
        "a policy that denies ingress only",
        Res(NAMESPACE, {"metadata": {"name": "serving"}}, name="serving-ns", provider="k8s"),
        _K8S,
        _deployment(),
        Res(
            NETPOL,
            {"metadata": {"namespace": "serving"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
            name="deny",
            provider="k8s",
        ),
    ),
    fails(
        "namespace-default-deny",
        "a policy that selects some pods only",
        Res(NAMESPACE, {"metadata": {"name": "serving"}}, name="serving-ns", provider="k8s"),
        _K8S,
        _deployment(),
        Res(
            NETPOL,
            {
                "metadata": {"namespace": "serving"},
                "spec": {"podSelector": {"matchLabels": _POD}, "policyTypes": ["Ingress", "Egress"]},
            },
            name="deny",
            provider="k8s",
        ),
    ),
    passes(
        "namespace-default-deny",
        "default deny in the workload namespace; an empty namespace needs none",
        Res(NAMESPACE, {"metadata": {"name": "serving"}}, name="serving-ns", provider="k8s"),
        Res(NAMESPACE, {"metadata": {"name": "empty"}}, name="empty-ns", provider="k8s"),
        _K8S,
        _deployment(),
        Res(
            NETPOL,
            {
                "metadata": {"namespace": "serving"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            },
            name="deny",
            provider="k8s",
        ),
    ),
    # C6
    fails("provider-region-allowed", "a region outside the catalog", _aws("sa-east-1", name="aws-sa")),
    fails("provider-region-allowed", "AWS provider without a region", _aws(None, name="aws-ambient")),
    fails(
        "provider-region-allowed",
        "a region outside the configured list",
        _gcp("us-central1"),
        allowedRegions=["us-east1"],
    ),
    passes(
        "provider-region-allowed",
        "catalog regions; a project-level GCP provider",
        _aws(),
        _gcp(),
        Res(GCP, {"project": "p"}, name="gcp-project"),
    ),
    # core regions
    fails(
        "core-spans-regions",
        "two core clusters in one region",
        *_eks("core-a", "aws-us-east-1"),
        *_eks("core-b", "aws-us-east-1"),
        _EAST,
        culprit="core-a",
    ),
    fails(
        "core-spans-regions",
        "the second region is a burst cluster",
        *_eks("core-a", "aws-us-east-1"),
        *_gke("burst", "gcp-us-central1", "burst"),
        _EAST,
        _gcp(),
        culprit="core-a",
    ),
    passes(
        "core-spans-regions",
        "core on AWS and GCP in two regions",
        *_eks("core-a", "aws-us-east-1"),
        *_gke("core-g", "gcp-us-central1", "core"),
        _EAST,
        _gcp(),
    ),
    passes(
        "core-spans-regions",
        "one region allowed outside prod",
        *_eks("core-a", "aws-us-east-1"),
        _EAST,
        minCoreRegions=1,
    ),
    # database regions
    fails(
        "database-secondary-region",
        "a regional Aurora cluster",
        Res(AURORA, {"kmsKeyId": UNKNOWN}, name="db", provider="aws-us-east-1"),
        _EAST,
    ),
    fails(
        "database-secondary-region",
        "a global cluster with members in one region",
        Res(GLOBAL, {"storageEncrypted": True}, name="global", provider="aws-us-east-1"),
        _member("db-a", "aws-us-east-1"),
        _EAST,
    ),
    fails(
        "database-secondary-region",
        "a Cloud SQL primary without a cross-region replica",
        Res(SQL, {"region": "us-central1", "settings": {"availabilityType": "REGIONAL"}}, name="sql"),
    ),
    passes(
        "database-secondary-region",
        "Aurora global database in two regions, ids unknown at preview",
        Res(GLOBAL, {"storageEncrypted": True}, name="global", provider="aws-us-east-1"),
        _member("db-east", "aws-us-east-1"),
        _member("db-west", "aws-us-west-2"),
        _EAST,
        _WEST,
    ),
    passes(
        "database-secondary-region",
        "Cloud SQL replica in another region",
        Res(SQL, {"region": "us-central1"}, name="sql"),
        Res(
            SQL,
            {"region": "us-east4", "masterInstanceName": UNKNOWN},
            name="sql-replica",
            dependencies=("sql",),
        ),
    ),
    passes(
        "database-secondary-region",
        "one region allowed outside prod",
        Res(AURORA, {"kmsKeyId": UNKNOWN}, name="db", provider="aws-us-east-1"),
        _EAST,
        minDatabaseRegions=1,
    ),
    # default tags
    fails(
        "provider-default-tags",
        "AWS provider without the owner tag",
        _aws(tags={k: v for k, v in _TAGS.items() if k != "owner"}),
        _vpc("aws-us-east-1"),
    ),
    fails(
        "provider-default-tags",
        "GCP provider without default labels",
        Res(GCP, {"project": "p", "region": "us-central1"}, name="gcp-us-central1"),
        Res("gcp:storage/bucket:Bucket", {"location": "US"}, name="b", provider="gcp-us-central1"),
    ),
    passes(
        "provider-default-tags",
        "both providers tag; a provider that only enables APIs has nothing to tag",
        _aws(),
        _vpc("aws-us-east-1"),
        _gcp(),
        Res("gcp:storage/bucket:Bucket", {"location": "US"}, name="b", provider="gcp-us-central1"),
        Res(GCP, {"project": "p"}, name="gcp-project"),
        Res(
            "gcp:projects/service:Service",
            {"service": "container.googleapis.com"},
            name="api",
            provider="gcp-project",
        ),
    ),
]
