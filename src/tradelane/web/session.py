"""The session of each request: a signed cookie naming a session the ledger knows.

The cookie carries a random session id and nothing else, signed so that ids cannot be made
up. Every request looks the id up (``ledger.sessions``): unknown, expired or revoked means
not logged in. A visitor who has not logged in gets an id too, never stored, only so that the
login form has a CSRF token tied to this browser; logging in always starts a new id.

The CSRF token is derived from the session (an HMAC of its id and user under a key of the
console's), so it needs no storage and a token of one session is worth nothing in another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from itsdangerous import BadSignature, Signer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradelane.ledger.sessions import Sessions

COOKIE = "tradelane_console"
_SCOPE_KEY = "tradelane.session"


@dataclass
class Session:
    """The session as one request sees it; changes are written before the response."""

    id: str
    user: str | None
    csrf_token: str
    flash: tuple[str, str] | None = None
    flash_changed: bool = False
    cookie_changed: bool = False


class SessionManager:
    """Signs and checks cookies, derives CSRF tokens, and starts and ends sessions."""

    def __init__(self, store: Sessions, secret: str, *, lifetime: timedelta,
                 secure: bool = False):
        self.store = store
        self.lifetime = lifetime
        self.secure = secure
        self._signer = Signer(secret, salt="tradelane.console.session",
                              digest_method=hashlib.sha256)
        self._csrf_key = hmac.new(secret.encode(), b"tradelane.console.csrf",
                                  hashlib.sha256).digest()

    def load(self, cookie: str | None) -> Session:
        """The session the cookie names. An id that names no live session (never logged
        in, logged out, expired) is an anonymous one: its CSRF token is not the one the
        logged-in session had."""
        session_id = self._unsign(cookie) if cookie else None
        if session_id is None:
            return self._anonymous()
        record = self.store.find(session_id)
        if record is None:
            return Session(session_id, None, self._csrf(session_id, None))
        return Session(session_id, record.user, self._csrf(session_id, record.user),
                       flash=record.flash)

    def log_in(self, request: Request, user: str) -> None:
        """Start a new session for ``user`` (in a thread: it writes to the ledger)."""
        address = request.client.host if request.client else None
        session_id = self.store.start(user, self.lifetime, address=address)
        request.scope[_SCOPE_KEY] = Session(session_id, user, self._csrf(session_id, user),
                                            cookie_changed=True)

    def log_out(self, request: Request) -> None:
        session = session_of(request)
        if session.user is not None:
            self.store.end(session.id)
        request.scope[_SCOPE_KEY] = self._anonymous()

    def cookie_header(self, session: Session) -> str:
        value = self._signer.sign(session.id).decode()
        parts = [f"{COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
        if session.user is not None:  # a login lasts as long as the server keeps it
            parts.append(f"Max-Age={int(self.lifetime.total_seconds())}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    def _anonymous(self) -> Session:
        session_id = secrets.token_urlsafe(32)
        return Session(session_id, None, self._csrf(session_id, None), cookie_changed=True)

    def _unsign(self, cookie: str) -> str | None:
        try:
            return self._signer.unsign(cookie).decode()
        except (BadSignature, UnicodeDecodeError):
            return None

    def _csrf(self, session_id: str, user: str | None) -> str:
        message = f"{user or ''}\0{session_id}".encode()
        return hmac.new(self._csrf_key, message, hashlib.sha256).hexdigest()


def session_of(request: Request) -> Session:
    """This request's session (an empty one where the session layer did not run)."""
    session = request.scope.get(_SCOPE_KEY)
    return session if session is not None else Session("", None, "")


def flash(request: Request, kind: str, text: str) -> None:
    """A message shown once, on the next page (kind: ok, warn or error)."""
    session = session_of(request)
    session.flash, session.flash_changed = (kind, text), True


def take_flash(request: Request) -> tuple[str, str] | None:
    session = session_of(request)
    message = session.flash
    if message is not None:
        session.flash, session.flash_changed = None, True
    return message


class SessionLayer:
    """ASGI middleware: puts the request's session in its scope, then writes what changed
    (the flash message, the cookie) before the response starts."""

    def __init__(self, app: ASGIApp, manager: SessionManager):
        self.app = app
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = _cookie(scope)
        scope[_SCOPE_KEY] = await run_in_threadpool(self.manager.load, cookie)

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                session: Session = scope[_SCOPE_KEY]
                if session.flash_changed and session.user is not None:
                    await run_in_threadpool(self.manager.store.set_flash, session.id,
                                            session.flash)
                if session.cookie_changed:
                    MutableHeaders(scope=message).append(
                        "set-cookie", self.manager.cookie_header(session))
            await send(message)

        await self.app(scope, receive, send_with_session)


def _cookie(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            return cookie_parser(value.decode("latin-1")).get(COOKIE)
    return None
