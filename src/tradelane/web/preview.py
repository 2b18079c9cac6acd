"""The first lines of a quarantined file, as text for the detail page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tradelane.paths import is_inside
from tradelane.spec import RouteSpec

MAX_LINES = 50
MAX_BYTES = 64 * 1024
MAX_LINE_CHARS = 400


@dataclass(frozen=True)
class Preview:
    lines: list[str]
    truncated: bool
    note: str = ""


def preview(path: Path, route: RouteSpec | None, quarantine_root: Path) -> Preview:
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
    text = data[:MAX_BYTES].decode(_encoding(route), errors="replace")
    lines = text.splitlines()
    if len(lines) == 1 and route is not None and route.format.type in ("edifact", "x12"):
        lines = _segments(text, _terminator(text, route.format.type))
    if len(lines) > MAX_LINES:
        lines, truncated = lines[:MAX_LINES], True
    lines = [line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " …"
             for line in lines]
    return Preview(lines, truncated)


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
