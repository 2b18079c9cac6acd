"""The landing page: is anything wrong, and where. Also one page per route.

Per route it reuses what ``tradelane status`` computes (``ops.status``: counts, last runs,
schedule, next run, overdue, open alerts) and adds three things the console needs on top:
the oldest pending file, the last run that reached its source, and a traffic light with the
reasons in words. The page refreshes itself with a meta refresh (no script: the CSP allows
none), which a link pauses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, func, select

from tradelane import ops
from tradelane.errors import NotFound
from tradelane.ledger import utcnow
from tradelane.ledger.alerts import Incidents
from tradelane.ledger.tables import files, runs
from tradelane.models import FileState
from tradelane.spec import Settings
from tradelane.web.files import FileFilter, file_page
from tradelane.web.params import ConsoleDep
from tradelane.web.render import render
from tradelane.web.roles import Role, require

router = APIRouter(dependencies=[Depends(require(Role.viewer, "see the console"))])

REFRESH_S = 30
#: A file pending longer than this turns its route's light amber.
PENDING_WARN = timedelta(hours=1)
_TOTALS = {"delivered": ("delivered", "archived"), "quarantined": ("quarantined", "lost"),
           "pending": ("pending",), "duplicates": ("duplicate",)}


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, con: ConsoleDep,
              pause: Annotated[str, Query(max_length=5)] = "") -> HTMLResponse:
    project = con.project()
    now = utcnow()
    rows = ops.status(project, con.ledger)
    engine = con.ledger.engine
    pending, reached = oldest_pending(engine), last_reached(engine)
    for row in rows:
        row.update(route_light(row, pending.get(row["route"]), reached.get(row["route"]), now))
    tz = ZoneInfo(project.settings.timezone)
    midnight = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    totals = {"today": received_since(engine, midnight.astimezone(UTC)),
              "24h": received_since(engine, now - timedelta(hours=24))}
    return render(request, "dashboard.html", nav="status", rows=rows, totals=totals,
                  serve=serve_banner(rows, project.settings), tz=project.settings.timezone,
                  refresh=None if pause else REFRESH_S, paused=bool(pause),
                  ago=ago, lights={level: sum(r["light"] == level for r in rows)
                          for level in ("red", "amber", "green")})


@router.get("/routes/{name}", response_class=HTMLResponse)
def route_page(request: Request, con: ConsoleDep, name: str,
               pause: Annotated[str, Query(max_length=5)] = "") -> HTMLResponse:
    project = con.project()
    rows = [r for r in ops.status(project, con.ledger) if r["route"] == name]
    if not rows:
        raise NotFound(name[:64], "route")
    row = rows[0]
    engine = con.ledger.engine
    row.update(route_light(row, oldest_pending(engine, name).get(name),
                           last_reached(engine, name).get(name), utcnow()))
    recent = file_page(engine, FileFilter(route=name, per=20))
    return render(request, "route.html", nav="status", r=row, recent=recent,
                  alerts=Incidents(con.ledger).open_incidents(route=name),
                  spec=project.routes.get(name), refresh=None if pause else REFRESH_S,
                  paused=bool(pause), serve=serve_banner(rows, project.settings), ago=ago)


def received_since(engine: Engine, since: datetime) -> dict[str, int]:
    """Files received since ``since``, by where they are now (delivered, quarantined, ...)."""
    with engine.connect() as conn:
        counts: dict[str, int] = dict(conn.execute(select(files.c.state, func.count())
                                   .where(files.c.received_at >= since)
                                   .group_by(files.c.state)).all())
    out = {key: sum(counts.get(s, 0) for s in states) for key, states in _TOTALS.items()}
    out["all"] = sum(counts.values())
    return out


def oldest_pending(engine: Engine, route: str | None = None) -> dict[str, datetime]:
    """route -> when its oldest pending file was received."""
    query = select(files.c.route, func.min(files.c.received_at)) \
        .where(files.c.state == FileState.PENDING.value).group_by(files.c.route)
    if route is not None:
        query = query.where(files.c.route == route)
    with engine.connect() as conn:
        return {r: _aware(at) for r, at in conn.execute(query)}


def last_reached(engine: Engine, route: str | None = None) -> dict[str, datetime]:
    """route -> when its last run that reached its source finished (no source error)."""
    query = select(runs.c.route, func.max(runs.c.finished_at)) \
        .where(runs.c.finished_at.is_not(None), runs.c.error.is_(None)).group_by(runs.c.route)
    if route is not None:
        query = query.where(runs.c.route == route)
    with engine.connect() as conn:
        return {r: _aware(at) for r, at in conn.execute(query)}


def _aware(value: datetime) -> datetime:
    # an aggregate bypasses the column type: SQLite hands back a naive UTC time (or text)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def route_light(row: dict[str, Any], pending_since: datetime | None,
                reached_at: datetime | None, now: datetime) -> dict[str, Any]:
    """red: something is broken or late; amber: files wait for someone; green: neither.
    Each reason is a sentence an ops person acts on."""
    red: list[str] = []
    amber: list[str] = []
    if row["mapping"] != "ok":
        red.append(f"mapping {row['mapping']}: " + "; ".join(row["mapping_problems"]))
    if row["overdue_since"]:
        red.append(f"expected file overdue since {_clock(row['overdue_since'])}")
    if row["last_result"].startswith("source unavailable"):
        red.append(f"source unreachable at the last run ({row['last_result'][20:]})")
    if row["open_alerts"]:
        red.append(f"{row['open_alerts']} open alert(s)")
    if row["quarantined"]:
        amber.append(f"{row['quarantined']} file(s) in quarantine")
    waited = now - pending_since if pending_since else None
    if waited is not None and waited > PENDING_WARN:
        amber.append(f"a file has been pending for {ago(waited.total_seconds())}")
    if row["owner"] is None and not red:
        amber.append("no owner: nobody is told when it fails")
    light = "red" if red else "amber" if amber else "green"
    return {"light": light, "reasons": red + amber,
            "oldest_pending_s": waited.total_seconds() if waited else None,
            "last_success": reached_at.isoformat() if reached_at else None}


def serve_banner(rows: list[dict[str, Any]], settings: Settings) -> dict[str, Any] | None:
    """What to say when ``tradelane serve`` is not looking after the routes (None: it is)."""
    beat = rows[0]["serve_heartbeat"] if rows else None
    if not rows:
        return None
    if beat is None:
        return {"title": "tradelane serve has never run on this ledger",
                "text": "No route is fetched on its schedule and no alert is sent until"
                        " someone starts it (or runs tradelane run by hand)."}
    age = ago(beat["age_s"])
    if beat["state"] in ("stopped", "killed"):
        how = "was stopped" if beat["state"] == "stopped" else "ended without shutting down"
        return {"title": "tradelane serve is not running",
                "text": f"It {how} {age} ago ({_clock(beat['beat_at'])} UTC, worker"
                        f" {beat['worker']}). Routes are not fetched and alerts are not sent"
                        " until it is started again."}
    limit = 3 * settings.health.heartbeat.total_seconds()
    if beat["age_s"] > limit:
        return {"title": "tradelane serve has stopped answering",
                "text": f"Its last heartbeat was {age} ago ({_clock(beat['beat_at'])} UTC,"
                        f" worker {beat['worker']}); it writes one every"
                        f" {ago(settings.health.heartbeat.total_seconds())}. It may have"
                        " crashed or hung: check the process and its log."}
    return None


def ago(seconds: float) -> str:
    """A duration in the largest unit that fits: "45 seconds", "3 minutes", "2 days"."""
    seconds = max(0, int(seconds))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _clock(iso: str) -> str:
    return iso[:16].replace("T", " ")
