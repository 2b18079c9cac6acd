"""Settings and a route that point at a test sshd."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.sshd import Sshd
from tradelane.spec import RouteSpec, Settings


def make_settings(server: Sshd, root: Path, **conn: Any) -> Settings:
    return Settings.model_validate(
        {"connections": {"acme": {"sftp": server.connection(**conn)}}, "root": root}
    )


def make_route(folder: Path | str, *, target: dict[str, Any] | None = None,
               **source: Any) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "acme_orders",
        "source": {"sftp": "acme", "path": str(folder), "min_age": "0s", **source},
        "format": {"type": "csv"},
        "fields": {"order": {}, "qty": {}},
        "target": target or {"folder": "outbox", "format": "csv"},
    })
