"""The pack's guards, applied offline the way the analyzer applies them."""

from __future__ import annotations

import copy
import runpy
import sys
from pathlib import Path

import pytest

from inferstack.policy import PACK, check_graph
from tests.conftest import ROOT, planned


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "onprem"])
def test_shipped_stacks_pass_every_mandatory_guard(stack: str) -> None:
    violations = check_graph(planned(stack))
    assert [v for v in violations if v["enforcement"] == "mandatory"] == []


def test_a_weakened_prod_graph_is_caught() -> None:
    prod = planned("prod")
    weakened = copy.deepcopy(prod)
    for r in weakened.resources:
        if r.type == "aws:ec2/launchTemplate:LaunchTemplate":
            r.inputs["metadataOptions"]["httpTokens"] = "optional"
    names = {v["policy"] for v in check_graph(weakened)}
    assert ("launch-template-imdsv2" in names) == bool(prod.of_type("aws:ec2/launchTemplate:LaunchTemplate"))


def test_the_pack_registers_the_same_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """policies/__main__.py, run the way the policy host runs it, registers the guards offline checks apply."""
    seen: dict = {}

    class FakePack:
        def __init__(self, *, name: str, policies: list, enforcement_level: object) -> None:
            seen.update(name=name, policies=policies)

    import pulumi_policy

    monkeypatch.setattr(pulumi_policy, "PolicyPack", FakePack)
    monkeypatch.setattr(sys, "path", [str(ROOT / "policies"), *[p for p in sys.path if p != str(ROOT)]])
    for module in ("aws", "gcp", "kubernetes_guards", "reliability", "stack", "cost"):
        sys.modules.pop(module, None)
    sys.modules.pop("cost", None)
    runpy.run_path(str(ROOT / "policies"), run_name="__main__")
    assert seen["name"] == "inferstack"
    assert [p.name for p in seen["policies"]] == [p.name for p in PACK]
    assert {"cost-budget", "eks-endpoint-private"} <= {p.name for p in PACK}
    assert Path(ROOT / "policies" / "PulumiPolicy.yaml").is_file()
