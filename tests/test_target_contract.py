"""The Target contract against the folder target, the HTTP target (a real local server) and
the in-tree test plug-in; the SFTP target runs it in tests/sftp against a real sshd."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugins.memory_bucket import BUCKETS
from support.http_server import RecordingServer
from target_contract import TargetContract
from tradelane.errors import InvalidRecords
from tradelane.ledger import FileRecord, Ledger
from tradelane.models import Document, FileRef, Issue
from tradelane.targets.folder import HANDOFF_BYTES

BIG_ROWS = 600_000
#: 6.8 MB, 11 MB as written (quoted): most of it hashed and written by the helper thread
BIG_CSV = b"order,qty\n" + b"".join(b"ORDER-%07d,%d\n" % (i, i % 97) for i in range(BIG_ROWS))

_LIMITED = """
import resource, signal, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_target_contract import BIG_CSV, TestFolderTarget
from tradelane.errors import TargetUnavailable
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write raises EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (6 << 20, resource.RLIM_INFINITY))
suite = TestFolderTarget()
try:
    suite.deliver(Path({root!r}), batches=suite.batches(Path({root!r}), BIG_CSV))
except TargetUnavailable as exc:
    print(exc)
"""


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

    # past HANDOFF_BYTES of output, a helper thread hashes and writes: a big file's digest,
    # size, bytes and failures are still exactly those of what was written

    def test_a_big_output_is_recorded_with_the_digest_and_size_of_its_bytes(
            self, tmp_path: Path) -> None:
        delivery = self.deliver(tmp_path, batches=self.batches(tmp_path, BIG_CSV))
        [data] = self.seen(tmp_path).values()
        assert len(data) > 2 * HANDOFF_BYTES
        assert data.replace(b'"', b"") == BIG_CSV  # every row, in order (text is quoted)
        assert (delivery.records, delivery.size) == (BIG_ROWS, len(data))
        assert delivery.sha256 == hashlib.sha256(data).hexdigest()

    def test_a_big_output_that_fails_midway_leaves_nothing_visible(
            self, tmp_path: Path) -> None:
        def big_then_invalid() -> Iterator[Document]:
            yield from self.batches(tmp_path, BIG_CSV)
            raise InvalidRecords([Issue("row 3", "qty", "x", "type", "qty: not a number")],
                                 error_count=1)

        with pytest.raises(InvalidRecords):
            self.deliver(tmp_path, batches=big_then_invalid())
        assert self.seen(tmp_path) == {}

    def test_a_disk_that_refuses_a_write_after_the_handoff_fails_the_delivery(
            self, tmp_path: Path) -> None:
        """The file-size limit (``ulimit -f``) refuses writes past 6 MB, as a full disk
        would: the helper thread's error reaches the delivery, and no file appears."""
        done = subprocess.run([sys.executable, "-c", _LIMITED.format(
            root=str(tmp_path), tests=str(Path(__file__).parent))],
            capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "cannot write" in done.stdout and "File too large" in done.stdout, done.stdout
        assert self.seen(tmp_path) == {}


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
