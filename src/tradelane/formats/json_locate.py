"""Where each value of a JSON text starts, by its JSON path as jsonschema writes it
(``$``, ``$.items[2].qty``, ``$['a b']``), so an error located by a path can be shown at its
line: by ``tradelane quarantine show`` (``ops.offending_lines``) and in the console's preview
(``web/preview.py``).

The text may be a file's first bytes and end mid-document: the values before the cut are
found, the rest are not. Nesting deeper than ``MAX_DEPTH`` is not followed.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from json.decoder import scanstring

MAX_DEPTH = 64
_NEWLINE = re.compile(r"\r\n|\r|\n")
_SPACE = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")
_PLAIN_KEY = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*")  # jsonschema's rule for ".key"
#: The last step of a JSON path: ``.key``, ``[3]`` or ``['a key']``.
_LAST_STEP = re.compile(r"(?:\.[^.\[]+|\[\d+\]|\['(?:[^'\\]|\\.)*'\])$")


def value_offsets(text: str) -> dict[str, int]:
    """JSON path -> offset in ``text`` where that value starts (its first character)."""
    found: dict[str, int] = {}
    # the text ends, or stops being JSON (ValueError, IndexError): what came before stays
    with contextlib.suppress(ValueError, IndexError):
        _value(text, _skip(text, 1 if text.startswith("\ufeff") else 0), "$", 0, found)
    return found


def path_lines(text: str) -> dict[str, int]:
    """JSON path -> the 1-based line of ``text`` where that value starts (lines end at CR,
    LF or CRLF, as an editor counts them: ``text_lines``)."""
    starts = [m.end() for m in _NEWLINE.finditer(text)]
    return {path: bisect.bisect_right(starts, offset) + 1
            for path, offset in value_offsets(text).items()}


def text_lines(text: str) -> list[str]:
    """The lines of ``text`` as ``path_lines`` numbers them (from 1)."""
    return _NEWLINE.split(text)


def line_of(where: str, lines: dict[str, int], *, complete: bool = True) -> int | None:
    """The line of an error located by a JSON path (``$.items[2].qty``, the path first in
    ``where``), from ``path_lines``. A path not found in a ``complete`` text is a key that is
    missing: the line of the object that should hold it. None: not a path, or not found."""
    if not where.startswith("$"):
        return None
    path = where.split(" ", 1)[0]
    if path in lines:
        return lines[path]
    if not complete:
        return None
    while (shorter := _LAST_STEP.sub("", path)) != path:
        path = shorter
        if path in lines:
            return lines[path]
    return None


def key_step(key: str) -> str:
    if _PLAIN_KEY.fullmatch(key):
        return f".{key}"
    return "['" + key.replace("\\", "\\\\").replace("'", r"\'") + "']"


def _skip(text: str, at: int) -> int:
    end = _SPACE.match(text, at)
    return end.end() if end else at


def _value(text: str, at: int, path: str, depth: int, found: dict[str, int]) -> int:
    """Read the value at ``at``; return the offset after it."""
    if at >= len(text):
        raise ValueError(at)
    found.setdefault(path, at)
    first = text[at]
    if first == '"':
        return scanstring(text, at + 1)[1]
    if first in "{[":
        if depth >= MAX_DEPTH:
            raise ValueError(at)
        return (_object if first == "{" else _array)(text, at + 1, path, depth + 1, found)
    scalar = _SCALAR.match(text, at)
    if scalar is None:
        raise ValueError(at)
    return scalar.end()


def _object(text: str, at: int, path: str, depth: int, found: dict[str, int]) -> int:
    at = _skip(text, at)
    if text[at] == "}":
        return at + 1
    while True:
        if text[at] != '"':
            raise ValueError(at)
        key, at = scanstring(text, at + 1)
        at = _skip(text, at)
        if text[at] != ":":
            raise ValueError(at)
        at = _skip(text, _value(text, _skip(text, at + 1), path + key_step(key), depth,
                                found))
        if text[at] == "}":
            return at + 1
        if text[at] != ",":
            raise ValueError(at)
        at = _skip(text, at + 1)


def _array(text: str, at: int, path: str, depth: int, found: dict[str, int]) -> int:
    at = _skip(text, at)
    if text[at] == "]":
        return at + 1
    index = 0
    while True:
        at = _skip(text, _value(text, at, f"{path}[{index}]", depth, found))
        if text[at] == "]":
            return at + 1
        if text[at] != ",":
            raise ValueError(at)
        at = _skip(text, at + 1)
        index += 1
