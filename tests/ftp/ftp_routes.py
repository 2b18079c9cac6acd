"""Settings and routes that point at a test vsftpd."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.vsftpd import Vsftpd
from tradelane.spec import RouteSpec, Settings


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
