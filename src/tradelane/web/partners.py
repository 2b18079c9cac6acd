"""The partners page: each trading partner with its last interchange in and out, the
acknowledgements it owes, the next control numbers and the gaps in the numbers it sent (what
``tradelane partners`` prints)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from tradelane.partners import overview
from tradelane.web.params import ConsoleDep
from tradelane.web.render import render
from tradelane.web.roles import Role, require

router = APIRouter(dependencies=[Depends(require(Role.viewer, "see the console"))])


@router.get("/partners", response_class=HTMLResponse)
def partners_page(request: Request, con: ConsoleDep) -> HTMLResponse:
    rows = overview(con.project().partners, con.ledger)
    return render(request, "partners.html", nav="partners", rows=rows)
