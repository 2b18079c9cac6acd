"""When a route runs under ``tradelane serve``, as pure functions of the spec and a clock.

A route polls on a cron ``schedule`` (in its time zone), every ``every``, or (with neither)
every ``serve.poll``. ``watch: true`` adds folder events on top of that periodic rescan.

Catch-up rule: a run the server missed (down at 02:00) runs *once* at start. The last finished
run of each route is in the ledger's ``runs`` table (whoever ran it, ``serve`` or
``run --once``); if the cron fired after it and before now, one run is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from tradelane.spec import RouteSpec, Settings

_TICK = timedelta(microseconds=1)


def route_timezone(route: RouteSpec, settings: Settings) -> tzinfo:
    return ZoneInfo(route.timezone or settings.timezone)


def poll_interval(route: RouteSpec, settings: Settings) -> timedelta | None:
    """The interval of a route that is not on cron (None for cron-only routes)."""
    if route.every is not None:
        return route.every
    if route.schedule is None:
        return settings.serve.poll
    return None


def triggers(route: RouteSpec, settings: Settings) -> list[BaseTrigger]:
    """APScheduler triggers for the route: cron, interval, or both (a watched cron route still
    rescans on ``every`` if given)."""
    tz = route_timezone(route, settings)
    out: list[BaseTrigger] = []
    if route.schedule:
        out.append(CronTrigger.from_crontab(route.schedule, timezone=tz))
    interval = poll_interval(route, settings)
    if interval is not None:
        out.append(IntervalTrigger(seconds=interval.total_seconds(), timezone=tz))
    return out


def next_cron(route: RouteSpec, settings: Settings, after: datetime) -> datetime | None:
    """The first cron fire time strictly after ``after``."""
    if not route.schedule:
        return None
    trigger = CronTrigger.from_crontab(route.schedule, timezone=route_timezone(route, settings))
    return trigger.get_next_fire_time(None, after + _TICK)


def missed_run(route: RouteSpec, settings: Settings, last_run: datetime | None,
               now: datetime) -> bool:
    """Should the route run once at start-up?

    Cron: yes if a fire time passed since the last run (the server was down or busy). A route
    that never ran has missed nothing. Interval and watched routes: yes, always: a poll is
    cheap, and files may have landed while nobody was looking.
    """
    if route.schedule and route.every is None and not route.watch:
        if last_run is None:
            return False
        fire = next_cron(route, settings, last_run)
        return fire is not None and fire <= now
    return True


def next_run(route: RouteSpec, settings: Settings, last_run: datetime | None,
             now: datetime) -> datetime | None:
    """When serve will next poll the route (for ``tradelane status``)."""
    candidates = []
    if route.schedule:
        if missed_run(route, settings, last_run, now):
            candidates.append(now)
        fire = next_cron(route, settings, now)
        if fire is not None:
            candidates.append(fire)
    interval = poll_interval(route, settings)
    if interval is not None:
        candidates.append(max(now, last_run + interval) if last_run else now)
    return min(candidates) if candidates else None


def describe(route: RouteSpec, settings: Settings) -> str:
    """``cron 0 2 * * * (Europe/Berlin)``, ``every 5m``, ``watch + every 1m``."""
    parts = []
    if route.watch:
        parts.append("watch")
    if route.schedule:
        parts.append(f"cron {route.schedule} ({route.timezone or settings.timezone})")
    interval = poll_interval(route, settings)
    if interval is not None:
        parts.append(f"every {_short(interval)}")
    return " + ".join(parts)


def _short(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
