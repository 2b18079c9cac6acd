"""The two things ops do to a quarantined file: reprocess it, or discard it with a reason.

Each is a POST (CSRF-checked app-wide) answered with a redirect and a one-line message in
plain words. The engine decides; this module only words the outcome. An unknown file is
``NotFound``, answered by the app's 404 page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from tradelane import ops
from tradelane.errors import Conflict, NotFound, TradelaneError
from tradelane.models import FileState
from tradelane.pipeline import FileResult, Outcome
from tradelane.web.params import ConsoleDep, FileId
from tradelane.web.roles import Role, User, require
from tradelane.web.session import flash
from tradelane.web.state import Console

router = APIRouter()


def _back(file_id: int) -> RedirectResponse:
    return RedirectResponse(f"/files/{file_id}", status_code=303)


@router.post("/files/{file_id}/reprocess")
def reprocess(request: Request, con: ConsoleDep, file_id: FileId,
              user: Annotated[User, Depends(require(Role.operator, "reprocess files"))],
              force: Annotated[str | None, Form()] = None) -> RedirectResponse:
    try:
        with con.pipeline(user) as pipeline:
            result = pipeline.reprocess(file_id, force=bool(force))
    except NotFound:
        raise
    except Conflict:
        flash(request, "error", _conflict(con, file_id, bool(force)))
        return _back(file_id)
    except TradelaneError as exc:
        flash(request, "error", f"File {file_id} was not reprocessed: {exc}")
        return _back(file_id)
    kind, text = outcome_message(result)
    flash(request, kind, text)
    if result.outcome == Outcome.DELIVERED:
        return RedirectResponse("/quarantine", status_code=303)
    return _back(file_id)


def _conflict(con: Console, file_id: int, force: bool) -> str:
    state = con.ledger.get(file_id).state
    if state == FileState.DUPLICATE and not force:
        return (f"File {file_id} has the same content as a file already delivered, so it was"
                " not sent again. Tick 'deliver even if duplicate' to send it anyway.")
    return (f"File {file_id} was not reprocessed: it is {state.value} now, no longer waiting in"
            " quarantine (someone else may have acted on it).")


def outcome_message(r: FileResult) -> tuple[str, str]:
    what, why = f"File {r.file_id} ({r.name})", r.message.rstrip(".")
    if r.outcome == Outcome.DELIVERED:
        where = ", ".join(o.removeprefix("file://") for o in r.outputs) or "its target"
        return "ok", f"{what} was delivered: {r.records} record(s) to {where}."
    if r.outcome == Outcome.QUARANTINED:
        return "error", f"{what} is still in quarantine: {why}. Fix it and try again."
    if r.outcome == Outcome.DUPLICATE:
        return "warn", (f"{what} has the same content as a file already delivered; it was not"
                        " sent again.")
    if r.outcome == Outcome.PENDING:
        return "warn", (f"{what} hit a temporary problem ({why}). It will be retried"
                        " automatically.")
    return "error", (f"{what} could not be processed because of an internal error"
                     f" ({why}). It is kept, not delivered; tell the developers.")


@router.post("/files/{file_id}/discard")
def discard(request: Request, con: ConsoleDep, file_id: FileId,
            user: Annotated[User, Depends(require(Role.operator, "discard files"))],
            reason: Annotated[str, Form(max_length=1000)] = "") -> RedirectResponse:
    con.ledger.get(file_id)  # NotFound before anything else is said about the file
    reason = " ".join(reason.split())
    if not reason:
        flash(request, "error", "Say why the file is discarded: the reason is kept in its"
                                " history.")
        return _back(file_id)
    try:
        with con.pipeline(user) as pipeline:
            where = ops.discard(pipeline.project, pipeline.ledger, file_id, reason)
    except NotFound:
        raise
    except TradelaneError as exc:
        flash(request, "error", f"File {file_id} was not discarded: {exc}")
        return _back(file_id)
    flash(request, "ok", f"File {file_id} was discarded. It is kept at {where}.")
    return RedirectResponse("/quarantine", status_code=303)
