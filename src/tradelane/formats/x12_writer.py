"""Writing X12: a template-driven writer for 810/850/856-style transaction sets, one
interchange (ISA/IEA) with one functional group (GS/GE) per output. Counts are computed,
never typed in. (997/999/TA1 acknowledgements: ``x12_acks``.)

Every set is rendered and every value checked before a control number is taken: X12 has no
release character, so a value holding a delimiter (or a character the output's encoding
cannot hold) quarantines the file with each place named, and costs the partner no number.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, BinaryIO

from tradelane import sequences, written
from tradelane.errors import DeliveryRejected
from tradelane.formats.ack_reading import (
    MAX_DOCUMENTS,
    X12_DOCUMENT_NUMBERS,
    SentInterchange,
    x12_party,
)
from tradelane.formats.edi_writing import DocumentWriting, blank
from tradelane.models import Document, Issue
from tradelane.preparation import prepared_at
from tradelane.spec import RouteSpec
from tradelane.spec.x12_template import (
    FUNCTIONAL_IDS,
    TEMPLATE_COMPONENT,
    TEMPLATE_ELEMENT,
    TEMPLATE_REPETITION,
    X12Template,
)

__all__ = ["UnwritableValues", "X12Template", "X12Writer"]

#: Problems kept in the reason file; ``error_count`` keeps the true total.
MAX_ISSUES = 100
Segment = list[str]  # [tag, element, ...], each element already joined


class UnwritableValues(DeliveryRejected):
    """Values that cannot be written in the output: they hold one of its delimiters (X12 has
    no release character) or a character its encoding lacks."""

    def __init__(self, issues: list[Issue], count: int):
        first = issues[0]
        more = f" and {count - 1} more" if count > 1 else ""
        super().__init__(
            f"cannot write X12: {first.field or 'a value'} at {first.location}"
            f" {first.message}{more}", issues=issues, error_count=count)


class _Number:
    """A number in a placeholder: ``N2`` gives X12's implied decimals (12.5 -> 1250); other
    specs as Python's; a Decimal without a spec never gets an exponent."""

    __slots__ = ("value",)

    def __init__(self, value: int | float | Decimal):
        self.value = value

    def __format__(self, spec: str) -> str:
        if len(spec) == 2 and spec[0] == "N" and spec[1].isdigit():
            scaled = Decimal(str(self.value)).scaleb(int(spec[1]))
            return str(scaled.quantize(Decimal(1)))  # rounded half to even
        if not spec and isinstance(self.value, Decimal):
            spec = "f"
        return format(self.value, spec)

    def __str__(self) -> str:
        return format(self, "")


class _Values(dict[str, Any]):
    """Placeholder values of one set: missing names are blank, ``sum_X`` adds up X."""

    def __init__(self, values: Mapping[str, Any], rows: list[dict[str, Any]]):
        super().__init__({k: _value(v) for k, v in values.items()})
        self.rows = rows

    def __missing__(self, key: str) -> Any:
        if key.startswith("sum_"):
            name = key[4:]
            total = sum((Decimal(str(r[name])) for r in self.rows
                         if blank(r.get(name)) != ""), Decimal(0))
            self[key] = _Number(total)
            return self[key]
        return ""


def _value(value: Any) -> Any:
    value = blank(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return _Number(value)
    return value


@dataclass(frozen=True)
class _Part:
    """One element of a template: its components (each a format string) per repetition."""

    repetitions: tuple[tuple[str, ...], ...]
    names: str  # the placeholders it fills, for an error's ``field``


def _compile(template: str) -> tuple[str, list[_Part]]:
    tag, *elements = _split(template, TEMPLATE_ELEMENT)
    parts = []
    for element in elements:
        reps = tuple(tuple(_split(r, TEMPLATE_COMPONENT))
                     for r in _split(element, TEMPLATE_REPETITION))
        names = sorted({n.split(":")[0].split("!")[0] for n in _placeholders(element)})
        parts.append(_Part(reps, ", ".join(names)))
    return tag, parts


def _split(text: str, sep: str) -> list[str]:
    """``text`` cut at ``sep`` outside ``{placeholders}``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "{") - (ch == "}")
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _placeholders(text: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
            start = i + 1 if depth == 1 else start
        elif ch == "}":
            depth -= 1
            if depth == 0:
                out.append(text[start:i])
    return out


class _Renderer:
    """Fills templates in and checks each value against the output's delimiters and
    encoding, collecting every problem (the first ``MAX_ISSUES`` kept)."""

    def __init__(self, tpl: X12Template):
        d = tpl.delimiters
        self.d = d
        self.encoding = tpl.encoding
        names = {d.element: "element separator", d.component: "component separator",
                 d.segment: "segment terminator"}
        if tpl.repeats:
            names[d.repetition] = "repetition separator"
        names.update({"\r": "line break", "\n": "line break"})
        self.forbidden = names
        self.issues: list[Issue] = []
        self.count = 0
        self.compiled = {part: [_compile(t) for t in getattr(tpl, part)]
                         for part in ("header", "line", "summary")}

    def segments(self, part: str, values: _Values, where: str) -> list[Segment]:
        out = []
        for tag, elements in self.compiled[part]:
            segment = [tag]
            for pos, element in enumerate(elements, start=1):
                reps = []
                for rep in element.repetitions:
                    comps = [self._fill(c, values, f"{where}, {tag}{pos:02d}", element.names)
                             for c in rep]
                    reps.append(self.d.component.join(comps).rstrip(self.d.component))
                segment.append(self.d.repetition.join(reps))
            while len(segment) > 1 and segment[-1] == "":  # no trailing empty elements
                segment.pop()
            out.append(segment)
        return out

    def _fill(self, text: str, values: _Values, where: str, field: str) -> str:
        try:
            value = text.format_map(values)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError,
                ArithmeticError) as exc:  # a date format on text, a sum of words
            self._issue(where, field, text, "x12.template",
                        f"cannot be formatted: {type(exc).__name__}: {exc}")
            return ""
        for char, name in self.forbidden.items():
            if char in value:
                self._issue(where, field, value, "x12.delimiters",
                            f"holds the {name} {char!r}; X12 has no release character:"
                            " change the value or target.x12.delimiters")
                return value
        if not value.isascii() or self.encoding != "ascii":
            try:
                value.encode(self.encoding)
            except UnicodeEncodeError as exc:
                self._issue(where, field, value, "x12.encoding",
                            f"holds {value[exc.start]!r}, which {self.encoding} cannot"
                            " write (target.x12.encoding)")
        return value

    def _issue(self, where: str, field: str, value: str, rule: str, message: str) -> None:
        self.count += 1
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(Issue(location=where, field=field, value=value[:200], rule=rule,
                                     message=message))


def _party(text: str) -> tuple[str, str]:
    qualifier, _, ident = text.partition(":")
    return qualifier, ident


def _document_number(body: list[Segment]) -> str:
    """A transaction set's document number (BIG02 of an 810, BEG03 of an 850, ...)."""
    for segment in body:
        at = X12_DOCUMENT_NUMBERS.get(segment[0])
        if at is not None:
            return segment[at] if len(segment) > at else ""
    return ""


def _isa(tpl: X12Template, control: str, when: datetime) -> Segment:
    """ISA01..ISA16 at their fixed widths (106 characters with the terminator)."""
    sender, receiver = _party(tpl.sender or ""), _party(tpl.receiver or "")
    d = tpl.delimiters
    return ["ISA", "00", " " * 10, "00", " " * 10, sender[0], sender[1].ljust(15),
            receiver[0], receiver[1].ljust(15), f"{when:%y%m%d}", f"{when:%H%M}",
            d.repetition if tpl.repeats else "U", tpl.control_version, control.zfill(9),
            "1" if tpl.ack_requested else "0", tpl.usage, d.component]


class X12Writer:
    """Writes records as the transaction sets of one interchange, following ``target.x12``."""

    extension = "x12"

    def __init__(self, template: X12Template | None = None):
        self.template = template

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        tpl = self.template or route.target.x12
        if tpl is None:
            raise ValueError("the X12 writer needs a template (target.x12)")
        if not (tpl.sender and tpl.receiver):
            raise ValueError("the X12 writer needs a sender and a receiver (target.x12 or the"
                             " route's partner)")
        render = _Renderer(tpl)
        writing = DocumentWriting(batches, group_by=tpl.group_by, prepared=tpl.prepared,
                                  kind="transaction set")

        def segments(part: str, values: dict[str, Any], rows: list[dict[str, Any]],
                     where: str) -> list[Segment]:
            return render.segments(part, _Values(values, rows), where)

        sets = [body for _, body in writing.documents(segments)]
        if render.count:  # refused before any number is taken: the partner sees no gap
            raise UnwritableValues(render.issues, render.count)
        out.write(self.text(tpl, sets, writing.prepared).encode(tpl.encoding))
        return writing.count

    def text(self, tpl: X12Template, sets: list[list[Segment]],
             prepared: datetime | None = None) -> str:
        """The interchange around ``sets`` (each its segments between ST and SE), numbered
        from the partner's sequences when it keeps them (``sequences.py``): taken once per
        output and reused by its retries, so a retry writes the very same file."""
        d = tpl.delimiters
        digest = hashlib.sha256("\x00".join(
            d.element.join(s) for body in sets for s in body).encode()).hexdigest()
        numbering = sequences.current()
        st = numbering.numbers("x12", "transaction", len(sets)) \
            if numbering is not None and sets else None
        gs = numbering.numbers("x12", "group") if numbering is not None and sets else None
        isa = numbering.numbers("x12", "interchange") if numbering is not None else None
        isa13 = isa[0] if isa else f"{int(digest[:15], 16) % 999_999_999 + 1:09d}"
        gs06 = gs[0] if gs else str(int(isa13))
        when = prepared or prepared_at()  # the file's time: every attempt writes the same
        segments = [_isa(tpl, isa13, when)]
        documents: list[list[str]] = []  # for acknowledgement tracking
        if sets:
            sender = tpl.gs_sender or _party(tpl.sender or "")[1]
            receiver = tpl.gs_receiver or _party(tpl.receiver or "")[1]
            gs01 = tpl.functional_id or FUNCTIONAL_IDS[tpl.transaction]
            segments.append(["GS", gs01, sender, receiver, f"{when:%Y%m%d}", f"{when:%H%M}",
                             gs06, "X", tpl.version])
            for i, body in enumerate(sets):
                st02 = st[i] if st else f"{i + 1:04d}"
                if i < MAX_DOCUMENTS:
                    documents.append([st02, tpl.transaction, _document_number(body), gs06])
                st_segment = ["ST", tpl.transaction, st02]
                if tpl.convention:
                    st_segment.append(tpl.convention)
                segments += [st_segment, *body, ["SE", str(len(body) + 2), st02]]
            segments.append(["GE", str(len(sets)), gs06])
        segments.append(["IEA", "1" if sets else "0", isa13])
        written.wrote(SentInterchange(  # what a 997/999 answers, whatever the target
            "x12", x12_party(*_party(tpl.sender or "")), x12_party(*_party(tpl.receiver or "")),
            isa13, len(sets), documents))
        end = d.segment + ("\n" if d.line_breaks and d.segment != "\n" else "")
        return "".join(d.element.join(s) + end for s in segments)
