"""The pack on each shipped stack's first preview, where every value the clouds compute is unknown.

This is the graph the analyzer judges before a first `pulumi up`: a KMS key's ARN, a VPC id, a
kubeconfig are all unknown. A guard that reads one of them is reported by the SDK as an advisory
"can't run during preview" note, and its mandatory check is lost without a word; these tests make
that a failure.
"""

from __future__ import annotations

import pytest

from inferstack.policy import check
from tests.conftest import first_preview

STACKS = ["dev", "staging", "prod", "onprem"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_mandatory_guard_runs_on_the_first_preview(stack: str) -> None:
    graph = first_preview(stack)
    unknowns = sum(str(r.inputs).count("[unknown]") for r in graph.resources)
    assert unknowns > 50, "the first preview should carry the unknowns a real one has"
    outcome = check(graph)
    lost = [d for d in outcome.degraded if d["enforcement"] == "mandatory"]
    assert lost == [], "\n".join(f"{d['urn']}: {d['message']}" for d in lost)


@pytest.mark.parametrize("stack", STACKS)
def test_the_first_preview_has_no_mandatory_violation(stack: str) -> None:
    outcome = check(first_preview(stack))
    assert [v for v in outcome.violations if v["enforcement"] == "mandatory"] == []


def test_a_guard_that_reads_an_unknown_value_is_reported_as_lost() -> None:
    """The offline run degrades a guard exactly where the SDK would: on reading an unknown value."""
    from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

    def reads_the_key(args, report) -> None:  # type: ignore[no-untyped-def]
        if (
            args.resource_type == "aws:eks/cluster:Cluster"
            and not args.props["encryptionConfig"]["provider"]["keyArn"]
        ):
            report("no key", None)

    naive = ResourceValidationPolicy(
        name="naive",
        description="reads a key ARN",
        validate=reads_the_key,
        enforcement_level=EnforcementLevel.MANDATORY,
    )
    outcome = check(first_preview("prod"), [naive], {})
    assert outcome.violations == []
    eks = [d for d in outcome.degraded if "aws:eks/cluster:Cluster" in (d["urn"] or "")]
    assert eks and all("encryptionConfig.provider.keyArn" in d["message"] for d in eks)
