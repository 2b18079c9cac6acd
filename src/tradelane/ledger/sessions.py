"""Ops console sessions, kept in the ledger so that logging out ends a session for good.

The browser holds only a random session id (in a signed cookie); the ledger holds its SHA-256,
so reading the database (or a backup of it) gives no one a working cookie. A session is live
while it is known, not past ``expires_at`` and not revoked. Ended rows are deleted whenever
someone logs in, which is often enough to keep the table small.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, String, Table, Text, delete, insert, or_, select, update

from tradelane.ledger.store import Ledger, utcnow
from tradelane.ledger.tables import UtcDateTime, metadata

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 (hex) of the id the cookie carries
    Column("user_name", String(200), nullable=False),
    Column("address", String(64)),  # the client's address at login
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),  # logged out
    Column("flash", Text),  # JSON [kind, text]: a message for the session's next page
)

#: ``last_seen_at`` is written at most this often, not on every page.
SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    user: str
    expires_at: datetime
    flash: tuple[str, str] | None


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Start, find and end console sessions in the ledger's database."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def start(self, user: str, lifetime: timedelta, *, address: str | None = None,
              now: datetime | None = None) -> str:
        """A new session for ``user``; returns the id for the cookie (never stored)."""
        now = now or utcnow()
        session_id = secrets.token_urlsafe(32)
        with self.ledger.begin() as conn:
            self._purge(conn, now)
            conn.execute(insert(console_sessions).values(
                id=_key(session_id), user_name=user, address=(address or "")[:64] or None,
                created_at=now, expires_at=now + lifetime, last_seen_at=now))
        return session_id

    def find(self, session_id: str, *, now: datetime | None = None) -> SessionRecord | None:
        """The live session with this id, or None (unknown, expired or revoked)."""
        now = now or utcnow()
        key = _key(session_id)
        with self.ledger.engine.connect() as conn:
            row = conn.execute(select(console_sessions).where(
                console_sessions.c.id == key, console_sessions.c.revoked_at.is_(None),
                console_sessions.c.expires_at > now)).one_or_none()
        if row is None:
            return None
        if now - row.last_seen_at >= SEEN_EVERY:
            with self.ledger.begin() as conn:
                conn.execute(update(console_sessions).where(console_sessions.c.id == key)
                             .values(last_seen_at=now))
        flash = tuple(json.loads(row.flash)) if row.flash else None
        return SessionRecord(row.user_name, row.expires_at, flash)  # type: ignore[arg-type]

    def end(self, session_id: str, *, now: datetime | None = None) -> None:
        """Revoke the session: its cookie never works again, wherever it was copied to."""
        with self.ledger.begin() as conn:
            conn.execute(update(console_sessions).where(
                console_sessions.c.id == _key(session_id),
                console_sessions.c.revoked_at.is_(None)).values(revoked_at=now or utcnow()))

    def set_flash(self, session_id: str, flash: tuple[str, str] | None) -> None:
        value = json.dumps(list(flash), ensure_ascii=False) if flash else None
        with self.ledger.begin() as conn:
            conn.execute(update(console_sessions).where(
                console_sessions.c.id == _key(session_id)).values(flash=value))

    def purge(self, *, now: datetime | None = None) -> int:
        """Delete every ended session; returns how many."""
        with self.ledger.begin() as conn:
            return self._purge(conn, now or utcnow())

    @staticmethod
    def _purge(conn: Any, now: datetime) -> int:
        return conn.execute(delete(console_sessions).where(or_(
            console_sessions.c.expires_at <= now,
            console_sessions.c.revoked_at.is_not(None)))).rowcount


__all__ = ["SEEN_EVERY", "SessionRecord", "Sessions", "console_sessions"]
