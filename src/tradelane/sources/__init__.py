"""Sources: where files come from. ``source_for`` picks the implementation for a route."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradelane.abc import Source
    from tradelane.spec import RouteSpec, Settings


def source_for(route: RouteSpec, settings: Settings) -> Source:
    if route.source.folder:
        from tradelane.sources.local import LocalSource

        return LocalSource(route, settings)
    if route.source.sftp:
        from tradelane.sources.sftp import SftpSource

        return SftpSource(route, settings)
    raise NotImplementedError(f"route {route.name}: this kind of source is not available")
