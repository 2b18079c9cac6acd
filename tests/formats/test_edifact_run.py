"""The same interchange twice in one file, through a real ``tradelane run --once`` (issue 13):
delivered once, the repeat quarantined with its reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.project import REPO, ProjectDir, copy_partners

GOOD = (REPO / "tests" / "cases" / "edifact_orders" / "input.edi").read_text()
#: where the repeat's UNB is: after the first interchange (its UNA counts) and its own UNA
REPEAT_UNB = GOOD.count("'") + 2
REPEAT_BYTE = len(GOOD) + len("UNA:+.? '\n")


def run_once(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradelane", "run", "--once", "-C", str(root)],
                          capture_output=True, text=True, timeout=300, check=False)


def setup(project: ProjectDir, isolate: bool) -> ProjectDir:
    spec = (REPO / "mappings" / "edifact_orders.yaml").read_text()
    copy_partners(project.root)
    spec = spec.replace("isolate_messages: false", f"isolate_messages: {str(isolate).lower()}")
    project.route("edifact_orders", spec)
    project.drop("edifact_orders", "ORDERS_twice.edi", GOOD + GOOD)  # a resend, concatenated
    return project


def reasons(project: ProjectDir) -> list[tuple[Path, dict]]:
    return [(p, json.loads(p.with_name(p.name + ".reason.json").read_text()))
            for p in project.quarantined("edifact_orders")]


def test_run_delivers_the_interchange_once_and_quarantines_the_repeat(
        project: ProjectDir) -> None:
    setup(project, isolate=True)
    done = run_once(project.root)
    # the file is delivered, its repeat split out into quarantine: "some quarantined" (3)
    assert done.returncode == 3, done.stderr
    assert "1 delivered, 2 records split out" in done.stdout
    [output] = project.outputs("edifact_orders")
    orders = [r["order_id"] for r in json.loads(output.read_text())]
    assert orders == ["PO-77001", "PO-77001", "PO-77002"]  # once, not twice
    [(rejects, why)] = reasons(project)
    assert why["stage"] == "read"
    assert {e["rule"] for e in why["errors"]} == {"duplicate_control_reference"}
    assert why["error_count"] == 2  # both of its messages
    assert [e["location"] for e in why["errors"]] == [
        f"message {n} ({ref}), segment {REPEAT_UNB} (byte {REPEAT_BYTE})"
        for n, ref in ((3, 1), (4, 2))]
    assert "UNB 0020 'ORD0001' repeats the one at segment 2" in why["errors"][0]["message"]
    text = rejects.read_text()
    assert text.count("UNH+") == 2 and "PO-77001" in text and "PO-77002" in text
    # the repeat is an interchange of its own again, reprocessable (a fresh reference)
    assert "ORD0001" not in text.split("\n")[1]


def test_run_without_isolation_refuses_the_file_and_delivers_nothing(
        project: ProjectDir) -> None:
    setup(project, isolate=False)
    done = run_once(project.root)
    assert done.returncode == 3, done.stderr
    assert project.outputs("edifact_orders") == []
    [(_, why)] = reasons(project)
    [error] = why["errors"]
    assert error["rule"] == "duplicate_control_reference"
    assert error["location"] == f"segment {REPEAT_UNB} (byte {REPEAT_BYTE})"
    assert error["message"] == ("UNB 0020 'ORD0001' repeats the one at segment 2; a control"
                                " reference is delivered once")
    assert why["reprocess"].startswith("tradelane quarantine reprocess")
