"""X12 routes end to end: the demo x12_850 mapping through the real pipeline and the real CLI,
real files, real ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.project import REPO, ProjectDir
from tradelane.formats.x12 import X12File, iter_transactions
from tradelane.models import Outcome

CASES = REPO / "tests" / "cases"
PO = (CASES / "x12_850" / "input.x12").read_text()
SPEC = (REPO / "mappings" / "x12_850.yaml").read_text()


def x12_route(project: ProjectDir, *, isolate: bool = False, split: bool = False,
              fields: str = "") -> ProjectDir:
    spec = SPEC.replace("  min_age: 5s\n", "  min_age: 0s\n")
    if isolate:
        spec = spec.replace("  type: x12\n", "  type: x12\n  isolate_messages: true\n")
    if split:
        spec += "on_invalid: split\n"
    if fields:
        spec = spec.replace("fields:\n", f"fields:\n{fields}").replace(
            "output: [po_number,", "output: [_interchange, set, po_number,")
    return project.route("x12_850", spec)


def reasons(project: ProjectDir) -> list[dict]:
    return [json.loads(p.with_name(p.name + ".reason.json").read_text())
            for p in project.quarantined("x12_850")]


def csv_lines(project: ProjectDir) -> list[str]:
    return [line for p in project.outputs("x12_850") for line in p.read_text().splitlines()[1:]]


def test_run_once_delivers_a_twice_sent_interchange_once_and_quarantines_the_repeat(
        project: ProjectDir) -> None:
    """The real command, as ops run it: one file holding the same interchange twice (a resend
    concatenated into one batch)."""
    x12_route(project, isolate=True)
    project.drop("x12_850", "PO_batch.x12", PO + PO)
    done = subprocess.run([sys.executable, "-m", "tradelane", "run", "--once", "-C",
                           str(project.root)], capture_output=True, text=True, timeout=120)
    # the file is delivered; the repeat is a quarantined file of its own, listed for ops, so
    # the run says "some quarantined" (3), as for any split route (issue 16)
    assert done.returncode == 3, done.stdout + done.stderr
    listed = subprocess.run([sys.executable, "-m", "tradelane", "quarantine", "list", "--json",
                             "-C", str(project.root)], capture_output=True, text=True,
                            timeout=120)
    assert "PO_batch.rejected.x12" in listed.stdout, listed.stdout + listed.stderr
    assert len(csv_lines(project)) == 3  # the three PO1 lines, once
    [why] = reasons(project)
    assert why["stage"] == "read" and why["error_count"] == 1
    [error] = why["errors"]
    assert error["rule"] == "duplicate_control_reference"
    assert error["location"] == f"transaction set 2 (850 0001), segment 13 (byte {len(PO)})"
    assert "ISA13 '000000101' repeats the one at segment 1" in error["message"]
    [copy] = project.quarantined("x12_850")
    [repeat] = iter_transactions(X12File(copy.read_bytes()))
    assert repeat.interchange.control == "000000101"  # kept: reprocessing it is a duplicate
    acks = sorted((project.root / "outbox" / "acks").iterdir())
    assert [p.name.split("-", 1)[1] for p in acks] == ["997_DISTRIB01_000000101_101.x12",
                                                       "997_DISTRIB01_000000101_101_2.x12"]
    assert "AK5*A~" in acks[0].read_text() and "AK5*R~" in acks[1].read_text()


def test_without_isolation_the_file_is_refused_whole(project: ProjectDir) -> None:
    x12_route(project).drop("x12_850", "PO_batch.x12", PO + PO)
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED and csv_lines(project) == []
    [why] = reasons(project)
    assert why["errors"][0]["location"] == f"segment 13 (byte {len(PO)})"
    assert why["errors"][0]["rule"] == "duplicate_control_reference"


def test_record_links_are_mappable_fields(project: ProjectDir) -> None:
    fields = "  _interchange: {}\n  set: {source: _message}\n"
    x12_route(project, fields=fields).drop("x12_850", "PO_1.x12", PO)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED
    assert csv_lines(project)[0].startswith('"000000101","0001","4500012345",')


def test_split_sends_a_set_with_a_bad_record_back_as_x12(project: ProjectDir) -> None:
    second = PO[PO.index("ST*"):PO.index("GE*")].replace("0001", "0002").replace(
        "PO1*2*6*CS", "PO1*2*lots*CS")
    text = PO.replace("GE*1*101~\n", second + "GE*2*101~\n")
    x12_route(project, split=True).drop("x12_850", "PO_two.x12", text)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED and len(csv_lines(project)) == 3
    [copy] = project.quarantined("x12_850")
    [back] = iter_transactions(X12File(copy.read_bytes()))
    assert back.control == "0002" and "PO1*2*lots*CS" in copy.read_text()
    [why] = reasons(project)
    assert why["errors"][0]["field"] == "qty"
    assert why["errors"][0]["original_location"].startswith("transaction 2, segment ")
    # the set is the first of the rejects file: the place is where the rejects file has it
    here = copy.read_bytes().index(b"PO1*2*lots")
    assert why["errors"][0]["location"] == f"transaction 1, segment 7 (byte {here})"


def test_history_keeps_the_ta1_received(project: ProjectDir) -> None:
    text = PO.replace("~\nGS*", "~\nTA1*000000777*261124*2300*A*000~\nGS*", 1)
    x12_route(project).drop("x12_850", "PO_ta1.x12", text)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED
    with project.ledger() as ledger:
        events = ledger.events(result.file_id)
    assert any("TA1 (segment 2) acknowledges interchange '000000777'" in e.detail
               for e in events)
    # and the interchange and transaction sets it delivered
    assert any("interchange 000000101 from DISTRIB01 to TRADELANE: 1 message (0001)" in e.detail
               for e in events)


def test_the_demo_route_still_gives_its_golden_output(project: ProjectDir) -> None:
    x12_route(project).drop("x12_850", "PO_case.x12", PO)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED
    [output] = project.outputs("x12_850")
    assert output.read_bytes() == (CASES / "x12_850" / "expected.csv").read_bytes()


def test_examples_stay_readable() -> None:
    for path in (REPO / "examples" / "x12_850").iterdir():
        assert list(iter_transactions(X12File(Path(path).read_bytes())))
