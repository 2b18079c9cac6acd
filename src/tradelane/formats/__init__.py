"""One module per format: bytes -> Document (readers) and Document -> bytes (writers).

``reader_for(route)`` and ``writer_for(name)`` are the only entry points the pipeline uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradelane.abc import Reader, Writer
    from tradelane.spec import RouteSpec, TargetSpec

# format type in the spec -> module:class. Imported lazily so a route only pays for its format.
_READERS = {
    "csv": "tradelane.formats.csv:CsvReader",
    "json": "tradelane.formats.json:JsonReader",
    "jsonl": "tradelane.formats.json:JsonReader",
    "xml": "tradelane.formats.xml:XmlReader",
    "edifact": "tradelane.formats.edifact:EdifactReader",
    "x12": "tradelane.formats.x12:X12Reader",
    "fixed": "tradelane.formats.fixed:FixedReader",
}
_WRITERS = {
    "csv": "tradelane.formats.csv:CsvWriter",
    "json": "tradelane.formats.json:JsonWriter",
    "jsonl": "tradelane.formats.json:JsonLinesWriter",
    "xml": "tradelane.formats.xml:XmlWriter",
    "edifact": "tradelane.formats.edifact_writer:EdifactWriter",
    "fixed": "tradelane.formats.fixed:FixedWriter",
}


def _load(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def reader_for(route: RouteSpec) -> Reader:
    return _load(_READERS[route.format.type])()


def writer_for(name: str, target: TargetSpec | None = None) -> Writer:
    """The writer for an output format; ``target`` configures those that need it (the
    ``edifact`` template, the ``fixed`` layout)."""
    cls = _load(_WRITERS[name])
    options = getattr(target, name, None) if name in ("edifact", "fixed") else None
    return cls(options) if options is not None else cls()
