"""Incident state and worker heartbeats, kept in the ledger so they survive restarts and are
shared by every ``tradelane serve`` pointed at the same database.

An incident is one row of ``alerts``, keyed by what it is about (``pending:42``,
``overdue:orders:2026-03-02T06:00+01:00``, ``unreachable:orders``). A partial unique index
allows one *open* row per key, so opening is ``INSERT ... ON CONFLICT DO NOTHING``: whoever
inserts the row raises the alert, every other poll and worker sees it is already open. Each
channel (log, webhook, smtp) is recorded in ``sent_to`` once it took the alert, so a retry
after a failed channel never repeats it on the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    desc,
    func,
    insert,
    or_,
    select,
    update,
)

from tradelane.ledger.store import FileRecord, Ledger, insert_ignore, utcnow
from tradelane.ledger.tables import UtcDateTime, files, metadata, runs
from tradelane.models import FileState

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False),
    Column("kind", String(32), nullable=False),  # quarantined | pending | overdue | unreachable
    Column("route", String(64)),
    Column("file_id", Integer),
    Column("message", Text, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime),
    Column("sent_to", Text, nullable=False, default=""),  # channels that took it: "log,webhook"
    Column("sent_at", UtcDateTime),  # every channel took it
    Column("sending_until", UtcDateTime),  # a worker is sending it (a short lease)
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
)
# Partial: WHERE resolved_at IS NULL, as migration 0001 creates it on both databases. Said
# here with sqlite_where/postgresql_where, it would make every process import SQLAlchemy's
# PostgreSQL dialect (20 ms of a cron's run on SQLite) to check the keyword.
Index("uq_alerts_open", alerts.c.key, unique=True)

heartbeats = Table(
    "heartbeats",
    metadata,
    Column("worker", String(255), primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("beat_at", UtcDateTime, nullable=False),
    Column("state", String(16), nullable=False),  # starting | running | stopping | stopped
    Column("detail", Text),  # JSON: routes, modes
)

#: A channel that failed this often stops being retried (the log always has the alert).
MAX_ATTEMPTS = 10
_SEND_LEASE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    key: str
    kind: str
    route: str | None
    file_id: int | None
    message: str
    opened_at: datetime
    resolved_at: datetime | None
    sent_to: frozenset[str]
    attempts: int
    last_error: str | None

    @classmethod
    def from_row(cls, row: Any) -> Incident:
        data = dict(row._mapping)
        data["sent_to"] = frozenset(filter(None, (data["sent_to"] or "").split(",")))
        for gone in ("sent_at", "sending_until"):
            data.pop(gone)
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "route": self.route,
                "file_id": self.file_id, "message": self.message,
                "opened_at": self.opened_at.isoformat(),
                "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None}


class Incidents:
    """Open, resolve and send incidents; the queries that find them."""

    def __init__(self, ledger: Ledger):
        self.engine = ledger.engine

    # -- state -----------------------------------------------------------------------------

    def open(self, key: str, kind: str, message: str, *, route: str | None = None,
             file_id: int | None = None, now: datetime | None = None) -> bool:
        """True if this call opened the incident (nobody had it open)."""
        stmt = insert_ignore(alerts, self.engine.dialect.name).values(
            key=key, kind=kind, route=route, file_id=file_id, message=message,
            opened_at=now or utcnow(), sent_to="", attempts=0).returning(alerts.c.id)
        with self.engine.begin() as conn:  # RETURNING: the PostgreSQL driver's rowcount is -1
            return conn.execute(stmt).first() is not None

    def resolve_others(self, kind: str, still_open: set[str], *,
                       now: datetime | None = None, route: str | None = None) -> list[Incident]:
        """Close the open incidents of ``kind`` (of one route, if given) whose condition has
        cleared."""
        query = select(alerts).where(alerts.c.kind == kind, alerts.c.resolved_at.is_(None))
        if route is not None:
            query = query.where(alerts.c.route == route)
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
            gone = [Incident.from_row(r) for r in rows if r.key not in still_open]
            if gone:
                conn.execute(update(alerts).where(alerts.c.id.in_([i.id for i in gone]))
                             .values(resolved_at=now or utcnow()))
        return gone

    def open_incidents(self, route: str | None = None) -> list[Incident]:
        query = select(alerts).where(alerts.c.resolved_at.is_(None)).order_by(alerts.c.id)
        if route is not None:
            query = query.where(alerts.c.route == route)
        with self.engine.connect() as conn:
            return [Incident.from_row(r) for r in conn.execute(query)]

    def all(self) -> list[Incident]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(alerts).order_by(alerts.c.id)).all()
        return [Incident.from_row(r) for r in rows]

    # -- sending ---------------------------------------------------------------------------

    def take_unsent(self, *, now: datetime | None = None) -> list[Incident]:
        """Incidents some channel has not taken yet, each leased to this caller for sending."""
        now = now or utcnow()
        taken = []
        with self.engine.connect() as conn:
            ids = conn.execute(select(alerts.c.id).where(
                alerts.c.sent_at.is_(None), alerts.c.attempts < MAX_ATTEMPTS,
                or_(alerts.c.sending_until.is_(None), alerts.c.sending_until < now))
                .order_by(alerts.c.id).limit(100)).scalars().all()
        for alert_id in ids:
            with self.engine.begin() as conn:
                won = conn.execute(update(alerts).where(
                    alerts.c.id == alert_id, alerts.c.sent_at.is_(None),
                    or_(alerts.c.sending_until.is_(None), alerts.c.sending_until < now))
                    .values(sending_until=now + _SEND_LEASE,
                            attempts=alerts.c.attempts + 1)).rowcount == 1
                if won:
                    row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).one()
                    taken.append(Incident.from_row(row))
        return taken

    def record_sent(self, incident_id: int, channels: set[str], *, complete: bool,
                    error: str | None = None, now: datetime | None = None) -> None:
        values: dict[str, Any] = {"sent_to": ",".join(sorted(channels)), "sending_until": None,
                                  "last_error": error}
        if complete:
            values["sent_at"] = now or utcnow()
        with self.engine.begin() as conn:
            conn.execute(update(alerts).where(alerts.c.id == incident_id).values(**values))

    # -- what might be an incident -----------------------------------------------------------

    def quarantined_since(self, since: datetime) -> list[FileRecord]:
        bad = (FileState.QUARANTINED.value, FileState.DUPLICATE.value)
        with self.engine.connect() as conn:
            rows = conn.execute(select(files).where(files.c.state.in_(bad),
                                                    files.c.updated_at >= since)).all()
        return [FileRecord.from_row(r) for r in rows]

    def pending_since(self, before: datetime) -> list[FileRecord]:
        """Files pending (after temporary failures) that were first seen before ``before``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(files).where(
                files.c.state == FileState.PENDING.value, files.c.received_at < before)).all()
        return [FileRecord.from_row(r) for r in rows]

    def still_quarantined(self, file_ids: list[int]) -> set[int]:
        bad = (FileState.QUARANTINED.value, FileState.DUPLICATE.value)
        with self.engine.connect() as conn:
            return set(conn.execute(select(files.c.id).where(
                files.c.id.in_(file_ids), files.c.state.in_(bad))).scalars())

    def failing_streak(self, route: str, polls: int) -> str | None:
        """The last error if the route's last ``polls`` finished runs all failed, else None."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs.c.error).where(
                runs.c.route == route, runs.c.finished_at.is_not(None))
                .order_by(desc(runs.c.id)).limit(polls)).scalars().all()
        if len(rows) == polls and all(rows):
            return rows[0]
        return None


class Heartbeats:
    """One row per ``tradelane serve`` worker: when it last proved it was alive."""

    def __init__(self, ledger: Ledger):
        self.engine = ledger.engine

    def beat(self, worker: str, state: str, detail: dict[str, Any] | None = None, *,
             now: datetime | None = None) -> None:
        now = now or utcnow()
        text = json.dumps(detail or {}, default=str)
        with self.engine.begin() as conn:
            done = conn.execute(update(heartbeats).where(heartbeats.c.worker == worker)
                                .values(beat_at=now, state=state, detail=text)).rowcount
            if not done:
                conn.execute(insert(heartbeats).values(worker=worker, started_at=now,
                                                       beat_at=now, state=state, detail=text))

    def latest(self) -> list[dict[str, Any]]:
        """Every worker, newest heartbeat first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(heartbeats).order_by(desc(heartbeats.c.beat_at))).all()
        return [dict(r._mapping) | {"detail": json.loads(r.detail or "{}")} for r in rows]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(heartbeats)).scalar_one())


__all__ = ["Heartbeats", "Incident", "Incidents", "alerts", "heartbeats"]
