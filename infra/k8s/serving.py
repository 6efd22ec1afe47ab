"""Model serving: vLLM on every accelerator pool of every provisioned cluster, fed from a model store.

What is built, from the stack's `model` and `serving` settings:
  - a model store per serving region (infra/aws/modelstore.py, infra/gcp/modelstore.py), read by
    the clusters of that region through their workload identity (EKS Pod Identity, Workload
    Identity Federation for GKE), never with keys;
  - in each cluster with accelerator pools: the namespace `serving` (restricted Pod Security), the
    service account `model-server` (no token mounted), and per pool a Deployment of vLLM's
    OpenAI-compatible server, a PodDisruptionBudget and a ClusterIP Service `vllm-<pool>`.

A replica lives inside one node: tensor parallel over the node's accelerators (or over
`serving.tensorParallelSize` GPUs), so the settings check that the model fits that way
(``Settings._check_fit``). Weights are streamed from the store straight into accelerator memory by
the Run:ai Model Streamer (`--load-format runai_streamer`, vLLM docs "Loading models with Run:ai
Model Streamer"): no copy step, no Hugging Face download on a scale-up (HF_HUB_OFFLINE). They are
not staged on node-local NVMe: the streamer reads the store at its throughput, and the writable
cache (compiled kernels, config files) is an emptyDir on the node's disk.

Replicas: `serving.coreReplicas` (the floor, >= 1 in prod) on the on-demand and reserved pools of
core clusters; `serving.burstReplicas` (0 by default) on spot pools and burst clusters, until the
gateway's scaler owns those counts. A Deployment with 0 replicas keeps its pool at zero nodes.

Shutdown (``shutdown_for``): a node going away gives its pods what the cloud honours, and no
more; a stream still open then is cut, and the gateway retries the request on another replica
rather than the pod hoping to outlive its node. preStop first waits for the endpoint to leave
the Services (the kubelet sends SIGTERM only afterwards), then vLLM stops taking requests.
  - EKS, every pool: 120 s. A Spot instance gets a two-minute interruption notice (EC2 docs,
    "Spot Instance interruption notices"); managed node groups replace and drain Spot nodes on
    the earlier rebalance recommendation (EKS docs, "Managed node groups: Spot capacity"); node
    updates and the cluster autoscaler drain within that too.
  - GKE spot pools: 105 s: the node pools set the kubelet's graceful node shutdown to 120 s, 15 of
    them for system-critical pods (infra/gcp/nodepools.py; GKE docs "Spot VMs": 30 s by default,
    up to 120 s through the node system config from 1.35.0-gke.1171000).
  - GKE on-demand and reserved pools: 120 s, as on EKS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.aws.modelstore import AwsModelStore, AwsModelStoreArgs, PodReader
from infra.catalog import DeviceKind, PoolHardware, catalog
from infra.data import namespace_labels
from infra.gcp.modelstore import GcpModelStore, GcpModelStoreArgs, GkeReader
from infra.gcp.nodepools import SPOT_CRITICAL_PODS_SECONDS, SPOT_SHUTDOWN_SECONDS
from infra.k8s import SERVING_PRIORITY_CLASS
from infra.k8s.pods import http_probe, restricted_container, restricted_pod
from infra.naming import gcp_label_value
from infra.parts import ClusterParts, Providers
from infra.settings import PROJECT, Capacity, Cloud, Cluster, NodePool, Role, Settings

NAMESPACE = "serving"
SERVICE_ACCOUNT = "model-server"
PORT = 8000
HEALTH = "/health"
USER = 10001
"""The servers run as this user (not root; above 10000, clear of the node's own users)."""
CACHE = "/cache"
MAX_MODEL_LEN = 32768
"""Context served unless the model supports less: DeepSeek's recommended generation length for the
distills, and a KV cache that fits next to the weights on the smaller pools."""
STREAMER_CONCURRENCY = 32
"""Parallel reads from the store (the streamer's default for object storage is 8)."""
PRE_STOP_SECONDS = 10
"""Time for the endpoint's removal to reach every proxy before vLLM stops taking requests."""

GPU_RESOURCE = "nvidia.com/gpu"
TPU_RESOURCE = "google.com/tpu"
GKE_TPU_ACCELERATOR = "cloud.google.com/gke-tpu-accelerator"
GKE_TPU_TOPOLOGY = "cloud.google.com/gke-tpu-topology"


@dataclass(frozen=True)
class Shutdown:
    """How long a server gets between SIGTERM and SIGKILL, and how it spends the start of it."""

    grace_seconds: int
    pre_stop_seconds: int


def shutdown_for(cloud: Cloud, capacity: Capacity) -> Shutdown:
    """What the cloud honours when a node of this capacity goes away (see the module docstring)."""
    if cloud is Cloud.GCP and capacity is Capacity.SPOT:
        return Shutdown(SPOT_SHUTDOWN_SECONDS - SPOT_CRITICAL_PODS_SECONDS, PRE_STOP_SECONDS)
    return Shutdown(120, PRE_STOP_SECONDS)


def checkpoint(model: str, precision: str) -> str:
    """The copy of the weights in the store: the native checkpoint, which vLLM quantizes to fp8 on
    the fly, or a converted (bf16 of an fp8 model) or quantized (int4) one."""
    native = catalog().models[model].native_precision
    if precision == native or (precision == "fp8" and native == "bf16"):
        return native
    return precision


def vllm_args(settings: Settings, model_uri: str, tensor_parallel: int, kind: DeviceKind) -> list[str]:
    """The server's command line: the model from the store, streamed, split over one node's accelerators.

    On GPUs with tensor parallelism the streamer runs distributed (each rank streams its share, vLLM
    runai_streamer_loader.py `distributed`); the TPU image's JAX loader refuses that option, its
    processes read their own shards anyway.
    """
    model = catalog().models[settings.model.name]
    precision = settings.model.precision.value
    loader: dict[str, object] = {"concurrency": STREAMER_CONCURRENCY}
    if kind is DeviceKind.GPU and tensor_parallel > 1:
        loader["distributed"] = True
    args = [
        model_uri,
        f"--served-model-name={settings.model.name}",
        "--host=0.0.0.0",
        f"--port={PORT}",
        f"--tensor-parallel-size={tensor_parallel}",
        "--load-format=runai_streamer",
        "--model-loader-extra-config=" + json.dumps(loader, sort_keys=True),
        f"--max-model-len={min(MAX_MODEL_LEN, model.max_context)}",
    ]
    if precision == "fp8" and model.native_precision == "bf16":
        args.append("--quantization=fp8")
    elif precision == "bf16":
        args.append("--dtype=bfloat16")
    return args


def _quantity_gib(value: float) -> str:
    return f"{max(1, int(value))}Gi"


@dataclass(frozen=True)
class _Replica:
    """What one replica of a pool takes from its node."""

    devices: int
    resource: str
    cpu: int
    memory_gib: int

    @classmethod
    def of(cls, settings: Settings, hardware: PoolHardware, vcpus: int, memory_gib: float) -> _Replica:
        devices = settings.replica_devices(hardware)
        share = devices / max(1, hardware.count)
        # 80% of the node's share: the rest is the kubelet's, the system daemons' and the add-ons'.
        return cls(
            devices=devices,
            resource=TPU_RESOURCE if hardware.kind is DeviceKind.TPU else GPU_RESOURCE,
            cpu=max(1, int(vcpus * share * 0.8)),
            memory_gib=max(2, int(memory_gib * share * 0.8)),
        )


def _labels(pool: NodePool) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": pool.name,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/part-of": PROJECT,
    }


def _selector(pool: NodePool) -> dict[str, str]:
    return {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": pool.name}


def placement(pool: NodePool, hardware: PoolHardware) -> tuple[dict[str, str], list[str]]:
    """The node selector of the pool's servers and the taint keys they tolerate.

    Every pool's nodes carry inferstack.io/pool (infra/aws/nodegroups.py, infra/gcp/nodepools.py);
    TPU pods also name the accelerator and topology GKE labels TPU nodes with (GKE docs, "Deploy
    TPU workloads in GKE Standard"). GPU nodes are tainted nvidia.com/gpu, TPU nodes google.com/tpu.
    """
    selector = {"inferstack.io/pool": pool.name}
    if hardware.kind is DeviceKind.TPU:
        machine = catalog().gcp_machine_types[pool.machine_type]
        selector[GKE_TPU_ACCELERATOR] = machine.gke_accelerator_type or ""
        selector[GKE_TPU_TOPOLOGY] = pool.tpu_topology or ""
        return selector, [TPU_RESOURCE]
    return selector, [GPU_RESOURCE]


def _container(
    settings: Settings,
    cluster: Cluster,
    hardware: PoolHardware,
    replica: _Replica,
    shutdown: Shutdown,
    model_uri: pulumi.Input[str],
) -> k8s.core.v1.ContainerArgs:
    image = settings.serving.tpu_image if hardware.kind is DeviceKind.TPU else settings.serving.gpu_image
    load_minutes = catalog().models[settings.model.name].load_minutes
    limits = {
        replica.resource: str(replica.devices),
        "cpu": str(replica.cpu),
        "memory": f"{replica.memory_gib}Gi",
    }
    env = {
        "HOME": CACHE,
        "XDG_CACHE_HOME": CACHE,
        "HF_HOME": f"{CACHE}/huggingface",
        "VLLM_CACHE_ROOT": f"{CACHE}/vllm",
        # Everything comes from the store; a pod never reaches out to the Hugging Face Hub.
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        # The streamer's CPU buffer is unlimited by default (runai-model-streamer env-vars.md).
        "RUNAI_STREAMER_MEMORY_LIMIT": str(replica.memory_gib * 2**30 // 4),
    }
    if cluster.cloud is Cloud.AWS:
        assert cluster.region is not None
        env.update({"AWS_REGION": cluster.region, "AWS_DEFAULT_REGION": cluster.region})

    args = pulumi.Output.from_input(model_uri).apply(
        lambda uri: vllm_args(settings, uri, replica.devices, hardware.kind)
    )
    return k8s.core.v1.ContainerArgs(
        name="vllm",
        image=image,
        image_pull_policy="IfNotPresent",
        command=["vllm", "serve"],
        args=args,
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT, protocol="TCP")],
        env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(env.items())],
        resources=k8s.core.v1.ResourceRequirementsArgs(requests=dict(limits), limits=dict(limits)),
        # Loading takes up to the model's budget (models.yaml loadMinutes); only then do the others count.
        startup_probe=http_probe(HEALTH, period=10, failures=load_minutes * 6),
        readiness_probe=http_probe(HEALTH, period=10, failures=3),
        liveness_probe=http_probe(HEALTH, period=30, failures=4, timeout=10),
        lifecycle=k8s.core.v1.LifecycleArgs(
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                sleep=k8s.core.v1.SleepActionArgs(seconds=shutdown.pre_stop_seconds)
            )
        ),
        security_context=restricted_container(USER, read_only_root=True),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="cache", mount_path=CACHE),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            k8s.core.v1.VolumeMountArgs(name="shm", mount_path="/dev/shm"),
        ],
    )


def replica_owner(settings: Settings, cluster: Cluster, pool: NodePool) -> str | None:
    """Who owns a pool's replica count once it runs, when KEDA does: ``"burst"`` (a GKE burst or spot
    pool scaled from zero on the gateway's rate), ``"off-peak"`` (a non-prod floor asleep outside
    working hours), or None (the Deployment's own count). AWS burst pools have no in-cluster
    Prometheus for a rate trigger yet, so their count stays the stack's."""
    burst = cluster.role is Role.BURST or pool.capacity is Capacity.SPOT
    if burst and cluster.cloud is Cloud.GCP:
        return "burst"
    off_peak = settings.gateway.off_peak is not None
    if not burst and not settings.is_prod and off_peak and settings.pool_replicas(cluster, pool) > 0:
        return "off-peak"
    return None


SCALED_FIELDS = ["spec.replicas"]
"""What a Deployment that an HPA (KEDA's) scales leaves to it. Under Server-Side Apply a later update
that still sends the count would conflict with the HPA's field manager (the ``scale`` subresource)
or, forced, reset a scaled-out Deployment to its floor; ignoreChanges keeps the count the
Deployment was created with out of every update (pulumi-kubernetes, "Managing Resources with
Server-Side Apply", Handle field conflicts; pulumi/pulumi-kubernetes#2491)."""


def _server(
    settings: Settings,
    part: ClusterParts,
    pool: NodePool,
    hardware: PoolHardware,
    model_uri: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.apps.v1.Deployment:
    """The Deployment, PodDisruptionBudget and Service of one pool's model servers."""
    cluster = part.cluster
    name = f"vllm-{pool.name}"
    machine = catalog().machine(cluster.cloud.value, pool.machine_type)
    assert machine is not None
    replica = _Replica.of(settings, hardware, machine.vcpus, machine.memory_gib)
    selector, taints = placement(pool, hardware)
    shutdown = shutdown_for(cluster.cloud, pool.capacity)
    labels = _labels(pool)
    metadata = k8s.meta.v1.ObjectMetaArgs(name=name, namespace=NAMESPACE, labels=labels)
    container = _container(settings, cluster, hardware, replica, shutdown, model_uri)
    deployment = k8s.apps.v1.Deployment(
        f"{cluster.name}-{name}",
        # The apply does not wait for the replicas: on a stack's first apply the store it creates is
        # still empty (the weights are copied in afterwards), and a replica then takes up to the
        # model's load budget. The rollout itself keeps the old replicas until new ones are ready.
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=NAMESPACE, labels=labels, annotations={"pulumi.com/skipAwait": "true"}
        ),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=settings.pool_replicas(cluster, pool),
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_selector(pool)),
            # No accelerator is spare to surge into unless the pool can grow; a rollout waits for a
            # new replica to be ready before it takes an old one down, so the floor keeps serving.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
            ),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                spec=k8s.core.v1.PodSpecArgs(
                    service_account_name=SERVICE_ACCOUNT,
                    automount_service_account_token=False,
                    # vLLM reads VLLM_* variables; Kubernetes would inject VLLM_PORT-like ones for a
                    # Service named vllm (vLLM docs, "Environment Variables": Kubernetes users).
                    enable_service_links=False,
                    priority_class_name=SERVING_PRIORITY_CLASS,
                    termination_grace_period_seconds=shutdown.grace_seconds,
                    node_selector=selector,
                    tolerations=[
                        k8s.core.v1.TolerationArgs(key=key, operator="Exists", effect="NoSchedule")
                        for key in taints
                    ],
                    security_context=restricted_pod(USER),
                    containers=[container],
                    volumes=[
                        k8s.core.v1.VolumeArgs(
                            name="cache", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="50Gi")
                        ),
                        k8s.core.v1.VolumeArgs(
                            name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="4Gi")
                        ),
                        # NCCL and the engine's workers share memory through /dev/shm; it counts
                        # against the container's memory limit.
                        k8s.core.v1.VolumeArgs(
                            name="shm",
                            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                medium="Memory", size_limit=_quantity_gib(min(64, replica.memory_gib / 4))
                            ),
                        ),
                    ],
                ),
            ),
        ),
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                ignore_changes=SCALED_FIELDS if replica_owner(settings, cluster, pool) else None
            ),
        ),
    )
    k8s.policy.v1.PodDisruptionBudget(
        f"{cluster.name}-{name}",
        metadata=metadata,
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            # One at a time: drains and upgrades proceed, and never take two replicas at once.
            max_unavailable=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=_selector(pool)),
        ),
        opts=opts,
    )
    k8s.core.v1.Service(
        f"{cluster.name}-{name}",
        metadata=metadata,
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=_selector(pool),
            ports=[k8s.core.v1.ServicePortArgs(name="http", port=PORT, target_port="http", protocol="TCP")],
        ),
        opts=opts,
    )
    return deployment


@dataclass
class ServingOutputs:
    """What the serving layer built, keyed for the layers above (the gateway routes to these)."""

    stores: dict[str, AwsModelStore | GcpModelStore]
    """Model store per (cloud, region) key "aws:us-east-1"."""
    deployments: dict[str, dict[str, k8s.apps.v1.Deployment]]
    """Cluster name -> pool name -> the pool's vLLM Deployment."""


def _served(settings: Settings, parts: Mapping[str, ClusterParts]) -> list[ClusterParts]:
    return [
        p
        for p in parts.values()
        if p.cluster.provisioned and p.kubernetes is not None and settings.served_pools(p.cluster)
    ]


def _stores(
    settings: Settings, providers: Providers, served: list[ClusterParts]
) -> dict[str, AwsModelStore | GcpModelStore]:
    by_home: dict[tuple[Cloud, str], list[ClusterParts]] = {}
    for part in served:
        assert part.cluster.region is not None
        by_home.setdefault((part.cluster.cloud, part.cluster.region), []).append(part)
    stores: dict[str, AwsModelStore | GcpModelStore] = {}
    for (cloud, region), homes in by_home.items():
        if cloud is Cloud.AWS:
            stores[f"aws:{region}"] = AwsModelStore(
                f"models-{region}",
                AwsModelStoreArgs(
                    region=region,
                    provider=providers.for_aws(region),
                    readers=[
                        PodReader(
                            name=p.cluster.name,
                            cluster_name=p.cloud_cluster_name or "",
                            namespace=NAMESPACE,
                            service_account=SERVICE_ACCOUNT,
                        )
                        for p in homes
                    ],
                    tags=settings.tags,
                    protect=settings.is_prod,
                ),
            )
        else:
            stores[f"gcp:{region}"] = GcpModelStore(
                f"models-{region}",
                GcpModelStoreArgs(
                    project=settings.gcp_project,
                    region=region,
                    readers=[
                        GkeReader(
                            name=p.cluster.name,
                            cluster_name=p.cloud_cluster_name or "",
                            namespace=NAMESPACE,
                            service_account=SERVICE_ACCOUNT,
                        )
                        for p in homes
                    ],
                    labels={k: gcp_label_value(v) for k, v in settings.tags.items()},
                    protect=settings.is_prod,
                ),
                opts=pulumi.ResourceOptions(providers=[providers.for_gcp(region)]),
            )
    return stores


def model_uri(settings: Settings, store: AwsModelStore | GcpModelStore) -> pulumi.Output[str]:
    """Where the stack's model lives in a store: <scheme>://<bucket>/<hfId>/<checkpoint>."""
    model = catalog().models[settings.model.name]
    path = f"{model.hf_id}/{checkpoint(settings.model.name, settings.model.precision.value)}"
    scheme = "s3" if isinstance(store, AwsModelStore) else "gs"
    return store.bucket_name.apply(lambda bucket: f"{scheme}://{bucket}/{path}")


def build_serving(
    settings: Settings, providers: Providers, parts: Mapping[str, ClusterParts]
) -> ServingOutputs:
    """Register the model stores and, in every cluster with accelerator pools, the model servers."""
    served = _served(settings, parts)
    out = ServingOutputs(stores=_stores(settings, providers, served), deployments={})
    for part in served:
        cluster = part.cluster
        # Pods name the serving PriorityClass, which the API server must already know to admit them.
        opts = pulumi.ResourceOptions(provider=part.kubernetes, depends_on=part.workload_prerequisites)
        namespace = k8s.core.v1.Namespace(
            f"{cluster.name}-{NAMESPACE}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAMESPACE,
                labels={**namespace_labels(cluster.cloud), "app.kubernetes.io/part-of": PROJECT},
            ),
            opts=opts,
        )
        in_namespace = pulumi.ResourceOptions(provider=part.kubernetes, depends_on=[namespace])
        k8s.core.v1.ServiceAccount(
            f"{cluster.name}-{SERVICE_ACCOUNT}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SERVICE_ACCOUNT, namespace=NAMESPACE, labels={"app.kubernetes.io/part-of": PROJECT}
            ),
            automount_service_account_token=False,
            opts=in_namespace,
        )
        store = out.stores[f"{cluster.cloud.value}:{cluster.region}"]
        uri = model_uri(settings, store)
        out.deployments[cluster.name] = {
            pool.name: _server(settings, part, pool, hardware, uri, in_namespace)
            for _, pool, hardware in settings.served_pools(cluster)
        }
    return out
