"""``tradelane serve``: schedules, folder watchers, alerts and health, around one ``Runner``.

::

    cron / interval job ─┐
    folder event ────────┼─> RouteRunner.wake(route) ─> pool ─> Runner.run_once([route])
    start-up catch-up ───┘                                       (the ledger claim is the lock)
    heartbeat job  -> ledger ``heartbeats``      alert job -> Monitor.check -> log/webhook/smtp
    leader job     -> LeaderElection.check       (alerts, expectations, retention: leader only)
    peer's NOTIFY  -> RouteRunner.wake(route)    (PostgreSQL: a peer claimed new files)

Stopping (SIGTERM, Ctrl-C): the pipeline's stop event is set, so each running poll finishes
the files in hand (one chunk: at most about a second of small files, or one big file),
records them, and claims nothing more; jobs and watchers stop first so nothing
new starts. Files not reached stay in the inbox, unclaimed, for the next start.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tradelane.errors import InvalidRoute
from tradelane.ledger import Ledger, utcnow
from tradelane.ledger.alerts import Heartbeats
from tradelane.ledger.leader import LeaderElection
from tradelane.ledger.wakeups import Listener, listen
from tradelane.logs import bind
from tradelane.metrics import Metrics
from tradelane.models import FileState, Outcome
from tradelane.runner import Runner
from tradelane.serve import reload
from tradelane.serve.health import HealthServer
from tradelane.serve.monitor import Monitor
from tradelane.serve.notify import Channel
from tradelane.serve.notify import channels as notify_channels
from tradelane.serve.scheduler import RouteRunner, Scheduler
from tradelane.sources.watch import FolderWatcher
from tradelane.spec import Project, Settings

log = logging.getLogger("tradelane.serve")

#: How often pending files are checked for a due retry (routes on a nightly cron included).
RETRY_CHECK = timedelta(seconds=30)
#: How often the mappings folder and tradelane.yaml are looked at for a change.
RELOAD_CHECK = timedelta(seconds=1)
#: How often a worker asks to lead: a dead leader is replaced within about this long.
LEADER_CHECK = timedelta(seconds=2)
#: How often events waiting in the outbox (a broker that was down) are published again.
EVENTS_CHECK = timedelta(seconds=2)
#: How often the leader applies the retention rules (``tradelane prune``).
RETENTION_EVERY = timedelta(days=1)


class Server:
    def __init__(self, project: Project, ledger: Ledger, *, health_port: int | None = None,
                 channels: list[Channel] | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.project = project
        self.settings = settings = project.settings
        self.ledger = ledger
        self.stopping = threading.Event()
        self.pipeline = Runner(project, ledger, stop=self.stopping)
        self.runner = RouteRunner(self._poll, settings.serve.workers)
        self.scheduler = Scheduler(project, self.runner.wake)
        self.watcher: FolderWatcher | None = None
        if any(r.watch for r in project.routes.values()):
            self.watcher = FolderWatcher(settings, self.runner.wake)
        self.monitor = Monitor(project, ledger, channel_list=channels, clock=clock)
        self.heartbeats = Heartbeats(ledger)
        self.leader = LeaderElection(ledger.engine, settings.worker)
        self.clock = clock
        port = health_port if health_port is not None else settings.health.port
        self.health = (HealthServer(settings.health.host, port, self.report,
                                    Metrics(ledger).exposition)
                       if port is not None else None)
        self.as2 = _as2_server(settings, ledger)
        self._beat_at: float | None = None
        self._beat_lock = threading.Lock()
        self._fingerprint = reload.fingerprint(project)
        self._reload_asked: str | None = None  # why a reload was asked for (SIGHUP)
        self._channels = channels
        self.wakeups: Listener | None = None  # PostgreSQL: peers' new files wake our polls

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.heartbeats.beat(self.settings.worker, "starting", self._detail(), now=self.clock())
        for name, problems in sorted(self.project.invalid.items()):
            log.error("%s", InvalidRoute(name, problems).summary, extra={"route": name})
        if self.watcher is not None:
            for name, route in sorted(self.project.routes.items()):
                if route.watch:
                    mode = self.watcher.add(route)
                    log.info("route %s: watching its folder (%s)", name, mode,
                             extra={"route": name})
            self.watcher.start()
        last = {name: run["started_at"] for name, run in self.ledger.last_runs().items()}
        due = self.scheduler.start(last, self.clock())
        self.wakeups = listen(self.ledger.engine, self.settings.worker, self._wake_by_peer)
        self.leader.check()
        self.scheduler.every("leader", self.leader.check, LEADER_CHECK.total_seconds())
        self.scheduler.every("retention", self._prune, RETENTION_EVERY.total_seconds())
        self.scheduler.every("heartbeat", self._beat,
                             self.settings.health.heartbeat.total_seconds())
        self.scheduler.every("alerts", self._check_alerts,
                             self.settings.alerts.check_every.total_seconds())
        self.scheduler.every("retries", self._wake_due_retries, RETRY_CHECK.total_seconds())
        self.scheduler.every("events", self._publish_events, EVENTS_CHECK.total_seconds())
        self.scheduler.every("reload", self._check_reload, RELOAD_CHECK.total_seconds())
        for name in due:
            self.runner.wake(name, "catch-up at start")
        self._beat()  # healthy from the first probe on
        if self.health is not None:
            self.health.start()
        if self.as2 is not None:
            self.as2.start()
        log.info("serving %d route(s) with %d worker(s); caught up: %s",
                 len(self.project.routes), self.settings.serve.workers,
                 ", ".join(due) or "none")

    def stop(self, timeout: float | None = None) -> bool:
        """Finish the files in hand and stop; False if polls were still running at timeout."""
        timeout = timeout if timeout is not None else \
            self.settings.serve.stop_timeout.total_seconds()
        self.stopping.set()
        busy = self.runner.busy()
        log.info("stopping: finishing the file in hand on %s", ", ".join(busy) or "no route")
        self.scheduler.shutdown()
        if self.wakeups is not None:
            self.wakeups.close()
        if self.watcher is not None:
            self.watcher.stop()
        clean = self.runner.close(timeout)
        self.pipeline.close()
        if not clean:
            log.error("still busy after %.0fs on %s; files in hand are retaken when their "
                      "lease expires", timeout, ", ".join(self.runner.busy()))
        try:
            with self._beat_lock:
                self.heartbeats.beat(self.settings.worker, "stopped" if clean else "killed",
                                     self._detail(), now=self.clock())
        except Exception:  # the ledger may be what is failing; stopping must go on
            log.exception("could not record the last heartbeat")
        if self.health is not None:
            self.health.stop()
        if self.as2 is not None:
            self.as2.stop()
        self.leader.close()  # another worker takes the cluster-wide duties at once
        return clean

    # -- jobs --------------------------------------------------------------------------------

    def _poll(self, name: str) -> None:
        if self.stopping.is_set() or name not in self.project.routes:
            return  # stopping, or a route removed by a reload
        with bind(route=name):
            summary = self.pipeline.run_once([name])
            counts = {o: summary.count(o) for o in Outcome if summary.count(o)}
            if counts or summary.source_errors:
                log.info("route %s: %s%s", name,
                         ", ".join(f"{n} {o}" for o, n in counts.items()) or "no files",
                         f"; source unavailable: {summary.source_errors[name]}"
                         if name in summary.source_errors else "")
            if counts.get(Outcome.QUARANTINED) or counts.get(Outcome.DUPLICATE):
                self._alert_soon()

    def _wake_by_peer(self, route: str | None) -> None:
        """A peer recorded new files of ``route`` (None: of any, maybe missed): poll now."""
        for name in [route] if route is not None else sorted(self.project.routes):
            if name in self.project.routes:
                self.runner.wake(name, "a peer found new files")

    def _alert_soon(self) -> None:
        """Run the alert check now rather than at its next tick (a quarantine just happened)."""
        if self.scheduler.running and not self.stopping.is_set():
            try:
                self.scheduler.aps.modify_job("alerts", next_run_time=utcnow())
            except Exception:  # the job may be gone while stopping
                log.debug("alert check not rescheduled", exc_info=True)

    def _beat(self) -> None:
        with self._beat_lock:  # never overwrite the final "stopped"
            if self.stopping.is_set():
                return
            self.heartbeats.beat(self.settings.worker, "running", self._detail(),
                                 now=self.clock())
            self._beat_at = time.monotonic()

    def _check_alerts(self) -> None:
        if not self.leader.check():  # cluster-wide: the leader alone checks and alerts
            return
        opened = self.monitor.check()
        if opened:
            log.info("opened %d incident(s): %s", len(opened), ", ".join(opened))

    def _prune(self) -> None:
        if not self.leader.check():
            return
        from tradelane.retention import prune

        report = prune(self.project, self.ledger)
        if report.total:
            log.info("retention: %s", report.summary())

    def _publish_events(self) -> None:
        """Events left waiting (a broker down at delivery) go out once it answers, whatever
        the route's schedule; every worker may do it, the outbox's claims keep it once."""
        from tradelane.events.publishing import publish_waiting

        if not self.stopping.is_set():
            publish_waiting(self.ledger)

    def _wake_due_retries(self) -> None:
        now = self.clock()
        due = {r.route for r in self.ledger.files(states=[FileState.PENDING])
               if r.route in self.project.routes
               and (r.next_attempt_at is None or r.next_attempt_at <= now)}
        for name in sorted(due):
            self.runner.wake(name, "pending files due a retry")

    # -- reload ------------------------------------------------------------------------------

    def request_reload(self, why: str) -> None:
        """Reload now (SIGHUP), whether or not a file looks changed. Safe in a signal
        handler: it only moves the reload job's next run."""
        self._reload_asked = why
        if self.scheduler.running and not self.stopping.is_set():
            try:
                self.scheduler.aps.modify_job("reload", next_run_time=utcnow())
            except Exception:  # the job may be gone while stopping
                log.debug("reload not rescheduled", exc_info=True)

    def _check_reload(self) -> None:
        why, self._reload_asked = self._reload_asked, None
        current = reload.fingerprint(self.project)
        if current == self._fingerprint and why is None:
            return
        self._fingerprint = current  # before loading: an edit during the load is seen next
        log.info("reload (%s)", why or "a mapping or tradelane.yaml changed")
        result = reload.reload(self.project)
        if result is None:
            return
        project, changes = result
        for level, line in reload.describe(changes, project):
            log.log(level, line)
        if not changes:
            log.info("reload: nothing changed")
            return
        self._apply(project, changes)

    def _apply(self, project: Project, changes: reload.Changes) -> None:
        fresh = changes.rescheduled
        self.project = project
        self.pipeline.use(project, fresh)
        self.monitor.project, self.monitor.settings = project, project.settings
        if changes.settings and "alerts" in changes.settings and self._channels is None:
            self.monitor.channels = notify_channels(project.settings.alerts)
        self.scheduler.replace(project, fresh)
        for name in sorted(fresh & set(project.routes)):
            route = project.routes[name]
            if route.watch:
                if self.watcher is None:
                    self.watcher = FolderWatcher(project.settings, self.runner.wake)
                    self.watcher.start()
                self.watcher.add(route)
            self.runner.wake(name, "reloaded")
        self._alert_soon()  # an invalid mapping is an incident: say so now

    # -- health ------------------------------------------------------------------------------

    def _detail(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "leader": self.leader.leading,
                "routes": sorted(self.project.routes),
                "busy": self.runner.busy(),
                "watch": self.watcher.modes if self.watcher else {}}

    def report(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, body) for /healthz."""
        limit = 3 * self.settings.health.heartbeat.total_seconds()
        age = None if self._beat_at is None else time.monotonic() - self._beat_at
        ok = (self.scheduler.running and not self.stopping.is_set() and age is not None
              and age < limit)
        next_runs = {k: v.isoformat() for k, v in self.scheduler.next_runs().items()} \
            if self.scheduler.running else {}
        return ok, {"status": "ok" if ok else "unhealthy", "worker": self.settings.worker,
                    "heartbeat_age_s": None if age is None else round(age, 1),
                    "stopping": self.stopping.is_set(), "busy": self.runner.busy(),
                    "next_runs": next_runs}


def _as2_server(settings: Settings, ledger: Ledger) -> Any:
    """The AS2 endpoint (settings ``as2:``) on its own port, or None; pyas2lib is imported
    only when it is configured."""
    if settings.as2 is None:
        return None
    from tradelane.as2.receive import As2Endpoint, As2Server

    endpoint = As2Endpoint(settings.as2, settings.root, ledger.engine)
    return As2Server(endpoint, settings.as2.host, settings.as2.port)
