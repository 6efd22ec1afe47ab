"""The one table of mocked provider answers: resource outputs and invoke results.

Offline there is no cloud to ask, so whatever a provider would compute (ids, ARNs, endpoints,
certificate data) comes from here, derived only from the resource's name, inputs and region so
that two runs give the same graph. An invoke nobody answers here is an error naming its token:
a silent None would let the program build something the real engine never would.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

ACCOUNT = "123456789012"
GCP_PROJECT_NUMBER = "100000000001"


class UnansweredInvoke(Exception):
    def __init__(self, token: str):
        self.token = token
        super().__init__(f"invoke {token} has no offline answer; add one to inferstack/mocks.py")


def short_hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:12]


def _aws_service(token: str) -> str:
    module = token.split(":")[1].split("/")[0]
    return {"index": "iam", "ec2": "ec2", "cloudwatch": "logs"}.get(module, module)


Outputs = Callable[[str, dict[str, Any], str], dict[str, Any]]


def _eks_cluster(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    ident = short_hash("eks", name).upper()
    return {
        "endpoint": f"https://{ident}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": "TU9DSy1DQQ=="},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{ident}"}]}],
        "vpcConfig": {
            **(inputs.get("vpcConfig") or {}),
            "clusterSecurityGroupId": f"sg-{short_hash('csg', name)}",
        },
        "platformVersion": "eks.1",
    }


def _rds_cluster(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    host = f"{name}.cluster-{short_hash('rds', name)}.{region}.rds.amazonaws.com"
    return {
        "endpoint": host,
        "readerEndpoint": host.replace(".cluster-", ".cluster-ro-"),
        "port": 5432,
        "masterUserSecrets": [
            {
                "secretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:rds!{name}-{short_hash(name)[:6]}"
            }
        ],
    }


def _gke_cluster(name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    # GKE gives every cluster a DNS endpoint (the API reference's example: uid.us-central1.gke.goog;
    # real ones read gke-<36 hex>-<project number>.<region>.gke.goog), whatever its inputs say.
    endpoints = dict(inputs.get("controlPlaneEndpointsConfig") or {})
    uid = hashlib.sha256(f"gke-dns/{name}".encode()).hexdigest()[:36]
    endpoints["dnsEndpointConfig"] = {
        "allowExternalTraffic": False,
        **(endpoints.get("dnsEndpointConfig") or {}),
        "endpoint": f"gke-{uid}-{GCP_PROJECT_NUMBER}.{region}.gke.goog",
    }
    return {
        "endpoint": f"10.{int(short_hash(name)[:2], 16) % 200}.0.2",
        "controlPlaneEndpointsConfig": endpoints,
        "masterAuth": {"clusterCaCertificate": "TU9DSy1DQQ=="},
        "selfLink": f"https://container.googleapis.com/v1/projects/mock/locations/{region}/clusters/{name}",
    }


RESOURCE_OUTPUTS: dict[str, Outputs] = {
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:rds/cluster:Cluster": _rds_cluster,
    "aws:rds/globalCluster:GlobalCluster": lambda n, i, r: {
        "endpoint": f"{i.get('globalClusterIdentifier', n)}.global-{short_hash('global', n)}.global.rds.amazonaws.com",
        "globalClusterResourceId": f"cluster-{short_hash('gcr', n)}",
    },
    "aws:rds/clusterInstance:ClusterInstance": lambda n, i, r: {
        "endpoint": f"{n}.{short_hash('rds', n)}.{r}.rds.amazonaws.com"
    },
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda n, i, r: {
        "primaryEndpointAddress": f"master.{n}.{short_hash(n)[:6]}.{r}.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{n}.{short_hash(n)[:6]}.{r}.cache.amazonaws.com",
        "port": 6379,
    },
    "aws:kms/key:Key": lambda n, i, r: {"keyId": f"mrk-{short_hash('kms', n)}"},
    # The workspace's query and remote-write base: https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/
    # (AMP User Guide, "Ingest Prometheus metrics to the workspace").
    "aws:amp/workspace:Workspace": lambda n, i, r: {
        "arn": f"arn:aws:aps:{r}:{ACCOUNT}:workspace/ws-{short_hash('amp', n)}",
        "prometheusEndpoint": f"https://aps-workspaces.{r}.amazonaws.com/workspaces/ws-{short_hash('amp', n)}/",
    },
    # An auto-named bucket: the logical name and a random suffix, as the engine would name it.
    "aws:s3/bucket:Bucket": lambda n, i, r: {"bucket": i.get("bucket") or f"{n}-{short_hash('s3', n)[:7]}"},
    # An address of 203.0.113.0/24 (TEST-NET-3, RFC 5737), stable per name: never a real host's.
    "aws:ec2/eip:Eip": lambda n, i, r: {
        "allocationId": f"eipalloc-{short_hash('eip', n)}",
        "publicIp": f"203.0.113.{int(short_hash('eip-ip', n), 16) % 254 + 1}",
    },
    "aws:ec2/launchTemplate:LaunchTemplate": lambda n, i, r: {"latestVersion": 1},
    # Auto-named as the engine would name it: the logical name plus "-" and 7 hex characters.
    "aws:eks/nodeGroup:NodeGroup": lambda n, i, r: {
        "nodeGroupName": i.get("nodeGroupName") or f"{n}-{short_hash(n)[:7]}"
    },
    "aws:globalaccelerator/accelerator:Accelerator": lambda n, i, r: {
        "dnsName": f"a{short_hash(n)}.awsglobalaccelerator.com",
        "hostedZoneId": "Z2BJ6XQ5FK7U4H",
    },
    "aws:lb/loadBalancer:LoadBalancer": lambda n, i, r: {
        "dnsName": f"{n}-{short_hash(n)[:8]}.elb.{r}.amazonaws.com",
        "zoneId": "Z35SXDOTRQ7X7K",
    },
    "aws:route53/zone:Zone": lambda n, i, r: {
        "zoneId": f"Z{short_hash('zone', n).upper()}",
        "nameServers": ["ns-1.awsdns-00.org", "ns-2.awsdns-00.net"],
    },
    "aws:acm/certificate:Certificate": lambda n, i, r: {
        "domainValidationOptions": [
            {
                "domainName": i.get("domainName", n),
                "resourceRecordName": f"_{short_hash(n)}.{i.get('domainName', n)}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{short_hash('v', n)}.acm-validations.aws.",
            }
        ]
    },
    "gcp:container/cluster:Cluster": _gke_cluster,
    "gcp:compute/globalAddress:GlobalAddress": lambda n, i, r: {"address": "203.0.113.10"},
    "gcp:sql/databaseInstance:DatabaseInstance": lambda n, i, r: {
        "privateIpAddress": "10.250.0.3",
        "connectionName": f"mock:{r}:{n}",
    },
    "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": lambda n, i, r: {
        "dnsResourceRecords": [
            {
                "name": f"_acme-challenge.{i.get('domain', n)}.",
                "type": "CNAME",
                "data": f"{short_hash('authz', n)}.9.authorize.certificatemanager.goog.",
            }
        ]
    },
    "gcp:redis/instance:Instance": lambda n, i, r: {
        "host": "10.250.1.4",
        "port": 6378,
        "authString": "[secret]",
    },
}


def resource_outputs(token: str, name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """Inputs echoed back plus what the provider would compute for this type."""
    state: dict[str, Any] = dict(inputs)
    state.setdefault("name", name)
    if token.startswith("aws:"):
        state.setdefault("arn", f"arn:aws:{_aws_service(token)}:{region}:{ACCOUNT}:{name}")
    elif token.startswith("gcp:"):
        state.setdefault(
            "selfLink", f"https://www.googleapis.com/mock/{region}/{token.split(':')[-1]}/{name}"
        )
    extra = RESOURCE_OUTPUTS.get(token)
    if extra is not None:
        state.update(extra(name, inputs, region))
    return state


def resource_id(token: str, name: str) -> str:
    prefix = token.split(":")[-1].lower()[:8]
    return f"{prefix}-{short_hash(token, name)}"


def _policy_document(args: dict[str, Any], region: str) -> dict[str, Any]:
    statements = []
    for st in args.get("statements") or []:
        out: dict[str, Any] = {"Effect": st.get("effect", "Allow")}
        for key, name in (("actions", "Action"), ("resources", "Resource")):
            if st.get(key):
                out[name] = st[key]
        for principal in st.get("principals") or []:
            out.setdefault("Principal", {})[principal["type"]] = principal["identifiers"]
        statements.append(out)
    return {"json": json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)}


DEPLOYER_ROLE_PATH = "aws-reserved/sso.amazonaws.com/"
DEPLOYER_ROLE = "AWSReservedSSO_PlatformAdmin_0123456789abcdef"
DEPLOYER_SESSION = "deployer@example.com"
DEPLOYER_SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/{DEPLOYER_ROLE}/{DEPLOYER_SESSION}"
"""Offline, the deployer is who most people deploy as: an IAM Identity Center role session, whose
role has a path that the session ARN does not show."""
_ROLE_PATHS = {DEPLOYER_ROLE: DEPLOYER_ROLE_PATH}


def _session_context(args: dict[str, Any], region: str) -> dict[str, Any]:
    """aws_iam_session_context: an assumed-role session's source role (path included); else the ARN itself."""
    arn = args["arn"]
    match = re.fullmatch(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/(.+)", arn)
    if not match:
        return {"arn": arn, "issuerArn": arn, "issuerId": "", "issuerName": "", "sessionName": "", "id": arn}
    partition, account, role, session = match.groups()
    issuer = f"arn:{partition}:iam::{account}:role/{_ROLE_PATHS.get(role, '')}{role}"
    return {
        "arn": arn,
        "issuerArn": issuer,
        "issuerId": "AROAOFFLINE",
        "issuerName": role,
        "sessionName": session,
        "id": arn,
    }


AZ_IDS: dict[str, dict[str, str]] = {
    "us-east-1": {
        "us-east-1a": "use1-az4",
        "us-east-1b": "use1-az6",
        "us-east-1c": "use1-az1",
        "us-east-1d": "use1-az2",
        "us-east-1e": "use1-az3",
        "us-east-1f": "use1-az5",
    },
    "us-east-2": {"us-east-2a": "use2-az1", "us-east-2b": "use2-az2", "us-east-2c": "use2-az3"},
    "us-west-2": {
        "us-west-2a": "usw2-az2",
        "us-west-2b": "usw2-az1",
        "us-west-2c": "usw2-az3",
        "us-west-2d": "usw2-az4",
    },
    "eu-west-1": {"eu-west-1a": "euw1-az3", "eu-west-1b": "euw1-az1", "eu-west-1c": "euw1-az2"},
    "eu-west-2": {"eu-west-2a": "euw2-az2", "eu-west-2b": "euw2-az3", "eu-west-2c": "euw2-az1"},
    "eu-central-1": {"eu-central-1a": "euc1-az2", "eu-central-1b": "euc1-az3", "eu-central-1c": "euc1-az1"},
    "eu-north-1": {"eu-north-1a": "eun1-az1", "eu-north-1b": "eun1-az2", "eu-north-1c": "eun1-az3"},
    "ap-northeast-1": {
        "ap-northeast-1a": "apne1-az4",
        "ap-northeast-1c": "apne1-az1",
        "ap-northeast-1d": "apne1-az2",
    },
    "ap-southeast-1": {
        "ap-southeast-1a": "apse1-az1",
        "ap-southeast-1b": "apse1-az2",
        "ap-southeast-1c": "apse1-az3",
    },
}
"""The offline account's zone name -> AZ ID per region, as DescribeAvailabilityZones answers it.

The mapping is per account in the regions that predate uniform mapping (us-east-1, us-west-2,
eu-west-1, ap-northeast-1, ...: AWS docs, "AZ IDs"); this is one plausible account, not a fact
about every account. It is chosen so that the shipped stacks meet the cases that matter: in
us-east-1 the cluster's zones a, b, c are use1-az4, az6, az1, of which only az6 offers p5en; in
us-west-2, b is usw2-az1, which lacks p5en."""


def _availability_zones(args: dict[str, Any], region: str) -> dict[str, Any]:
    """aws_availability_zones (regular AZs only; the program filters out Local Zones)."""
    if region not in AZ_IDS:
        raise UnansweredInvoke(f"aws:index/getAvailabilityZones:getAvailabilityZones in {region}")
    names = sorted(AZ_IDS[region])
    return {
        "names": names,
        "zoneIds": [AZ_IDS[region][n] for n in names],
        "groupNames": [region] * len(names),
        "id": region,
        "region": region,
    }


def offline_kubeconfig(secret_arn: str) -> str:
    """The kubeconfig an offline Secrets Manager secret holds: a cluster named after the secret."""
    cluster = secret_arn.rsplit(":", 1)[-1].replace("/", "-")
    server = f"https://{short_hash('kubeconfig', secret_arn)}.offline.invalid"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": server}}],
            "users": [{"name": cluster, "user": {}}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}],
            "current-context": cluster,
        },
        sort_keys=True,
    )


def _secret_version(args: dict[str, Any], region: str) -> dict[str, Any]:
    """aws_secretsmanager_secret_version: the current version of the secret, its value a kubeconfig."""
    arn = args["secretId"]
    version = f"{short_hash('version', arn)[:8]}-0000-4000-8000-{short_hash('v', arn)}"
    return {
        "arn": arn,
        "id": f"{arn}|AWSCURRENT",
        "secretId": arn,
        "secretString": offline_kubeconfig(arn),
        "secretBinary": "",
        "versionId": version,
        "versionStage": "AWSCURRENT",
        "versionStages": ["AWSCURRENT"],
        "createdDate": "2026-11-30T00:00:00Z",
        "region": region,
    }


S3_PREFIX_LIST_RANGES = ("198.51.100.0/24", "203.0.113.0/24")


def _managed_prefix_list(args: dict[str, Any], region: str) -> dict[str, Any]:
    name = str(args.get("name"))
    if name != f"com.amazonaws.{region}.s3":
        raise UnansweredInvoke(f"aws:ec2/getManagedPrefixList:getManagedPrefixList name={name!r} in {region}")
    ident = f"pl-{short_hash('pl', name)[:8]}"
    return {
        "id": ident,
        "name": name,
        "addressFamily": "IPv4",
        "arn": f"arn:aws:ec2:{region}:aws:prefix-list/{ident}",
        "entries": [{"cidr": cidr, "description": ""} for cidr in S3_PREFIX_LIST_RANGES],
        "maxEntries": len(S3_PREFIX_LIST_RANGES),
        "ownerId": "AWS",
        "version": 1,
        "tags": {},
        "region": region,
    }


INVOKES: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:index/getCallerIdentity:getCallerIdentity": lambda a, r: {
        "accountId": ACCOUNT,
        "arn": DEPLOYER_SESSION_ARN,
        "userId": f"AROAOFFLINE:{DEPLOYER_SESSION}",
        "id": ACCOUNT,
    },
    "aws:iam/getSessionContext:getSessionContext": _session_context,
    "aws:index/getPartition:getPartition": lambda a, r: {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "id": "aws",
    },
    "aws:index/getRegion:getRegion": lambda a, r: {"name": r, "region": r, "id": r},
    "aws:iam/getPolicyDocument:getPolicyDocument": _policy_document,
    "aws:secretsmanager/getSecretVersion:getSecretVersion": _secret_version,
    "gcp:organizations/getProject:getProject": lambda a, r: {
        "number": GCP_PROJECT_NUMBER,
        "projectId": a.get("projectId", "mock"),
    },
    # An AWS-managed prefix list by name: S3's of the provider's region only (com.amazonaws.<region>.s3),
    # so that a program asking for another list or region gets no answer. Offline the entries are
    # documentation ranges (RFC 5737), not S3's: the graph shows where they go, not what they are.
    "aws:ec2/getManagedPrefixList:getManagedPrefixList": _managed_prefix_list,
    # The project's Cloud Storage service agent, as the API names it (Cloud Storage docs, "Service agents").
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": lambda a, r: {
        "emailAddress": f"service-{GCP_PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com",
        "member": f"serviceAccount:service-{GCP_PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com",
        "project": a.get("project", "mock"),
        "id": a.get("project", "mock"),
    },
}


def invoke(token: str, args: dict[str, Any], region: str) -> dict[str, Any]:
    answer = INVOKES.get(token)
    if answer is None:
        raise UnansweredInvoke(token)
    return answer(args, region)
