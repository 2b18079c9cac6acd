"""Pages that only read: the quarantine list, history search (the dashboard is
``dashboard.py``, the list of all files ``files.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from tradelane import ops
from tradelane.errors import NotFound
from tradelane.web.params import ConsoleDep, parse_file_id
from tradelane.web.render import render
from tradelane.web.roles import Role, require

router = APIRouter(dependencies=[Depends(require(Role.viewer, "see the console"))])


@router.get("/quarantine", response_class=HTMLResponse)
def quarantine_page(request: Request, con: ConsoleDep,
                    route: Annotated[str | None, Query()] = None) -> HTMLResponse:
    route = route or None
    rows = ops.quarantined(con.ledger, route)
    routes = sorted(con.project().routes)
    return render(request, "quarantine.html", nav="quarantine", rows=rows, routes=routes,
                  route=route)


@router.get("/history", response_class=HTMLResponse)
def history_page(request: Request, con: ConsoleDep,
                 q: Annotated[str, Query(max_length=500)] = "") -> HTMLResponse:
    q = q.strip()
    trail: list[dict[str, Any]] = []
    # the ledger reads all digits as an id: one no file can have finds nothing
    if q and (not q.isdigit() or parse_file_id(q) is not None):
        try:
            trail = ops.history(con.ledger, q)
        except NotFound:
            trail = []
    return render(request, "history.html", nav="history", q=q, trail=trail)
