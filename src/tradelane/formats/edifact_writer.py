"""Writing EDIFACT: a template-driven writer for ORDERS/INVOIC-style messages. Counts are
computed, never typed in. (CONTRL acknowledgements: ``edifact_contrl``.)

Templates are written with the default service characters whatever the output uses:
``TAG+element+comp:comp``, and ``*`` between repetitions when the output declares a
repetition separator (syntax 4). The output's service characters are the template's ``una``
(default ``UNA:+.? '``; syntax 4 adds ``*``): numbers (decimal values and sums) are written
with its decimal mark, every value is escaped with its release character.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, BinaryIO

from tradelane import sequences, written
from tradelane.formats.ack_reading import MAX_DOCUMENTS, SentInterchange
from tradelane.formats.edi_writing import DocumentWriting, blank
from tradelane.formats.edifact_contrl import build_contrl, error_code
from tradelane.formats.edifact_envelope import first
from tradelane.formats.edifact_syntax import CHARSETS, Block, Delimiters, Repeated
from tradelane.formats.edifact_text import render_segment, render_segments
from tradelane.models import Document
from tradelane.preparation import prepared_at
from tradelane.spec import EdifactTemplate, RouteSpec

__all__ = ["EdifactTemplate", "EdifactWriter", "build_contrl", "error_code", "segment_text"]

DEFAULT = Delimiters()
Segment = list[Any]  # [tag, element, ...]


def segment_text(block: Block, i: int) -> str:
    """One segment of a block as EDIFACT text with the block's own delimiters."""
    return render_segment(block.elements(i), block.delims)


def delimiters(tpl: EdifactTemplate) -> Delimiters:
    """The service characters the template's output declares."""
    version = tpl.syntax.partition(":")[2] or "3"
    d = Delimiters.from_una(tpl.una) if tpl.una else DEFAULT
    if version == "4" and not tpl.una:
        return replace(d, repetition="*")
    return d if version == "4" else replace(d, repetition=None)


def _envelope(sender: str, recipient: str, ref: str, body: list[Segment], *,
              syntax: str = "UNOC:3", prepared: datetime | None = None) -> list[Segment]:
    when = prepared or prepared_at()  # the file's time: every attempt writes the same
    ident, _, version = syntax.partition(":")
    version = version or "3"
    day = when.strftime("%Y%m%d" if version == "4" else "%y%m%d")  # syntax 4: CCYYMMDD
    # "ID:qualifier" are two components of S002/S003
    unb = ["UNB", [ident, version], _party(sender), _party(recipient),
           [day, when.strftime("%H%M")], ref]
    messages = sum(1 for s in body if s[0] == "UNH")
    return [unb, *body, ["UNZ", str(messages), ref]]


def _id_qualifier(party: str) -> str:
    """A UNB party as the ledger keeps it, ``id:qualifier`` (no routing address)."""
    return ":".join(party.split(":")[:2])


def _document_number(segs: list[Segment]) -> str:
    """BGM 1004 of a message's segments (what an APERAK may name it by)."""
    bgm = next((s for s in segs if s[0] == "BGM"), None)
    return first(bgm[2]) if bgm is not None and len(bgm) > 2 else ""


def _party(text: str) -> str | list[str]:
    parts = text.split(":")
    return parts if len(parts) > 1 else text


def _message(ref: str, kind: list[str], body: list[Segment]) -> list[Segment]:
    return [["UNH", ref, kind], *body, ["UNT", str(len(body) + 2), ref]]


def _render(template: str, values: Mapping[str, Any], d: Delimiters = DEFAULT) -> Segment:
    """``TAG+a+b:{x:%Y%m%d}``: split on the template's delimiters outside placeholders (and on
    ``*`` between repetitions when ``d`` has a repetition separator), then fill in."""
    tag, *elements = _split(template, "+")
    out: list[Any] = [tag]
    for element in elements:
        reps = [_components(r, values) for r in
                (_split(element, "*") if d.repetition else [element])]
        out.append(Repeated(reps) if len(reps) > 1 else reps[0])
    return out


def _components(text: str, values: Mapping[str, Any]) -> str | list[str]:
    comps = [c.format_map(values) for c in _split(text, ":")]
    return comps if len(comps) > 1 else comps[0]


def _split(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "{") - (ch == "}")
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


class _Number:
    """A number written with the interchange's decimal mark, format specs honoured."""

    __slots__ = ("mark", "value")

    def __init__(self, value: float | Decimal, mark: str):
        self.value, self.mark = value, mark

    def __format__(self, spec: str) -> str:
        if not spec and isinstance(self.value, Decimal):
            spec = "f"  # never an exponent: EDIFACT numbers have none
        return format(self.value, spec).replace(".", self.mark)

    def __str__(self) -> str:
        return format(self, "")

    def __float__(self) -> float:
        return float(self.value)


class _Values(dict):
    """Placeholder values of one message: missing names are blank, ``sum_X`` adds up X;
    numbers take the decimal mark ``mark``."""

    def __init__(self, values: Mapping[str, Any], rows: list[dict[str, Any]],
                 mark: str = "."):
        super().__init__({k: _number(blank(v), mark) for k, v in values.items()})
        self.rows = rows
        self.mark = mark

    def __missing__(self, key: str) -> Any:
        if key.startswith("sum_"):
            name = key[4:]
            total = sum(float(r[name]) for r in self.rows if blank(r.get(name)) != "")
            self[key] = _number(total, self.mark)
            return self[key]
        return ""


def _number(value: Any, mark: str) -> Any:
    if mark != "." and isinstance(value, float | Decimal) and not isinstance(value, bool):
        return _Number(value, mark)
    return value


class EdifactWriter:
    """Writes records as the messages of one interchange, following ``target.edifact``."""

    extension = "edi"

    def __init__(self, template: EdifactTemplate | None = None):
        self.template = template

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        tpl = self.template or route.target.edifact
        if tpl is None:
            raise ValueError("the EDIFACT writer needs a template (target.edifact)")
        d = delimiters(tpl)
        if not (tpl.sender and tpl.recipient):
            raise ValueError("the EDIFACT writer needs a sender and a recipient (target.edifact"
                             " or the route's partner)")
        writing = DocumentWriting(batches, group_by=tpl.group_by, prepared=tpl.prepared,
                                  kind="message", number_field="message_ref")
        parts = {"header": tpl.header, "line": tpl.line, "summary": tpl.summary}

        def segments(part: str, values: dict[str, Any], rows: list[dict[str, Any]],
                     where: str) -> list[Segment]:
            placeholders = _Values(values, rows, d.decimal)
            return [_render(t, placeholders, d) for t in parts[part]]

        messages = [(str(number), segs) for number, segs in writing.documents(segments)]
        # the partner's sequences, when it keeps them (sequences.py): taken once per output
        # and reused by its retries, so a retry still writes the very same file
        numbering = sequences.current()
        refs = numbering.numbers("edifact", "message", len(messages)) \
            if numbering is not None and messages else None
        body: list[Segment] = []
        documents: list[list[str]] = []  # for acknowledgement tracking
        for i, (number, segs) in enumerate(messages):
            body += _message(refs[i] if refs else number, list(tpl.message), segs)
            if i < MAX_DOCUMENTS:
                documents.append([refs[i] if refs else number, str(tpl.message[0]),
                                  _document_number(segs)])
        taken = numbering.numbers("edifact", "interchange") if numbering is not None else None
        if taken:
            ref = taken[0]
        else:  # a digest of the messages: the same records, the same interchange
            digest = "".join(f"'{s[0]}' EDI segment: {list(s[1:])}" for s in body)
            ref = hashlib.sha256(digest.encode()).hexdigest()[:14].upper()
        text = render_segments(_envelope(tpl.sender, tpl.recipient, ref, body,
                                         syntax=tpl.syntax, prepared=writing.prepared), d)
        ident = tpl.syntax.partition(":")[0]
        out.write(text.encode(CHARSETS.get(ident, "latin-1")))
        written.wrote(SentInterchange(  # for acknowledgement tracking, whatever the target
            "edifact", _id_qualifier(tpl.sender), _id_qualifier(tpl.recipient), ref,
            len(messages), documents))
        return writing.count
