"""The Source contract against the local folder source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from source_contract import SourceContract
from tradelane.abc import Source
from tradelane.sources import source_for
from tradelane.sources.local import LocalSource
from tradelane.spec import RouteSpec, Settings


class TestLocalSource(SourceContract):
    @pytest.fixture
    def folder(self, tmp_path: Path) -> Path:
        path = tmp_path / "inbox"
        path.mkdir()
        return path

    def make_source(self, folder: Path, tmp_path: Path, **spec: Any) -> Source:
        route = RouteSpec.model_validate({
            "name": "contract",
            "source": {"folder": str(folder), **spec},
            "format": {"type": "csv"},
            "fields": {"order": {}},
            "target": {"folder": str(tmp_path / "outbox")},
        })
        return LocalSource(route, Settings.model_validate({"root": tmp_path}))


class TestTestPluginSource(SourceContract):
    """The in-tree plug-in's source kind, registered through the public API (tests/plugins)."""

    @pytest.fixture
    def folder(self, tmp_path: Path) -> Path:
        path = tmp_path / "mirrored"
        path.mkdir()
        return path

    def make_source(self, folder: Path, tmp_path: Path, **spec: Any) -> Source:
        import plugins.memory_bucket  # noqa: F401 - registers "mirror" and "bucket"

        route = RouteSpec.model_validate({
            "name": "contract", "source": {"mirror": str(folder), **spec},
            "format": {"type": "csv"}, "fields": {"order": {}},
            "target": {"bucket": "unused"},
        })
        return source_for(route, Settings.model_validate({"root": tmp_path}))
