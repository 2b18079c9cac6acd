"""Duplicates are atomic across processes (issue 12): several ``tradelane run --once`` started
at the same instant over one inbox, on SQLite (2 processes) and on PostgreSQL (4 processes).

The inbox holds byte-identical files under different names, near-identical files (one byte
differs), and one EDIFACT interchange (same sender, recipient and control reference) in two
files that differ elsewhere. Whoever wins each race, every distinct content is delivered
exactly once (its output byte for byte what a lone run writes), every other copy is a visible
``duplicate`` with its reason file, nothing is left claimed or pending, the inbox is empty,
and no process reports anything but 0 or 3. The last test races two chunks' content keys
directly, where a PostgreSQL deadlock was found.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from support.project import CSV_ROUTE, REPO, ProjectDir, copy_partners
from tradelane.errors import EXIT_OK, EXIT_QUARANTINED
from tradelane.ledger import FileRecord, Ledger
from tradelane.ledger.keys import Keys, SameContentInProgress
from tradelane.models import FileRef, FileState, Outcome

EDI = (REPO / "tests" / "cases" / "edifact_orders" / "input.edi").read_text()
HEADER = "Order;Qty;Price;ShipDate;Status\n"


def csv(n: int) -> str:
    return HEADER + f"PO-{n}1;5;9,50;01.12.2026;open\nPO-{n}2;1;100;;closed\n"


#: route -> file name -> content, listed in this order by every process: copies next to each
#: other race for the same content, and a batch sent again in reverse order makes two
#: processes' chunks take the copies' keys crosswise.
INBOX: dict[str, dict[str, str]] = {
    "orders": {
        **{f"pair{n}_{c}.csv": csv(n) for n in range(6) for c in "ab"},
        **{f"near{n}.csv": csv(n).replace("9,50", "9,51") for n in range(6)},  # one byte
        **{f"trio_{c}.csv": csv(7) for c in "abc"},
        **{f"batch{n}.csv": csv(20 + n) for n in range(4)},
        **{f"resent{n}.csv": csv(20 + n) for n in reversed(range(4))},
        "single.csv": csv(8),
    },
    "edifact_orders": {
        "ORDERS_1.edi": EDI,
        "ORDERS_1_copy.edi": EDI,  # the same bytes
        "ORDERS_2.edi": EDI.replace("PO-77001", "PO-77009"),  # same interchange, other bytes
        "ORDERS_3.edi": EDI.replace("ORD0001", "ORD0002"),  # another interchange
    },
}
#: the interchange each EDIFACT file carries
INTERCHANGE = {"ORDERS_1.edi": "ORD0001", "ORDERS_1_copy.edi": "ORD0001",
               "ORDERS_2.edi": "ORD0001", "ORDERS_3.edi": "ORD0002"}

#: Runs the real command, once every process has loaded the engine and the test says go.
STARTER = """\
import os, sys, time
from tradelane.cli.main import main
import tradelane.runner  # noqa: F401 - load the engine before the start line
go = sys.argv[1]
open(f"{go}.{os.getpid()}", "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
sys.argv = ["tradelane", *sys.argv[2:]]
main()
"""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_project(root: Path, ledger: str | None = None) -> ProjectDir:
    project = ProjectDir(root)
    if ledger:
        project.settings(f"ledger: {json.dumps(ledger)}\n")
    project.route("orders", CSV_ROUTE)
    shutil.copy(REPO / "mappings" / "edifact_orders.yaml", root / "mappings")
    copy_partners(root)
    return project


@pytest.fixture(scope="module")
def lone_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """sha256 of an input -> the output a single process writes for it alone."""
    expected = {}
    for route, files in INBOX.items():
        for name, content in files.items():
            if sha256(content) in expected:
                continue
            project = make_project(tmp_path_factory.mktemp("lone"))
            project.drop(route, name, content)
            [result] = project.run([route]).results
            assert result.outcome == Outcome.DELIVERED, result.message
            [output] = project.outputs(route)
            expected[sha256(content)] = output.read_bytes()
    return expected


def race(project: ProjectDir, processes: int) -> list[subprocess.CompletedProcess[str]]:
    """``tradelane run --once`` in ``processes`` processes, released at the same instant."""
    for age, (route, name, content) in enumerate(reversed(
            [(r, n, c) for r, files in INBOX.items() for n, c in files.items()])):
        project.drop(route, name, content, age=120 + age)  # listed in the order of INBOX
    go = project.root.parent / "go"
    started = [subprocess.Popen([sys.executable, "-c", STARTER, str(go), "run", "--once", "-C",
                                 str(project.root)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    deadline = time.monotonic() + 60
    while len(list(go.parent.glob("go.*"))) < processes and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    done = []
    for proc in started:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def check_round(project: ProjectDir, done: list[subprocess.CompletedProcess[str]],
                lone_outputs: dict[str, bytes]) -> None:
    for proc in done:
        assert proc.returncode in (EXIT_OK, EXIT_QUARANTINED), proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
    with project.ledger() as ledger:
        records = ledger.files()
        events = [e for r in records for e in ledger.events(r.id)]
    delivered_events = Counter(e.file_id for e in events
                               if e.to_state == FileState.DELIVERED.value)
    # the processes really raced: several of them took files (a worker's name is on its
    # claims; on a loaded machine one of four may start too late to find any)
    claimers = {e.actor for e in events if e.to_state == FileState.CLAIMED.value}
    assert len(claimers) >= 2, claimers
    assert {r.state for r in records} <= {FileState.ARCHIVED, FileState.DUPLICATE}, [
        (r.name, r.state, r.message) for r in records if r.state not in (
            FileState.ARCHIVED, FileState.DUPLICATE)]  # nothing claimed, pending or lost
    for route, files in INBOX.items():
        mine = [r for r in records if r.route == route]
        assert sorted(r.name for r in mine) == sorted(files)  # every file, once in the ledger
        archived = [r for r in mine if r.state == FileState.ARCHIVED]
        duplicates = [r for r in mine if r.state == FileState.DUPLICATE]
        # every distinct content (and interchange) delivered, each exactly once
        if route == "orders":
            assert sorted(r.sha256 or "" for r in archived) == sorted(
                {sha256(c) for c in files.values()})
        else:
            assert sorted(INTERCHANGE[r.name] for r in archived) == ["ORD0001", "ORD0002"]
        assert all(delivered_events[r.id] == 1 for r in archived)
        assert not any(delivered_events[r.id] for r in duplicates)
        outputs = {p.as_uri(): p.read_bytes() for p in project.outputs(route)}
        assert sorted(outputs) == sorted(uri for r in archived for uri in r.outputs)
        for r in archived:
            [uri] = r.outputs
            assert outputs[uri] == lone_outputs[r.sha256 or ""], r.name
        for r in archived:  # the original went to the archive, as it was delivered
            assert hashlib.sha256(Path(r.path or "").read_bytes()).hexdigest() == r.sha256
        # every other copy is a recorded duplicate of a delivered file, with its reason
        for r in duplicates:
            owner = _owner(r, archived)
            if route == "orders" or r.sha256 == owner.sha256:
                assert r.sha256 == owner.sha256
            else:
                assert INTERCHANGE[r.name] == INTERCHANGE[owner.name]
                assert f"interchange {INTERCHANGE[r.name]} from" in (r.message or "")
            reason = json.loads(Path((r.path or "") + ".reason.json").read_text())
            assert reason["stage"] == "duplicate" and reason["sha256"] == r.sha256
            assert Path(r.path or "").read_text() == files[r.name]
        assert project.inbox(route) == []
    # one CONTRL per EDIFACT file, never two: accepted (7) if delivered, else a duplicate (26)
    acks = {int(p.name.split("-", 1)[0]): p.read_text()
            for p in (project.root / "outbox" / "acks").iterdir()}
    edi = {r.id: r for r in records if r.route == "edifact_orders"}
    assert sorted(acks) == sorted(edi)
    for file_id, text in acks.items():
        code = "7'" if edi[file_id].state == FileState.ARCHIVED else "4+26'"
        assert f"UCI+{INTERCHANGE[edi[file_id].name]}+" in text and f"+{code}" in text, text


def _owner(record: FileRecord, archived: list[FileRecord]) -> FileRecord:
    """The delivered file a duplicate's message names."""
    message = record.message or ""
    [owner] = [a for a in archived if f"already delivered as file {a.id} " in message]
    return owner


@pytest.mark.parametrize("round_", range(5))
def test_two_processes_on_sqlite_deliver_each_content_once(
        tmp_path: Path, lone_outputs: dict[str, bytes], round_: int) -> None:
    project = make_project(tmp_path / "project")
    check_round(project, race(project, 2), lone_outputs)


@pytest.mark.parametrize("round_", range(3))
def test_four_processes_on_postgres_deliver_each_content_once(
        tmp_path: Path, pg_url: str, lone_outputs: dict[str, bytes], round_: int) -> None:
    project = make_project(tmp_path / "project", ledger=pg_url)
    check_round(project, race(project, 4), lone_outputs)



def _take_at_once(chunks: dict[Ledger, list[FileRecord]]) -> dict[str, object]:
    """Each worker takes its chunk's content keys, all starting at the same instant: worker
    -> the refusals, or the error its transaction failed with."""
    results: dict[str, object] = {}
    start = threading.Barrier(len(chunks))

    def take(ledger: Ledger, chunk: list[FileRecord]) -> None:
        start.wait()
        try:
            results[ledger.worker] = Keys(ledger).take_contents(chunk)
        except Exception as exc:  # the failure under test
            results[ledger.worker] = exc

    threads = [threading.Thread(target=take, args=item) for item in chunks.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_chunks_holding_copies_in_opposite_orders_never_deadlock(pg_url: str) -> None:
    """Two workers' chunks take the content keys of copies in opposite orders at the same
    instant (a batch sent again in reverse): one owns both contents and the other waits for
    them. Neither chunk may fail with a PostgreSQL deadlock: its files would stay claimed
    until their lease ran out. (Each attempt is a race; ten make it near certain.)"""
    w1, w2 = Ledger(pg_url, worker="w1"), Ledger(pg_url, worker="w2")
    try:
        for attempt in range(10):
            refs = [FileRef("orders", "file:///in", f"{attempt}-{i}.csv", 10, i)
                    for i in range(4)]
            records = [r for r in w1.claim_many(refs) if isinstance(r, FileRecord)]
            x, y = sha256(f"{attempt}x"), sha256(f"{attempt}y")
            a, b, c, d = (dataclasses.replace(r, sha256=h)
                          for r, h in zip(records, (x, y, y, x), strict=True))
            results = _take_at_once({w1: [a, b], w2: [c, d]})
            owner = [w for w, r in results.items() if r == [None, None]]
            assert len(owner) == 1, results  # never an error, never both
            [waiter] = set(results) - set(owner)
            refusals = results[waiter]
            assert isinstance(refusals, list) and all(
                isinstance(r, SameContentInProgress) for r in refusals), results
    finally:
        w1.close()
        w2.close()
