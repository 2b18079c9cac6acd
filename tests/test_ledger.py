"""One set of ledger tests, run against SQLite and against the real PostgreSQL server."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir, pg_schema_url
from tradelane.errors import Conflict, DuplicateFile
from tradelane.ledger import FileRecord, Ledger, Move, Seen, utcnow
from tradelane.ledger.keys import Keys, SameContentInProgress
from tradelane.models import FileRef, FileState, Outcome
from tradelane.runner import Runner


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield from pg_schema_url()


REF = FileRef("orders", "file:///srv/in", "a.csv", 10, 123)


def test_a_file_is_claimed_once_even_by_racing_workers(ledger_url: str) -> None:
    workers = [Ledger(ledger_url, worker=f"w{i}") for i in range(4)]
    wins: list[str] = []
    barrier = threading.Barrier(len(workers))

    def race(ledger: Ledger) -> None:
        barrier.wait()
        if ledger.claim(REF) is not None:
            wins.append(ledger.worker)

    threads = [threading.Thread(target=race, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    for w in workers:
        w.close()


def test_transitions_are_guarded_and_logged(ledger_url: str) -> None:
    with Ledger(ledger_url, worker="w1") as ledger:
        record = ledger.claim(REF)
        assert record is not None and record.state == FileState.CLAIMED
        ledger.transition(record.id, FileState.CLAIMED, FileState.STAGED, "staged", sha256="ab")
        with pytest.raises(Conflict):
            ledger.transition(record.id, FileState.CLAIMED, FileState.STAGED, "again")
        events = ledger.events(record.id)
        assert [(e.from_state, e.to_state, e.actor) for e in events] == [
            (None, "claimed", "w1"), ("claimed", "staged", "w1")]


def test_expired_lease_hands_the_file_to_another_worker(ledger_url: str) -> None:
    with Ledger(ledger_url, worker="dead", lease=timedelta(seconds=-1)) as dead, \
            Ledger(ledger_url, worker="alive") as alive:
        assert dead.claim(REF) is not None
        taken = alive.claim(REF)
        assert taken is not None and taken.lease_owner == "alive" and taken.attempt == 2


def test_live_lease_is_respected(ledger_url: str) -> None:
    with Ledger(ledger_url, worker="a") as a, Ledger(ledger_url, worker="b") as b:
        assert a.claim(REF) is not None
        assert b.claim(REF) is None


def test_a_finished_identity_is_seen_again_never_claimed(ledger_url: str) -> None:
    """A listed file whose name, size and mtime belong to a finished file is not claimed: the
    pipeline is told (``Seen``) so it can look at the content."""
    with Ledger(ledger_url) as ledger:
        record = ledger.claim(REF)
        assert isinstance(record, FileRecord)
        for frm, to in [(FileState.CLAIMED, FileState.STAGED),
                        (FileState.STAGED, FileState.DELIVERED),
                        (FileState.DELIVERED, FileState.ARCHIVED)]:
            ledger.transition(record.id, frm, to)
        seen = ledger.claim(REF)
        assert isinstance(seen, Seen) and seen.record.id == record.id
        assert ledger.get(record.id).state == FileState.ARCHIVED
        again = ledger.claim_generation(REF, seen.record, "sent again")
        assert again is not None and again.id != record.id and again.generation == 1
        assert ledger.claim_generation(REF, seen.record, "sent again") is None  # taken once
        assert ledger.claim(REF) is None  # the new generation is in hand


def _deliver(ledger: Ledger, file_id: int) -> None:
    for frm, to in [(FileState.CLAIMED, FileState.STAGED), (FileState.STAGED, FileState.DELIVERED)]:
        ledger.transition(file_id, frm, to)


def test_interchange_duplicates_within_the_window(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger:
        first = ledger.claim(REF)
        second = ledger.claim(FileRef("orders", "file:///srv/in", "b.csv", 10, 5))
        assert isinstance(first, FileRecord) and isinstance(second, FileRecord)
        keys = Keys(ledger)
        key = ("SENDER", "RECEIVER", "000123")
        keys.take_interchange(first, key, window=timedelta(days=1))
        keys.take_interchange(first, key, window=timedelta(days=1))  # its own key: fine
        with pytest.raises(SameContentInProgress):  # the first is still being delivered
            keys.take_interchange(second, key, window=timedelta(days=1))
        _deliver(ledger, first.id)
        with pytest.raises(DuplicateFile) as info:
            keys.take_interchange(second, key, window=timedelta(days=1))
        assert info.value.original_id == first.id
        keys.take_interchange(second, key, window=timedelta(seconds=-1))  # past the window


def test_content_keys_pass_from_a_failed_owner(ledger_url: str) -> None:
    """The copy that failed (quarantined) gives its content key to the next copy; a delivered
    owner keeps it; an owner in hand makes the next copy wait."""
    with Ledger(ledger_url) as ledger:
        a, b, c = (ledger.claim(FileRef("orders", "file:///srv/in", f"{n}.csv", 10, 5))
                   for n in "abc")
        assert isinstance(a, FileRecord) and isinstance(b, FileRecord)
        assert isinstance(c, FileRecord)
        a, b, c = (dataclasses.replace(r, sha256="f" * 64) for r in (a, b, c))
        keys = Keys(ledger)
        assert keys.take_contents([a]) == [None]
        [waits] = keys.take_contents([b])
        assert isinstance(waits, SameContentInProgress) and waits.owner == a.id
        ledger.transition(a.id, FileState.CLAIMED, FileState.QUARANTINED)
        assert keys.take_contents([b]) == [None]  # a failed: b owns the content now
        _deliver(ledger, b.id)
        [dup] = keys.take_contents([c])
        assert isinstance(dup, DuplicateFile) and dup.original_id == b.id


def test_two_workers_share_a_postgres_ledger_without_double_delivery(
        project: ProjectDir) -> None:
    """Several `tradelane` workers on one PostgreSQL ledger: every file delivered once."""
    gen = pg_schema_url()
    url = next(gen)
    try:
        project.route("orders", CSV_ROUTE)
        for i in range(120):
            project.drop("orders", f"f{i:03}.csv", GOOD_CSV.replace("PO-1", f"PO-{1000 + i}"))
        loaded = project.load()
        results: list = []

        def worker(name: str) -> None:
            with Ledger(url, worker=name) as ledger:
                results.extend(Runner(loaded, ledger).run_once().results)

        threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        delivered = [r for r in results if r.outcome == Outcome.DELIVERED]
        assert len(delivered) == 120, [r for r in results if r.outcome != Outcome.DELIVERED]
        assert len({r.file_id for r in delivered}) == 120
        assert len(project.outputs("orders")) == 120
        with Ledger(url) as ledger:  # and each original was archived once, by its own worker
            assert {r.state for r in ledger.files()} == {FileState.ARCHIVED}
            details = [e.detail or "" for r in ledger.files() for e in ledger.events(r.id)]
        assert not [d for d in details if "ALERT" in d]
        assert len(list((project.root / "archive").rglob("*.csv"))) == 120
    finally:
        gen.close()


def test_old_runs_are_pruned_but_recent_ones_kept(tmp_path) -> None:
    from sqlalchemy import func, select, update

    from tradelane.ledger.store import RUNS_KEPT
    from tradelane.ledger.tables import runs

    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        first = ledger.start_run("orders")
        ledger.finish_run(first, delivered=1, quarantined=0, pending=0)
        with ledger.begin() as conn:  # that first poll happened long ago
            conn.execute(update(runs).where(runs.c.id == first)
                         .values(started_at=utcnow() - RUNS_KEPT - timedelta(days=1)))
        for _ in range(120):
            ledger.finish_run(ledger.start_run("orders"), delivered=0, quarantined=0,
                              pending=0)
        with ledger.engine.connect() as conn:
            ids = conn.execute(select(runs.c.id)).scalars().all()
            count = conn.execute(select(func.count()).select_from(runs)).scalar_one()
        assert first not in ids and count == 120
        assert ledger.last_runs()["orders"]["delivered"] == 0


def test_a_group_of_moves_keeps_each_guard(ledger_url: str) -> None:
    """``apply`` records a chunk of files at once; a file someone else moved is left alone."""
    refs = [FileRef("orders", "file:///srv/in", f"{i}.csv", 10, i) for i in range(3)]
    with Ledger(ledger_url, worker="w1") as ledger:
        first, second, third = ledger.claim_many(refs)
        assert first and second and third
        ledger.transition(second.id, FileState.CLAIMED, FileState.PENDING, "someone else")
        results = ledger.apply([
            Move(r.id, (FileState.CLAIMED,), FileState.DELIVERED, "done", fields={"outputs": ["x"]})
            for r in (first, second, third)])
        assert isinstance(results[1], Conflict)
        assert [(r.state, r.outputs) for r in (results[0], results[2])] == [
            (FileState.DELIVERED, ["x"])] * 2
        assert ledger.get(second.id).state == FileState.PENDING
        assert [e.to_state for e in ledger.events(first.id)] == ["claimed", "delivered"]
        assert [e.to_state for e in ledger.events(second.id)] == ["claimed", "pending"]
        archived = ledger.apply([Move(r.id, (FileState.DELIVERED,), FileState.ARCHIVED, "moved")
                                 for r in (first, third)])
        assert [r.state for r in archived] == [FileState.ARCHIVED] * 2
        # the same listing again: the archived files stay done (seen, not claimed), the
        # pending one is retried
        again = ledger.claim_many(refs)
        assert isinstance(again[0], Seen) and isinstance(again[2], Seen)
        assert isinstance(again[1], FileRecord) and again[1].attempt == 2


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


def test_a_chunk_claim_sends_the_same_statements_whatever_its_size(pg_url: str) -> None:
    """On PostgreSQL a chunk's rows go as arrays (``unnest``), so a chunk of 3 and one of 7
    send the same statement texts, which the driver converts and the server parses once;
    a multi-row VALUES list was new text for each size."""
    from sqlalchemy import event

    with Ledger(pg_url, worker="w") as ledger:
        sent: list[str] = []
        event.listen(ledger.engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: sent.append(statement))
        texts = []
        for size, first in ((3, 0), (7, 100)):
            sent.clear()
            refs = [FileRef("orders", "file:///srv/in", f"f{first + i}.csv", 10, 123)
                    for i in range(size)]
            claims = ledger.claim_many(refs)
            assert all(isinstance(c, FileRecord) for c in claims)
            assert [c.name for c in claims] == [r.name for r in refs]  # type: ignore[union-attr]
            assert {c.state for c in claims} == {FileState.CLAIMED}  # type: ignore[union-attr]
            texts.append(sorted(set(sent)))
        assert texts[0] == texts[1]
        assert any("unnest" in t for t in texts[0])


def test_a_chunk_s_times_are_kept_in_utc_whatever_the_session_s_time_zone(pg_url: str) -> None:
    """A chunk's times go to PostgreSQL as arrays (in binary): a worker whose session runs in
    another time zone (a server's or a role's default) stores the same instants."""
    from sqlalchemy import select, text

    from tradelane.ledger.tables import events, files

    at = utcnow().replace(microsecond=123456)
    new_york = f"{pg_url}%20-cTimeZone%3DAmerica/New_York"
    with Ledger(new_york, worker="w") as ledger:
        with ledger.engine.connect() as conn:
            assert conn.execute(text("SHOW TimeZone")).scalar_one() == "America/New_York"
        claims = ledger.claim_many(
            [FileRef("orders", "file:///srv/in", f"t{i}.csv", 10, 123) for i in range(4)],
            now=at)
        assert all(isinstance(c, FileRecord) and c.received_at == at for c in claims)
    with Ledger(pg_url, worker="r") as reader, reader.engine.connect() as conn:
        assert set(conn.execute(select(files.c.received_at, files.c.updated_at)).all()) == {
            (at, at)}
        assert set(conn.execute(select(events.c.at)).scalars()) == {at}


def test_a_file_left_delivered_without_steps_is_given_them_and_taken(ledger_url: str) -> None:
    """A ledger written before steps were kept: a delivered file with none gets the steps
    ``adopt`` names (two, one with bytes), and comes back with its lease taken."""
    from tradelane.ledger import Followup
    from tradelane.ledger.followups import Followups

    with Ledger(ledger_url, worker="w") as ledger:
        record = ledger.claim(REF)
        assert isinstance(record, FileRecord)
        ledger.transition(record.id, FileState.CLAIMED, FileState.DELIVERED)
        adopted = [Followup("original", {"action": "archive"}),
                   Followup("ack", {"path": "acks/1.edi"}, b"UNB+\x00")]
        due = Followups(ledger).take_due("orders", adopt=lambda _r: adopted)
        assert [(f.id, [(s.step, dict(s.detail), s.data) for s in steps]) for f, steps in due] \
            == [(record.id, [("original", {"action": "archive"}, None),
                             ("ack", {"path": "acks/1.edi"}, b"UNB+\x00")])]
        assert due[0][0].lease_owner == "w"
