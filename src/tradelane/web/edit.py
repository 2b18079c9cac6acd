"""Edit and resubmit: fix a small quarantined text file in the browser and reprocess it.

``GET /files/{id}/edit`` shows the file's text in a textarea (or says why it cannot be
edited: binary, not text in its route's encoding, larger than ``console.edit_max_size``);
``POST`` hands the edited text to ``ops.resubmit``, the function ``tradelane quarantine
edit`` uses: the original stays in quarantine, the edit is kept next to it and recorded with
its diff, then reprocessed. An edit made from a copy that changed since the page was opened
is refused, and the page comes back with the text typed, so no work is lost.

A form carrying a file is bigger than the console's other forms: ``EditBodyLimit`` lets the
edit path (only) take up to three times ``edit_max_size`` (URL encoding of the worst text).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tradelane import ops
from tradelane.errors import RequestError
from tradelane.models import Outcome
from tradelane.spec import Settings
from tradelane.web.actions import outcome_message
from tradelane.web.guards import MAX_BODY, BodyLimit
from tradelane.web.params import ConsoleDep, FileId
from tradelane.web.render import render
from tradelane.web.roles import Role, User, require
from tradelane.web.session import flash

#: Starlette's form parser refuses a field over 1 MB by default; the body limit (per
#: project, ``body_limit``) is what bounds an edit.
_edit = require(Role.operator, "edit files")
router = APIRouter(form_limits={"max_part_size": 64 << 20}, dependencies=[Depends(_edit)])
Operator = Annotated[User, Depends(_edit)]
_EDIT_PATH = re.compile(r"^/files/[0-9]{1,12}/edit$")


@router.get("/files/{file_id}/edit", response_class=HTMLResponse)
def edit_page(request: Request, con: ConsoleDep, user: Operator,
              file_id: FileId) -> HTMLResponse:
    record = con.ledger.get(file_id)
    try:
        current = ops.editable(con.project(), record)
    except ops.NotEditable as exc:
        return render(request, "edit.html", 409, nav="files", file=record, refused=exc.why,
                      text="", base="", problem="", limit=0)
    return render(request, "edit.html", nav="files", file=record, refused="",
                  text=current.text, base=current.sha256, problem="",
                  limit=con.settings.console.edit_max_size)


@router.post("/files/{file_id}/edit", response_model=None)
def resubmit(request: Request, con: ConsoleDep, user: Operator, file_id: FileId,
             text: Annotated[str, Form()], base: Annotated[str, Form(max_length=64)]
             ) -> Response:
    record = con.ledger.get(file_id)
    try:
        with con.pipeline(user) as runner:
            result, _diff = ops.resubmit(runner, file_id, text, base_sha256=base)
    except RequestError as exc:
        # the text typed comes back with the reason: nothing of the work is lost
        return render(request, "edit.html", 409, nav="files", file=record, refused="",
                      text=text, base=base, problem=str(exc),
                      limit=con.settings.console.edit_max_size)
    kind, message = outcome_message(result)
    flash(request, kind, "Your edit was kept and the file reprocessed. " + message
          if result.outcome != Outcome.DELIVERED else f"Your edit was delivered. {message}")
    return RedirectResponse(f"/files/{file_id}", status_code=303)


def body_limit(settings: Settings) -> int:
    """The largest edit form: every byte of the text percent-encoded, plus the fields."""
    return max(MAX_BODY, 3 * settings.console.edit_max_size + MAX_BODY)


class EditBodyLimit:
    """``BodyLimit`` with a larger limit on the edit form's path, the usual one elsewhere."""

    def __init__(self, app: ASGIApp, limit: int, edit_limit: int):
        self.usual = BodyLimit(app, limit)
        self.edit = BodyLimit(app, edit_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        edit = scope["type"] == "http" and _EDIT_PATH.match(scope.get("path", ""))
        await (self.edit if edit else self.usual)(scope, receive, send)
