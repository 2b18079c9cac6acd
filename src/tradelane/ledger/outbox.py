"""The delivery outbox: one row per request a target must make for a file (HTTP batches).

A batch is written here (key, record range, status) before it is ever sent, so after a crash
the batches already acknowledged are skipped and the others are resent with the *same*
idempotency key: a receiver that honours keys processes each batch once.

Status of a batch::

    pending --send--> sent --2xx--> acked
                        |----4xx--> rejected --next attempt of the file--> pending (new key)
                        '--timeout, 5xx: stays sent (outcome unknown), resent with its key

Writes cost one transaction per batch: the result of batch N is buffered and committed together
with the "sending" mark of batch N+1 (``flush()`` at the end). A crash in between only means
that batch N is resent under its key, which the receiver deduplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    insert,
    select,
    update,
)

from tradelane.ledger.store import utcnow
from tradelane.ledger.tables import UtcDateTime, metadata

PENDING, SENT, ACKED, REJECTED = "pending", "sent", "acked", "rejected"

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),
    Column("batch_index", Integer, nullable=False),  # 0-based
    Column("idem_key", String(255), nullable=False),
    Column("first_record", BigInteger, nullable=False),  # record number in the file, 0-based
    Column("record_count", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),  # requests made, over all runs
    Column("revision", Integer, nullable=False, default=0),  # bumped when resent after a 4xx
    Column("last_code", Integer),  # HTTP status of the last answer, if any
    Column("last_error", String(64)),  # kind of the last network failure ("ReadTimeout")
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("file_id", "batch_index", name="uq_outbox_batch"),
)


@dataclass(frozen=True, slots=True)
class Batch:
    """One planned request: its place in the file and the key it is sent with."""

    index: int
    key: str
    first_record: int
    record_count: int
    status: str = PENDING
    attempts: int = 0
    revision: int = 0
    last_code: int | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class PlanConflict:
    """An acknowledged batch that no longer matches the records planned in its place."""

    index: int
    acked_first: int
    acked_count: int
    planned_first: int | None
    planned_count: int | None


class Outbox:
    """The outbox rows of one file. Without an engine it only lives in memory (no crash safety)."""

    def __init__(self, engine: Engine | None, file_id: int):
        self.engine = engine
        self.file_id = file_id
        self.batches: dict[int, Batch] = {}
        self._buffer: dict[int, Batch] = {}

    def plan(self, planned: Sequence[Batch]) -> list[PlanConflict]:
        """Record every batch before anything is sent; keep what earlier runs achieved.

        ``planned`` carries each batch's base key; a batch rejected in an earlier attempt of the
        file comes back pending under a new key (``:rN``), because a receiver may have stored
        the refusal under the old one. Returns conflicts (acknowledged batches whose records
        changed) without writing anything if there are any.
        """
        earlier = self._load()
        conflicts, new, changed = [], [], []
        for want in planned:
            have = earlier.get(want.index)
            if have is None:
                new.append(want)
                continue
            same_range = (have.first_record, have.record_count) == (
                want.first_record, want.record_count)
            if have.status == ACKED:
                if not same_range:
                    conflicts.append(PlanConflict(want.index, have.first_record,
                                                  have.record_count, want.first_record,
                                                  want.record_count))
                self.batches[want.index] = have
                continue
            revision = have.revision + 1 if have.status == REJECTED else have.revision
            row = replace(have, key=_revised(want.key, revision), revision=revision,
                          first_record=want.first_record, record_count=want.record_count,
                          status=PENDING if have.status == REJECTED else have.status)
            if row != have:
                changed.append(row)
            self.batches[want.index] = row
        for index, have in earlier.items():
            if index >= len(planned) and have.status == ACKED:
                conflicts.append(PlanConflict(index, have.first_record, have.record_count,
                                              None, None))
        if conflicts:
            return conflicts
        self.batches.update({b.index: b for b in new})
        if self.engine is not None and (new or changed):
            now = utcnow()
            with self.engine.begin() as conn:
                if new:
                    conn.execute(insert(outbox), [self._values(b, now) for b in new])
                if changed:
                    self._update(conn, changed, now)
        return []

    def sending(self, index: int) -> Batch:
        """Mark a request as about to be made (and commit buffered results with it)."""
        batch = self.batches[index]
        status = SENT if batch.status == PENDING else batch.status
        self._set(replace(batch, status=status, attempts=batch.attempts + 1))
        self.flush()
        return self.batches[index]

    def answered(self, index: int, status: str, *, code: int | None = None,
                 error: str | None = None) -> None:
        """Buffer the outcome of the last request; committed with the next ``sending``."""
        self._set(replace(self.batches[index], status=status, last_code=code,
                          last_error=error[:64] if error else None))

    def flush(self) -> None:
        if not self._buffer:
            return
        rows, self._buffer = list(self._buffer.values()), {}
        if self.engine is not None:
            with self.engine.begin() as conn:
                self._update(conn, rows, utcnow())

    # -- internals -------------------------------------------------------------------------

    def _set(self, batch: Batch) -> None:
        self.batches[batch.index] = batch
        self._buffer[batch.index] = batch

    def _load(self) -> dict[int, Batch]:
        if self.engine is None:
            return dict(self.batches)
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox).where(outbox.c.file_id == self.file_id)).all()
        return {r.batch_index: Batch(index=r.batch_index, key=r.idem_key,
                                     first_record=r.first_record, record_count=r.record_count,
                                     status=r.status, attempts=r.attempts, revision=r.revision,
                                     last_code=r.last_code, last_error=r.last_error)
                for r in rows}

    def _values(self, batch: Batch, now: Any) -> dict[str, Any]:
        return dict(file_id=self.file_id, batch_index=batch.index, idem_key=batch.key,
                    first_record=batch.first_record, record_count=batch.record_count,
                    status=batch.status, attempts=batch.attempts, revision=batch.revision,
                    last_code=batch.last_code, last_error=batch.last_error, updated_at=now)

    def _update(self, conn: Any, rows: Sequence[Batch], now: Any) -> None:
        statement = (
            update(outbox)
            .where(outbox.c.file_id == bindparam("f_id"),
                   outbox.c.batch_index == bindparam("b_index"))
            .values(idem_key=bindparam("v_key"), first_record=bindparam("v_first"),
                    record_count=bindparam("v_count"), status=bindparam("v_status"),
                    attempts=bindparam("v_attempts"), revision=bindparam("v_revision"),
                    last_code=bindparam("v_code"), last_error=bindparam("v_error"),
                    updated_at=bindparam("v_at"))
        )
        conn.execute(statement, [
            dict(f_id=self.file_id, b_index=b.index, v_key=b.key, v_first=b.first_record,
                 v_count=b.record_count, v_status=b.status, v_attempts=b.attempts,
                 v_revision=b.revision, v_code=b.last_code, v_error=b.last_error, v_at=now)
            for b in rows
        ])


def outbox_rows(engine: Engine, file_id: int) -> list[Batch]:
    """Every batch of a file, in order (for ``tradelane history`` and tests)."""
    box = Outbox(engine, file_id)
    return [b for _, b in sorted(box._load().items())]


def _revised(key: str, revision: int) -> str:
    return key if revision == 0 else f"{key}:r{revision}"


__all__ = ["ACKED", "PENDING", "REJECTED", "SENT", "Batch", "Outbox", "PlanConflict",
           "outbox", "outbox_rows"]
