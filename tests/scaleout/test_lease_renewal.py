"""Long work keeps its claim (issue 18): a worker renews the leases of the files it holds, so
a file that takes longer than the lease is not taken over by a peer and delivered twice; a
worker that is paused or killed still loses its claims after the lease.

On real PostgreSQL, with real ``tradelane run --once`` processes and a real HTTP server that
answers each request 6 s late: the lease is 2 s, a second worker polls every 0.5 s. Without
renewal (``Pipeline.leases`` holding nothing) the peer takes the file over after 2 s and the
server gets it twice; the mutation was run by hand, not here.
"""

from __future__ import annotations

import copy
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from support.http_server import RecordingServer
from support.project import ProjectDir
from tradelane.errors import StaleClaim
from tradelane.ledger import Ledger
from tradelane.ledger.lease_keeper import LeaseKeeper
from tradelane.ledger.store import FileRecord
from tradelane.models import FileRef, FileState
from tradelane.runner import Runner
from tradelane.sources.table_marks import Marks

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
TRADELANE = Path(sys.executable).with_name("tradelane")
SLOW = 6.0  # seconds the API takes to answer: three leases


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    api = RecordingServer()
    api.when(times=100, delay=SLOW, process=True)  # processed at once, answered late
    yield api
    api.stop()


def make(root: Path, pg_url: str, url: str) -> ProjectDir:
    project = ProjectDir(root)
    project.settings(f"ledger: '{pg_url}'\nlease: 2s\n")
    project.route("orders", f"""\
        source: {{folder: inbox/orders, pattern: "*.csv", min_age: 0s}}
        format: {{type: csv}}
        fields:
          id:  {{source: id, required: true}}
          qty: {{source: qty, type: integer}}
        target:
          http: {{url: "{url}/orders", retry: {{attempts: 1}}, timeouts: {{read: 30s}}}}
        """)
    project.drop("orders", "big.csv", "id,qty\nA,1\nB,2\n")
    return project


class Peer:
    """A second worker in this process, polling every 0.5 s until told to stop."""

    def __init__(self, project: ProjectDir, pg_url: str):
        self.ledger = Ledger(pg_url, worker="worker-b", lease=timedelta(seconds=2))
        self.runner = Runner(project.load(), self.ledger)
        self.done = threading.Event()
        self.polls = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.done.is_set():
            self.runner.run_once(["orders"])
            self.polls += 1
            self.done.wait(0.5)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=60)
        self.runner.close()
        self.ledger.close()


def start_worker(project: ProjectDir, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(TRADELANE), "run", "--once", "-C", str(project.root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})


def wait_for(what: str, check: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def claimed(ledger: Ledger) -> bool:
    return bool(ledger.files(states=[FileState.CLAIMED]))


def test_a_file_slower_than_the_lease_is_delivered_once_while_a_peer_polls(
        pg_url: str, tmp_path: Path, server: RecordingServer) -> None:
    project = make(tmp_path / "p", pg_url, server.url)
    watch = Ledger(pg_url, worker="test")
    worker = start_worker(project)
    peer = None
    try:
        wait_for("worker A's claim", lambda: claimed(watch))
        peer = Peer(project, pg_url)  # polls the whole time A works: 3 leases and more
        _, err = worker.communicate(timeout=120)
        polls = peer.polls
    finally:
        if peer is not None:
            peer.stop()
        if worker.poll() is None:
            worker.kill()
    assert len(server.requests) == 1, f"delivered {len(server.requests)} times\n{err}"
    assert polls >= 4, "the peer must have polled while A worked"
    assert worker.returncode == 0, err
    [record] = watch.files()
    assert (record.state, record.fence) == (FileState.ARCHIVED, 1)
    history = [(e.to_state, e.detail or "") for e in watch.events(record.id)]
    assert not [h for h in history if "taken over" in h[1]], history
    assert [s for s, _ in history].count("delivered") == 1
    watch.close()


def test_a_worker_killed_right_after_renewing_hands_its_file_over_once(
        pg_url: str, tmp_path: Path, server: RecordingServer) -> None:
    project = make(tmp_path / "p", pg_url, server.url)
    watch = Ledger(pg_url, worker="test")
    worker = start_worker(project, TRADELANE_CRASH_AT="lease-renewed")
    peer = None
    try:
        wait_for("worker A's claim", lambda: claimed(watch))
        peer = Peer(project, pg_url)
        worker.communicate(timeout=120)
        assert worker.returncode == -signal.SIGKILL
        wait_for("the takeover", lambda: [r.state for r in watch.files()]
                 == [FileState.ARCHIVED], timeout=60)
    finally:
        if peer is not None:
            peer.stop()
        if worker.poll() is None:
            worker.kill()
    [record] = watch.files()
    assert record.fence == 2
    events = watch.events(record.id)
    assert [e.actor for e in events if e.to_state == "delivered"] == ["worker-b"]
    assert any("taken over" in (e.detail or "") for e in events)
    # A's request (if it got that far) and B's carry one key: the API took the records once
    assert len(server.dedup_log) == 1 and len(set(server.keys())) == 1
    watch.close()


def test_a_paused_worker_keeps_nothing_and_learns_it_lost_the_claim(pg_url: str) -> None:
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "kept_worker.py"), pg_url, "order.csv"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert worker.stdin is not None and worker.stdout is not None
    other = Ledger(pg_url, worker="worker-b", lease=timedelta(minutes=5))
    ref = FileRef("r", "inbox", "order.csv", 10, 1)
    try:
        line = worker.stdout.readline()
        assert line.startswith("claimed"), line
        file_id, fence = int(line.split()[1]), int(line.split()[3])
        time.sleep(2.5)  # more than two of its 1 s leases: renewed, so not takeable
        assert other.claim(ref) is None
        os.kill(worker.pid, signal.SIGSTOP)  # its renewal thread stops with it
        time.sleep(1.5)
        taken = other.claim(ref)
        assert isinstance(taken, FileRecord) and (taken.id, taken.fence) == (file_id, fence + 1)
        os.kill(worker.pid, signal.SIGCONT)
        worker.stdin.write("go\n")
        worker.stdin.flush()
        said = worker.stdout.readline()
        assert worker.wait(timeout=60) == 0
        assert said.startswith("lost StaleClaim"), said
        # its renewals after the takeover changed nothing: the lease is worker-b's
        row = other.get(file_id)
        assert (row.lease_owner, row.fence) == ("worker-b", fence + 1)
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGCONT)
            worker.kill()
            worker.wait()
        other.close()


def test_renewal_failures_are_logged_and_retried_never_raised(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db", worker="a", lease=timedelta(seconds=3))
    record = ledger.claim(FileRef("r", "inbox", "x.csv", 1, 1))
    assert isinstance(record, FileRecord)
    down = copy.copy(ledger)
    down.engine = create_engine(f"sqlite:///{tmp_path}/missing/nowhere.db")  # cannot open
    keeper = LeaseKeeper(down, every=0.1)
    caplog.set_level(logging.WARNING, logger="tradelane")
    with keeper.holding([record]):
        wait_for("a logged failure", lambda: "could not renew" in caplog.text, timeout=10)
        before = ledger.get(record.id).lease_until
        down.engine = ledger.engine  # the ledger is back: the next turn renews
        wait_for("a renewal", lambda: ledger.get(record.id).lease_until != before, timeout=10)
        keeper.check(record)  # still ours
    ledger.close()


def test_a_table_poll_keeps_its_lease_while_held_and_loses_it_once_released(
        pg_url: str, tmp_path: Path) -> None:
    with Ledger(pg_url, worker="a") as a, Ledger(pg_url, worker="b") as b:
        mine = Marks(a, "t", "db#orders", tmp_path / "a", lease_seconds=1)
        peer = Marks(b, "t", "db#orders", tmp_path / "b", lease_seconds=1)
        assert mine.turn(set()).kind == "poll"
        time.sleep(2.5)  # a slow query: more than two leases
        assert peer.turn(set()).kind == "busy"
        assert mine.polled("t-1.csv", None, None, 10)  # still ours: the snapshot is offered
        time.sleep(1.5)
        assert peer.turn(set()).kind == "busy"  # its file is in flight, the lease renewed
        mine.settle("t-1.csv")
        assert peer.turn(set()).kind == "poll"
        peer.release()


def test_a_target_stops_before_its_commit_step_once_the_claim_is_taken_over(
        pg_url: str) -> None:
    ref = FileRef("r", "inbox", "big.csv", 10, 1)
    with Ledger(pg_url, worker="a", lease=timedelta(seconds=1)) as a, \
            Ledger(pg_url, worker="b") as b:
        record = a.claim(ref)
        assert isinstance(record, FileRecord)
        keeper = LeaseKeeper(a, every=60)  # its thread never gets a turn: a stalled worker
        committed: list[list[int]] = []

        def batches() -> Iterator[int]:
            yield 1
            time.sleep(1.2)  # past the lease
            assert isinstance(b.claim(ref), FileRecord)  # a peer takes the file over
            yield 2

        def deliver(batches: Iterator[int]) -> None:  # as a target: every batch, then commit
            taken = list(batches)
            committed.append(taken)

        with keeper.holding([record]), pytest.raises(StaleClaim) as lost:
            deliver(keeper.guarded(record, batches()))
        assert committed == [] and (lost.value.mine, lost.value.current) == (1, 2)
