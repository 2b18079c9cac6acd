"""``create_app(project_dir)``: the ops console as a FastAPI app, secure by default.

Login required on every page, a signed HttpOnly SameSite=Strict session cookie, a CSRF token
on every POST, only expected Host headers, strict security headers (no script runs at all).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from tradelane.errors import ConfigError
from tradelane.spec import Settings, load_project
from tradelane.web import actions, login, views
from tradelane.web.auth import (
    Credentials,
    NotAuthenticated,
    console_password,
    csrf_protect,
    login_url,
    session_secret,
)
from tradelane.web.render import render
from tradelane.web.state import Console

_STATIC = Path(__file__).parent / "static"
#: Our forms are a few fields; refuse anything bigger before reading it.
MAX_BODY = 64 * 1024
_HEADERS = {
    # no script, no frames, forms only to ourselves, styles only from /static
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self';"
                               " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def create_app(project_dir: Path | str = ".") -> FastAPI:
    """The console for the project in ``project_dir``; raises ConfigError without a password."""
    project_dir = Path(project_dir).resolve()
    settings = load_project(project_dir).settings
    console = Console(project_dir, settings, Credentials(settings.console,
                                                         console_password(settings)))

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
    app.middleware("http")(_guard)
    spec = settings.console
    app.add_middleware(SessionMiddleware, secret_key=session_secret(settings),
                       session_cookie="tradelane_console",
                       max_age=int(spec.session_max_age.total_seconds()),
                       same_site="strict", https_only=spec.secure_cookie)
    app.add_middleware(HostCheck, allowed=allowed_hosts(settings))
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


async def _guard(request: Request,
                            call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    length = request.headers.get("content-length", "0")
    if not length.isdigit() or int(length) > MAX_BODY:
        response: Response = HTMLResponse("Request too large.", status_code=413)
    else:
        response = await call_next(request)
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    return response


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

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> HTMLResponse:
        titles = {403: "Refused", 404: "Not found", 405: "Not allowed"}
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
