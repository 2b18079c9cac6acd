"""What ops staff ask of the engine, as plain data: shared by the CLI and the web console."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from tradelane.errors import NotFound, RejectError, TradelaneError
from tradelane.ledger import Ledger, utcnow
from tradelane.ledger.outbox import outbox_rows
from tradelane.models import QUARANTINE_STATES, Document, FileState
from tradelane.quarantine import read_reason, release
from tradelane.serve import status as serve_status
from tradelane.spec import Project, RouteSpec


def dry_run(project: Project, route: RouteSpec, path: Path) -> dict[str, Any]:
    """Read, validate and transform ``path`` without touching the ledger or any folder."""
    # the data stack (pandas, Arrow) is imported here: the other commands answer without it
    from tradelane.formats import reader_for
    from tradelane.staging import Staged
    from tradelane.targets import target_for
    from tradelane.transform import transform
    from tradelane.validate import validate

    limit = project.settings.max_reason_errors
    issues: list[dict[str, str]] = []
    error_count = 0
    records = 0
    notes: list[str] = []
    stage = ""
    message = ""
    preview_batches: list[Document] = []
    try:
        for doc in reader_for(route).read(Staged.file(path), route):
            notes.extend(n for n in doc.notes if n not in notes)
            valid = validate(doc, route, limit=limit)
            result = transform(valid.document, route, limit=limit)
            found = valid.issues + result.issues
            if valid.error_count or result.error_count:
                stage = stage or ("validate" if valid.error_count else "transform")
            error_count += valid.error_count + result.error_count
            issues.extend(i.as_dict() for i in found[: max(0, limit - len(issues))])
            records += len(result.document.records)
            if len(preview_batches) < 1:
                preview_batches.append(result.document)
    except RejectError as exc:
        stage, message = exc.stage, exc.message
        error_count += exc.error_count
        issues.extend(i.as_dict() for i in exc.issues[: max(0, limit - len(issues))])
    if error_count and not message:
        message = f"{error_count} problem(s) in the data"
    preview = ""
    if not error_count and preview_batches:
        try:
            preview = target_for(route, project.settings).preview(preview_batches, route)
        except (TradelaneError, NotImplementedError) as exc:
            preview = f"(no preview: {exc})"
    return {"file": str(path), "route": route.name, "valid": error_count == 0,
            "records": records, "stage": stage, "message": message, "errors": issues,
            "error_count": error_count, "notes": notes, "preview": preview}


_LINE = re.compile(r"\bline (\d+)")


def quarantined(ledger: Ledger, route: str | None = None) -> list[dict[str, Any]]:
    rows = ledger.files(states=QUARANTINE_STATES, route=route)
    return [{"id": r.id, "route": r.route, "name": r.name, "state": r.state.value,
             "stage": r.stage, "message": r.message, "error_count": r.error_count,
             "attempt": r.attempt, "since": r.updated_at.isoformat(), "path": r.path}
            for r in rows]


def reason(ledger: Ledger, file_id: int) -> dict[str, Any]:
    record = ledger.get(file_id)
    if record.state not in QUARANTINE_STATES:
        raise TradelaneError(f"file {file_id} is not in quarantine (it is {record.state.value})")
    data = read_reason(Path(record.path)) if record.path else {}
    if not data:
        data = {"route": record.route, "original_name": record.name, "stage": record.stage,
                "message": record.message, "errors": [], "error_count": record.error_count,
                "attempt": record.attempt,
                "reprocess": f"tradelane quarantine reprocess {file_id}"}
    return {**data, "path": record.path, "state": record.state.value}


def offending_lines(project: Project, reason: dict[str, Any], *, most: int = 10,
                    width: int = 200) -> list[dict[str, Any]]:
    """The lines of the quarantined file that the errors point at ("line N"), so ops see the
    data itself next to the complaint. Reads no further than the last line needed."""
    wanted = sorted({int(m.group(1)) for e in reason.get("errors", [])
                     if (m := _LINE.search(e.get("location", "")))})[:most]
    path = Path(reason.get("path") or "")
    if not wanted or not path.is_file():
        return []
    route = project.routes.get(reason.get("route", ""))
    encoding = getattr(route.format, "encoding", None) if route else None
    found = []
    with open(path, encoding=encoding or "utf-8", errors="replace", newline="") as fh:
        for number, line in enumerate(fh, start=1):
            if number in wanted:
                text = line.rstrip("\r\n")
                found.append({"line": number,
                              "text": text[:width] + ("…" if len(text) > width else "")})
            if number >= wanted[-1]:
                break
    return found


def discard(project: Project, ledger: Ledger, file_id: int, why: str) -> str:
    record = ledger.get(file_id)
    if record.state not in QUARANTINE_STATES:
        raise TradelaneError(f"file {file_id} is not in quarantine (it is {record.state.value})")
    settings = project.settings
    where = record.path or ""
    if record.path and Path(record.path).exists():
        folder = settings.path(settings.folders.archive) / record.route / "discarded"
        where = str(release(Path(record.path), folder))
    ledger.transition(file_id, record.state, FileState.DISCARDED, f"discarded: {why}",
                      message=f"discarded: {why}", path=where)
    return where


def history(ledger: Ledger, key: str) -> list[dict[str, Any]]:
    records = ledger.find(key)
    if not records:
        raise NotFound(key)
    out = []
    for record in records:
        file = dataclasses.asdict(record)
        file["state"] = record.state.value
        out.append({"file": file,
                    "events": [dataclasses.asdict(e) | {"at": e.at.isoformat()}
                               for e in ledger.events(record.id)],
                    "batches": [dataclasses.asdict(b)
                                for b in outbox_rows(ledger.engine, record.id)]})
    return out


def status(project: Project, ledger: Ledger) -> list[dict[str, Any]]:
    counts = ledger.counts()
    runs = ledger.last_runs()
    now, alerts = utcnow(), serve_status.open_alert_counts(ledger)
    beat = serve_status.heartbeat(ledger, now)
    out = []
    for name in sorted(project.routes):
        c = counts.get(name, {})
        run = runs.get(name)
        arrival = ledger.last_arrival(name)
        if run is None:
            result = ""
        elif run["error"]:
            result = f"source unavailable: {run['error']}"
        else:
            result = (f"{run['delivered']} delivered, {run['quarantined']} quarantined, "
                      f"{run['pending']} pending")
        out.append({
            "route": name,
            "last_run": run["finished_at"].isoformat() if run else None,
            "last_result": result,
            "delivered": c.get("archived", 0) + c.get("delivered", 0),
            "quarantined": c.get("quarantined", 0) + c.get("duplicate", 0),
            "pending": c.get("pending", 0),
            "in_progress": c.get("claimed", 0) + c.get("staged", 0),
            "last_arrival": arrival.isoformat() if arrival else None,
            "checked_at": utcnow().isoformat(),
            **serve_status.route_fields(project, ledger, name,
                                        run["started_at"] if run else None, now, alerts),
            "serve_heartbeat": beat,
        })
    return out
