"""The pass over routes: recovery on start, one poll per route, worker processes, reprocess.

::

    start     sweep temp files left by crashed runs (older than the lease)
    per route finish steps an earlier run recorded but did not take (``finishing``)
              list the source -> alert once for symlinks/FIFOs, reconcile pending files that
              vanished -> the chunks of ``pipeline.Pipeline`` (or N worker processes)

One route's failure (its server is down, its connection refused, a bug) is reported for that
route and never stops the others. A route with ``workers: N`` shares a poll of
``PROCESSES_FROM`` files or more with N - 1 worker processes (``processes.WorkerPool``),
smaller ones with N threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from tradelane import redact
from tradelane.abc import Source
from tradelane.errors import ConfigError, Conflict, InvalidRoute, RequestError, TransientError
from tradelane.finishing import Finisher
from tradelane.ledger import FileRecord, Ledger, utcnow
from tradelane.ledger.alerts import Incidents
from tradelane.ledger.busy import Busy
from tradelane.models import FileResult, FileState, Outcome, RunSummary
from tradelane.paths import TEMP_MARK, is_inside
from tradelane.registry import TARGETS
from tradelane.sources import source_for
from tradelane.sources.quarantined import QuarantinedCopy
from tradelane.sources.readiness import Listing
from tradelane.spec import Project, RouteSpec
from tradelane.targets import opened_target

if TYPE_CHECKING:
    from tradelane.pipeline import Pipeline
    from tradelane.processes import WorkerPool

log = logging.getLogger("tradelane")

#: A route with ``workers: N`` spreads a poll over N processes from this many files on;
#: smaller polls use N threads, which start at once.
PROCESSES_FROM = 64


class Runner:
    """Runs the routes of a project, recording every step in the ledger."""

    def __init__(self, project: Project, ledger: Ledger, *, stop: threading.Event | None = None):
        self.project = project
        self.settings = project.settings
        self.ledger = ledger
        self.stop = stop
        redact.register_project(project)  # its secrets never reach a log or a reason file
        self._pipeline: Pipeline | None = None
        self._making = threading.Lock()  # serve's threads share one pipeline
        self.incidents = Incidents(ledger)
        # One source per route for the runner's life: readiness ("stable") compares a
        # listing with the previous one.
        self._sources: dict[str, Source] = {}
        self._workers: dict[str, WorkerPool] = {}  # processes of routes with workers > 1
        self._swept = False

    @property
    def pipeline(self) -> Pipeline:
        """Made for the first file: a pass that finds nothing to do (a cron's empty run
        --once) never imports the engine (Arrow, numpy, the formats)."""
        with self._making:
            if self._pipeline is None:
                from tradelane.pipeline import Pipeline

                self._pipeline = Pipeline(self.project, self.ledger, stop=self.stop)
            return self._pipeline

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        for pool in self._workers.values():
            pool.close()
        self._workers.clear()

    def __enter__(self) -> Runner:
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
        if not self._swept:
            self.sweep()
        summary = RunSummary()
        busy = Busy.read(self.ledger)  # one query: which routes have anything waiting
        self._report_invalid(routes, summary, busy)
        quiet: list[dict[str, object]] = []  # runs that found no file: recorded together
        for name in routes or sorted(self.project.routes):
            route = self.project.route(name)
            started = utcnow()
            run_id: int | None = None

            def listed(route_name: str, count: int) -> None:
                nonlocal run_id
                if count and run_id is None:  # files to take: the run is recorded as running
                    run_id = self.ledger.start_run(route_name)
                if on_listed:
                    on_listed(route_name, count)

            before = len(summary.results)
            error = None
            try:
                self.poll(route, summary, on_file=on_file, on_listed=listed, busy=busy)
            except TransientError as exc:
                error = str(exc)
                summary.source_errors[name] = error
                log.warning("route %s: source unavailable: %s", name, error)
            except ConfigError as exc:  # found only when connecting: say so, go on with the rest
                error = f"configuration problem: {exc}"
                summary.config_errors[name] = error
                log.error("route %s: %s", name, error)
            except Exception as exc:  # a bug in this route's poll: the other routes go on
                log.exception("route %s: internal error", name)
                error = f"internal error ({type(exc).__name__}: {exc}); please report it"
                summary.internal_errors[name] = error
            mine = summary.results[before:]
            counts = {"delivered": sum(r.outcome == Outcome.DELIVERED for r in mine),
                      "quarantined": sum(r.outcome == Outcome.QUARANTINED for r in mine),
                      "duplicates": sum(r.outcome == Outcome.DUPLICATE for r in mine),
                      "pending": sum(r.outcome == Outcome.PENDING for r in mine)}
            if run_id is not None:
                self.ledger.finish_run(run_id, error=error, **counts)
            else:
                quiet.append({"route": name, "started_at": started, "finished_at": utcnow(),
                              "error": error, **counts})
        self.ledger.record_runs(quiet)
        for result in self.retry_reprocessing(routes, busy):
            _report(summary, [result], on_file)
        return summary

    def use(self, project: Project, changed: set[str]) -> None:
        """Run ``project`` from now on (serve reloaded it); the sources and worker processes
        of the ``changed`` routes are made afresh. A poll in progress finishes with the
        version it started with."""
        self.project, self.settings = project, project.settings
        if self._pipeline is not None:
            self._pipeline.project, self._pipeline.settings = project, project.settings
        for name in changed:
            self._sources.pop(name, None)
            pool = self._workers.pop(name, None)
            if pool is not None:
                pool.close()

    def _report_invalid(self, routes: list[str] | None, summary: RunSummary,
                        busy: Busy | None = None) -> None:
        """Routes disabled by a bad mapping: a configuration error of their own (with an
        alert), while the other routes run."""
        # a mapping fixed since: its alert is resolved
        if busy is None or busy.alert("invalid"):
            self.incidents.resolve_others("invalid",
                                          {f"invalid:{n}" for n in self.project.invalid})
        for name, problems in sorted(self.project.invalid.items()):
            if routes and name not in routes:
                continue
            error = InvalidRoute(name, problems, running=name in self.project.routes)
            if self.incidents.open(f"invalid:{name}", "invalid", error.summary, route=name):
                log.error("%s", error.summary)
            if error.running:
                continue  # serve keeps its previous version: it is polled as usual
            summary.config_errors[name] = error.summary.removeprefix(f"route {name} is ")
            run_id = self.ledger.start_run(name)
            self.ledger.finish_run(run_id, error=error.summary, delivered=0, quarantined=0,
                                   pending=0)

    def poll(self, route: RouteSpec, summary: RunSummary,
             on_file: Callable[[FileResult], None] | None = None,
             on_listed: Callable[[str, int], None] | None = None,
             busy: Busy | None = None) -> None:
        """``busy``: what the pass found waiting in the ledger; without it every question
        about the route is asked of the ledger."""
        first_listing = route.name not in self._sources
        source = self.source(route)
        with source:
            Finisher(self.ledger, source).recover(
                route.name, lambda record: self.pipeline.original_steps(record), busy)
            refs = source.list_ready()
            if first_listing and route.source.stable and self._settle(route):
                refs = source.list_ready()
            if refs.unusual or busy is None or busy.alert("unusual", route.name):
                self._report_unusual(route, source, refs)
            if busy is None or route.name in busy.pending:
                _report(summary, self._reconcile_pending(route, source, refs), on_file)
            if on_listed:
                on_listed(route.name, len(refs))
            if not refs:
                return  # the target (its writer, its HTTP or SFTP client) is made for files
            with opened_target(route, self.settings) as target:
                if route.workers > 1 and len(refs) >= PROCESSES_FROM:
                    here = partial(self.pipeline.take, route, source, target)
                    results: Iterable[FileResult] = self._worker_pool(route).take(
                        route, refs, here, self.stop)
                else:
                    results = self.pipeline.take(route, source, target, refs,
                                                 threads=route.workers)
                for result in results:
                    _report(summary, [result], on_file)

    def _worker_pool(self, route: RouteSpec) -> WorkerPool:
        pool = self._workers.get(route.name)
        if pool is not None and pool.broken:
            pool.close()
            pool = None
        if pool is None:
            # multiprocessing and ctypes: only for a route with workers and many files
            from tradelane.processes import WorkerPool

            url = self.ledger.engine.url.render_as_string(hide_password=False)
            # the project as this process runs it, never reread from disk by the workers
            pool = WorkerPool(self.project, url, self.ledger.worker,
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

    # -- what the listing says about the ledger ----------------------------------------------

    def _report_unusual(self, route: RouteSpec, source: Source, listing: Listing) -> None:
        """Symlinks, FIFOs and devices in the inbox: never read, reported once each."""
        keys = set()
        for entry in listing.unusual:
            key = f"unusual:{route.name}:{entry.name}"[:255]
            keys.add(key)
            message = (f"{entry.name} in {source.uri} is a {entry.kind}, not a regular file: it"
                       " is never read. Replace it with the file itself, or remove it.")
            if self.incidents.open(key, "unusual", message, route=route.name):
                log.warning("ALERT route %s: %s", route.name, message)
        self.incidents.resolve_others("unusual", keys, route=route.name)

    def _reconcile_pending(self, route: RouteSpec, source: Source,
                           listing: Listing) -> list[FileResult]:
        """Pending files of this source that the listing no longer shows: gone before they
        could be read (``lost``, with an alert), or replaced by a new version (that version
        is a new file; the old sighting is discarded). Never pending for ever."""
        listed = {(r.name, r.size, r.mtime_ns) for r in listing}
        now = utcnow()
        results = []
        for record in self.ledger.files(states=[FileState.PENDING], route=route.name):
            if record.source != source.uri or (record.name, record.size,
                                               record.mtime_ns) in listed:
                continue
            if record.path and is_inside(Path(record.path), self.pipeline.quarantine_root):
                continue  # a reprocess from quarantine: its copy is there, not in the source
            if record.next_attempt_at is not None and record.next_attempt_at > now:
                continue
            current = source.stat(record.ref)
            with contextlib.suppress(Conflict):
                if current is None:
                    results.append(self._lost(record, "the file disappeared from the source"
                                              " before it could be delivered"))
                elif current.kind == "file" and (current.size, current.mtime_ns) != (
                        record.size, record.mtime_ns):
                    self.ledger.transition(
                        record.id, FileState.PENDING, FileState.DISCARDED,
                        f"replaced: the file changed before it could be delivered (now"
                        f" {current.size} bytes); its new version is processed as a new file",
                        message="replaced by a newer version of the file")
        return results

    def _lost(self, record: FileRecord, why: str) -> FileResult:
        message = (f"{why}. Ask the partner to send it again, or discard it:"
                   f" tradelane quarantine discard {record.id} --reason '...'")
        self.ledger.transition(record.id, record.state, FileState.LOST, message,
                               message=message)
        if self.incidents.open(f"lost:{record.id}", "lost", f"{record.name} (file"
                               f" {record.id}): {message}", route=record.route,
                               file_id=record.id):
            log.error("ALERT %s (file %d) is lost: %s", record.name, record.id, why)
        return FileResult(record.id, record.route, record.name, Outcome.LOST, message)

    # -- start-up ----------------------------------------------------------------------------

    def sweep(self) -> int:
        """Remove temp files that crashed runs left (older than the lease) in every folder
        the engine writes to; returns how many. Partners' folders are never touched."""
        self._swept = True
        settings = self.settings
        # the folders the pipeline writes to (``Pipeline.archive_root``, ``quarantine_root``)
        folders = {settings.path(settings.folders.spool), settings.path(settings.folders.archive),
                   settings.path(settings.folders.quarantine)}
        for route in self.project.routes.values():
            option = TARGETS.of(route.target).folder_option
            if option:
                folders.add(settings.path(getattr(route.target, option)))
            ack = getattr(route.format, "ack", None)
            if ack is not None:
                folders.add(settings.path(ack.folder))
        cutoff = time.time() - self.ledger.lease.total_seconds()
        spool = settings.path(settings.folders.spool)
        removed = size = 0
        for folder in folders:
            for path in _files_under(folder):
                ours = path.name.endswith(TEMP_MARK) or path.parent == spool
                with contextlib.suppress(OSError):
                    st = path.lstat()
                    if ours and st.st_mtime < cutoff:
                        path.unlink()
                        removed, size = removed + 1, size + st.st_size
        if removed:
            log.warning("removed %d temp file(s), %.1f MB, left by runs that crashed", removed,
                        size / 1e6)
        return removed

    # -- ops --------------------------------------------------------------------------------

    def reprocess(self, file_id: int, *, force: bool = False) -> FileResult:
        """Run a quarantined (or pending, or lost) file again, e.g. after fixing it or its
        mapping. A file whose quarantined copy is gone becomes ``lost``."""
        record = self.ledger.get(file_id)
        if record.state == FileState.DUPLICATE and not force:
            raise Conflict(file_id, ["quarantined"], "claimed", found="a duplicate",
                           hint="reprocess it with --force to deliver it anyway")
        allowed = [FileState.QUARANTINED, FileState.DUPLICATE, FileState.PENDING,
                   FileState.LOST]
        if record.state not in allowed:
            raise Conflict(file_id, [s.value for s in allowed], "claimed",
                           found=record.state.value)
        route = self.project.routes.get(record.route)
        if route is None:
            raise RequestError(f"file {file_id} belongs to route {record.route!r}, which is"
                               " not configured any more")
        copy = Path(record.path) if record.path else None
        quarantined = copy if copy is not None and is_inside(
            copy, self.pipeline.quarantine_root) else None
        if quarantined is not None and not quarantined.is_file():
            if record.state == FileState.LOST:
                return FileResult(file_id, record.route, record.name, Outcome.LOST,
                                  record.message or "lost")
            return self._lost(record, f"its quarantined copy {quarantined} is gone (deleted"
                                      " by hand?)")
        source = QuarantinedCopy(quarantined) if quarantined is not None else self.source(route)
        record = self.ledger.reclaim(
            file_id, expect=allowed,
            detail="reprocess requested" + (" (forced)" if force else ""))
        with source, opened_target(route, self.settings) as target:
            return self.pipeline.process(route, source, record, target=target, force=force,
                                         quarantined=quarantined)

    def retry_reprocessing(self, routes: list[str] | None = None,
                           busy: Busy | None = None) -> list[FileResult]:
        """Reprocess attempts from quarantine that hit a temporary failure and are now due."""
        if busy is not None and not (busy.pending if routes is None
                                     else busy.pending & set(routes)):
            return []
        due = [r for r in self.ledger.files(states=[FileState.PENDING])
               if (routes is None or r.route in routes) and r.path
               and is_inside(Path(r.path), self.pipeline.quarantine_root)
               and (r.next_attempt_at is None or r.next_attempt_at <= utcnow())]
        return [self.reprocess(r.id) for r in due]


def _report(summary: RunSummary, results: Iterable[FileResult],
            on_file: Callable[[FileResult], None] | None) -> None:
    for result in results:
        summary.results.append(result)
        if on_file:
            on_file(result)


def _files_under(folder: Path) -> Iterator[Path]:
    """Every file below ``folder``, never following a symlink."""
    for top, _dirs, names in os.walk(folder, followlinks=False):
        for name in names:
            yield Path(top) / name

