"""The ledger: SQLAlchemy tables and the ``Ledger`` that guards every state transition."""

import importlib
from typing import TYPE_CHECKING, Any

from tradelane.ledger import alerts as _alerts  # noqa: F401  (alerts, heartbeats)
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

if TYPE_CHECKING:
    from tradelane.ledger.tables import metadata

#: Modules that declare tables of their own on ``metadata`` and that a pass which finds no
#: file never uses (the outbox's batches, the console's users and sessions): imported when
#: ``metadata`` itself is asked for (the migrations, tests), so that it holds every table.
_DECLARING = ("tradelane.ledger.outbox", "tradelane.ledger.sessions", "tradelane.ledger.users")


def __getattr__(name: str) -> Any:
    if name == "metadata":
        for module in _DECLARING:
            importlib.import_module(module)
        from tradelane.ledger.tables import metadata

        return metadata
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FINISHED", "Claim", "EventRecord", "FileRecord", "Followup", "Ledger", "Move",
           "Seen", "Step", "clip", "metadata", "utcnow"]
