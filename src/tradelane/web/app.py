"""``create_app(project_dir)``: the ops console as a FastAPI app, secure by default.

Login required on every page, a session cookie naming a session the ledger knows, a CSRF
token on every POST, only expected Host headers, strict security headers on every answer,
error pages included (no script runs at all). Layers, outermost first: security headers,
Host check, body size, session, then FastAPI's routes and error pages.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradelane import redact
from tradelane.errors import ConfigError, NotAuthenticated, NotFound, RequestError
from tradelane.spec import Settings, load_project
from tradelane.web import actions, login, views
from tradelane.web.auth import (
    Credentials,
    console_password,
    csrf_protect,
    login_url,
    session_secret,
)
from tradelane.web.render import render
from tradelane.web.session import SessionLayer
from tradelane.web.state import Console

_STATIC = Path(__file__).parent / "static"
#: Our forms are a few fields; refuse anything bigger before reading it.
MAX_BODY = 64 * 1024
_HEADERS = {
    # no script, no frames, forms only to ourselves, styles only from /static
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self';"
                               " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",  # pages show partner data; the stylesheet sets its own
}


def create_app(project_dir: Path | str = ".") -> FastAPI:
    """The console for the project in ``project_dir``; raises ConfigError without a password."""
    project_dir = Path(project_dir).resolve()
    project = load_project(project_dir)
    redact.register_project(project)  # what it shows may hold the engine's secrets too
    settings = project.settings
    console = Console(project_dir, settings, Credentials(settings.console,
                                                         console_password(settings)),
                      session_secret(settings))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        console.close()

    app = FastAPI(title="tradelane ops console", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None, dependencies=[Depends(csrf_protect)])
    app.state.console = console
    app.include_router(login.router)
    app.include_router(views.router)
    app.include_router(actions.router)
    _add_static(app)
    _add_error_pages(app)
    app.add_middleware(SessionLayer, manager=console.sessions)
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.add_middleware(HostCheck, allowed=allowed_hosts(settings))
    app.add_middleware(SecurityHeaders)
    return app


def allowed_hosts(settings: Settings) -> list[str]:
    spec = settings.console
    if spec.allowed_hosts:
        return spec.allowed_hosts
    if _is_loopback(spec.bind):
        return ["127.0.0.1", "localhost", "::1"]
    return ["*"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HostCheck:
    """Refuse a request whose Host header names a host we do not serve (DNS rebinding).

    ``allowed`` holds host names or addresses (IPv6 with or without brackets), ``*`` for any,
    or ``*.example.com`` for its subdomains. Starlette's own check cuts the header at the
    first colon, so it never matched an IPv6 host such as ``[::1]:8080``.
    """

    def __init__(self, app: ASGIApp, allowed: list[str]):
        self.app = app
        self.any = "*" in allowed
        self.names = {host_name(h) for h in allowed if not h.startswith("*")}
        self.suffixes = tuple(h[1:].lower() for h in allowed if h.startswith("*."))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.any:
            name = host_name(Headers(scope=scope).get("host", ""))
            if name not in self.names and not (self.suffixes and name.endswith(self.suffixes)):
                await HTMLResponse("Invalid host header.", status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def host_name(header: str) -> str:
    """The host of a Host header, without its port or IPv6 brackets, in lower case; "" if
    the header is malformed."""
    header = header.strip().lower()
    if header.count(":") > 1 and not header.startswith("["):
        return header  # a bare IPv6 address, as written in settings
    if header.startswith("["):
        host, _, port = header[1:].partition("]")
        if port and not (port.startswith(":") and port[1:].isdigit()):
            return ""
        return host
    host, colon, port = header.partition(":")
    return host if not colon or port.isdigit() else ""


class SecurityHeaders:
    """Every answer carries ``_HEADERS`` (where it did not set its own), whoever made it:
    a page, an error page, the Host check, the size check."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                secure(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_secured)


def secure(headers: MutableHeaders) -> None:
    for name, value in _HEADERS.items():
        headers.setdefault(name, value)


class BodyLimit:
    """Refuse a body over ``limit`` bytes: at once when its length says so, else as soon as
    that much has arrived (a chunked upload declares no length)."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await HTMLResponse("Request too large.", status_code=413)(scope, receive, send)
            return
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, "Request too large.")
            return message

        await self.app(scope, receive_limited, send)


def _add_static(app: FastAPI) -> None:
    @app.get("/static/console.css", include_in_schema=False)
    def stylesheet() -> FileResponse:
        response = FileResponse(_STATIC / "console.css", media_type="text/css")
        response.headers["Cache-Control"] = "max-age=3600"
        return response


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(NotAuthenticated)
    async def to_login(request: Request, exc: NotAuthenticated) -> Response:
        return RedirectResponse(login_url(exc.next_path), status_code=303)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> HTMLResponse:
        return render(request, "error.html", 404, title=f"No such {exc.what}",
                      message=f"There is no {exc.what} {exc.key} in the ledger.")

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> HTMLResponse:
        # Conflict: someone else moved the file first
        return render(request, "error.html", 409, title="Not done", message=str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> HTMLResponse:
        titles = {403: "Refused", 404: "Not found", 405: "Not allowed", 413: "Too large"}
        return render(request, "error.html", exc.status_code,
                      title=titles.get(exc.status_code, "Error"), message=str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_form(request: Request, exc: RequestValidationError) -> HTMLResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}"
                             for e in exc.errors())
        return render(request, "error.html", 400, title="Bad request", message=problems)

    @app.exception_handler(ConfigError)
    async def config_error(request: Request, exc: ConfigError) -> HTMLResponse:
        return render(request, "error.html", 500, title="The configuration has problems",
                      message="Fix them, then reload this page (tradelane check lists them"
                              " too).", problems=exc.problems)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> HTMLResponse:
        # Starlette answers this one outside every middleware: the headers are set here.
        # The traceback goes to the log (uvicorn writes it), never to the browser.
        response = render(request, "error.html", 500, title="Something went wrong",
                          message="The console could not answer this request. The details"
                                  " are in the console's log.")
        secure(response.headers)
        return response
