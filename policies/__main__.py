"""Registers the pack. The policy host runs this folder with only the folder on sys.path."""

from aws import POLICIES as AWS  # type: ignore[import-not-found]
from cost import POLICIES as COST  # type: ignore[import-not-found]
from gcp import POLICIES as GCP  # type: ignore[import-not-found]
from kubernetes_guards import POLICIES as KUBERNETES  # type: ignore[import-not-found]
from pulumi_policy import EnforcementLevel, PolicyPack
from reliability import POLICIES as RELIABILITY  # type: ignore[import-not-found]
from stack import POLICIES as STACK  # type: ignore[import-not-found]

PolicyPack(
    name="inferstack",
    policies=[*AWS, *GCP, *KUBERNETES, *RELIABILITY, *STACK, *COST],
    enforcement_level=EnforcementLevel.MANDATORY,
)
