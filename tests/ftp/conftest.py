"""Real vsftpd servers for the FTP tests: plain, explicit TLS and implicit TLS, each with its
own throwaway CA (see ``tests/support/vsftpd.py``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ftp_routes import _servers, server_for

from support.vsftpd import Vsftpd


@pytest.fixture(scope="session", autouse=True)
def _stop_servers() -> Iterator[None]:
    yield
    for server in _servers.values():
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _folders_the_server_can_write() -> Iterator[None]:
    """The FTP sessions run as the unprivileged ``ftp`` user while the tests create folders
    as root (e.g. the contract's ``done/``): with umask 0 during a test, the server can
    write into them as a partner's account could."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.fixture(params=["none", "explicit", "implicit"])
def ftpd(request: pytest.FixtureRequest) -> Vsftpd:
    return server_for(request.param)


@pytest.fixture
def remote_dir(ftpd: Vsftpd) -> Iterator[Path]:
    path = ftpd.folder()
    yield path
    shutil.rmtree(path, ignore_errors=True)
