"""The ledger's tables and its Alembic migrations must agree, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from tradelane.ledger import Ledger, metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("pg_url")


def test_migrations_build_exactly_the_declared_tables(fresh_url: str) -> None:
    Ledger(fresh_url).close()  # a worker's start-up runs the migrations
    engine = create_engine(fresh_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                metadata)
        assert diff == [], "tables.py changed without a migration: " \
                           "python -m tradelane.ledger.schema revision '...'"
        assert "alembic_version" in inspect(conn).get_table_names()
    engine.dispose()


def test_starting_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger(url).close()
    with Ledger(url) as ledger:
        assert ledger.files() == []


def test_the_head_read_from_the_migration_files_is_alembics() -> None:
    """A ledger already at this revision starts without loading Alembic at all."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from tradelane.ledger.schema import MIGRATIONS, head_revision

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()
