"""The ledger's record of AS2 messages (table ``as2_messages``): what was sent and which MDN
confirmed it; what was received, where it was stored and which MDN answered it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import Engine, select, update

from tradelane.ledger.store import insert_ignore, utcnow
from tradelane.ledger.tables import as2_messages as t

OUT, IN = "out", "in"
#: states of a message sent
SENT, AWAITING, CONFIRMED, FAILED = "sent", "awaiting-mdn", "confirmed", "failed"
#: states of a message received: its payload is stored and ``mdn`` is the answer; answered
#: once that MDN was handed to the partner (a resend is then a duplicate-document)
STORED, ANSWERED = "stored", "answered"


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
               mdn: bytes | None, mdn_status: str, mic: str | None = None) -> bool:
        """Record a payload stored, with the MDN answering it; False if the id was known.
        ``mic``: the MIC of a signed message, set only once its signature was verified."""
        stmt = insert_ignore(t, self.engine.dialect.name).values(
            message_id=message_id, direction=IN, partner=partner, state=STORED, path=path,
            sha256=sha256, mdn=mdn, mdn_status=mdn_status, mic=mic, created_at=utcnow(),
            mdn_at=utcnow()).returning(t.c.message_id)
        with self.engine.begin() as conn:
            return conn.execute(stmt).first() is not None

    def answered_in(self, message_id: str) -> None:
        """The MDN of a message received reached the partner's connection (sync) or was
        posted to it (async)."""
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.message_id == message_id, t.c.direction == IN,
                                         t.c.state == STORED).values(state=ANSWERED))

    def received_as(self, name: str, sha256: str | None,
                    seen_at: datetime | None = None) -> list[As2Message]:
        """The message received whose payload became the file ``name`` with this content
        (the endpoint stores it under that name in the route's folder): the last one stored
        before the file was seen at ``seen_at``, when the same bytes came more than once."""
        if not sha256:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.direction == IN, t.c.sha256 == sha256)
                                .order_by(t.c.created_at)).all()
        base = PurePosixPath(name.replace("\\", "/")).name
        found = [As2Message(**r._mapping) for r in rows
                 if r.path and PurePosixPath(r.path.replace("\\", "/")).name == base]
        before = [m for m in found if seen_at is None or m.created_at <= seen_at]
        return before[-1:] or found[:1]


_HEADER = re.compile(rb"^([A-Za-z0-9-]+):[ \t]*(.*?)\r?$", re.MULTILINE)


def received_view(message: As2Message) -> dict[str, Any]:
    """A message received as history shows it: who sent it to whom, whether its signature
    was verified, and the MDN we answered (signed or not, its disposition), read from the
    MDN kept in the ledger."""
    headers: dict[str, str] = {}
    for key, value in _HEADER.findall(message.mdn or b""):
        headers.setdefault(key.decode().lower(), value.decode("utf-8", "replace").strip())
    head = (message.mdn or b"").split(b"\r\n\r\n", 1)[0].lower()
    disposition = headers.get("disposition", "")
    return {"message_id": message.message_id, "from": message.partner,
            # our MDN comes from the AS2 name the partner sent to
            "to": headers.get("as2-from", "").strip('"') or None,
            "signature_verified": message.mic is not None,
            "mic": message.mic, "received_at": message.created_at.isoformat(),
            "stored_as": message.path,
            "mdn": None if message.mdn is None else {
                "signed": b"multipart/signed" in head,
                "disposition": disposition.split(";", 1)[-1].strip() or message.mdn_status,
                "status": message.mdn_status,
                "at": message.mdn_at.isoformat() if message.mdn_at else None}}


def add_to_history(engine: Engine, trail: list[dict[str, Any]]) -> None:
    """Each file of ``ops.history``'s trail gains its AS2 messages: ``as2``, those an AS2
    target sent for it; ``as2_received``, the message whose payload it is."""
    book = As2Ledger(engine)
    for item in trail:
        file = item["file"]
        item["as2"] = [m.as_dict() for m in book.for_file(file["id"])]
        seen = file.get("received_at")
        seen = datetime.fromisoformat(seen) if isinstance(seen, str) else seen
        item["as2_received"] = [received_view(m) for m in
                                book.received_as(file["name"], file["sha256"], seen)]
