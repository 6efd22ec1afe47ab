"""Registers the pack. The policy host runs this folder with only the folder on sys.path."""

from guards import POLICIES  # type: ignore[import-not-found]
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="inferstack", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
