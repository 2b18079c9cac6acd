"""Who is asking, and what their role lets them do in the console.

Three roles, each allowing what the one below does: a viewer reads, an operator also acts on
files (reprocess, force, discard, edit), an admin also manages users. Every route states the
role it needs with ``Depends(require(Role.x, "what it does"))``; a test walks the app's
routes so that a page without one fails.

The role is looked up in the ledger on every request, not kept in the session: a user removed
or demoted loses their rights at their next request. With no users in the ledger, the console
is in single-password mode and whoever logged in is the ops user of tradelane.yaml
(``console.user``, "ops" unless set), an admin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

from fastapi import HTTPException, Request

from tradelane.errors import NotAuthenticated
from tradelane.web.session import session_of

_SCOPE_KEY = "tradelane.user"
#: The attribute ``require`` sets on the dependencies it makes: the route test reads it.
ROLE_ATTR = "tradelane_role"


class Role(IntEnum):
    viewer = 1
    operator = 2
    admin = 3

    @classmethod
    def parse(cls, value: str) -> Role:
        """The role named ``value``; ValueError naming the choices otherwise."""
        try:
            return cls[value.strip().lower()]
        except KeyError:
            raise ValueError(f"unknown role {value!r}: choose viewer, operator or admin"
                             ) from None


@dataclass(frozen=True)
class User:
    name: str
    role: Role


class Directory(Protocol):
    """Where the console finds a logged-in name's current role (``accounts.Accounts``)."""

    def user(self, name: str) -> User | None:
        """The user ``name`` is now, or None when they may no longer use the console."""
        ...


def current_user(request: Request) -> User | None:
    """The logged-in user with their current role, or None. A session whose user was
    removed is ended here. Looked up once per request (templates may call it often)."""
    if _SCOPE_KEY in request.scope:
        cached: User | None = request.scope[_SCOPE_KEY]
        return cached
    name = session_of(request).user
    user: User | None = None
    if name is not None:
        console = request.app.state.console
        directory: Directory = console.accounts
        user = directory.user(name)
        if user is None:  # removed since they logged in: the session ends now
            console.sessions.log_out(request)
    request.scope[_SCOPE_KEY] = user
    return user


def _article(role: Role) -> str:
    return "an" if role.name[0] in "aeiou" else "a"


def require(role: Role, action: str = "do this") -> Callable[[Request], User]:
    """A FastAPI dependency: the logged-in ``User`` when their role is at least ``role``.

    Not logged in: to the login page (back here afterwards for a GET). Role too low: 403
    with the console's error page, e.g. "Your role (viewer) cannot reprocess files; ask an
    operator." ``action`` completes that sentence.
    """

    def dependency(request: Request) -> User:
        user = current_user(request)
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise NotAuthenticated(target if request.method == "GET" else "/")
        if user.role < role:
            raise HTTPException(403, f"Your role ({user.role.name}) cannot {action}; ask"
                                     f" {_article(role)} {role.name}.")
        return user

    setattr(dependency, ROLE_ATTR, role)
    dependency.__name__ = f"require_{role.name}"
    return dependency


def route_role(route: Any) -> Role | None:
    """The highest role a route's dependencies require (None: open to anyone)."""
    found: Role | None = None
    stack = [getattr(route, "dependant", None)]
    while stack:
        dependant = stack.pop()
        if dependant is None:
            continue
        needed = getattr(dependant.call, ROLE_ATTR, None)
        if needed is not None and (found is None or needed > found):
            found = needed
        stack.extend(dependant.dependencies)
    return found


__all__ = ["ROLE_ATTR", "Directory", "Role", "User", "current_user", "require",
           "route_role"]
