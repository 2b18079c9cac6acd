"""The ledger's schema is changed only through Alembic migrations (``ledger/migrations``).

``upgrade(engine)`` brings any ledger to the newest schema when a worker starts. Several
workers may start at once: on PostgreSQL they take turns on an advisory lock.

To change the schema: edit ``tables.py``, then generate and review a migration::

    .venv/bin/python -m tradelane.ledger.schema revision "add a column"

``tests/test_migrations.py`` fails when the tables and the migrations disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK = int.from_bytes(b"tradelan", "big") >> 1  # any fixed 63-bit number


def upgrade(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        command.upgrade(_config(conn), "head")


def _config(conn: Connection | None = None, **attributes: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    config.attributes.update(attributes)
    return config


def _revision(message: str) -> None:
    """Autogenerate a migration from the difference between tables.py and the migrations."""
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
