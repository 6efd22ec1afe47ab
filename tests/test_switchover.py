"""After a database switchover, naming the new primary in the stack file replaces nothing.

The runbook (docs/runbooks/database-switchover.md) moves the Aurora global writer with the AWS API,
then flips ``primaryRegion`` and ``secondaryRegions`` so that the stack file says where writes go.
Pulumi replaces a resource whose URN or provider changes, so a program that named instances by
role, or managed the global cluster from the primary's region, would plan deleting the database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inferstack.engine import Graph, plan_stack
from inferstack.project import find_project
from tests.conftest import ROOT, planned

CLUSTER = "aws:rds/cluster:Cluster"

ONLY_READ_ON_DELETE: dict[str, set[str]] = {
    # What RDS does with a member when it is deleted (no replacement: the provider updates them in state).
    CLUSTER: {"skipFinalSnapshot", "finalSnapshotIdentifier"},
}


@pytest.fixture(scope="module")
def switched(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    text = (ROOT / "stacks" / "Pulumi.prod.yaml").read_text()
    old = "    primaryRegion: us-east-1\n    secondaryRegions: [us-west-2]\n"
    assert old in text
    path: Path = tmp_path_factory.mktemp("switchover") / "Pulumi.prod.yaml"
    path.write_text(text.replace(old, "    primaryRegion: us-west-2\n    secondaryRegions: [us-east-1]\n"))
    return plan_stack("prod", config_file=path, project=find_project(ROOT))


def test_no_resource_is_created_or_deleted(switched: Graph) -> None:
    before, after = planned("prod").by_urn(), switched.by_urn()
    assert sorted(set(before) ^ set(after)) == []


def test_no_resource_moves_to_another_provider(switched: Graph) -> None:
    before = planned("prod").by_urn()
    moved = [r.name for r in switched.resources if r.provider != before[r.urn].provider]
    assert moved == []


def test_what_changes_is_ignored_or_only_read_on_delete(switched: Graph) -> None:
    before = planned("prod").by_urn()
    changed: dict[str, set[str]] = {}
    for resource in switched.resources:
        old = before[resource.urn]
        keys = {k for k in {*old.inputs, *resource.inputs} if old.inputs.get(k) != resource.inputs.get(k)}
        unexplained = keys - set(resource.ignore_changes) - ONLY_READ_ON_DELETE.get(resource.type, set())
        if keys:
            changed[resource.name] = keys
        assert unexplained == set(), f"{resource.type} {resource.name}: {sorted(unexplained)} would change"
    # The flip does move the master user: the test would pass vacuously if nothing changed.
    assert {"core-use1-db", "core-usw2-db"} <= set(changed)
    assert all("masterUsername" in changed[name] for name in ("core-use1-db", "core-usw2-db"))


def test_the_applications_keep_their_writer_endpoint(switched: Graph) -> None:
    assert (
        switched.outputs["database"]["writerEndpoint"]
        == planned("prod").outputs["database"]["writerEndpoint"]
    )
