"""Log in and out. The login form is CSRF-checked too (app-wide), against login CSRF."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from tradelane.web.auth import safe_next
from tradelane.web.render import render
from tradelane.web.session import session_of
from tradelane.web.state import Console

log = logging.getLogger("tradelane.console")
router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request,
               next: Annotated[str | None, Query(max_length=2000)] = None,
               logged_out: Annotated[bool, Query()] = False) -> Response:
    if session_of(request).user:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), failed=False,
                  logged_out=logged_out)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request,
                username: Annotated[str, Form(max_length=200)] = "",
                password: Annotated[str, Form(max_length=1000)] = "",
                next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    con: Console = request.app.state.console
    address = request.client.host if request.client else ""
    # known names are never pushed out of the throttle's table by made-up ones
    con.throttle.keep_users(await run_in_threadpool(con.accounts.names))
    checked: list[str | None] = []

    def check() -> bool:  # in a thread: argon2 takes tens of milliseconds
        checked.append(con.accounts.check(username, password))
        return checked[-1] is not None

    ok = await con.throttle.attempt(address, username.strip().lower(), check)
    name = checked[-1] if checked else None
    if not ok or name is None:
        log.warning("failed login as %r from %s", username, address)
        return render(request, "login.html", 401, next=safe_next(next), failed=True,
                      logged_out=False)
    # a new session (and CSRF token): nothing from before the login carries over
    await run_in_threadpool(con.sessions.log_in, request, name)
    log.info("%s logged in from %s", name, address)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    user = session_of(request).user
    request.app.state.console.sessions.log_out(request)
    if user:
        log.info("%s logged out", user)
    return RedirectResponse("/login?logged_out=1", status_code=303)
