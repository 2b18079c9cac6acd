"""Writing EDIFACT with pydifact's segments and serializer: CONTRL acknowledgements and a
template-driven writer for ORDERS/INVOIC-style messages. Counts are computed, never typed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, BinaryIO

import pyarrow as pa
from pydifact.control import Characters
from pydifact.segments import Segment
from pydifact.serializer import Serializer

from tradelane.formats.edifact_contrl import build_contrl, error_code
from tradelane.formats.edifact_syntax import CHARSETS, Block, Delimiters
from tradelane.models import Document
from tradelane.spec import EdifactTemplate, RouteSpec

__all__ = ["EdifactTemplate", "EdifactWriter", "build_contrl", "error_code", "segment_text"]

DEFAULT = Delimiters()


def serialize(segments: Sequence[Segment], characters: Characters | None = None) -> str:
    chars = characters or Characters(":", "+", ".", "?", " ", "'")
    return Serializer(chars).serialize(list(segments), with_una_header=True, break_lines=True)


def segment_text(block: Block, i: int) -> str:
    """One segment of a block as EDIFACT text with the block's own delimiters."""
    el = block.elements(i)
    d = block.delims
    chars = Characters(d.component, d.element, d.decimal, d.release or "?",
                       d.repetition or " ", d.segment)
    return Serializer(chars).serialize([Segment(str(el[0]), *el[1:])], with_una_header=False)


def _envelope(sender: str, recipient: str, ref: str, body: list[Segment], *,
              syntax: str = "UNOC:3", prepared: datetime | None = None) -> list[Segment]:
    when = prepared or datetime.now(UTC)
    ident, _, version = syntax.partition(":")
    # "ID:qualifier" are two components of S002/S003
    unb = Segment("UNB", [ident, version or "3"], _party(sender), _party(recipient),
                  [when.strftime("%y%m%d"), when.strftime("%H%M")], ref)
    messages = sum(1 for s in body if s.tag == "UNH")
    return [unb, *body, Segment("UNZ", str(messages), ref)]


def _party(text: str) -> str | list[str]:
    parts = text.split(":")
    return parts if len(parts) > 1 else text


def _message(ref: str, kind: list[str], body: list[Segment]) -> list[Segment]:
    return [Segment("UNH", ref, kind), *body, Segment("UNT", str(len(body) + 2), ref)]


def _render(template: str, values: Mapping[str, Any], d: Delimiters = DEFAULT) -> Segment:
    """``TAG+a+b:{x:%Y%m%d}``: split on the delimiters outside placeholders, then fill in."""
    tag, *elements = _split(template, d.element)
    out: list[Any] = []
    for element in elements:
        comps = [c.format_map(values) for c in _split(element, d.component)]
        out.append(comps if len(comps) > 1 else comps[0])
    return Segment(tag, *out)


def _split(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "{") - (ch == "}")
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


class _Values(dict):
    """Placeholder values of one message: missing names are blank, ``sum_X`` adds up X."""

    def __init__(self, values: Mapping[str, Any], rows: list[dict[str, Any]]):
        super().__init__({k: _blank(v) for k, v in values.items()})
        self.rows = rows

    def __missing__(self, key: str) -> Any:
        if key.startswith("sum_"):
            name = key[4:]
            total = sum(float(r[name]) for r in self.rows if _blank(r.get(name)) != "")
            self[key] = total
            return total
        return ""


def _blank(value: Any) -> Any:
    return "" if value is None or (isinstance(value, float) and value != value) else value


def _scalars(header: Mapping[str, Any]) -> dict[str, Any]:
    """Header values of a message; a header column (EDIFACT input) gives its first value."""
    return {k: (v[0].as_py() if len(v) else None) if isinstance(v, pa.Array) else v
            for k, v in header.items()}


def _messages(batches: Iterable[Document], group_by: str | None
              ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(header values, records) per message: a batch each, or runs of equal ``group_by``."""
    header: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for doc in batches:
        records = doc.records.to_pylist()
        if group_by is None:
            if records:
                yield _scalars(doc.header), records
            continue
        for record in records:
            if rows and record.get(group_by) != rows[0].get(group_by):
                yield header, rows
                rows = []
            if not rows:
                header = _scalars(doc.header)
            rows.append(record)
    if rows:
        yield header, rows


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value)
    return None


class EdifactWriter:
    """Writes records as the messages of one interchange, following ``target.edifact``."""

    extension = "edi"

    def __init__(self, template: EdifactTemplate | None = None):
        self.template = template

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        tpl = self.template or route.target.edifact
        if tpl is None:
            raise ValueError("the EDIFACT writer needs a template (target.edifact)")
        body: list[Segment] = []
        count = 0
        prepared: datetime | None = None
        for number, (header, rows) in enumerate(_messages(batches, tpl.group_by), start=1):
            values = {**header, **rows[0], "line_count": len(rows), "message_ref": number}
            if prepared is None and tpl.prepared:
                prepared = _when(_blank(values.get(tpl.prepared)))
            segs = [_render(t, _Values(values, rows)) for t in tpl.header]
            for line_no, row in enumerate(rows, start=1):
                line = _Values({**values, **row, "line_no": line_no}, rows)
                segs += [_render(t, line) for t in tpl.line]
            segs += [_render(t, _Values(values, rows)) for t in tpl.summary]
            body += _message(str(number), list(tpl.message), segs)
            count += len(rows)
        ref = hashlib.sha256("".join(str(s) for s in body).encode()).hexdigest()[:14].upper()
        text = serialize(_envelope(tpl.sender, tpl.recipient, ref, body, syntax=tpl.syntax,
                                   prepared=prepared))
        ident = tpl.syntax.partition(":")[0]
        out.write(text.encode(CHARSETS.get(ident, "latin-1")))
        return count
