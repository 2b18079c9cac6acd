"""The ledger's schema is changed only through Alembic migrations (``ledger/migrations``).

``upgrade(engine)`` brings any ledger to the newest schema when a worker starts. Several
workers may start at once: on PostgreSQL they take turns on an advisory lock.

To change the schema: edit ``tables.py``, then generate and review a migration::

    .venv/bin/python -m tradelane.ledger.schema revision "add a column"

``tests/test_migrations.py`` fails when the tables and the migrations disagree.
"""

from __future__ import annotations

import logging
import re
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from tradelane.errors import LedgerUnavailable
from tradelane.ledger.errors import LedgerDamaged

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK = int.from_bytes(b"tradelan", "big") >> 1  # any fixed 63-bit number
_REVISION = re.compile(r'^(down_revision|revision)(?:: [^=]+)? = (?:"([^"]*)"|None)', re.M)


def upgrade(engine: Engine) -> None:
    if _current(engine):
        return  # the usual start: one SELECT, no lock, no transaction to write
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        if _at_head(conn):
            return  # the usual start: Alembic (100 ms to import and run) is not needed
        # a first start creates the tables: Alembic's INFO lines ("setup plugin ...",
        # "Running upgrade") mean nothing to ops, so only its warnings are shown
        alembic_log = logging.getLogger("alembic")
        if alembic_log.level == logging.NOTSET:
            alembic_log.setLevel(logging.WARNING)
        from alembic import command

        command.upgrade(_config(conn), "head")


def _current(engine: Engine) -> bool:
    """The ledger is at the newest revision, asked in one statement: a missing table (a new
    ledger) is an error here, and the locked path then looks again and creates it."""
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except (DBAPIError, LedgerDamaged, LedgerUnavailable):  # the locked path says why
        return False
    return [row[0] for row in found] == [head]


def _at_head(conn: Connection) -> bool:
    head = head_revision()
    if head is None or not inspect(conn).has_table("alembic_version"):
        return False
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
        head]


@cache
def head_revision() -> str | None:
    """The newest migration's revision, read from the migration files; None if they do not
    form one line (Alembic then decides)."""
    revisions, parents = set(), set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((key, value or None) for key, value in
                     _REVISION.findall(script.read_text(encoding="utf-8")))
        if "revision" not in found:
            return None
        revisions.add(found["revision"])
        parents.add(found.get("down_revision"))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _config(conn: Connection | None = None, **attributes: Any) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    config.attributes.update(attributes)
    return config


def _revision(message: str) -> None:
    """Autogenerate a migration from the difference between tables.py and the migrations."""
    from alembic import command
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        config = _config(conn)
        command.upgrade(config, "head")
        command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":  # pragma: no cover - a developer tool
    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        raise SystemExit('usage: python -m tradelane.ledger.schema revision "what changed"')
    _revision(sys.argv[2])
