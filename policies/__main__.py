"""Registers the pack. The policy host runs this folder with only the folder on sys.path."""

from cost import POLICIES as COST  # type: ignore[import-not-found]
from guards import POLICIES  # type: ignore[import-not-found]
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="inferstack", policies=[*POLICIES, *COST], enforcement_level=EnforcementLevel.MANDATORY)
