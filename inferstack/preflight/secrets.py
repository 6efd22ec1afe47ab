"""The secrets an operator writes once per stack, before the first apply: present, with a value.

The gateways' ExternalSecrets read the master key and the DeepSeek API key from the cloud's secret
manager under the stack's prefix (docs/gateway.md, "Secrets an operator writes once per stack").
The program does not create them (their values must never be in a stack file), so a first apply
without them leaves every gateway pod waiting in CreateContainerConfigError. The names are read off
the planned graph, not repeated here: every remote key an ExternalSecret names that the stack does
not create itself (on AWS, the data layer's secrets are named by ARN).

AWS: Secrets Manager DescribeSecret, whose ``VersionIdsToStages`` lists the version labelled
AWSCURRENT once a value was put (Secrets Manager API reference, DescribeSecret). GCP: Secret Manager
``projects.secrets.versions.get`` on ``versions/latest`` (state ENABLED).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inferstack.preflight.clients import Clouds
from inferstack.preflight.rows import Result, Row
from infra.settings import Cloud, Settings

CHECK = "secret"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"


@dataclass(frozen=True, order=True)
class Wanted:
    cloud: Cloud
    region: str
    name: str


def operator_secrets(graph: Any, settings: Settings) -> list[Wanted]:
    """Every secret an ExternalSecret of the plan reads that the stack does not create, by cloud and region."""
    clusters = {c.name: c for c in settings.clusters}
    index = graph.by_urn()
    found: set[Wanted] = set()
    for external in graph.of_type(EXTERNAL_SECRET):
        provider = index.get(external.provider or "")
        cluster = clusters.get(provider.name.removesuffix("-k8s")) if provider is not None else None
        if cluster is None or cluster.region is None or cluster.cloud is Cloud.EXISTING:
            continue
        for entry in external.inputs["spec"].get("data", []):
            key = str(entry["remoteRef"]["key"])
            if not key.startswith("arn:"):
                found.add(Wanted(cluster.cloud, cluster.region, key))
    return sorted(found)


def _aws(clouds: Clouds, wanted: Wanted) -> Row:
    client = clouds.aws("secretsmanager", wanted.region)
    resource = f"{wanted.region} {wanted.name}"
    try:
        secret = client.describe_secret(SecretId=wanted.name)
    except client.exceptions.ResourceNotFoundException:
        return Row(
            CHECK,
            resource,
            Result.BLOCK,
            "missing: the gateways' pods wait for it. Fix: aws secretsmanager create-secret --region "
            f"{wanted.region} --name {wanted.name} --secret-string file://value (docs/gateway.md)",
        )
    stages = [s for labels in (secret.get("VersionIdsToStages") or {}).values() for s in labels]
    if "AWSCURRENT" not in stages:
        return Row(
            CHECK,
            resource,
            Result.BLOCK,
            "exists without a value. Fix: aws secretsmanager put-secret-value --region "
            f"{wanted.region} --secret-id {wanted.name} --secret-string file://value",
        )
    return Row(CHECK, resource, Result.OK, "present, with a current value")


def _gcp(settings: Settings, clouds: Clouds, wanted: Wanted) -> Row:
    from googleapiclient.errors import HttpError

    versions = clouds.gcp("secretmanager", "v1").projects().secrets().versions()
    project = settings.gcp_project
    name = f"projects/{project}/secrets/{wanted.name}/versions/latest"
    try:
        version = versions.get(name=name).execute()
    except HttpError as error:
        if error.resp.status != 404:
            raise
        return Row(
            CHECK,
            f"{project} {wanted.name}",
            Result.BLOCK,
            "missing, or without a version: the gateways' pods wait for it. Fix: gcloud secrets create "
            f"{wanted.name} --project {project} --replication-policy automatic --data-file value "
            f"(or gcloud secrets versions add {wanted.name} --data-file value)",
        )
    if version.get("state") != "ENABLED":
        return Row(
            CHECK,
            f"{project} {wanted.name}",
            Result.BLOCK,
            f"its latest version is {version.get('state')}. Fix: gcloud secrets versions add {wanted.name} "
            f"--project {project} --data-file value",
        )
    return Row(CHECK, f"{project} {wanted.name}", Result.OK, "present, with an enabled latest version")


def operator_secret_rows(settings: Settings, clouds: Clouds, *, wanted: list[Wanted]) -> list[Row]:
    return [_aws(clouds, w) if w.cloud is Cloud.AWS else _gcp(settings, clouds, w) for w in wanted]
