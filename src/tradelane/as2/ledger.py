"""The ledger's record of AS2 messages (table ``as2_messages``): what was sent and which MDN
confirmed it; what was received, where it was stored and which MDN answered it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update

from tradelane.ledger.store import insert_ignore, utcnow
from tradelane.ledger.tables import as2_messages as t

OUT, IN = "out", "in"
#: states of a message sent
SENT, AWAITING, CONFIRMED, FAILED = "sent", "awaiting-mdn", "confirmed", "failed"
#: state of a message received: its payload is stored and ``mdn`` is the answer
STORED = "stored"


@dataclass(frozen=True)
class As2Message:
    message_id: str
    direction: str
    partner: str
    route: str | None
    file_id: int | None
    state: str
    mic: str | None
    mdn_status: str | None
    mdn: bytes | None
    path: str | None
    sha256: str | None
    created_at: datetime
    mdn_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "direction": self.direction,
                "partner": self.partner, "route": self.route, "file_id": self.file_id,
                "state": self.state, "mdn_status": self.mdn_status,
                "created_at": self.created_at.isoformat(),
                "mdn_at": self.mdn_at.isoformat() if self.mdn_at else None}


class As2Ledger:
    def __init__(self, engine: Engine):
        self.engine = engine

    def get(self, message_id: str, direction: str) -> As2Message | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.message_id == message_id,
                                               t.c.direction == direction)).first()
        return As2Message(**row._mapping) if row else None

    def for_file(self, file_id: int) -> list[As2Message]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.file_id == file_id)
                                .order_by(t.c.created_at)).all()
        return [As2Message(**r._mapping) for r in rows]

    def recent(self, limit: int = 50) -> list[As2Message]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.created_at.desc()).limit(limit)).all()
        return [As2Message(**r._mapping) for r in rows]

    def awaiting(self) -> set[str]:
        """Ids of the messages sent whose MDN has not come."""
        with self.engine.connect() as conn:
            return set(conn.scalars(select(t.c.message_id).where(
                t.c.direction == OUT, t.c.state.in_((SENT, AWAITING)))))

    # -- sending -------------------------------------------------------------------------------

    def sending(self, message_id: str, *, partner: str, route: str, file_id: int,
                mic: str | None, sha256: str) -> None:
        """Record the message before it is posted (kept if it exists: a resend)."""
        stmt = insert_ignore(t, self.engine.dialect.name).values(
            message_id=message_id, direction=OUT, partner=partner, route=route,
            file_id=file_id, state=SENT, mic=mic, sha256=sha256, created_at=utcnow())
        with self.engine.begin() as conn:
            conn.execute(stmt)
            # a resend (MDN overdue, or a reprocess after a refusal) starts the clock again
            conn.execute(update(t).where(t.c.message_id == message_id, t.c.direction == OUT,
                                         t.c.state != CONFIRMED)
                         .values(state=SENT, mic=mic, created_at=utcnow()))

    def answered(self, message_id: str, state: str, *, mdn_status: str | None = None,
                 mdn: bytes | None = None) -> bool:
        """Set the outcome of a message sent; False when it had its MDN already."""
        values: dict[str, Any] = {"state": state}
        if mdn_status is not None or mdn is not None:
            values.update(mdn_status=mdn_status, mdn=mdn, mdn_at=utcnow())
        with self.engine.begin() as conn:
            done = conn.execute(update(t).where(
                t.c.message_id == message_id, t.c.direction == OUT,
                t.c.state.in_((SENT, AWAITING))).values(**values))
        return bool(done.rowcount)

    # -- receiving -----------------------------------------------------------------------------

    def stored(self, message_id: str, *, partner: str, path: str, sha256: str,
               mdn: bytes | None, mdn_status: str) -> bool:
        """Record a payload stored, with the MDN answering it; False if the id was known."""
        stmt = insert_ignore(t, self.engine.dialect.name).values(
            message_id=message_id, direction=IN, partner=partner, state=STORED, path=path,
            sha256=sha256, mdn=mdn, mdn_status=mdn_status, created_at=utcnow(),
            mdn_at=utcnow()).returning(t.c.message_id)
        with self.engine.begin() as conn:
            return conn.execute(stmt).first() is not None
