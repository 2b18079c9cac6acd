"""The ``followups`` table: steps recorded with a delivery (or a quarantine) and taken after it.

A step is written in the transaction that records the state it follows (``Move.followups``),
so a crash can never lose it: the worker that recorded it takes it at once, and after a crash
any worker takes it over once the file's lease runs out (``take_due``). A step is done in the
same transaction as the state change it completes (``done``), so "done" is never recorded
for a step that did not happen, and redoing a step that happened but was not recorded is
harmless (every step is idempotent).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from tradelane.ledger.store import FileRecord, Followup, Ledger, Move, clip, insert_rows, utcnow
from tradelane.ledger.tables import files, followups
from tradelane.models import FileState


@dataclass(frozen=True, slots=True)
class Step:
    """One recorded follow-up step (a row of ``followups``)."""

    id: int
    file_id: int
    step: str
    detail: dict[str, Any]
    data: bytes | None
    attempts: int
    last_error: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Step:
        return cls(row.id, row.file_id, row.step, json.loads(row.detail), row.data, row.attempts,
                   row.last_error, row.created_at)


class Followups:
    """Find, take and complete follow-up steps."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def open_steps(self, file_id: int) -> list[Step]:
        """The steps of one file still to do, in the order they were recorded."""
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(select(followups).where(
                followups.c.file_id == file_id, followups.c.done_at.is_(None))
                .order_by(followups.c.id)).all()
        return [Step.from_row(r) for r in rows]

    def open_steps_of(self, file_ids: Sequence[int]) -> dict[int, list[Step]]:
        """``open_steps`` for many files, in one query."""
        found: dict[int, list[Step]] = {}
        if not file_ids:
            return found
        with self.ledger.engine.connect() as conn:
            for row in conn.execute(select(followups).where(
                    followups.c.file_id.in_(list(file_ids)), followups.c.done_at.is_(None))
                    .order_by(followups.c.id)):
                found.setdefault(row.file_id, []).append(Step.from_row(row))
        return found

    def take_due(self, route: str, *, adopt: Callable[[FileRecord], list[Followup]],
                 limit: int = 500) -> list[tuple[FileRecord, list[Step]]]:
        """Files of ``route`` with steps left whose worker is gone (lease expired) or is this
        one, with their steps; their lease is taken for this worker.

        A file left ``delivered`` with no step recorded (a ledger written before steps were)
        gets the steps ``adopt`` gives it, so that nothing stays delivered for ever."""
        ledger = self.ledger
        now = utcnow()
        free = ((files.c.lease_until.is_(None)) | (files.c.lease_until < now)
                | (files.c.lease_owner == ledger.worker))
        with ledger.begin() as conn:
            open_steps = select(followups.c.id).where(followups.c.file_id == files.c.id,
                                                      followups.c.done_at.is_(None))
            orphans = conn.execute(select(files).where(
                files.c.route == route, files.c.state == FileState.DELIVERED.value, free,
                ~open_steps.exists()).limit(limit)).all()
            planned = [{"file_id": row.id, "step": f.step, "detail": json.dumps(dict(f.detail)),
                        "data": f.data, "attempts": 0, "created_at": now}
                       for row in orphans for f in adopt(FileRecord.from_row(row))]
            if planned:
                insert_rows(conn, followups, planned)
            ids = conn.execute(
                select(files.c.id).distinct()
                .join(followups, followups.c.file_id == files.c.id)
                .where(files.c.route == route, followups.c.done_at.is_(None), free)
                .order_by(files.c.id).limit(limit)).scalars().all()
            taken = []
            for file_id in ids:
                row = conn.execute(
                    update(files).where(
                        files.c.id == file_id,
                        (files.c.lease_until.is_(None)) | (files.c.lease_until < now)
                        | (files.c.lease_owner == ledger.worker))
                    .values(lease_owner=ledger.worker, lease_until=now + ledger.lease)
                    .returning(*files.c)).one_or_none()
                if row is not None:
                    taken.append(FileRecord.from_row(row))
            steps: dict[int, list[Step]] = {r.id: [] for r in taken}
            if taken:
                for row in conn.execute(select(followups).where(
                        followups.c.file_id.in_(list(steps)), followups.c.done_at.is_(None))
                        .order_by(followups.c.id)):
                    steps[row.file_id].append(Step.from_row(row))
        return [(record, steps[record.id]) for record in taken]

    def done(self, steps: Sequence[Step], moves: Sequence[Move] = ()) -> list[Any]:
        """Mark ``steps`` done and apply ``moves``, in one transaction; per move the result
        ``Ledger.apply`` gives."""
        ledger = self.ledger
        now = utcnow()
        with ledger.begin() as conn:
            if steps:
                conn.execute(update(followups).where(
                    followups.c.id.in_([s.id for s in steps]), followups.c.done_at.is_(None))
                    .values(done_at=now))
            return ledger.apply(moves, conn=conn) if moves else []

    def failed(self, step: Step, error: str) -> None:
        """The step could not be done now: keep it, with why, for the next try, and let go of
        the file's lease so that the next run (this worker's or another's) tries at once."""
        with self.ledger.begin() as conn:
            conn.execute(update(followups).where(followups.c.id == step.id).values(
                attempts=followups.c.attempts + 1, last_error=clip(error, 500)))
            conn.execute(update(files).where(files.c.id == step.file_id,
                                             files.c.lease_owner == self.ledger.worker)
                         .values(lease_owner=None, lease_until=None))

    def count_open(self) -> int:
        with self.ledger.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(followups)
                                    .where(followups.c.done_at.is_(None))).scalar_one())
