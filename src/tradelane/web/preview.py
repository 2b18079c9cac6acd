"""The first lines of a quarantined file, as text for the detail page, with the lines the
reason's errors point at marked.

An error points at a line ("line 3", "row 2 (line 3)", fixed-width "line 7") or, in EDI, at a
segment and its byte offset ("segment 5 (byte 120)"): the line or segment holding it is
marked. A JSON document's errors give a JSON path (``$.lines[2].qty``, from the reader or
a ``json_schema:`` step): the line where that value starts is marked. Each mark says where,
what (the field, or the schema's rule and keyword) and the message. XPaths without a line
are not marked.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradelane.paths import is_inside
from tradelane.spec import RouteSpec
from tradelane.web.jsonpaths import value_offsets

MAX_LINES = 50
MAX_BYTES = 64 * 1024
MAX_LINE_CHARS = 400

_LINE = re.compile(r"\bline (\d+)")
_BYTE = re.compile(r"\bbyte (\d+)")
#: The last step of a JSON path: ``.key``, ``[3]`` or ``['a key']``.
_LAST_STEP = re.compile(r"(?:\.[^.\[]+|\[\d+\]|\['(?:[^'\\]|\\.)*'\])$")
_PAST = 10**9  # a line number past any preview


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    problems: list[str] = field(default_factory=list)  # what the errors say about it


@dataclass(frozen=True)
class Preview:
    lines: list[Line]
    truncated: bool
    note: str = ""
    marked_beyond: int = 0  # errors pointing past the lines shown

    @property
    def marked(self) -> int:
        return sum(1 for line in self.lines if line.problems)


def preview(path: Path, route: RouteSpec | None, quarantine_root: Path,
            errors: Iterable[Mapping[str, Any]] = ()) -> Preview:
    """Never reads outside the quarantine folder, nor more than ``MAX_BYTES``."""
    if not is_inside(path, quarantine_root):
        return Preview([], False, "the file is not in the quarantine folder")
    resolved = path.resolve()
    try:
        with resolved.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        return Preview([], False, f"the file cannot be read: {exc.strerror}")
    truncated = len(data) > MAX_BYTES
    encoding = _encoding(route)
    text = data[:MAX_BYTES].decode(encoding, errors="replace")
    lines = text.splitlines(keepends=True)
    edi = route is not None and route.format.type in ("edifact", "x12")
    if edi and len(lines) == 1:
        assert route is not None
        lines = _segments(text, _terminator(text, route.format.type))
    starts = _byte_starts(lines, encoding)
    errors = list(errors)
    paths = _json_paths(text, lines, truncated, errors) \
        if route is not None and route.format.type == "json" else None
    problems, beyond = _problems(errors, min(len(lines), MAX_LINES), starts, by_byte=edi,
                                 paths=paths)
    if len(lines) > MAX_LINES:
        lines, truncated = lines[:MAX_LINES], True
    shown = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + " …"
        shown.append(Line(number, line, problems.get(number, [])))
    return Preview(shown, truncated, marked_beyond=beyond)


def _problems(errors: Iterable[Mapping[str, Any]], count: int, starts: list[int], *,
              by_byte: bool, paths: _Paths | None = None) -> tuple[dict[int, list[str]], int]:
    """Line number -> what the errors say about that line; and how many errors point past
    the lines shown."""
    found: dict[int, list[str]] = {}
    beyond = 0
    for error in errors:
        where = str(error.get("location", ""))
        number = _line_of(where, starts, by_byte=by_byte)
        if number is None and paths is not None:
            number = paths.line_of(where)
        if number is None:
            continue
        if number > count:
            beyond += 1
            continue
        # a schema error names no field: its rule (json_schema:minimum, schematron:BR-CO-10)
        about = error.get("field") or error.get("rule")
        what = ": ".join(str(p) for p in (about, error.get("message")) if p)
        found.setdefault(number, []).append(f"{where}: {what}" if what else where)
    return found, beyond


def _line_of(where: str, starts: list[int], *, by_byte: bool) -> int | None:
    """The 1-based line ``where`` points at; past the last line read if it lies beyond."""
    if not by_byte:
        m = _LINE.search(where)
        return int(m.group(1)) if m else None
    m = _BYTE.search(where)
    if m is None or len(starts) < 2:
        return None
    return bisect.bisect_right(starts, int(m.group(1)))


@dataclass(frozen=True)
class _Paths:
    """The line of each JSON path in the text shown."""

    lines: dict[str, int]
    complete: bool  # the whole document was read: a path not found is a missing key

    def line_of(self, where: str) -> int | None:
        if not where.startswith("$"):
            return None
        path = where.split(" ", 1)[0]
        if path in self.lines:
            return self.lines[path]
        if not self.complete:
            return _PAST  # further down than the preview reads
        while (shorter := _LAST_STEP.sub("", path)) != path:  # a key that is missing:
            path = shorter  # the object that should hold it
            if path in self.lines:
                return self.lines[path]
        return None


def _json_paths(text: str, lines: list[str], truncated: bool,
                errors: list[Mapping[str, Any]]) -> _Paths | None:
    if not any(str(e.get("location", "")).startswith("$") for e in errors):
        return None
    ends, at = [], 0
    for line in lines:
        at += len(line)
        ends.append(at)
    return _Paths({path: bisect.bisect_right(ends, offset) + 1
                   for path, offset in value_offsets(text).items()}, not truncated)


def _byte_starts(lines: list[str], encoding: str) -> list[int]:
    """The byte offset each line starts at in the file, and where the last one ends (EDI
    errors are given in bytes)."""
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line.encode(encoding, errors="replace"))
    return [*starts, at]


def _encoding(route: RouteSpec | None) -> str:
    encoding = getattr(route.format, "encoding", None) if route is not None else None
    return encoding or "utf-8"


def _terminator(text: str, kind: str) -> str:
    if kind == "x12":  # the ISA segment is fixed width: its terminator follows position 105
        return text[105] if text.startswith("ISA") and len(text) > 105 else "~"
    return "'"


def _segments(text: str, terminator: str) -> list[str]:
    """EDI interchanges often come as one line: one segment per line reads better."""
    parts = text.split(terminator)
    return [p + terminator for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
