"""Actions on many files at once: reprocess, deliver again (force) or discard, for files
ticked in the list (``ids``, repeated) or every file a filter matches (``filter``, the
list's query string, read by ``files.FileFilter``).

``POST /files/bulk`` first answers with a confirmation page: how many files, of which routes,
and which will be skipped and why. Confirming posts the same fields again with ``confirm``
and ``selection``, a digest of the ids shown: if the files matching changed in between, the
page is shown again instead of acting on files nobody saw. The work is done by the same
functions as ``tradelane quarantine reprocess`` and ``discard`` (``ops``); one file refused
never stops the others, and the result page lists what was done and what was skipped.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from tradelane import ops
from tradelane.errors import TradelaneError
from tradelane.ledger.tables import files
from tradelane.models import QUARANTINE_STATES, FileState
from tradelane.web.files import FileFilter, matching_ids
from tradelane.web.params import ConsoleDep, parse_file_id
from tradelane.web.render import render
from tradelane.web.roles import Role, User, require
from tradelane.web.state import Console

#: The most files one request acts on: a larger filter is refused, to be narrowed.
BULK_MAX = 5000
#: Seconds of reprocessing one request does before handing the rest to the next poll.
BUDGET = 5.0

#: ticked rows come as ``ids`` repeated, one field each; the confirmation sends them joined
router = APIRouter(form_limits={"max_fields": BULK_MAX + 20})

_Q = FileState.QUARANTINED.value
#: What each action may be done to; the other files are skipped, saying why.
_ACTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "reprocess": ("Reprocess", frozenset({_Q, "pending", "lost"})),
    "force": ("Deliver again, even duplicates",
              frozenset({_Q, "pending", "lost", FileState.DUPLICATE.value})),
    "discard": ("Discard", frozenset(s.value for s in QUARANTINE_STATES)),
}


@dataclass
class Acted:
    done: list[dict[str, Any]] = field(default_factory=list)  # id, outcome, message
    refused: list[TradelaneError] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)  # handed to the next poll
    late: list[int] = field(default_factory=list)  # not started: the time ran out


@dataclass(frozen=True)
class Selection:
    """The files a bulk request names, as the ledger has them now."""

    rows: list[dict[str, Any]]  # id, route, name, state: the files found
    unknown: list[str]  # ids given that name no file

    def digest(self, action: str) -> str:
        ids = ",".join(str(r["id"]) for r in self.rows)
        return hashlib.sha256(f"{action}:{ids}".encode()).hexdigest()[:32]


@router.post("/files/bulk", response_class=HTMLResponse)
def bulk(request: Request, con: ConsoleDep,
         user: Annotated[User, Depends(require(Role.operator, "act on files"))],
         action: Annotated[str, Form(max_length=20)],
         ids: Annotated[list[str] | None, Form()] = None,
         filter: Annotated[str, Form(max_length=2000)] = "",
         reason: Annotated[str, Form(max_length=1000)] = "",
         confirm: Annotated[str, Form(max_length=5)] = "",
         selection: Annotated[str, Form(max_length=64)] = "") -> HTMLResponse:
    if action not in _ACTIONS:
        raise HTTPException(400, f"Unknown action {action[:20]!r}: reprocess, force or"
                                 " discard.")
    chosen = _select(con, ids or [], filter)
    reason = " ".join(reason.split())
    context = {"action": action, "title": _ACTIONS[action][0], "ids": ids or [],
               "filter": filter, "reason": reason, "unknown": chosen.unknown}
    acting = [r for r in chosen.rows if r["state"] in _ACTIONS[action][1]]
    skipped = [(r, _why_skipped(action, r["state"])) for r in chosen.rows
               if r["state"] not in _ACTIONS[action][1]]
    problem = ""
    if action == "discard" and not reason and confirm:
        problem = "Say why the files are discarded: the reason is kept in their history."
    elif confirm and selection != chosen.digest(action):
        problem = ("The files matching changed since the last page (someone else acted on"
                   " some?). Check the numbers below again.")
    if not confirm or problem:
        routes = Counter(r["route"] for r in acting)
        return render(request, "bulk_confirm.html", 400 if problem and confirm else 200,
                      nav="files", problem=problem, acting=len(acting),
                      routes=sorted(routes.items()), skipped=skipped,
                      selection=chosen.digest(action), **context)
    acted = _act(con, user, action, [r["id"] for r in acting], reason)
    names = {r["id"]: r for r in chosen.rows}
    late = "not started: this request ran out of time; submit the files again"
    skipped += [(names.get(_file_of(e)) or {"id": _file_of(e), "name": ""}, str(e))
                for e in acted.refused]
    skipped += [(names[i], late) for i in acted.late]
    return render(request, "bulk_result.html", nav="files", done=acted.done,
                  queued=[names[i] for i in acted.queued], skipped=skipped, names=names,
                  **context)


def _select(con: Console, ids: list[str], query: str) -> Selection:
    """The files the filter ``query`` matches, or else those ``ids`` names, oldest first."""
    unknown: list[str] = []
    wanted: list[int] = []
    if query.strip():  # 'all matching the filter' wins over rows ticked
        f = FileFilter.parse(query.lstrip("?"))
        if f.problems:
            raise HTTPException(400, "The filter is not understood: " + "; ".join(f.problems))
        if not f.filtered():
            raise HTTPException(400, "Filter the list first: a bulk action on every file in"
                                     " the ledger is not offered.")
        wanted = matching_ids(con.ledger.engine, f, BULK_MAX + 1)
        if len(wanted) > BULK_MAX:
            raise HTTPException(400, f"More than {BULK_MAX:,} files match this filter;"
                                     " narrow it (a route, a state, a date range) and try"
                                     " again.")
    elif ids:
        for text in (part for field in ids for part in re.split(r"[,\s]+", field) if part):
            value = parse_file_id(text)
            if value is None:
                unknown.append(text[:20])
            else:
                wanted.append(value)
        if len(set(wanted)) > BULK_MAX:
            raise HTTPException(400, f"{len(set(wanted)):,} files chosen; at most {BULK_MAX:,}"
                                     " at a time.")
    else:
        raise HTTPException(400, "Choose files first: tick them in the list, or use every"
                                 " file matching the filter.")
    rows: list[dict[str, Any]] = []
    unique = sorted(set(wanted))
    with con.ledger.engine.connect() as conn:
        for start in range(0, len(unique), 500):  # bounded IN lists
            part = unique[start:start + 500]
            rows.extend(dict(r._mapping) for r in conn.execute(
                select(files.c.id, files.c.route, files.c.name, files.c.state)
                .where(files.c.id.in_(part)).order_by(files.c.id)))
    found = {r["id"] for r in rows}
    unknown += [str(i) for i in unique if i not in found]
    return Selection(rows, unknown)


def _why_skipped(action: str, state: str) -> str:
    if state == FileState.DUPLICATE.value and action == "reprocess":
        return "a duplicate of a file already delivered (use 'Deliver again' to send it anyway)"
    if state in ("delivered", "archived"):
        return f"{state}: nothing to do"
    if state == "discarded":
        return "discarded already"
    if state in ("discovered", "claimed", "staged"):
        return f"being processed now ({state})"
    return f"it is {state}"


def _file_of(error: TradelaneError) -> Any:
    return getattr(error, "file_id", None) or getattr(error, "key", "?")


def _act(con: Console, user: User, action: str, ids: list[int], reason: str) -> Acted:
    """Do ``action`` to each file with the engine, as ``user``. Reprocessing runs here for
    ``BUDGET`` seconds; the files not started by then are queued for the engine's next poll
    (``ops.queue_reprocess``), so a request over thousands of files still answers at once."""
    acted = Acted()
    with con.pipeline(user) as runner:
        if action == "discard":
            kept, refused = ops.discard_many(runner.project, runner.ledger, ids, reason)
            acted.done = [{"id": i, "outcome": "discarded", "message": f"kept at {where}"}
                          for i, where in kept]
            acted.refused = list(refused)
            return acted
        done = ops.reprocess_many(runner, ids, force=action == "force",
                                  until=time.monotonic() + BUDGET)
        acted.done = [{"id": r.file_id, "outcome": str(r.outcome), "message": r.message}
                      for r in done.results]
        acted.refused = list(done.refused)
        if done.not_started and action == "reprocess":
            acted.queued, refused = ops.queue_reprocess(runner.project, runner.ledger,
                                                        done.not_started)
            acted.refused += refused
        else:
            acted.late = done.not_started
    return acted
