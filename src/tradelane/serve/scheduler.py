"""APScheduler cron and interval jobs per route, and the pool that runs the polls they wake.

A job never processes a file: it only *wakes* a poll of its route (so do folder events and
start-up catch-up). The ledger claim is the real lock, so two schedulers, two servers or a
duplicate trigger can never process a file twice: the loser's claim returns nothing.

``RouteRunner`` runs polls on a bounded thread pool: routes run in parallel, one route runs
one poll at a time (its files in the source's order), and wakes that arrive while a route is
polling are folded into exactly one more poll after it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from apscheduler.executors.pool import ThreadPoolExecutor as JobExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from tradelane.ledger import utcnow
from tradelane.serve.schedules import missed_run, triggers
from tradelane.spec import Project

log = logging.getLogger("tradelane.serve")

#: Job options, chosen on purpose (APScheduler 3 defaults would drop late runs after 1 s):
JOB_DEFAULTS = {
    # Several due run times (the process was suspended, the clock jumped) become one run:
    # a poll takes every ready file anyway, so repeating it adds nothing.
    "coalesce": True,
    # A job only wakes the runner, which already folds overlapping wakes; a second
    # concurrent instance of the same job would be pure noise.
    "max_instances": 1,
    # A run that is late because the scheduler thread was starved or the machine slept still
    # runs (once, coalesced) if it is less than an hour late. Down-time at start is handled
    # by the ledger-based catch-up below, since jobs live in memory.
    "misfire_grace_time": 3600,
}


class RouteRunner:
    """A bounded pool of polls: parallel across routes, serial within one route."""

    def __init__(self, run: Callable[[str], None], workers: int):
        self._run = run
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="route")
        self._lock = threading.Lock()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._closed = False
        self._idle = threading.Condition(self._lock)

    def wake(self, route: str, why: str = "") -> None:
        with self._lock:
            if self._closed or route in self._queued:
                return
            if route in self._running:
                self._again.add(route)
                return
            self._queued.add(route)
        log.debug("wake %s (%s)", route, why, extra={"route": route})
        try:
            self._pool.submit(self._poll, route)
        except RuntimeError:  # closed between the check and the submit
            with self._lock:
                self._queued.discard(route)

    def busy(self) -> list[str]:
        with self._lock:
            return sorted(self._running | self._queued)

    def _poll(self, route: str) -> None:
        with self._lock:
            self._queued.discard(route)
            self._running.add(route)
        try:
            self._run(route)
        except Exception:  # a bug in one poll must not stop the server
            log.exception("poll of route %s failed", route, extra={"route": route})
        finally:
            with self._lock:
                self._running.discard(route)
                again = route in self._again and not self._closed
                self._again.discard(route)
                if again:
                    self._queued.add(route)
                self._idle.notify_all()
            if again:
                self._pool.submit(self._poll, route)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no poll is queued or running."""
        with self._lock:
            return self._idle.wait_for(lambda: not (self._running or self._queued), timeout)

    def close(self, timeout: float) -> bool:
        """Refuse new wakes, drop queued ones, wait for running polls. True if they ended."""
        with self._lock:
            self._closed = True
            self._again.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._queued.clear()
            return self._idle.wait_for(lambda: not self._running, timeout)


class Scheduler:
    """One APScheduler with a job per route trigger, plus the engine's housekeeping jobs."""

    def __init__(self, project: Project, wake: Callable[[str, str], None]):
        self.project = project
        self.wake = wake
        self.aps = BackgroundScheduler(
            timezone=str(project.settings.timezone),
            # jobs are tiny (a wake, a heartbeat, an alert check): two threads suffice
            executors={"default": JobExecutor(2)},
            job_defaults=JOB_DEFAULTS,
        )

    def start(self, last_runs: dict[str, datetime | None], now: datetime | None = None
              ) -> list[str]:
        """Add every route's jobs and start; return the routes due a catch-up run now."""
        now = now or utcnow()
        settings = self.project.settings
        due = []
        for name, route in sorted(self.project.routes.items()):
            for trigger in triggers(route, settings):
                kind = "cron" if isinstance(trigger, CronTrigger) else "interval"
                self.aps.add_job(self.wake, trigger, args=[name, kind], id=f"{name}:{kind}",
                                 name=f"wake {name} ({kind})")
            if missed_run(route, settings, last_runs.get(name), now):
                due.append(name)
        self.aps.start()
        return due

    def replace(self, project: Project, names: set[str]) -> None:
        """Serve reloaded the project: the jobs of the routes ``names`` are made afresh
        (removed routes lose theirs). No catch-up run: the reload itself wakes them."""
        self.project = project
        for job in self.aps.get_jobs():
            if ":" in job.id and job.id.split(":")[0] in names:
                job.remove()
        for name in sorted(names & set(project.routes)):
            for trigger in triggers(project.routes[name], project.settings):
                kind = "cron" if isinstance(trigger, CronTrigger) else "interval"
                self.aps.add_job(self.wake, trigger, args=[name, kind], id=f"{name}:{kind}",
                                 name=f"wake {name} ({kind})", replace_existing=True)

    def every(self, job_id: str, func: Callable[[], None], seconds: float) -> None:
        """A housekeeping job (heartbeat, alert check) on a fixed interval."""
        self.aps.add_job(func, "interval", seconds=seconds, id=job_id, name=job_id,
                         next_run_time=utcnow())

    def next_runs(self) -> dict[str, datetime]:
        """Route -> the next time one of its jobs fires."""
        out: dict[str, datetime] = {}
        for job in self.aps.get_jobs():
            route = job.id.split(":")[0]
            if route in self.project.routes and job.next_run_time is not None:
                current = out.get(route)
                out[route] = min(current, job.next_run_time) if current else job.next_run_time
        return out

    @property
    def running(self) -> bool:
        return bool(self.aps.running)

    def shutdown(self) -> None:
        if self.aps.running:
            self.aps.shutdown(wait=False)
