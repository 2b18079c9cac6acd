"""A local-folder route end to end: what an ops person sees in the folders and the ledger."""

from __future__ import annotations

import json
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir
from tradelane.ledger import FileRecord, utcnow
from tradelane.models import FileState, Outcome
from tradelane.runner import Runner
from tradelane.sources.local import LocalSource
from tradelane.staging import IN_MEMORY_BYTES

REASON_KEYS = {"route", "original_name", "source", "sha256", "stage", "message", "errors",
               "error_count", "attempt", "received_at", "quarantined_at", "mapping_version",
               "reprocess"}


@pytest.fixture
def orders(project: ProjectDir) -> ProjectDir:
    return project.route("orders", CSV_ROUTE)


def reason_of(path: Path) -> dict:
    return json.loads(path.with_name(path.name + ".reason.json").read_text(encoding="utf-8"))


def test_good_file_is_delivered_archived_and_recorded(orders: ProjectDir) -> None:
    orders.drop("orders", "day1.csv", GOOD_CSV)
    summary = orders.run()
    assert [r.outcome for r in summary.results] == [Outcome.DELIVERED]
    assert summary.exit_code == 0
    [out] = orders.outputs("orders")
    assert out.name == "day1.json"
    records = json.loads(out.read_text())
    assert records == [
        {"order_id": "PO-1", "qty": 5, "price": 9.5, "ship_on": "2026-12-01", "status": "open"},
        {"order_id": "PO-2", "qty": 1, "price": 100.0, "ship_on": None, "status": "closed"},
    ]
    assert orders.inbox("orders") == []
    archived = list((orders.root / "archive" / "orders").rglob("*day1.csv"))
    assert len(archived) == 1 and archived[0].read_text() == GOOD_CSV
    with orders.ledger() as ledger:
        [record] = ledger.files()
        assert record.state == FileState.ARCHIVED
        assert record.path == str(archived[0])  # where the bytes are now
        steps = [e.to_state for e in ledger.events(record.id)]
    assert steps == ["claimed", "staged", "delivered", "archived"]


def test_second_run_does_nothing(orders: ProjectDir) -> None:
    orders.drop("orders", "day1.csv", GOOD_CSV)
    orders.run()
    before = [p.stat().st_mtime_ns for p in orders.outputs("orders")]
    summary = orders.run()
    assert summary.results == [] and summary.exit_code == 0
    assert [p.stat().st_mtime_ns for p in orders.outputs("orders")] == before


def test_every_bad_row_is_reported_with_its_location(orders: ProjectDir) -> None:
    bad = ("Order;Qty;Price;ShipDate;Status\n"
           "PO-1;five;9,50;31.02.2026;open\n"
           "XX-2;0;-1;01.01.2026;maybe\n"
           ";3;1;01.01.2026;open\n")
    orders.drop("orders", "bad.csv", bad)
    summary = orders.run()
    assert summary.exit_code == 3
    assert orders.outputs("orders") == [] and orders.inbox("orders") == []
    [quarantined] = orders.quarantined("orders")
    assert quarantined.read_text() == bad  # byte for byte what the partner sent
    reason = reason_of(quarantined)
    assert reason.keys() >= REASON_KEYS
    assert reason["stage"] == "validate"
    assert reason["error_count"] == 7
    found = {(e["location"], e["field"], e["rule"]) for e in reason["errors"]}
    assert found == {
        ("row 1 (line 2)", "qty", "type"),
        ("row 1 (line 2)", "ship_on", "type"),
        ("row 2 (line 3)", "order_id", "pattern"),
        ("row 2 (line 3)", "qty", "min"),
        ("row 2 (line 3)", "price", "min"),
        ("row 2 (line 3)", "status", "enum"),
        ("row 3 (line 4)", "order_id", "required"),
    }
    ship = next(e for e in reason["errors"] if e["field"] == "ship_on")
    assert ship["value"] == "31.02.2026" and "%d.%m.%Y" in ship["message"]
    assert reason["reprocess"] == f"tradelane quarantine reprocess {reason['file_id']}"
    assert reason["original_name"] == "bad.csv" and len(reason["sha256"]) == 64


def test_reason_file_caps_errors_but_counts_them_all(orders: ProjectDir) -> None:
    rows = "".join(f"PO-{i};zero;1;;open\n" for i in range(5000))
    orders.drop("orders", "many.csv", "Order;Qty;Price;ShipDate;Status\n" + rows)
    orders.run()
    reason = reason_of(orders.quarantined("orders")[0])
    assert reason["error_count"] == 5000
    assert len(reason["errors"]) == 100
    assert reason["errors"][99]["location"] == "row 100 (line 101)"


def test_reprocess_after_fixing_the_file_delivers_it(orders: ProjectDir) -> None:
    orders.drop("orders", "fixme.csv", "Order;Qty;Price;ShipDate;Status\nPO-1;x;1;;open\n")
    orders.run()
    [quarantined] = orders.quarantined("orders")
    quarantined.write_text("Order;Qty;Price;ShipDate;Status\nPO-1;4;1;;open\n")
    with orders.ledger() as ledger:
        [record] = ledger.files()
        result = Runner(orders.load(), ledger).reprocess(record.id)
        assert result.outcome == Outcome.DELIVERED
        record = ledger.get(record.id)
        assert record.state == FileState.ARCHIVED and record.attempt == 2
    assert json.loads(orders.outputs("orders")[0].read_text())[0]["qty"] == 4
    assert orders.quarantined("orders") == []
    assert not list((orders.root / "quarantine").rglob("*.reason.json"))


def test_reprocess_of_a_still_bad_file_keeps_it_with_a_new_reason(orders: ProjectDir) -> None:
    orders.drop("orders", "bad.csv", "Order;Qty;Price;ShipDate;Status\nPO-1;x;1;;open\n")
    orders.run()
    with orders.ledger() as ledger:
        [record] = ledger.files()
        result = Runner(orders.load(), ledger).reprocess(record.id)
    assert result.outcome == Outcome.QUARANTINED
    [quarantined] = orders.quarantined("orders")
    assert reason_of(quarantined)["attempt"] == 2


def test_same_content_twice_is_a_duplicate_and_not_delivered_again(orders: ProjectDir) -> None:
    orders.drop("orders", "monday.csv", GOOD_CSV)
    orders.run()
    orders.drop("orders", "monday-resend.csv", GOOD_CSV)
    summary = orders.run()
    assert [r.outcome for r in summary.results] == [Outcome.DUPLICATE]
    assert [p.name for p in orders.outputs("orders")] == ["monday.json"]
    [dup] = orders.quarantined("orders")
    reason = reason_of(dup)
    assert reason["stage"] == "duplicate" and "already delivered as file 1" in reason["message"]
    assert reason["reprocess"].endswith("--force")


def test_same_name_different_days_both_survive_in_quarantine(orders: ProjectDir) -> None:
    orders.drop("orders", "export.csv", "Order;Qty;Price;ShipDate;Status\nPO-1;x;;;\n")
    orders.run()
    orders.drop("orders", "export.csv", "Order;Qty;Price;ShipDate;Status\nPO-2;y;;;\n")
    orders.run()
    quarantined = orders.quarantined("orders")
    assert len(quarantined) == 2
    assert {p.read_text().splitlines()[1][:4] for p in quarantined} == {"PO-1", "PO-2"}


def test_file_still_being_written_is_not_picked_up(orders: ProjectDir) -> None:
    orders.drop("orders", "fresh.csv", GOOD_CSV, age=0)
    orders.drop("orders", "upload.csv.part", GOOD_CSV)
    orders.drop("orders", ".hidden.csv", GOOD_CSV)
    assert orders.run().results == []
    assert len(orders.inbox("orders")) == 3  # all untouched, waiting


def test_output_folder_blocked_keeps_file_pending_and_retries(orders: ProjectDir) -> None:
    orders.file("outbox/orders", "a file where the output folder should be")
    orders.drop("orders", "day1.csv", GOOD_CSV)
    summary = orders.run()
    assert [r.outcome for r in summary.results] == [Outcome.PENDING]
    assert summary.exit_code == 4
    assert [p.name for p in orders.inbox("orders")] == ["day1.csv"]  # nothing lost
    assert orders.quarantined("orders") == []
    with orders.ledger() as ledger:
        [record] = ledger.files()
        assert record.state == FileState.PENDING and "cannot write" in record.message
        assert record.next_attempt_at is not None
    assert orders.run().results == []  # not due yet: backoff
    (orders.root / "outbox" / "orders").unlink()  # the operator clears the way
    orders.settings("retry_backoff: 0s\n")
    with orders.ledger() as ledger:  # the backoff has elapsed
        ledger.transition(record.id, FileState.PENDING, FileState.PENDING, "due",
                          next_attempt_at=None)
    summary = orders.run()
    assert [r.outcome for r in summary.results] == [Outcome.DELIVERED]
    with orders.ledger() as ledger:
        [record] = ledger.files()
        assert record.attempt == 2 and record.state == FileState.ARCHIVED


def test_empty_file_is_quarantined(orders: ProjectDir) -> None:
    orders.drop("orders", "empty.csv", b"")
    orders.run()
    reason = reason_of(orders.quarantined("orders")[0])
    assert reason["stage"] == "read" and "empty" in reason["message"]


@pytest.mark.parametrize("name", ["orders..2026.csv", "-rf.csv", "Bestellung_Müller_äöü.csv",
                                  "x" * 246 + ".csv", "with space.csv"])
def test_awkward_names_are_processed_safely(orders: ProjectDir, name: str) -> None:
    orders.drop("orders", name, GOOD_CSV)
    [result] = orders.run().results
    assert result.outcome == Outcome.DELIVERED
    [out] = orders.outputs("orders")
    assert not out.name.startswith("-") and len(out.name.encode()) <= 160
    archived = [p for p in (orders.root / "archive").rglob("*") if p.is_file()]
    assert len(archived) == 1 and archived[0].read_text() == GOOD_CSV


def test_name_with_a_newline_is_quarantined_not_used(orders: ProjectDir) -> None:
    orders.drop("orders", "evil\nname.csv", GOOD_CSV)
    [result] = orders.run().results
    assert result.outcome == Outcome.QUARANTINED
    [quarantined] = orders.quarantined("orders")
    assert "\n" not in quarantined.name
    assert "control characters" in reason_of(quarantined)["message"]


def test_split_policy_delivers_good_rows_and_quarantines_bad_ones(project: ProjectDir) -> None:
    project.route("orders", textwrap.dedent(CSV_ROUTE) + "on_invalid: split\n")
    project.drop("orders", "mixed.csv", "Order;Qty;Price;ShipDate;Status\n"
                 "PO-1;1;1;;open\nPO-2;x;1;;open\nPO-3;3;1;;open\n")
    summary = project.run()
    assert [r.outcome for r in summary.results] == [Outcome.DELIVERED]
    delivered = json.loads(project.outputs("orders")[0].read_text())
    assert [r["order_id"] for r in delivered] == ["PO-1", "PO-3"]
    [rejects] = project.quarantined("orders")
    assert rejects.read_text().splitlines() == ['"Order";"Qty";"Price";"ShipDate";"Status"',
                                                '"PO-2";"x";"1";"";"open"']
    reason = reason_of(rejects)
    assert reason["error_count"] == 1 and reason["errors"][0]["field"] == "qty"
    # the rejects file is a valid input for the same route once fixed
    rejects.write_text(rejects.read_text().replace('"x"', '"2"'))
    with project.ledger() as ledger:
        child = next(r for r in ledger.files() if r.parent_id)
        assert Runner(project.load(), ledger).reprocess(child.id).outcome == Outcome.DELIVERED


def test_a_crash_after_delivery_does_not_deliver_twice(orders: ProjectDir) -> None:
    """Simulate a worker that died after writing the output but before the ledger commit."""
    orders.drop("orders", "day1.csv", GOOD_CSV)
    project = orders.load()
    with orders.ledger() as ledger:
        ledger.lease = timedelta(seconds=-1)  # leases expire at once
        route = project.route("orders")
        source = LocalSource(route, project.settings)
        [ref] = source.list_ready()
        record = ledger.claim(ref)
        assert record is not None
        # ... the process dies here, holding an (already expired) lease
    time.sleep(0.01)
    summary = orders.run()
    assert [r.outcome for r in summary.results] == [Outcome.DELIVERED]
    assert len(orders.outputs("orders")) == 1
    with orders.ledger() as ledger:
        [record] = ledger.files()
        details = [e.detail for e in ledger.events(record.id)]
    assert any("lease expired" in (d or "") for d in details)


def test_a_delivered_file_is_finished_by_its_own_worker_or_after_its_lease(
        orders: ProjectDir) -> None:
    """Worker A delivered a file but has not archived it yet: worker B must leave it alone,
    unless A's lease has run out (A died), and then B archives it without delivering again."""
    orders.drop("orders", "day1.csv", GOOD_CSV)
    project = orders.load()
    with orders.ledger(worker="A") as ledger:
        [ref] = LocalSource(project.route("orders"), project.settings).list_ready()
        record = ledger.claim(ref)
        assert isinstance(record, FileRecord)
        ledger.transition(record.id, FileState.CLAIMED, FileState.DELIVERED, "A delivered it")
    assert orders.run().results == []
    assert [p.name for p in orders.inbox("orders")] == ["day1.csv"]  # A still holds it
    with orders.ledger(worker="A") as ledger:
        ledger.transition(record.id, FileState.DELIVERED, FileState.DELIVERED, "A died",
                          lease_until=utcnow() - timedelta(seconds=1))
    assert orders.run().results == []
    assert orders.inbox("orders") == [] and orders.outputs("orders") == []
    with orders.ledger() as ledger:
        assert ledger.get(record.id).state == FileState.ARCHIVED


def test_an_uncollected_output_is_never_overwritten_by_a_different_file(
        orders: ProjectDir) -> None:
    """Monday's export.json is still in the outbox when Tuesday's export.csv arrives: the
    consumer has not collected it, so Tuesday waits (pending) instead of overwriting it."""
    orders.drop("orders", "export.csv", GOOD_CSV)
    orders.run()
    [monday] = orders.outputs("orders")
    first = monday.read_bytes()
    orders.drop("orders", "export.csv", GOOD_CSV.replace("PO-1", "PO-7"))
    [result] = orders.run().results
    assert result.outcome == Outcome.PENDING
    assert "has not been collected yet" in result.message
    assert monday.read_bytes() == first
    monday.unlink()  # the consumer collects Monday's file
    with orders.ledger() as ledger:  # and the retry's backoff has passed
        ledger.transition(result.file_id, FileState.PENDING, FileState.PENDING, "due",
                          next_attempt_at=None)
    [result] = orders.run().results
    assert result.outcome == Outcome.DELIVERED
    assert json.loads(monday.read_text())[0]["order_id"] == "PO-7"


def test_files_over_the_memory_limit_go_through_the_spool_and_leave_nothing_there(
        orders: ProjectDir) -> None:
    """Small files are held in memory, bigger ones copied into the spool; either way the
    archive and the quarantine get the exact bytes, and the spool is empty afterwards."""
    row = "PO-1;5;9,50;01.12.2026;open\n"
    big = "Order;Qty;Price;ShipDate;Status\n" + row * (IN_MEMORY_BYTES // len(row) + 10)
    bad_big = big + "PO-2;many;1;;open\n"
    assert len(big) > IN_MEMORY_BYTES
    orders.drop("orders", "small.csv", GOOD_CSV)
    orders.drop("orders", "big.csv", big)
    orders.drop("orders", "bad_big.csv", bad_big)
    outcomes = {r.name: r.outcome for r in orders.run().results}
    assert outcomes == {"small.csv": Outcome.DELIVERED, "big.csv": Outcome.DELIVERED,
                        "bad_big.csv": Outcome.QUARANTINED}
    archived = {p.name.split("-", 1)[1]: p.read_text()
                for p in (orders.root / "archive").rglob("*.csv")}
    assert archived == {"small.csv": GOOD_CSV, "big.csv": big}
    [quarantined] = orders.quarantined("orders")
    assert quarantined.read_text() == bad_big
    assert reason_of(quarantined)["errors"][0]["field"] == "qty"
    spool = orders.root / ".tradelane" / "spool"
    assert not spool.exists() or list(spool.iterdir()) == []
