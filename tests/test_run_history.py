"""The run history counts duplicates apart from quarantined files (issue 16): content already
delivered, sent again, is nothing to fix."""

from __future__ import annotations

import json
import subprocess
import sys

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir
from tradelane.models import Outcome


def test_a_run_of_duplicates_counts_them_as_duplicates(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "a.csv", GOOD_CSV)
    project.run()
    project.drop("orders", "again.csv", GOOD_CSV)  # the same content under another name
    project.drop("orders", "bad.csv", GOOD_CSV.replace("PO-2;1", "PO-2;0"))
    outcomes = sorted(r.outcome for r in project.run().results)
    assert outcomes == [Outcome.DUPLICATE, Outcome.QUARANTINED]
    with project.ledger() as ledger:
        run = ledger.last_runs()["orders"]
    assert (run["delivered"], run["quarantined"], run["duplicates"], run["pending"]) == (
        0, 1, 1, 0)
    status = subprocess.run([sys.executable, "-m", "tradelane", "status", "--json", "-C",
                             str(project.root)], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    [row] = json.loads(status.stdout)
    assert row["last_result"] == "0 delivered, 1 quarantined, 0 pending, 1 duplicates"
    assert (row["quarantined"], row["duplicates"]) == (1, 1)


def test_a_run_of_only_a_duplicate_is_the_last_run_with_files(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "a.csv", GOOD_CSV)
    project.run()
    project.drop("orders", "again.csv", GOOD_CSV)
    project.run()
    project.run()  # an empty poll
    with project.ledger() as ledger:
        busy = ledger.last_runs(non_empty=True)["orders"]
    assert (busy["quarantined"], busy["duplicates"]) == (0, 1)
