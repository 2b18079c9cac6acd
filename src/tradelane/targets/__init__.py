"""Targets: where transformed records are delivered. Each kind is a plug-in
(``tradelane.registry.TARGETS``); ``target_for`` makes the one a route names."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tradelane.registry import TARGETS

if TYPE_CHECKING:
    from tradelane.abc import Target
    from tradelane.spec import RouteSpec, Settings


def target_for(route: RouteSpec, settings: Settings) -> Target:
    target: Target = TARGETS.of(route.target).create(route, settings)
    if route.steps.after_write:  # compress, sign, encrypt what the format wrote
        from tradelane.steps import with_output_steps

        with_output_steps(target, route, settings)
    return target


@contextlib.contextmanager
def opened_target(route: RouteSpec, settings: Settings) -> Iterator[Target]:
    """The route's target for one poll; its connections (HTTP, SFTP) are closed after."""
    target = target_for(route, settings)
    try:
        yield target
    finally:
        target.close()
