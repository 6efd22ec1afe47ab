"""``inferstack new-stack``: a new environment's stack file from a few choices, valid before it is written.

The file comes from one template (``templates/stack.yaml.j2``) and an environment profile (sizes,
retention, floors and budget of the shipped dev, staging and prod stacks). The accelerator pool's
machine is the smallest one of the chosen cloud and region whose accelerators hold the model at its
precision (the same fit check the settings apply). The text is parsed by the settings model before
it is written, so a stack file this command writes plans.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from infra.catalog import catalog, model_fit
from infra.settings import SettingsError, parse_settings, project_config

TEMPLATES = Path(__file__).parent / "templates"
_STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


class NewStackError(ValueError):
    """A choice that cannot make a valid stack; the message is one line per problem."""


@dataclass(frozen=True)
class Profile:
    log_days: int
    system_min: int
    system_max: int
    floor: int
    """Core accelerator nodes that never scale away."""
    max_nodes: int
    backup_days: int
    cache_node: str
    cache_replicas: int
    metrics_days: int
    budget: int
    database_class: dict[str, str]
    system_machine: dict[str, str]


PROFILES: dict[str, Profile] = {
    "dev": Profile(
        log_days=7,
        system_min=1,
        system_max=3,
        floor=1,
        max_nodes=2,
        backup_days=1,
        cache_node="cache.t4g.small",
        cache_replicas=0,
        metrics_days=7,
        budget=4000,
        database_class={"aws": "db.t4g.medium", "gcp": "db-custom-2-7680"},
        system_machine={"aws": "m7i.large", "gcp": "e2-standard-4"},
    ),
    "staging": Profile(
        log_days=30,
        system_min=2,
        system_max=4,
        floor=1,
        max_nodes=4,
        backup_days=7,
        cache_node="cache.r7g.large",
        cache_replicas=1,
        metrics_days=15,
        budget=30000,
        database_class={"aws": "db.r6g.large", "gcp": "db-custom-4-16384"},
        system_machine={"aws": "m7i.xlarge", "gcp": "n2-standard-4"},
    ),
    "prod": Profile(
        log_days=90,
        system_min=3,
        system_max=6,
        floor=1,
        max_nodes=8,
        backup_days=14,
        cache_node="cache.r7g.xlarge",
        cache_replicas=1,
        metrics_days=30,
        budget=250000,
        database_class={"aws": "db.r6g.xlarge", "gcp": "db-custom-8-32768"},
        system_machine={"aws": "m7i.2xlarge", "gcp": "n2-standard-8"},
    ),
}

DEFAULT_REGION = {"aws": "us-east-1", "gcp": "us-central1"}


@dataclass(frozen=True)
class Choices:
    name: str
    profile: str = "dev"
    cloud: str = "aws"
    region: str | None = None
    accelerator: str = "L4"
    model: str = "DeepSeek-R1-Distill-Qwen-7B"
    precision: str = "bf16"
    budget: int | None = None
    owner: str = "platform-team"
    cost_center: str | None = None
    gcp_project: str | None = None
    burst_cloud: str | None = None
    burst_region: str | None = None
    secondary_region: str | None = None
    domain: str | None = None
    secrets_region: str = "us-east-1"
    jwt_issuer: str | None = None
    """The identity provider whose tokens every request carries (security.jwt.issuer)."""
    jwks_uri: str | None = None
    """Where its signing keys are published (default: <issuer>/.well-known/jwks.json)."""


def region_tag(region: str) -> str:
    """us-east-1 -> use1, us-central1 -> usc1, europe-west4 -> euw4: short enough for cluster names."""
    parts = region.split("-")
    digits = re.sub(r"\D", "", parts[-1])
    return f"{parts[0][:2]}{''.join(p[0] for p in parts[1:] if not p.isdigit())}{digits}"


def choose_machine(cloud: str, region: str, accelerator: str, model: str, precision: str) -> tuple[str, int]:
    """The smallest machine of the cloud and region whose accelerators hold the model: (name, per node)."""
    table = catalog()
    machines = table.aws_instance_types if cloud == "aws" else table.gcp_machine_types
    offered = sorted(
        (
            (m.accelerator_count, m.vcpus, name)
            for name, m in machines.items()
            if m.accelerator == accelerator and region in (m.regions or ())
        ),
    )
    if not offered:
        raise NewStackError(
            f"--accelerator {accelerator}: no {cloud} machine with it in {region} (infra/catalog/machines.yaml)"
        )
    for count, _, name in offered:
        if model_fit(model, precision, accelerator, count).fits:
            return name, count
    largest = offered[-1]
    fit = model_fit(model, precision, accelerator, largest[0])
    raise NewStackError(
        f"--model {model} ({precision}) needs {fit.needed_gib:.0f} GiB; the largest {accelerator} machine in "
        f"{region} ({largest[2]}, {largest[0]} x {accelerator}) has {fit.available_gib:.0f} GiB; choose a "
        "larger accelerator or a smaller model"
    )


def _cluster(role: str, cloud: str, region: str, choices: Choices, profile: Profile) -> dict[str, Any]:
    machine, per_node = choose_machine(cloud, region, choices.accelerator, choices.model, choices.precision)
    pool = re.sub(r"[^a-z0-9-]", "", choices.accelerator.lower()) + ("-spot" if role == "burst" else "")
    return {
        "name": f"{role}-{region_tag(region)}",
        "role": role,
        "cloud": cloud,
        "region": region,
        "machine": machine,
        "per_node": f"{per_node} x {choices.accelerator}",
        "pool": pool,
        "system_machine": profile.system_machine[cloud],
    }


def render(choices: Choices) -> str:
    """The stack file's text; raises NewStackError for a choice no stack can hold."""
    if not _STACK_NAME.match(choices.name):
        raise NewStackError(
            f"NAME {choices.name!r}: allowed: a lower-case letter, then letters, digits and '-' (at most 40)"
        )
    if choices.profile not in PROFILES:
        raise NewStackError(f"--from {choices.profile!r}: allowed: {', '.join(PROFILES)}")
    for option, cloud in (("--cloud", choices.cloud), ("--burst-cloud", choices.burst_cloud)):
        if cloud is not None and cloud not in ("aws", "gcp"):
            raise NewStackError(f"{option} {cloud!r}: allowed: aws, gcp")
    if catalog().accelerators.get(choices.accelerator) is None or choices.accelerator.startswith("tpu-"):
        known = ", ".join(sorted(a for a in catalog().accelerators if not a.startswith("tpu-")))
        raise NewStackError(
            f"--accelerator {choices.accelerator!r}: allowed: {known} (TPU pools need a topology: write them by hand)"
        )
    profile = PROFILES[choices.profile]
    region = choices.region or DEFAULT_REGION[choices.cloud]
    regions = catalog().aws_regions if choices.cloud == "aws" else catalog().gcp_regions
    for option, value in (("--region", region), ("--secondary-region", choices.secondary_region)):
        if value is not None and value not in regions:
            raise NewStackError(
                f"{option} {value!r}: not a known {choices.cloud} region (infra/catalog/regions.yaml)"
            )
    clusters = [_cluster("core", choices.cloud, region, choices, profile)]
    if choices.secondary_region:
        clusters.append(_cluster("core", choices.cloud, choices.secondary_region, choices, profile))
    if choices.burst_region or choices.burst_cloud:
        burst_cloud = choices.burst_cloud or choices.cloud
        burst_region = choices.burst_region or DEFAULT_REGION[burst_cloud]
        burst_regions = catalog().aws_regions if burst_cloud == "aws" else catalog().gcp_regions
        if burst_region not in burst_regions:
            raise NewStackError(f"--burst-region {burst_region!r}: not a known {burst_cloud} region")
        clusters.append(_cluster("burst", burst_cloud, burst_region, choices, profile))
    if any(c["cloud"] == "gcp" for c in clusters) and not choices.gcp_project:
        raise NewStackError("--gcp-project: required when a cluster is on GCP")
    if choices.jwt_issuer is None and choices.profile != "dev":
        raise NewStackError(
            f"--jwt-issuer: required with --from {choices.profile}: every request must carry a token "
            "(an https URL, your identity provider's issuer)"
        )
    jwks = choices.jwks_uri
    if choices.jwt_issuer is not None and jwks is None:
        jwks = choices.jwt_issuer.rstrip("/") + "/.well-known/jwks.json"
    template = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    ).get_template("stack.yaml.j2")
    return template.render(
        name=choices.name,
        environment=choices.profile,
        today=dt.date.today().isoformat(),
        owner=choices.owner,
        cost_center=choices.cost_center or f"cc-inference-{choices.name}",
        gcp_project=choices.gcp_project,
        model=choices.model,
        precision=choices.precision,
        accelerator=choices.accelerator,
        kubernetes_version=max(catalog().eks_addons, key=lambda v: tuple(map(int, v.split(".")))),
        profile=asdict(profile),
        clusters=clusters,
        core=clusters[0],
        core2=clusters[1] if choices.secondary_region else None,
        burst=next((c for c in clusters if c["role"] == "burst"), None),
        database_class=profile.database_class[choices.cloud],
        domain=choices.domain,
        budget=choices.budget or profile.budget,
        secrets_region=choices.secrets_region,
        jwt_issuer=choices.jwt_issuer,
        jwks_uri=jwks,
    )


def check(text: str, source: str) -> None:
    """Parse the text as Pulumi would and validate it with the settings model."""
    document = yaml.safe_load(text)
    config = {(k if ":" in k else f"inferstack:{k}"): v for k, v in document["config"].items()}
    try:
        parse_settings(project_config(config), source)
    except SettingsError as error:
        raise NewStackError(str(error)) from None


def write(choices: Choices, directory: Path) -> Path:
    path = directory / f"Pulumi.{choices.name}.yaml"
    if path.exists():
        raise NewStackError(f"{path}: exists; new-stack never overwrites a stack file (choose another NAME)")
    text = render(choices)
    check(text, str(path))
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
