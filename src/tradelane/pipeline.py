"""The flow of a chunk of files of one route. The only place that catches ``RejectError`` and
``TransientError``.

::

    ledger.claim (chunk) -> stage (snapshot + sha256, safe open) -> read
      -> checking (validate, transform, on_invalid) -> duplicate keys -> target.deliver
      -> ledger: delivered + its follow-up steps, in one transaction
      -> finishing: split-out rejects, acknowledgements, the original's post-action
      -> ledger: archived
    RejectError    -> quarantine/<route>/<day>/<id>-<name> + reason file,
                      ledger: quarantined + its follow-up steps (ack, the original out)
    TransientError -> ledger: pending, retried later with backoff (never quarantined)

The original is touched only after the ledger says delivered (or quarantined, once its copy
sits in quarantine), and every step after that is recorded with the state it follows, so a
crash anywhere leads to a retry or to the step being finished by the next run. Retries are
idempotent: output names are deterministic, writes atomic, duplicate keys owned by one file.

A chunk is claimed in one ledger transaction, its deliveries recorded in one, its archiving
in one, so that many small files are not paced by commits (``_Chunking``). The pass over
routes, worker processes and recovery on start are in ``runner.py``.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from tradelane.abc import DeliveryContext, Source, Target
from tradelane.acks import build_acks, tracking_steps
from tradelane.arrow_memory import prefer_jemalloc
from tradelane.checking import Checked, checked_batches, one_ahead
from tradelane.collector import tune_for_batches
from tradelane.crashpoints import crash_point
from tradelane.drift import Drift
from tradelane.errors import (
    ConfigError,
    Conflict,
    DuplicateFile,
    EmptyFile,
    InvalidRecords,
    MalformedInput,
    RecordsRejected,
    RejectError,
    TargetUnavailable,
    TradelaneError,
    TransientError,
)
from tradelane.events.model import event_rows
from tradelane.finishing import Finisher, Finishing
from tradelane.formats import reader_for
from tradelane.formats.split import count, subset_bytes
from tradelane.ledger import FileRecord, Followup, Ledger, Move, Seen, Step, utcnow
from tradelane.ledger.alerts import Incidents
from tradelane.ledger.followups import Followups
from tradelane.ledger.keys import Keys, SameContentInProgress
from tradelane.ledger.lease_keeper import LeaseKeeper
from tradelane.logs import bind
from tradelane.models import Delivery, Document, FileRef, FileResult, FileState, Outcome
from tradelane.paths import (
    FolderSyncs,
    atomic_writer,
    check_partner_name,
    is_inside,
    safe_component,
)
from tradelane.preparation import preparing
from tradelane.quarantine import (
    SplitPlaces,
    build_reason,
    quarantine,
    quarantine_path,
    reason_path,
)
from tradelane.registry import TARGETS
from tradelane.sequences import numbering
from tradelane.spec import Project, RouteSpec
from tradelane.staging import Staged
from tradelane.steps import prepared_input
from tradelane.targets import opened_target
from tradelane.validate import ValidationResult, validate
from tradelane.validators.run import against_schemas
from tradelane.written import collecting

if TYPE_CHECKING:  # an EDI route's type: a CSV route never loads the EDIFACT tokenizer
    from tradelane.formats.ack_reading import SentInterchange

log = logging.getLogger("tradelane")

#: How long an interchange control reference is remembered for duplicate checks.
INTERCHANGE_WINDOW = timedelta(days=365)
#: Files bigger than this (several reader batches) are read and checked a batch ahead of the
#: target, in a helper thread (see ``checking.one_ahead``).
READ_AHEAD_FROM = 8 << 20
#: Tabular files up to this size (as read, after the route's steps) are read before their
#: chunk is delivered and validated together, in one table (``_validate_together``): the
#: fixed cost of validating a table, about 0.5 ms, is then paid once per chunk, not per
#: file. A chunk holds at most 128 of them (8 MB) in memory.
TOGETHER_BYTES = 64 << 10
#: Formats whose files are a table of records in one batch when small: validated together.
TABULAR = frozenset({"csv", "fixed"})


@dataclass
class _Work:
    """One claimed file on its way through a chunk."""

    record: FileRecord
    spool: Path  # where its copy goes if it is too big to hold in memory
    staged: Staged | None = None  # its snapshot, once fetched
    prepared: Staged | None = None  # what the reader parses, after the route's before_read
    fetch_error: Exception | None = None  # why fetching it with its chunk failed
    quarantined: Path | None = None  # reprocessing from quarantine: that copy is the file
    via: Step | None = None  # "staged": written with the next transition, one commit less
    delivery: Delivery | None = None
    checked: Checked | None = None
    split: SplitPlaces | None = None  # on_invalid: split: where split-out records were
    sent: list[SentInterchange] = field(default_factory=list)  # EDI its writer wrote
    followups: list[Followup] = field(default_factory=list)
    events: tuple[dict[str, object], ...] = ()  # event_outbox rows, recorded with it
    released: bool = False  # claimed but not started: handed back
    #: read with its chunk (``_read``): what checking learned so far, and its batches
    reading: Checked | None = None
    docs: Iterable[Document] | None = None
    #: its one batch and that batch's validation, done with the chunk's other small files
    validated: tuple[Document, ValidationResult] | None = None
    #: waits for another file of this chunk with the same interchange to be recorded
    deferred: bool = False
    result: FileResult | None = None  # the outcome, once there is one

    def discard(self) -> None:
        """Drop the snapshot (or a spool copy that a crashed worker left)."""
        if self.prepared is not None and self.prepared is not self.staged:
            self.prepared.discard()  # a steps: result (decrypted, unpacked)
        if self.staged is not None:
            self.staged.discard()
        else:
            with contextlib.suppress(FileNotFoundError):
                self.spool.unlink()

    def delivered_detail(self) -> str:
        assert self.delivery is not None and self.checked is not None
        detail = f"delivered {self.delivery.records} records to {self.delivery.target}"
        if self.checked.rejected_rows:
            detail += f"; {count(self.checked.rejected_rows)} invalid records split out"
        return detail

    def delivered_move(self) -> Move:
        assert self.delivery is not None and self.checked is not None
        detail = self.delivered_detail()
        notes = "; ".join(dict.fromkeys(self.checked.notes))
        controls = self.checked.controls()  # EDI: what came in, for the history
        return Move(self.record.id, (FileState.CLAIMED,), FileState.DELIVERED,
                    detail + (f"; {controls}" if controls else "")
                    + (f" (note: {notes})" if notes else ""), via=self.via,
                    fields={"outputs": [self.delivery.target], "message": detail,
                            "stage": None, "error_count": self.checked.error_count or None,
                            **_staged_fields(self.record)},
                    followups=tuple(self.followups), fence=self.record.fence)

    def outcome(self, outcome: Outcome, message: str) -> FileResult:
        record = self.record
        return FileResult(record.id, record.route, record.name, outcome, message)


class _Chunking:
    """How many listed files to claim at once (group commit).

    A chunk is claimed, processed and recorded together: for small files the ledger's
    transactions, not the work, would otherwise set the pace. The size doubles while a chunk
    twice as big would still finish within ``SECONDS`` and halves when one takes longer, so
    a slow target or big files never keep many files claimed and unstarted. (Growing only
    below a quarter of ``SECONDS`` kept chunks at a few files where each ledger round trip is
    slow, a busy PostgreSQL: its fixed cost per chunk then set the pace again.)
    """

    MAX_FILES = 128
    MAX_BYTES = 16 << 20
    SECONDS = 1.0

    def __init__(self) -> None:
        self.size = 1

    def take(self, waiting: collections.deque[FileRef]) -> list[FileRef]:
        chunk = [waiting.popleft()]
        total = chunk[0].size
        while waiting and len(chunk) < self.size and total + waiting[0].size <= self.MAX_BYTES:
            total += waiting[0].size
            chunk.append(waiting.popleft())
        return chunk

    def took(self, files: int, seconds: float) -> None:
        if seconds < self.SECONDS / 2 and files >= self.size:
            self.size = min(self.size * 2, self.MAX_FILES)
        elif seconds > self.SECONDS:
            self.size = max(self.size // 2, 1)


def _first_of_each_content(works: list[_Work]) -> tuple[list[_Work], list[_Work]]:
    """(the first file of each content, the later copies)."""
    seen: set[str | None] = set()
    first, later = [], []
    for work in works:
        (later if work.record.sha256 in seen else first).append(work)
        seen.add(work.record.sha256)
    return first, later


class Pipeline:
    """Takes chunks of one route's files through every stage, recording each step."""

    def __init__(self, project: Project, ledger: Ledger, *, stop: threading.Event | None = None):
        tune_for_batches()
        prefer_jemalloc()
        self.project = project
        self.stop = stop  # set by serve on SIGTERM: finish the file in hand, claim no more
        self.settings = project.settings
        self.ledger = ledger
        self.keys = Keys(ledger)
        self.incidents = Incidents(ledger)
        self.drift = Drift(ledger)  # routes with drift: warn|reject
        self.spool = self.settings.path(self.settings.folders.spool)
        self.quarantine_root = self.settings.path(self.settings.folders.quarantine)
        self.archive_root = self.settings.path(self.settings.folders.archive)
        self._chunking: dict[str, _Chunking] = {}  # chunk sizes learnt per route
        self.leases = LeaseKeeper(ledger)  # claims in hand are renewed while they are

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    # -- listed files -----------------------------------------------------------------------

    def take(self, route: RouteSpec, source: Source, target: Target, refs: list[FileRef], *,
             threads: int = 1) -> Iterator[FileResult]:
        """Claim, process and record the listed files chunk by chunk (see ``_Chunking``),
        with ``threads`` files at once. A stop request is honoured between chunks: the files
        in hand are finished."""
        waiting = collections.deque(refs)
        chunking = self._chunking.setdefault(route.name, _Chunking())
        pool = (ThreadPoolExecutor(threads, thread_name_prefix=route.name)
                if threads > 1 and len(refs) > 1 else None)
        try:
            while waiting and not self._stopping():
                chunk = chunking.take(waiting)
                started = time.monotonic()
                works, listed = [], {}
                for ref, claim in zip(chunk, self.ledger.claim_many(chunk), strict=True):
                    if isinstance(claim, Seen):
                        claim = self._seen_again(route, source, ref, claim.record)
                    if isinstance(claim, FileRecord):
                        works.append(self._work(claim))
                        listed[claim.id] = ref
                if works:
                    crash_point("claimed")
                yield from self._run(route, source, target, works, pool=pool)
                chunking.took(len(chunk), time.monotonic() - started)
                # a chunk that ran long handed files back: they come next in this poll (a run
                # --once must not leave them for tomorrow), in chunks of what did fit
                released = [listed[w.record.id] for w in works if w.released]
                if released:
                    waiting.extendleft(reversed(released))
                    chunking.size = max(1, len(works) - len(released))
        finally:
            if pool is not None:
                pool.shutdown()

    def _seen_again(self, route: RouteSpec, source: Source, ref: FileRef,
                    known: FileRecord) -> FileRecord | None:
        """A listed file with the identity (name, size, mtime) of a file already finished.

        With ``after: leave`` that is the file itself, left in place: it is taken again only
        if the source says it was rewritten (its change token differs) and its content did
        change. Otherwise the original should be gone, so it was sent again: it is a new file
        (the next generation of that identity), and a copy of delivered content is recorded
        as a duplicate like any other. Steps of the earlier file still open are finished by
        ``Finisher.recover`` first.
        """
        leave = route.source.after == "leave"
        if leave and (ref.token is None or ref.token == known.token):
            return None  # the very file, left in place: the usual case, decided cheaply
        # The listing may be older than the other worker's post-action, but the original was
        # moved or removed before its outcome was recorded: a file there now is a new one.
        # (Looked at first: a peer's file archived since this poll listed it is the usual
        # case with several workers, and needs no ledger query.)
        if not self._still_there(source, ref) or Followups(self.ledger).open_steps(known.id):
            return None
        # A peer may have archived it and closed its step between the two looks: the step
        # closes only after the original moved, so a file still there now is a new one.
        if not leave and not self._still_there(source, ref):
            return None
        if leave:
            try:
                staged = source.fetch(ref, self.spool / f"seen-{known.id}.staged")
            except TransientError:
                return None  # looked at again on the next poll
            staged.discard()
            if staged.sha256 == known.sha256:
                self.ledger.transition(known.id, known.state, known.state,
                                       "seen again: its metadata changed, its content did not",
                                       token=ref.token)
                return None
            why = "rewritten in place with new content"
        else:
            why = "sent again"
        return self.ledger.claim_generation(ref, known, why)

    @staticmethod
    def _still_there(source: Source, ref: FileRef) -> bool:
        """Whether the source still holds a file with the listed size and mtime."""
        current = source.stat(ref)
        return current is not None and current.kind == "file" \
            and (current.size, current.mtime_ns) == (ref.size, ref.mtime_ns)

    def take_listed(self, route: RouteSpec, source: Source,
                    refs: list[FileRef]) -> list[FileResult]:
        """Process files another process listed (a worker of ``WorkerPool``)."""
        with source, opened_target(route, self.settings) as target:
            return list(self.take(route, source, target, refs))

    def _work(self, record: FileRecord, quarantined: Path | None = None) -> _Work:
        """A claimed file, with the place of its copy in the spool (if it needs one)."""
        return _Work(record, self.spool / f"{record.id}.staged", quarantined=quarantined)

    # -- a chunk of claimed files -------------------------------------------------------------

    def process(self, route: RouteSpec, source: Source, record: FileRecord, *,
                target: Target, force: bool = False,
                quarantined: Path | None = None) -> FileResult:
        """Take one claimed file through every stage. Never raises for bad data or outages.

        ``quarantined`` is set when ops reprocess a file from quarantine: that copy is the
        file, and it stays there until it is delivered.
        """
        return self._run(route, source, target, [self._work(record, quarantined)],
                         force=force)[0]

    def _run(self, route: RouteSpec, source: Source, target: Target, works: list[_Work], *,
             force: bool = False, pool: ThreadPoolExecutor | None = None) -> list[FileResult]:
        with self.leases.holding(w.record for w in works):  # a long file keeps its claim
            return self._run_held(route, source, target, works, force=force, pool=pool)

    def _run_held(self, route: RouteSpec, source: Source, target: Target, works: list[_Work],
                  *, force: bool = False,
                  pool: ThreadPoolExecutor | None = None) -> list[FileResult]:
        """Stage, check and deliver each file, then record the deliveries of the chunk in one
        ledger transaction and finish them (archive the originals) in one more.

        A crash before a chunk's deliveries are recorded leaves its files claimed: they are
        taken over when the lease runs out and delivered again to the same output names.
        """
        def each(step: Callable[[_Work], None], items: list[_Work]) -> None:
            run = partial(self._attempt, route, source, step)
            list(pool.map(run, items) if pool is not None and len(items) > 1 else map(run, items))

        self.spool.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.ledger.lease.total_seconds() / 3
        self._fetch_together(source, works, deadline)
        each(partial(self._stage, route, source, deadline, works[0] if works else None), works)
        self._release([w for w in works if w.released])
        staged = [w for w in works if w.result is None and not w.released]
        while staged:
            # A content (or interchange) seen twice in one chunk: the second copy waits for
            # the first to be recorded, so that it is recognised as a duplicate.
            now, staged = _first_of_each_content(staged)
            if not force:
                self._take_keys(route, source, now, chunk={w.record.id for w in works})
            syncs = FolderSyncs()
            in_hand = {w.record.id for w in now}
            todo = [w for w in now if w.result is None]
            if route.format.type in TABULAR and not route.header and len(todo) > 1:
                each(partial(self._read, route), todo)
                _validate_together(route, [w for w in todo if w.result is None])
            each(partial(self._deliver, route, target, force, syncs, in_hand),
                 [w for w in now if w.result is None])
            self._record_deliveries(route, source, [w for w in now if w.result is None
                                                    and not w.deferred], syncs)
            deferred = [w for w in now if w.deferred]
            for work in deferred:
                work.deferred = False
            if deferred and len(deferred) == len(now):  # no progress: they wait on each other
                for work in deferred:
                    work.result = self._postpone(work, SameContentInProgress(
                        "an interchange", -1))
                deferred = []
            staged = deferred + staged
        return [w.result for w in works if w.result is not None]

    def _attempt(self, route: RouteSpec, source: Source, step: Callable[[_Work], None],
                 work: _Work) -> None:
        """Run one step for one file; its failure becomes the file's outcome, never an
        exception that stops the others."""
        if work.result is not None or work.released:
            return
        with bind(route=route.name, file=work.record.name, file_id=work.record.id):
            try:
                step(work)
            except RejectError as exc:
                work.result = self._reject(route, source, work, exc)
            except TransientError as exc:
                # an error that needs ops (a table missing a column) says so: alert
                work.result = self._postpone(work, exc, alert=getattr(exc, "alert", False))
            except ConfigError as exc:  # the file is fine; the settings are not: retried
                work.result = self._postpone(work, TransientError(
                    f"configuration problem: {exc}; fix it and the file is retried"))
            except Conflict as exc:
                log.warning("%s: %s", work.record.name, exc)
                work.result = work.outcome(Outcome.PENDING, str(exc))
            except Exception as exc:  # a bug: keep the file as not delivered and go on
                log.exception("internal error while processing %s (file %s)",
                              work.record.name, work.record.id)
                message = f"internal error ({type(exc).__name__}: {exc}); please report it"
                with contextlib.suppress(Exception):
                    self._postpone(work, TransientError(message))
                work.result = work.outcome(Outcome.FAILED, message)

    def _fetch_together(self, source: Source, works: list[_Work], deadline: float) -> None:
        """Snapshots of the chunk's files taken together where the source can (``fetch_all``);
        ``_stage`` fetches the rest one by one."""
        fetch_all = getattr(source, "fetch_all", None)
        todo = [w for w in works if w.quarantined is None]
        if fetch_all is None or len(todo) < 2:
            return
        try:
            fetched = fetch_all([(w.record.ref, w.spool) for w in todo], deadline=deadline)
        except TransientError:
            return  # each file meets the outage in ``_stage`` and is postponed there
        for work, result in zip(todo, fetched, strict=True):
            if isinstance(result, Exception):
                work.fetch_error = result
            elif result is not None:
                work.staged = result

    def _stage(self, route: RouteSpec, source: Source, deadline: float, first: _Work | None,
               work: _Work) -> None:
        """Take the file's snapshot (its sha256 on the way) and check its size and name."""
        if work.fetch_error is not None:
            raise work.fetch_error
        if work.staged is None:
            if work is not first and time.monotonic() > deadline:
                # a slow chunk gives the rest back before the lease runs out; its first file
                # is always taken, so that every chunk makes progress
                work.released = True
                return
            work.staged = source.fetch(work.record.ref, work.spool)
        staged = work.staged
        assert staged.sha256 is not None
        work.record = replace(work.record, sha256=staged.sha256, mapping_version=route.version,
                              path=str(staged.path) if staged.path else None)
        work.via = Step(FileState.STAGED, f"staged, sha256 {staged.sha256[:12]}", utcnow())
        crash_point("staged")
        check_partner_name(work.record.name, work.record.raw_name)
        size = staged.size
        if size == 0:
            raise EmptyFile()
        max_size = route.source.max_size
        if max_size and size > max_size:
            raise MalformedInput(f"the file is {size} bytes, more than the route's max_size"
                                 f" of {max_size}", rule="max_size")

    def _take_keys(self, route: RouteSpec, source: Source, works: list[_Work], *,
                   chunk: set[int]) -> None:
        """Own each file's content key before delivering (one transaction for the chunk); a
        file whose content another file delivered is a duplicate. A copy whose content
        another process is delivering right now waits for that outcome, then looks again."""
        todo = [w for w in works if w.result is None]
        if not todo:
            return
        refusals = self.keys.take_contents([w.record for w in todo])
        waiting = {i: r.owner for i, r in enumerate(refusals)
                   if isinstance(r, SameContentInProgress) and r.owner not in chunk}
        if waiting:
            self.keys.wait_for(set(waiting.values()))
            again = self.keys.take_contents([todo[i].record for i in waiting])
            for i, refused in zip(waiting, again, strict=True):
                refusals[i] = refused
        for work, refused in zip(todo, refusals, strict=True):
            if refused is not None:
                self._attempt(route, source, partial(_raise, refused), work)

    def _read(self, route: RouteSpec, work: _Work, *, whole: bool = True) -> None:
        """Prepare the file (the route's steps), look for drift, check it against the route's
        schemas and open its batches, kept on ``work`` for ``_deliver``. A small tabular file
        read with its chunk is read whole now (its read errors are its own, raised here), so
        that ``_validate_together`` can validate it with the others (``whole``)."""
        record = work.record
        assert work.staged is not None
        checked = Checked(keep_sources=route.on_invalid == "split"
                          and TARGETS.of(route.target).partial_rejects)
        staged = work.prepared = prepared_input(route, work.staged, work.spool, self.settings)
        drifted = self.drift.check(route, staged, record.id)  # before any record
        if drifted:
            checked.note([drifted])
        docs = reader_for(route).read(staged, route)
        docs = against_schemas(docs, staged, route, checked, root=self.settings.root,
                               limit=self.settings.max_reason_errors)  # before any mapping
        if whole and route.format.type in TABULAR and staged.size <= TOGETHER_BYTES:
            docs = list(docs)
        work.reading, work.docs = checked, docs

    def _deliver(self, route: RouteSpec, target: Target, force: bool, syncs: FolderSyncs,
                 in_hand: set[int], work: _Work) -> None:
        """Read (unless read with its chunk), check, transform and deliver; the ledger hears
        of it in ``_record_deliveries``."""
        record = work.record
        assert record.sha256 and work.staged is not None
        if work.reading is None:  # read now, batch by batch as the target takes them
            self._read(route, work, whole=False)
        assert work.reading is not None and work.docs is not None and work.prepared is not None
        # taken off ``work``: a file read again (deferred) is read anew
        checked, docs, validated = work.reading, work.docs, work.validated
        work.reading, work.docs, work.validated = None, None, None
        ctx = DeliveryContext(file_id=record.id, route=route.name, original_name=record.name,
                              sha256=record.sha256, received_at=record.received_at,
                              attempt=record.attempt, ledger=self.ledger, syncs=syncs)
        split = SplitPlaces(lambda: checked.issues) if route.on_invalid == "split" else None
        batches = checked_batches(
            split.inputs(docs) if split else docs, route, checked,
            limit=self.settings.max_reason_errors,
            on_interchange=None if force else partial(self._take_interchange, record,
                                                      in_hand),
            validated=None if validated is None else partial(_validated_as, *validated))
        if split is not None:
            batches = split.outputs(batches)
        if work.prepared.size > READ_AHEAD_FROM:
            batches = one_ahead(batches)
        partner = self.project.partners.get(route.partner) if route.partner else None
        if route.partner and partner is None:  # never a digest where numbers are expected
            raise ConfigError(f"{route.name}: partner {route.partner!r} is not loaded")
        try:
            # sequences.py, preparation.py: a retry writes the same numbers and date
            with numbering(self.ledger, record.id, route.name, partner), \
                    preparing(record.received_at), collecting() as work.sent:
                # a claim lost meanwhile stops the target before its commit step
                delivery = target.deliver(self.leases.guarded(record, batches), ctx)
        except RecordsRejected as exc:  # split: the receiver refused some records, took the rest
            delivery = exc.delivery
            checked.refused_by_target(exc)
        except SameContentInProgress as exc:
            if exc.owner not in in_hand:
                raise
            work.deferred = True  # read again once the owner's outcome is recorded
            return
        work.delivery, work.checked, work.split = delivery, checked, split

    def _take_interchange(self, record: FileRecord, in_hand: set[int],
                          key: tuple[str, str, str]) -> None:
        try:
            self.keys.take_interchange(record, key, window=INTERCHANGE_WINDOW)
        except SameContentInProgress as exc:
            if exc.owner in in_hand:
                raise  # a file of this chunk: ``_deliver`` reads this one again after it
            self.keys.wait_for({exc.owner})  # another process's: wait for its outcome
            self.keys.take_interchange(record, key, window=INTERCHANGE_WINDOW)

    def _record_deliveries(self, route: RouteSpec, source: Source, works: list[_Work],
                           syncs: FolderSyncs) -> None:
        """Once the outputs are durable: one transaction records the chunk's deliveries with
        their follow-up steps; then the steps are taken (``finishing``)."""
        if not works:
            return
        try:
            syncs.flush()
        except OSError as exc:  # the disk failed us: nothing is recorded, all are retried
            for work in works:
                work.result = self._postpone(work, TargetUnavailable(
                    f"the output could not be made durable: {exc.strerror or exc}"))
            return
        for work in works:
            self._attempt(route, source, partial(self._plan_followups, route), work)
        planned = [w for w in works if w.result is None]
        crash_point("output-written")
        recorded = self.ledger.apply([replace(w.delivered_move(), events=w.events)
                                      for w in planned])
        crash_point("delivered-committed")
        done: list[_Work] = []
        for work, outcome in zip(planned, recorded, strict=True):
            if isinstance(outcome, TradelaneError):  # another worker moved the file first
                log.warning("%s: %s", work.record.name, outcome)
                work.result = work.outcome(Outcome.PENDING, str(outcome))
                continue
            work.record = outcome
            done.append(work)
        unfinished = self._finish(source, done)
        for work in done:
            assert work.delivery is not None and work.checked is not None
            log.info("delivered %s: %d records -> %s", work.record.name, work.delivery.records,
                     work.delivery.target)
            detail, outcome = work.delivered_detail(), Outcome.DELIVERED
            if work.record.id in unfinished:  # delivered, but not finished: another pass
                outcome = Outcome.PENDING
                detail += (f"; not finished: {unfinished[work.record.id]} (tried again on the"
                           " next poll)")
            split = count(work.checked.rejected_rows) if work.checked.rejected_rows else 0
            work.result = FileResult(work.record.id, route.name, work.record.name, outcome,
                                     detail, [work.delivery.target], work.delivery.records,
                                     split_out=split)

    def _plan_followups(self, route: RouteSpec, work: _Work) -> None:
        """The steps a delivered file still needs, prepared before the delivery is recorded:
        split-out rejects are written (durably, at a name derived from the file) now, their
        registration, the acknowledgements and the post-action are recorded with it."""
        checked, record = work.checked, work.record
        assert checked is not None and work.staged is not None
        if checked.rejected_rows:
            try:
                work.followups.append(self._write_split(route, record, checked, work.split))
            except OSError as exc:
                raise TargetUnavailable(f"the records split out cannot be written to"
                                        f" quarantine: {exc.strerror or exc}") from exc
        read = work.prepared or work.staged  # acks answer what was read
        work.followups.extend(self._acks(route, record, read,
                                         rejected=checked.rejected_rows))
        work.followups.extend(tracking_steps(route, read, work.delivery, written=work.sent))
        work.followups.extend(self.original_steps(record, work.quarantined))
        again = work.quarantined is not None or bool(
            record.path and is_inside(Path(record.path), self.quarantine_root))
        assert work.delivery is not None
        work.events = event_rows(
            route.events or self.settings.events, route=route.name, file_id=record.id,
            name=record.name, outcome="reprocessed" if again else "delivered",
            records=work.delivery.records, outputs=[work.delivery.target],
            message=work.delivered_detail(),
            split_out=count(checked.rejected_rows) if checked.rejected_rows else 0)

    def original_steps(self, record: FileRecord,
                       quarantined: Path | None = None) -> list[Followup]:
        """What happens to a delivered file's original: the route's post-action, or for a
        reprocessed quarantine copy, its release to the archive."""
        archive = self.archive_root / record.route / record.received_at.strftime("%Y-%m-%d")
        if quarantined is not None or (record.path and is_inside(Path(record.path),
                                                                 self.quarantine_root)):
            return [Followup("release", {"from": str(quarantined or record.path),
                                         "archive_dir": str(archive)})]
        if record.parent_id is not None:
            return []
        return [Followup("original", {
            "archive_to": str(archive / f"{record.id}-{safe_component(record.name)}")})]

    def _finish(self, source: Source, works: list[_Work]) -> dict[int, str]:
        """Take the recorded follow-up steps of ``works`` now, while their snapshots are in
        hand. A step that fails stays recorded for the next poll: file id -> why."""
        if not works:
            return {}
        steps = Followups(self.ledger).open_steps_of([w.record.id for w in works])
        finished = Finisher(self.ledger, source).finish(
            [Finishing(w.record, steps.get(w.record.id, []), w.staged) for w in works])
        for work in works:
            work.discard()
        return {f.record.id: f.failed for f in finished if f.failed is not None}

    def _release(self, works: list[_Work]) -> None:
        """Claimed files not started because the chunk ran long: back to discovered, for the
        next poll or another worker."""
        if works:
            self.ledger.apply([Move(w.record.id, (FileState.CLAIMED,), FileState.DISCOVERED,
                                    "not started; left for the next poll",
                                    fence=w.record.fence) for w in works])

    # -- outcomes ---------------------------------------------------------------------------

    def _reject(self, route: RouteSpec, source: Source, work: _Work,
                error: RejectError) -> FileResult:
        record, staged, quarantined = work.record, work.staged, work.quarantined
        dest = quarantined or quarantine_path(self.quarantine_root, record)
        reason = build_reason(record, error, mapping_version=route.version,
                              max_errors=self.settings.max_reason_errors)
        try:
            if quarantined is None and staged is not None:
                quarantine(staged, dest, reason)
            else:  # reprocessed from quarantine (the copy there stays), or nothing to copy
                _write_json(reason_path(dest), reason)
        except OSError as exc:
            return self._postpone(work, TargetUnavailable(
                f"the quarantine folder cannot be written ({exc.strerror or exc}); the file is"
                " quarantined once it can"), alert=True)
        crash_point("quarantine-written")
        to = FileState.DUPLICATE if isinstance(error, DuplicateFile) else FileState.QUARANTINED
        steps: list[Followup] = []
        if staged is not None or dest.exists():
            steps.extend(self._acks(route, record, staged or Staged.file(dest), error=error))
        if quarantined is None and record.parent_id is None:
            steps.append(Followup("reject_original", {}))
        work.discard()
        recorded = self._apply_quarantined(route, record, [Move(
            record.id, (FileState.CLAIMED,), to, error.message, via=work.via,
            fields={"stage": error.stage, "message": error.message,
                    "error_count": error.error_count, **_staged_fields(record),
                    "path": str(dest)},
            followups=tuple(steps), fence=record.fence)])[0]
        if isinstance(recorded, TradelaneError):
            raise recorded
        crash_point("quarantined-committed")
        log.warning("quarantined %s (%s): %s -> %s", record.name, error.stage, error.message,
                    dest)
        self._finish(source, [replace(work, record=recorded, staged=None)])
        outcome = Outcome.DUPLICATE if to == FileState.DUPLICATE else Outcome.QUARANTINED
        return work.outcome(outcome, error.message)

    def _apply_quarantined(self, route: RouteSpec, record: FileRecord,
                           moves: list[Move]) -> list[FileRecord | TradelaneError]:
        """Record a quarantine with the event about it (a duplicate publishes none)."""
        spec = route.events or self.settings.events
        return list(self.ledger.apply([replace(m, events=event_rows(
            spec, route=route.name, file_id=record.id, name=record.name,
            outcome="quarantined", message=m.detail)) if m.to == FileState.QUARANTINED else m
            for m in moves]))

    def _acks(self, route: RouteSpec, record: FileRecord, staged: Staged, *,
              error: RejectError | None = None,
              rejected: list[object] | None = None) -> list[Followup]:
        """CONTRL / 997 where the route asks for them, as steps to record."""
        ack = getattr(route.format, "ack", None)
        if ack is None:
            return []
        folder = self.settings.path(ack.folder)
        return [Followup("ack", {"path": str(folder / name)}, data)
                for name, data in build_acks(route, staged, record.id, error=error,
                                             rejected=rejected or ())]

    def _postpone(self, work: _Work, error: TransientError, *, alert: bool = False) -> FileResult:
        record = work.record
        wait = min(self.settings.retry_backoff * (2 ** max(0, record.attempt - 1)),
                   self.settings.retry_max_backoff) if error.backoff else timedelta(0)
        if error.retry_after:  # e.g. an HTTP Retry-After
            wait = max(wait, timedelta(seconds=error.retry_after))
        work.discard()
        self.ledger.transition(
            record.id, FileState.CLAIMED, FileState.PENDING,
            f"temporary failure, will retry: {error}", via=work.via, message=str(error),
            fence=record.fence,
            next_attempt_at=utcnow() + wait,
            **{**_staged_fields(record),
               "path": str(work.quarantined) if work.quarantined else None})
        log.warning("%s stays pending: %s (retry in %s)", record.name, error, wait)
        if alert and self.incidents.open(f"pending:{record.id}", "pending",
                                         f"{record.name} (file {record.id}): {error}",
                                         route=record.route, file_id=record.id):
            log.error("ALERT %s (file %s): %s", record.name, record.id, error)
        return work.outcome(Outcome.PENDING, str(error))

    def _write_split(self, route: RouteSpec, parent: FileRecord, checked: Checked,
                     places: SplitPlaces | None = None) -> Followup:
        """Write the rejects split out of ``parent`` into quarantine, at a name derived from
        the parent (a retry writes the same file), and the step that registers them."""
        data = subset_bytes(route, checked.rejected_rows)
        stem, suffix = Path(safe_component(parent.name)).stem, Path(parent.name).suffix
        name = f"{stem}.rejected{suffix}"
        dest = quarantine_path(self.quarantine_root, parent, name=f"{parent.id}-split-{name}")
        error = InvalidRecords(checked.issues, error_count=checked.error_count,
                               stage=checked.stage)
        child = replace(parent, id=0, name=name, size=len(data), parent_id=parent.id,
                        sha256=hashlib.sha256(data).hexdigest(), attempt=1)
        reason = build_reason(child, error, mapping_version=route.version,
                              max_errors=self.settings.max_reason_errors)
        reason["split_from"] = parent.id
        if places is not None and places.relocate(route, data, reason["errors"]):
            reason["locations"] = (f"in this file; original_location: in {parent.name}"
                                   f" (file {parent.id})")
        with atomic_writer(dest) as fh:
            fh.write(data)
        return Followup("split", {
            "name": name, "size": len(data), "sha256": child.sha256, "path": str(dest),
            "records": count(checked.rejected_rows), "error_count": checked.error_count,
            "stage": checked.stage, "message": error.message,
            "mapping_version": route.version}, json.dumps(reason, ensure_ascii=False).encode())



def _raise(error: BaseException, work: _Work) -> None:
    raise error


def _validate_together(route: RouteSpec, works: list[_Work]) -> None:
    """Validate the small files of a chunk in one table, then hand each file whose records
    all passed its own slice of the typed table (``_Work.validated``).

    Validation is row by row (types, patterns, enums, bounds), so a file's slice of the
    chunk's result is what validating it alone gives. A file with any problem is left to be
    validated alone in ``checked_batches``, so its reason file lists its own first problems
    at its own lines, with the true count, exactly as when it comes alone. Files are
    grouped by their records' schema: one with other column types is validated apart.
    """
    groups: dict[pa.Schema, list[tuple[_Work, Document]]] = {}
    for work in works:
        if not isinstance(work.docs, list) or len(work.docs) != 1:
            continue  # a bigger file, read batch by batch
        doc = work.docs[0]
        if doc.failed or doc.interchange or doc.units is not None:
            continue
        groups.setdefault(doc.records.schema, []).append((work, doc))
    for group in groups.values():
        if len(group) < 2:
            continue
        table = pa.concat_tables([doc.records for _, doc in group])
        try:
            # limit 0: no issue is built, the bad files are validated again alone
            checked = validate(Document(header={}, records=table), route, limit=0)
        except Exception:  # e.g. a missing code list: each file meets it alone, as its own
            log.debug("validating %d files together failed; each is validated alone",
                      len(group), exc_info=True)
            continue
        typed, start = checked.document.records, 0
        for work, doc in group:
            rows = doc.records.num_rows
            if not checked.invalid[start:start + rows].any():
                work.validated = (doc, ValidationResult(
                    document=doc.with_records(typed.slice(start, rows), header=dict(doc.header)),
                    issues=[], error_count=0, invalid=np.zeros(rows, dtype=bool)))
            start += rows


def _validated_as(doc: Document, result: ValidationResult,
                  batch: Document) -> ValidationResult | None:
    """``result`` for ``doc``, validated with its chunk; None for another batch."""
    return result if batch is doc else None


def _write_json(path: Path, data: dict[str, object]) -> None:
    with atomic_writer(path) as fh:
        fh.write(json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))


def _staged_fields(record: FileRecord) -> dict[str, object]:
    """What staging learned about the file, written with the next transition."""
    return {"sha256": record.sha256, "mapping_version": record.mapping_version,
            "path": record.path}

