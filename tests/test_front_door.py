"""Broken stack files through the front door: the installed `inferstack plan --config-file F`.

Each must exit 2 with one line per problem, every line naming the file and the key, and never a
traceback (see also the unit tests in test_settings.py and test_project_files.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPT = Path(sys.executable).parent / "inferstack"
DEV = (ROOT / "stacks" / "Pulumi.dev.yaml").read_text()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "COLUMNS": "80",
    }
    return subprocess.run(
        [str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def refused(tmp_path: Path, text: str) -> list[str]:
    """The stderr lines of planning ``text`` as a stack file, after checking it was refused as bad input."""
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(text)
    result = run("plan", "broken", "--config-file", str(path), "--json")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = [line.removeprefix("error: ") for line in result.stderr.splitlines() if line.strip()]
    for line in lines:
        assert path.name in line, line
    return lines


def edit(old: str, new: str) -> str:
    assert old in DEV, old
    return DEV.replace(old, new, 1)


POOL = "          machineType: m7i.large\n          minSize: 1\n          maxSize: 3\n"

CASES = {
    "boolean size": (
        edit(POOL, POOL.replace("maxSize: 3", "maxSize: true")),
        "inferstack:clusters[0].nodePools[0].maxSize: true is a boolean",
    ),
    "overlapping networks": (
        edit("      region: us-central1\n", "      region: us-central1\n      networkCidr: 10.16.0.0/16\n"),
        "inferstack:clusters[1].networkCidr: 10.16.0.0/16 overlaps",
    ),
    "internet in pieces": (
        edit(
            "      region: us-central1\n",
            "      region: us-central1\n      endpointAccess: public\n"
            "      publicAccessCidrs: [0.0.0.0/1, 128.0.0.0/1]\n",
        ),
        "inferstack:clusters[1].publicAccessCidrs: 0.0.0.0/1, 128.0.0.0/1 together cover the whole internet",
    ),
    "database class": (
        edit("instanceClass: db.t4g.medium", "instanceClass: db.banana"),
        "inferstack:database.instanceClass: 'db.banana' is not an Aurora PostgreSQL instance class",
    ),
    "cache node type": (
        edit("nodeType: cache.t4g.small", "nodeType: cache.banana"),
        "inferstack:cache.nodeType: 'cache.banana' is not an ElastiCache node type",
    ),
    "node label": (
        edit(POOL, POOL + "          labels: {'Bad Key': x}\n"),
        "inferstack:clusters[0].nodePools[0].labels.Bad Key: 'Bad Key' is not a node label key",
    ),
    "pool above the provider limit": (
        edit(POOL, POOL.replace("maxSize: 3", "maxSize: 500")),
        "inferstack:clusters[0].nodePools[0].maxSize: 500; an EKS managed node group holds at most 450",
    ),
    "tag value": (
        edit("costCenter: cc-inference-dev", "costCenter: 'cc;inference'"),
        "inferstack:costCenter: 'cc;inference' is not an AWS tag value",
    ),
    "accelerator aws nodes do not serve": (
        edit(
            "machineType: g6.xlarge\n          accelerator: L4",
            "machineType: trn1.32xlarge\n          accelerator: Trainium",
        ),
        "inferstack:clusters[0].nodePools[1].machineType: trn1.32xlarge carries 16x Trainium",
    ),
    "unquoted version": (
        edit('      kubernetesVersion: "1.35"\n', "      kubernetesVersion: 1.35\n"),
        'inferstack:clusters[0].kubernetesVersion: 1.35 is a number; write it as a string: kubernetesVersion: "1.35"',
    ),
    "key given twice": (
        edit(POOL, POOL + "          maxSize: 4\n"),
        "key 'maxSize' is given twice in one mapping",
    ),
    "misspelt namespace": (
        edit("  owner: platform-team\n", "  inferstak:owner: platform-team\n"),
        "inferstak:owner: unknown namespace 'inferstak'; did you mean 'inferstack'?",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_input_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    text, expected = CASES[case]
    lines = refused(tmp_path, text)
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]


def test_three_problems_print_three_lines(tmp_path: Path) -> None:
    text = (
        edit(POOL, POOL.replace("minSize: 1", "minSize: 5"))
        .replace("logRetentionDays: 7", "logRetentionDays: 10")
        .replace("instanceClass: db.t4g.medium", "instanceClass: db.r6g.larg")
    )
    lines = refused(tmp_path, text)
    assert len(lines) == 3, lines
    keys = sorted(line.split(": ")[1] for line in lines)
    assert keys == [
        "inferstack:clusters[0].nodePools[0].minSize",
        "inferstack:database.instanceClass",
        "inferstack:logRetentionDays",
    ]
    assert not any("more problem" in line for line in lines)


@pytest.mark.parametrize("stack", ["../x", "stacks/Pulumi.dev"])
def test_a_stack_name_with_a_path_separator_exits_2(stack: str) -> None:
    result = run("plan", stack)
    assert result.returncode == 2
    assert "is not a stack name" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_stack_lists_the_stacks() -> None:
    result = run("plan", "prdo")
    assert result.returncode == 2
    assert "stacks: dev, onprem, prod, staging" in result.stderr and "Traceback" not in result.stderr


def test_quiet_prints_nothing_but_keeps_the_exit_code_and_the_json() -> None:
    quiet = run("--quiet", "plan", "dev")
    assert quiet.returncode == 0 and quiet.stdout == ""
    as_json = run("-q", "plan", "dev", "--json")
    assert json.loads(as_json.stdout)["stack"] == "dev"


def test_piped_output_has_no_colour_codes_and_no_progress_line() -> None:
    result = run("plan", "dev")
    assert result.returncode == 0
    assert "\x1b[" not in result.stdout and "\x1b[" not in result.stderr
    assert "planning dev offline" not in result.stderr


def test_a_secrets_manager_arn_is_printed_as_written() -> None:
    """`:secret:` inside an ARN is text; a console that reads it as an emoji code garbles the ARN."""
    result = run("plan", "onprem")
    assert result.returncode == 0, result.stderr
    assert ":secret:inferstack/onprem/kubeconfig" in result.stdout
