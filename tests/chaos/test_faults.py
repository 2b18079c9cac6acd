"""Injected faults against the real engine (issue 12): a full or read-only disk, a folder on
another filesystem, a damaged or read-only ledger, and a partner who swaps, grows or removes a
file between the listing and the read. Each test checks what an ops person would check: the
folders, the ledger's states, the exit code, the reason files and the alerts.

Nothing of tradelane is mocked. Disk faults are real tmpfs mounts (a size limit gives ENOSPC,
``remount,ro`` gives EROFS, a mount is another filesystem for EXDEV); they need root, and root
ignores file modes, so there is no unprivileged way to get them. Partner races go through the
one seam a source kind offers, ``fetch``: the ``racy`` kind below (registered like any
plug-in) changes the file just before, during or just after the real local fetch reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree

import pytest
from pydantic import Field

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir
from tradelane.errors import EXIT_CONFIG, EXIT_OK, EXIT_PENDING, EXIT_QUARANTINED
from tradelane.ledger import FileRecord
from tradelane.ledger.alerts import Incidents
from tradelane.models import FileRef, FileState, Outcome
from tradelane.paths import TEMP_MARK
from tradelane.registry import SOURCES, SourcePlugin
from tradelane.sources.local import LocalSource
from tradelane.spec import RouteSpec, Settings, SourceOptions
from tradelane.staging import IN_MEMORY_BYTES, Staged

TRADELANE = [sys.executable, "-m", "tradelane"]
HEADER = "Order;Qty;Price;ShipDate;Status\n"


def rows(count: int, start: int = 0) -> str:
    return "".join(f"PO-{i};5;9,50;01.12.2026;open\n" for i in range(start, start + count))


#: about 150 KB of CSV whose JSON output is about 400 KB: fits in none of the small mounts
BIG = HEADER + rows(4000)
BIG_BAD = BIG.replace("PO-2000;5;", "PO-2000;five;")  # one bad row: the file is rejected


def cli(project: ProjectDir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRADELANE, *args, "-C", str(project.root)], capture_output=True,
                          text=True, timeout=60)


def states(project: ProjectDir) -> dict[str, FileRecord]:
    with project.ledger() as ledger:
        return {r.name: r for r in ledger.files()}


def all_states(project: ProjectDir) -> list[tuple[str, FileState]]:
    """(name, state) of every file the ledger knows, by id: a name may come back."""
    with project.ledger() as ledger:
        return [(r.name, r.state) for r in ledger.files()]


def alerts(project: ProjectDir) -> list[str]:
    with project.ledger() as ledger:
        return [f"{i.kind}: {i.message}" for i in Incidents(ledger).open_incidents()]


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(TEMP_MARK)]


def everything(folder: Path) -> list[str]:
    """Every entry below ``folder``, hidden ones too, as relative paths."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def crashed(done: subprocess.CompletedProcess[str]) -> bool:
    return done.returncode == 1 or "Traceback" in done.stderr + done.stdout


# -- mounts -------------------------------------------------------------------------------------


class Mounts:
    """tmpfs mounts made by one test, unmounted after it."""

    def __init__(self) -> None:
        self.mounted: list[Path] = []

    def tmpfs(self, path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                               str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        self.mounted.append(path)
        return path

    def remount(self, path: Path, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True,
                       capture_output=True)


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8): a real ENOSPC/EROFS/EXDEV comes from a tmpfs mount"
                    " (file modes cannot fake it: root ignores them)")
    made = Mounts()
    yield made
    for path in reversed(made.mounted):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@pytest.fixture
def orders(project: ProjectDir) -> ProjectDir:
    # retries come due at once, and the monitor alerts on any file pending at all
    project.settings("retry_backoff: 10ms\nalerts: {pending_after: 10ms}\n")
    return project.route("orders", CSV_ROUTE)


# -- a full disk --------------------------------------------------------------------------------


def records_in(output: Path) -> int:
    if output.suffix == ".xml":
        return len(ElementTree.parse(output).getroot())
    return len(json.loads(output.read_text()))


# json is written in large pieces, xml element by element: a write that fails with bytes
# still buffered must not leave its temp file behind either
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_full_outbox_leaves_the_file_pending_with_nothing_partial(
        orders: ProjectDir, mounts: Mounts, fmt: str) -> None:
    orders.route("orders", CSV_ROUTE.replace('format: json, name: "{stem}.json"',
                                             f'format: {fmt}, name: "{{stem}}.{fmt}"'))
    outbox = mounts.tmpfs(orders.root / "outbox" / "orders", "64k")
    big = orders.drop("orders", "big.csv", BIG, age=200)
    orders.drop("orders", "small.csv", GOOD_CSV, age=100)
    done = cli(orders, "run", "--once")
    assert done.returncode == EXIT_PENDING and not crashed(done), done.stderr
    files = states(orders)
    assert files["big.csv"].state == FileState.PENDING  # not quarantined, not lost
    assert "No space left on device" in (files["big.csv"].message or "")
    assert files["small.csv"].state == FileState.ARCHIVED  # the other file went on
    assert everything(outbox) == [f"small.{fmt}"]  # no partial output, no temp file
    assert records_in(outbox / f"small.{fmt}") == 2
    assert [p.name for p in orders.inbox("orders")] == ["big.csv"]
    assert big.read_text() == BIG

    mounts.remount(outbox, "size=8m")  # space is freed: the next cron run delivers it
    time.sleep(0.05)
    done = cli(orders, "run", "--once")
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    assert everything(outbox) == [f"big.{fmt}", f"small.{fmt}"]
    assert records_in(outbox / f"big.{fmt}") == 4000
    assert {r.state for r in states(orders).values()} == {FileState.ARCHIVED}
    assert orders.inbox("orders") == [] and temp_files(orders.root) == []


def test_a_full_quarantine_keeps_the_reject_pending_never_a_reason_alone(
        orders: ProjectDir, mounts: Mounts) -> None:
    quarantine = mounts.tmpfs(orders.root / "quarantine", "64k")  # a reason fits, the file not
    orders.drop("orders", "bad.csv", BIG_BAD)
    done = cli(orders, "run", "--once")
    assert done.returncode == EXIT_PENDING and not crashed(done), done.stderr
    bad = states(orders)["bad.csv"]
    assert bad.state == FileState.PENDING
    assert "No space left on device" in (bad.message or "")
    assert any("quarantine folder cannot be written" in a for a in alerts(orders))
    assert everything(quarantine) == []  # no reason file without its file, no temp file
    assert [p.read_text() for p in orders.inbox("orders")] == [BIG_BAD]  # never lost

    mounts.remount(quarantine, "size=8m")
    time.sleep(0.05)
    done = cli(orders, "run", "--once")
    assert done.returncode == EXIT_QUARANTINED, done.stdout + done.stderr
    assert states(orders)["bad.csv"].state == FileState.QUARANTINED
    [copy] = orders.quarantined("orders")
    assert copy.read_text() == BIG_BAD
    reason = json.loads(copy.with_name(copy.name + ".reason.json").read_text())
    assert reason["stage"] == "validate" and reason["sha256"] == sha256(BIG_BAD.encode())
    assert orders.inbox("orders") == [] and temp_files(orders.root) == []


# -- a read-only disk ---------------------------------------------------------------------------


def test_a_read_only_outbox_leaves_the_file_pending_and_alerts_until_it_is_writable(
        orders: ProjectDir, mounts: Mounts) -> None:
    outbox = mounts.tmpfs(orders.root / "outbox" / "orders", "1m")
    mounts.remount(outbox, "ro")
    orders.drop("orders", "day1.csv", GOOD_CSV)
    done = cli(orders, "run", "--once")
    assert done.returncode == EXIT_PENDING and not crashed(done), done.stderr
    record = states(orders)["day1.csv"]
    assert record.state == FileState.PENDING
    assert "Read-only file system" in (record.message or "")
    assert everything(outbox) == [] and len(orders.inbox("orders")) == 1
    time.sleep(0.05)
    from tradelane.serve.monitor import Monitor  # what `tradelane serve` checks on its beat

    with orders.ledger() as ledger:
        assert f"pending:{record.id}" in Monitor(orders.load(), ledger).check()

    mounts.remount(outbox, "rw")
    done = cli(orders, "run", "--once")
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    assert states(orders)["day1.csv"].state == FileState.ARCHIVED
    assert everything(outbox) == ["day1.json"] and orders.inbox("orders") == []


def test_a_read_only_archive_keeps_the_delivered_original_with_an_alert(
        orders: ProjectDir, mounts: Mounts) -> None:
    archive = mounts.tmpfs(orders.root / "archive", "1m")
    mounts.remount(archive, "ro")
    original = orders.drop("orders", "day1.csv", GOOD_CSV)
    done = cli(orders, "run", "--once")
    assert done.returncode == EXIT_PENDING and not crashed(done), done.stderr
    assert states(orders)["day1.csv"].state == FileState.DELIVERED
    assert any("could not be archived" in a and "Read-only file system" in a
               for a in alerts(orders))
    assert original.read_text() == GOOD_CSV and len(orders.outputs("orders")) == 1

    mounts.remount(archive, "rw")
    done = cli(orders, "run", "--once")
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    record = states(orders)["day1.csv"]
    assert record.state == FileState.ARCHIVED
    [kept] = [p for p in archive.rglob("*") if p.is_file()]
    assert kept.read_text() == GOOD_CSV and str(kept) == record.path
    assert orders.inbox("orders") == [] and len(orders.outputs("orders")) == 1  # not twice
    with orders.ledger() as ledger:
        delivered = [e for e in ledger.events(record.id) if e.to_state == "delivered"]
    assert len(delivered) == 1


# -- another filesystem -------------------------------------------------------------------------


def test_archive_and_quarantine_on_another_filesystem_get_exact_copies(
        orders: ProjectDir, mounts: Mounts) -> None:
    """A rename across filesystems fails with EXDEV: the engine copies, fsyncs and removes
    instead. Files bigger than IN_MEMORY_BYTES pass through the spool on the project's disk,
    so both the original's move and the spool copy's move cross filesystems."""
    archive = mounts.tmpfs(orders.root / "archive", "16m")
    quarantine = mounts.tmpfs(orders.root / "quarantine", "16m")
    large = IN_MEMORY_BYTES // len(rows(1)) + 1000
    contents = {"small.csv": GOOD_CSV, "large.csv": HEADER + rows(large),
                "large_bad.csv": (HEADER + rows(large)).replace("PO-7;5;", "PO-7;0;")}
    for name, text in contents.items():
        orders.drop("orders", name, text)
    inbox = orders.root / "inbox" / "orders"
    assert os.stat(inbox).st_dev not in {os.stat(archive).st_dev, os.stat(quarantine).st_dev}
    done = cli(orders, "run", "--once")
    assert done.returncode == EXIT_QUARANTINED and not crashed(done), done.stderr
    files = states(orders)
    assert {n: r.state for n, r in files.items()} == {
        "small.csv": FileState.ARCHIVED, "large.csv": FileState.ARCHIVED,
        "large_bad.csv": FileState.QUARANTINED}
    for name in ("small.csv", "large.csv"):
        kept = Path(files[name].path or "")
        assert kept.parent.is_relative_to(archive) and kept.read_text() == contents[name]
    [copy] = orders.quarantined("orders")
    assert copy.is_relative_to(quarantine) and copy.read_text() == contents["large_bad.csv"]
    assert copy.with_name(copy.name + ".reason.json").is_file()
    assert orders.inbox("orders") == [] and temp_files(orders.root) == []
    assert everything(orders.root / ".tradelane" / "spool") == []
    assert len(orders.outputs("orders")) == 2


# -- the ledger ---------------------------------------------------------------------------------


def _ledger_on(project: ProjectDir, folder: Path) -> Path:
    project.settings(f"ledger: sqlite:///{folder / 'ledger.db'}\n")
    return folder / "ledger.db"


def _untouched(project: ProjectDir, before: dict[str, tuple[bytes, int]]) -> None:
    inbox = project.inbox("orders")
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in inbox} == before


def _one_line_naming(done: subprocess.CompletedProcess[str], db: Path, cause: str) -> None:
    assert not crashed(done), done.stderr
    assert str(db) in done.stderr and cause in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3, done.stderr  # one line, maybe wrapped


def test_a_read_only_ledger_is_unavailable_and_nothing_is_touched(
        orders: ProjectDir, mounts: Mounts) -> None:
    db = _ledger_on(orders, mounts.tmpfs(orders.root / "ledger", "4m"))
    orders.drop("orders", "day1.csv", GOOD_CSV)
    assert orders.run().exit_code == 0
    mounts.remount(db.parent, "ro")
    orders.drop("orders", "day2.csv", GOOD_CSV.replace("PO-1", "PO-9"))
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in orders.inbox("orders")}
    for command in (["run", "--once"], ["status"], ["quarantine", "list"]):
        done = cli(orders, *command)
        assert done.returncode == EXIT_PENDING, (command, done.stderr)
        _one_line_naming(done, db, "cannot be used")
    _untouched(orders, before)
    assert [p.name for p in orders.outputs("orders")] == ["day1.json"]

    mounts.remount(db.parent, "rw")  # back: the waiting file is taken as usual
    assert cli(orders, "run", "--once").returncode == EXIT_OK
    assert {r.state for r in states(orders).values()} == {FileState.ARCHIVED}


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_ledger_is_exit_2_and_nothing_is_touched(orders: ProjectDir,
                                                           damage: str) -> None:
    """A real ledger cut short (a full disk, a bad copy) or with its pages overwritten.
    (tests/test_never_lost.py covers a file that never was a database, and a locked one.)"""
    for i in range(40):  # some pages to lose
        orders.drop("orders", f"f{i}.csv", GOOD_CSV.replace("PO-1", f"PO-{100 + i}"))
    assert orders.run().exit_code == 0
    db = orders.root / ".tradelane" / "ledger.db"
    size = db.stat().st_size
    assert size > 8 * 4096 and not db.with_name("ledger.db-wal").exists()
    if damage == "truncated":
        os.truncate(db, size // 2)
    else:
        with open(db, "r+b") as fh:  # the header survives; the pages behind it do not
            fh.seek(4096)
            fh.write(os.urandom(size - 4096))
    orders.drop("orders", "new.csv", GOOD_CSV.replace("PO-1", "PO-999"))
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in orders.inbox("orders")}
    outputs = sorted(p.name for p in orders.outputs("orders"))
    for command in (["run", "--once"], ["status"], ["quarantine", "list"]):
        done = cli(orders, *command)
        assert done.returncode == EXIT_CONFIG, (command, done.stderr)
        _one_line_naming(done, db, "damaged")
    _untouched(orders, before)
    assert sorted(p.name for p in orders.outputs("orders")) == outputs


# -- a partner racing the engine ----------------------------------------------------------------

#: file name -> what happens to the file just before the engine opens it (path, spool copy)
BEFORE_OPEN: dict[str, Callable[[Path, Path], None]] = {}
#: file name -> what happens to it right after the engine read it
AFTER_READ: dict[str, Callable[[Path], None]] = {}


class RacySourceSpec(SourceOptions):
    kind: Literal["racy"] = "racy"
    racy: str = Field(..., description="The folder to poll.")

    @property
    def local_folder(self) -> str:
        return self.racy


class RacySource(LocalSource):
    """A local folder whose partner acts between the listing and the read (once per hook)."""

    def __init__(self, route: RouteSpec, settings: Settings):
        assert isinstance(route.source, RacySourceSpec)
        super().__init__(route, settings, folder=route.source.racy)

    def fetch(self, ref: FileRef, dest: Path) -> Staged:
        path = self.folder / ref.name
        if ref.name in BEFORE_OPEN:
            BEFORE_OPEN.pop(ref.name)(path, dest)
        staged = super().fetch(ref, dest)
        if ref.name in AFTER_READ:
            AFTER_READ.pop(ref.name)(path)
        return staged


@pytest.fixture
def racy(project: ProjectDir) -> Iterator[ProjectDir]:
    SOURCES.register(SourcePlugin("racy", RacySourceSpec, RacySource, local=True))
    project.settings("retry_backoff: 10ms\n")
    route = CSV_ROUTE.replace("folder: inbox/orders", "racy: inbox/orders").replace(
        '"{stem}.json"', '"{stem}.{file_id}.json"')  # each content its own output
    yield project.route("orders", route)
    SOURCES.unregister("racy")
    BEFORE_OPEN.clear()
    AFTER_READ.clear()


def delivered_orders(project: ProjectDir) -> list[str]:
    return sorted(r["order_id"] for p in project.outputs("orders")
                  for r in json.loads(p.read_text()))


def later(path: Path, seconds: float = 60) -> None:
    """The partner's upload is complete: old enough for min_age."""
    os.utime(path, (time.time() - seconds, time.time() - seconds))


SECRET = b"Order;Qty;Price;ShipDate;Status\nPO-424242;1;1;;open\n# s3cr3t-7f3a9c\n"


@pytest.mark.timeout(30)  # an open() that blocked on the FIFO would hang here
@pytest.mark.parametrize("swap", ["symlink", "fifo"])
def test_a_name_swapped_for_a_symlink_or_fifo_is_never_read(racy: ProjectDir, tmp_path: Path,
                                                            swap: str) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_bytes(SECRET)

    def swapped(path: Path, _spool: Path) -> None:
        path.unlink()
        if swap == "symlink":
            path.symlink_to(secret)
        else:
            os.mkfifo(path)

    BEFORE_OPEN["a.csv"] = swapped
    racy.drop("orders", "a.csv", GOOD_CSV)
    racy.drop("orders", "b.csv", GOOD_CSV.replace("PO-1", "PO-3"))
    started = time.monotonic()
    first = {r.name: r for r in racy.run().results}
    assert first["a.csv"].outcome == Outcome.PENDING
    assert ("symbolic link" if swap == "symlink" else "fifo") in first["a.csv"].message
    assert first["b.csv"].outcome == Outcome.DELIVERED  # the rest of the run went on
    second = racy.run()  # the next poll lists it as what it is now: an alert, never a read
    assert second.results == []
    assert any(f"a.csv in file://{racy.root}/inbox/orders is a {swap}" in a
               for a in alerts(racy))
    assert states(racy)["a.csv"].state == FileState.PENDING  # waiting for ops, alerted
    assert time.monotonic() - started < 10
    for where in racy.root.rglob("*"):  # outbox, quarantine, archive, spool, the ledger
        if where.is_file() and not where.is_symlink():
            assert b"s3cr3t" not in where.read_bytes(), where
    assert delivered_orders(racy) == ["PO-2", "PO-3"]

    (racy.root / "inbox" / "orders" / "a.csv").unlink()  # ops put the real file back
    racy.drop("orders", "a.csv", GOOD_CSV, age=90)
    assert [r.outcome for r in racy.run().results] == [Outcome.DELIVERED]
    assert all_states(racy) == [  # the sighting that was swapped is closed, not pending
        ("a.csv", FileState.DISCARDED), ("b.csv", FileState.ARCHIVED),
        ("a.csv", FileState.ARCHIVED)]
    assert not [a for a in alerts(racy) if a.startswith("unusual")]
    assert delivered_orders(racy) == ["PO-1", "PO-2", "PO-2", "PO-3"]


def test_a_file_that_vanished_before_it_was_read_is_lost_with_an_alert(
        racy: ProjectDir) -> None:
    BEFORE_OPEN["gone.csv"] = lambda path, _spool: path.unlink()
    racy.drop("orders", "gone.csv", GOOD_CSV)
    [first] = racy.run().results
    assert first.outcome == Outcome.PENDING and "disappeared" in first.message
    time.sleep(0.02)
    [second] = racy.run().results
    assert second.outcome == Outcome.LOST
    record = states(racy)["gone.csv"]
    assert record.state == FileState.LOST
    assert any(a.startswith("lost:") and f"file {record.id}" in a for a in alerts(racy))
    assert racy.outputs("orders") == []


MORE = rows(2, start=900)


def test_a_file_that_grew_before_it_was_opened_is_delivered_whole_once(
        racy: ProjectDir) -> None:
    def grows(path: Path, _spool: Path) -> None:
        with open(path, "a") as out:
            out.write(MORE)
        later(path)

    BEFORE_OPEN["a.csv"] = grows
    racy.drop("orders", "a.csv", GOOD_CSV)
    [first] = racy.run().results
    assert first.outcome == Outcome.PENDING and "changed since it was listed" in first.message
    assert racy.outputs("orders") == []
    time.sleep(0.02)
    assert [r.outcome for r in racy.run().results] == [Outcome.DELIVERED]
    assert delivered_orders(racy) == ["PO-1", "PO-2", "PO-900", "PO-901"]  # each row once
    assert all_states(racy) == [("a.csv", FileState.DISCARDED), ("a.csv", FileState.ARCHIVED)]


def test_a_file_that_grew_while_it_was_read_is_not_delivered_until_it_is_read_whole(
        racy: ProjectDir) -> None:
    """The file is bigger than what is held in memory, so the engine streams it into its
    spool copy mid-read. That copy is made a FIFO here: the engine's open of it returns only
    once the partner has appended rows, so the file grows deterministically while it is
    being read."""
    appended = threading.Event()

    def grows_mid_read(path: Path, spool: Path) -> None:
        os.mkfifo(spool)

        def partner() -> None:
            fd = os.open(spool, os.O_RDONLY)  # returns when the engine starts its spool copy
            with open(path, "a") as out:
                out.write(MORE)
            appended.set()
            while os.read(fd, 1 << 16):  # let the engine finish reading
                pass
            os.close(fd)

        threading.Thread(target=partner, daemon=True).start()

    body = HEADER + rows(IN_MEMORY_BYTES * 2 // len(rows(1)))
    BEFORE_OPEN["big.csv"] = grows_mid_read
    path = racy.drop("orders", "big.csv", body)
    [first] = racy.run().results
    assert appended.is_set()
    assert first.outcome == Outcome.PENDING and "changed while it was read" in first.message
    assert racy.outputs("orders") == []
    assert everything(racy.root / ".tradelane" / "spool") == []
    later(path)
    time.sleep(0.02)
    [second] = racy.run().results
    assert second.outcome == Outcome.DELIVERED
    [output] = racy.outputs("orders")
    assert len(json.loads(output.read_text())) == body.count("\n") - 1 + 2  # every row, once
    assert all_states(racy) == [("big.csv", FileState.DISCARDED), ("big.csv", FileState.ARCHIVED)]
    grown = states(racy)["big.csv"]
    assert Path(grown.path or "").read_text() == body + MORE


def test_a_file_that_grew_after_it_was_read_archives_what_was_delivered(
        racy: ProjectDir) -> None:
    """Rows appended after the read were never delivered: the archive gets exactly the
    delivered snapshot, the grown file stays in the inbox and is the next poll's new file."""
    def grows(path: Path) -> None:
        with open(path, "a") as out:
            out.write(MORE)
        later(path, 30)

    AFTER_READ["a.csv"] = grows
    path = racy.drop("orders", "a.csv", GOOD_CSV)
    [first] = racy.run().results
    assert first.outcome == Outcome.DELIVERED
    [output] = racy.outputs("orders")
    assert [r["order_id"] for r in json.loads(output.read_text())] == ["PO-1", "PO-2"]
    record = states(racy)["a.csv"]
    assert record.state == FileState.ARCHIVED and record.sha256 == sha256(GOOD_CSV.encode())
    assert "changed after it was delivered" in _events(racy, record)
    assert Path(record.path or "").read_text() == GOOD_CSV  # exactly what was delivered
    assert path.read_text() == GOOD_CSV + MORE  # the grown file was not touched

    [second] = racy.run().results  # the grown content is a new file
    assert second.outcome == Outcome.DELIVERED and second.file_id != record.id
    assert racy.inbox("orders") == []
    assert all_states(racy) == [("a.csv", FileState.ARCHIVED)] * 2
    new = states(racy)["a.csv"]  # the newest of that name
    assert new.id == second.file_id and Path(new.path or "").read_text() == GOOD_CSV + MORE
    # a file is its content: the grown file is delivered whole, as its own output
    assert delivered_orders(racy) == ["PO-1", "PO-1", "PO-2", "PO-2", "PO-900", "PO-901"]


def _events(project: ProjectDir, record: FileRecord) -> str:
    with project.ledger() as ledger:
        return "\n".join(e.detail or "" for e in ledger.events(record.id))

