"""20,000 small files dropped at once into a watched folder: each processed exactly once."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import pytest

from support.project import ProjectDir
from support.serving import WATCHED, Serve, wait_for

COUNT = 20_000


@pytest.mark.slow  # about 4 minutes on 2 cores (the pipeline does ~90 small files/s)
@pytest.mark.timeout(900)
def test_twenty_thousand_files_at_once(project: ProjectDir,
                                       serve: Callable[..., Serve]) -> None:
    project.route("orders", WATCHED).settings("serve: {workers: 2}\n")
    inbox = project.root / "inbox" / "orders"
    inbox.mkdir(parents=True)
    server = serve()
    wait_for(lambda: (project.root / ".tradelane" / "ledger.db").exists(), 15, "the ledger")
    started = time.monotonic()
    for i in range(COUNT):
        (inbox / f"o{i:05d}.csv").write_text(f"id,qty\nA{i},{i % 7}\n")
    outbox = project.root / "outbox" / "orders"
    wait_for(lambda: outbox.exists() and sum(1 for _ in outbox.iterdir()) >= COUNT, 540,
             f"{COUNT} outputs")
    wait_for(lambda: not any(inbox.iterdir()), 60, "an empty inbox")
    took = time.monotonic() - started
    assert server.stop(timeout=60) == 0
    outputs = sorted(p.name for p in outbox.iterdir())
    assert outputs == [f"o{i:05d}.out.csv" for i in range(COUNT)]
    db = project.root / ".tradelane" / "ledger.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT state, attempt, COUNT(*) FROM files GROUP BY 1, 2").fetchall()
        delivered = conn.execute(
            "SELECT file_id, COUNT(*) FROM events WHERE to_state = 'delivered' "
            "GROUP BY file_id HAVING COUNT(*) > 1").fetchall()
        # min_age 0s: a poll may list a file while the test is still writing it; that
        # sighting is not read ("changed since it was listed"), the finished file is
        stale = conn.execute(
            "SELECT f.state, e.detail FROM files f JOIN events e ON e.file_id = f.id"
            " WHERE f.state != 'archived' AND e.to_state = 'pending'").fetchall()
    assert [r for r in rows if r[0] == "archived"] == [("archived", 1, COUNT)]
    assert all(state in ("pending", "discarded") and "changed since it was listed" in detail
               for state, detail in stale), stale
    assert sum(r[2] for r in rows if r[0] != "archived") == len(stale)
    assert delivered == []  # no file was delivered twice
    print(f"\n{COUNT} files in {took:.1f}s ({COUNT / took:.0f} files/s)")
