"""Publish the events waiting in the ledger's outbox; mark them sent once confirmed.

Rows are taken per route, oldest first, grouped by their broker (one connection each). A
broker that cannot be reached leaves its rows waiting: each row's next try backs off (2 s,
4 s … up to 5 minutes), this process does not try that broker again for a while, and once
the oldest row waits longer than the route's ``alert_after`` an ``events_waiting`` alert is
opened (resolved when the route's events flow again). Other routes are never held up.

Several workers publish from one ledger without publishing a row twice at once: a round
selects, publishes and marks its rows in one ledger transaction that holds them: with
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (another worker takes the next rows),
under the single writer lock on SQLite. The brokers are connected to before the lock is
taken, so one that does not answer never holds up the ledger. A worker that dies in a round
leaves its rows unsent and unlocked: the next round of any worker publishes them again
(NATS drops the repeat within its duplicate window).

``tradelane serve`` calls ``publish_waiting`` every few seconds, so an event that waited for
its broker goes out soon after the broker is back, whatever the route's schedule.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter
from sqlalchemy import func, select, union, update

from tradelane.crashpoints import crash_point
from tradelane.errors import TransientError
from tradelane.events import Message
from tradelane.ledger.alerts import Incidents, alerts
from tradelane.ledger.store import clip, utcnow
from tradelane.ledger.tables import event_outbox
from tradelane.spec.events import BROKERS, EventsSpec

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from tradelane.ledger import Ledger

log = logging.getLogger("tradelane")

BATCH = 5000  # rows per round: a locked select, the publishes and their acks, one update
MAX_BACKOFF = 300.0
_SPEC: TypeAdapter[Any] = TypeAdapter(EventsSpec)
#: brokers this process found down: target JSON -> monotonic time to try again
_DOWN: dict[str, float] = {}


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF, 2.0 ** max(1, attempts)))


def publish_due(ledger: Ledger, routes: Iterable[str], *,
                busy: Iterable[str] | None = None) -> int:
    """Publish the due events of ``routes``; the number published. Never raises for a
    broker's failure (it is recorded on the rows and alerted).

    Only routes with unsent events or an open ``events_waiting`` alert are visited: ``busy``
    names them if the caller knows (``ledger.busy.Busy``), else one query finds them."""
    wanted = set(routes)
    if not wanted:
        return 0
    active = wanted & set(busy) if busy is not None else _active(ledger, wanted)
    sent = 0
    for route in sorted(active):
        with ExitStack() as stack:  # one connection per broker for all the route's rounds
            opened: dict[str, Any] = {}
            more = _connect(ledger, route, stack, opened)  # none due: no write transaction
            while more:
                done, more = _publish_round(ledger, route, stack, opened)
                sent += done
        _alert(ledger, route)
    return sent


def _active(ledger: Ledger, routes: set[str]) -> set[str]:
    """Those of ``routes`` with unsent events or an ``events_waiting`` alert to resolve."""
    o, a = event_outbox.c, alerts.c
    query = union(
        select(o.route).where(o.sent_at.is_(None), o.route.in_(routes)),
        select(a.route).where(a.kind == "events_waiting", a.resolved_at.is_(None),
                              a.route.in_(routes)))
    with ledger.engine.connect() as conn:
        return set(conn.execute(query).scalars())


def _connect(ledger: Ledger, route: str, stack: ExitStack, opened: dict[str, Any]) -> bool:
    """Connect to the brokers of the route's due events before a round takes the ledger's
    lock: a broker that does not answer must not hold up the ledger while it times out.
    False if no event is due."""
    o = event_outbox.c
    due = select(o.target).where(o.sent_at.is_(None), o.route == route,
                                 o.next_try_at <= utcnow()).order_by(o.id).limit(BATCH)
    with ledger.engine.connect() as conn:
        targets = set(conn.execute(select(due.subquery().c.target).distinct()).scalars())
    for target in sorted(targets):
        _publisher(route, target, stack, opened)
    return bool(targets)


def _publisher(route: str, target: str, stack: ExitStack, opened: dict[str, Any]) -> Any:
    """The open publisher of ``target``, or why it cannot be had (a string, kept in
    ``opened`` for the rest of this pass)."""
    if target in opened:
        return opened[target]
    if _DOWN.get(target, 0.0) > time.monotonic():
        return "the broker was unreachable moments ago; tried again later"
    spec = _spec(target)
    try:
        opened[target] = stack.enter_context(BROKERS.get(spec.kind).create(spec))
    except TransientError as exc:
        _down(route, target, exc)
        opened[target] = str(exc)
    return opened[target]


def _down(route: str, target: str, exc: TransientError) -> None:
    _DOWN[target] = time.monotonic() + min(30.0, _spec(target).timeout.total_seconds() * 2)
    log.warning("events of route %s wait: %s", route, exc)


def _publish_round(ledger: Ledger, route: str, stack: ExitStack,
                   opened: dict[str, Any]) -> tuple[int, bool]:
    """One round in one ledger transaction: take the oldest due rows, publish them, mark
    those the broker confirmed as sent, commit. The rows are the round's alone: locked
    with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (another worker takes the next ones),
    under the single writer lock on SQLite. A crash before the commit leaves them unsent,
    free at once for any worker."""
    now = utcnow()
    o = event_outbox.c  # only what publishing needs: dates cost a conversion per row
    query = select(o.id, o.event_id, o.target, o.subject, o.body, o.attempts).where(
        o.sent_at.is_(None), o.route == route, o.next_try_at <= now
    ).order_by(o.id).limit(BATCH)
    if ledger.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    sent, failed = 0, 0
    with ledger.begin() as conn:
        rows = conn.execute(query).all()
        groups: dict[str, list[Any]] = {}
        for row in rows:
            groups.setdefault(row.target, []).append(row)
        for target, group in groups.items():
            publisher = _publisher(route, target, stack, opened)
            if isinstance(publisher, str):
                _failed(conn, group, publisher, now)
                failed += len(group)
                continue
            messages = [Message(r.event_id, r.subject, r.body.encode()) for r in group]
            try:
                results = publisher.publish(messages)
            except TransientError as exc:
                opened[target] = str(exc)
                _down(route, target, exc)
                _failed(conn, group, str(exc), now)
                failed += len(group)
                continue
            _DOWN.pop(target, None)
            crash_point("event-published")
            ok = [r.id for r, why in zip(group, results, strict=True) if why is None]
            if ok:
                conn.execute(update(event_outbox).where(o.id.in_(ok))
                             .values(sent_at=utcnow(), last_error=None))
            for row, why in zip(group, results, strict=True):
                if why is not None:
                    log.warning("event %s of route %s refused: %s", row.event_id, route, why)
                    _failed(conn, [row], why, now)
                    failed += 1
            sent += len(ok)
    if sent:
        crash_point("event-marked")
    return sent, len(rows) == BATCH and failed == 0


@functools.lru_cache(maxsize=64)
def _spec(target: str) -> Any:
    return _SPEC.validate_python(json.loads(target))


def _failed(conn: Connection, rows: list[Any], why: str, now: datetime) -> None:
    for row in rows:
        conn.execute(update(event_outbox).where(event_outbox.c.id == row.id).values(
            attempts=row.attempts + 1, last_error=clip(why, 500),
            next_try_at=now + backoff(row.attempts + 1)))


def _alert(ledger: Ledger, route: str) -> None:
    """Open ``events_waiting`` when the route's oldest unsent event is older than its
    ``alert_after``; resolve it once none waits."""
    incidents = Incidents(ledger)
    with ledger.engine.connect() as conn:
        oldest = conn.execute(select(event_outbox.c.created_at, event_outbox.c.target,
                                     event_outbox.c.last_error).where(
            event_outbox.c.sent_at.is_(None), event_outbox.c.route == route)
            .order_by(event_outbox.c.id).limit(1)).first()
        waiting = conn.execute(select(func.count()).select_from(event_outbox).where(
            event_outbox.c.sent_at.is_(None), event_outbox.c.route == route)).scalar_one()
    key = f"events:{route}"
    if oldest is None:
        incidents.resolve_others("events_waiting", set(), route=route)
        return
    spec = _spec(oldest.target)
    if utcnow() - oldest.created_at >= spec.alert_after:
        message = clip(f"route {route}: {waiting} events wait to be published to"
                       f" {spec.kind} {spec.url()} ({oldest.last_error or 'not sent yet'});"
                       " they are retried and flow once the broker answers", 500)
        if incidents.open(key, "events_waiting", message, route=route):
            log.error("ALERT %s", message)


def publish_waiting(ledger: Ledger) -> int:
    """Publish whatever waits in the outbox, for every route that has unsent events (serve
    calls this every few seconds); the number published."""
    with ledger.engine.connect() as conn:
        routes = set(conn.execute(select(event_outbox.c.route).where(
            event_outbox.c.sent_at.is_(None)).distinct()).scalars())
    return publish_due(ledger, routes, busy=routes) if routes else 0


def waiting(ledger: Ledger, route: str | None = None) -> int:
    """Events not yet published (for status and tests)."""
    query = select(func.count()).select_from(event_outbox).where(event_outbox.c.sent_at.is_(None))
    if route is not None:
        query = query.where(event_outbox.c.route == route)
    with ledger.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
