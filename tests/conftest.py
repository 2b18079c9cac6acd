"""Shared fixtures: a throwaway tradelane project folder with its own ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.project import ProjectDir, pg_schema_url


@pytest.fixture
def project(tmp_path: Path) -> Iterator[ProjectDir]:
    yield ProjectDir(tmp_path / "project")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on the real PostgreSQL server (skips if the server is unreachable)."""
    yield from pg_schema_url()
