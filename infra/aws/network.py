"""The VPC that a private EKS cluster lives in.

Creates a VPC spanning the given zones with, per zone, a private subnet for
nodes and internal load balancers and a small public subnet for internet-facing
load balancers and NAT gateways; one shared NAT gateway (dev) or one per zone
(prod, so that losing a zone does not cut the others off); VPC flow logs to a
CloudWatch log group with a fixed retention; and the VPC endpoints a private
cluster needs to reach ECR, STS, EKS, EC2, ELB, CloudWatch Logs and SSM without
the internet, plus an S3 gateway endpoint for ECR image layers.

Address plan, for a VPC of prefix /p (example: 10.10.0.0/16, 3 zones):

- the VPC is cut into eight /(p+3) blocks; block i (i < zones) is zone i's
  private subnet: 10.10.0.0/19, 10.10.32.0/19, 10.10.64.0/19. Private subnets
  are large because the VPC CNI gives every pod a VPC address;
- block `zones` is cut into /(p+6) public subnets, one per zone:
  10.10.96.0/22, 10.10.100.0/22, 10.10.104.0/22;
- everything after it (10.10.128.0/17 in the example) is left free.

Up to seven zones fit; the VPC prefix may be at most /22 (public subnets /28).

The AWS provider is not created here: pass it as
`opts=pulumi.ResourceOptions(providers=[aws_provider])`; `region` must be the
provider's region (it only builds the endpoint service names).
"""

import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.aws.firewall import Ingress, admit
from infra.aws.stores import customer_managed_key
from infra.catalog import catalog
from infra.naming import AUTONAMED_MAX, resource_name, subnet_cidrs

DEFAULT_INTERFACE_ENDPOINTS: tuple[str, ...] = (
    "ecr.api",
    "ecr.dkr",
    "sts",
    "logs",
    "ec2",
    "elasticloadbalancing",
    "eks",
    "eks-auth",
    "ssm",
)
"""What nodes of a private EKS cluster call: image pulls (ecr.*), IRSA (sts),
Pod Identity (eks-auth), node join (eks, ec2), the load balancer controller
(elasticloadbalancing), container logs (logs) and SSM agent (ssm)."""

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_PRIVATE_BLOCKS_SHIFT = 3
_PUBLIC_SUBNET_SHIFT = 6
_SMALLEST_SUBNET = 28


def carve_subnets(cidr: str, zone_count: int) -> tuple[list[str], list[str]]:
    """(private, public) subnet CIDRs per zone, following the module's address plan."""
    try:
        prefix = ipaddress.IPv4Network(cidr, strict=True).prefixlen
    except ValueError as exc:
        raise ValueError(f"cidr {cidr!r} is not an IPv4 network address: {exc}") from None
    if prefix + _PUBLIC_SUBNET_SHIFT > _SMALLEST_SUBNET:
        raise ValueError(
            f"cidr {cidr!r} is too small: public subnets would be /{prefix + _PUBLIC_SUBNET_SHIFT} "
            f"(AWS allows up to /{_SMALLEST_SUBNET}); "
            f"allowed: /{_SMALLEST_SUBNET - _PUBLIC_SUBNET_SHIFT} or larger"
        )
    blocks = subnet_cidrs(cidr, zone_count + 1, prefix + _PRIVATE_BLOCKS_SHIFT)
    public = subnet_cidrs(blocks[zone_count], zone_count, prefix + _PUBLIC_SUBNET_SHIFT)
    return blocks[:zone_count], public


def _aws_provider(opts: pulumi.ResourceOptions | None, name: str) -> aws.Provider:
    """The explicit AWS provider a network was given (ResourceOptions.providers, list or mapping)."""
    given = (opts.providers if opts else None) or []
    found = [
        p for p in (given.values() if isinstance(given, Mapping) else given) if isinstance(p, aws.Provider)
    ]
    if not found:
        raise ValueError(
            f"AwsNetwork {name}: a key of its own needs the region's aws.Provider in opts.providers"
        )
    return found[0]


@dataclass(frozen=True, kw_only=True)
class AwsNetworkArgs:
    """What the network needs to know; validated before any resource exists."""

    cluster_name: str
    """EKS cluster name, for the kubernetes.io/cluster/<name>=shared subnet tags."""
    region: str
    """AWS region of the provider passed in opts, e.g. "us-east-1"; builds endpoint service names."""
    cidr: str
    """VPC IPv4 CIDR, e.g. "10.10.0.0/16"; prefix at most /22."""
    zones: Sequence[str]
    """Availability zones to span, in order, e.g. ("us-east-1a", "us-east-1b", "us-east-1c")."""
    nat_gateways: int
    """1 (dev: one shared NAT gateway) or len(zones) (prod: one per zone)."""
    flow_log_retention_days: int
    """Days CloudWatch keeps the VPC flow logs; one of the values CloudWatch accepts."""
    interface_endpoints: Sequence[str] = DEFAULT_INTERFACE_ENDPOINTS
    """Interface endpoint service short names (com.amazonaws.<region>.<name>); S3 gateway is always added."""
    flow_log_kms_key_arn: pulumi.Input[str] | None = None
    """KMS key ARN to encrypt the flow log group with; None keeps CloudWatch's default encryption,
    unless ``flow_log_own_key`` asks for a key of the network's own."""
    flow_log_own_key: bool = False
    """Encrypt the flow log group with a customer-managed key the network creates (needs the
    region's aws.Provider in ``opts.providers``, which the key policy's account lookup uses)."""
    tags: Mapping[str, str]
    """Tags for every taggable child (Name and the EKS subnet tags are added per child)."""

    def __post_init__(self) -> None:
        where = "AwsNetworkArgs"
        if not self.cluster_name:
            raise ValueError(f"{where}.cluster_name: must not be empty")
        if not _REGION.match(self.region):
            raise ValueError(f"{where}.region={self.region!r}: expected a region such as 'us-east-1'")
        zones = list(self.zones)
        if not zones or len(set(zones)) != len(zones):
            raise ValueError(f"{where}.zones={zones!r}: must be a non-empty list of distinct zones")
        if self.nat_gateways not in {1, len(zones)}:
            raise ValueError(
                f"{where}.nat_gateways={self.nat_gateways}: must be 1 or {len(zones)} (one per zone)"
            )
        if self.flow_log_retention_days not in catalog().log_retention_days:
            raise ValueError(
                f"{where}.flow_log_retention_days={self.flow_log_retention_days}: "
                f"must be one of {sorted(catalog().log_retention_days)}"
            )
        endpoints = list(self.interface_endpoints)
        if len(set(endpoints)) != len(endpoints) or "s3" in endpoints:
            raise ValueError(
                f"{where}.interface_endpoints={endpoints!r}: must be distinct and not include 's3' "
                "(S3 always gets a gateway endpoint)"
            )
        try:
            carve_subnets(self.cidr, len(zones))
        except ValueError as exc:
            raise ValueError(f"{where}.cidr: {exc}") from None


def _flow_log_policy(log_group_arn: pulumi.Output[str]) -> pulumi.Output[str]:
    """Write access to this one log group. DescribeLogGroups lists the account's groups and cannot be
    narrowed to one group, so it gets "*", as in AWS's flow-logs role example."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    "Resource": [log_group_arn, log_group_arn.apply(lambda arn: f"{arn}:*")],
                },
                {"Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": "*"},
            ],
        }
    )


class AwsNetwork(pulumi.ComponentResource):
    """A VPC for a private EKS cluster: private and public subnets per zone, NAT, flow logs, endpoints."""

    vpc_id: pulumi.Output[str]
    """ID of the VPC."""
    vpc_cidr: str
    """The VPC's IPv4 CIDR, as given."""
    private_subnet_ids: pulumi.Output[list[str]]
    """Private subnet IDs, in zone order: for nodes and internal load balancers."""
    public_subnet_ids: pulumi.Output[list[str]]
    """Public subnet IDs, in zone order: for internet-facing load balancers."""
    private_route_table_ids: pulumi.Output[list[str]]
    """Private route table IDs, in zone order."""
    private_route_table_id_list: list[pulumi.Output[str]]
    """The same IDs one by one, for layers that add a route to each table (peering)."""
    endpoint_security_group_id: pulumi.Output[str] | None
    """Security group of the interface endpoints (443 from the VPC CIDR); None without any."""
    nat_gateway_count: int
    """How many NAT gateways were created (1 or one per zone)."""
    nat_addresses: list[pulumi.Output[str]]
    """The NAT gateways' Elastic IPs: every connection the VPC's pods open to the internet comes from
    one of them (the GCP peer entrance admits only these, infra/gcp/edge.py)."""

    def __init__(self, name: str, args: AwsNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("inferstack:aws:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        zones = list(args.zones)
        private_cidrs, public_cidrs = carve_subnets(args.cidr, len(zones))
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        def child_name(*role: str) -> str:
            return resource_name(name, *role, max_len=AUTONAMED_MAX)

        def tags(resource: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
            return {**args.tags, **(extra or {}), "Name": resource}

        vpc_name = child_name("vpc")
        vpc = aws.ec2.Vpc(
            vpc_name,
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tags(vpc_name),
            opts=child,
        )
        # Nothing is placed in the VPC's default security group (every ENI, endpoint, node, database
        # and cache has its own), so it keeps no rule: adopting it as aws.ec2.DefaultSecurityGroup
        # with none removes the rules AWS created ("When Pulumi first adopts the Default Security
        # Group, it immediately removes all ingress and egress rules", Pulumi registry).
        default_sg_name = child_name("default-sg")
        aws.ec2.DefaultSecurityGroup(default_sg_name, vpc_id=vpc.id, tags=tags(default_sg_name), opts=child)

        igw_name = child_name("igw")
        igw = aws.ec2.InternetGateway(igw_name, vpc_id=vpc.id, tags=tags(igw_name), opts=child)

        private_subnets: list[aws.ec2.Subnet] = []
        public_subnets: list[aws.ec2.Subnet] = []
        for zone, private_cidr, public_cidr in zip(zones, private_cidrs, public_cidrs, strict=True):
            private_name = child_name("private", zone)
            private_subnets.append(
                aws.ec2.Subnet(
                    private_name,
                    vpc_id=vpc.id,
                    availability_zone=zone,
                    cidr_block=private_cidr,
                    map_public_ip_on_launch=False,
                    tags=tags(private_name, {"kubernetes.io/role/internal-elb": "1", **cluster_tag}),
                    opts=child,
                )
            )
            public_name = child_name("public", zone)
            public_subnets.append(
                aws.ec2.Subnet(
                    public_name,
                    vpc_id=vpc.id,
                    availability_zone=zone,
                    cidr_block=public_cidr,
                    map_public_ip_on_launch=False,
                    tags=tags(public_name, {"kubernetes.io/role/elb": "1", **cluster_tag}),
                    opts=child,
                )
            )

        public_rt_name = child_name("public")
        public_rt = aws.ec2.RouteTable(public_rt_name, vpc_id=vpc.id, tags=tags(public_rt_name), opts=child)
        aws.ec2.Route(
            child_name("public", "default"),
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )
        for zone, subnet in zip(zones, public_subnets, strict=True):
            aws.ec2.RouteTableAssociation(
                child_name("public", zone),
                subnet_id=subnet.id,
                route_table_id=public_rt.id,
                opts=child,
            )

        nats: list[aws.ec2.NatGateway] = []
        self.nat_addresses = []
        for zone, subnet in zip(zones[: args.nat_gateways], public_subnets, strict=False):
            nat_name = child_name("nat", zone)
            eip = aws.ec2.Eip(nat_name, domain="vpc", tags=tags(nat_name), opts=child)
            self.nat_addresses.append(eip.public_ip)
            nats.append(
                aws.ec2.NatGateway(
                    nat_name,
                    allocation_id=eip.allocation_id,
                    subnet_id=subnet.id,
                    tags=tags(nat_name),
                    # A NAT gateway needs the VPC's internet gateway attached first.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )

        private_rts: list[aws.ec2.RouteTable] = []
        for index, (zone, subnet) in enumerate(zip(zones, private_subnets, strict=True)):
            rt_name = child_name("private", zone)
            rt = aws.ec2.RouteTable(rt_name, vpc_id=vpc.id, tags=tags(rt_name), opts=child)
            private_rts.append(rt)
            aws.ec2.Route(
                child_name("private", zone, "default"),
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[index if len(nats) > 1 else 0].id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                child_name("private", zone),
                subnet_id=subnet.id,
                route_table_id=rt.id,
                opts=child,
            )

        flow_log_key = args.flow_log_kms_key_arn
        if flow_log_key is None and args.flow_log_own_key:
            flow_log_key = customer_managed_key(
                child_name("flow-logs"),
                description=f"Encrypts the VPC flow logs of {args.cluster_name}",
                provider=_aws_provider(opts, name),
                region=args.region,
                tags=args.tags,
                protect=False,
                parent=self,
                logs=True,
            ).arn
        self._flow_logs(child_name("flow-logs"), vpc, args, tags, flow_log_key)

        private_subnet_ids = [subnet.id for subnet in private_subnets]
        endpoint_sg: aws.ec2.SecurityGroup | None = None
        if args.interface_endpoints:  # a group no endpoint uses would only be an unattached group
            endpoint_sg_name = child_name("endpoints")
            endpoint_sg = aws.ec2.SecurityGroup(
                endpoint_sg_name,
                vpc_id=vpc.id,
                description="Interface VPC endpoints: HTTPS from inside the VPC only",
                tags=tags(endpoint_sg_name),
                opts=child,
            )
            admit(
                endpoint_sg.id,
                port=443,
                sources=[Ingress(child_name("endpoints", "https"), args.cidr, "HTTPS from the VPC")],
                tags=tags,
                opts=child,
            )
        for service in args.interface_endpoints:
            assert endpoint_sg is not None
            endpoint_name = child_name("vpce", service)
            aws.ec2.VpcEndpoint(
                endpoint_name,
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=private_subnet_ids,
                security_group_ids=[endpoint_sg.id],
                tags=tags(endpoint_name),
                opts=child,
            )
        s3_name = child_name("vpce", "s3")
        aws.ec2.VpcEndpoint(
            s3_name,
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts],
            tags=tags(s3_name),
            opts=child,
        )

        self.vpc_id = vpc.id
        self.vpc_cidr = args.cidr
        self.private_subnet_ids = pulumi.Output.all(*private_subnet_ids)
        self.public_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in public_subnets])
        self.private_route_table_ids = pulumi.Output.all(*[rt.id for rt in private_rts])
        self.private_route_table_id_list = [rt.id for rt in private_rts]
        self.endpoint_security_group_id = endpoint_sg.id if endpoint_sg is not None else None
        self.nat_gateway_count = len(nats)
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "vpcCidr": self.vpc_cidr,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
                "privateRouteTableIds": self.private_route_table_ids,
                "endpointSecurityGroupId": self.endpoint_security_group_id,
                "natGatewayCount": self.nat_gateway_count,
            }
        )

    def _flow_logs(
        self,
        base: str,
        vpc: aws.ec2.Vpc,
        args: AwsNetworkArgs,
        tags: Callable[[str], dict[str, str]],
        key_arn: pulumi.Input[str] | None,
    ) -> None:
        """ALL-traffic flow logs to CloudWatch through a role only the flow-logs service can assume."""
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            base,
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=key_arn,
            tags=tags(base),
            opts=child,
        )
        role = aws.iam.Role(
            base,
            description="Lets VPC Flow Logs write to its CloudWatch log group",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags(base),
            opts=child,
        )
        aws.iam.RolePolicy(
            base,
            role=role.id,
            policy=_flow_log_policy(log_group.arn),
            opts=child,
        )
        aws.ec2.FlowLog(
            base,
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            tags=tags(base),
            opts=child,
        )
