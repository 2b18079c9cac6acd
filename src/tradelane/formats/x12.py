"""ANSI ASC X12 reader: batches of transaction sets (ST..SE) of one interchange become one
``Document`` each, streamed in bounded memory (the largest transaction set is the most held).

The pieces live next door: ``x12_syntax`` (delimiters from the ISA, the streaming tokenizer),
``x12_rules`` (service segment rules), ``x12_envelope`` (ISA/GS/ST checks, repeats, TA1s),
``x12_map`` (field paths applied column by column), ``x12_acks`` (997, 999 and TA1) and
``x12_rejects`` (split-out transaction sets written back as X12); ``x12_hipaa`` checks
the sets of a HIPAA guide with pyx12 first (``format.hipaa``), in a pass of its own;
``x12_segment_rules`` checks each set against the route's own segment rules (``format.rules``).

Header fields are per transaction set, so in a batch they are columns (one value per record).
A transaction set without records delivers nothing. A TA1 received (the partner's answer to an
interchange we sent) is recorded as a note of the interchange that carried it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from tradelane.formats.edi_errors import UnexpectedSegment
from tradelane.formats.input_checks import refuse_compressed, segment_limit
from tradelane.formats.x12_codes import coded
from tradelane.formats.x12_envelope import (
    Interchange,
    InterchangeAck,
    Transaction,
    iter_envelope,
)
from tradelane.formats.x12_map import Mapped, TransactionPlan, X12Path, compile_x12_path
from tradelane.formats.x12_syntax import Block, SegmentStream, X12Delimiters, join
from tradelane.models import Document, Issue, records_table
from tradelane.spec import RouteSpec, X12Format
from tradelane.staging import Staged

if TYPE_CHECKING:
    from tradelane.formats.x12_hipaa import HipaaCheck
    from tradelane.formats.x12_segment_rules import SegmentRulesCheck

__all__ = ["Isolated", "Transaction", "X12Delimiters", "X12File", "X12Path", "X12Reader",
           "compile_x12_path", "iter_transactions"]

#: A batch ends after this many segments (or at the end of its interchange).
BATCH_SEGMENTS = 100_000


@dataclass(frozen=True)
class Isolated:
    """A transaction set whose own envelope is wrong, or that repeats a control number
    (``isolate_messages``): split out whole."""

    message: Transaction

    @property
    def issues(self) -> list[Issue]:
        """Every problem of the set: one for its envelope, each finding of a HIPAA guide
        (already placed in the set)."""
        error = self.message.error
        assert error is not None
        if len(error.issues) <= 1 and not any(i.field for i in error.issues):
            return [self.issue]
        return list(error.issues)

    @property
    def issue(self) -> Issue:
        tx, error = self.message, self.message.error
        assert error is not None
        where = f"transaction set {tx.number} ({tx.code} {tx.control})"
        first = error.issues[0] if error.issues else None
        return Issue(location=f"{where}, {error.location}" if error.location else where,
                     field="", value=first.value if first else "",
                     rule=first.rule if first else "edi_syntax",
                     message=f"{where}: {first.message if first else error}")


class X12Reader:
    def __init__(self, batch_segments: int = BATCH_SEGMENTS):
        self.batch_segments = batch_segments

    def read(self, staged: Staged, route: RouteSpec) -> Iterator[Document]:
        fmt = route.format
        assert isinstance(fmt, X12Format)
        plan = TransactionPlan(route)
        refuse_compressed(staged)
        hipaa = None
        if fmt.hipaa != "off":
            from tradelane.formats.x12_hipaa import HipaaCheck  # pyx12 only when asked for

            hipaa = HipaaCheck(staged, fmt.hipaa, fmt.encoding)
        rules = None
        if fmt.rules:
            from tradelane.formats.x12_segment_rules import SegmentRulesCheck

            rules = SegmentRulesCheck(fmt, route.base_dir, staged)
        with segment_limit(fmt.max_segment_bytes, route.limits.max_segment_bytes) as limit:
            stream = SegmentStream(staged, max_segment_bytes=limit, encoding=fmt.encoding)
            yield from self._batches(stream, plan, fmt, hipaa, rules)

    def _batches(self, stream: SegmentStream, plan: TransactionPlan,
                 fmt: X12Format, hipaa: HipaaCheck | None = None,
                 rules: SegmentRulesCheck | None = None) -> Iterator[Document]:
        batch: list[Transaction] = []
        failed: list[Isolated] = []
        notes: list[str] = []
        current: Interchange | None = None
        row = size = 0
        for item in iter_envelope(stream, isolate=fmt.isolate_messages):
            if (batch or failed or notes) and item.interchange is not current:
                assert current is not None
                doc = _document(plan, batch, failed, notes, row, current)
                row += doc.records.num_rows
                yield doc
                batch, failed, notes, size = [], [], [], 0
            current = item.interchange
            if isinstance(item, InterchangeAck):
                notes.append(item.note())
                continue
            if fmt.transactions and item.code not in fmt.transactions:
                raise coded(UnexpectedSegment(
                    "ST", f"transaction set {item.code} is not accepted"
                    f" ({', '.join(fmt.transactions)})", **item.block.where(0)), ak5="1")
            found = None
            if hipaa is not None:
                notes.extend(hipaa.notes_for(item.group))
                found = hipaa.findings(item) if item.error is None else None
                if found is not None and hipaa.rejects:
                    if not fmt.isolate_messages:
                        raise hipaa.error()  # type: ignore[misc]  # every set's findings
                    item.error = hipaa.error(found)
                elif found is not None:
                    notes.extend(hipaa.warnings(found))
            if rules is not None and item.error is None:
                broken, warned = rules.check(item)
                notes.extend(warned)
                if broken is not None and fmt.isolate_messages:
                    item.error = rules.error([broken])
                elif broken is not None:
                    rules.rejected.append(broken)  # the file is rejected: every set's findings
            if rules is not None and rules.rejected:
                continue  # nothing of a rejected file is mapped
            if item.error is not None:
                failed.append(Isolated(item))
            else:
                batch.append(item)
                size += len(item.block)
            if size >= self.batch_segments:
                doc = _document(plan, batch, failed, notes, row, current)
                row += doc.records.num_rows
                yield doc
                batch, failed, notes, size = [], [], [], 0
        if rules is not None and rules.rejected:
            raise rules.error(rules.rejected)
        if batch or failed or notes:
            assert current is not None
            yield _document(plan, batch, failed, notes, row, current)
        if hipaa is not None and hipaa.rejects and hipaa.report.envelope:
            raise hipaa.error()  # type: ignore[misc]  # found outside the sets


def _document(plan: TransactionPlan, batch: list[Transaction], failed: list[Isolated],
              notes: list[str], first_row: int, ic: Interchange) -> Document:
    mapped = plan.map(batch) if batch else _empty(plan)
    return Document(
        header=dict(mapped.header), records=records_table(mapped.columns, len(mapped)),
        notes=tuple(notes) + tuple(f"{f.issue.message} (split out)" for f in failed),
        numbers=np.arange(first_row, first_row + len(mapped), dtype=np.int64),
        locate=_Locate(first_row, mapped), source_rows=_TransactionRows(batch, mapped.owners),
        interchange=ic.key, interchange_segment=ic.segment, units=mapped.numbers,
        failed=tuple(failed), unit_refs=tuple(t.control for t in batch))


def _empty(plan: TransactionPlan) -> Mapped:
    none = np.zeros(0, dtype=np.int64)
    return Mapped({k: pa.array([], pa.string()) for k in plan.fields},
                  {k: pa.array([], pa.string()) for k in plan.header}, none, none, none, none)


class _Locate:
    """``transaction 3, segment 57 (byte 1302)`` for a record number."""

    def __init__(self, first_row: int, mapped: Mapped):
        self.first_row, self.numbers = first_row, mapped.numbers
        self.starts, self.offsets = mapped.starts, mapped.offsets

    def __call__(self, row: int) -> str:
        k = row - self.first_row
        if not 0 <= k < len(self.starts):
            return f"record {row + 1}"
        return (f"transaction {int(self.numbers[k])}, segment {int(self.starts[k])}"
                f" (byte {int(self.offsets[k])})")


class _TransactionRows(Sequence[Transaction]):
    """Each record's transaction set, for splitting out invalid records (whole sets)."""

    def __init__(self, txs: list[Transaction], owners: np.ndarray):
        self.txs, self.owners = txs, owners

    def __len__(self) -> int:
        return len(self.owners)

    def __getitem__(self, k: int) -> Transaction:  # type: ignore[override]
        return self.txs[int(self.owners[k])]

    def __iter__(self) -> Iterator[Transaction]:
        txs = self.txs
        return (txs[o] for o in self.owners.tolist())


class X12File:
    """A small file read whole: its segments, tags and byte offsets (tests, tools, previews).
    The engine itself streams (``SegmentStream``)."""

    def __init__(self, data: bytes, encoding: str = "latin-1", limit: int = 1 << 20):
        self.stream = SegmentStream(Staged(size=len(data), data=data), max_segment_bytes=limit,
                                    encoding=encoding)
        blocks = list(self.stream)
        self.block: Block = join(blocks)
        self.delims = self.block.delims
        self.segments, self.tags = self.block.segs, self.block.tags
        self.offsets = [int(o) for o in self.block.offsets]

    def elements(self, i: int) -> list[str]:
        return self.block.elements(i)

    def where(self, i: int) -> dict[str, int]:
        return self.block.where(i)


def iter_transactions(f: X12File | SegmentStream, *,
                      isolate: bool = False) -> Iterator[Transaction]:
    """Every transaction set of the file, after checking each envelope."""
    stream = f.stream if isinstance(f, X12File) else f
    return (t for t in iter_envelope(stream, isolate=isolate) if isinstance(t, Transaction))
