"""The test vsftpd servers (one per TLS mode, started on first use, stopped by conftest), and
settings and routes that point at them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.vsftpd import TlsMode, Vsftpd, start_vsftpd, vsftpd_available
from tradelane.spec import RouteSpec, Settings

_servers: dict[str, Vsftpd] = {}


def server_for(mode: TlsMode) -> Vsftpd:
    reason = vsftpd_available()
    if reason:
        pytest.skip(reason)
    if mode not in _servers:
        _servers[mode] = start_vsftpd(mode)
    return _servers[mode]


def make_settings(server: Vsftpd, root: Path, **conn: Any) -> Settings:
    return Settings.model_validate(
        {"connections": {"acme": {"ftp": server.connection(**conn)}}, "root": root})


def make_route(server: Vsftpd, folder: Path, *, target: dict[str, Any] | None = None,
               **source: Any) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "acme_orders",
        "source": {"ftp": "acme", "path": server.remote(folder), "min_age": "0s", **source},
        "format": {"type": "csv"},
        "fields": {"order": {}, "qty": {}},
        "target": target or {"folder": "outbox", "format": "csv"},
    })
