"""UN/EDIFACT reader: one ``Document`` per message (UNH..UNT), streamed in bounded memory.

The pieces live next door: ``edifact_syntax`` (service characters, character sets, the fast
tokenizer), ``edifact_envelope`` (UNB/UNG/UNH checks), ``edifact_paths`` (field paths) and
``edifact_writer`` (CONTRL acknowledgements and the EDIFACT writer).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from tradelane.errors import ConfigError
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
    SegmentCountMismatch,
    SegmentTooLong,
    UnexpectedSegment,
    UnknownSyntaxIdentifier,
)
from tradelane.formats.edifact_envelope import Message, iter_messages
from tradelane.formats.edifact_paths import SegmentPath, compile_path
from tradelane.formats.edifact_syntax import Locator, SegmentStream
from tradelane.models import Document
from tradelane.spec import EdifactFormat, RouteSpec

__all__ = [
    "BadServiceStringAdvice",
    "CharsetViolation",
    "ControlReferenceMismatch",
    "CountMismatch",
    "DanglingRelease",
    "EdiSyntaxError",
    "EdifactDocument",
    "EdifactReader",
    "MessageInfo",
    "MissingTrailer",
    "NotAnInterchange",
    "NulByte",
    "SegmentCountMismatch",
    "SegmentTooLong",
    "UnexpectedMessageType",
    "UnexpectedSegment",
    "UnknownSyntaxIdentifier",
]


class UnexpectedMessageType(EdiSyntaxError):
    rule = "message_type"

    def __init__(self, found: str, accepted: list[str], **where: int | None):
        self.found = found
        self.accepted = accepted
        super().__init__(f"message type {found!r} is not accepted by this route (accepted:"
                         f" {', '.join(accepted)})", value=found, **where)


@dataclass(frozen=True)
class MessageInfo:
    """Which message a batch came from; ``error`` is set when the message itself failed."""

    number: int
    reference: str
    type: str
    first_segment: int
    last_segment: int
    error: EdiSyntaxError | None = None


@dataclass(frozen=True)
class EdifactDocument(Document):
    """A ``Document`` that also says which message it is (see ``isolate_messages``)."""

    message: MessageInfo | None = None


class EdifactReader:
    def read(self, path: Path, route: RouteSpec) -> Iterator[Document]:
        fmt = route.format
        assert isinstance(fmt, EdifactFormat)
        plan = MessagePlan(route)
        stream = SegmentStream(Path(path), max_segment_bytes=fmt.max_segment_bytes,
                               encoding=fmt.encoding)
        row = 0
        batch: list[Message] = []
        for msg in iter_messages(stream, isolate=fmt.isolate_messages):
            if fmt.messages and msg.type not in fmt.messages:
                raise UnexpectedMessageType(msg.type, fmt.messages,
                                            **stream.where(segment=msg.first_segment))
            batch.append(msg)
            if len(batch) >= _BATCH:
                for doc in plan.documents(batch, row, stream.locator):
                    row += len(doc.records)
                    yield doc
                batch = []
        yield from plan.documents(batch, row, stream.locator)


# Messages mapped together: one DataFrame sliced per message costs a fraction of one frame each.
_BATCH = 256


class MessagePlan:
    """The route's field paths, compiled once, applied to each message."""

    def __init__(self, route: RouteSpec):
        fmt = route.format
        assert isinstance(fmt, EdifactFormat)
        self.record_tag = fmt.records
        self.header = {name: compile_path(spec.source or name, where=f"header.{name}.source")
                       for name, spec in route.header.items()}
        self.fields: dict[str, SegmentPath] = {}
        for name, spec in route.fields.items():
            path = compile_path(spec.source or name, where=f"fields.{name}.source")
            if path.group and path.group != self.record_tag:
                raise ConfigError([f"fields.{name}.source: {path.text!r} names the group"
                                   f" {path.group} but format.records is {self.record_tag}"])
            self.fields[name] = path
        self.needed = {p.tag for p in [*self.header.values(), *self.fields.values()]}
        if self.record_tag:
            self.needed |= {self.record_tag, "UNS"}

    def documents(self, msgs: list[Message], first_row: int,
                  locator: Locator) -> Iterator[EdifactDocument]:
        """One document per message; the records of all of them are built as one frame."""
        if not msgs:
            return
        extracted = [self._extract(msg) for msg in msgs]
        columns: dict[str, list[str | None]] = {name: [] for name in self.fields}
        for _, _, cols in extracted:
            for name, values in cols.items():
                columns[name].extend(values)
        total = sum(len(spans) for _, spans, _ in extracted)
        frame = pd.DataFrame(
            {k: pd.arrays.ArrowExtensionArray(pa.array(v, pa.string()))
             for k, v in columns.items()},
            index=pd.RangeIndex(first_row, first_row + total))
        at = 0
        for msg, (header, spans, _) in zip(msgs, extracted, strict=True):
            block = msg.block
            starts = [block.start + lo for lo, _ in spans]
            info = MessageInfo(msg.number, msg.reference, msg.type, block.start,
                               block.start + len(block) - 1, msg.error)
            notes = (f"message {msg.number} ({msg.reference}) failed: {msg.error}",) \
                if msg.error else ()
            yield EdifactDocument(
                header=header, records=frame.iloc[at : at + len(spans)], notes=notes,
                locate=_Locate(msg.number, first_row + at, starts, locator),
                source_rows=_RawRecords(block, spans), interchange=msg.interchange.key,
                message=info)
            at += len(spans)

    def _extract(self, msg: Message) -> tuple[dict[str, str | None], list[tuple[int, int]],
                                              dict[str, list[str | None]]]:
        block = msg.block
        tags = block.tags
        n = len(tags)
        where: dict[str, list[int]] = {}
        needed = self.needed
        for i in range(n):
            if tags[i] in needed:
                where.setdefault(tags[i], []).append(i)
        cache: dict[int, list] = {}

        def find(path: SegmentPath, lo: int, hi: int) -> str | None:
            spots = where.get(path.tag)
            if not spots:
                return None
            for k in range(bisect.bisect_left(spots, lo), len(spots)):
                i = spots[k]
                if i >= hi:
                    break
                el = cache.get(i)
                if el is None:
                    el = cache[i] = block.elements(i)
                if path.matches(el):
                    return path.value(el)
            return None

        header: dict[str, str | None] = {}
        for name, path in self.header.items():
            if path.tag in ("UNB", "UNG") and path.tag not in where:
                unb = list(msg.interchange.elements)
                header[name] = path.value(unb) if path.tag == "UNB" and path.matches(unb) \
                    else None
            else:
                header[name] = find(path, 0, n)
        spans = self._records(where, n)
        columns = {name: [find(path, lo, hi) for lo, hi in spans]
                   for name, path in self.fields.items()}
        return header, spans, columns

    def _records(self, where: dict[str, list[int]], n: int) -> list[tuple[int, int]]:
        if not self.record_tag:
            return [(0, n)]
        starts = where.get(self.record_tag, [])
        uns = where.get("UNS", [])
        spans = []
        for k, lo in enumerate(starts):
            hi = starts[k + 1] if k + 1 < len(starts) else n - 1
            j = bisect.bisect_left(uns, lo)
            if j < len(uns) and uns[j] < hi:
                hi = uns[j]
            spans.append((lo, hi))
        return spans


class _Locate:
    """``message 3, segment 57 (byte 1302)`` for a record number."""

    def __init__(self, number: int, first_row: int, starts: list[int], locator: Locator):
        self.number, self.first_row, self.starts, self.locator = (number, first_row, starts,
                                                                  locator)

    def __call__(self, row: int) -> str:
        k = row - self.first_row
        if not 0 <= k < len(self.starts):
            return f"message {self.number}"
        seg = self.starts[k]
        byte = self.locator.byte_of(seg)
        return f"message {self.number}, segment {seg}" + (f" (byte {byte})" if byte is not None
                                                         else "")


class _RawRecords:
    """Each record's segments as EDIFACT text (for splitting out invalid records)."""

    def __init__(self, block: object, spans: list[tuple[int, int]]):
        self.block, self.spans = block, spans

    def __len__(self) -> int:
        return len(self.spans)

    def __iter__(self) -> Iterator[str]:
        from tradelane.formats.edifact_writer import segment_text

        for lo, hi in self.spans:
            yield "".join(segment_text(self.block, i) for i in range(lo, hi))
