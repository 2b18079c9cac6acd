"""Duplicate keys, atomic across processes: one owner per content and per EDI interchange.

Before a file is delivered its key is *inserted* (route + sha256; route + sender, recipient and
control reference for each interchange). The unique constraint makes the check and the claim
one step, so two workers with two copies of the same file can never both deliver it:

- the key is new: this file owns it and goes on;
- its owner delivered (or is archiving) that content: this file is a duplicate;
- its owner is still being processed under a live lease: this file waits (``wait_for``, a few
  seconds, then it is retried soon), and then either the owner delivered, or it failed and
  gave the key up;
- its owner failed (quarantined, pending, discarded, lost), its lease ran out, or the key is
  older than the route's window: the key passes to this file, with a guarded update, so that
  of two files taking over the same key only one wins.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, select, update

from tradelane.errors import DuplicateFile, TradelaneError, TransientError
from tradelane.ledger.store import FileRecord, Ledger, insert_ignore, insert_rows, utcnow
from tradelane.ledger.tables import content_keys, files, interchanges
from tradelane.models import FileState

#: Owners in these states hold their key for good.
_DELIVERED = (FileState.DELIVERED.value, FileState.ARCHIVED.value)
#: Owners in these states may still deliver: others wait while their lease runs.
_IN_HAND = (FileState.CLAIMED.value, FileState.STAGED.value)
#: How soon a file that waits for another copy's outcome is tried again.
WAIT = timedelta(seconds=5)
#: How long a copy waits, in the run that met it, for another process to record the outcome
#: of the same content (or interchange); after that it is left pending and retried.
OWNER_WAIT = timedelta(seconds=10)


class SameContentInProgress(TransientError):
    """Another file with the same content (or interchange) is being delivered right now."""

    def __init__(self, what: str, owner: int):
        self.owner = owner
        self.retry_after = WAIT.total_seconds()
        super().__init__(f"{what} is being delivered by file {owner} right now; this copy is"
                         " looked at again once that is decided")


class Keys:
    """Takes the duplicate keys of files on their way to a target."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self._waited_out: set[int] = set()  # owners still in hand after a whole wait

    def take_contents(self, records: Sequence[FileRecord]) -> list[TradelaneError | None]:
        """Own each record's content on its route, all in one transaction (a chunk of files):
        per record None, or the ``DuplicateFile`` / ``SameContentInProgress`` it is."""
        taken: dict[int, TradelaneError | None] = {}
        # Keys in one order in every process: on PostgreSQL an insert waits for another
        # transaction's uncommitted insert of the same key, so two chunks holding copies in
        # opposite orders would otherwise wait on each other (a deadlock, one chunk fails).
        order = sorted(range(len(records)), key=lambda i: (records[i].route,
                                                           records[i].sha256 or ""))
        with self.ledger.begin() as conn:
            # new contents (nearly all of them) in one statement; the rest one by one
            now = utcnow()
            owned = {(row.route, row.sha256, row.file_id) for row in insert_rows(
                conn, content_keys,
                [{"route": records[i].route, "sha256": records[i].sha256,
                  "file_id": records[i].id, "at": now} for i in order],
                conflict="", returning=("route", "sha256", "file_id"),
                fallback=insert_ignore(content_keys, self.ledger.engine.dialect.name)
                .returning(content_keys.c.route, content_keys.c.sha256, content_keys.c.file_id))}
            for i in order:
                r = records[i]
                taken[i] = None if (r.route, r.sha256, r.id) in owned else self._take(
                    conn, content_keys, {"route": r.route, "sha256": r.sha256}, r, window=None,
                    what="the same content")
        return [taken[i] for i in range(len(records))]

    def take_interchange(self, record: FileRecord, key: tuple[str, str, str], *,
                         window: timedelta) -> None:
        """Own an EDI interchange key, or raise ``DuplicateFile`` / ``SameContentInProgress``."""
        sender, recipient, ref = key
        with self.ledger.begin() as conn:
            refused = self._take(
                conn, interchanges, {"route": record.route, "sender": sender,
                                     "recipient": recipient, "control_ref": ref},
                record, window=window, what=f"interchange {ref} from {sender} to {recipient}")
        if refused is not None:
            raise refused

    def wait_for(self, owners: set[int], *, most: timedelta = OWNER_WAIT) -> None:
        """Return once none of ``owners`` (files another process is delivering) is in hand
        under a live lease any more, or after ``most``: then taking the key again says
        whether this copy is a duplicate, instead of leaving it pending for the next run.
        An owner waited for in vain once (its worker may have died) is not waited for again."""
        until = time.monotonic() + most.total_seconds()
        owners = owners - self._waited_out
        while owners:
            with self.ledger.engine.connect() as conn:
                rows = conn.execute(select(files.c.id, files.c.state, files.c.lease_until)
                                    .where(files.c.id.in_(owners))).all()
            now = utcnow()
            owners = {r.id for r in rows if r.state in _IN_HAND
                      and r.lease_until is not None and r.lease_until > now}
            if owners and time.monotonic() >= until:
                self._waited_out |= owners
                return
            if owners:
                time.sleep(0.05)

    def _take(self, conn: Connection, table: Table, key: dict[str, Any], record: FileRecord, *,
              window: timedelta | None, what: str) -> TradelaneError | None:
        now = utcnow()
        match = and_(*(table.c[name] == value for name, value in key.items()))
        dialect = self.ledger.engine.dialect.name
        for _ in range(3):  # a take-over lost to another worker: look again
            # RETURNING, not rowcount: PostgreSQL's driver reports -1 for ON CONFLICT inserts
            if conn.execute(insert_ignore(table, dialect).values(
                    **key, file_id=record.id, at=now).returning(table.c.file_id)).first():
                return None
            row = conn.execute(
                select(table.c.file_id, table.c.at, files.c.state, files.c.lease_until,
                       files.c.name, files.c.received_at)
                .join(files, files.c.id == table.c.file_id).where(match)).one_or_none()
            if row is None:
                continue  # the key was just dropped: insert again
            if row.file_id == record.id:
                return None
            expired = window is not None and row.at < now - window
            if row.state in _DELIVERED and not expired:
                return DuplicateFile(
                    f"{what} was already delivered as file {row.file_id} ({row.name},"
                    f" received {row.received_at:%Y-%m-%d %H:%M} UTC)", original_id=row.file_id)
            live = row.lease_until is not None and row.lease_until > now
            if row.state in _IN_HAND and live and not expired:
                return SameContentInProgress(what, row.file_id)
            if conn.execute(update(table).where(match, table.c.file_id == row.file_id)
                            .values(file_id=record.id, at=now)).rowcount:
                return None
        return SameContentInProgress(what, -1)
