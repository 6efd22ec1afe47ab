"""The drift job tells drift from failure by the preview's JSON, and keeps one issue per stack.

The samples in tests/data/drift/ have the shape `pulumi preview --json` prints (pulumi/pulumi
``PreviewDigest``): a clean stack, a drifted one (a rule removed out of band, a health check
deleted), and a preview that failed part-way while also listing a change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from inferstack import drift
from tests.conftest import ROOT

SAMPLES = ROOT / "tests" / "data" / "drift"
REPO = "acme/inferstack"
RUN = "https://github.com/acme/inferstack/actions/runs/42"


def sample(name: str) -> str:
    return (SAMPLES / f"{name}.json").read_text(encoding="utf-8")


class FakeGh:
    """Records every gh call; answers `issue list` with the open issues it is given."""

    def __init__(self, open_issues: list[dict[str, object]] | None = None) -> None:
        self.open_issues = open_issues or []
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, args: Sequence[str], stdin: str | None) -> str:
        self.calls.append((list(args), stdin))
        if list(args[:2]) == ["issue", "list"]:
            return json.dumps(self.open_issues)
        return ""

    def writes(self) -> list[tuple[list[str], str | None]]:
        return [(a, s) for a, s in self.calls if a[:2] != ["issue", "list"]]


# --- classify ------------------------------------------------------------------------------------


def test_a_clean_preview_is_clean() -> None:
    verdict = drift.classify(sample("clean"), 0)
    assert verdict.kind == "clean"
    assert verdict.summary == {"same": 212}


def test_changes_are_drift_and_name_the_resources() -> None:
    verdict = drift.classify(sample("drift"), 7)
    assert verdict.kind == "drift"
    assert "1 to create, 1 to update" in verdict.reason
    assert [(c.op, c.resource, c.diff) for c in verdict.changes] == [
        ("update", "aws:ec2/securityGroup:SecurityGroup core-use1-deployers", ("ingress",)),
        ("create", "aws:route53/healthCheck:HealthCheck api-dev-burst-usc1", ()),
    ]


def test_older_clis_exit_255_on_drift_and_it_is_still_drift() -> None:
    assert drift.classify(sample("drift"), 255).kind == "drift"


def test_an_error_diagnostic_is_a_failure_even_with_changes_listed() -> None:
    verdict = drift.classify(sample("failure"), 255)
    assert verdict.kind == "failure"
    assert "cluster is unreachable" in verdict.reason


def test_a_warning_alone_is_not_a_failure() -> None:
    digest = json.loads(sample("clean"))
    digest["diagnostics"] = [{"message": "warning: zone not delegated", "severity": "warning"}]
    assert drift.classify(json.dumps(digest), 0).kind == "clean"


@pytest.mark.parametrize(
    "stdout", ["", "error: failed to decrypt encrypted configuration value 'onpremKubeconfig'", "[]"]
)
def test_no_json_digest_is_a_failure(stdout: str) -> None:
    verdict = drift.classify(stdout, 255)
    assert verdict.kind == "failure"
    assert "no JSON digest" in verdict.reason


def test_a_non_zero_exit_without_a_change_is_a_failure() -> None:
    verdict = drift.classify(sample("clean"), 255)
    assert verdict.kind == "failure"
    assert "exited 255" in verdict.reason


@pytest.mark.parametrize("op", sorted(drift.NOT_CHANGES))
def test_operations_that_change_nothing_are_not_drift(op: str) -> None:
    digest = {"changeSummary": {op: 3}, "steps": [{"op": op, "urn": "urn:pulumi:dev::p::t::n"}]}
    assert drift.classify(json.dumps(digest), 0).kind == "clean"


@pytest.mark.parametrize("op", ["create", "update", "delete", "replace", "refresh", "import"])
def test_operations_that_change_something_are_drift(op: str) -> None:
    digest = {"changeSummary": {"same": 3, op: 1}, "steps": [{"op": op, "urn": "urn:pulumi:dev::p::t::n"}]}
    assert drift.classify(json.dumps(digest), 7).kind == "drift"


# --- the issue -----------------------------------------------------------------------------------


def test_drift_opens_the_stacks_issue_with_the_changes() -> None:
    gh = FakeGh()
    said = drift.report(gh, repo=REPO, stack="dev", verdict=drift.classify(sample("drift"), 7), run_url=RUN)
    assert said == "dev: drift, opened an issue"
    (label, _), (create, body) = gh.writes()
    assert label[:3] == ["label", "create", "drift"] and "--force" in label
    assert create[:2] == ["issue", "create"]
    assert create[create.index("--title") + 1] == "Drift in stack dev"
    assert create[create.index("--label") + 1] == "drift"
    assert body is not None
    assert "| update | `aws:ec2/securityGroup:SecurityGroup core-use1-deployers` | ingress |" in body
    assert RUN in body


def test_drift_updates_the_open_issue_of_that_stack_only() -> None:
    gh = FakeGh(
        [{"number": 3, "title": "Drift in stack dev-2"}, {"number": 5, "title": "Drift in stack dev"}]
    )
    said = drift.report(gh, repo=REPO, stack="dev", verdict=drift.classify(sample("drift"), 7), run_url=RUN)
    assert said == "dev: drift, updated #5"
    (label, _), (edit, body) = gh.writes()
    assert label[:3] == ["label", "create", "drift"]
    assert edit[:3] == ["issue", "edit", "5"] and edit[-2:] == ["--body-file", "-"]
    assert body is not None and "core-use1-deployers" in body


def test_the_open_issues_are_listed_by_label_and_state() -> None:
    gh = FakeGh()
    drift.open_issue(gh, REPO, "dev")
    [(listing, _)] = gh.calls
    assert listing[listing.index("--label") + 1] == "drift"
    assert listing[listing.index("--state") + 1] == "open"
    assert listing[listing.index("--repo") + 1] == REPO


def test_a_clean_stack_closes_its_issue() -> None:
    gh = FakeGh([{"number": 5, "title": "Drift in stack dev"}])
    said = drift.report(gh, repo=REPO, stack="dev", verdict=drift.classify(sample("clean"), 0), run_url=RUN)
    assert said == "dev: no drift, closed #5"
    [(close, _)] = gh.writes()
    assert close[:3] == ["issue", "close", "5"]
    assert RUN in close[close.index("--comment") + 1]


def test_a_clean_stack_without_an_issue_writes_nothing() -> None:
    gh = FakeGh([{"number": 3, "title": "Drift in stack prod"}])
    said = drift.report(gh, repo=REPO, stack="dev", verdict=drift.classify(sample("clean"), 0), run_url=RUN)
    assert said == "dev: no drift"
    assert gh.calls and gh.writes() == []


def test_a_failure_leaves_the_issue_alone() -> None:
    gh = FakeGh([{"number": 5, "title": "Drift in stack dev"}])
    verdict = drift.classify(sample("failure"), 255)
    said = drift.report(gh, repo=REPO, stack="dev", verdict=verdict, run_url=RUN)
    assert said.startswith("dev: preview failed")
    assert gh.calls == []


def test_a_long_change_list_is_cut_and_counted() -> None:
    steps = [{"op": "update", "urn": f"urn:pulumi:dev::p::aws:s3/bucket:Bucket::b{i}"} for i in range(60)]
    verdict = drift.classify(json.dumps({"changeSummary": {"update": 60}, "steps": steps}), 7)
    body = drift.issue_body("dev", verdict, RUN)
    assert body.count("| update |") == drift.MAX_LISTED
    assert "| ... | 10 more in the run's log | |" in body


# --- the command ---------------------------------------------------------------------------------


def args(preview: Path, exit_code: int) -> list[str]:
    return [
        "--stack", "dev", "--preview", str(preview), "--exit-code", str(exit_code),
        "--repo", REPO, "--run-url", RUN,
    ]  # fmt: skip


def test_the_command_exits_0_on_drift_and_1_on_failure() -> None:
    assert drift.main(args(SAMPLES / "drift.json", 7), gh=FakeGh()) == 0
    assert drift.main(args(SAMPLES / "clean.json", 0), gh=FakeGh()) == 0
    assert drift.main(args(SAMPLES / "failure.json", 255), gh=FakeGh()) == 1


def test_a_preview_that_left_no_file_is_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gh = FakeGh()
    assert drift.main(args(tmp_path / "missing.json", 255), gh=gh) == 1
    assert gh.calls == []
    assert "no JSON digest" in capsys.readouterr().out
