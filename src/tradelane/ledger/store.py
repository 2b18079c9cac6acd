"""``Ledger``: every file and every step, with guarded state transitions.

Every transition is ``UPDATE files ... WHERE id = :id AND state IN (:from)`` plus one
``events`` row. If the guard does not match (another worker moved the file first), that file
gets a ``Conflict`` and nothing changes for it. ``claim_many`` and ``apply`` take many
files in one transaction (group commit): the pipeline records a chunk of small files at once,
with the same guards and the same events as one by one.

Claims work the same way on SQLite and PostgreSQL: a new file is claimed by inserting its row
(``ON CONFLICT DO NOTHING`` on its identity), an existing one by a guarded update that only
succeeds while the row is pending, or claimed under an expired lease. Whoever gets rowcount 1
owns the file; a worker that dies hands its files over when its lease runs out.

Fencing (``fence``): every claim raises the file's fencing token by one, and a move that
carries the token it was claimed with (``Move.fence``) is guarded on it too. A worker that
stalled past its lease (a pause, a swap storm) and wakes up after another worker claimed the
file again holds an old token: its step is refused with ``StaleClaim`` and nothing of it is
written. Every event records the token its step was taken under.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Table,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from tradelane.errors import Conflict, NotFound, StaleClaim, TradelaneError
from tradelane.ledger import schema, wakeups
from tradelane.ledger.errors import retrying, translate_errors
from tradelane.ledger.tables import event_outbox, events, files, followups, runs
from tradelane.models import FileRef, FileState

#: How long the record of each poll (``runs``: last run, counts, errors) is kept.
RUNS_KEPT = timedelta(days=30)
#: States from which a poll may (re)take a file.
_RETRYABLE = (FileState.PENDING.value, FileState.DISCOVERED.value)
#: States a worker holds under a lease; retaken once the lease expires.
_IN_HAND = (FileState.CLAIMED.value, FileState.STAGED.value)
#: States in which a worker keeps its lease: until archived, nobody else touches the original.
_LEASED = frozenset({FileState.CLAIMED, FileState.STAGED, FileState.DELIVERED})
#: States a file ends in; a listed file with the same identity is looked at again (``Seen``).
FINISHED = frozenset({FileState.ARCHIVED, FileState.QUARANTINED, FileState.DUPLICATE,
                      FileState.DISCARDED, FileState.LOST})
#: The largest file id the ``files.id`` column holds (PostgreSQL's INTEGER).
MAX_ID = 2**31 - 1
#: Longest event detail kept; a longer one is cut, saying how long it was.
MAX_DETAIL = 2000






@dataclass(frozen=True, slots=True)
class FileRecord:
    """One row of the ``files`` table."""

    id: int
    route: str
    source: str
    name: str
    size: int
    mtime_ns: int
    sha256: str | None
    state: FileState
    attempt: int
    mapping_version: str | None
    received_at: datetime
    updated_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    next_attempt_at: datetime | None
    stage: str | None
    message: str | None
    error_count: int | None
    path: str | None
    outputs: list[str]
    parent_id: int | None
    token: str | None = None
    raw_name: bytes | None = None
    generation: int = 0
    fence: int = 0  # fencing token: raised by every claim

    @classmethod
    def from_row(cls, row: Any) -> FileRecord:
        data = dict(row._mapping)
        data["state"] = FileState(data["state"])
        data["outputs"] = json.loads(data["outputs"]) if data["outputs"] else []
        data["raw_name"] = bytes.fromhex(data["raw_name"]) if data["raw_name"] else None
        return cls(**data)

    @property
    def ref(self) -> FileRef:
        return FileRef(self.route, self.source, self.name, self.size, self.mtime_ns,
                       self.token, self.raw_name)


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    file_id: int
    at: datetime
    actor: str
    from_state: str | None
    to_state: str
    detail: str | None
    fence: int | None = None  # the fencing token the step was taken under


@dataclass(frozen=True, slots=True)
class Step:
    """A state a file passed through, logged later together with the next transition."""

    state: FileState
    detail: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Move:
    """One guarded state change for ``Ledger.apply``: from one of ``expect`` to ``to``."""

    file_id: int
    expect: tuple[FileState, ...]
    to: FileState
    detail: str = ""
    via: Step | None = None  # a step taken but not yet written, logged first
    fields: Mapping[str, Any] = field(default_factory=dict)
    #: steps that must follow this state, recorded in the same transaction (``followups``)
    followups: tuple[Followup, ...] = ()
    #: the fencing token the file was claimed with; the move is refused (``StaleClaim``) if
    #: the file was claimed again since. None: not guarded (ops requests, recovery).
    fence: int | None = None
    #: rows of ``event_outbox`` (events about this outcome), recorded in the same transaction
    events: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Followup:
    """A step to take once a move is recorded: ``split`` (register the rejects split out of
    the file and write their reason), ``ack`` (write an acknowledgement), ``original`` (the
    route's post-action on the original), ``release`` (a reprocessed quarantine copy goes to
    the archive). ``detail`` is what the step needs, ``data`` the bytes it writes."""

    step: str
    detail: Mapping[str, Any]
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Seen:
    """A listed file whose identity (name, size, mtime) belongs to a file already finished:
    it is still in the source, or it was sent again. The pipeline looks at its content."""

    record: FileRecord


def utcnow() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """The record of every file. Accepts an Engine (whose lifecycle it does not own) or a URL."""

    def __init__(
        self,
        engine: Engine | str,
        *,
        worker: str = "tradelane",
        lease: timedelta = timedelta(minutes=15),
    ):
        self._owns_engine = isinstance(engine, str)
        self.engine = _make_engine(engine) if isinstance(engine, str) else engine
        translate_errors(self.engine)
        self._insert_ignore = insert_ignore(
            files, self.engine.dialect.name, constraint="uq_files_identity").returning(*files.c)
        self.worker = worker
        self.lease = lease
        #: told of the routes a claim recorded new files of (PostgreSQL: peers are woken)
        self.on_discovered = wakeups.announcer(self.engine)
        # SQLite has one writer at a time and its busy handler sleeps for milliseconds:
        # threads of this process queue on a lock instead.
        self._write_lock: Any = (threading.Lock() if self.engine.dialect.name == "sqlite"
                                 else contextlib.nullcontext())
        schema.upgrade(self.engine)

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (committed on exit, rolled back on error). Opening it is
        retried a few times while the database is unavailable (``ledger.errors``)."""
        with self._write_lock:
            conn = retrying(self.engine.connect)
            with conn, conn.begin():
                yield conn

    def acting_as(self, worker: str) -> Ledger:
        """This ledger (same engine, same write lock) recording ``worker`` as the actor of
        what it does: the console names the user who asked. Closing it closes nothing."""
        other = copy.copy(self)
        other.worker, other._owns_engine = worker, False
        return other

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- claiming --------------------------------------------------------------------------

    def claim(self, ref: FileRef, *, now: datetime | None = None) -> Claim:
        """Take a listed file for processing: its record (claimed), ``Seen`` if a finished file
        has its identity, or None if someone else has it or it is not due yet."""
        return self.claim_many([ref], now=now)[0]

    def claim_many(self, refs: Sequence[FileRef], *, now: datetime | None = None) -> list[Claim]:
        """``claim`` for each of ``refs``, in one transaction; results in the same order.

        Several workers listing the same folder race for the same files: a file a peer has
        in hand costs one row of one query here, never a statement of its own, and rows a
        peer is taking right now are skipped (``SKIP LOCKED``), never waited for."""
        if not refs:
            return []
        now = now or utcnow()
        lease_until = now + self.lease
        # one order for every worker: two chunks that overlap take the unique index's
        # entries in the same order, so they never wait for each other crosswise
        new = sorted((_new_file(ref, now, self.worker, lease_until) for ref in refs),
                     key=lambda row: [row[c] for c in _IDENTITY])
        with self.begin() as conn:
            rows = insert_rows(conn, files, new, conflict="uq_files_identity",
                               returning=tuple(c.name for c in files.c),
                               fallback=self._insert_ignore).all()
            inserted = {_key(r): r for r in rows}
            logs = [_event(r.id, now, self.worker, None, FileState.CLAIMED.value, "picked up",
                           fence=r.fence) for r in rows]
            known = [ref for ref in refs if _key(ref) not in inserted]
            retaken = self._retake(conn, known, now, lease_until, logs) if known else {}
            if logs:
                insert_rows(conn, events, logs)
            if rows and self.on_discovered is not None:
                self.on_discovered(conn, self.worker, {r.route for r in rows})
        return [FileRecord.from_row(inserted[_key(ref)]) if _key(ref) in inserted
                else retaken.get(_key(ref)) for ref in refs]

    def _retake(self, conn: Connection, refs: Sequence[FileRef], now: datetime,
                lease_until: datetime, logs: list[dict[str, Any]]) -> dict[_Key, Claim]:
        """Claim files the ledger already knows (the newest generation of each identity):
        due for a retry, or their lease ran out; ``Seen`` for finished ones. Three
        statements for the whole chunk: read, lock what is due (``SKIP LOCKED``), take it."""
        wanted = {_key(ref) for ref in refs}
        newest: dict[_Key, FileRecord] = {}
        for (route, source), names in _by_folder(refs).items():
            for row in conn.execute(select(files).where(
                    files.c.route == route, files.c.source == source,
                    files.c.name.in_(names))):
                record = FileRecord.from_row(row)
                key = _key(record)
                if key in wanted and (key not in newest
                                      or record.generation > newest[key].generation):
                    newest[key] = record
        out: dict[_Key, Claim] = {k: Seen(r) for k, r in newest.items() if r.state in FINISHED}
        due = [r.id for r in newest.values() if r.state not in FINISHED and _takeable(r, now)]
        if not due:
            return out
        # the guard again, under the row lock: a peer that took a row since is not matched,
        # one taking it now is skipped (SQLite: the whole ledger is locked already)
        before = {r.id: r for r in conn.execute(
            select(files.c.id, files.c.state, files.c.lease_owner)
            .where(files.c.id.in_(due), _takeable_now(now))
            .with_for_update(skip_locked=True))}
        if not before:
            return out
        for row in conn.execute(
                update(files).where(files.c.id.in_(list(before)))
                .values(state=FileState.CLAIMED.value, lease_owner=self.worker,
                        lease_until=lease_until, updated_at=now, attempt=files.c.attempt + 1,
                        fence=files.c.fence + 1)
                .returning(*files.c)):
            was = before[row.id]
            why = ("retry after a temporary failure" if was.state == FileState.PENDING.value
                   else "picked up again (left by an earlier poll)"
                   if was.state == FileState.DISCOVERED.value
                   else f"taken over from {was.lease_owner} (lease expired)")
            logs.append(_event(row.id, now, self.worker, was.state, FileState.CLAIMED.value,
                               why, fence=row.fence))
            out[_key(row)] = FileRecord.from_row(row)
        return out

    def claim_generation(self, ref: FileRef, known: FileRecord, why: str) -> FileRecord | None:
        """Record a file sent again under a finished file's identity (name, size, mtime) as a
        new file, the next generation of it, claimed; None if another worker did first."""
        now = utcnow()
        with self.begin() as conn:
            row = conn.execute(self._insert_ignore, [{
                **_new_file(ref, now, self.worker, now + self.lease),
                "generation": known.generation + 1}]).one_or_none()
            if row is None:
                return None
            _log(conn, row.id, now, self.worker, None, FileState.CLAIMED.value,
                 f"picked up: {why} (file {known.id} had this name, size and mtime)",
                 fence=row.fence)
            return FileRecord.from_row(row)

    def reclaim(self, file_id: int, *, expect: Iterable[FileState], detail: str) -> FileRecord:
        """Start a new attempt on a file ops asked to reprocess (attempt N+1)."""
        now = utcnow()
        with self.begin() as conn:
            current = self._get(conn, file_id)
            expected = [s.value for s in expect]
            result = conn.execute(
                update(files)
                .where(files.c.id == file_id, files.c.state.in_(expected))
                .values(state=FileState.CLAIMED.value, attempt=current.attempt + 1,
                        lease_owner=self.worker, lease_until=now + self.lease, updated_at=now,
                        fence=files.c.fence + 1)
            )
            if result.rowcount != 1:
                raise Conflict(file_id, expected, FileState.CLAIMED.value)
            _log(conn, file_id, now, self.worker, current.state.value, FileState.CLAIMED.value,
                 detail, fence=current.fence + 1)
            return self._get(conn, file_id)

    def register(self, ref: FileRef, *, state: FileState, detail: str, parent_id: int | None,
                 conn: Connection | None = None, **fields: Any) -> FileRecord:
        """Record a file the engine made itself (rejected records split out of a file); its
        identity is deterministic, so registering it again returns the same record."""
        if conn is None:
            with self.begin() as conn:
                return self.register(ref, state=state, detail=detail, parent_id=parent_id,
                                     conn=conn, **fields)
        now = utcnow()
        row = conn.execute(self._insert_ignore.values(
            route=ref.route, source=ref.source, name=ref.name, size=ref.size,
            mtime_ns=ref.mtime_ns, state=state.value, attempt=1, received_at=now,
            updated_at=now, parent_id=parent_id, generation=0, **_encode(fields))).one_or_none()
        if row is None:
            return FileRecord.from_row(conn.execute(select(files).where(*_identity(ref))).one())
        _log(conn, row.id, now, self.worker, None, state.value, detail)
        return FileRecord.from_row(row)

    # -- transitions -----------------------------------------------------------------------

    def transition(
        self,
        file_id: int,
        expect: FileState | Iterable[FileState],
        to: FileState,
        detail: str = "",
        *,
        via: Step | None = None,
        fence: int | None = None,
        **fields: Any,
    ) -> FileRecord:
        """Move a file from one of ``expect`` to ``to``, set ``fields``, and log an event.

        ``via`` is a step already taken but not yet written (e.g. staged): it is logged first,
        in the same transaction, saving a commit per file on the hot path.
        Raises ``Conflict`` (or ``NotFound``) and changes nothing if the guard fails;
        ``StaleClaim`` if ``fence`` is given and the file was claimed again since.
        """
        expected = (expect,) if isinstance(expect, FileState) else tuple(expect)
        result = self.apply([Move(file_id, expected, to, detail, via, fields, fence=fence)])[0]
        if isinstance(result, TradelaneError):
            raise result
        return result

    def apply(self, moves: Sequence[Move], *,
              conn: Connection | None = None) -> list[FileRecord | Conflict | NotFound]:
        """Every move in one transaction (``conn``'s, if given); each guarded on its own. A
        move whose guard fails gets its error in the result list, and the others still
        happen. A move's follow-up steps are recorded with it."""
        if conn is None:
            with self.begin() as conn:
                return self._apply_in(conn, moves)
        return self._apply_in(conn, moves)

    def _apply_in(self, conn: Connection,
                  moves: Sequence[Move]) -> list[FileRecord | Conflict | NotFound]:
        now = utcnow()
        logs: list[dict[str, Any]] = []
        befores = [m.expect[0].value if len(m.expect) == 1 else conn.execute(
            select(files.c.state).where(files.c.id == m.file_id)).scalar_one_or_none()
            for m in moves]  # the state each move leaves, for its event
        results = self._apply_all(conn, moves, now)
        if results is None:
            results = [self._apply_one(conn, move, now) for move in moves]
        planned: list[dict[str, Any]] = []
        outgoing: list[dict[str, Any]] = []
        for move, before, result in zip(moves, befores, results, strict=True):
            if isinstance(result, FileRecord):
                logs.extend(self._move_events(move, before, now))
                planned.extend({"file_id": move.file_id, "step": f.step,
                                "detail": json.dumps(dict(f.detail)), "data": f.data,
                                "attempts": 0, "created_at": now} for f in move.followups)
                outgoing.extend({**e, "file_id": move.file_id, "attempts": 0,
                                 "next_try_at": now, "created_at": now} for e in move.events)
        if logs:
            insert_rows(conn, events, logs)
        if planned:
            insert_rows(conn, followups, planned)
        if outgoing:
            insert_rows(conn, event_outbox, outgoing)
        return results

    def _apply_all(self, conn: Connection, moves: Sequence[Move],
                   now: datetime) -> list[FileRecord | Conflict | NotFound] | None:
        """Alike moves (one expected state, the same fields) as one executemany; None if they
        are not alike or a guard failed (then nothing of it stays, and each goes alone)."""
        if len(moves) < 2 or not self.engine.dialect.supports_sane_multi_rowcount:
            return None
        params = [{**_move_values(m, now), "b_id": m.file_id,
                   "b_state": m.expect[0].value, "b_fence": m.fence} for m in moves]
        if any(len(m.expect) != 1 for m in moves) or len({tuple(p) for p in params}) != 1:
            return None
        if conn.dialect.name == "postgresql":
            return self._apply_all_at_once(conn, moves, params, now)
        savepoint = conn.begin_nested()
        if conn.execute(_GUARDED_UPDATE_ONE, params).rowcount != len(moves):
            savepoint.rollback()
            return None
        savepoint.commit()
        ids = [m.file_id for m in moves]
        rows = {r.id: FileRecord.from_row(r)
                for r in conn.execute(select(files).where(files.c.id.in_(ids)))}
        return [rows[i] for i in ids]

    def _apply_all_at_once(self, conn: Connection, moves: Sequence[Move],
                           params: list[dict[str, Any]],
                           now: datetime) -> list[FileRecord | Conflict | NotFound] | None:
        """``_apply_all`` on PostgreSQL: one ``UPDATE ... FROM unnest(<arrays>) RETURNING``,
        each row guarded as ``_GUARDED_UPDATE_ONE`` guards it. psycopg's executemany has the
        server run a statement per row, and the rows must be read back after it: per file,
        two executions and a round trip more. The statement has one parameter per column
        (an array), so it is compiled once per set of columns, whatever the chunk's size. A
        move whose guard fails is left to ``_apply_one``, which says why (the others stay
        done: each is guarded on its own)."""
        ids = [m.file_id for m in moves]
        if len(set(ids)) != len(ids):
            return None  # two moves of one file: in order, one by one
        keys = tuple(k for k in params[0] if not k.startswith("b_"))
        statement = _update_many(keys)
        arrays = {f"a_{k}": [p[k] for p in params] for k in ("b_id", "b_state", "b_fence", *keys)}
        done = {r.id: FileRecord.from_row(r) for r in conn.execute(statement, arrays)}
        return [done[m.file_id] if m.file_id in done else self._apply_one(conn, m, now)
                for m in moves]

    def _apply_one(self, conn: Connection, move: Move,
                   now: datetime) -> FileRecord | Conflict | NotFound:
        expected = [s.value for s in move.expect]
        row = conn.execute(_GUARDED_UPDATE, {**_move_values(move, now), "b_id": move.file_id,
                                             "b_expected": expected,
                                             "b_fence": move.fence}).one_or_none()
        if row is not None:
            return FileRecord.from_row(row)
        current = conn.execute(select(files.c.fence).where(files.c.id == move.file_id)
                               ).scalar_one_or_none()
        if current is None:
            return NotFound(move.file_id)
        if move.fence is not None and current != move.fence:
            return StaleClaim(move.file_id, move.fence, current)
        return Conflict(move.file_id, expected, move.to.value)

    def _move_events(self, move: Move, before: str | None,
                     now: datetime) -> list[dict[str, Any]]:
        """The event rows of a move that happened: its ``via`` step first, if any."""
        out = []
        if move.via is not None:
            out.append(_event(move.file_id, move.via.at, self.worker, before,
                              move.via.state.value, move.via.detail, fence=move.fence))
            before = move.via.state.value
        out.append(_event(move.file_id, now, self.worker, before, move.to.value, move.detail,
                          fence=move.fence))
        return out

    def note(self, file_id: int, detail: str) -> None:
        """An event that does not change the state (a warning, an alert, a retry)."""
        with self.begin() as conn:
            state = conn.execute(select(files.c.state).where(files.c.id == file_id)).scalar_one()
            _log(conn, file_id, utcnow(), self.worker, state, state, detail)

    # -- reading ---------------------------------------------------------------------------

    def get(self, file_id: int) -> FileRecord:
        """Raises ``NotFound``, also for an id no file can have (0, or past the column)."""
        if not 0 < file_id <= MAX_ID:
            raise NotFound(file_id)
        with self.engine.connect() as conn:
            return self._get(conn, file_id)

    def find(self, key: str) -> list[FileRecord]:
        """Files by id, or by name (newest first)."""
        with self.engine.connect() as conn:
            if key.isascii() and key.isdigit():
                if not 0 < int(key) <= MAX_ID:
                    return []
                row = conn.execute(select(files).where(files.c.id == int(key))).one_or_none()
                return [FileRecord.from_row(row)] if row else []
            rows = conn.execute(select(files).where(files.c.name == key)
                                .order_by(files.c.id.desc())).all()
            return [FileRecord.from_row(r) for r in rows]

    def files(
        self,
        *,
        states: Iterable[FileState] | None = None,
        route: str | None = None,
        limit: int | None = None,
    ) -> list[FileRecord]:
        query = select(files).order_by(files.c.id)
        if states is not None:
            query = query.where(files.c.state.in_([s.value for s in states]))
        if route:
            query = query.where(files.c.route == route)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [FileRecord.from_row(r) for r in conn.execute(query)]

    def events(self, file_id: int) -> list[EventRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(events).where(events.c.file_id == file_id)
                                .order_by(events.c.id)).all()
        return [EventRecord(**dict(r._mapping)) for r in rows]

    def counts(self) -> dict[str, dict[str, int]]:
        """route -> state -> number of files."""
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(files.c.route, files.c.state, func.count())
                                .group_by(files.c.route, files.c.state))
            for route, state, count in rows:
                out.setdefault(route, {})[state] = count
        return out

    # -- runs ------------------------------------------------------------------------------

    def start_run(self, route: str) -> int:
        """Record a poll of ``route``; polls older than ``RUNS_KEPT`` are forgotten here, so a
        watched folder polled every few seconds does not grow the table for ever."""
        now = utcnow()
        with self.begin() as conn:
            result = conn.execute(insert(runs).values(route=route, worker=self.worker,
                                                      started_at=now))
            run_id = int(result.inserted_primary_key[0])
            if run_id % 100 == 0:  # now and then is enough
                conn.execute(runs.delete().where(runs.c.route == route,
                                                 runs.c.started_at < now - RUNS_KEPT))
            return run_id

    def finish_run(self, run_id: int, *, delivered: int, quarantined: int, pending: int,
                   error: str | None = None, duplicates: int = 0) -> None:
        with self.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                finished_at=utcnow(), delivered=delivered, quarantined=quarantined,
                pending=pending, error=error, duplicates=duplicates))

    def record_runs(self, done: Sequence[Mapping[str, Any]]) -> None:
        """Record finished polls (route, started_at, finished_at, counts, error) in one
        statement: a pass's empty polls cost one write, not two per route."""
        if not done:
            return
        with self.begin() as conn:
            ids = conn.execute(insert(runs).returning(runs.c.id),
                               [{"worker": self.worker, **run} for run in done]).scalars().all()
            routes = {run["route"] for run in done}
            if any(i % 100 == 0 for i in ids):  # now and then, as start_run does
                conn.execute(runs.delete().where(runs.c.route.in_(routes),
                                                 runs.c.started_at < utcnow() - RUNS_KEPT))

    def last_runs(self, *, non_empty: bool = False) -> dict[str, dict[str, Any]]:
        """route -> its most recent finished run (``non_empty``: that handled a file, so
        that the empty polls of a watched folder do not hide the last real result)."""
        query = select(runs.c.route, func.max(runs.c.id).label("id")) \
            .where(runs.c.finished_at.is_not(None))
        if non_empty:
            query = query.where(runs.c.delivered + runs.c.quarantined + runs.c.pending
                                + runs.c.duplicates > 0)
        latest = query.group_by(runs.c.route).subquery()
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).join(latest, runs.c.id == latest.c.id)).all()
        return {r.route: dict(r._mapping) for r in rows}

    def last_arrival(self, route: str) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(files.c.received_at))
                                .where(files.c.route == route)).scalar_one_or_none()

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _exists(conn: Any, file_id: int) -> bool:
        return conn.execute(select(files.c.id).where(files.c.id == file_id)).first() is not None

    @staticmethod
    def _get(conn: Any, file_id: int) -> FileRecord:
        row = conn.execute(select(files).where(files.c.id == file_id)).one_or_none()
        if row is None:
            raise NotFound(file_id)
        return FileRecord.from_row(row)

    # -- keeping claims (``lease_keeper``) ---------------------------------------------------

    def renew(self, held: Mapping[int, int], *, now: datetime | None = None) -> dict[int, int]:
        """Extend the lease of the claims this worker holds (file id -> its fencing token) by
        ``lease`` from now, in one statement guarded by worker and token: a claim another
        worker took over is not renewed. Returns the ones lost: file id -> the token now.
        A file this worker moved on itself (recorded, postponed) is neither renewed nor lost."""
        from sqlalchemy import tuple_

        if not held:
            return {}
        now = now or utcnow()
        pairs = list(held.items())
        with self.begin() as conn:
            renewed = set(conn.execute(
                update(files)
                .where(tuple_(files.c.id, files.c.fence).in_(pairs),
                       files.c.lease_owner == self.worker,
                       files.c.state.in_([s.value for s in _LEASED]))
                .values(lease_until=now + self.lease)
                .returning(files.c.id)).scalars())
            if len(renewed) == len(held):
                return {}
            rest = [i for i in held if i not in renewed]
            rows = conn.execute(select(files.c.id, files.c.fence)
                                .where(files.c.id.in_(rest))).all()
        return {r.id: r.fence for r in rows if r.fence != held[r.id]}


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # take the write lock up front: a deferred transaction that later writes can fail
            # with "database is locked" without waiting, when another process writes.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (above)
            cur = dbapi_conn.cursor()
            _journal_mode_wal(cur)
            # NORMAL in WAL mode survives a process crash; a power cut may lose the last
            # commits, which only causes an idempotent re-delivery (deterministic names).
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_pre_ping=True)
    # a chunk's rows as one multi-row INSERT (SQLAlchemy's "insertmanyvalues"), not
    # psycopg's executemany, which sends, and has the server run, one statement per row:
    # per file that was most of the ledger's CPU and of the worker's socket writes
    engine.dialect.use_insertmanyvalues_wo_returning = True

    @event.listens_for(engine, "connect")
    def _binary_arrays(dbapi_conn: Any, _record: Any) -> None:
        # a chunk's unnest arrays in PostgreSQL's binary format: psycopg's text format
        # quotes every element in Python (a regex each), 0.87 -> 0.24 ms of the worker's CPU
        # per 70-row statement of 7 columns. Datetimes arrive naive UTC (UtcDateTime).
        adapters = getattr(dbapi_conn, "adapters", None)  # psycopg 3; other drivers as they are
        if adapters is not None:
            from psycopg.types.array import ListBinaryDumper

            adapters.register_dumper(list, ListBinaryDumper)

    return engine


def _journal_mode_wal(cur: Any) -> None:
    """``PRAGMA journal_mode=WAL``. While another process opens the same new ledger (two
    workers started together), SQLite can refuse it at once with "database is locked",
    without waiting for its busy timeout: wait a little and try again, a few times."""
    for wait in (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, None):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if wait is None or "locked" not in str(exc):
                raise
            time.sleep(wait)


def insert_ignore(table: Table, dialect: str, **on_conflict: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` on the ledger's database (``on_conflict`` names
    PostgreSQL's constraint). Each dialect is imported here, where it is used: PostgreSQL's
    costs 70 ms at every start."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(**on_conflict)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing()
    raise TradelaneError(f"unsupported ledger database {dialect!r}")


def _new_file(ref: FileRef, now: datetime, worker: str, lease_until: datetime) -> dict[str, Any]:
    return dict(route=ref.route, source=ref.source, name=ref.name, size=ref.size,
                mtime_ns=ref.mtime_ns, token=ref.token,
                raw_name=ref.raw_name.hex() if ref.raw_name is not None else None,
                generation=0, state=FileState.CLAIMED.value, attempt=1, received_at=now,
                updated_at=now, lease_owner=worker, lease_until=lease_until, fence=1)


def _identity(ref: FileRef) -> list[Any]:
    return [files.c.route == ref.route, files.c.source == ref.source, files.c.name == ref.name,
            files.c.size == ref.size, files.c.mtime_ns == ref.mtime_ns]


#: The columns naming a file (with its generation): ``uq_files_identity``.
_IDENTITY = ("route", "source", "name", "size", "mtime_ns")
_Key = tuple[str, str, str, int, int]


def _key(item: Any) -> _Key:
    """A listed file's or a row's identity."""
    return (item.route, item.source, item.name, item.size, item.mtime_ns)


def _by_folder(refs: Iterable[FileRef]) -> dict[tuple[str, str], list[str]]:
    """(route, source) -> names: one indexed lookup per folder (a chunk has one)."""
    out: dict[tuple[str, str], list[str]] = {}
    for ref in refs:
        out.setdefault((ref.route, ref.source), []).append(ref.name)
    return out


def _takeable_now(now: datetime) -> Any:
    """``_takeable`` as a condition the database checks."""
    return or_(
        and_(files.c.state.in_(_RETRYABLE),
             or_(files.c.next_attempt_at.is_(None), files.c.next_attempt_at <= now)),
        and_(files.c.state.in_(_IN_HAND), files.c.lease_until < now))


def _takeable(record: FileRecord, now: datetime) -> bool:
    if record.state.value in _RETRYABLE:
        return record.next_attempt_at is None or record.next_attempt_at <= now
    if record.state.value in _IN_HAND:
        return record.lease_until is not None and record.lease_until < now
    return False


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    if "outputs" in fields and not isinstance(fields["outputs"], str | None):
        fields = {**fields, "outputs": json.dumps(list(fields["outputs"]))}
    if "state" in fields:
        raise ValueError("use the 'to' argument to change state")
    return fields


# Statements built once: the SET columns come from each call's parameters, and SQLAlchemy
# reuses the compiled form instead of constructing a statement per file.
_INSERT_EVENT = insert(events)
#: the fencing guard: the file's token is the mover's, or the move carries none
_FENCED = func.coalesce(bindparam("b_fence", type_=Integer), files.c.fence) == files.c.fence
_GUARDED_UPDATE = (
    update(files)
    .where(files.c.id == bindparam("b_id"),
           files.c.state.in_(bindparam("b_expected", expanding=True)), _FENCED)
    .returning(*files.c)
)
_GUARDED_UPDATE_ONE = (
    update(files)
    .where(files.c.id == bindparam("b_id"), files.c.state == bindparam("b_state"), _FENCED)
)

@functools.cache
def _update_many(keys: tuple[str, ...]) -> Any:
    """``UPDATE files SET <keys> FROM unnest(<an array per column>)``, guarded per row like
    ``_GUARDED_UPDATE_ONE``, returning the rows it changed (PostgreSQL only)."""
    types = {"b_id": Integer(), "b_state": files.c.state.type, "b_fence": Integer(),
             **{k: files.c[k].type for k in keys}}
    arrays, params = _arrays(types, "a_")
    sets = ", ".join(f'"{k}" = m."{k}"' for k in keys)
    returning = ", ".join(f'files."{c.name}"' for c in files.c)
    names = ", ".join(f'"{k}"' for k in types)
    # every name is one of the files table's columns (files.c[k] above), never data
    sql = (f"UPDATE files SET {sets} FROM unnest({arrays}) AS m({names})"  # noqa: S608
           " WHERE files.id = m.b_id AND files.state = m.b_state"
           " AND coalesce(m.b_fence, files.fence) = files.fence"
           f" RETURNING {returning}")
    return text(sql).bindparams(*params).columns(*files.c)


def _arrays(types: Mapping[str, Any], prefix: str) -> tuple[str, list[Any]]:
    """The ``unnest`` arguments for columns of these types: each parameter (``prefix`` +
    name) cast to its column's type, as an array of NULLs has none of its own; and the
    parameters, typed so that each value is bound as its column binds it."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    arrays = ", ".join(f"CAST(:{prefix}{k} AS {t.compile(dialect=dialect)}[])"
                       for k, t in types.items())
    return arrays, [bindparam(f"{prefix}{k}", type_=postgresql.ARRAY(t))
                    for k, t in types.items()]


@functools.cache
def _insert_unnest(table: Table, keys: tuple[str, ...], conflict: str | None,
                   returning: tuple[str, ...]) -> Any:
    """``INSERT INTO t (keys) SELECT * FROM unnest(<an array per column>)``: one text
    whatever the number of rows, which psycopg converts once and the server parses once (a
    multi-row VALUES list is new text for every chunk size: 0.75 -> 0.58 s of a worker's
    ledger time per 1,500 files)."""
    arrays, params = _arrays({k: table.c[k].type for k in keys}, "u_")
    names = ", ".join(f'"{k}"' for k in keys)
    sql = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
    if conflict is not None:
        sql += (f" ON CONFLICT ON CONSTRAINT {conflict} DO NOTHING" if conflict
                else " ON CONFLICT DO NOTHING")
    stmt = text(sql + (" RETURNING " + ", ".join(f'"{c}"' for c in returning)
                       if returning else "")).bindparams(*params)
    return stmt.columns(*(table.c[c] for c in returning)) if returning else stmt


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
                conflict: str | None = None, returning: tuple[str, ...] = (),
                fallback: Any = None) -> Any:
    """``rows`` into ``table`` in one statement (PostgreSQL: ``_insert_unnest``; rows with
    differing keys, and other databases, through ``fallback`` or a plain INSERT).
    ``conflict``: None for no ON CONFLICT clause, a constraint's name, or "" for any."""
    if conn.dialect.name != "postgresql" or len({tuple(r) for r in rows}) != 1:
        return conn.execute(fallback if fallback is not None else insert(table), list(rows))
    keys = tuple(rows[0])
    return conn.execute(_insert_unnest(table, keys, conflict, returning),
                        {f"u_{k}": [r[k] for r in rows] for k in keys})


def _move_values(move: Move, now: datetime) -> dict[str, Any]:
    """The columns a move sets: its fields, the state, and the lease released once done."""
    values = {**_encode(dict(move.fields)), "state": move.to.value, "updated_at": now}
    if isinstance(values.get("message"), str):
        values["message"] = clip(values["message"])
    if move.to not in _LEASED:
        values.setdefault("lease_owner", None)
        values.setdefault("lease_until", None)
    return values


def _event(file_id: int, at: datetime, actor: str, from_state: str | None, to_state: str,
           detail: str, fence: int | None = None) -> dict[str, Any]:
    return {"file_id": file_id, "at": at, "actor": actor, "from_state": from_state,
            "to_state": to_state, "detail": clip(detail), "fence": fence}


def clip(text: str, most: int = MAX_DETAIL) -> str:
    """``text``, cut to ``most`` characters with a note of its real length (ledger events and
    messages stay small whatever a file holds)."""
    if len(text) <= most:
        return text
    return f"{text[:most]}… ({len(text):,} characters in all)"


def _log(conn: Any, file_id: int, at: datetime, actor: str, from_state: str | None,
         to_state: str, detail: str, fence: int | None = None) -> None:
    conn.execute(_INSERT_EVENT, _event(file_id, at, actor, from_state, to_state, detail, fence))


#: What ``claim`` gives for one listed file.
Claim = FileRecord | Seen | None

__all__ = ["FINISHED", "Claim", "EventRecord", "FileRecord", "Followup", "Ledger", "Move", "Seen",
           "Step", "clip", "utcnow"]
