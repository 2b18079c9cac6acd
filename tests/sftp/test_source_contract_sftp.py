"""The Source contract against SftpSource and a real OpenSSH sshd."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from source_contract import SourceContract
from support.sftp_routes import make_route, make_settings
from support.sshd import Sshd
from tradelane.abc import Source
from tradelane.sources.sftp import SftpSource


class TestSftpSource(SourceContract):
    @pytest.fixture
    def folder(self, remote_dir: Path, sshd: Sshd) -> Path:
        self.server = sshd
        return remote_dir

    def make_source(self, folder: Path, tmp_path: Path, **spec: Any) -> Source:
        return SftpSource(make_route(folder, **spec), make_settings(self.server, tmp_path))
