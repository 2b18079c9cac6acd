"""Several workers on one PostgreSQL ledger (issue 18), as real ``tradelane run --once``
processes over one inbox: 4 workers and 2,000 files deliver each file once with the outputs a
lone worker writes; a worker SIGKILLed mid-batch leaves its files to be taken over once its
lease runs out, and nothing is lost or delivered twice."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from support.orders import orders_route
from support.project import ProjectDir
from support.serving import TRADELANE
from tradelane.ledger import Ledger
from tradelane.models import FileState, Outcome

ROUTE = orders_route("{folder: outbox/orders, format: json, name: \"{stem}.json\"}",
                     qty="{source: qty, type: integer, min: 1}")


def make(root: Path, ledger: str, files: int, settings: str = "") -> ProjectDir:
    project = ProjectDir(root)
    project.settings(f"ledger: '{ledger}'\n{settings}")
    project.route("orders", ROUTE)
    inbox = root / "inbox" / "orders"
    inbox.mkdir(parents=True)
    then = time.time() - 60
    for i in range(files):
        path = inbox / f"o{i:05}.csv"
        path.write_text(f"id,qty\nA{i},{i % 7 + 1}\nB{i},{i % 5 + 1}\n")
        os.utime(path, (then, then))
    return project


def start(project: ProjectDir, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(TRADELANE), "run", "--once", "-C", str(project.root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})


def finished(proc: subprocess.Popen[str]) -> int:
    _, err = proc.communicate(timeout=300)
    assert "Traceback" not in err, err
    return proc.returncode


def outputs(project: ProjectDir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in project.outputs("orders")}


def deliveries(ledger: Ledger) -> tuple[list[FileState], Counter[int], set[str]]:
    """Every file's state, deliveries per file, and the workers that claimed files."""
    records = ledger.files()
    with ledger.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT file_id, to_state, actor FROM events").all()
    delivered = Counter(r.file_id for r in rows if r.to_state == "delivered")
    claimers = {r.actor for r in rows if r.to_state == "claimed"}
    return [r.state for r in records], delivered, claimers


FILES = 2000


@pytest.fixture(scope="module")
def lone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The outputs of one worker alone (in this process, on SQLite) for the ``FILES`` files."""
    root = tmp_path_factory.mktemp("lone")
    project = make(root / "p", f"sqlite:///{root}/lone.db", FILES)
    summary = project.run()
    assert [r.outcome for r in summary.results] == [Outcome.DELIVERED] * FILES
    return outputs(project)


def test_four_workers_deliver_2000_files_once_as_one_worker_does(
        tmp_path: Path, pg_url: str, lone: dict[str, bytes]) -> None:
    files, expected = FILES, lone
    shared = make(tmp_path / "shared", pg_url, files)
    workers = [start(shared) for _ in range(4)]
    assert [finished(w) for w in workers] == [0, 0, 0, 0]

    with Ledger(pg_url) as ledger:
        states, delivered, claimers = deliveries(ledger)
    assert len(states) == files and set(states) == {FileState.ARCHIVED}
    assert len(delivered) == files and set(delivered.values()) == {1}
    assert len(claimers) >= 2, claimers  # they really shared the work
    assert outputs(shared) == expected  # the same names, byte for byte
    assert shared.inbox("orders") == []


def test_a_worker_killed_mid_batch_leaves_its_files_to_be_taken_over(
        tmp_path: Path, pg_url: str, lone: dict[str, bytes]) -> None:
    files = 200
    project = make(tmp_path / "shared", pg_url, files, "lease: 3s\n")
    expected = {n: b for n, b in lone.items() if int(n[1:6]) < files}
    # SIGKILLed with a chunk's outputs written and not yet recorded: the worst moment
    victim = start(project, TRADELANE_CRASH_AT="output-written:2")
    peer = start(project)
    assert finished(victim) == -9
    assert finished(peer) == 0
    victim_name = f"{os.uname().nodename}:{victim.pid}"
    with Ledger(pg_url) as ledger:
        held = [r for r in ledger.files() if r.lease_owner == victim_name
                and r.state == FileState.CLAIMED]
        took_over = [e for r in ledger.files() for e in ledger.events(r.id)
                     if e.detail == f"taken over from {victim_name} (lease expired)"]
    assert held or took_over, "the victim died holding no file"
    time.sleep(3.5)  # its lease runs out
    assert finished(start(project)) == 0

    with Ledger(pg_url) as ledger:
        states, delivered, _ = deliveries(ledger)
        took_over = [e for r in ledger.files() for e in ledger.events(r.id)
                     if e.detail == f"taken over from {victim_name} (lease expired)"]
    assert len(states) == files and set(states) == {FileState.ARCHIVED}
    assert len(delivered) == files and set(delivered.values()) == {1}  # none twice
    assert took_over  # the victim's files went to another worker
    assert outputs(project) == expected  # nothing lost, no stray output
    assert project.inbox("orders") == []
