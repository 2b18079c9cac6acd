"""What waits in the ledger, for every route at once: one query at the start of a pass.

A pass over ten routes used to ask each route, one by one, whether it had events to publish,
steps to finish, pending files to reconcile or alerts to resolve: about a hundred statements
(and as many write transactions) for a cron's run that finds nothing. ``Busy.read`` answers
all of it in one ``UNION ALL``; the per-route queries then run only for the routes it names.

It is a snapshot: what another worker records during the pass is seen on the next pass, as
it would be had that worker been a moment later. What this process records during the pass
(a delivery's steps and events) is taken by the pipeline itself, never through this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import literal, null, select, union_all

from tradelane.ledger.alerts import alerts
from tradelane.ledger.tables import event_outbox, files, followups
from tradelane.models import FileState

if TYPE_CHECKING:
    from tradelane.ledger.store import Ledger


@dataclass(frozen=True, slots=True)
class Busy:
    """Routes with something waiting in the ledger when the pass started."""

    events: frozenset[str] = frozenset()  # unsent events, or an open events_waiting alert
    followups: frozenset[str] = frozenset()  # open steps, or a delivered file (steps adopted)
    pending: frozenset[str] = frozenset()  # pending files
    alerts: frozenset[tuple[str, str | None]] = field(default=frozenset())  # open (kind, route)

    @classmethod
    def read(cls, ledger: Ledger) -> Busy:
        o, f, s, a = event_outbox.c, files.c, followups.c, alerts.c
        query = union_all(
            select(literal("event").label("what"), o.route, null().label("kind"))
            .where(o.sent_at.is_(None)).distinct(),
            select(literal("step"), f.route, null()).select_from(
                followups.join(files, s.file_id == f.id)).where(s.done_at.is_(None)).distinct(),
            select(literal("state"), f.route, f.state).where(
                f.state.in_([FileState.PENDING.value, FileState.DELIVERED.value])).distinct(),
            select(literal("alert"), a.route, a.kind).where(a.resolved_at.is_(None)).distinct(),
        )
        found: dict[str, set[str]] = {"events": set(), "followups": set(), "pending": set()}
        opened: set[tuple[str, str | None]] = set()
        with ledger.engine.connect() as conn:
            for what, route, kind in conn.execute(query):
                if what == "event":
                    found["events"].add(route)
                elif what == "step" or kind == FileState.DELIVERED.value:
                    found["followups"].add(route)
                elif what == "state":
                    found["pending"].add(route)
                else:
                    opened.add((kind, route))
                    if kind == "events_waiting" and route is not None:
                        found["events"].add(route)
        return cls(**{k: frozenset(v) for k, v in found.items()}, alerts=frozenset(opened))

    def alert(self, kind: str, route: str | None = None) -> bool:
        """An alert of ``kind`` is open (for ``route``, or for any route if None)."""
        return any(k == kind and (route is None or r == route) for k, r in self.alerts)
