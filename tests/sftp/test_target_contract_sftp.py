"""The Target contract against SftpTarget and a real OpenSSH sshd."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.sshd import Sshd
from target_contract import TargetContract


class TestSftpTarget(TargetContract):
    @pytest.fixture(autouse=True)
    def _server(self, sshd: Sshd, remote_dir: Path) -> None:
        self.server, self.remote = sshd, remote_dir

    def target_spec(self, tmp_path: Path) -> dict[str, Any]:
        return {"sftp": "acme", "path": str(self.remote), "format": "csv"}

    def settings(self, tmp_path: Path) -> dict[str, Any]:
        return {"connections": {"acme": {"sftp": self.server.connection()}}}

    def seen(self, tmp_path: Path) -> dict[str, bytes]:
        """What a partner collecting the folder sees: every file, temp names included."""
        return {p.name: p.read_bytes() for p in self.remote.iterdir() if p.is_file()}
