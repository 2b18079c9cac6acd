"""Fixtures for the table target and source: the real PostgreSQL and MariaDB servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}


@pytest.fixture(params=sorted(URLS))
def db(request: pytest.FixtureRequest) -> Iterator[tuple[str, Engine]]:
    """(url, engine) of each server in turn."""
    url = URLS[request.param]
    engine = create_engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture
def table_name(db: tuple[str, Engine]) -> Iterator[str]:
    """A unique table name, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with db[1].begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
