"""Sources: where files come from. Each kind is a plug-in (``tradelane.registry.SOURCES``);
``source_for`` makes the one a route names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradelane.registry import SOURCES

if TYPE_CHECKING:
    from tradelane.abc import Source
    from tradelane.spec import RouteSpec, Settings


def source_for(route: RouteSpec, settings: Settings) -> Source:
    source: Source = SOURCES.of(route.source).create(route, settings)
    return source
