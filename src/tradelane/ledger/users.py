"""Console users: a name, a role and an argon2id hash of the password, in the ledger.

Kept in the ledger (not in tradelane.yaml) so that every console process, and the CLI that
manages them, sees the same users at once. Removing a user revokes their sessions in the same
transaction; changing a password revokes them too (a stolen session dies with the old
password). The first user ends every session of the single-password mode, which stops
applying from then on. Roles are not copied into sessions: the console reads them here on
every request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, String, Table, Text, delete, func, insert, select, update

from tradelane.errors import NotFound, RequestError
from tradelane.ledger.sessions import console_sessions
from tradelane.ledger.store import Ledger, utcnow
from tradelane.ledger.tables import UtcDateTime, metadata

console_users = Table(
    "console_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # viewer | operator | admin
    Column("password_hash", Text, nullable=False),  # argon2id, PHC string
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

ROLES = ("viewer", "operator", "admin")
_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    role: str
    created_at: datetime
    updated_at: datetime


def check_name(name: str) -> str:
    """The user name as stored (lower case); ValueError saying what a name may hold."""
    folded = name.strip().lower()
    if not _NAME.fullmatch(folded):
        raise ValueError(f"invalid user name {name!r}: 1 to 64 letters, digits and . _ @ -,"
                         " starting with a letter or digit")
    return folded


class UserNotFound(NotFound):
    def __init__(self, name: str):
        super().__init__(name, what="user")


class Users:
    """Add, find, change and remove console users (hashing is the caller's: ``web.accounts``)."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def any(self) -> bool:
        with self.ledger.engine.connect() as conn:
            return conn.execute(select(console_users.c.name).limit(1)).first() is not None

    def get(self, name: str) -> tuple[UserRecord, str] | None:
        """The user and their password hash, or None."""
        with self.ledger.engine.connect() as conn:
            row = conn.execute(select(console_users).where(
                console_users.c.name == name)).one_or_none()
        if row is None:
            return None
        return _record(row), row.password_hash

    def role(self, name: str) -> str | None:
        with self.ledger.engine.connect() as conn:
            return conn.execute(select(console_users.c.role).where(
                console_users.c.name == name)).scalar_one_or_none()

    def list(self) -> list[UserRecord]:
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(select(console_users).order_by(console_users.c.name)).all()
        return [_record(row) for row in rows]

    def add(self, name: str, role: str, password_hash: str) -> None:
        """Conflict if the name is taken. The first user ends single-password sessions."""
        _check_role(role)
        now = utcnow()
        with self.ledger.begin() as conn:
            if conn.execute(select(console_users.c.name).where(
                    console_users.c.name == name)).first() is not None:
                raise RequestError(f"there is already a user {name}")
            first = conn.execute(select(func.count()).select_from(console_users)).scalar_one()
            if not first:
                conn.execute(update(console_sessions).where(
                    console_sessions.c.revoked_at.is_(None)).values(revoked_at=now))
            conn.execute(insert(console_users).values(
                name=name, role=role, password_hash=password_hash, created_at=now,
                updated_at=now))

    def set_role(self, name: str, role: str) -> None:
        _check_role(role)
        self._update(name, role=role)

    def set_password(self, name: str, password_hash: str, *, end_sessions: bool = True
                     ) -> None:
        self._update(name, password_hash=password_hash, end_sessions=end_sessions)

    def remove(self, name: str) -> None:
        with self.ledger.begin() as conn:
            if not conn.execute(delete(console_users).where(
                    console_users.c.name == name)).rowcount:
                raise UserNotFound(name)
            _end_sessions(conn, name)

    def _update(self, name: str, *, end_sessions: bool = False, **values: str) -> None:
        with self.ledger.begin() as conn:
            if not conn.execute(update(console_users).where(console_users.c.name == name)
                                .values(updated_at=utcnow(), **values)).rowcount:
                raise UserNotFound(name)
            if end_sessions:
                _end_sessions(conn, name)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: choose viewer, operator or admin")


def _end_sessions(conn: object, name: str) -> None:
    conn.execute(update(console_sessions).where(  # type: ignore[attr-defined]
        console_sessions.c.user_name == name,
        console_sessions.c.revoked_at.is_(None)).values(revoked_at=utcnow()))


def _record(row: object) -> UserRecord:
    return UserRecord(row.name, row.role, row.created_at,  # type: ignore[attr-defined]
                      row.updated_at)  # type: ignore[attr-defined]


__all__ = ["ROLES", "UserNotFound", "UserRecord", "Users", "check_name", "console_users"]
