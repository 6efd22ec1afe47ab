"""The gateway: the LiteLLM proxy in front of the model servers of every serving cluster.

Why LiteLLM: an open-source (MIT outside its ``enterprise/`` folder), OpenAI-compatible proxy that
routes one model name over several deployments with retries, cooldowns and ordered fallbacks, keeps
keys and spend in PostgreSQL, caches responses in Redis and exports Prometheus metrics, all without
a licence at the pinned release (docs/gateway.md says what was checked). JWT auth is an enterprise
feature of LiteLLM and is not used: the mesh verifies tokens in front of it.

In every cluster that serves the model (``Settings.gateway_clusters``), through its Kubernetes
provider only, in the namespace ``inference`` (the data layer's, whose ConfigMap ``inferstack-data``
carries the database and Redis endpoints; a burst cluster gets the namespace here):

- the ConfigMap ``litellm-config``: config.yaml rendered from ``templates/litellm-config.yaml.j2``:
  the cluster's own vLLM Services first, then the gateways of the fallback clusters over HTTPS on
  their origin names, then DeepSeek's public API; retries and cooldowns for streams a spot
  shutdown cuts (the servers' preStop drains, the gateway retries elsewhere);
- ExternalSecrets from the ClusterSecretStore of the add-ons: the master key and the DeepSeek API key
  (stack-prefixed names an operator writes once, docs/gateway.md), and on AWS core clusters the
  database URL (templated from the Aurora master secret) and the Redis AUTH token;
- the Deployment ``deepseek-deployment`` (label ``app: deepseek``), its PodDisruptionBudget,
  ServiceAccount and Service ``deepseek``, reached through the mesh's ingress (infra/k8s/mesh.py),
  whose Service carries the fixed-name standalone NEGs on GKE and the ALB's TargetGroupBinding on
  EKS: with STRICT mTLS nothing outside the mesh reaches LiteLLM's pods directly;
- the KEDA ScaledObject of the seed's autoscaling: HPA ``deepseek-hpa``, 3..20 replicas, CPU at 70%
  and ``deepseek_api_requests_per_second{app="deepseek"}`` at an average of 500, scale-down
  stabilised.

Readiness is LiteLLM's own ``/health/readiness`` (ready to take traffic, database connected), not
the model's: with the fallback chain a cluster whose model is down still answers, so the edge moves
clients away only when the gateway itself fails.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

import jinja2
import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.aws.cache import AwsCache
from infra.aws.database import AwsGlobalDatabase
from infra.catalog import catalog
from infra.data import CONFIG_MAP as CONFIG_MAP_DATA
from infra.data import NAMESPACE, DataOutputs, namespace_labels
from infra.edge import peer_host
from infra.gcp.network import GcpNetwork
from infra.k8s import MESH_INGRESS, MESH_INGRESS_PORT, SYSTEM_PRIORITY_CLASS, pii, serving
from infra.k8s.addons import CLUSTER_SECRET_STORE, GCP_TRIGGER_AUTHENTICATION, secret_prefix
from infra.k8s.pods import http_probe, restricted_container, restricted_pod, spread_over_zones
from infra.naming import AUTONAMED_MAX, resource_name
from infra.parts import ClusterParts, Providers, zones
from infra.settings import PROJECT, Cloud, Cluster, OffPeak, Role, Settings

DEPLOYMENT = "deepseek-deployment"
HPA = "deepseek-hpa"
SERVICE = "deepseek"
SERVICE_ACCOUNT = "deepseek-gateway"
CONFIG_MAP = "litellm-config"
SECRETS = "litellm-secrets"
DATABASE_SECRET = "litellm-database"
REDIS_SECRET = "litellm-redis"
APP = {"app": "deepseek"}
"""The seed's label; the Service, PDB and the requests/s metric select on it."""
PORT = 4000
"""LiteLLM's default port."""
READINESS = "/health/readiness"
LIVENESS = "/health/liveliness"
"""LiteLLM's probe paths (LiteLLM docs, proxy/health.md "When to Use Each Endpoint": liveliness for
container liveness, readiness for load balancer health checks, including the database connection)."""
USER = 65534
CONFIG_DIR = "/etc/litellm"

REQUESTS_METRIC = 'deepseek_api_requests_per_second{app="deepseek"}'
"""Produced by the monitoring rules (infra/monitoring/rules.py REQUESTS) from vLLM's request counter."""
CPU_UTILIZATION = "70"
REQUESTS_PER_REPLICA = "500"
SCALE_DOWN_WINDOW_SECONDS = 300
"""A replica is removed only after five minutes of lower demand: no flapping between bursts."""

EKS_PROMETHEUS = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
"""Where the EKS clusters' Prometheus answers: kube-prometheus-stack's Service in ``monitoring``
(infra/k8s/monitoring.py, release and fullnameOverride ``kube-prometheus-stack``)."""


@dataclass(frozen=True)
class PrometheusSource:
    """Where a KEDA prometheus trigger queries, and the (cluster) trigger authentication it names."""

    address: str
    authentication: str | None = None

    def trigger(self, metadata: Mapping[str, str]) -> dict[str, object]:
        trigger: dict[str, object] = {
            "type": "prometheus",
            "metricType": "AverageValue",
            "metadata": {"serverAddress": self.address, **metadata},
        }
        if self.authentication is not None:
            trigger["authenticationRef"] = {
                "name": self.authentication,
                "kind": "ClusterTriggerAuthentication",
            }
        return trigger


EKS_SOURCE = PrometheusSource(EKS_PROMETHEUS)


def gmp_frontend(project: str) -> PrometheusSource:
    """Google Managed Prometheus's query API for a project (GMP docs, "Query using Prometheus API"),
    queried as KEDA's Google service account: the add-ons' ClusterTriggerAuthentication with
    podIdentity gcp (KEDA 2.20 docs, Prometheus scaler, "Google Managed Service for Prometheus")."""
    return PrometheusSource(
        f"https://monitoring.googleapis.com/v1/projects/{project}/location/global/prometheus",
        GCP_TRIGGER_AUTHENTICATION,
    )


def neg_annotation(neg: str, port: int) -> str:
    """The standalone NEG annotation: one NEG named ``neg`` per zone for the Service's ``port``
    (https://cloud.google.com/kubernetes-engine/docs/how-to/standalone-neg, "Create a Service":
    annotation cloud.google.com/neg with exposed_ports and a custom name)."""
    return json.dumps({"exposed_ports": {str(port): {"name": neg}}}, separators=(",", ":"))


def neg_name(cluster: str) -> str:
    """The fixed name of the gateway's standalone NEG in every zone of a GKE cluster.

    Unique per project: <project>-<stack>-<cluster>-gateway, a 63-character RFC 1035 label."""
    return resource_name(pulumi.get_project(), pulumi.get_stack(), cluster, "gateway")


def peer_neg_name(cluster: str) -> str:
    """The fixed name of the peer entrance's standalone NEG in every zone of a GKE cluster
    (infra/k8s/mesh.py ``PEER``): <project>-<stack>-<cluster>-peer."""
    return resource_name(pulumi.get_project(), pulumi.get_stack(), cluster, "peer")


def public_api_model(model: str) -> str:
    """DeepSeek's public API model nearest the served one: the reasoner for R1 and its distills."""
    return "deepseek/deepseek-reasoner" if "R1" in model else "deepseek/deepseek-chat"


@dataclass(frozen=True, kw_only=True)
class Route:
    """One deployment of the config's model list."""

    group: str
    """The model name clients (or the fallback list) ask for."""
    model: str
    """LiteLLM's provider/model string."""
    api_base: str
    api_key: str
    id: str


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    """What the gateway's config.yaml says, as data: a test renders and checks it without Pulumi."""

    model: str
    """The served model's name (vLLM's --served-model-name), the name clients ask for."""
    local: Sequence[tuple[str, int]]
    """(Service DNS name, port) of this cluster's vLLM Services."""
    fallbacks: Sequence[tuple[str, str]] = ()
    """(cluster, https base URL) of the gateways to try next, in order."""
    public_api: bool = True
    cache: bool = False
    database: bool = False
    num_retries: int = 2
    """Retries on another deployment of the group: a stream cut by a spot shutdown is asked again."""
    allowed_fails: int = 3
    cooldown_seconds: int = 30
    timeout_seconds: int = 600
    """A long reasoning answer streams for minutes."""
    stream_timeout_seconds: int = 120
    """Longest wait for the first streamed token: a cold replica behind it counts as failed."""
    cache_ttl_seconds: int = 600
    masked_entities: Sequence[str] = ()
    """Presidio entity types masked before any deployment sees a prompt (none: no masking step)."""
    mask_responses: bool = False
    """Also scan and mask the model's answers."""
    key_rpm_limit: int | None = None
    """Per-key requests per minute: the default and the ceiling of every key the gateway issues."""
    key_max_parallel_requests: int | None = None

    def routes(self) -> list[Route]:
        out = [
            Route(
                group=self.model,
                model=f"hosted_vllm/{self.model}",
                api_base=f"http://{host}:{port}/v1",
                api_key="none",
                id=f"local-{host.split('.', 1)[0]}",
            )
            for host, port in self.local
        ]
        out += [
            Route(
                group=f"{self.model}@{cluster}",
                model=f"openai/{self.model}",
                api_base=f"{base}/v1",
                # The gateways of one stack share the master key (docs/gateway.md).
                api_key="os.environ/LITELLM_MASTER_KEY",
                id=f"gateway-{cluster}",
            )
            for cluster, base in self.fallbacks
        ]
        if self.public_api:
            out.append(
                Route(
                    group=f"{self.model}@deepseek-api",
                    model=public_api_model(self.model),
                    api_base="https://api.deepseek.com",
                    api_key="os.environ/DEEPSEEK_API_KEY",
                    id="deepseek-api",
                )
            )
        return out

    def render(self) -> str:
        template = resources.files("infra.k8s").joinpath("templates/litellm-config.yaml.j2").read_text()
        environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        environment.filters["tojson"] = json.dumps
        routes = self.routes()
        fallbacks = [r.group for r in routes if r.group != self.model]
        return environment.from_string(template).render(
            routes=[vars(r) for r in routes],
            model=self.model,
            fallbacks=fallbacks,
            cache=self.cache,
            cache_namespace=f"{PROJECT}.gateway",
            cache_ttl_seconds=self.cache_ttl_seconds,
            database=self.database,
            masked_entities=list(self.masked_entities),
            mask_responses=self.mask_responses,
            key_rpm_limit=self.key_rpm_limit,
            key_max_parallel_requests=self.key_max_parallel_requests,
            num_retries=self.num_retries,
            allowed_fails=self.allowed_fails,
            cooldown_seconds=self.cooldown_seconds,
            timeout_seconds=self.timeout_seconds,
            stream_timeout_seconds=self.stream_timeout_seconds,
        )


@dataclass(frozen=True, kw_only=True)
class DatabaseSource:
    """Where the gateway's database URL comes from: the Aurora master secret and the endpoints."""

    secret_arn: pulumi.Input[str]
    host: pulumi.Input[str]
    port: pulumi.Input[str]
    name: pulumi.Input[str]


@dataclass(frozen=True, kw_only=True)
class GatewayArgs:
    """What the gateway of one cluster needs from the layers below."""

    cluster: str
    cloud: Cloud
    role: Role
    provider: k8s.Provider
    config: GatewayConfig
    image: str
    min_replicas: int
    max_replicas: int
    secret_prefix: str
    """The stack's prefix in the cloud's secret manager (infra.k8s.addons.secret_prefix)."""
    data_config_map: str | None = None
    """The data layer's ConfigMap in the namespace (endpoints), when the cluster got one."""
    database: DatabaseSource | None = None
    redis_secret_arn: pulumi.Input[str] | None = None
    gcp_project: str = ""
    zones: Sequence[str] = ()
    """The GKE cluster's zones, where its standalone NEGs are."""
    masking_replicas: int = 1
    """Replicas of each Presidio service (two in prod: a drain must not stop every request)."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)

    def __post_init__(self) -> None:
        where = f"GatewayArgs({self.cluster!r})"
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(
                f"{where}: replicas {self.min_replicas}..{self.max_replicas}; allowed 1 <= min <= max"
            )
        if self.cloud is Cloud.GCP and not (self.gcp_project and self.zones):
            raise ValueError(f"{where}: a GKE gateway needs gcp_project and zones (its NEGs)")
        if self.config.cache and (self.data_config_map is None or self.redis_secret_arn is None):
            raise ValueError(
                f"{where}: the cache needs the data layer's ConfigMap (REDIS_HOST) and the AUTH token"
            )
        if self.config.database != (self.database is not None):
            raise ValueError(f"{where}: config.database and the database source go together")


def scaled_object_spec(
    min_replicas: int, max_replicas: int, prometheus: PrometheusSource
) -> dict[str, object]:
    """The seed's autoscaling as a KEDA ScaledObject spec (keda.sh/v1alpha1, KEDA 2.20 docs:
    "Scaling Deployments", cpu and prometheus scalers)."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": DEPLOYMENT},
        "minReplicaCount": min_replicas,
        "maxReplicaCount": max_replicas,
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "name": HPA,
                "behavior": {
                    "scaleDown": {
                        "stabilizationWindowSeconds": SCALE_DOWN_WINDOW_SECONDS,
                        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                    }
                },
            }
        },
        "triggers": [
            {"type": "cpu", "metricType": "Utilization", "metadata": {"value": CPU_UTILIZATION}},
            prometheus.trigger(
                {
                    "query": f"sum({REQUESTS_METRIC})",
                    "threshold": REQUESTS_PER_REPLICA,
                    # No series yet (the recording rules not loaded, no traffic): 0, not an error.
                    "ignoreNullValues": "true",
                }
            ),
        ],
    }


class ClusterGateway(pulumi.ComponentResource):
    """The gateway of one cluster; every child goes through the cluster's Kubernetes provider."""

    service_name: str
    neg_name: str | None
    """The standalone NEG's name in every zone (GKE only)."""

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:k8s:Gateway", name, None, opts)
        self._args = args
        self._name = name
        after = list(args.depends_on)
        namespace_ready = after
        if args.data_config_map is None:
            namespace = k8s.core.v1.Namespace(
                self._child(NAMESPACE),
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=NAMESPACE,
                    labels={**namespace_labels(args.cloud), "app.kubernetes.io/part-of": PROJECT},
                ),
                opts=self._opts(after),
            )
            namespace_ready = [*after, namespace]
        opts = self._opts(namespace_ready)
        labels = {**APP, "app.kubernetes.io/name": "litellm", "app.kubernetes.io/part-of": PROJECT}

        k8s.core.v1.ServiceAccount(
            self._child(SERVICE_ACCOUNT),
            metadata=self._meta(SERVICE_ACCOUNT, labels),
            automount_service_account_token=False,
            opts=opts,
        )
        config = k8s.core.v1.ConfigMap(
            self._child(CONFIG_MAP),
            metadata=self._meta(CONFIG_MAP, labels),
            data={"config.yaml": args.config.render()},
            opts=opts,
        )
        secrets = self._external_secrets(labels, opts)
        if args.config.masked_entities:
            pii.masking_services(
                self._name, namespace=NAMESPACE, replicas=args.masking_replicas, clients=APP, opts=opts
            )
        deployment = self._deployment(labels, config, secrets, opts)
        k8s.policy.v1.PodDisruptionBudget(
            self._child(DEPLOYMENT),
            metadata=self._meta(DEPLOYMENT, labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                # Drains take one gateway at a time; the floor of 3 keeps two answering.
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=APP),
            ),
            opts=opts,
        )
        self.neg_name = neg_name(args.cluster) if args.cloud is Cloud.GCP else None
        service = k8s.core.v1.Service(
            self._child(SERVICE),
            metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVICE, namespace=NAMESPACE, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=APP,
                ports=[
                    k8s.core.v1.ServicePortArgs(name="http", port=PORT, target_port="http", protocol="TCP")
                ],
            ),
            opts=opts,
        )
        self.service_name = SERVICE
        self.service = service
        prometheus = gmp_frontend(args.gcp_project) if args.cloud is Cloud.GCP else EKS_SOURCE
        k8s.apiextensions.CustomResource(
            self._child("scaler"),
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=self._meta(DEPLOYMENT, labels),
            spec=scaled_object_spec(args.min_replicas, args.max_replicas, prometheus),
            opts=self._opts([*namespace_ready, deployment]),
        )
        self.register_outputs({"service": SERVICE, "negName": self.neg_name})

    def bind_target_group(
        self,
        target_group_arn: pulumi.Input[str],
        load_balancer_group_id: pulumi.Input[str],
        ingress: pulumi.Resource,
    ) -> k8s.apiextensions.CustomResource:
        """Register the mesh ingress's pods (``ingress``, its release) in an ALB target group (type ip)
        through the AWS Load Balancer Controller, which also admits the load balancer's security group
        to the pods' port (TargetGroupBinding elbv2.k8s.aws/v1beta1, spec.networking; AWS Load
        Balancer Controller docs, "TargetGroupBinding"). Not LiteLLM's pods: with STRICT mTLS ztunnel
        refuses the ALB's plain text; the binding lives in the Service's namespace, as it must."""
        return k8s.apiextensions.CustomResource(
            self._child("target-group"),
            api_version="elbv2.k8s.aws/v1beta1",
            kind="TargetGroupBinding",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SERVICE,
                namespace=MESH_INGRESS,
                labels={**APP, "app.kubernetes.io/part-of": PROJECT},
            ),
            spec={
                "serviceRef": {"name": MESH_INGRESS, "port": MESH_INGRESS_PORT},
                "targetGroupARN": target_group_arn,
                "targetType": "ip",
                "networking": {
                    "ingress": [
                        {
                            "from": [{"securityGroup": {"groupID": load_balancer_group_id}}],
                            "ports": [{"protocol": "TCP", "port": MESH_INGRESS_PORT}],
                        }
                    ]
                },
            },
            opts=self._opts([ingress]),
        )

    def _child(self, *role: str) -> str:
        return resource_name(self._name, *role)

    def _opts(self, depends_on: Sequence[pulumi.Resource]) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._args.provider, depends_on=list(depends_on))

    @staticmethod
    def _meta(name: str, labels: Mapping[str, str]) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=NAMESPACE, labels=dict(labels))

    def _external_secret(
        self,
        name: str,
        labels: Mapping[str, str],
        data: list[dict[str, object]],
        opts: pulumi.ResourceOptions,
        template: Mapping[str, pulumi.Input[str]] | None = None,
    ) -> k8s.apiextensions.CustomResource:
        target: dict[str, object] = {"name": name, "creationPolicy": "Owner"}
        if template is not None:
            target["template"] = {"engineVersion": "v2", "data": dict(template)}
        return k8s.apiextensions.CustomResource(
            self._child(name),
            api_version="external-secrets.io/v1",
            kind="ExternalSecret",
            metadata=self._meta(name, labels),
            spec={
                "refreshInterval": "1h",
                "secretStoreRef": {"kind": "ClusterSecretStore", "name": CLUSTER_SECRET_STORE},
                "target": target,
                "data": data,
            },
            opts=opts,
        )

    def _external_secrets(self, labels: Mapping[str, str], opts: pulumi.ResourceOptions) -> list[str]:
        """The Secrets the pods read, each from the cloud's secret manager through External Secrets."""
        args = self._args
        keys = [("LITELLM_MASTER_KEY", "gateway-master-key")]
        if args.config.public_api:
            keys.append(("DEEPSEEK_API_KEY", "deepseek-api-key"))
        self._external_secret(
            SECRETS,
            labels,
            [{"secretKey": env, "remoteRef": {"key": f"{args.secret_prefix}{key}"}} for env, key in keys],
            opts,
        )
        names = [SECRETS]
        if args.database is not None:
            db = args.database
            url = pulumi.Output.format(
                "postgresql://{{{{ .username }}}}:{{{{ .password | urlquery }}}}@{0}:{1}/{2}?sslmode=require",
                db.host,
                db.port,
                db.name,
            )
            self._external_secret(
                DATABASE_SECRET,
                labels,
                [
                    {"secretKey": part, "remoteRef": {"key": db.secret_arn, "property": part}}
                    for part in ("username", "password")
                ],
                opts,
                template={"DATABASE_URL": url},
            )
            names.append(DATABASE_SECRET)
        if args.redis_secret_arn is not None:
            self._external_secret(
                REDIS_SECRET,
                labels,
                [{"secretKey": "REDIS_PASSWORD", "remoteRef": {"key": args.redis_secret_arn}}],
                opts,
            )
            names.append(REDIS_SECRET)
        return names

    def _deployment(
        self,
        labels: Mapping[str, str],
        config: k8s.core.v1.ConfigMap,
        secrets: list[str],
        opts: pulumi.ResourceOptions,
    ) -> k8s.apps.v1.Deployment:
        args = self._args
        env_from = [
            k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=name))
            for name in secrets
        ]
        if args.data_config_map is not None:
            env_from.append(
                k8s.core.v1.EnvFromSourceArgs(
                    config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=args.data_config_map)
                )
            )

        container = k8s.core.v1.ContainerArgs(
            name="litellm",
            image=args.image,
            image_pull_policy="IfNotPresent",
            # One worker per pod: the HPA adds pods, and one process keeps /metrics whole (several
            # workers need a shared PROMETHEUS_MULTIPROC_DIR; LiteLLM docs, proxy/prometheus.md).
            args=["--config", f"{CONFIG_DIR}/config.yaml", "--port", str(PORT)],
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT, protocol="TCP")],
            env=[
                k8s.core.v1.EnvVarArgs(name="LITELLM_LOG", value="ERROR"),
                *(
                    k8s.core.v1.EnvVarArgs(name=key, value=value)
                    for key, value in (
                        pii.api_bases(NAMESPACE) if args.config.masked_entities else {}
                    ).items()
                ),
            ],
            env_from=env_from,
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "500m", "memory": "1Gi"}, limits={"cpu": "2", "memory": "4Gi"}
            ),
            # Start-up runs the database migrations: up to five minutes before the other probes count.
            startup_probe=http_probe(LIVENESS, period=10, failures=30),
            readiness_probe=http_probe(READINESS, period=10, failures=3),
            liveness_probe=http_probe(LIVENESS, period=30, failures=4),
            security_context=restricted_container(USER),
            volume_mounts=[k8s.core.v1.VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True)],
        )
        return k8s.apps.v1.Deployment(
            self._child(DEPLOYMENT),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DEPLOYMENT,
                namespace=NAMESPACE,
                labels=dict(labels),
                # The replicas belong to the ScaledObject's HPA; the apply does not wait on secrets
                # an operator writes once (docs/gateway.md).
                annotations={"pulumi.com/skipAwait": "true"},
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.min_replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=APP),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=dict(labels),
                        # A new config rolls the pods: LiteLLM reads config.yaml once, at start.
                        annotations={"inferstack.io/config-sha": config.data.apply(_digest)},
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=SERVICE_ACCOUNT,
                        automount_service_account_token=False,
                        priority_class_name=SYSTEM_PRIORITY_CLASS,
                        # Streams in flight finish when a pod leaves (rollout, scale-in, drain).
                        termination_grace_period_seconds=120,
                        security_context=restricted_pod(USER),
                        topology_spread_constraints=spread_over_zones(APP),
                        containers=[container],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="config",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=CONFIG_MAP),
                            )
                        ],
                    ),
                ),
            ),
            # The ScaledObject's HPA owns the count after the first apply (serving.SCALED_FIELDS).
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(ignore_changes=serving.SCALED_FIELDS)
            ),
        )


def _digest(data: Mapping[str, str] | None) -> str:
    return hashlib.sha256(json.dumps(dict(data or {}), sort_keys=True).encode()).hexdigest()[:16]


def fallback_base(settings: Settings, cluster: Cluster) -> str | None:
    """Where another gateway reaches this cluster's gateway, over HTTPS on the public edge. A GCP
    cluster answers on ``peer.<domain>`` (covered by the certificate's wildcard): the GCP load
    balancer sends that name to the peer entrance, which admits only the calling gateways' addresses
    and asks for no user JWT, so the master key the caller sends reaches LiteLLM (docs/mesh.md,
    "Cross-cluster fallback"). Any other cluster answers on its origin name; without an edge no name
    exists."""
    if settings.edge is None:
        return None
    domain = settings.edge.domain
    if cluster.cloud is Cloud.GCP:
        return f"https://{peer_host(domain)}"
    return f"https://{cluster.name}.{domain}"


def gateway_config(settings: Settings, cluster: Cluster, *, cache: bool, database: bool) -> GatewayConfig:
    """The config of one cluster's gateway, from the stack's settings."""
    local = [
        (f"vllm-{pool.name}.{serving.NAMESPACE}.svc.cluster.local", serving.PORT)
        for _, pool, _ in settings.served_pools(cluster)
    ]
    fallbacks = [
        (other.name, base)
        for other in settings.fallback_clusters(cluster)
        if (base := fallback_base(settings, other)) is not None
    ]
    return GatewayConfig(
        model=settings.model.name,
        local=local,
        fallbacks=fallbacks,
        public_api=settings.gateway.public_api_fallback,
        cache=cache,
        database=database,
        masked_entities=list(settings.security.masking.entities),
        mask_responses=settings.security.masking.responses,
        key_rpm_limit=settings.gateway.key_rpm_limit,
        key_max_parallel_requests=settings.gateway.key_max_parallel_requests,
    )


@dataclass
class GatewayOutputs:
    """What the gateways built, for the edge: cluster -> its gateway."""

    gateways: dict[str, ClusterGateway] = field(default_factory=dict)

    def neg_names(self) -> dict[str, str]:
        """GKE cluster -> the name of its gateway's NEG in each of its zones."""
        return {name: g.neg_name for name, g in self.gateways.items() if g.neg_name is not None}


GATEWAY_REQUESTS = 'sum(rate(litellm_proxy_total_requests_metric_total{namespace="inference"}[2m]))'
"""Requests per second the cluster's gateways take: LiteLLM's litellm_proxy_total_requests_metric
counter (litellm/integrations/prometheus.py; prometheus_client exposes a counter with the _total
suffix). The gateway exports it whether or not a model replica exists, so a burst pool at zero
replicas still has a signal to wake on: the core gateways' fallbacks arrive there first."""


def burst_scaler_spec(
    *,
    deployment: str,
    max_replicas: int,
    cooldown_seconds: int,
    requests_per_replica: float,
    prometheus: PrometheusSource,
    floor: int,
    off_peak: OffPeak | None,
) -> dict[str, object]:
    """A burst pool's ScaledObject: from zero on its gateway's request rate; with working hours,
    the pool's floor applies only inside them (KEDA cron scaler: timezone, start, end,
    desiredReplicas)."""
    triggers: list[dict[str, object]] = [
        prometheus.trigger(
            {
                "query": GATEWAY_REQUESTS,
                "threshold": f"{requests_per_replica:g}",
                "activationThreshold": "0",
                "ignoreNullValues": "true",
            }
        )
    ]
    if off_peak is not None and floor > 0:
        triggers.append(_working_hours(off_peak, floor))
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicaCount": 0 if off_peak is not None or floor == 0 else floor,
        "maxReplicaCount": max_replicas,
        # Longer than a replica takes to start: the node pool grows, the model loads, then it serves.
        "cooldownPeriod": cooldown_seconds,
        "pollingInterval": 15,
        "triggers": triggers,
    }


def _working_hours(off_peak: OffPeak, replicas: int) -> dict[str, object]:
    return {
        "type": "cron",
        "metadata": {
            "timezone": off_peak.timezone,
            "start": off_peak.start,
            "end": off_peak.end,
            "desiredReplicas": str(replicas),
        },
    }


def sleeping_floor_spec(*, deployment: str, floor: int, off_peak: OffPeak) -> dict[str, object]:
    """A non-prod pool's ScaledObject: its floor during working hours, zero outside them."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
        "minReplicaCount": 0,
        "maxReplicaCount": floor,
        "cooldownPeriod": 300,
        "triggers": [_working_hours(off_peak, floor)],
    }


def _serving_scalers(
    settings: Settings,
    part: ClusterParts,
    deployments: Mapping[str, pulumi.Resource],
    gateway: ClusterGateway,
) -> None:
    """The ScaledObjects of a cluster's model servers: burst pools from zero on the gateway's rate
    (GKE: Managed Prometheus has the gateway's metrics), non-prod floors asleep off-peak."""
    cluster = part.cluster
    gateway_settings = settings.gateway
    load_minutes = catalog().models[settings.model.name].load_minutes
    for _, pool, hardware in settings.served_pools(cluster):
        deployment = deployments.get(pool.name)
        if deployment is None:
            continue
        name = f"vllm-{pool.name}"
        floor = settings.pool_replicas(cluster, pool)
        owner = serving.replica_owner(settings, cluster, pool)
        spec: dict[str, object] | None = None
        if owner == "burst":
            per_node = max(1, hardware.count // settings.replica_devices(hardware))
            spec = burst_scaler_spec(
                deployment=name,
                max_replicas=max(1, pool.max_size * per_node),
                cooldown_seconds=gateway_settings.burst_cooldown(load_minutes),
                requests_per_replica=gateway_settings.burst_requests_per_replica,
                prometheus=gmp_frontend(settings.gcp_project),
                floor=floor,
                off_peak=gateway_settings.off_peak,
            )
        elif owner == "off-peak" and gateway_settings.off_peak is not None:
            spec = sleeping_floor_spec(deployment=name, floor=floor, off_peak=gateway_settings.off_peak)
        if spec is None:
            continue
        k8s.apiextensions.CustomResource(
            resource_name(cluster.name, name, "scaler"),
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name, namespace=serving.NAMESPACE, labels={"app.kubernetes.io/part-of": PROJECT}
            ),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=gateway, provider=part.kubernetes, depends_on=[deployment]),
        )


GOOGLE_FRONT_ENDS = ("35.191.0.0/16", "130.211.0.0/22")
"""Where Google's load balancer proxies and health checks reach backends from; a standalone NEG's
pods need a firewall rule admitting them (https://cloud.google.com/load-balancing/docs/health-check-concepts,
"Probe IP ranges and firewall rules"; GKE docs, "Standalone zonal NEGs": create the firewall rule)."""


def _admit_load_balancer(part: ClusterParts, providers: Providers, gateway: ClusterGateway) -> None:
    network = part.network
    assert isinstance(network, GcpNetwork) and part.cluster.region is not None
    gcp.compute.Firewall(
        resource_name(part.cluster.name, "gateway", "from-load-balancer", max_len=AUTONAMED_MAX),
        network=network.network_self_link,
        direction="INGRESS",
        source_ranges=list(GOOGLE_FRONT_ENDS),
        allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(MESH_INGRESS_PORT)])],
        description=f"Google's load balancer and its health checks to the mesh ingress pods of {part.cluster.name}",
        opts=pulumi.ResourceOptions(parent=gateway, provider=providers.for_gcp(part.cluster.region)),
    )


def build_gateways(
    settings: Settings,
    parts: Mapping[str, ClusterParts],
    data: DataOutputs,
    providers: Providers,
    deployments: Mapping[str, Mapping[str, pulumi.Resource]],
) -> GatewayOutputs:
    """Register the gateway of every cluster that serves the model."""
    out = GatewayOutputs()
    for cluster in settings.gateway_clusters():
        part = parts[cluster.name]
        if part.kubernetes is None or cluster.region is None:
            continue
        config_map = data.config_maps.get(cluster.name)
        cache = data.caches.get(cluster.region) if config_map is not None else None
        aws_cache = cache if isinstance(cache, AwsCache) else None
        database: DatabaseSource | None = None
        db = data.database
        # Only where Secrets Manager serves the master secret in the cluster's own region: the
        # cluster's secret store reads no other region (DataOutputs.database_secret).
        secret = data.database_secret(cluster.region) if cluster.cloud is Cloud.AWS else None
        if config_map is not None and isinstance(db, AwsGlobalDatabase) and secret is not None:
            database = DatabaseSource(
                secret_arn=secret.arn,
                host=db.writer_endpoint,
                port=str(db.port),
                name=db.database_name,
            )
        out.gateways[cluster.name] = ClusterGateway(
            f"{cluster.name}-gateway",
            GatewayArgs(
                cluster=cluster.name,
                cloud=cluster.cloud,
                role=cluster.role,
                provider=part.kubernetes,
                config=gateway_config(
                    settings, cluster, cache=aws_cache is not None, database=database is not None
                ),
                image=settings.gateway.image,
                min_replicas=settings.gateway.min_replicas,
                max_replicas=settings.gateway.max_replicas,
                secret_prefix=secret_prefix(cluster.cloud),
                data_config_map=CONFIG_MAP_DATA if config_map is not None else None,
                database=database,
                redis_secret_arn=aws_cache.auth_secret_arn if aws_cache is not None else None,
                gcp_project=settings.gcp_project if cluster.cloud is Cloud.GCP else "",
                zones=zones(cluster) if cluster.cloud is Cloud.GCP else (),
                masking_replicas=2 if settings.is_prod else 1,
                depends_on=[*part.workload_prerequisites, *([config_map] if config_map is not None else [])],
            ),
        )
        if cluster.cloud is Cloud.GCP:
            _admit_load_balancer(part, providers, out.gateways[cluster.name])
        _serving_scalers(settings, part, deployments.get(cluster.name, {}), out.gateways[cluster.name])
    return out
