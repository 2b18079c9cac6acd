"""One file in full: what is wrong and where, what it led to, its history, its downloads.

The page says what the file's state means for ops (a duplicate has nothing to fix, split-out
records came from another file, a pending file is retried by itself, a lost one must be sent
again) and offers only the actions that state allows, to an operator. Downloads never name
a path from the partner: the file name given to the browser is made safe, and only files in
the engine's own quarantine and archive folders are served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import select

from tradelane import ops
from tradelane.as2.ledger import add_to_history
from tradelane.errors import NotFound
from tradelane.ledger import FileRecord, Ledger
from tradelane.ledger.tables import content_keys, files
from tradelane.models import QUARANTINE_STATES, FileState
from tradelane.paths import is_inside, safe_component
from tradelane.quarantine import original_of, read_reason, reason_path
from tradelane.spec import Project
from tradelane.web.params import ConsoleDep, FileId
from tradelane.web.preview import preview
from tradelane.web.render import render
from tradelane.web.roles import Role, User, require

_see = require(Role.viewer, "see the console")
# login first: an id is looked up only for someone who may see it
router = APIRouter(dependencies=[Depends(_see)])
Viewer = Annotated[User, Depends(_see)]


@router.get("/files/{file_id}", response_class=HTMLResponse)
def file_page(request: Request, con: ConsoleDep, user: Viewer,
              file_id: FileId) -> HTMLResponse:
    record = con.ledger.get(file_id)  # NotFound: the app's 404 page
    project = con.project()
    trail = ops.history(con.ledger, str(file_id))[0]
    add_to_history(con.ledger.engine, [trail])  # the AS2 message it came in, if it did
    reason: dict[str, Any] | None = None
    shown = None
    if record.state in QUARANTINE_STATES:
        reason = ops.reason(con.ledger, file_id)
    elif record.state == FileState.PENDING and record.path:  # a reprocess waiting: why before
        reason = read_reason(Path(record.path)) or None
    if record.path and _servable(project, Path(record.path)) and record.state in (
            *QUARANTINE_STATES, FileState.PENDING):
        errors = reason.get("errors", []) if reason else []
        shown = preview(Path(record.path), project.routes.get(record.route),
                        _quarantine_root(project), errors)
    edit_refused = ""
    if record.state == FileState.QUARANTINED:
        try:
            ops.editable(project, record)
        except ops.NotEditable as exc:
            edit_refused = exc.why
    return render(
        request, "file.html", nav="files", file=trail["file"], events=trail["events"],
        reason=reason, preview=shown, related=ops.related(con.ledger, record),
        duplicate_of=_duplicate_of(con.ledger, record), can_act=user.role >= Role.operator,
        edit_refused=edit_refused, original=_original(project, record) is not None,
        reason_file=_reason_file(project, record) is not None,
        edited=_is_edit(record), queued=ops.QUEUED, as2_received=trail["as2_received"])


@router.get("/files/{file_id}/original")
def download_original(con: ConsoleDep, user: Viewer, file_id: FileId) -> FileResponse:
    """The file as it came in (never an edit of it)."""
    record = con.ledger.get(file_id)
    path = _original(con.project(), record)
    if path is None:
        raise NotFound(file_id, "kept copy of file")
    return _attachment(path, safe_component(record.name), "application/octet-stream")


@router.get("/files/{file_id}/reason")
def download_reason(con: ConsoleDep, user: Viewer, file_id: FileId) -> FileResponse:
    record = con.ledger.get(file_id)
    path = _reason_file(con.project(), record)
    if path is None:
        raise NotFound(file_id, "reason file of file")
    return _attachment(path, f"{file_id}-{safe_component(record.name)}.reason.json",
                       "application/json")


def _attachment(path: Path, name: str, media_type: str) -> FileResponse:
    """A download under ``name`` (already safe): plain ASCII for old browsers, the exact
    name as RFC 5987 ``filename*``; never rendered inline."""
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    response = FileResponse(path, media_type=media_type)
    response.headers["content-disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}")
    return response


def _quarantine_root(project: Project) -> Path:
    return project.settings.path(project.settings.folders.quarantine)


def _servable(project: Project, path: Path) -> bool:
    """Only the engine's own copies (quarantine, archive) are shown or downloaded."""
    settings = project.settings
    return path.is_file() and any(is_inside(path, settings.path(folder)) for folder in (
        settings.folders.quarantine, settings.folders.archive))


def _is_edit(record: FileRecord) -> bool:
    return bool(record.path) and original_of(Path(record.path or "")) != Path(record.path or "")


def _original(project: Project, record: FileRecord) -> Path | None:
    if not record.path:
        return None
    path = original_of(Path(record.path))
    return path if _servable(project, path) else None


def _reason_file(project: Project, record: FileRecord) -> Path | None:
    if not record.path:
        return None
    path = reason_path(Path(record.path))
    if not path.is_file():  # an edit not yet reprocessed: the original's reason
        path = reason_path(original_of(Path(record.path)))
    return path if _servable(project, path) else None


def _duplicate_of(ledger: Ledger, record: FileRecord) -> dict[str, Any] | None:
    """For a duplicate: the file that delivered the same content first, and when."""
    if record.state != FileState.DUPLICATE or not record.sha256:
        return None
    with ledger.engine.connect() as conn:
        row = conn.execute(
            select(files.c.id, files.c.name, content_keys.c.at)
            .join(files, files.c.id == content_keys.c.file_id)
            .where(content_keys.c.route == record.route,
                   content_keys.c.sha256 == record.sha256)).one_or_none()
    if row is None or row.id == record.id:
        return None
    return {"id": row.id, "name": row.name, "at": row.at.isoformat()}
