"""The ledger: SQLAlchemy tables and the ``Ledger`` that guards every state transition."""

from tradelane.ledger import alerts as _alerts  # noqa: F401  (alerts, heartbeats)
from tradelane.ledger import outbox as _outbox  # noqa: F401  (declares the outbox table)
from tradelane.ledger import sessions as _sessions  # noqa: F401  (console sessions)
from tradelane.ledger.store import (
    EventRecord,
    FileRecord,
    Ledger,
    Move,
    Step,
    utcnow,
)
from tradelane.ledger.tables import metadata

__all__ = ["EventRecord", "FileRecord", "Ledger", "Move", "Step",
           "metadata", "utcnow"]
