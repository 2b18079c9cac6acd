"""A real OpenSSH sshd for the SFTP tests (see ``tests/support/sshd.py``)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.sshd import Sshd, sshd_available, start_sshd


def _start(tmp_root: Path | None = None) -> Sshd:
    reason = sshd_available()
    if reason:
        pytest.skip(reason)
    return start_sshd(tmp_root)


@pytest.fixture(scope="session")
def sshd() -> Iterator[Sshd]:
    """One server for the whole session; tests that stop or re-key a server use ``own_sshd``."""
    server = _start()
    yield server
    server.stop()
    shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture
def own_sshd() -> Iterator[Sshd]:
    server = _start()
    yield server
    server.stop()
    shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture
def remote_dir(sshd: Sshd) -> Iterator[Path]:
    """A fresh folder on the server (the same file system: tests write into it directly)."""
    path = sshd.root / uuid.uuid4().hex[:12]
    path.mkdir()
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)
