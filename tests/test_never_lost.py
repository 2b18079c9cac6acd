"""The holes a hostile partner, a crashing host and a full disk found, each closed: what an
ops person sees in the folders, the ledger and the exit code. (tests/chaos/ proves the same
promises under random kills and injected faults.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir
from tradelane.errors import EXIT_CONFIG, EXIT_PENDING
from tradelane.ledger import Move
from tradelane.ledger.followups import Followups
from tradelane.models import FileState, Outcome
from tradelane.paths import TEMP_MARK
from tradelane.runner import Runner

TRADELANE = [sys.executable, "-m", "tradelane"]


@pytest.fixture
def orders(project: ProjectDir) -> ProjectDir:
    return project.route("orders", CSV_ROUTE)


def cli(project: ProjectDir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRADELANE, *args, "-C", str(project.root)], capture_output=True,
                          text=True, timeout=120)


def other(order: str) -> str:
    return GOOD_CSV.replace("PO-1", order)


def test_a_name_that_is_not_utf8_is_quarantined_under_a_safe_name(orders: ProjectDir) -> None:
    inbox = orders.root / "inbox" / "orders"
    orders.drop("orders", "good.csv", GOOD_CSV)
    raw = os.fsencode(inbox) + b"/M\xfcller.csv"
    with open(raw, "wb") as fh:
        fh.write(other("PO-7").encode())
    os.utime(raw, (time.time() - 120, time.time() - 120))
    summary = orders.run()
    assert sorted((r.name, r.outcome) for r in summary.results) == [
        ("M\\xfcller.csv", Outcome.QUARANTINED), ("good.csv", Outcome.DELIVERED)]
    assert summary.exit_code == 3
    [copy] = orders.quarantined("orders")
    assert copy.name.endswith("M_xfcller.csv") and copy.read_text() == other("PO-7")
    reason = json.loads(copy.with_name(copy.name + ".reason.json").read_text())
    assert reason["original_name_hex"] == b"M\xfcller.csv".hex()
    assert "not valid UTF-8" in reason["message"]
    assert orders.inbox("orders") == []  # the original left the inbox, by its bytes


def test_a_corrected_file_with_the_same_name_size_and_mtime_is_a_new_file(
        orders: ProjectDir) -> None:
    bad = GOOD_CSV.replace("open", "OPEN")
    fixed = GOOD_CSV.replace("open", "shut").replace("enum", "")
    assert len(bad) == len(fixed.replace("shut", "open")) == len(GOOD_CSV)
    path = orders.drop("orders", "day1.csv", bad)
    stamp = path.stat().st_mtime_ns
    assert [r.outcome for r in orders.run().results] == [Outcome.QUARANTINED]
    path.write_text(GOOD_CSV)  # the partner re-sends it: same name, size and mtime
    os.utime(path, ns=(stamp, stamp))
    [again] = orders.run().results
    assert again.outcome == Outcome.DELIVERED, again.message
    with orders.ledger() as ledger:
        [first, second] = ledger.files()
        assert (first.state, second.state) == (FileState.QUARANTINED, FileState.ARCHIVED)
        assert second.generation == 1
        assert "sent again" in ledger.events(second.id)[0].detail


def test_the_same_content_sent_again_is_a_visible_duplicate(orders: ProjectDir) -> None:
    path = orders.drop("orders", "day1.csv", GOOD_CSV)
    stamp = path.stat().st_mtime_ns
    orders.run()
    path = orders.drop("orders", "day1.csv", GOOD_CSV)
    os.utime(path, ns=(stamp, stamp))
    [result] = orders.run().results
    assert result.outcome == Outcome.DUPLICATE  # recorded, never skipped without a word
    assert "already delivered as file 1" in result.message


def test_a_file_that_vanished_before_it_was_read_is_lost_not_pending(
        orders: ProjectDir) -> None:
    path = orders.drop("orders", "gone.csv", GOOD_CSV)
    project = orders.load()
    with orders.ledger() as ledger, Runner(project, ledger) as runner:
        source = runner.source(project.route("orders"))
        [ref] = source.list_ready()
        path.unlink()  # the partner removes it between the listing and the read
        with source:
            results = list(runner.pipeline.take(project.route("orders"), source,
                                                _target(project), [ref]))
        assert [r.outcome for r in results] == [Outcome.PENDING]
        summary = runner.run_once()
    assert [(r.name, r.outcome) for r in summary.results] == [("gone.csv", Outcome.LOST)]
    listing = json.loads(cli(orders, "quarantine", "list", "--json").stdout)
    assert [(q["name"], q["state"]) for q in listing] == [("gone.csv", "lost")]
    assert cli(orders, "quarantine", "discard", "1", "--reason", "resent").returncode == 0


def _target(project):
    from tradelane.targets import target_for

    return target_for(project.route("orders"), project.settings)


def test_reprocessing_a_file_whose_quarantined_copy_was_deleted_makes_it_lost(
        orders: ProjectDir) -> None:
    orders.drop("orders", "bad.csv", GOOD_CSV.replace("5;", "five;"))
    orders.run()
    [copy] = orders.quarantined("orders")
    copy.unlink()
    again = cli(orders, "quarantine", "reprocess", "1")
    assert again.returncode == 3 and "is gone" in again.stdout + again.stderr
    listing = json.loads(cli(orders, "quarantine", "list", "--json").stdout)
    assert [(q["id"], q["state"]) for q in listing] == [(1, "lost")]  # still listed
    assert cli(orders, "quarantine", "discard", "1", "--reason", "gone").returncode == 0


def test_a_read_only_quarantine_leaves_the_file_pending_with_an_alert(
        orders: ProjectDir) -> None:
    if os.geteuid() == 0:
        # root writes anywhere: make the quarantine folder a file instead
        (orders.root / "quarantine").write_text("not a folder")
    else:
        (orders.root / "quarantine").mkdir()
        (orders.root / "quarantine").chmod(0o500)
    orders.drop("orders", "bad.csv", GOOD_CSV.replace("5;", "five;"))
    orders.drop("orders", "good.csv", other("PO-8"))
    done = cli(orders, "run", "--once")
    assert done.returncode == EXIT_PENDING and "Traceback" not in done.stderr
    with orders.ledger() as ledger:
        states = {r.name: r.state for r in ledger.files()}
        assert states == {"bad.csv": FileState.PENDING, "good.csv": FileState.ARCHIVED}
        alerts = [i.message for i in ledger_incidents(ledger)]
    assert any("quarantine folder cannot be written" in m for m in alerts)
    assert [p.name for p in orders.inbox("orders")] == ["bad.csv"]  # never lost
    assert not list(orders.root.rglob("*.reason.json"))  # and no reason without its file


def ledger_incidents(ledger):
    from tradelane.ledger.alerts import Incidents

    return Incidents(ledger).open_incidents()


@pytest.mark.parametrize(("damage", "code"), [("garbage", EXIT_CONFIG),
                                                ("locked", EXIT_PENDING)])
def test_a_damaged_or_unavailable_ledger_is_one_line_never_a_traceback(
        orders: ProjectDir, damage: str, code: int) -> None:
    orders.drop("orders", "day1.csv", GOOD_CSV)
    db = orders.root / ".tradelane" / "ledger.db"
    db.parent.mkdir(parents=True)
    if damage == "garbage":
        db.write_bytes(b"this is not a database" * 100)
    else:
        db.mkdir()  # a folder where the database file should be: it cannot be opened
    for command in (["run", "--once"], ["status"], ["quarantine", "list"]):
        done = cli(orders, *command)
        assert done.returncode == code, (command, done.stderr)
        assert "Traceback" not in done.stderr and str(db) in done.stderr
        assert len(done.stderr.strip().splitlines()) <= 3, done.stderr


def test_a_crash_after_the_delivery_commit_is_finished_by_the_next_run(
        orders: ProjectDir) -> None:
    """The steps after a delivery are recorded with it: the next run takes them."""
    orders.drop("orders", "day1.csv", GOOD_CSV)
    env = os.environ | {"TRADELANE_CRASH_AT": "delivered-committed"}
    crashed = subprocess.run([*TRADELANE, "run", "--once", "-C", str(orders.root)], env=env,
                             capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -9
    with orders.ledger() as ledger:
        [record] = ledger.files()
        assert record.state == FileState.DELIVERED
        assert [s.step for s in Followups(ledger).open_steps(record.id)] == ["original"]
        # its worker is gone: let the lease run out
        ledger.apply([Move(record.id, (FileState.DELIVERED,), FileState.DELIVERED, "test",
                           fields={"lease_until": None})])
    assert cli(orders, "run", "--once").returncode == 0
    with orders.ledger() as ledger:
        assert ledger.get(record.id).state == FileState.ARCHIVED
    assert orders.inbox("orders") == [] and len(orders.outputs("orders")) == 1


def test_temp_files_left_by_a_crash_are_swept_on_start(orders: ProjectDir) -> None:
    outbox = orders.root / "outbox" / "orders"
    outbox.mkdir(parents=True)
    left = outbox / f".day1.json.4242.0{TEMP_MARK}"
    left.write_bytes(b"half a file")
    young = outbox / f".day2.json.4242.1{TEMP_MARK}"
    young.write_bytes(b"still being written")
    os.utime(left, (time.time() - 3600, time.time() - 3600))
    partner = orders.root / "inbox" / "orders" / "upload.csv.part"
    partner.parent.mkdir(parents=True)
    partner.write_bytes(b"a partner's upload")
    os.utime(partner, (time.time() - 3600, time.time() - 3600))
    orders.run()
    assert not left.exists() and young.exists()  # only older than the lease
    assert partner.exists()  # a partner's folder is never touched


def test_an_archive_that_cannot_be_written_is_pending_work_with_an_alert(
        orders: ProjectDir) -> None:
    """The output is delivered, the original stays in the inbox, the run says the work is
    not finished (exit 4) and raises an alert; once the archive works, the next run archives
    it without delivering it again."""
    archive = orders.root / "archive"
    archive.write_text("not a folder")  # as root, a read-only folder would still be written
    orders.drop("orders", "day1.csv", GOOD_CSV)
    done = cli(orders, "run", "--once")
    assert done.returncode == EXIT_PENDING, done.stdout + done.stderr
    assert [p.name for p in orders.inbox("orders")] == ["day1.csv"]
    assert len(orders.outputs("orders")) == 1
    with orders.ledger() as ledger:
        [record] = ledger.files()
        assert record.state == FileState.DELIVERED
        assert any("could not be archived" in i.message for i in ledger_incidents(ledger))
    archive.unlink()
    assert cli(orders, "run", "--once").returncode == 0  # the next cron run finishes it
    with orders.ledger() as ledger:
        assert ledger.get(record.id).state == FileState.ARCHIVED
    assert orders.inbox("orders") == [] and len(orders.outputs("orders")) == 1
