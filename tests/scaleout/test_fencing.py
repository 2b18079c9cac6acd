"""Fencing tokens (issue 18): a worker that stalls past its lease cannot record anything for
a file another worker claimed since."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tradelane.errors import Conflict, StaleClaim
from tradelane.ledger.store import FileRecord, Followup, Ledger, Move
from tradelane.ledger.tables import followups
from tradelane.models import FileRef, FileState

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def _claim(ledger: Ledger, name: str) -> FileRecord:
    record = ledger.claim(FileRef("r", "inbox", name, 10, 1))
    assert isinstance(record, FileRecord)
    return record


def test_a_worker_paused_past_its_lease_cannot_commit_after_a_takeover(pg_url: str) -> None:
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "stalled_worker.py"), pg_url, "order.csv"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert worker.stdin is not None and worker.stdout is not None
    try:
        line = worker.stdout.readline()
        assert line.startswith("claimed"), line
        file_id, first_fence = int(line.split()[1]), int(line.split()[3])
        os.kill(worker.pid, signal.SIGSTOP)  # stalls mid-work, holding its claim
        time.sleep(1.5)  # past its 1 s lease

        other = Ledger(pg_url, worker="worker-b", lease=timedelta(minutes=5))
        taken = _claim(other, "order.csv")
        assert (taken.id, taken.fence) == (file_id, first_fence + 1)

        os.kill(worker.pid, signal.SIGCONT)
        worker.stdin.write("go\n")
        worker.stdin.flush()
        said = worker.stdout.readline()
        assert worker.wait(timeout=60) == 0
        assert said.startswith("refused StaleClaim"), said
        assert "claimed again since" in said

        # the stale worker left no trace: the file is still the new owner's
        assert other.get(file_id).state == FileState.CLAIMED
        other.apply([Move(file_id, (FileState.CLAIMED,), FileState.DELIVERED,
                          "delivered by worker-b", fence=taken.fence,
                          followups=(Followup("ack", {"path": "ack-b"}, b"b"),))])
        delivered = [e for e in other.events(file_id) if e.to_state == "delivered"]
        assert [(e.actor, e.fence) for e in delivered] == [("worker-b", first_fence + 1)]
        with other.engine.connect() as conn:
            steps = conn.execute(select(followups.c.detail)
                                 .where(followups.c.file_id == file_id)).scalars().all()
        assert steps == ['{"path": "ack-b"}']
        other.close()
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGCONT)
            worker.kill()
            worker.wait()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_claim_raises_the_token_and_a_stale_move_in_a_chunk_is_refused_alone(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = (f"sqlite:///{tmp_path}/ledger.db" if backend == "sqlite"
           else request.getfixturevalue("pg_url"))
    with Ledger(url, worker="a", lease=timedelta(seconds=-1)) as a, \
            Ledger(url, worker="b") as b:
        old, fresh = _claim(a, "one.csv"), _claim(a, "two.csv")
        assert (old.fence, fresh.fence) == (1, 1)
        retaken = _claim(b, "one.csv")  # a's lease is already over
        assert retaken.fence == 2
        results = a.apply([
            Move(old.id, (FileState.CLAIMED,), FileState.DELIVERED, "late", fence=old.fence),
            Move(fresh.id, (FileState.CLAIMED,), FileState.DELIVERED, "on time",
                 fence=fresh.fence)])
        assert isinstance(results[0], StaleClaim) and isinstance(results[0], Conflict)
        assert (results[0].mine, results[0].current) == (1, 2)
        assert isinstance(results[1], FileRecord) and results[1].state == FileState.DELIVERED
        assert b.get(old.id).state == FileState.CLAIMED
        with pytest.raises(StaleClaim):
            a.transition(old.id, FileState.CLAIMED, FileState.PENDING, "retry", fence=1)
        # the owner's own steps go through, and ops requests (no token) are not fenced
        b.transition(old.id, FileState.CLAIMED, FileState.PENDING, "retry", fence=2)
        assert [e.fence for e in b.events(old.id)] == [1, 2, 2]
