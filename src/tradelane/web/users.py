"""The users page (admins only): who may use the console, and in which role; change a role or
remove a user. Adding one, or setting a password, is ``tradelane user add`` / ``passwd``: a
password never travels through a web form here.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tradelane.ledger.users import UserNotFound
from tradelane.web.params import ConsoleDep
from tradelane.web.render import render
from tradelane.web.roles import Role, User, require
from tradelane.web.session import flash

log = logging.getLogger("tradelane.console")
router = APIRouter()

Admin = Annotated[User, Depends(require(Role.admin, "manage users"))]
UserName = Annotated[str, Path(max_length=64)]


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, con: ConsoleDep, admin: Admin) -> HTMLResponse:
    rows = con.accounts.users.list()
    return render(request, "users.html", nav="users", rows=rows, me=admin.name,
                  roles=[r.name for r in Role])


def _back() -> RedirectResponse:
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{name}/role")
def change_role(request: Request, con: ConsoleDep, admin: Admin, name: UserName,
                role: Annotated[str, Form(max_length=16)] = "") -> RedirectResponse:
    try:
        new = Role.parse(role)
    except ValueError as exc:
        flash(request, "error", str(exc).capitalize() + ".")
        return _back()
    if name == admin.name and new < Role.admin:
        flash(request, "error", "You cannot take away your own admin role; ask another admin.")
        return _back()
    try:
        con.accounts.users.set_role(name, new.name)
    except UserNotFound:
        flash(request, "error", f"There is no user {name} (any more).")
        return _back()
    log.info("%s made %s %s", admin.name, name, new.name)
    flash(request, "ok", f"{name} is now {new.name}; it applies at their next click.")
    return _back()


@router.post("/users/{name}/remove")
def remove(request: Request, con: ConsoleDep, admin: Admin,
           name: UserName) -> RedirectResponse:
    if name == admin.name:
        flash(request, "error", "You cannot remove yourself; ask another admin.")
        return _back()
    try:
        con.accounts.users.remove(name)
    except UserNotFound:
        flash(request, "error", f"There is no user {name} (any more).")
        return _back()
    log.info("%s removed the user %s", admin.name, name)
    flash(request, "ok", f"{name} is removed; their sessions have ended.")
    return _back()
