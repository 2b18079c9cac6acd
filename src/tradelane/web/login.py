"""Log in and out. The login form is CSRF-checked too (app-wide), against login CSRF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tradelane.web.auth import csrf_token, safe_next
from tradelane.web.render import flash, render

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request,
               next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    if request.session.get("user"):
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), failed=False)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request,
                username: Annotated[str, Form(max_length=200)] = "",
                password: Annotated[str, Form(max_length=1000)] = "",
                next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    credentials = request.app.state.console.credentials
    if not await credentials.check(username, password):
        return render(request, "login.html", 401, next=safe_next(next), failed=True)
    # a fresh session (and CSRF token) on login: nothing set before login carries over
    request.session.clear()
    request.session["user"] = username
    csrf_token(request)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    request.session.clear()
    flash(request, "ok", "You are logged out.")
    return RedirectResponse("/login", status_code=303)
