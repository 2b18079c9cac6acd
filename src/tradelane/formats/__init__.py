"""One module per format: bytes -> Document (readers) and Document -> bytes (writers).

Each format is a plug-in (``tradelane.registry.FORMATS``), imported only when a route uses
it. ``reader_for(route)`` and ``writer_for(name)`` are the entry points the engine uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradelane.registry import FORMATS

if TYPE_CHECKING:
    from tradelane.abc import Reader, Writer
    from tradelane.spec import RouteSpec, TargetOptions


def reader_for(route: RouteSpec) -> Reader:
    reader: Reader = FORMATS.get(route.format.type).create()
    return reader


def writer_for(name: str, target: TargetOptions | None = None) -> Writer:
    """The writer for an output format; ``target`` configures those that need it (the
    ``edifact`` and ``x12`` templates, the ``fixed`` layout)."""
    plugin = FORMATS.get(name)
    options = getattr(target, name, None) if name in ("edifact", "fixed", "x12") else None
    writer: Writer = (plugin.create_writer(options) if options is not None
                      else plugin.create_writer())
    return writer
