"""Control-number sequences (issue 17): what a partner receives is numbered from its own
sequences, a retry writes the same numbers, a rollover starts again with an alert."""

from __future__ import annotations

import re
from pathlib import Path

from support.project import REPO, ProjectDir
from support.retailer import invoic_out_route, retailer
from tradelane.ledger.alerts import Incidents
from tradelane.models import Outcome
from tradelane.sequences import Sequences

CASES = REPO / "tests" / "cases"


def _project(project: ProjectDir, *, start: int = 1, max: int = 99999999,
             width: int = 8) -> ProjectDir:
    project.file("partners/retailer.yaml", retailer(
        interchange=f"{{start: {start}, max: {max}, width: {width}}}",
        message="{start: 1, max: 999999}", x12=False))
    project.route("invoic_out", f"partner: retailer\n{invoic_out_route(min_age=None)}")
    return project


def _input(n: int) -> bytes:
    """The golden input with its invoice numbers changed: another file, other content."""
    text = (CASES / "invoic_out" / "input.csv").read_text()
    return re.sub(r"INV-9(\d+)", lambda m: f"INV-{n}{m.group(1)}", text).encode()


def _refs(path: Path) -> tuple[str, list[str], str]:
    """(UNB 0020, the UNH 0062s, UNZ 0020) of an interchange."""
    text = path.read_text(encoding="latin-1")
    unb = re.search(r"UNB\+[^']*\+(\w+)'", text)
    unz = re.search(r"UNZ\+\d+\+(\w+)'", text)
    assert unb and unz
    return unb.group(1), re.findall(r"UNH\+(\w+)\+", text), unz.group(1)


def _deliver(project: ProjectDir, name: str, content: bytes) -> Path:
    project.drop("invoic_out", name, content)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    return project.root / "outbox" / "invoic_out" / name.replace(".csv", ".edi")


def test_each_interchange_and_message_takes_the_next_number(project: ProjectDir) -> None:
    _project(project)
    first = _deliver(project, "INVOICES_1.csv", _input(1))
    second = _deliver(project, "INVOICES_2.csv", _input(2))
    assert _refs(first) == ("00000001", ["1", "2"], "00000001")
    assert _refs(second) == ("00000002", ["3", "4"], "00000002")
    with project.ledger() as ledger:
        nexts = {(s["standard"], s["kind"]): s["next"] for s in Sequences(ledger).next_values()}
    assert nexts == {("edifact", "interchange"): 3, ("edifact", "message"): 5}


def test_a_retry_writes_the_numbers_of_its_first_attempt(project: ProjectDir) -> None:
    _project(project)
    # an uncollected file of the same name: the first attempt cannot deliver
    blocker = project.file("outbox/invoic_out/INVOICES_1.edi", "someone else's\n")
    project.drop("invoic_out", "INVOICES_1.csv", _input(1))
    [result] = project.run().results
    assert result.outcome == Outcome.PENDING, result.message
    _deliver(project, "INVOICES_2.csv", _input(2))  # takes the next numbers meanwhile
    blocker.unlink()
    with project.ledger() as ledger:  # let the retry's backoff pass
        from sqlalchemy import update

        from tradelane.ledger.tables import files
        with ledger.begin() as conn:
            conn.execute(update(files).values(next_attempt_at=None))
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    first = project.root / "outbox" / "invoic_out" / "INVOICES_1.edi"
    second = project.root / "outbox" / "invoic_out" / "INVOICES_2.edi"
    assert _refs(first) == ("00000001", ["1", "2"], "00000001")
    assert _refs(second) == ("00000002", ["3", "4"], "00000002")


def test_past_max_the_sequence_starts_again_with_an_alert(project: ProjectDir) -> None:
    _project(project, start=7, max=8, width=1)
    refs = [_refs(_deliver(project, f"INVOICES_{n}.csv", _input(n)))[0] for n in range(1, 5)]
    assert refs == ["7", "8", "7", "8"]
    with project.ledger() as ledger:
        [incident] = [i for i in Incidents(ledger).all() if i.kind == "sequence"]
    assert "edifact interchange numbers of partner retailer reached 8 and start again" \
        " at 7" in incident.message


def test_a_partner_without_sequences_keeps_the_content_digest(project: ProjectDir) -> None:
    project.file("partners/retailer.yaml", retailer(x12=False).split("  control_numbers:")[0])
    spec = (REPO / "mappings" / "invoic_out.yaml").read_text()
    project.route("invoic_out", f"partner: retailer\n{spec}")
    out = _deliver(project, "INVOICES_1.csv", (CASES / "invoic_out" / "input.csv").read_bytes())
    # the golden output is numbered (the demo's partner has sequences): here, the digest
    numbered = (CASES / "invoic_out" / "expected.edi").read_bytes()
    assert out.read_bytes() == numbered.replace(b"+00000001'", b"+1BCF7C32C609DE'")


def test_more_messages_than_the_range_holds_leave_the_file_pending(
        project: ProjectDir) -> None:
    project.file("partners/retailer.yaml", retailer(
        interchange="{start: 1, max: 9, width: 1}", message="{start: 1, max: 2}", x12=False))
    spec = (REPO / "mappings" / "invoic_out.yaml").read_text()
    project.route("invoic_out", f"partner: retailer\n{spec}")
    three = _input(1) + b"INV-777;2026-11-25;5412345000020;1;4006381333955;Wire;1;1.00\n"
    project.drop("invoic_out", "INVOICES_1.csv", three)  # three invoices: three messages
    [result] = project.run().results
    assert result.outcome == Outcome.PENDING
    assert "partners/retailer.yaml: edifact.control_numbers.message: an output needs 3" \
        " numbers, the range 1 to 2 holds fewer" in result.message
    assert project.outputs("invoic_out") == []
