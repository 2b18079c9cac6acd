"""What the ledger knows of a partner: the last interchange received from it and sent to it,
the acknowledgements still outstanding, and the gaps in the numbers it sent.

Interchanges received are the envelope keys the duplicate check takes (``interchanges``: a
repeated number from a partner is already a duplicate there); interchanges sent are
``sent_interchanges``. A partner is matched by its identifiers (UNB id, ISA id), with or
without a qualifier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import desc, func, or_, select

from tradelane.ledger.interchanges import WAITING
from tradelane.ledger.store import Ledger, utcnow
from tradelane.ledger.tables import interchanges, sent_interchanges

#: Gaps are looked for among this many of a partner's latest numbers (memory stays bounded).
GAP_WINDOW = 1000


@dataclass(frozen=True, slots=True)
class Seen:
    """One interchange: its reference, when, on which route, in which file."""

    control_ref: str
    at: datetime
    route: str
    file_id: int

    def as_dict(self) -> dict[str, Any]:
        return {"control_ref": self.control_ref, "at": self.at.isoformat(),
                "route": self.route, "file_id": self.file_id}


@dataclass(frozen=True, slots=True)
class Activity:
    last_inbound: Seen | None
    last_outbound: Seen | None
    acks_waiting: int  # sent, no acknowledgement yet
    acks_late: int  # of which past their ack_within


def _party(column: Any, ids: list[str]) -> Any:
    return or_(*(cond for i in ids for cond in (column == i, column.like(f"{i}:%"))))


class PartnerActivity:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def activity(self, ids: list[str], now: datetime | None = None) -> Activity:
        """``ids``: the partner's identifiers in every standard it uses."""
        if not ids:
            return Activity(None, None, 0, 0)
        r, s = interchanges, sent_interchanges
        with self.ledger.engine.connect() as conn:
            got = conn.execute(select(r.c.control_ref, r.c.at, r.c.route, r.c.file_id)
                               .where(_party(r.c.sender, ids))
                               .order_by(desc(r.c.at), desc(r.c.id)).limit(1)).first()
            went = conn.execute(select(s.c.control_ref, s.c.sent_at, s.c.route, s.c.file_id)
                                .where(_party(s.c.recipient, ids))
                                .order_by(desc(s.c.id)).limit(1)).first()
            waiting = _party(s.c.recipient, ids) & (s.c.ack_state == WAITING) \
                & s.c.ack_due_at.is_not(None)
            counts = conn.execute(select(
                func.count(), func.count().filter(s.c.ack_due_at < (now or utcnow())))
                .where(waiting)).one()
        return Activity(Seen(*got) if got else None, Seen(*went) if went else None,
                        int(counts[0]), int(counts[1]))

    def received_numbers(self, ids: list[str], limit: int = GAP_WINDOW) -> list[int]:
        """The numeric references of the partner's latest interchanges received."""
        r = interchanges
        if not ids:
            return []
        with self.ledger.engine.connect() as conn:
            refs = conn.execute(select(r.c.control_ref).where(_party(r.c.sender, ids))
                                .order_by(desc(r.c.id)).limit(limit)).scalars().all()
        return sorted({int(ref) for ref in refs if ref.isdigit()})


def gaps(numbers: list[int], widest: int = GAP_WINDOW) -> list[tuple[int, int]]:
    """The missing runs (first, last) between sorted ``numbers``. A jump wider than
    ``widest`` is a new series (a rollover, a partner that reset its counter), not a gap."""
    return [(a + 1, b - 1) for a, b in pairwise(numbers)
            if 1 < b - a <= widest]
