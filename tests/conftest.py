"""Shared fixtures: a throwaway tradelane project folder with its own ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.project import ProjectDir


@pytest.fixture
def project(tmp_path: Path) -> Iterator[ProjectDir]:
    yield ProjectDir(tmp_path / "project")
