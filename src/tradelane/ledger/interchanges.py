"""Interchanges sent and the acknowledgements received for them (``sent_interchanges``,
``received_acks``).

Both are written by follow-up steps (``finishing``) recorded in the transaction of the delivery
that sent or received them, so a crash never loses one; each write is idempotent (a unique key
per interchange of a file, per acknowledgement of a file), so a step redone after a crash
changes nothing. Matching an acknowledgement to what it answers:

- a CONTRL by its UCI: the interchange reference (UNB 0020) and the two partners it names;
- an APERAK by its references (RFF, DOC): an interchange reference, or the document number
  (BGM 1004) of a message sent to the APERAK's sender;
- a 997/999 by its group control number (AK102): a GS06 of an X12 interchange sent to the
  acknowledgement's sender (ISA06).

An acknowledgement of nothing tradelane sent is kept as unmatched (``sent_id`` None).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, desc, func, or_, select, update

from tradelane.formats.ack_reading import ACK_SETS, ReceivedAck, SentInterchange
from tradelane.ledger.store import Ledger, clip, insert_ignore, utcnow
from tradelane.ledger.tables import received_acks, sent_interchanges

__all__ = ["AckRecord", "SentRecord", "Tracking"]

WAITING = "waiting"
#: Acknowledgement states, least grave first.
VERDICTS = (WAITING, "received", "accepted", "partly", "rejected")


@dataclass(frozen=True, slots=True)
class AckRecord:
    id: int
    route: str
    file_id: int
    kind: str
    sender: str
    control_ref: str
    verdict: str
    errors: list[str]
    sent_id: int | None
    received_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> AckRecord:
        return cls(row.id, row.route, row.file_id, row.kind, row.sender, row.control_ref,
                   row.verdict, json.loads(row.errors or "[]"), row.sent_id, row.received_at)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "route": self.route, "file_id": self.file_id,
                "kind": self.kind, "sender": self.sender, "control_ref": self.control_ref,
                "verdict": self.verdict, "errors": self.errors, "sent_id": self.sent_id,
                "matched": self.sent_id is not None,
                "received_at": self.received_at.isoformat()}


@dataclass(frozen=True, slots=True)
class SentRecord:
    id: int
    route: str
    file_id: int
    output: str
    sender: str
    recipient: str
    control_ref: str
    messages: int
    sent_at: datetime
    ack_due_at: datetime | None
    ack_state: str
    ack_at: datetime | None
    ack: AckRecord | None = None

    @classmethod
    def from_row(cls, row: Any, ack: AckRecord | None = None) -> SentRecord:
        return cls(row.id, row.route, row.file_id, row.output, row.sender, row.recipient,
                   row.control_ref, row.messages, row.sent_at, row.ack_due_at, row.ack_state,
                   row.ack_at, ack)

    def overdue(self, now: datetime) -> bool:
        return self.ack_state == WAITING and self.ack_due_at is not None \
            and self.ack_due_at < now

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {"id": self.id, "route": self.route, "file_id": self.file_id,
                "output": self.output, "sender": self.sender, "recipient": self.recipient,
                "control_ref": self.control_ref, "messages": self.messages,
                "sent_at": self.sent_at.isoformat(),
                "ack_due_at": self.ack_due_at.isoformat() if self.ack_due_at else None,
                "ack_state": self.ack_state, "overdue": self.overdue(now),
                "ack_at": self.ack_at.isoformat() if self.ack_at else None,
                "ack": self.ack.as_dict() if self.ack else None}


def _id(party: str) -> str:
    """The identification of a party (``4012345000009:14`` -> ``4012345000009``)."""
    return party.split(":", 1)[0].strip()


class Tracking:
    """Record sent interchanges and received acknowledgements; list and find the late ones."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    # -- writes (follow-up steps; idempotent) ------------------------------------------------

    def record_sent(self, route: str, file_id: int, output: str, sent: SentInterchange, *,
                    sent_at: datetime, ack_within: timedelta | None) -> None:
        stmt = insert_ignore(sent_interchanges, self.ledger.engine.dialect.name,
                             constraint="uq_sent_interchange").values(
            route=route, file_id=file_id, output=output, standard=sent.standard,
            sender=clip(sent.sender, 64), recipient=clip(sent.recipient, 64),
            control_ref=clip(sent.control_ref, 64), messages=sent.messages,
            documents=json.dumps(sent.documents), sent_at=sent_at,
            ack_due_at=sent_at + ack_within if ack_within else None, ack_state=WAITING)
        with self.ledger.begin() as conn:
            conn.execute(stmt)

    def record_acks(self, route: str, file_id: int, acks: Sequence[ReceivedAck], *,
                    received_at: datetime) -> list[int | None]:
        """Record each acknowledgement of a file and what it answers; per ack, the sent
        interchange it matched (None: unmatched). Recording it again changes nothing."""
        dialect = self.ledger.engine.dialect.name
        matched: list[int | None] = []
        with self.ledger.begin() as conn:
            for seq, ack in enumerate(acks, start=1):
                sent_id = self._match(conn, ack)
                matched.append(sent_id)
                row = conn.execute(insert_ignore(
                    received_acks, dialect, constraint="uq_received_ack").values(
                    route=route, file_id=file_id, seq=seq, kind=ack.kind,
                    sender=clip(ack.sender, 64), recipient=clip(ack.recipient, 64),
                    control_ref=clip(ack.control_ref, 64), verdict=ack.verdict,
                    errors=json.dumps(ack.errors), sent_id=sent_id,
                    received_at=received_at).returning(received_acks.c.id)).first()
                if row is None or sent_id is None:
                    continue  # recorded before (a step redone), or answers nothing sent
                # the gravest answer stands: a CONTRL accepting the syntax after an APERAK
                # refused the invoice does not make it accepted
                below = VERDICTS[: VERDICTS.index(ack.verdict) + 1]
                conn.execute(update(sent_interchanges).where(
                    sent_interchanges.c.id == sent_id, sent_interchanges.c.ack_state.in_(below))
                    .values(ack_state=ack.verdict, ack_at=received_at, ack_id=row.id))
        return matched

    def _match(self, conn: Connection, ack: ReceivedAck) -> int | None:
        t = sent_interchanges
        refs = [r for r in [ack.control_ref, *ack.references] if r]
        if not refs:
            return None
        query = select(t.c.id, t.c.sender, t.c.recipient, t.c.control_ref, t.c.documents)
        x12 = ack.kind in ACK_SETS
        if x12:  # a group control number (GS06): the last of each set's document entry
            query = query.where(t.c.standard == "x12", t.c.documents.like(
                f'%"{_escape(ack.control_ref)}"]%', escape="\\"))
        elif ack.kind == "APERAK":
            likes = [t.c.documents.like(f'%"{_escape(r)}"%', escape="\\") for r in refs]
            query = query.where(t.c.standard == "edifact",
                                or_(t.c.control_ref.in_(refs), *likes))
        else:
            query = query.where(t.c.standard == "edifact",
                                t.c.control_ref == ack.control_ref)
        rows = conn.execute(query.order_by(desc(t.c.id)).limit(200)).all()
        for row in rows:
            if ack.original is not None:  # CONTRL: the partners of the original, as named
                if (_id(ack.original[0]), _id(ack.original[1])) != (_id(row.sender),
                                                                  _id(row.recipient)):
                    continue
            elif ack.sender and _id(ack.sender) != _id(row.recipient):
                continue  # an answer comes from whom the interchange went to
            if x12 and not any(len(d) > 3 and d[3] == ack.control_ref
                               for d in json.loads(row.documents or "[]")):
                continue
            if ack.kind == "APERAK" and row.control_ref not in refs and not any(
                    ref in (d[2], d[0]) for d in json.loads(row.documents or "[]")
                    for ref in refs):
                continue
            return int(row.id)
        return None

    # -- reads ---------------------------------------------------------------------------------

    def sent(self, *, route: str | None = None, waiting: bool = False,
             now: datetime | None = None, limit: int = 200) -> list[SentRecord]:
        """Sent interchanges, newest first, with their last acknowledgement; ``waiting``: only
        those still waiting past their ``ack_within``."""
        t, a = sent_interchanges, received_acks
        query = select(t).order_by(desc(t.c.id)).limit(limit)
        if route is not None:
            query = query.where(t.c.route == route)
        if waiting:
            query = query.where(t.c.ack_state == WAITING, t.c.ack_due_at.is_not(None),
                                t.c.ack_due_at < (now or utcnow()))
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(query).all()
            ack_ids = [r.ack_id for r in rows if r.ack_id is not None]
            acks = {r.id: AckRecord.from_row(r) for r in conn.execute(
                select(a).where(a.c.id.in_(ack_ids)))} if ack_ids else {}
        return [SentRecord.from_row(r, acks.get(r.ack_id)) for r in rows]

    def unmatched(self, *, route: str | None = None, limit: int = 200) -> list[AckRecord]:
        a = received_acks
        query = select(a).where(a.c.sent_id.is_(None)).order_by(desc(a.c.id)).limit(limit)
        if route is not None:
            query = query.where(a.c.route == route)
        with self.ledger.engine.connect() as conn:
            return [AckRecord.from_row(r) for r in conn.execute(query)]

    def acks_of_file(self, file_id: int) -> list[AckRecord]:
        a = received_acks
        with self.ledger.engine.connect() as conn:
            return [AckRecord.from_row(r) for r in conn.execute(
                select(a).where(a.c.file_id == file_id).order_by(a.c.seq))]

    def overdue_counts(self, now: datetime | None = None) -> dict[str, int]:
        """Per route, the sent interchanges still waiting past their ``ack_within``."""
        t = sent_interchanges
        with self.ledger.engine.connect() as conn:
            return {r.route: int(r.n) for r in conn.execute(
                select(t.c.route, func.count().label("n"))
                .where(and_(t.c.ack_state == WAITING, t.c.ack_due_at < (now or utcnow())))
                .group_by(t.c.route))}

    def overdue(self, now: datetime | None = None) -> list[SentRecord]:
        """Every sent interchange still waiting past its ``ack_within`` (for alerts)."""
        t = sent_interchanges
        with self.ledger.engine.connect() as conn:
            return [SentRecord.from_row(r) for r in conn.execute(
                select(t).where(t.c.ack_state == WAITING, t.c.ack_due_at < (now or utcnow()))
                .order_by(t.c.id))]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
