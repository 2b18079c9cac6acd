"""Expected arrivals: has the file that should be here by 06:00 arrived?

For a deadline D on an expected day, a file counts if it arrived after the previous expected
deadline: a Monday 06:00 deadline is met by a file that came on Friday evening, a daily one
by any file since yesterday 06:00. A late file clears the incident when it arrives. A route
is expected from its first deadline after its mapping was written or last changed.
Pure functions of the spec, a time zone, the last arrival and ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from tradelane.spec import ExpectSpec, RouteSpec


@dataclass(frozen=True, slots=True)
class Overdue:
    """The file expected by ``deadline`` has not arrived (nothing since ``window_start``)."""

    deadline: datetime
    window_start: datetime
    last_arrival: datetime | None

    @property
    def key_part(self) -> str:
        return self.deadline.isoformat(timespec="minutes")

    def message(self, route: str) -> str:
        seen = (f"the last file arrived {self.last_arrival:%Y-%m-%d %H:%M} UTC"
                if self.last_arrival else "no file has ever arrived on this route")
        local = self.deadline.strftime("%a %Y-%m-%d %H:%M %Z")
        return f"route {route}: the file expected by {local} has not arrived ({seen})"


def _deadline_on(day: date, expect: ExpectSpec, tz: tzinfo) -> datetime:
    return datetime.combine(day, expect.by, tzinfo=tz)


def last_deadline(expect: ExpectSpec, tz: tzinfo, now: datetime) -> datetime | None:
    """The latest expected deadline at or before ``now``."""
    today = now.astimezone(tz).date()
    for back in range(8):
        day = today - timedelta(days=back)
        if day.weekday() in expect.days:
            deadline = _deadline_on(day, expect, tz)
            if deadline <= now:
                return deadline
    return None


def next_deadline(expect: ExpectSpec, tz: tzinfo, now: datetime) -> datetime | None:
    """The first expected deadline after ``now``."""
    today = now.astimezone(tz).date()
    for ahead in range(8):
        day = today + timedelta(days=ahead)
        if day.weekday() in expect.days:
            deadline = _deadline_on(day, expect, tz)
            if deadline > now:
                return deadline
    return None


def loaded_at(route: RouteSpec) -> datetime | None:
    """When the route took its present form: its mapping file's last change. A new or
    changed route is expected from its first deadline after that, not from yesterday's
    (a route written at 20:01 expecting a file by 20:04 is not late at 20:01)."""
    if route.spec_path is None:
        return None
    try:
        return datetime.fromtimestamp(route.spec_path.stat().st_mtime, UTC)
    except OSError:
        return None


def overdue(expect: ExpectSpec, tz: tzinfo, now: datetime,
            last_arrival: datetime | None, since: datetime | None = None) -> Overdue | None:
    """The missed deadline, if no file arrived in its window (and none since); deadlines
    before ``since`` (when the route was loaded) do not count."""
    deadline = last_deadline(expect, tz, now)
    if deadline is None or (since is not None and deadline <= since):
        return None
    before = last_deadline(expect, tz, deadline - timedelta(seconds=1))
    start = before if before is not None else deadline - timedelta(days=7)
    if last_arrival is not None and last_arrival > start:
        return None
    return Overdue(deadline=deadline, window_start=start.astimezone(UTC),
                   last_arrival=last_arrival)
