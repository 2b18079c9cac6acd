"""Claims on PostgreSQL (issue 18): files a peer holds are skipped, never waited for, and the
files a chunk takes over are taken in one go, each with its fencing token raised."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import create_engine, text

from tradelane.ledger import FileRecord, Ledger
from tradelane.models import FileRef, FileState

REFS = [FileRef("orders", "inbox", f"o{i}.csv", 10, 1) for i in range(5)]


def test_a_takeover_skips_the_row_a_peer_is_taking_and_takes_the_rest(pg_url: str) -> None:
    dead = Ledger(pg_url, worker="dead", lease=timedelta(0))  # its leases expire at once
    first = dead.claim_many(REFS)
    assert all(isinstance(r, FileRecord) and r.fence == 1 for r in first)
    time.sleep(0.01)
    alive = Ledger(pg_url, worker="alive")
    locker = create_engine(pg_url)
    busy = first[2]
    assert isinstance(busy, FileRecord)
    pool = ThreadPoolExecutor(1)
    with locker.connect() as conn, conn.begin():  # a peer in the middle of taking one file
        conn.execute(text("SELECT id FROM files WHERE id = :id FOR UPDATE"), {"id": busy.id})
        # never waits for the peer (if it did, this times out, and the lock goes with it)
        claims = pool.submit(alive.claim_many, REFS).result(timeout=10)
    pool.shutdown()
    taken = [c for c in claims if isinstance(c, FileRecord)]
    assert claims[2] is None
    assert [c.name for c in taken] == ["o0.csv", "o1.csv", "o3.csv", "o4.csv"]
    assert all(c.fence == 2 and c.lease_owner == "alive" and c.attempt == 2 for c in taken)
    assert [e.detail for e in alive.events(taken[0].id)][-1] == \
        "taken over from dead (lease expired)"

    again = alive.claim(REFS[2])  # released by the peer: taken now
    assert isinstance(again, FileRecord) and again.fence == 2
    assert alive.claim(REFS[0]) is None  # held under a live lease: nobody takes it
    assert alive.get(taken[0].id).state == FileState.CLAIMED
    for ledger in (dead, alive):
        ledger.close()
    locker.dispose()
