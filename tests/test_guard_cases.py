"""Every guard of the pack against its fixtures: a failing case per condition and a passing one.

The cases live beside this file (tests/guards/cases_*.py), one module per concern of the pack.
Each runs through inferstack.policy.check, which hands the guard its props inside the SDK's
unknown-checking proxy, as the analyzer does; a case that makes a guard read an unknown value
fails here, because at preview that guard would silently turn advisory.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tests.guards
from inferstack.policy import PACK, check
from tests.guards.case import STACK, Case, graph_of, urn

BY_NAME = {p.name: p for p in PACK}


def _cases() -> list[Case]:
    found: list[Case] = []
    for module in pkgutil.iter_modules(tests.guards.__path__):
        if module.name.startswith("cases_"):
            found.extend(importlib.import_module(f"tests.guards.{module.name}").CASES)
    return found


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_guard_case(case: Case) -> None:
    policy = BY_NAME[case.policy]
    outcome = check(graph_of(case), [policy], {case.policy: {"enforcementLevel": "mandatory", **case.config}})
    assert outcome.degraded == [], f"{case.policy} read a value unknown at preview: {outcome.degraded}"
    if not case.violates:
        assert outcome.violations == [], f"{case.condition}: {outcome.violations}"
        return
    assert outcome.violations, f"{case.policy} missed: {case.condition}"
    if case.culprit == STACK:
        assert None in {v["urn"] for v in outcome.violations}, outcome.violations
        return
    culprit = next(r for r in case.resources if r.name == (case.culprit or case.resources[0].name))
    assert urn(culprit) in {v["urn"] for v in outcome.violations}, outcome.violations


def test_every_guard_has_a_failing_and_a_passing_case() -> None:
    assert len(PACK) == len(BY_NAME), "two policies share a name"
    unknown = sorted({c.policy for c in CASES} - set(BY_NAME))
    assert unknown == [], f"cases for policies the pack does not register: {unknown}"
    lacking = [
        p.name
        for p in PACK
        if not any(c.policy == p.name and c.violates for c in CASES)
        or not any(c.policy == p.name and not c.violates for c in CASES)
    ]
    assert lacking == [], f"guards without both a failing and a passing case: {lacking}"


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
