"""The deployer's network path to each private EKS API endpoint, as AWS's own analyser sees it.

`pulumi up` talks to a private cluster's API on 443 through the control plane's network interfaces in
the VPC (EKS names them "Amazon EKS <cluster>"). Whether a runner reaches them depends on routes,
peering or Transit Gateway attachments, NACLs and security groups: VPC Reachability Analyzer answers
that from the configuration, without sending a packet
(https://docs.aws.amazon.com/vpc/latest/reachability/what-is-reachability-analyzer.html;
CreateNetworkInsightsPath, StartNetworkInsightsAnalysis, DescribeNetworkInsightsAnalyses). It
analyses paths inside one region, so the source is given per region: the runner's instance or
network interface, or the VPN / Transit Gateway / peering resource its traffic enters by. Each
analysis is billed by AWS (Amazon VPC pricing); the path and analysis are deleted afterwards.

A cluster the stack has not created yet has no endpoint to analyse: that row is a warning.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from inferstack.preflight.clients import Clouds
from inferstack.preflight.rows import Result, Row
from infra.settings import Cloud, EndpointAccess, Settings

CHECK = "network"
SOURCE = re.compile(
    r"(?P<region>[a-z]{2}(-[a-z]+)+-\d)=(?P<id>(i|eni|igw|vgw|tgw|tgw-attach|vpce|pcx)-[0-9a-f]{8,17})"
)
"""REGION=ID: a resource Reachability Analyzer takes as a path's source."""


def parse_sources(values: list[str]) -> dict[str, str]:
    """``--network-source`` values by region; a ValueError names the bad one and what is allowed."""
    found: dict[str, str] = {}
    for value in values:
        match = SOURCE.fullmatch(value)
        if match is None:
            raise ValueError(
                f"--network-source {value!r}; allowed: REGION=ID with the runner's instance (i-), network interface "
                "(eni-), or the internet/VPN/Transit Gateway/endpoint/peering resource (igw-, vgw-, tgw-, tgw-attach-, "
                "vpce-, pcx-) its traffic enters by, e.g. us-east-1=eni-0123456789abcdef0"
            )
        found[match["region"]] = match["id"]
    return found


def eks_names(graph: Any) -> dict[str, str]:
    """Cluster name -> the physical EKS name the program gives it, read off the planned graph."""
    return {
        r.name: str(r.inputs["name"])
        for r in graph.of_type("aws:eks/cluster:Cluster")
        if r.inputs.get("name")
    }


def endpoint_paths(
    settings: Settings,
    clouds: Clouds,
    *,
    eks_names: Mapping[str, str],
    sources: Mapping[str, str],
    wait: Callable[[float], None] = time.sleep,
    polls: int = 60,
) -> list[Row]:
    rows: list[Row] = []
    for cluster in settings.clusters:
        if cluster.cloud is not Cloud.AWS or cluster.endpoint_access is not EndpointAccess.PRIVATE:
            continue
        assert cluster.region is not None
        name = eks_names.get(cluster.name, cluster.name)
        resource = f"{cluster.name} API endpoint"
        enis = _endpoint_interfaces(
            clouds.aws("eks", cluster.region), clouds.aws("ec2", cluster.region), name
        )
        if enis is None:
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.WARN,
                    f"cluster {name} does not exist yet: its endpoint is "
                    "analysed once created; until then the deployer needs a route into the VPC (docs/first-apply.md)",
                )
            )
            continue
        source = sources.get(cluster.region)
        if source is None:
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.WARN,
                    f"not analysed: no source in {cluster.region}. Fix: "
                    f"--network-source {cluster.region}=<the runner's eni-/i- or its VPN/TGW attachment id>",
                )
            )
            continue
        ec2 = clouds.aws("ec2", cluster.region)
        failed: list[str] = []
        for eni in enis:
            found, why = _analyse(ec2, source, eni, wait, polls)
            if not found:
                failed.append(f"{eni}: {why}")
        if failed:
            rows.append(
                Row(
                    CHECK,
                    resource,
                    Result.BLOCK,
                    f"no path on 443 from {source}: {'; '.join(failed)}. Fix: "
                    "the route, peering/TGW attachment or security group rule the analysis names",
                )
            )
        else:
            rows.append(Row(CHECK, resource, Result.OK, f"{source} reaches {', '.join(enis)} on 443"))
    return rows


def _endpoint_interfaces(eks: Any, ec2: Any, name: str) -> list[str] | None:
    """The control plane's network interfaces, or None when the cluster does not exist."""
    try:
        eks.describe_cluster(name=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    found = ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [f"Amazon EKS {name}"]}]
    )
    return sorted(i["NetworkInterfaceId"] for i in found.get("NetworkInterfaces", []))


def _analyse(ec2: Any, source: str, eni: str, wait: Callable[[float], None], polls: int) -> tuple[bool, str]:
    path = ec2.create_network_insights_path(
        Source=source, Destination=eni, Protocol="tcp", DestinationPort=443
    )
    path_id = path["NetworkInsightsPath"]["NetworkInsightsPathId"]
    analysis_id = ""
    try:
        started = ec2.start_network_insights_analysis(NetworkInsightsPathId=path_id)
        analysis_id = started["NetworkInsightsAnalysis"]["NetworkInsightsAnalysisId"]
        for _ in range(polls):
            found = ec2.describe_network_insights_analyses(NetworkInsightsAnalysisIds=[analysis_id])
            analysis = found["NetworkInsightsAnalyses"][0]
            if analysis["Status"] == "succeeded":
                if analysis.get("NetworkPathFound"):
                    return True, ""
                codes = [e.get("ExplanationCode", "?") for e in analysis.get("Explanations", [])]
                return False, ", ".join(codes) or "no path found"
            if analysis["Status"] == "failed":
                return False, f"analysis failed: {analysis.get('StatusMessage', '')}"
            wait(5)
        return False, "analysis still running; see it in the VPC console (Reachability Analyzer)"
    finally:
        # Left behind, they cost nothing more but clutter the console; a refusal here changes no verdict.
        with contextlib.suppress(ClientError):
            if analysis_id:
                ec2.delete_network_insights_analysis(NetworkInsightsAnalysisId=analysis_id)
            ec2.delete_network_insights_path(NetworkInsightsPathId=path_id)
