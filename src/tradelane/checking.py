"""The stream between a reader and a target: each batch validated and transformed, the
route's ``on_invalid`` policy applied, and what was found kept for the reason file.

Pure, apart from ``on_interchange`` (the pipeline passes the ledger's duplicate check).
``one_ahead`` runs the stream a batch ahead of the target, for big files.

EDI interchanges: each is taken once (``on_interchange``) when its first batch comes; one
that comes again later in the same file with records to deliver is refused
(``RepeatedInterchange``), so a reader that does not refuse repeats itself never gets an
interchange delivered twice. The control references of what went through are kept
(``Checked.controls``) for the ledger's history.
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from tradelane.errors import InvalidRecords, RecordsRejected
from tradelane.formats.edi_errors import RepeatedInterchange
from tradelane.formats.split import pick
from tradelane.models import Document, Issue
from tradelane.spec import RouteSpec
from tradelane.transform import transform
from tradelane.validate import ValidationResult, validate

T = TypeVar("T")
MAX_NOTES = 20
#: Interchanges, and messages per interchange, listed in the history; beyond, a count.
MAX_REFS = 20


class _Refs:
    """The control references of an interchange's units, as the history shows them."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[str] = []
        self.last = ""

    def add(self, refs: tuple[str, ...]) -> None:
        if refs:
            self.count += len(refs)
            self.first.extend(refs[: MAX_REFS - len(self.first)])
            self.last = refs[-1]

    def __str__(self) -> str:
        if not self.count:
            return ""
        shown = ", ".join(self.first) if self.count <= MAX_REFS else (
            f"{', '.join(self.first[:3])} … {self.last}")
        return f": {self.count:,} message{'s' if self.count > 1 else ''} ({shown})"


@dataclass
class Checked:
    """What the validate/transform stream learned while the target consumed it."""

    issues: list[Issue] = field(default_factory=list)
    error_count: int = 0
    stage: str = "validate"
    notes: list[str] = field(default_factory=list)
    records: int = 0
    rejected_rows: list[object] = field(default_factory=list)
    #: (source rows, their record numbers) per batch, kept only when the target may refuse
    #: single records after taking the others.
    keep_sources: bool = False
    sources: list[tuple[Any, np.ndarray]] = field(default_factory=list)
    #: messages the reader isolated (EDIFACT ``isolate_messages``): split out, never fatal
    isolated: int = 0
    more_notes: int = 0  # distinct notes left out of ``notes``, which keeps MAX_NOTES
    _left_out: set[int] = field(default_factory=set, repr=False)  # their hashes
    #: EDI: (interchange key, its segment) -> the control references of the units delivered
    #: from it: how many, the first MAX_REFS of them and the last (bounded for big files)
    interchanges: dict[tuple[Any, ...], _Refs] = field(default_factory=dict)

    def controls(self) -> str:
        """The interchanges (and their messages) that went through, for the history:
        ``interchange REF1 from S to R: 2 messages (1, 2)``."""
        parts = []
        for (key, _segment), refs in list(self.interchanges.items())[:MAX_REFS]:
            sender, recipient, ref = key
            parts.append(f"interchange {ref} from {sender} to {recipient}{refs}")
        if len(self.interchanges) > MAX_REFS:
            parts.append(f"… and {len(self.interchanges) - MAX_REFS:,} more interchanges")
        return "; ".join(parts)

    def note(self, texts: Iterable[str]) -> None:
        """Keep a batch's notes: each once, and the first MAX_NOTES of them (with a count of
        the others), so that a file of many batches or failed messages keeps its event short."""
        for text in texts:
            if text in self.notes or hash(text) in self._left_out:
                continue
            if len(self.notes) < MAX_NOTES:
                self.notes.append(text)
                continue
            self._left_out.add(hash(text))
            self.more_notes += 1
            summary = f"… and {self.more_notes:,} more notes"
            if len(self.notes) == MAX_NOTES:
                self.notes.append(summary)
            else:
                self.notes[-1] = summary

    def isolate(self, failed: Any, limit: int) -> None:
        """A message whose own envelope is wrong: quarantined on its own, whole."""
        if not self.error_count:
            self.stage = "read"
        self.error_count += 1
        self.isolated += 1
        # every problem of the message where it has several (X12 HIPAA findings)
        found = getattr(failed, "issues", None) or [failed.issue]
        self.issues.extend(found[: max(0, limit - len(self.issues))])
        self.rejected_rows.append(failed.message)

    def refused_by_target(self, exc: RecordsRejected) -> None:
        """Move the records a target refused into the rejects, as validation would."""
        refused = set(exc.records)
        refused_numbers = np.fromiter(refused, dtype=np.int64, count=len(refused))
        for rows, numbers in self.sources:
            mask = np.isin(numbers, refused_numbers)
            if mask.any():
                self.rejected_rows.extend(pick(rows, mask))
        self.stage = self.stage if self.error_count else "deliver"
        self.error_count += len(refused)
        self.issues.extend(exc.issues)


def checked_batches(docs: Iterable[Document], route: RouteSpec, checked: Checked, *,
                    limit: int,
                    on_interchange: Callable[[tuple[str, str, str]], None] | None = None,
                    validated: Callable[[Document], ValidationResult | None] | None = None,
                    ) -> Iterator[Document]:
    """Validated, transformed batches; raises InvalidRecords after the last one if needed.

    Under ``on_invalid: reject`` nothing more is yielded once a problem is found (the target
    aborts its output when the final InvalidRecords arrives), but every batch is still
    checked so that the reason file counts every problem. Under ``split`` the bad records are
    left out of each batch and kept in ``checked.rejected_rows``.

    ``validated`` may give a batch's validation already done (the pipeline validates a
    chunk's small files together); None: the batch is validated here.
    """
    first_at: dict[tuple[str, str, str], int | None] = {}  # key -> segment of its first
    current: tuple[Any, ...] | None = None  # the interchange the batches come from
    repeat = False
    for doc in docs:
        checked.note(doc.notes)
        if doc.interchange:
            occurrence = (doc.interchange, doc.interchange_segment)
            if occurrence != current:  # a new interchange begins
                current = occurrence
                repeat = doc.interchange in first_at
                if not repeat:
                    first_at[doc.interchange] = doc.interchange_segment
                    checked.interchanges[occurrence] = _Refs()
                    if on_interchange:
                        on_interchange(doc.interchange)
            if repeat and doc.records.num_rows:
                raise RepeatedInterchange(doc.interchange, first_at[doc.interchange],
                                          segment_index=doc.interchange_segment)
            refs = checked.interchanges.get(occurrence)
            if refs is not None:
                refs.add(doc.unit_refs)
        for failed in doc.failed:
            checked.isolate(failed, limit)
        valid = validated(doc) if validated is not None else None
        if valid is None:
            valid = validate(doc, route, limit=limit)
        result = transform(valid.document, route, limit=limit)
        invalid = valid.invalid | result.invalid
        units = doc.units  # EDI: a message goes whole, or not at all
        if units is not None and invalid.any():
            invalid = np.isin(units, units[invalid])
        found = valid.issues + result.issues
        if found or valid.error_count or result.error_count:
            if not checked.error_count:
                checked.stage = "validate" if valid.error_count else "transform"
            checked.error_count += valid.error_count + result.error_count
            checked.issues.extend(found[: max(0, limit - len(checked.issues))])
        if route.on_invalid == "split":
            if invalid.any():
                if doc.source_rows is None:  # cannot be written back: never drop them silently
                    raise InvalidRecords(checked.issues, error_count=checked.error_count,
                                         stage=checked.stage)
                checked.rejected_rows.extend(pick(doc.source_rows, invalid))
            assert doc.numbers is not None
            if checked.keep_sources:
                checked.sources.append((doc.source_rows, doc.numbers))
            out = result.document
            if invalid.any():  # by record number: a hook may have dropped or moved rows
                assert out.numbers is not None
                out = out.filter(~np.isin(out.numbers, doc.numbers[invalid]))
            checked.records += out.records.num_rows
            yield out
        elif checked.error_count == checked.isolated:
            checked.records += result.document.records.num_rows
            yield result.document
    if checked.error_count > checked.isolated and route.on_invalid != "split":
        raise InvalidRecords(checked.issues, error_count=checked.error_count,
                             stage=checked.stage)


_END = object()


def one_ahead(items: Iterable[T]) -> Iterator[T]:
    """``items``, produced one item ahead in a helper thread.

    For a big file, the next batch is read, validated and transformed while the target writes
    the current one: Arrow's kernels and writers release the interpreter lock, so the two
    overlap on two cores. Exceptions reach the consumer where they would have without the
    thread; a consumer that stops early stops the producer after its current item.
    """
    handoff: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        handoff.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put((_END, None))
        except BaseException as exc:  # handed over, raised in the consumer
            handoff.put((_END, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's files are closed here, by the thread that ran it

    # the thread keeps the caller's log context (route, file)
    producer = threading.Thread(target=contextvars.copy_context().run, args=(produce,),
                                name="read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item, error = handoff.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while producer.is_alive():  # let it finish its item and see the stop
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.1)
        producer.join()
