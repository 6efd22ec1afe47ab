"""promtool on the rules: every rendered rule file loads, and the suites in tests/promtool/ pass.

promtool is Debian's (package `prometheus`, 2.42; `make unit` installs it). The rules are written
in the PromQL that 2.42 and the charts' Prometheus 3.x both read (infra/monitoring/rules.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from inferstack.render import render, write
from infra.monitoring.rules import (
    STACK_LABEL,
    api_alerts,
    burst_pressure_group,
    core_regions_group,
    firing_alerts_query,
    rule_file,
    rule_groups,
    stack_label,
)
from infra.settings import Monitoring
from tests.conftest import ROOT, planned
from tests.test_render import STACKS, _versions

SUITES = sorted((ROOT / "tests" / "promtool").glob("*.yaml"))
SUITE_CORE = ("core-a", "core-b", "core-c")
"""The core clusters global_alerts.yaml writes to its store."""
SUITE_BURST = ("burst-a", "burst-b")


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: install Debian's `prometheus` package (make unit does, as root)")
    return path


def _suite_folder(folder: Path, monitoring: Monitoring) -> Path:
    """The suites beside rules/<group>.yaml, one file per group, as `inferstack render` writes them."""
    (folder / "rules").mkdir(parents=True)
    groups = [
        *rule_groups(monitoring),
        core_regions_group(monitoring, SUITE_CORE),
        burst_pressure_group(SUITE_BURST),
    ]
    for group in groups:
        (folder / "rules" / f"{group.name}.yaml").write_text(
            yaml.safe_dump(rule_file([group]), sort_keys=False)
        )
    for suite in SUITES:
        shutil.copy(suite, folder / suite.name)
    return folder


def _test_rules(promtool: str, folder: Path, suite: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "test", "rules", suite],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_there_are_suites() -> None:
    assert {s.name for s in SUITES} >= {"high_latency.yaml", "recording.yaml", "anomaly.yaml"}


@pytest.mark.parametrize("suite", [s.name for s in SUITES])
def test_suite_passes_on_the_default_thresholds(promtool: str, tmp_path: Path, suite: str) -> None:
    result = _test_rules(promtool, _suite_folder(tmp_path, Monitoring()), suite)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_seeds_suite_fails_when_the_threshold_moves(promtool: str, tmp_path: Path) -> None:
    # At 1.3 s the 1.4 s case pages: the suite notices a threshold that is not the seed's.
    folder = _suite_folder(tmp_path, Monitoring.model_validate({"p99LatencySeconds": 1.3}))
    result = _test_rules(promtool, folder, "high_latency.yaml")
    assert result.returncode != 0
    assert "silent at 1.4 s" in result.stdout + result.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_rule_file_passes_promtool_check(promtool: str, tmp_path: Path, stack: str) -> None:
    graph = planned(stack)
    clusters, problems = render(graph, _versions(graph))
    assert problems == []
    files = [p for p in write(clusters, tmp_path) if p.parent.name == "rules"]
    assert files, f"{stack} renders no rule file"
    result = subprocess.run(
        [promtool, "check", "rules", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_the_gke_delivery_query_hears_the_stacks_firing_alerts_only(promtool: str, tmp_path: Path) -> None:
    """On GKE the receivers hear an alert through a Cloud Monitoring policy on its ``ALERTS`` series
    (infra/gcp/alerts.py). promtool writes those series as Managed Prometheus's rule evaluator does
    (Prometheus's rule manager into its storage), so the policies' query runs here on the seed's
    alert as the GKE objects carry it: nothing while pending, the alert once firing, nothing for
    another stack's or another severity's policy."""
    stack = stack_label("inferstack", "prod")
    group = api_alerts(Monitoring()).with_alert_labels({STACK_LABEL: stack})
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_file([group]), sort_keys=False))
    firing = (
        f'ALERTS{{alertname="HighLatency",alertstate="firing",app="deepseek",quantile="0.99",'
        f'severity="critical",{STACK_LABEL}="{stack}"}}'
    )
    suite = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'deepseek_api_latency_seconds{app="deepseek",quantile="0.99"}',
                        "values": "1.6x15",
                    }
                ],
                "promql_expr_test": [
                    {"expr": firing_alerts_query("critical", stack), "eval_time": "4m", "exp_samples": []},
                    {
                        "expr": firing_alerts_query("critical", stack),
                        "eval_time": "6m",
                        "exp_samples": [{"labels": firing, "value": 1}],
                    },
                    {
                        "expr": firing_alerts_query("critical", stack_label("inferstack", "staging")),
                        "eval_time": "6m",
                        "exp_samples": [],
                    },
                    {"expr": firing_alerts_query("warning", stack), "eval_time": "6m", "exp_samples": []},
                ],
            }
        ],
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    result = _test_rules(promtool, tmp_path, "suite.yaml")
    assert result.returncode == 0, result.stdout + result.stderr

    # Without the stack's label on the rule, the policy hears nothing: the test notices.
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump(rule_file([api_alerts(Monitoring())]), sort_keys=False)
    )
    assert _test_rules(promtool, tmp_path, "suite.yaml").returncode != 0
