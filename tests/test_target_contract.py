"""The Target contract against the folder target, the HTTP target (a real local server) and
the in-tree test plug-in; the SFTP target runs it in tests/sftp against a real sshd."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugins.memory_bucket import BUCKETS
from support.http_server import RecordingServer
from target_contract import TargetContract
from tradelane.ledger import FileRecord, Ledger
from tradelane.models import FileRef


def _files(folder: Path) -> dict[str, bytes]:
    """What a consumer collecting the folder sees: every file, temp names included."""
    if not folder.exists():
        return {}
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


class TestFolderTarget(TargetContract):
    def target_spec(self, tmp_path: Path) -> dict[str, Any]:
        return {"folder": str(tmp_path / "outbox"), "format": "csv",
                "allow_outside": True}

    def seen(self, tmp_path: Path) -> dict[str, bytes]:
        return _files(tmp_path / "outbox")


class TestHttpTarget(TargetContract):
    @pytest.fixture(autouse=True)
    def _server(self, tmp_path: Path) -> Iterator[None]:
        self.server = RecordingServer()
        with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", worker="test") as ledger:
            self.ledger = ledger  # the outbox makes a retry resend with the same key
            record = ledger.claim(FileRef("contract", "file:///in", "ORD 0412.csv", 20, 1))
            assert isinstance(record, FileRecord)
            self.file_id = record.id
            yield
        self.server.stop()

    def target_spec(self, tmp_path: Path) -> dict[str, Any]:
        return {"http": {"url": f"{self.server.url}/orders"}}

    def seen(self, tmp_path: Path) -> dict[str, bytes]:
        """What the API processed: one body per idempotency key (it replays the rest)."""
        import json

        return {key: json.dumps(body).encode() for key, body in self.server.dedup_log.items()}


class TestTestPlugin(TargetContract):
    """The in-tree plug-in, registered through the public API (tests/plugins)."""

    def target_spec(self, tmp_path: Path) -> dict[str, Any]:
        return {"bucket": str(tmp_path), "format": "jsonl"}

    def seen(self, tmp_path: Path) -> dict[str, bytes]:
        return dict(BUCKETS.get(str(tmp_path), {}))
