"""The flow of one file, and of one pass over every route. The only place that catches
``RejectError`` and ``TransientError``.

::

    source.list_ready -> ledger.claim -> stage (spool + sha256) -> read
      -> checking (validate, transform, on_invalid) -> target.deliver
      -> ledger: delivered -> post-action -> ledger: archived
    RejectError    -> quarantine/<route>/<day>/<id>-<name> + reason file, ledger: quarantined
    TransientError -> ledger: pending, retried later with backoff (never quarantined)

The original is touched only after the ledger says delivered (or quarantined, once its copy
sits in quarantine). A crash anywhere leads to a retry, and retries are idempotent: output
names are deterministic and writes atomic.

Listed files go through this in chunks (``_Chunking``): a chunk is claimed in one ledger
transaction, its deliveries recorded in one, its archiving in one, so that many small files
are not paced by commits. A route with ``workers: N`` shares big polls with N - 1 worker
processes (``processes.WorkerPool``), smaller ones with N threads.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from pathlib import Path

from tradelane.abc import DeliveryContext, Source, Target
from tradelane.acks import write_acks
from tradelane.checking import Checked, checked_batches, one_ahead
from tradelane.crashpoints import crash_point
from tradelane.errors import (
    ConfigError,
    Conflict,
    DuplicateFile,
    EmptyFile,
    InvalidRecords,
    MalformedInput,
    RecordsRejected,
    RejectError,
    SourceUnavailable,
    TradelaneError,
    TransientError,
)
from tradelane.formats import reader_for
from tradelane.formats.split import subset_bytes
from tradelane.ledger import FileRecord, Ledger, Move, Step, utcnow
from tradelane.logs import bind
from tradelane.models import Delivery, FileRef, FileResult, FileState, Outcome, RunSummary
from tradelane.paths import (
    FolderSyncs,
    atomic_writer,
    check_partner_name,
    is_inside,
    safe_component,
)
from tradelane.processes import WorkerPool
from tradelane.quarantine import (
    build_reason,
    quarantine,
    quarantine_path,
    release,
    write_reason,
)
from tradelane.registry import SOURCES
from tradelane.sources import source_for
from tradelane.sources.quarantined import QuarantinedCopy
from tradelane.spec import Project, RouteSpec
from tradelane.staging import Staged
from tradelane.targets import target_for

log = logging.getLogger("tradelane")

#: How long an interchange control reference is remembered for duplicate checks.
INTERCHANGE_WINDOW = timedelta(days=365)
#: A route with ``workers: N`` spreads a poll over N processes from this many files on;
#: smaller polls use N threads, which start at once.
PROCESSES_FROM = 64
#: Files bigger than this (several reader batches) are read and checked a batch ahead of the
#: target, in a helper thread (see ``checking.one_ahead``).
READ_AHEAD_FROM = 8 << 20


@dataclass
class _Work:
    """One claimed file on its way through a chunk."""

    record: FileRecord
    spool: Path  # where its copy goes if it is too big to hold in memory
    staged: Staged | None = None  # its snapshot, once fetched
    quarantined: Path | None = None  # reprocessing from quarantine: that copy is the file
    via: Step | None = None  # "staged": written with the next transition, one commit less
    delivery: Delivery | None = None
    checked: Checked | None = None
    released: bool = False  # claimed but not started: handed back
    result: FileResult | None = None  # the outcome, once there is one

    def discard(self) -> None:
        """Drop the snapshot (or a spool copy that a crashed worker left)."""
        if self.staged is not None:
            self.staged.discard()
        else:
            with contextlib.suppress(FileNotFoundError):
                self.spool.unlink()

    def delivered_detail(self) -> str:
        assert self.delivery is not None and self.checked is not None
        detail = f"delivered {self.delivery.records} records to {self.delivery.target}"
        if self.checked.rejected_rows:
            detail += f"; {self.checked.error_count} invalid records split out"
        return detail

    def delivered_move(self) -> Move:
        assert self.delivery is not None and self.checked is not None
        detail = self.delivered_detail()
        notes = "; ".join(dict.fromkeys(self.checked.notes))
        return Move(self.record.id, (FileState.CLAIMED,), FileState.DELIVERED,
                    detail + (f" (note: {notes})" if notes else ""), via=self.via,
                    fields={"outputs": [self.delivery.target], "message": detail,
                            "stage": None, "error_count": self.checked.error_count or None,
                            **_staged_fields(self.record)})


class _Chunking:
    """How many listed files to claim at once (group commit).

    A chunk is claimed, processed and recorded together: for small files the ledger's
    transactions, not the work, would otherwise set the pace. The size doubles while chunks
    finish in well under ``SECONDS`` and halves when they take longer, so a slow target or
    big files never keep many files claimed and unstarted.
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
        if seconds < self.SECONDS / 4 and files >= self.size:
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
    """Processes files for the routes of a project, recording every step in the ledger."""

    def __init__(self, project: Project, ledger: Ledger, *, stop: threading.Event | None = None):
        self.project = project
        self.stop = stop  # set by serve on SIGTERM: finish the file in hand, claim no more
        self.settings = project.settings
        self.ledger = ledger
        self.spool = self.settings.path(self.settings.folders.spool)
        self.quarantine_root = self.settings.path(self.settings.folders.quarantine)
        self.archive_root = self.settings.path(self.settings.folders.archive)
        # One source per route for the pipeline's life: readiness ("stable") compares a
        # listing with the previous one.
        self._sources: dict[str, Source] = {}
        self._chunking: dict[str, _Chunking] = {}  # chunk sizes learnt per route
        self._workers: dict[str, WorkerPool] = {}  # processes of routes with workers > 1

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        for pool in self._workers.values():
            pool.close()
        self._workers.clear()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def source(self, route: RouteSpec) -> Source:
        if route.name not in self._sources:
            self._sources[route.name] = source_for(route, self.settings)
        return self._sources[route.name]

    # -- a pass over routes ------------------------------------------------------------------

    def run_once(self, routes: list[str] | None = None,
                 on_file: Callable[[FileResult], None] | None = None,
                 on_listed: Callable[[str, int], None] | None = None) -> RunSummary:
        summary = RunSummary()
        for name in routes or sorted(self.project.routes):
            route = self.project.route(name)
            run_id = self.ledger.start_run(name)
            before = len(summary.results)
            error = None
            try:
                self.poll(route, summary, on_file=on_file, on_listed=on_listed)
            except TransientError as exc:
                error = str(exc)
                summary.source_errors[name] = error
                log.warning("route %s: source unavailable: %s", name, error)
            except ConfigError as exc:  # found only when connecting: say so, go on with the rest
                error = f"configuration problem: {exc}"
                summary.config_errors[name] = error
                log.error("route %s: %s", name, error)
            mine = summary.results[before:]
            self.ledger.finish_run(
                run_id, error=error,
                delivered=sum(r.outcome == Outcome.DELIVERED for r in mine),
                quarantined=sum(r.outcome in (Outcome.QUARANTINED, Outcome.DUPLICATE)
                                for r in mine),
                pending=sum(r.outcome == Outcome.PENDING for r in mine))
        for result in self.retry_reprocessing(routes):
            summary.results.append(result)
            if on_file:
                on_file(result)
        return summary

    def poll(self, route: RouteSpec, summary: RunSummary,
             on_file: Callable[[FileResult], None] | None = None,
             on_listed: Callable[[str, int], None] | None = None) -> None:
        first_listing = route.name not in self._sources
        source = self.source(route)
        with source, _closing(target_for(route, self.settings)) as target:
            refs = source.list_ready()
            if first_listing and route.source.stable and self._settle(route):
                refs = source.list_ready()
            if on_listed:
                on_listed(route.name, len(refs))
            if route.workers > 1 and len(refs) >= PROCESSES_FROM:
                here = partial(self._take_all, route, source, target)
                results = self._worker_pool(route).take(route, refs, here, self.stop)
            else:
                results = self._take_all(route, source, target, refs, threads=route.workers)
            for result in results:
                summary.results.append(result)
                if on_file:
                    on_file(result)

    def take(self, route: RouteSpec, refs: list[FileRef]) -> list[FileResult]:
        """Process files another process listed (a worker of ``WorkerPool``)."""
        source = self.source(route)
        with source, _closing(target_for(route, self.settings)) as target:
            return list(self._take_all(route, source, target, refs))

    def _worker_pool(self, route: RouteSpec) -> WorkerPool:
        pool = self._workers.get(route.name)
        if pool is not None and pool.broken:
            pool.close()
            pool = None
        if pool is None:
            url = self.ledger.engine.url.render_as_string(hide_password=False)
            pool = WorkerPool(self.settings.root.resolve(), url, self.ledger.worker,
                              route.workers - 1)  # this process is the Nth worker
            self._workers[route.name] = pool
        return pool

    def _settle(self, route: RouteSpec) -> bool:
        """Wait min_age before a second listing: a file is stable once two listings agree.

        Without it, a stable route would take nothing on its first (or only, with --once) run.
        Returns False if asked to stop while waiting.
        """
        wait = route.source.min_age.total_seconds()
        if self.stop is None:
            time.sleep(wait)
            return True
        return not self.stop.wait(wait)

    def _work(self, record: FileRecord, quarantined: Path | None = None) -> _Work:
        """A claimed file, with the place of its copy in the spool (if it needs one)."""
        return _Work(record, self.spool / f"{record.id}.staged", quarantined=quarantined)

    def _stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def _take_all(self, route: RouteSpec, source: Source, target: Target,
                  refs: list[FileRef], *, threads: int = 1) -> Iterator[FileResult]:
        """Claim, process and record the listed files chunk by chunk (see ``_Chunking``),
        with ``threads`` files at once (one per process when processes share the work).

        A stop request is honoured between chunks: the files in hand are finished.
        """
        waiting = collections.deque(refs)
        chunking = self._chunking.setdefault(route.name, _Chunking())
        pool = (ThreadPoolExecutor(threads, thread_name_prefix=route.name)
                if threads > 1 and len(refs) > 1 else None)
        try:
            while waiting and not self._stopping():
                chunk = chunking.take(waiting)
                started = time.monotonic()
                works = []
                for ref, record in zip(chunk, self.ledger.claim_many(chunk), strict=True):
                    if record is None:
                        self._finish_leftover(route, source, ref)
                    else:
                        works.append(self._work(record))
                if works:
                    crash_point("claimed")
                yield from self._run(route, source, target, works, pool=pool)
                chunking.took(len(chunk), time.monotonic() - started)
        finally:
            if pool is not None:
                pool.shutdown()

    # -- a chunk of claimed files -------------------------------------------------------------

    def process(self, route: RouteSpec, source: Source, record: FileRecord, *,
                target: Target | None = None, force: bool = False,
                quarantined: Path | None = None) -> FileResult:
        """Take one claimed file through every stage. Never raises for bad data or outages.

        ``quarantined`` is set when ops reprocess a file from quarantine: that copy is the
        file, and it stays there until it is delivered.
        """
        work = self._work(record, quarantined)
        results = self._run(route, source, target or target_for(route, self.settings), [work],
                            force=force)
        return results[0]

    def _run(self, route: RouteSpec, source: Source, target: Target, works: list[_Work], *,
             force: bool = False, pool: ThreadPoolExecutor | None = None) -> list[FileResult]:
        """Stage, check and deliver each file, then record the deliveries of the chunk in one
        ledger transaction, archive the originals, and record that in one more.

        A crash before a chunk's deliveries are recorded leaves its files claimed: they are
        taken over when the lease runs out and delivered again to the same output names.
        """
        def each(step: Callable[[_Work], None], items: list[_Work]) -> None:
            run = partial(self._attempt, route, source, step)
            list(pool.map(run, items) if pool is not None and len(items) > 1 else map(run, items))

        self.spool.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.ledger.lease.total_seconds() / 3
        each(partial(self._stage, route, source, deadline), works)
        self._release([w for w in works if w.released])
        staged = [w for w in works if w.result is None and not w.released]
        while staged:
            # A content seen twice in one chunk: the second copy waits for the first to be
            # recorded, so that it is recognised as a duplicate.
            now, staged = _first_of_each_content(staged)
            twins = {} if force else self.ledger.delivered_twins(
                route.name, [w.record.sha256 for w in now if w.record.sha256])
            syncs = FolderSyncs()
            each(partial(self._deliver, route, target, twins, force, syncs), now)
            self._record_deliveries(route, source, [w for w in now if w.result is None], syncs)
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
                work.result = self._postpone(work, exc)
            except ConfigError as exc:  # the file is fine; the settings are not: retried
                work.result = self._postpone(work, TransientError(
                    f"configuration problem: {exc}; fix it and the file is retried"))
            except Conflict as exc:
                log.warning("%s: %s", work.record.name, exc)
                work.result = FileResult(work.record.id, route.name, work.record.name,
                                         Outcome.PENDING, str(exc))
            except Exception as exc:  # a bug: keep the file as not delivered and go on
                log.exception("internal error while processing %s (file %s)",
                              work.record.name, work.record.id)
                message = f"internal error ({type(exc).__name__}: {exc}); please report it"
                with contextlib.suppress(Exception):
                    self._postpone(work, TransientError(message))
                work.result = FileResult(work.record.id, route.name, work.record.name,
                                         Outcome.FAILED, message)

    def _stage(self, route: RouteSpec, source: Source, deadline: float, work: _Work) -> None:
        """Take the file's snapshot (its sha256 on the way) and check its size and name."""
        if time.monotonic() > deadline:
            work.released = True  # a slow chunk: give the rest back before the lease runs out
            return
        staged = work.staged = source.fetch(work.record.ref, work.spool)
        assert staged.sha256 is not None
        work.record = replace(work.record, sha256=staged.sha256, mapping_version=route.version,
                              path=str(staged.path) if staged.path else None)
        work.via = Step(FileState.STAGED, f"staged, sha256 {staged.sha256[:12]}", utcnow())
        crash_point("staged")
        check_partner_name(work.record.name)
        size = staged.size
        if size == 0:
            raise EmptyFile()
        max_size = route.source.max_size
        if max_size and size > max_size:
            raise MalformedInput(f"the file is {size} bytes, more than the route's max_size"
                                 f" of {max_size}", rule="max_size")

    def _deliver(self, route: RouteSpec, target: Target, twins: dict[str, FileRecord],
                 force: bool, syncs: FolderSyncs, work: _Work) -> None:
        """Read, check, transform and deliver; the ledger hears of it in ``_record_deliveries``."""
        record = work.record
        assert record.sha256 and work.staged is not None
        twin = twins.get(record.sha256)  # delivered files only: never this one, in hand
        if twin is not None:
            raise DuplicateFile(
                f"the same content was already delivered as file {twin.id} "
                f"({twin.name}, received {twin.received_at:%Y-%m-%d %H:%M} UTC)",
                original_id=twin.id)
        checked = Checked(keep_sources=route.on_invalid == "split"
                           and getattr(target, "partial_rejects", False))
        ctx = DeliveryContext(file_id=record.id, route=route.name, original_name=record.name,
                              sha256=record.sha256, received_at=record.received_at,
                              attempt=record.attempt, ledger=self.ledger, syncs=syncs)
        batches = checked_batches(
            reader_for(route).read(work.staged, route), route, checked,
            limit=self.settings.max_reason_errors,
            on_interchange=None if force else partial(self._check_interchange, route, record))
        if work.staged.size > READ_AHEAD_FROM:
            batches = one_ahead(batches)
        try:
            delivery = target.deliver(batches, ctx)
        except RecordsRejected as exc:  # split: the receiver refused some records, took the rest
            delivery = exc.delivery
            checked.refused_by_target(exc)
        work.delivery, work.checked = delivery, checked

    def _record_deliveries(self, route: RouteSpec, source: Source, works: list[_Work],
                           syncs: FolderSyncs) -> None:
        """One transaction for the deliveries, once the outputs are durable; then rejects
        split out, acknowledgements and the originals; then one transaction for archiving."""
        if not works:
            return
        try:
            syncs.flush()
        except OSError as exc:  # the disk failed us: nothing is recorded, all are retried
            for work in works:
                work.result = self._postpone(work, TransientError(
                    f"the output could not be made durable: {exc.strerror or exc}"))
            return
        crash_point("output-written")
        recorded = self.ledger.apply([w.delivered_move() for w in works])
        crash_point("delivered-committed")
        finished: list[_Work] = []
        for work, outcome in zip(works, recorded, strict=True):
            if isinstance(outcome, TradelaneError):  # another worker moved the file first
                log.warning("%s: %s", work.record.name, outcome)
                work.result = FileResult(work.record.id, route.name, work.record.name,
                                         Outcome.PENDING, str(outcome))
                continue
            work.record = outcome
            assert work.checked is not None
            with bind(route=route.name, file=work.record.name, file_id=work.record.id):
                try:
                    if work.checked.rejected_rows:
                        self._quarantine_split(route, work.record, work.checked)
                        crash_point("split-written")
                    assert work.staged is not None
                    self._acknowledge(route, work.record, work.staged,
                                      rejected=work.checked.rejected_rows)
                    finished.append(work)
                except Exception as exc:  # a bug: the file is delivered, say what failed
                    log.exception("internal error after delivering %s", work.record.name)
                    work.result = FileResult(
                        work.record.id, route.name, work.record.name, Outcome.FAILED,
                        f"delivered, then internal error ({type(exc).__name__}: {exc})")
        self._finish_originals(route, source, finished)
        for work in finished:
            assert work.delivery is not None and work.checked is not None
            log.info("delivered %s: %d records -> %s", work.record.name, work.delivery.records,
                     work.delivery.target)
            work.result = FileResult(work.record.id, route.name, work.record.name,
                                     Outcome.DELIVERED, work.delivered_detail(),
                                     [work.delivery.target], work.delivery.records)

    def _release(self, works: list[_Work]) -> None:
        """Claimed files not started because the chunk ran long: back to discovered, for the
        next poll or another worker."""
        if works:
            self.ledger.apply([Move(w.record.id, (FileState.CLAIMED,), FileState.DISCOVERED,
                                    "not started; left for the next poll") for w in works])

    def _check_interchange(self, route: RouteSpec, record: FileRecord,
                           key: tuple[str, str, str]) -> None:
        earlier = self.ledger.record_interchange(route.name, key, record.id,
                                                 window=INTERCHANGE_WINDOW)
        if earlier is not None:
            sender, recipient, ref = key
            raise DuplicateFile(
                f"interchange {ref} from {sender} to {recipient} was already received as file "
                f"{earlier}", original_id=earlier)

    # -- outcomes ---------------------------------------------------------------------------

    def _reject(self, route: RouteSpec, source: Source, work: _Work,
                error: RejectError) -> FileResult:
        record, staged, quarantined = work.record, work.staged, work.quarantined
        dest = quarantined or quarantine_path(self.quarantine_root, record)
        reason = build_reason(record, error, mapping_version=route.version,
                              max_errors=self.settings.max_reason_errors)
        if quarantined is None and staged is not None:
            quarantine(staged, dest, reason)
        else:  # reprocessed from quarantine: the copy there stays, with a fresh reason
            write_reason(dest, reason)
            work.discard()
        crash_point("quarantine-written")
        to = FileState.DUPLICATE if isinstance(error, DuplicateFile) else FileState.QUARANTINED
        self.ledger.transition(
            record.id, FileState.CLAIMED, to, error.message, via=work.via,
            stage=error.stage, message=error.message, error_count=error.error_count,
            **{**_staged_fields(record), "path": str(dest)})
        crash_point("quarantined-committed")
        log.warning("quarantined %s (%s): %s -> %s", record.name, error.stage, error.message,
                    dest)
        if dest.exists():
            self._acknowledge(route, record, Staged.file(dest), error=error)
        if quarantined is None and record.parent_id is None:
            self._finish_rejected_original(route, source, record)
            crash_point("rejected-original-gone")
        outcome = Outcome.DUPLICATE if to == FileState.DUPLICATE else Outcome.QUARANTINED
        return FileResult(record.id, route.name, record.name, outcome, error.message)

    def _acknowledge(self, route: RouteSpec, record: FileRecord, staged: Staged, *,
                     error: RejectError | None = None,
                     rejected: list[object] | None = None) -> None:
        """CONTRL / 997 where the route asks for them. Failing to write one is an alert, never a
        reason to undo what was done with the file."""
        ack = getattr(route.format, "ack", None)
        if ack is None:
            return
        try:
            for written in write_acks(route, self.settings.path(ack.folder), staged, record.id,
                                      error=error, rejected=rejected or ()):
                log.info("acknowledged %s: %s", record.name, written.name)
        except OSError as exc:
            self.ledger.note(record.id, f"ALERT: acknowledgement not written: {exc}")

    def _postpone(self, work: _Work, error: TransientError) -> FileResult:
        record = work.record
        wait = min(self.settings.retry_backoff * (2 ** max(0, record.attempt - 1)),
                   self.settings.retry_max_backoff)
        asked = getattr(error, "retry_after", None)  # e.g. an HTTP Retry-After
        if asked:
            wait = max(wait, timedelta(seconds=asked))
        work.discard()
        self.ledger.transition(
            record.id, FileState.CLAIMED, FileState.PENDING,
            f"temporary failure, will retry: {error}", via=work.via, message=str(error),
            next_attempt_at=utcnow() + wait,
            **{**_staged_fields(record),
               "path": str(work.quarantined) if work.quarantined else None})
        log.warning("%s stays pending: %s (retry in %s)", record.name, error, wait)
        return FileResult(record.id, record.route, record.name, Outcome.PENDING, str(error))

    def _quarantine_split(self, route: RouteSpec, parent: FileRecord, checked: Checked) -> None:
        data = subset_bytes(route, checked.rejected_rows)
        name = f"{Path(safe_component(parent.name)).stem}.rejected{Path(parent.name).suffix}"
        ref = FileRef(route.name, f"split:{parent.id}", name, len(data), parent.id)
        child = self.ledger.register(ref, state=FileState.QUARANTINED, parent_id=parent.id,
                                     detail=f"{checked.error_count} invalid records split out "
                                            f"of file {parent.id}",
                                     sha256=hashlib.sha256(data).hexdigest(),
                                     mapping_version=route.version, stage=checked.stage,
                                     error_count=checked.error_count)
        dest = quarantine_path(self.quarantine_root, child)
        error = InvalidRecords(checked.issues, error_count=checked.error_count,
                               stage=checked.stage)
        reason = build_reason(child, error, mapping_version=route.version,
                              max_errors=self.settings.max_reason_errors)
        reason["split_from"] = parent.id
        write_reason(dest, reason)
        with atomic_writer(dest) as fh:
            fh.write(data)
        self.ledger.transition(child.id, FileState.QUARANTINED, FileState.QUARANTINED,
                               "rejected records written to quarantine", path=str(dest),
                               message=error.message)

    # -- the original, after the ledger has spoken ---------------------------------------------

    def _finish_originals(self, route: RouteSpec, source: Source, works: list[_Work]) -> None:
        """Archive (or delete/leave) each original, then mark them archived in one commit."""
        moves, moved = [], []
        syncs = FolderSyncs()
        for work in works:
            record = work.record
            try:
                if work.quarantined is not None:
                    kept: Path | None = release(work.quarantined, self._archive_dir(route, record))
                    where = f"archived to {kept}"
                else:
                    where, kept = self._apply_post_action(route, source, work, syncs)
            except TransientError as exc:
                self.ledger.note(record.id, f"ALERT: delivered, but the original could not be "
                                            f"cleaned up: {exc}. It will not be processed again.")
                log.error("delivered %s but could not clean up the original: %s", record.name,
                          exc)
                continue
            work.discard()
            moves.append(Move(record.id, (FileState.DELIVERED,), FileState.ARCHIVED,
                              f"original {where}", fields={"path": str(kept) if kept else None}))
            moved.append(work)
        try:
            syncs.flush()
        except OSError as exc:  # the originals stay delivered; a later run finishes them
            log.error("could not make the archive durable: %s", exc)
            return
        if moves:
            crash_point("original-moved")
        recorded = self.ledger.apply(moves)
        if moves:
            crash_point("archived-committed")
        for work, outcome in zip(moved, recorded, strict=True):
            if isinstance(outcome, TradelaneError):
                log.warning("%s: %s", work.record.name, outcome)

    def _apply_post_action(self, route: RouteSpec, source: Source, work: _Work,
                           syncs: FolderSyncs) -> tuple[str, Path | None]:
        """What happened to the original, and where its bytes are kept locally (if they are)."""
        record = work.record
        action = route.source.after
        if action == "archive":
            dest = self._archive_dir(route, record) / f"{record.id}-{safe_component(record.name)}"
            if SOURCES.of(route.source).local:
                source.finish(record.ref, "archive", str(dest), syncs)
            else:  # remote sources: keep the snapshot, then remove the original
                staged = work.staged or source.fetch(record.ref, work.spool)  # a leftover
                if staged.sha256 != record.sha256:
                    staged.discard()
                    return "left in place: it changed after it was delivered", None
                staged.keep(dest)  # durable now, not with the chunk: the original goes next
                source.finish(record.ref, "delete")
            return f"archived to {dest}", dest
        source.finish(record.ref, action, route.source.move_to, syncs)
        return {"delete": "deleted", "leave": "left in place",
                "move": f"moved to {route.source.move_to}"}[action], None

    def _finish_rejected_original(self, route: RouteSpec, source: Source,
                                  record: FileRecord) -> None:
        """The quarantined copy is the file now: take the original out of the inbox."""
        action = route.source.after
        try:
            if action == "leave":
                return
            if action == "move":
                source.finish(record.ref, "move", route.source.move_to)
            else:
                source.finish(record.ref, "delete")
        except SourceUnavailable as exc:
            self.ledger.note(record.id, f"ALERT: could not remove the original: {exc}")

    def _finish_leftover(self, route: RouteSpec, source: Source, ref: FileRef) -> None:
        """A listed file the ledger says is delivered, and whose worker is gone (or whose
        post-action failed): retry only the post-action. A live worker's files are left
        alone: it holds the lease until the file is archived."""
        record = self.ledger.take_over_delivered(ref)
        if record is not None:
            self._finish_originals(route, source, [self._work(record)])

    def _archive_dir(self, route: RouteSpec, record: FileRecord) -> Path:
        return self.archive_root / route.name / record.received_at.strftime("%Y-%m-%d")

    # -- ops --------------------------------------------------------------------------------

    def reprocess(self, file_id: int, *, force: bool = False) -> FileResult:
        """Run a quarantined (or pending) file again, e.g. after fixing it or its mapping."""
        record = self.ledger.get(file_id)
        route = self.project.route(record.route)
        if record.state == FileState.DUPLICATE and not force:
            raise Conflict(file_id, ["quarantined"], "claimed")
        record = self.ledger.reclaim(
            file_id, expect=[FileState.QUARANTINED, FileState.DUPLICATE, FileState.PENDING],
            detail="reprocess requested" + (" (forced)" if force else ""))
        quarantined = None
        if record.path and is_inside(Path(record.path), self.quarantine_root):
            quarantined = Path(record.path)
            source: Source = QuarantinedCopy(quarantined)
        else:
            source = self.source(route)
        with source, _closing(target_for(route, self.settings)) as target:
            return self.process(route, source, record, target=target, force=force,
                                quarantined=quarantined)

    def retry_reprocessing(self, routes: list[str] | None = None) -> list[FileResult]:
        """Reprocess attempts from quarantine that hit a temporary failure and are now due."""
        due = [r for r in self.ledger.files(states=[FileState.PENDING])
               if (routes is None or r.route in routes) and r.path
               and is_inside(Path(r.path), self.quarantine_root)
               and (r.next_attempt_at is None or r.next_attempt_at <= utcnow())]
        return [self.reprocess(r.id) for r in due]


def _staged_fields(record: FileRecord) -> dict[str, object]:
    """What staging learned about the file, written with the next transition."""
    return {"sha256": record.sha256, "mapping_version": record.mapping_version,
            "path": record.path}


@contextlib.contextmanager
def _closing(target: Target) -> Iterator[Target]:
    """Targets that hold connections (HTTP, SFTP) are closed once the poll is over."""
    try:
        yield target
    finally:
        close = getattr(target, "close", None)
        if close is not None:
            close()
