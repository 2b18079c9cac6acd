"""Targets: where transformed records are delivered. Each kind is a plug-in
(``tradelane.registry.TARGETS``); ``target_for`` makes the one a route names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradelane.registry import TARGETS

if TYPE_CHECKING:
    from tradelane.abc import Target
    from tradelane.spec import RouteSpec, Settings


def target_for(route: RouteSpec, settings: Settings) -> Target:
    target: Target = TARGETS.of(route.target).create(route, settings)
    return target
