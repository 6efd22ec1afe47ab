"""How a deployment reaches the clusters it deploys into: the deploy runner's network path to each
private EKS control plane, and kubeconfigs kept in Secrets Manager for existing clusters.

**The path.** The bootstrap project puts the deploy runner in a VPC of its own (``deployNetwork``
in the stack file, copied from the bootstrap stack's outputs). Every AWS cluster with a private
endpoint gets a VPC peering connection to it, with a route to the other's block in the private
route tables of both sides, and the deploy VPC's block is admitted on 443 to its control plane
(``Settings.admitted_deployers``). Peering rather than a Transit Gateway: the runner needs one
direct path to each cluster VPC and nothing transitive, which is exactly what a peering is; a
peering has no hourly charge while every Transit Gateway attachment (VPC or inter-region peering)
is billed per hour (Amazon VPC pricing, "AWS Transit Gateway pricing": per attachment-hour plus
per GB processed; "VPC peering": no charge to create, data transfer only). The default quota of
active peerings per VPC (50, adjustable; Amazon VPC peering guide, "Quotas") is far above one per
cluster. The routes into the deploy VPC's
route tables are separate ``aws.ec2.Route`` resources of the platform stack: the bootstrap stack's
route tables declare no inline routes, so neither stack removes the other's. Names need no DNS
setup: with public access off, "the cluster's API server endpoint is resolved by public DNS servers
to a private IP address from the VPC" (EKS user guide, "Cluster API server endpoint").

**Kept kubeconfigs.** An existing cluster may name a Secrets Manager secret
(``kubeconfigFrom.awsSecretArn``) instead of a secret config key. It is read at deploy time by the
provider's invoke (Terraform data source ``aws_secretsmanager_secret_version``: ``secret_string``
is the current version's value), so the stack file holds no ciphertext at all and the deploy
identity's IAM decides who can read it (``secretsmanager:GetSecretValue``, plus ``kms:Decrypt``
when the secret uses its own key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from infra.aws.peering import PeerSide, VpcPeering
from infra.settings import DeployNetwork

DEPLOY_SIDE = "deploy"
"""The deploy VPC's name as a side of each peering (its routes are named after it)."""


def reach_from_deploy_network(
    network: DeployNetwork,
    clusters: Sequence[PeerSide],
    *,
    provider: aws.Provider,
    tags: Mapping[str, str],
) -> list[VpcPeering]:
    """Peer each cluster network with the deploy VPC; the cluster side requests, the deploy side accepts.

    The cluster's side requests so that the connection belongs to the stack that needs it and is
    destroyed with it; the deploy VPC, in the bootstrap's region, accepts (within one region the
    requester's ``auto_accept`` does it).
    """
    deploy = PeerSide(
        name=DEPLOY_SIDE,
        region=network.region,
        provider=provider,
        vpc_id=network.vpc_id,
        cidr=network.cidr,
        route_table_ids=list(network.route_table_ids),
    )
    return [
        VpcPeering(f"peer-{side.name}-{DEPLOY_SIDE}", requester=side, accepter=deploy, tags=tags)
        for side in clusters
    ]


def kubeconfig_from_secret(secret_arn: str, *, provider: aws.Provider) -> pulumi.Output[str]:
    """The current value of the secret, read with the provider of the secret's region; kept secret."""
    version = aws.secretsmanager.get_secret_version_output(
        secret_id=secret_arn, opts=pulumi.InvokeOutputOptions(provider=provider)
    )
    return pulumi.Output.secret(version.secret_string)
