"""The inferstack program: a hybrid platform for serving DeepSeek inference.

Deploys, per stack file (stacks/Pulumi.<stack>.yaml):
  - an explicit cloud provider per region (AWS and GCP), tagged with owner and cost centre;
  - the network of every provisioned cluster: VPC over three zones, private and public subnets,
    NAT, flow logs and the private endpoints a private cluster needs (AWS); VPC, subnet with pod
    and service ranges, Cloud NAT and private service access (GCP);
  - the clusters: private EKS with GPU node groups, private GKE with GPU and TPU node pools,
    spot burst pools that scale from zero, or an existing on-prem cluster reached through a
    kubeconfig held as a secret; a Kubernetes provider per cluster, built from its outputs;
  - the data: an Aurora global database (or Cloud SQL with a cross-region replica) and Redis
    per core region, their endpoints handed to every core cluster;
  - the edge: one public name in Route 53 with HTTPS readiness checks every 30 s and failover
    from the core clusters to the burst clusters, across regions and clouds; its hosted zone,
    delegated from the parent zone when the stack names it.

Config is read once, here, and validated as a whole before any resource is registered.
"""

import os

import pulumi

from infra.settings import parse_settings, project_config
from infra.topology import build

stack = pulumi.get_stack()
source = os.environ.get("INFERSTACK_CONFIG_SOURCE") or f"stacks/Pulumi.{stack}.yaml"
# The language host hands the program every config value (PULUMI_CONFIG, set_all_config).
everything = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
secret_keys = frozenset(key.partition(":")[2] for key in everything if pulumi.runtime.is_config_secret(key))
settings = parse_settings(project_config(everything), source, secret_keys)

config = pulumi.Config()
kubeconfigs = {
    cluster.name: config.require_secret(cluster.kubeconfig_secret)
    for cluster in settings.clusters
    if cluster.kubeconfig_secret
}
try:
    build(settings, kubeconfigs=kubeconfigs)
except ValueError as error:
    # Component arguments check themselves; what the settings model did not catch still ends
    # as one line naming the stack file rather than a traceback.
    raise pulumi.RunError(f"{source}: {error}") from None
