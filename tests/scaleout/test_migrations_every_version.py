"""A ledger at any earlier schema version is brought to the newest one when a worker starts,
on SQLite and on PostgreSQL (issue 18): a new worker joining old ones upgrades the shared
ledger, and what it ends with is exactly the declared tables."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from support.project import pg_schema_url
from tradelane.ledger import FileRecord, Ledger, metadata
from tradelane.ledger.schema import _config
from tradelane.models import FileRef


def _earlier_versions() -> list[str]:
    """Every revision but the newest, oldest first."""
    script = ScriptDirectory.from_config(_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))][:-1]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_ledger_at_every_earlier_version_upgrades_to_the_declared_tables(
        backend: str, tmp_path: Path) -> None:
    versions = _earlier_versions()
    assert len(versions) >= 10  # 0001 ... the one before the head
    for version in versions:
        with contextlib.ExitStack() as stack:
            url = (f"sqlite:///{tmp_path}/{version}.db" if backend == "sqlite"
                   else stack.enter_context(contextlib.contextmanager(pg_schema_url)()))
            engine = create_engine(url)
            with engine.begin() as conn:
                command.upgrade(_config(conn), version)
                assert conn.execute(text("SELECT version_num FROM alembic_version")
                                    ).scalar_one() == version
            with Ledger(url, worker="new") as ledger:  # a worker's start: upgrade to head
                claimed = ledger.claim(FileRef("r", "inbox", "a.csv", 1, 1))
                assert isinstance(claimed, FileRecord) and claimed.fence == 1, version
            with engine.connect() as conn:
                diff = compare_metadata(
                    MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
                assert diff == [], f"from {version}: {diff}"
                assert "files" in inspect(conn).get_table_names()
            engine.dispose()
