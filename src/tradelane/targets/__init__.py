"""Targets: where transformed records are delivered. ``target_for`` picks one for a route."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradelane.abc import Target
    from tradelane.spec import RouteSpec, Settings


def target_for(route: RouteSpec, settings: Settings) -> Target:
    if route.target.folder:
        from tradelane.targets.folder import FolderTarget

        return FolderTarget(route, settings)
    if route.target.http:
        from tradelane.targets.http import HttpTarget

        return HttpTarget(route, settings)
    if route.target.sftp:
        from tradelane.targets.sftp import SftpTarget

        return SftpTarget(route, settings)
    raise NotImplementedError(f"route {route.name}: this kind of target is not available")
