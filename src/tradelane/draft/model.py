"""What a profiler found: options and fields, each with the evidence behind the guess."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Profiling reads at most this much of a sample: memory stays bounded whatever its size.
MAX_BYTES = 4 << 20
#: ... and at most this many records (rows, lines, elements, messages).
MAX_RECORDS = 10_000
#: ... and at most this many EDI segments.
MAX_SEGMENTS = 50_000


@dataclass
class Guess:
    """One option of the drafted route (``format.delimiter``) and why it was chosen."""

    key: str
    value: Any
    why: str = ""


@dataclass
class FieldDraft:
    """One field of the drafted route: its source, its rules and the evidence for them."""

    name: str
    source: str
    type: str = "string"
    format: str | None = None
    required: bool = False
    why: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. decimal for one field

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        if self.type != "string":
            out["type"] = self.type
        if self.format:
            out["format"] = self.format
        if self.required:
            out["required"] = True
        out.update(self.extra)
        return out


@dataclass
class Draft:
    """A route spec in the making: the format's options, the header and record fields, and
    notes for the human who finishes it."""

    kind: str  # csv, fixed, json, jsonl, xml, edifact, x12
    format: list[Guess] = field(default_factory=list)
    header: list[FieldDraft] = field(default_factory=list)
    fields: list[FieldDraft] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)  # shown above the format, as comments
    pattern: str = "*"
    records_seen: int = 0
    truncated: bool = False  # the sample was cut at MAX_BYTES or MAX_RECORDS
    extent: str = ""  # what was read when cut otherwise (EDI: segments and messages)
    # JSON: the records and the document read (numbers typed), for a proposed JSON Schema
    json_records: list[Any] = field(default_factory=list, repr=False)
    json_document: Any = field(default=None, repr=False)

    def option(self, key: str) -> Any:
        return next((g.value for g in self.format if g.key == key), None)
