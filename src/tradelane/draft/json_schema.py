"""A JSON Schema (draft 2020-12) proposed from a JSON or JSON Lines sample, for
``tradelane draft --schema``: what the sample shows, and nothing it does not.

- ``type`` of every value seen (``integer`` and ``number`` together are ``number``; a key
  that is sometimes null allows ``null``);
- ``required``: the keys present in every object seen at that place, when at least two were
  seen (one object is no evidence of what is always there);
- ``format`` ``date`` or ``date-time`` when every string there is an ISO 8601 date, or an
  RFC 3339 date-time with its offset;
- ``enum`` only for clearly coded strings: at least ``ENUM_MIN_VALUES`` values seen, at
  most ``ENUM_MAX`` distinct ones, each seen at least twice, none of them a date or a number;
- no ``additionalProperties: false``: a partner adding a key is not an error to guess.

Each place says what it rests on in ``$comment``. The sample's numbers come from the
profiler's parse (``IntText``, ``FloatText``: text, but typed).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

ENUM_MAX = 5
ENUM_MIN_VALUES = 20
_MAX_DEPTH = 8
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
_NUMERIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")


class IntText(str):
    """A JSON integer, kept as the text it was written as."""


class FloatText(str):
    """A JSON number with a fraction or exponent, kept as its text."""


@dataclass
class _Shape:
    """Everything seen at one place of the documents."""

    types: Counter[str] = field(default_factory=Counter)
    keys: dict[str, _Shape] = field(default_factory=dict)
    items: _Shape | None = None
    strings: Counter[str] = field(default_factory=Counter)  # capped at ENUM_MAX + 1 kinds
    dates: bool = True  # every string an ISO date
    date_times: bool = True  # ... an RFC 3339 date-time

    def add(self, value: Any, depth: int = 0) -> None:
        kind = _kind(value)
        self.types[kind] += 1
        if depth >= _MAX_DEPTH:
            return
        if kind == "object":
            for key, inner in value.items():
                self.keys.setdefault(key, _Shape()).add(inner, depth + 1)
        elif kind == "array":
            self.items = self.items or _Shape()
            for inner in value:
                self.items.add(inner, depth + 1)
        elif kind == "string":
            if len(self.strings) <= ENUM_MAX or value in self.strings:
                self.strings[value] += 1
            self.dates = self.dates and _is_date(value)
            self.date_times = self.date_times and _is_date_time(value)

    def schema(self, depth: int = 0) -> dict[str, Any]:
        kinds = set(self.types)
        if {"integer", "number"} <= kinds:
            kinds.discard("integer")
        if not kinds or depth >= _MAX_DEPTH:
            return {}
        names = [k for k in _ORDER if k in kinds]
        out: dict[str, Any] = {"type": names[0] if len(names) == 1 else names}
        if "object" in kinds:
            objects = self.types["object"]
            out["properties"] = {key: shape.schema(depth + 1) for key, shape in self.keys.items()}
            always = [key for key, shape in self.keys.items() if _present(shape) == objects]
            if always and objects >= 2:
                out["required"] = always
                out["$comment"] = f"required: the keys present in all {objects} objects seen"
        if "array" in kinds and self.items is not None:
            out["items"] = self.items.schema(depth + 1)
        if "string" in kinds:
            out.update(self._string())
        return out

    def _string(self) -> dict[str, Any]:
        seen = self.types["string"]
        every = f"all {seen} values are" if seen > 1 else "the one value is"
        if self.dates:
            return {"format": "date", "$comment": f"{every} ISO 8601 dates"}
        if self.date_times:
            return {"format": "date-time", "$comment": f"{every} RFC 3339 date-times"}
        if (set(self.types) == {"string"} and seen >= ENUM_MIN_VALUES
                and len(self.strings) <= ENUM_MAX and min(self.strings.values()) >= 2
                and not any(_NUMERIC.fullmatch(s) for s in self.strings)):
            return {"enum": sorted(self.strings),
                    "$comment": f"{len(self.strings)} codes in {seen} values: check the"
                    " partner's full list"}
        return {}


def _present(shape: _Shape) -> int:
    return sum(shape.types.values())


def propose(records: list[Any], *, title: str, records_path: str | None = None,
            document: Any = None) -> dict[str, Any]:
    """The schema of a JSON Lines record (``document`` None), or of a JSON document whose
    records are the array at dotted ``records_path`` (the document's other values too)."""
    shape = _Shape()
    for record in records:
        shape.add(record)
    record = shape.schema()
    top: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                           "title": title}
    if document is None:
        return {**top, **record, "$comment": _evidence(len(records), record)}
    whole = _Shape()
    whole.add(document)
    schema = whole.schema()
    node = schema
    parts = records_path.split(".") if records_path else []
    for part in parts:  # the path to the records is what the route reads: required
        node["required"] = [part]
        node.pop("$comment", None)
        node = node["properties"][part]
    if parts:
        node["items"] = record
    else:
        schema = {"type": "array", "items": record}
    return {**top, **schema, "$comment": _evidence(len(records), record)}


def _evidence(count: int, record: dict[str, Any]) -> str:
    said = f"Drafted by tradelane draft from {count} records of one sample"
    if "$comment" in record:
        said += f"; {record['$comment']}"
    return said + ": check it against what the partner publishes."


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, IntText | int):
        return "integer"
    if isinstance(value, FloatText | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def _is_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_date_time(text: str) -> bool:
    if not _DATE_TIME.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return False
    return True
