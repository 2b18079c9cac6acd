"""The ledger's schema: one shared ``metadata`` that every ledger table is declared on."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(64), nullable=False),
    Column("source", String(1024), nullable=False),
    Column("name", String(1024), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("sha256", String(64)),
    Column("state", String(16), nullable=False),
    Column("attempt", Integer, nullable=False, default=1),
    Column("mapping_version", String(16)),
    Column("received_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("lease_owner", String(255)),
    Column("lease_until", UtcDateTime),
    Column("next_attempt_at", UtcDateTime),
    Column("stage", String(16)),  # stage of the last failure
    Column("message", Text),  # last failure or outcome, in words
    Column("error_count", Integer),
    Column("path", Text),  # where the bytes are now: spool, quarantine or archive
    Column("outputs", Text),  # JSON list of delivered target URIs
    Column("parent_id", Integer, ForeignKey("files.id")),  # rejects split out of a file
    UniqueConstraint("route", "source", "name", "size", "mtime_ns", name="uq_files_identity"),
    Index("ix_files_state", "state", "route"),
    Index("ix_files_sha", "route", "sha256"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("detail", Text),
)

interchanges = Table(
    "interchanges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(64), nullable=False),
    Column("sender", String(64), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("control_ref", String(64), nullable=False),
    Column("file_id", Integer, ForeignKey("files.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_interchange_key", "route", "sender", "recipient", "control_ref"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(64), nullable=False, index=True),
    Column("worker", String(255), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("delivered", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    Column("pending", Integer, nullable=False, default=0),
    Column("error", Text),  # the source was unreachable, etc.
)
