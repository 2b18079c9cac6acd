"""UN/EDIFACT reader: batches of messages (UNH..UNT) of one interchange become one ``Document``
each, streamed in bounded memory.

The pieces live next door: ``edifact_una`` (service characters, character sets),
``edifact_syntax`` (the fast tokenizer), ``edifact_tokens`` (repeated elements, the slow
tokenizers), ``edifact_locator`` (segment numbers and bytes), ``edifact_envelope``
(UNB/UNG/UNH checks and repeats), ``edifact_service`` (the service segments' own rules),
``edifact_map`` (field paths applied to a batch of messages, column by column),
``edifact_paths`` (field paths), ``edifact_text`` (elements back to text), ``edifact_writer``
(the EDIFACT writer), ``edifact_contrl`` (CONTRL acknowledgements) and ``edifact_rejects``
(split-out messages).

Header fields are per message, so in a batch they are columns (one value per record, see
``Document.header``). A message without records delivers nothing, and its header is not
checked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tradelane.edi.route import StructureCheck
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
from tradelane.formats.edifact_map import Mapped, MessagePlan
from tradelane.formats.edifact_syntax import Locator, SegmentStream
from tradelane.formats.input_checks import refuse_compressed, segment_limit
from tradelane.models import Document, Issue, records_table
from tradelane.spec import EdifactFormat, RouteSpec
from tradelane.staging import Staged

__all__ = [
    "BadServiceStringAdvice",
    "CharsetViolation",
    "ControlReferenceMismatch",
    "CountMismatch",
    "DanglingRelease",
    "EdiSyntaxError",
    "EdifactDocument",
    "EdifactReader",
    "Isolated",
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
class Isolated:
    """A message whose own envelope is wrong (``isolate_messages``): split out whole."""

    message: Message

    @property
    def issue(self) -> Issue:
        msg, error = self.message, self.message.error
        assert error is not None
        where = f"message {msg.number} ({msg.reference})"
        return Issue(location=f"{where}, {error.location}" if error.location else where,
                     field="", value=error.issues[0].value if error.issues else "",
                     rule=error.issues[0].rule if error.issues else "edi_syntax",
                     message=f"{where}: {error.issues[0].message if error.issues else error}")


@dataclass(frozen=True)
class EdifactDocument(Document):
    """A batch of messages of one interchange.

    ``units`` holds each record's message number: a message is delivered or split out whole.
    ``failed`` are the messages of the batch whose own envelope is wrong (``Isolated``); they
    are not mapped. ``messages`` counts the batch's mapped messages.
    """

    messages: int = 0


#: A batch ends after this many segments (or at the end of its interchange).
BATCH_SEGMENTS = 100_000


class EdifactReader:
    def __init__(self, batch_segments: int = BATCH_SEGMENTS):
        self.batch_segments = batch_segments

    def read(self, staged: Staged, route: RouteSpec) -> Iterator[Document]:
        fmt = route.format
        assert isinstance(fmt, EdifactFormat)
        refuse_compressed(staged)
        with segment_limit(fmt.max_segment_bytes, route.limits.max_segment_bytes) as limit:
            check = StructureCheck(fmt, route.base_dir)  # against its directory (and guide)
            yield from check.annotate(self._batches(staged, route, fmt, limit, check))

    def _batches(self, staged: Staged, route: RouteSpec, fmt: EdifactFormat,
                 limit: int, check: StructureCheck) -> Iterator[Document]:
        plan = MessagePlan(route)
        stream = SegmentStream(staged, max_segment_bytes=limit, encoding=fmt.encoding)
        row = 0
        batch: list[Message] = []
        failed: list[Isolated] = []
        size = 0
        for msg in iter_messages(stream, isolate=fmt.isolate_messages):
            if fmt.messages and msg.type not in fmt.messages and msg.error is None:
                raise UnexpectedMessageType(msg.type, fmt.messages,
                                            **stream.where(segment=msg.first_segment))
            check(msg, stream)
            if (batch or failed) and _interchange(batch, failed) is not msg.interchange:
                doc = _document(plan, batch, failed, row, stream.locator)
                row += len(doc.records)
                yield doc
                batch, failed, size = [], [], 0
            if msg.error is not None:
                failed.append(Isolated(msg))
            else:
                batch.append(msg)
                size += len(msg.block.tags)
            if size >= self.batch_segments:
                doc = _document(plan, batch, failed, row, stream.locator)
                row += len(doc.records)
                yield doc
                batch, failed, size = [], [], 0
        if batch or failed:
            yield _document(plan, batch, failed, row, stream.locator)


def _interchange(batch: list[Message], failed: list[Isolated]) -> object:
    return (batch[0] if batch else failed[0].message).interchange


def _document(plan: MessagePlan, batch: list[Message], failed: list[Isolated], first_row: int,
              locator: Locator) -> EdifactDocument:
    mapped = plan.map(batch) if batch else _empty(plan)
    records = records_table(mapped.columns, len(mapped))
    header = dict(mapped.header)  # header columns: one value per record
    ic = _interchange(batch, failed)
    notes = tuple(f"message {f.message.number} ({f.message.reference}) failed:"
                  f" {f.message.error}" for f in failed)
    return EdifactDocument(
        header=header, records=records, notes=notes,
        numbers=np.arange(first_row, first_row + len(mapped), dtype=np.int64),
        locate=_Locate(first_row, mapped.numbers, mapped.starts, locator),
        source_rows=_MessageRows(batch, mapped.owners),
        interchange=ic.key, interchange_segment=ic.segment,  # type: ignore[attr-defined]
        unit_refs=tuple(m.reference for m in batch),
        units=mapped.numbers, failed=tuple(failed), messages=len(batch))


def _empty(plan: MessagePlan) -> Mapped:
    none = np.zeros(0, dtype=np.int64)
    links = {k for k in plan.links if k not in plan.in_header}
    return Mapped({k: pa.array([], pa.string()) for k in [*plan.fields, *links]},
                  {k: pa.array([], pa.string()) for k in [*plan.header, *plan.in_header]},
                  none, none, none)


class _Locate:
    """``message 3, segment 57 (byte 1302)`` for a record number."""

    def __init__(self, first_row: int, numbers: np.ndarray, starts: np.ndarray,
                 locator: Locator):
        self.first_row, self.numbers, self.starts, self.locator = (first_row, numbers, starts,
                                                                  locator)

    def __call__(self, row: int) -> str:
        k = row - self.first_row
        if not 0 <= k < len(self.starts):
            return f"record {row + 1}"
        seg = int(self.starts[k])
        byte = self.locator.byte_of(seg)
        return f"message {int(self.numbers[k])}, segment {seg}" + (
            f" (byte {byte})" if byte is not None else "")


class _MessageRows(Sequence[Message]):
    """Each record's message, for splitting out invalid records (whole messages)."""

    def __init__(self, msgs: list[Message], owners: np.ndarray):
        self.msgs, self.owners = msgs, owners

    def __len__(self) -> int:
        return len(self.owners)

    def __getitem__(self, k: int) -> Message:  # type: ignore[override]
        return self.msgs[int(self.owners[k])]

    def __iter__(self) -> Iterator[Message]:
        msgs = self.msgs
        return (msgs[o] for o in self.owners.tolist())
