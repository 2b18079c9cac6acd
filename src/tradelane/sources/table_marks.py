"""Where a table source stands, kept in the ledger (``source_marks``): shared by every worker.

One row per route and source holds the watermark of the rows already handed over, the poll in
flight (its snapshot's name, the watermark its outcome moves to, or the keys whose status it
sets) and a lease: the worker polling owns the row until the snapshot's outcome is known, so
two workers never export the same rows. The lease is taken in a short ledger transaction
(``SELECT ... FOR UPDATE`` on PostgreSQL, the single writer lock on SQLite); the source's
query runs outside it.

The outcome of a snapshot is the ledger's own record of its file: the transaction that says
``delivered`` (or ``quarantined``, ``duplicate``) is the one that moves the watermark, because
the next poll reads that outcome before anything else and only then writes the new watermark
into this row (``settle``), idempotently. A worker that dies anywhere leaves either a finished
file (its rows count as handed over) or an unfinished one (they are polled again once its
lease has run out).

The lease is renewed every third of it while this worker holds it (``lease_keeper.Renewing``:
a slow query, a snapshot whose file takes long to deliver), from ``turn`` to ``settle`` or
``release``, so a live worker's poll is never taken over and its rows exported twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import socket
import weakref
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import and_, select, update

from tradelane.ledger.lease_keeper import Renewing
from tradelane.ledger.store import insert_ignore, utcnow
from tradelane.ledger.tables import events, files, source_marks
from tradelane.models import FileState

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from tradelane.ledger import Ledger

log = logging.getLogger("tradelane")
#: The states that say a snapshot's rows were handed over (delivered, or quarantined with
#: them); ``done`` is the status-column word for each.
_HANDED_OVER = {FileState.DELIVERED.value: True, FileState.ARCHIVED.value: True,
                FileState.DUPLICATE.value: True, FileState.QUARANTINED.value: False,
                FileState.DISCARDED.value: False, FileState.LOST.value: False}
#: The transitions into those states, in ``events`` (a quarantined file reprocessed since is
#: in ``claimed`` again, but its rows were handed over).
_OUTCOME_EVENTS = (FileState.DELIVERED.value, FileState.DUPLICATE.value,
                   FileState.QUARANTINED.value)


@dataclass(frozen=True, slots=True)
class Mark:
    watermark: Any  # tagged JSON, None: every row (or the spec's start)
    snapshot: str | None = None
    next_watermark: Any = None
    keys: list[Any] | None = None
    rows: int | None = None
    owner: str | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """What a poll may do now.

    ``settle``: the snapshot in flight is finished (``done``: delivered, else quarantined):
    set its rows' status if the route uses one, then ``Marks.settle`` it, and ask again.
    ``ours``: the snapshot in flight is this worker's and still waits here: list it.
    ``busy``: another worker holds the lease. ``poll``: the lease is ours, query from
    ``mark.watermark``, then ``Marks.polled`` (or ``Marks.release`` if no row came)."""

    kind: Literal["settle", "ours", "busy", "poll"]
    mark: Mark
    done: bool = True


class Marks:
    def __init__(self, ledger: Ledger, route: str, source: str, folder: Path,
                 lease_seconds: float):
        self.ledger = ledger
        self.route, self.source = route, source
        self.folder = folder
        # the place the snapshots live: workers sharing it (one host, one spool) share them
        place = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
        self.owner = f"{socket.gethostname()}:{place}"
        self.lease_seconds = lease_seconds
        renew = weakref.WeakMethod(self._renew)  # the thread does not keep a dropped source
        self._keeping = Renewing(lambda: (method := renew()) is not None and method(),
                                 lease_seconds / 3, f"the poll of {route}")

    def turn(self, local: set[str], legacy: Mark | None = None) -> Turn:
        """Decide, under the row's lock, what this poll does (see ``Turn``); ``local`` are the
        snapshots waiting in this worker's folder. ``legacy`` is the watermark file's content
        (and a snapshot it left) for the row's first use."""
        from datetime import timedelta

        now = utcnow()
        with self.ledger.begin() as conn:
            mark = self._locked(conn, now, legacy)
            if mark.snapshot is not None:
                done = self._outcome(conn, mark.snapshot)
                if done is not None:
                    return Turn("settle", mark, done)
                alive = mark.lease_until is not None and mark.lease_until > now
                if mark.owner == self.owner and mark.snapshot in local:
                    self._lease(conn, now + timedelta(seconds=self.lease_seconds),
                                snapshot=mark.snapshot)
                    self._keeping.start()
                    return Turn("ours", mark)
                if alive and mark.owner != self.owner:
                    return Turn("busy", mark)
            elif mark.owner not in (None, self.owner) and mark.lease_until is not None \
                    and mark.lease_until > now:
                return Turn("busy", mark)  # polling right now
            # free, expired, or our snapshot lost with a crash: poll again from the watermark
            self._lease(conn, now + timedelta(seconds=self.lease_seconds), snapshot=None)
            self._keeping.start()
            return Turn("poll", Mark(mark.watermark, owner=self.owner))

    def polled(self, name: str, next_watermark: Any, keys: list[Any] | None, rows: int) -> bool:
        """Record the snapshot just written as the poll in flight; False if this worker lost
        the lease meanwhile (the snapshot must not be offered)."""
        with self.ledger.begin() as conn:
            ours = conn.execute(update(source_marks).where(
                *self._key(), source_marks.c.owner == self.owner,
                source_marks.c.snapshot.is_(None)).values(
                    snapshot=name, next_watermark=_dump(next_watermark),
                    keys=None if keys is None else json.dumps(keys), rows=rows,
                    updated_at=utcnow())).rowcount == 1
        if not ours:
            self._keeping.stop()
        return ours

    def release(self) -> None:
        """Nothing new was found: the lease goes now."""
        self._keeping.stop()
        with self.ledger.begin() as conn:
            conn.execute(update(source_marks).where(
                *self._key(), source_marks.c.owner == self.owner,
                source_marks.c.snapshot.is_(None)).values(
                    owner=None, lease_until=None, updated_at=utcnow()))

    def settle(self, name: str) -> bool:
        """The snapshot ``name`` is finished: its watermark becomes the route's, the lease
        goes. False if it was settled already (by this or another worker)."""
        self._keeping.stop()
        with self.ledger.begin() as conn:
            row = conn.execute(select(source_marks.c.next_watermark).where(
                *self._key(), source_marks.c.snapshot == name).with_for_update()).first()
            if row is None:
                return False
            values: dict[str, Any] = dict(snapshot=None, next_watermark=None, keys=None,
                                          rows=None, owner=None, lease_until=None,
                                          updated_at=utcnow())
            if row.next_watermark is not None:
                values["watermark"] = row.next_watermark
            conn.execute(update(source_marks).where(
                *self._key(), source_marks.c.snapshot == name).values(**values))
            return True

    def current(self) -> Mark | None:
        with self.ledger.engine.connect() as conn:
            row = conn.execute(select(source_marks).where(*self._key())).first()
        return None if row is None else _mark(row)

    # -- internals -------------------------------------------------------------------------

    def _renew(self) -> bool:
        """Extend the lease this worker holds (``_keeping``); False once it is not ours."""
        from datetime import timedelta

        with self.ledger.begin() as conn:
            ours = conn.execute(update(source_marks).where(
                *self._key(), source_marks.c.owner == self.owner,
                source_marks.c.lease_until.is_not(None)).values(
                    lease_until=utcnow() + timedelta(seconds=self.lease_seconds))
                ).rowcount == 1
        if not ours:
            log.warning("%s: the table poll's lease was taken over by another worker",
                        self.route)
        return ours

    def _key(self) -> tuple[Any, ...]:
        return (source_marks.c.route == self.route, source_marks.c.source == self.source)

    def _locked(self, conn: Connection, now: datetime, legacy: Mark | None) -> Mark:
        query = select(source_marks).where(*self._key()).with_for_update()
        row = conn.execute(query).first()
        if row is None:
            start = legacy or Mark(None)
            conn.execute(insert_ignore(source_marks, self.ledger.engine.dialect.name), [{
                "route": self.route, "source": self.source,
                "watermark": _dump(start.watermark), "snapshot": start.snapshot,
                "next_watermark": _dump(start.next_watermark),
                "keys": None if start.keys is None else json.dumps(start.keys),
                "rows": start.rows, "owner": self.owner if start.snapshot else None,
                "lease_until": None, "updated_at": now}])
            row = conn.execute(query).one()
        return _mark(row)

    def _lease(self, conn: Connection, until: datetime, *, snapshot: str | None) -> None:
        values: dict[str, Any] = dict(owner=self.owner, lease_until=until, updated_at=utcnow())
        if snapshot is None:
            values.update(snapshot=None, next_watermark=None, keys=None, rows=None)
        conn.execute(update(source_marks).where(*self._key()).values(**values))

    def _outcome(self, conn: Connection, name: str) -> bool | None:
        """Whether the snapshot's file was delivered (True) or quarantined (False), as the
        ledger recorded it; None while it is not finished (or not even claimed)."""
        mine = and_(files.c.route == self.route, files.c.source == self.source,
                    files.c.name == name)
        for row in conn.execute(select(files.c.id, files.c.state).where(mine)
                                .order_by(files.c.generation)):
            if row.state in _HANDED_OVER:
                return _HANDED_OVER[row.state]
            first = conn.execute(select(events.c.to_state).where(
                events.c.file_id == row.id, events.c.to_state.in_(_OUTCOME_EVENTS))
                .order_by(events.c.id).limit(1)).scalar_one_or_none()
            if first is not None:
                return _HANDED_OVER[first]
        return None


def legacy_state(folder: Path, state: str, meta_suffix: str, extension: str) -> Mark | None:
    """What the watermark file of earlier versions held (and the snapshot it left waiting),
    to start the ledger's row from; None if there is no such file and no snapshot."""
    watermark = None
    path = folder / state
    with contextlib.suppress(FileNotFoundError):
        watermark = json.loads(path.read_text())["watermark"]
    waiting = sorted(p for p in folder.glob(f"*.{extension}")
                     if (p.parent / (p.name + meta_suffix)).exists())
    if not path.exists() and not waiting:
        return None
    if not waiting:
        return Mark(watermark)
    meta = json.loads((folder / (waiting[0].name + meta_suffix)).read_text())
    return Mark(watermark, snapshot=waiting[0].name, next_watermark=meta.get("watermark"),
                keys=meta.get("keys"), rows=meta.get("rows"))


def _mark(row: Any) -> Mark:
    return Mark(_load(row.watermark), row.snapshot, _load(row.next_watermark),
                json.loads(row.keys) if row.keys else None, row.rows, row.owner,
                row.lease_until)


def _dump(tagged: Any) -> str | None:
    return None if tagged is None else json.dumps(tagged)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


__all__ = ["Mark", "Marks", "Turn", "legacy_state"]
