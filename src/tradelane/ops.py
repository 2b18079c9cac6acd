"""What ops staff ask of the engine, as plain data: shared by the CLI and the web console."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from tradelane.crashpoints import crash_point
from tradelane.errors import (
    NotFound,
    NotInQuarantine,
    RejectError,
    RequestError,
    TradelaneError,
    exit_status,
)
from tradelane.formats.json_locate import line_of, path_lines, text_lines
from tradelane.ledger import FileRecord, Ledger, Move, utcnow
from tradelane.ledger.outbox import outbox_rows
from tradelane.ledger.tables import files, followups, sent_interchanges
from tradelane.models import QUARANTINE_STATES, Document, FileResult, FileState, RunSummary
from tradelane.paths import FolderSyncs, is_inside
from tradelane.quarantine import original_of, read_reason, release, write_edit
from tradelane.serve import status as serve_status
from tradelane.spec import Project, RouteSpec

if TYPE_CHECKING:
    from tradelane.runner import Runner


def dry_run(project: Project, route: RouteSpec, path: Path) -> dict[str, Any]:
    """Read, validate and transform ``path`` exactly as ``run`` would (the same stream,
    ``checking.checked_batches``: message isolation, split, every rule), without touching the
    ledger or any folder. Duplicate checks against the ledger are the one thing left out."""
    # the data stack (Arrow) is imported here: the other commands answer without it
    from tradelane.checking import Checked, checked_batches
    from tradelane.formats import reader_for
    from tradelane.formats.split import count
    from tradelane.nest import checked_nesting
    from tradelane.staging import Staged
    from tradelane.targets import target_for

    limit = project.settings.max_reason_errors
    checked = Checked()
    records = 0
    preview_batches: list[Document] = []
    error: RejectError | None = None
    steps = [f"{s.kind}: {getattr(s, s.kind)}" for s in route.steps.before_read]
    # the before_read steps' results go to a temporary folder, removed after the read
    with tempfile.TemporaryDirectory(prefix="tradelane-validate-") as spool:
        try:
            from tradelane.steps import prepared_input
            from tradelane.validators.run import against_schemas

            staged = prepared_input(route, Staged.file(path), Path(spool) / "input",
                                    project.settings)
            docs = against_schemas(reader_for(route).read(staged, route), staged, route,
                                   checked, root=project.settings.root, limit=limit)
            stream = checked_batches(docs, route, checked, limit=limit)
            for doc in checked_nesting(stream, route):  # a nest block's rules, as written
                records += len(doc.records)
                if not preview_batches:
                    preview_batches.append(doc)
        except RejectError as exc:
            error = exc
    issues = error.issues if error is not None else checked.issues
    error_count = error.error_count if error is not None else checked.error_count
    split = count(checked.rejected_rows) if error is None else 0
    message = error.message if error is not None else (
        f"{error_count} problem(s) in the data; {split} record(s) would be split out and"
        f" quarantined, {records} delivered" if error_count else "")
    preview = ""
    if not error_count and preview_batches:
        try:
            preview = target_for(route, project.settings).preview(preview_batches, route)
        except (TradelaneError, NotImplementedError) as exc:
            preview = f"(no preview: {exc})"
    return {"file": str(path), "route": route.name, "valid": error_count == 0,
            "records": records, "split_out": split,
            "stage": (error.stage if error is not None else checked.stage) if error_count
            else "", "message": message, "errors": [i.as_dict() for i in issues[:limit]],
            "error_count": error_count, "notes": list(dict.fromkeys(checked.notes)),
            "preview": preview, "steps": steps}


_BYTE = re.compile(r"\bbyte (\d+)")
_LINE = re.compile(r"\bline (\d+)")


def run_report(summary: RunSummary, refused: Sequence[TradelaneError] = (),
               exit_code: int | None = None) -> dict[str, Any]:
    """``run --json`` and ``quarantine reprocess --json``: one shape for both."""
    return {"exit_code": summary.exit_code if exit_code is None else exit_code,
            "files": [dataclasses.asdict(r) for r in summary.results],
            "source_errors": summary.source_errors, "config_errors": summary.config_errors,
            "internal_errors": summary.internal_errors,
            "refused": [{"message": str(e), "exit_code": exit_status(error=e)}
                        for e in refused]}


def quarantined(ledger: Ledger, route: str | None = None,
                project: Project | None = None) -> list[dict[str, Any]]:
    """Files in quarantine, of one route if given. A route name that is neither in the
    project nor in the quarantine is not found (a typo must not read as "empty")."""
    rows = ledger.files(states=QUARANTINE_STATES, route=route)
    if route and not rows and project is not None and route not in project.routes \
            and route not in project.invalid:
        raise NotFound(route, "route", sorted(project.routes))
    return [{"id": r.id, "route": r.route, "name": r.name, "state": r.state.value,
             "stage": r.stage, "message": r.message, "error_count": r.error_count,
             "attempt": r.attempt, "since": r.updated_at.isoformat(), "path": r.path}
            for r in rows]


def reason(ledger: Ledger, file_id: int) -> dict[str, Any]:
    record = ledger.get(file_id)
    if record.state not in QUARANTINE_STATES:
        raise NotInQuarantine(file_id, record.state.value)
    data = read_reason(Path(record.path)) if record.path else {}
    if not data:
        data = {"route": record.route, "original_name": record.name, "stage": record.stage,
                "message": record.message, "errors": [], "error_count": record.error_count,
                "attempt": record.attempt,
                "reprocess": f"tradelane quarantine reprocess {file_id}"}
    return {**data, "path": record.path, "state": record.state.value}


def offending_lines(project: Project, reason: dict[str, Any], *, most: int = 10,
                    width: int = 200) -> list[dict[str, Any]]:
    """The lines of the quarantined file that the errors point at ("line N", a JSON path, an
    EDI segment's byte), so ops see the data itself next to the complaint. Reads no further
    than the last line needed."""
    wanted = sorted({int(m.group(1)) for e in reason.get("errors", [])
                     if (m := _LINE.search(e.get("location", "")))})[:most]
    path = Path(reason.get("path") or "")
    route = project.routes.get(reason.get("route", ""))
    encoding = getattr(route.format, "encoding", None) if route else None
    if not wanted and path.is_file() and any(
            str(e.get("location", "")).startswith("$") for e in reason.get("errors", [])):
        return _offending_json(path, reason, encoding, most=most, width=width)
    if not wanted and path.is_file():
        return _offending_segments(path, reason, most=most, width=width)
    if not wanted or not path.is_file():
        return []
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


#: How much of a quarantined JSON document is read to find the lines its errors' JSON paths
#: name (the paths are found by scanning the text: a few seconds for this much).
JSON_LOCATE_BYTES = 4 << 20


def _offending_json(path: Path, reason: dict[str, Any], encoding: str | None, *, most: int,
                    width: int) -> list[dict[str, Any]]:
    """A JSON document's errors point at JSON paths ("$.lines[1].qty"): the line where each
    value starts, or for a missing key the object that should hold it."""
    with open(path, "rb") as fh:
        data = fh.read(JSON_LOCATE_BYTES + 1)
    complete = len(data) <= JSON_LOCATE_BYTES
    text = data[:JSON_LOCATE_BYTES].decode(encoding or "utf-8", errors="replace")
    paths = path_lines(text)
    wanted = sorted({n for e in reason.get("errors", [])
                     if (n := line_of(str(e.get("location", "")), paths,
                                      complete=complete)) is not None})[:most]
    lines = text_lines(text)
    return [{"line": n, "text": lines[n - 1][:width] + ("…" if len(lines[n - 1]) > width
                                                        else "")} for n in wanted]


def _offending_segments(path: Path, reason: dict[str, Any], *, most: int,
                        width: int) -> list[dict[str, Any]]:
    """EDI errors point at a segment and its byte offset ("segment 10 (byte 216)"): the
    segment itself, up to its terminator, is the line to show."""
    offsets = sorted({int(m.group(1)) for e in reason.get("errors", [])
                      if (m := _BYTE.search(e.get("location", "")))})[:most]
    found = []
    with open(path, "rb") as fh:
        for offset in offsets:
            fh.seek(offset)
            chunk = fh.read(width).decode("latin-1")
            end = min((i for i in (chunk.find(t) for t in "'~\n") if i >= 0),
                      default=len(chunk) - 1)
            found.append({"line": f"byte {offset}", "text": chunk[:end + 1].rstrip("\r\n")})
    return found


def discard(project: Project, ledger: Ledger, file_id: int, why: str) -> str:
    """Give up on one quarantined file (``discard_many``); returns where it is kept."""
    done, refused = discard_many(project, ledger, [file_id], why)
    if refused:
        raise refused[0]
    return done[0][1]


def discard_many(project: Project, ledger: Ledger, ids: Sequence[int], why: str
                 ) -> tuple[list[tuple[int, str]], list[TradelaneError]]:
    """Discard each file; one refused (not found, not in quarantine) never stops the
    others. Returns (file id, where it is kept) for those done, and the refusals.

    Many at once cost little: the copies move to the archive first, made durable with one
    fsync per folder, then every file is recorded discarded in one ledger transaction (a
    file moved by someone else meanwhile is refused there, its copy where it went)."""
    refused: list[TradelaneError] = []
    records: list[FileRecord] = []
    for file_id in dict.fromkeys(ids):
        try:
            record = ledger.get(file_id)
        except RequestError as exc:
            refused.append(exc)
            continue
        if record.state not in QUARANTINE_STATES:
            refused.append(NotInQuarantine(file_id, record.state.value))
        else:
            records.append(record)
    settings = project.settings
    syncs = FolderSyncs()
    moves: list[Move] = []
    kept: list[str] = []
    for record in records:
        where = record.path or ""
        if record.path and Path(record.path).exists():
            folder = settings.path(settings.folders.archive) / record.route / "discarded"
            where = str(release(Path(record.path), folder, syncs))  # an edit: with the original
        kept.append(where)
        moves.append(Move(record.id, (record.state,), FileState.DISCARDED, f"discarded: {why}",
                          fields={"message": f"discarded: {why}", "path": where}))
    syncs.flush()
    done: list[tuple[int, str]] = []
    for record, where, result in zip(records, kept, ledger.apply(moves) if moves else [],
                                     strict=True):
        if isinstance(result, TradelaneError):
            refused.append(result)
        else:
            done.append((record.id, where))
    return done, refused


@dataclasses.dataclass
class Reprocessed:
    """What ``reprocess_many`` did: the outcomes, the files refused, and those not started
    because its time ran out (in the order given)."""

    results: list[FileResult] = dataclasses.field(default_factory=list)
    refused: list[RequestError] = dataclasses.field(default_factory=list)
    not_started: list[int] = dataclasses.field(default_factory=list)


def reprocess_many(runner: Runner, ids: Sequence[int], *, force: bool = False,
                   on_refused: Callable[[RequestError], None] | None = None,
                   until: float | None = None) -> Reprocessed:
    """Reprocess each file (``tradelane quarantine reprocess`` and the console's bulk
    action); one refused (not found, moved by someone else, a duplicate without ``force``)
    never stops the others. ``until`` (a ``time.monotonic()`` value): files not started by
    then are left as they are, in ``not_started``."""
    done = Reprocessed()
    for n, file_id in enumerate(ids):
        if until is not None and time.monotonic() >= until:
            done.not_started = list(ids[n:])
            break
        try:
            done.results.append(runner.reprocess(file_id, force=force))
        except RequestError as exc:
            done.refused.append(exc)
            if on_refused is not None:
                on_refused(exc)
    return done


#: The message of a file queued by ``queue_reprocess``, for pages that word it.
QUEUED = "queued for reprocessing"


def queue_reprocess(project: Project, ledger: Ledger, ids: Sequence[int]
                    ) -> tuple[list[int], list[TradelaneError]]:
    """Hand quarantined files to the engine to reprocess at its next poll of their route
    (``serve``, or the next ``tradelane run``), in one ledger transaction: each becomes
    pending, due now, as a reprocess attempt that hit a temporary failure does
    (``Runner.retry_reprocessing``). Only files with a copy in the quarantine folder."""
    root = project.settings.path(project.settings.folders.quarantine)
    refused: list[TradelaneError] = []
    moves: list[Move] = []
    now = utcnow()
    for file_id in ids:
        try:
            record = ledger.get(file_id)
        except RequestError as exc:
            refused.append(exc)
            continue
        if record.state != FileState.QUARANTINED or not record.path or not is_inside(
                Path(record.path), root):
            refused.append(NotInQuarantine(file_id, record.state.value))
            continue
        moves.append(Move(file_id, (FileState.QUARANTINED,), FileState.PENDING,
                          "queued for reprocessing at the next poll of its route",
                          fields={"message": QUEUED, "next_attempt_at": now}))
    queued: list[int] = []
    for move, result in zip(moves, ledger.apply(moves) if moves else [], strict=True):
        if isinstance(result, TradelaneError):
            refused.append(result)
        else:
            queued.append(move.file_id)
    return queued, refused


def quarantined_ids(ledger: Ledger, project: Project, route: str | None,
                    stage: str | None) -> list[int]:
    """The ids ``--all`` means: every file in quarantine, of one route and stage if given."""
    return [r["id"] for r in quarantined(ledger, route, project)
            if stage is None or r["stage"] == stage or r["state"] == stage]


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


def _owner(project: Project, name: str) -> str | None:
    route = project.routes.get(name)
    return str(route.owner) if route is not None and route.owner is not None else None


def owners(project: Project) -> list[dict[str, Any]]:
    """Every route with its owner (``None``: nobody answers for it yet)."""
    return [{"route": name, "owner": _owner(project, name),
             "description": route.description}
            for name, route in sorted(project.routes.items())]


def _run_result(name: str, run: dict[str, Any] | None) -> str:
    if run is None:
        return ""
    if run["error"] and run["error"].startswith(f"route {name} is disabled"):
        return str(run["error"])
    if run["error"]:
        return f"source unavailable: {run['error']}"
    duplicates = run.get("duplicates") or 0
    if not (run["delivered"] or run["quarantined"] or run["pending"] or duplicates):
        return "no files"
    return (f"{run['delivered']} delivered, {run['quarantined']} quarantined, "
            f"{run['pending']} pending" + (f", {duplicates} duplicates" if duplicates else ""))


def _mapping_state(project: Project, name: str) -> dict[str, Any]:
    """ok; invalid (the route is disabled); or invalid while serve keeps running the version
    it loaded before the mapping broke."""
    problems = project.invalid.get(name, [])
    if not problems:
        return {"mapping": "ok", "mapping_problems": []}
    state = "invalid, previous version running" if name in project.routes else "disabled"
    return {"mapping": state, "mapping_problems": problems}


def _disabled_fields(open_alerts: int) -> dict[str, Any]:
    return {"schedule": "disabled (invalid mapping)", "next_run": None, "overdue_since": None,
            "next_deadline": None, "open_alerts": open_alerts}


def status(project: Project, ledger: Ledger) -> list[dict[str, Any]]:
    counts = ledger.counts()
    runs, busy_runs = ledger.last_runs(), ledger.last_runs(non_empty=True)
    now, alerts = utcnow(), serve_status.open_alert_counts(ledger)
    beat = serve_status.heartbeat(ledger, now)
    out = []
    for name in sorted(set(project.routes) | set(project.invalid)):
        c = counts.get(name, {})
        run = runs.get(name)
        arrival = ledger.last_arrival(name)
        busy = busy_runs.get(name)
        out.append({
            "route": name,
            "last_run": run["finished_at"].isoformat() if run else None,
            "last_result": _run_result(name, run),
            # the last run that handled a file: empty polls never overwrite it
            "last_files_run": busy["finished_at"].isoformat() if busy else None,
            "last_files_result": _run_result(name, busy),
            # from the files' states now, so a reprocess or a discard shows at once
            "delivered": c.get("archived", 0) + c.get("delivered", 0),
            "quarantined": c.get("quarantined", 0),
            "duplicates": c.get("duplicate", 0),
            "pending": c.get("pending", 0),
            "in_progress": c.get("claimed", 0) + c.get("staged", 0),
            "last_arrival": arrival.isoformat() if arrival else None,
            "checked_at": utcnow().isoformat(),
            **_mapping_state(project, name),
            "owner": _owner(project, name),
            "description": project.routes[name].description if name in project.routes
            else "",
            **(serve_status.route_fields(project, ledger, name,
                                         run["started_at"] if run else None, now, alerts)
               if name in project.routes else _disabled_fields(alerts.get(name, 0))),
            "serve_heartbeat": beat,
        })
    return out


# -- edit and resubmit -----------------------------------------------------------------------


class NotEditable(RequestError):
    """A file ops asked to edit that cannot be edited as text (nothing was changed)."""

    def __init__(self, file_id: int, why: str):
        self.file_id, self.why = file_id, why
        super().__init__(f"file {file_id} cannot be edited: {why}")


@dataclasses.dataclass(frozen=True, slots=True)
class EditableText:
    """A quarantined file as the text ops edit. ``sha256`` is that of the bytes shown: an
    edit made from an older copy is refused. ``bom``: a UTF-8 byte order mark, hidden from
    the editor and put back."""

    file_id: int
    text: str
    sha256: str
    encoding: str
    newline: str
    bom: bool = False


def editable(project: Project, record: FileRecord) -> EditableText:
    """The quarantined copy of ``record`` as text, or ``NotEditable`` saying why not (in
    words for the edit button): not in quarantine, no copy, too big, binary, not text in
    the route's encoding."""
    if record.state != FileState.QUARANTINED:
        raise NotEditable(record.id, f"it is {record.state.value}; only a file waiting in"
                                     " quarantine can be edited")
    settings = project.settings
    root = settings.path(settings.folders.quarantine)
    path = Path(record.path) if record.path else None
    if path is None or not is_inside(path, root) or not path.is_file():
        raise NotEditable(record.id, "no copy of it is kept in the quarantine folder")
    limit = settings.console.edit_max_size
    size = path.stat().st_size
    if size > limit:
        raise NotEditable(record.id, f"it is {size:,} bytes, more than the {limit:,} that can"
                                     " be edited here (console.edit_max_size)")
    data = path.read_bytes()[:limit + 1]
    if b"\0" in data:
        raise NotEditable(record.id, "it is a binary file, not text")
    route = project.routes.get(record.route)
    encoding = getattr(route.format, "encoding", None) if route is not None else None
    encoding = encoding or "utf-8"
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        where = f" (byte {exc.start})" if isinstance(exc, UnicodeDecodeError) else ""
        raise NotEditable(record.id, f"it is not text in its route's encoding, {encoding}"
                                     f"{where}") from None
    bom = text.startswith("\ufeff") and encoding.replace("_", "-").lower().startswith("utf-8")
    crlf = text.count("\r\n")
    return EditableText(record.id, text[1:] if bom else text,
                        hashlib.sha256(data).hexdigest(), encoding,
                        "\r\n" if crlf and crlf == text.count("\n") else "\n", bom)


def resubmit(runner: Runner, file_id: int, text: str, *, base_sha256: str,
             who: str = "") -> tuple[FileResult, str]:
    """Reprocess the quarantined file ``file_id`` as ``text`` (an edit of the text
    ``editable`` gave, whose bytes had ``base_sha256``); returns the outcome and the
    unified diff recorded in its history.

    The original stays untouched in quarantine. The edited bytes are written durably next
    to it, then the ledger points the file at them (with the diff, one transaction), then
    it is reprocessed as any quarantined file: a crash before the ledger knows leaves an
    unused copy; after, the file waits in quarantine as edited, for the next reprocess."""
    ledger, project = runner.ledger, runner.project
    record = ledger.get(file_id)
    current = editable(project, record)
    if current.sha256 != base_sha256:
        raise RequestError(f"file {file_id} changed since it was opened for editing (edited"
                           " by someone else?); open it again and redo the change")
    new_text = text.replace("\r\n", "\n")
    if current.newline != "\n":  # a browser sends CRLF: the file keeps its own line ends
        new_text = new_text.replace("\n", current.newline)
    try:
        data = (("\ufeff" if current.bom else "") + new_text).encode(current.encoding)
    except UnicodeEncodeError as exc:
        raise NotEditable(file_id, f"the character {exc.object[exc.start]!r} cannot be"
                                   f" written in {current.encoding}, the route's"
                                   " encoding") from None
    limit = project.settings.console.edit_max_size
    if len(data) > limit:
        raise NotEditable(file_id, f"the edited file is {len(data):,} bytes, more than the"
                                   f" {limit:,} allowed (console.edit_max_size)")
    if hashlib.sha256(data).hexdigest() == current.sha256:
        raise RequestError(f"file {file_id} was not resubmitted: nothing was changed")
    diff = "".join(difflib.unified_diff(
        current.text.splitlines(keepends=True), new_text.splitlines(keepends=True),
        fromfile=f"{record.name} (attempt {record.attempt})", tofile=f"{record.name} (edited)",
        n=1))
    original = original_of(Path(record.path or ""))
    edited = write_edit(original, data)
    crash_point("edit-written")
    by = f" by {who}" if who else ""
    ledger.transition(file_id, FileState.QUARANTINED, FileState.QUARANTINED,
                      f"edited{by} ({len(data):,} bytes); the original is kept at {original}"
                      f"\n{diff}", path=str(edited))
    crash_point("edit-recorded")
    return runner.reprocess(file_id), diff


# -- one file in full ------------------------------------------------------------------------


def related(ledger: Ledger, record: FileRecord) -> dict[str, Any]:
    """What a file led to, beyond its own row: the split it came from or made, the steps
    after its delivery (acknowledgements written, the original's release) and the EDI
    interchanges it was sent as, with their acknowledgement."""
    with ledger.engine.connect() as conn:
        children = conn.execute(select(files.c.id, files.c.name, files.c.state).where(
            files.c.parent_id == record.id).order_by(files.c.id)).all()
        parent = conn.execute(select(files.c.id, files.c.name, files.c.state).where(
            files.c.id == record.parent_id)).one_or_none() if record.parent_id else None
        steps = conn.execute(select(followups).where(followups.c.file_id == record.id)
                             .order_by(followups.c.id)).all()
        sent = conn.execute(select(sent_interchanges).where(
            sent_interchanges.c.file_id == record.id).order_by(sent_interchanges.c.id)).all()

    def brief(row: Any) -> dict[str, Any]:
        return {"id": row.id, "name": row.name, "state": row.state}

    return {
        "parent": brief(parent) if parent is not None else None,
        "children": [brief(c) for c in children],
        "acks": [{"path": json.loads(s.detail).get("path", ""), "done": s.done_at is not None,
                  "error": s.last_error or ""} for s in steps if s.step == "ack"],
        "steps": [{"step": s.step, "done": s.done_at is not None, "error": s.last_error or ""}
                  for s in steps],
        "sent": [{"output": r.output, "standard": r.standard, "control_ref": r.control_ref,
                  "recipient": r.recipient, "messages": r.messages,
                  "sent_at": r.sent_at.isoformat(), "ack_state": r.ack_state,
                  "ack_due_at": r.ack_due_at.isoformat() if r.ack_due_at else None}
                 for r in sent],
    }
