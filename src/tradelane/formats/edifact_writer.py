"""Writing EDIFACT with pydifact's segments and serializer: CONTRL acknowledgements and a
template-driven writer for ORDERS/INVOIC-style messages. Counts are computed, never typed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, BinaryIO

from pydantic import Field
from pydifact.control import Characters
from pydifact.segments import Segment
from pydifact.serializer import Serializer

from tradelane.formats.edi_errors import (
    BadServiceStringAdvice,
    CharsetViolation,
    ControlReferenceMismatch,
    CountMismatch,
    DanglingRelease,
    EdiSyntaxError,
    MissingTrailer,
    NotAnInterchange,
    NulByte,
    UnexpectedSegment,
    UnknownSyntaxIdentifier,
)
from tradelane.formats.edifact_syntax import Block
from tradelane.models import Document
from tradelane.spec import RouteSpec, Strict

# Syntax error codes (data element 0085) for our rejects.
_ERROR_CODES: list[tuple[type[EdiSyntaxError], str]] = [
    (CountMismatch, "29"), (ControlReferenceMismatch, "28"), (UnknownSyntaxIdentifier, "2"),
    (CharsetViolation, "21"), (NulByte, "21"), (DanglingRelease, "22"),
    (BadServiceStringAdvice, "22"), (MissingTrailer, "13"), (NotAnInterchange, "14"),
    (UnexpectedSegment, "33"),
]
ACCEPTED, REJECTED = "7", "4"  # action codes (0083)


def error_code(error: BaseException | None) -> str:
    """Syntax error code (0085) of a reject; 26 for a duplicate, 18 (unspecified) otherwise,
    e.g. for data that failed the route's rules."""
    from tradelane.errors import DuplicateFile

    if isinstance(error, DuplicateFile):
        return "26"
    for kind, code in _ERROR_CODES:
        if isinstance(error, kind):
            return code
    return "18"  # unspecified error


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
    unb = Segment("UNB", [ident, version or "3"], sender, recipient,
                  [when.strftime("%y%m%d"), when.strftime("%H%M")], ref)
    messages = sum(1 for s in body if s.tag == "UNH")
    return [unb, *body, Segment("UNZ", str(messages), ref)]


def _message(ref: str, kind: list[str], body: list[Segment]) -> list[Segment]:
    return [Segment("UNH", ref, kind), *body, Segment("UNT", str(len(body) + 2), ref)]


def build_contrl(interchange: tuple[str, str, str], *, errors: Iterable[BaseException] = (),
                 rejected_messages: Mapping[str, tuple[str, BaseException | None]] | None = None,
                 rejected: bool = False, control_ref: str | None = None,
                 prepared: datetime | None = None) -> str:
    """A CONTRL (D:3:UN) answering the interchange ``(sender, recipient, control_ref)``.

    No errors: UCI action 7 (accepted). Interchange errors: UCI action 4 with the first error's
    syntax code and segment tag. ``rejected_messages`` maps a message reference to its
    ``(type, error)``; each becomes a UCM with action 4 (the interchange itself stays 7).
    ``rejected`` rejects the interchange without an error of its own (another interchange of
    the same file was wrong).
    """
    sender, recipient, ref = interchange
    errors = list(errors)
    uci: list[Any] = [ref, sender, recipient, REJECTED if errors or rejected else ACCEPTED]
    if errors:
        first = errors[0]
        uci.append(error_code(first))
        tag = getattr(first, "trailer", None) or getattr(first, "tag", None)
        if isinstance(tag, str) and len(tag) == 3:
            uci.append(tag)
    body = [Segment("UCI", *uci)]
    for msg_ref, (kind, err) in (rejected_messages or {}).items():
        body.append(Segment("UCM", msg_ref, [kind], REJECTED, error_code(err)))
    own_ref = control_ref or hashlib.sha256(f"CONTRL{ref}{sender}".encode()).hexdigest()[:14]
    segments = _envelope(recipient, sender, own_ref,
                         _message("1", ["CONTRL", "D", "3", "UN"], body), prepared=prepared)
    return serialize(segments)


class EdifactTemplate(Strict):
    """How to build one EDIFACT message per batch. Segments are written ``TAG+a+b:c`` with
    ``{field}`` placeholders (header fields, record fields, ``{line_no}``, ``{line_count}``);
    values are escaped with the release character on output."""

    message: list[str] = Field(..., description="UNH S009, e.g. [ORDERS, D, 96A, UN, EAN008].")
    sender: str = Field(..., description="UNB interchange sender id.")
    recipient: str = Field(..., description="UNB interchange recipient id.")
    syntax: str = Field("UNOC:3", description="UNB syntax identifier and version.")
    header: list[str] = Field(default_factory=list, description="Segments once per message.")
    line: list[str] = Field(default_factory=list, description="Segments once per record.")
    summary: list[str] = Field(default_factory=list, description="Segments after the lines.")


def _render(template: str, values: Mapping[str, Any]) -> Segment:
    tag, *elements = template.split("+")
    out: list[Any] = []
    for element in elements:
        comps = [c.format_map(_Blank(values)) for c in element.split(":")]
        out.append(comps if len(comps) > 1 else comps[0])
    return Segment(tag, *out)


class _Blank(dict):
    def __init__(self, values: Mapping[str, Any]):
        super().__init__({k: "" if v is None else str(v) for k, v in values.items()})

    def __missing__(self, key: str) -> str:
        return ""


def _scalars(header: Mapping[str, Any]) -> dict[str, Any]:
    """Header values of a message; a header column (EDIFACT input) gives its first value."""
    return {k: (v.iloc[0] if len(v) else None) if hasattr(v, "iloc") else v
            for k, v in header.items()}


class EdifactWriter:
    """Writes each batch as one message of a single interchange, using ``template``."""

    extension = "edi"

    def __init__(self, template: EdifactTemplate | None = None):
        self.template = template

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        tpl = self.template or getattr(route.target, "edifact", None)
        if tpl is None:
            raise ValueError("the EDIFACT writer needs a template (target.edifact)")
        body: list[Segment] = []
        count = 0
        for number, doc in enumerate(batches, start=1):
            rows = doc.records.to_dict("records")
            values = {**_scalars(doc.header), "line_count": len(rows)}
            segs = [_render(t, values) for t in tpl.header]
            for line_no, row in enumerate(rows, start=1):
                segs += [_render(t, {**values, **row, "line_no": line_no}) for t in tpl.line]
            segs += [_render(t, values) for t in tpl.summary]
            body += _message(str(number), list(tpl.message), segs)
            count += len(rows)
        ref = hashlib.sha256("".join(str(s) for s in body).encode()).hexdigest()[:14].upper()
        text = serialize(_envelope(tpl.sender, tpl.recipient, ref, body, syntax=tpl.syntax))
        out.write(text.encode("latin-1" if tpl.syntax.startswith("UNOC") else "utf-8"))
        return count
