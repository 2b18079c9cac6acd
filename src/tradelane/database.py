"""Engines for the ``database`` connections of ``tradelane.yaml``, and the marker table that
makes table loads exactly-once.

The password is read from the environment or a file when the engine is made and goes into
the URL object only; SQLAlchemy renders URLs with the password masked, so neither logs nor
error messages carry it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
)
from sqlalchemy.engine import URL, make_url

from tradelane.errors import ConfigError

if TYPE_CHECKING:
    from tradelane.spec import Settings
    from tradelane.spec.database import DatabaseConnection

#: The marker rows, one per file (and per batch, ``commit: batch``) loaded into the database.
MARKERS = "tradelane_deliveries"


def connection_spec(settings: Settings, name: str) -> DatabaseConnection:
    entry = settings.connections.get(name)
    if entry is None or entry.kind != "database":
        raise ConfigError(f"no database connection named {name!r} in tradelane.yaml")
    return entry.database  # type: ignore[attr-defined, no-any-return]


def database_url(settings: Settings, name: str) -> URL:
    """The connection's URL with its password (from the environment or a file)."""
    import os

    spec = connection_spec(settings, name)
    url = make_url(spec.url)
    if spec.password_env:
        password = os.environ.get(spec.password_env)
        if password is None:
            raise ConfigError(f"connection {name!r}: the environment variable"
                              f" {spec.password_env} (its password) is not set")
        url = url.set(password=password)
    elif spec.password_file:
        try:
            text = settings.path(spec.password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"connection {name!r}: cannot read password_file"
                              f" {spec.password_file}: {exc.strerror or exc}") from None
        url = url.set(password=text.splitlines()[0] if text else "")
    return url


def connect(settings: Settings, name: str, url: URL | None = None) -> Engine:
    """An engine for the named connection (small pool: one poll uses one connection);
    ``url``: the connection's ``database_url``, if the caller has it already."""
    spec = connection_spec(settings, name)
    url = url or database_url(settings, name)
    args: dict[str, Any] = {"connect_timeout": spec.connect_timeout}
    return create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True,
                         connect_args=args)


def shown(url: URL | str) -> str:
    """A URL fit for messages and the ledger: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def markers_table(metadata: MetaData, schema: str | None = None) -> Table:
    return Table(
        MARKERS, metadata,
        # sha256 of (file sha256, route, table[, batch]): a retry computes the same key
        Column("key", String(64), primary_key=True),
        Column("route", String(200), nullable=False),
        Column("table_name", String(200), nullable=False),
        Column("file_id", BigInteger, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("batch", BigInteger, nullable=False),  # -1: the whole file
        Column("records", BigInteger, nullable=False),
        Column("delivered_at", DateTime, nullable=False),
        schema=schema,
    )


def marker_key(sha256: str, route: str, table: str, batch: int = -1) -> str:
    """The idempotency key of one load: the file's content, the route and the output."""
    text = f"{sha256}\n{route}\n{table}\n{batch}"
    return hashlib.sha256(text.encode()).hexdigest()
