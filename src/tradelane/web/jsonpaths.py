"""Where each value of a JSON text starts, by its JSON path as jsonschema writes it
(``$``, ``$.items[2].qty``, ``$['a b']``), so an error located by a path can be marked at
its line in the detail page's preview.

The text is the preview's first bytes, so it may end mid-document: the values before the
cut are found, the rest are not. Nesting deeper than ``MAX_DEPTH`` is not followed.
"""

from __future__ import annotations

import contextlib
import re
from json.decoder import scanstring

MAX_DEPTH = 64
_SPACE = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")
_PLAIN_KEY = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*")  # jsonschema's rule for ".key"


def value_offsets(text: str) -> dict[str, int]:
    """JSON path -> offset in ``text`` where that value starts (its first character)."""
    found: dict[str, int] = {}
    # the text ends, or stops being JSON (ValueError, IndexError): what came before stays
    with contextlib.suppress(ValueError, IndexError):
        _value(text, _skip(text, 1 if text.startswith("\ufeff") else 0), "$", 0, found)
    return found


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
