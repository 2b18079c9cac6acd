"""The ledger: SQLAlchemy tables and the ``Ledger`` that guards every state transition."""

from tradelane.ledger import alerts as _alerts  # noqa: F401  (alerts, heartbeats)
from tradelane.ledger import outbox as _outbox  # noqa: F401  (declares the outbox table)
from tradelane.ledger import sessions as _sessions  # noqa: F401  (console sessions)
from tradelane.ledger import users as _users  # noqa: F401  (console users)
from tradelane.ledger.store import (
    FINISHED,
    Claim,
    EventRecord,
    FileRecord,
    Followup,
    Ledger,
    Move,
    Seen,
    Step,
    clip,
    utcnow,
)
from tradelane.ledger.tables import metadata

__all__ = ["FINISHED", "Claim", "EventRecord", "FileRecord", "Followup", "Ledger", "Move",
           "Seen", "Step", "clip", "metadata", "utcnow"]
