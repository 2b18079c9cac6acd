"""SftpTarget against a real OpenSSH sshd."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from support.sftp_routes import make_route, make_settings
from support.sshd import Sshd
from tradelane.abc import DeliveryContext
from tradelane.errors import InvalidRecords, TargetUnavailable
from tradelane.models import Document
from tradelane.targets.sftp import SftpTarget


def docs() -> Iterator[Document]:
    yield Document(header={}, records=pa.table({"order": ["A1", "A2"], "qty": ["3", "5"]}))


def ctx(file_id: int = 7, name: str = "ORD 0412.edi") -> DeliveryContext:
    return DeliveryContext(file_id=file_id, route="acme_orders", original_name=name,
                           sha256="ab" * 32, received_at=datetime(2026, 4, 12, tzinfo=UTC))


def target(server: Sshd, folder: Path, tmp_path: Path, conn=None, **spec) -> SftpTarget:
    route = make_route("/unused", target={"sftp": "acme", "path": str(folder), "format": "csv",
                                          **spec})
    return SftpTarget(route, make_settings(server, tmp_path, **(conn or {})))


def test_uploads_atomically_with_a_deterministic_name(sshd: Sshd, remote_dir: Path,
                                                     tmp_path: Path) -> None:
    with target(sshd, remote_dir, tmp_path, name="{route}-{stem}.{ext}") as tgt:
        expected = io.BytesIO()
        tgt.writer.write(docs(), expected, tgt.route)
        delivery = tgt.deliver(docs(), ctx())
        assert (remote_dir / "acme_orders-ORD 0412.csv").read_bytes() == expected.getvalue()
        assert delivery.records == 2 and delivery.size == len(expected.getvalue())
        assert delivery.sha256 == hashlib.sha256(expected.getvalue()).hexdigest()
        assert delivery.target == f"sftp://acme{remote_dir}/acme_orders-ORD 0412.csv"
        tgt.deliver(docs(), ctx())  # a retry of the same file
    assert [p.name for p in remote_dir.iterdir()] == ["acme_orders-ORD 0412.csv"]


def test_never_replaces_a_different_file(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    (remote_dir / "ORD 0412.csv").write_bytes(b"order,qty\nOLD,1\n")
    with target(sshd, remote_dir, tmp_path) as tgt, pytest.raises(TargetUnavailable,
                                                                   match="different content"):
        tgt.deliver(docs(), ctx())
    assert (remote_dir / "ORD 0412.csv").read_bytes() == b"order,qty\nOLD,1\n"
    assert [p.name for p in remote_dir.iterdir()] == ["ORD 0412.csv"]


def test_invalid_batches_leave_nothing_behind(sshd: Sshd, remote_dir: Path,
                                              tmp_path: Path) -> None:
    def failing() -> Iterator[Document]:
        yield from docs()
        raise InvalidRecords([], error_count=1)

    with target(sshd, remote_dir, tmp_path) as tgt, pytest.raises(InvalidRecords):
        tgt.deliver(failing(), ctx())
    assert list(remote_dir.iterdir()) == []


def test_read_only_folder_is_unavailable(sshd: Sshd, tmp_path: Path) -> None:
    """As an unprivileged login: root's sessions would ignore the folder's mode."""
    if sshd.other_user is None or (sshd.other_user == sshd.user and os.geteuid() == 0):
        pytest.skip("no unprivileged login available for permission tests")
    folder = sshd.root / f"readonly-{time.time_ns()}"
    folder.mkdir()
    folder.chmod(0o555)
    tgt = target(sshd, folder, tmp_path, conn={"user": sshd.other_user})
    with tgt, pytest.raises(TargetUnavailable, match="permission denied"):
        tgt.deliver(docs(), ctx())
    assert list(folder.iterdir()) == []


def test_server_down_is_unavailable(own_sshd: Sshd, tmp_path: Path) -> None:
    own_sshd.stop()
    with target(own_sshd, own_sshd.root, tmp_path) as tgt, pytest.raises(TargetUnavailable):
        tgt.deliver(docs(), ctx())
