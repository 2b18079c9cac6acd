"""The Source and Target contracts against FtpSource/FtpTarget and a real vsftpd, over plain
FTP, explicit FTPS and implicit FTPS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ftp_routes import make_route, make_settings

from source_contract import SourceContract
from support.vsftpd import Vsftpd
from target_contract import TargetContract
from tradelane.abc import Source
from tradelane.sources.ftp import FtpSource


class TestFtpSource(SourceContract):
    @pytest.fixture
    def folder(self, remote_dir: Path, ftpd: Vsftpd) -> Path:
        self.server = ftpd
        return remote_dir

    def make_source(self, folder: Path, tmp_path: Path, **spec: Any) -> Source:
        return FtpSource(make_route(self.server, folder, **spec),
                         make_settings(self.server, tmp_path))


class TestFtpTarget(TargetContract):
    @pytest.fixture(autouse=True)
    def _server(self, ftpd: Vsftpd, remote_dir: Path) -> None:
        self.server, self.remote = ftpd, remote_dir

    def target_spec(self, tmp_path: Path) -> dict[str, Any]:
        return {"ftp": "acme", "path": self.server.remote(self.remote), "format": "csv"}

    def settings(self, tmp_path: Path) -> dict[str, Any]:
        return {"connections": {"acme": {"ftp": self.server.connection()}}}

    def seen(self, tmp_path: Path) -> dict[str, bytes]:
        """What a partner collecting the folder sees: every file, temp names included."""
        return {p.name: p.read_bytes() for p in self.remote.iterdir() if p.is_file()}
