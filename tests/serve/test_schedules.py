"""Cron, catch-up after down-time, and expected arrivals, with time driven by time-machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from support.project import ProjectDir
from tradelane.serve.expect import last_deadline, next_deadline, overdue
from tradelane.serve.scheduler import RouteRunner, Scheduler
from tradelane.serve.schedules import describe, missed_run, next_cron, next_run
from tradelane.spec import ExpectSpec, RouteSpec, Settings

BERLIN = ZoneInfo("Europe/Berlin")


def route(**extra: object) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "orders", "source": {"folder": "inbox/orders"}, "format": {"type": "csv"},
        "fields": {"a": {"source": "A"}}, "target": {"folder": "outbox/orders"}, **extra})


SETTINGS = Settings(timezone="Europe/Berlin")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def test_nightly_cron_fires_at_two_berlin_time_across_dst() -> None:
    nightly = route(schedule="0 2 * * *")
    assert next_cron(nightly, SETTINGS, berlin(2026, 3, 27, 12)) == berlin(2026, 3, 28, 2)
    # 2026-03-29 02:00 does not exist in Berlin (clocks jump to 03:00): the run still happens
    fire = next_cron(nightly, SETTINGS, berlin(2026, 3, 28, 12))
    assert fire is not None and fire.astimezone(UTC) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    # the route's own time zone wins over the settings'
    tokyo = route(schedule="0 2 * * *", timezone="Asia/Tokyo")
    fire = next_cron(tokyo, SETTINGS, datetime(2026, 1, 1, tzinfo=UTC))
    assert fire is not None and fire.astimezone(UTC) == datetime(2026, 1, 1, 17, tzinfo=UTC)


def test_a_missed_run_runs_once_at_start_and_only_if_missed() -> None:
    nightly = route(schedule="0 2 * * *")
    last = berlin(2026, 5, 4, 2, 0, 1)  # Monday's run
    # up again Tuesday 01:00: nothing was missed yet
    assert not missed_run(nightly, SETTINGS, last, berlin(2026, 5, 5, 1))
    # down at 02:00 on Tuesday, back at 07:00: one catch-up run
    assert missed_run(nightly, SETTINGS, last, berlin(2026, 5, 5, 7))
    # down for three nights: still one run (it is a boolean, not a count)
    assert missed_run(nightly, SETTINGS, last, berlin(2026, 5, 8, 7))
    # a route that never ran has missed nothing
    assert not missed_run(nightly, SETTINGS, None, berlin(2026, 5, 5, 7))
    # interval and watched routes poll at start anyway
    assert missed_run(route(every="5m"), SETTINGS, last, berlin(2026, 5, 4, 2, 1))
    assert missed_run(route(schedule="0 2 * * *", watch=True), SETTINGS, last,
                      berlin(2026, 5, 4, 3))


def test_next_run_for_status() -> None:
    now = berlin(2026, 5, 5, 12)
    assert next_run(route(schedule="0 2 * * *"), SETTINGS, now - timedelta(hours=10), now) \
        == berlin(2026, 5, 6, 2)
    assert next_run(route(every="5m"), SETTINGS, now - timedelta(minutes=1), now) \
        == now + timedelta(minutes=4)
    assert describe(route(schedule="0 2 * * *"), SETTINGS) == "cron 0 2 * * * (Europe/Berlin)"
    assert describe(route(watch=True), SETTINGS) == "watch + every 1m"


def test_scheduler_start_catches_up_once_and_plans_next_fire(project: ProjectDir) -> None:
    project.route("nightly", """\
        source: {folder: inbox/nightly}
        format: {type: csv}
        fields: {a: {source: A}}
        target: {folder: outbox/nightly}
        schedule: "0 2 * * *"
        timezone: Europe/Berlin
    """).route("fresh", """\
        source: {folder: inbox/fresh}
        format: {type: csv}
        fields: {a: {source: A}}
        target: {folder: outbox/fresh}
        schedule: "0 2 * * *"
    """)
    woken: list[tuple[str, str]] = []
    with time_machine.travel(berlin(2026, 5, 5, 7, 30), tick=False):
        scheduler = Scheduler(project.load(), lambda name, why: woken.append((name, why)))
        try:
            due = scheduler.start({"nightly": berlin(2026, 5, 4, 2, 0, 3), "fresh": None})
            plan = scheduler.next_runs()
            jobs = scheduler.aps.get_jobs()
        finally:
            scheduler.shutdown()
    assert due == ["nightly"]  # down at 02:00 today; "fresh" never ran, so nothing missed
    assert plan["nightly"] == berlin(2026, 5, 6, 2)
    assert all(j.coalesce and j.max_instances == 1 and j.misfire_grace_time == 3600
               for j in jobs)


@pytest.mark.parametrize(("now", "arrived", "late_for"), [
    # Tuesday 05:59: not yet due
    (berlin(2026, 5, 5, 5, 59), berlin(2026, 5, 1, 23), None),
    # Tuesday 06:01, last file Friday: Tuesday's file is overdue (Monday's was met? no file
    # since Monday 06:00 -> overdue for Tuesday)
    (berlin(2026, 5, 5, 6, 1), berlin(2026, 5, 1, 23), berlin(2026, 5, 5, 6)),
    # Monday 06:01, file came Friday evening: it counts for Monday (weekend skipped)
    (berlin(2026, 5, 4, 6, 1), berlin(2026, 5, 1, 23), None),
    # Monday 06:01, last file Friday 05:00 (before Friday's deadline): Monday is overdue
    (berlin(2026, 5, 4, 6, 1), berlin(2026, 5, 1, 5), berlin(2026, 5, 4, 6)),
    # Saturday noon: no deadline on weekends; Friday's was met
    (berlin(2026, 5, 9, 12), berlin(2026, 5, 8, 4), None),
    # never any file: overdue at the first deadline
    (berlin(2026, 5, 5, 6, 1), None, berlin(2026, 5, 5, 6)),
    # late file arrives at 06:30: the incident clears
    (berlin(2026, 5, 5, 7), berlin(2026, 5, 5, 6, 30), None),
])
def test_overdue_weekday_file(now: datetime, arrived: datetime | None,
                              late_for: datetime | None) -> None:
    expect = ExpectSpec.model_validate({"by": "06:00", "every": "weekday"})
    with time_machine.travel(now, tick=False):
        late = overdue(expect, BERLIN, datetime.now(UTC), arrived)
    assert (late.deadline if late else None) == late_for


def test_deadlines_for_a_list_of_days() -> None:
    expect = ExpectSpec.model_validate({"by": "18:30", "every": ["mon", "thu"]})
    tuesday = berlin(2026, 5, 5, 12)
    assert last_deadline(expect, BERLIN, tuesday) == berlin(2026, 5, 4, 18, 30)
    assert next_deadline(expect, BERLIN, tuesday) == berlin(2026, 5, 7, 18, 30)


def test_runner_runs_one_poll_per_route_and_folds_wakes() -> None:
    import threading
    import time

    started = threading.Event()
    release = threading.Event()
    calls: list[str] = []
    active: dict[str, int] = {}
    worst: dict[str, int] = {}
    lock = threading.Lock()

    def poll(name: str) -> None:
        with lock:
            active[name] = active.get(name, 0) + 1
            worst[name] = max(worst.get(name, 0), active[name])
            calls.append(name)
        started.set()
        release.wait(5)
        time.sleep(0.01)
        with lock:
            active[name] -= 1

    runner = RouteRunner(poll, workers=2)
    runner.wake("a")
    assert started.wait(5)
    for _ in range(50):  # a burst while "a" is polling: one more poll, not fifty
        runner.wake("a")
        runner.wake("b")
    release.set()
    assert runner.wait_idle(5)
    assert calls.count("a") == 2 and calls.count("b") in (1, 2)
    assert worst == {"a": 1, "b": 1}
    assert runner.close(5)
    runner.wake("a")  # closed: ignored
    assert calls.count("a") == 2
