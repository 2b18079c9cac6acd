"""What ``tradelane status`` says about serving: schedule, next run, overdue, heartbeat.

Computed from the specs and the ledger alone, so it answers the same from any machine and
whether or not a server is running.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tradelane.ledger import Ledger
from tradelane.ledger.alerts import Heartbeats, Incidents
from tradelane.serve.expect import loaded_at, next_deadline, overdue
from tradelane.serve.schedules import describe, next_run, route_timezone
from tradelane.spec import Project


def route_fields(project: Project, ledger: Ledger, name: str, last_run: datetime | None,
                 now: datetime, open_alerts: dict[str | None, int]) -> dict[str, Any]:
    route = project.route(name)
    settings = project.settings
    tz = route_timezone(route, settings)
    upcoming = next_run(route, settings, last_run, now)
    late = deadline = None
    if route.expect is not None:
        late = overdue(route.expect, tz, now, ledger.last_arrival(name), since=loaded_at(route))
        deadline = next_deadline(route.expect, tz, now)
    return {
        "schedule": describe(route, settings),
        "next_run": upcoming.isoformat() if upcoming else None,
        "overdue_since": late.deadline.isoformat() if late else None,
        "next_deadline": deadline.isoformat() if deadline else None,
        "open_alerts": open_alerts.get(name, 0),
    }


def open_alert_counts(ledger: Ledger) -> dict[str | None, int]:
    counts: dict[str | None, int] = {}
    for incident in Incidents(ledger).open_incidents():
        counts[incident.route] = counts.get(incident.route, 0) + 1
    return counts


def heartbeat(ledger: Ledger, now: datetime) -> dict[str, Any] | None:
    """The most recent ``tradelane serve`` heartbeat, with its age in seconds."""
    beats = Heartbeats(ledger).latest()
    if not beats:
        return None
    newest = beats[0]
    return {"worker": newest["worker"], "state": newest["state"],
            "age_s": round((now - newest["beat_at"]).total_seconds(), 1),
            "beat_at": newest["beat_at"].isoformat()}
