"""``create_app(project_dir)``: the ops console as a FastAPI app, secure by default.

Login required on every page, a session cookie naming a session the ledger knows, a CSRF
token on every POST, only expected Host headers, strict security headers on every answer,
error pages included (no script runs at all). Layers, outermost first: security headers,
Host check, body size (``guards.py``), session (``session.py``), then FastAPI's routes and
the error pages below.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from tradelane import redact
from tradelane.errors import (
    ConfigError,
    LedgerUnavailable,
    NotAuthenticated,
    NotFound,
    RequestError,
)
from tradelane.ledger.errors import LedgerDamaged
from tradelane.metrics import Metrics
from tradelane.spec import load_project
from tradelane.web import (
    actions,
    bulk,
    dashboard,
    detail,
    edit,
    files,
    login,
    partners,
    scrape,
    users,
    views,
)
from tradelane.web.auth import (
    Credentials,
    console_password,
    csrf_protect,
    login_url,
    metrics_token,
    session_secret,
)
from tradelane.web.guards import (
    MAX_BODY,
    HostCheck,
    SecurityHeaders,
    allowed_hosts,
    secure,
)
from tradelane.web.render import render
from tradelane.web.session import SessionLayer
from tradelane.web.state import Console

_STATIC = Path(__file__).parent / "static"

log = logging.getLogger("tradelane.console")


def create_app(project_dir: Path | str = ".") -> FastAPI:
    """The console for the project in ``project_dir``; raises ConfigError with neither a
    password nor console users."""
    project_dir = Path(project_dir).resolve()
    project = load_project(project_dir, isolate=True)
    redact.register_project(project)  # what it shows may hold the engine's secrets too
    settings = project.settings
    password = console_password(settings, required=False)
    console = Console(project_dir, settings,
                      Credentials(settings.console, password) if password else None,
                      session_secret(settings))
    if password is None and not console.accounts.users.any():
        console.close()
        console_password(settings)  # raises: neither a password nor console users

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        console.close()

    app = FastAPI(title="tradelane ops console", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None, dependencies=[Depends(csrf_protect)])
    app.state.console = console
    app.state.metrics = Metrics(console.ledger)
    app.state.metrics_token = metrics_token(settings)
    app.include_router(login.router)
    app.include_router(dashboard.router)
    app.include_router(files.router)
    app.include_router(views.router)
    app.include_router(actions.router)
    app.include_router(detail.router)
    app.include_router(bulk.router)
    app.include_router(edit.router)
    app.include_router(scrape.router)
    app.include_router(users.router)
    app.include_router(partners.router)
    _add_static(app)
    _add_error_pages(app)
    app.add_middleware(SessionLayer, manager=console.sessions)
    app.add_middleware(edit.EditBodyLimit, limit=MAX_BODY, edit_limit=edit.body_limit(settings))
    app.add_middleware(HostCheck, allowed=allowed_hosts(settings))
    app.add_middleware(SecurityHeaders)
    return app


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

    @app.exception_handler(LedgerDamaged)
    @app.exception_handler(LedgerUnavailable)
    async def ledger_error(request: Request,
                           exc: LedgerDamaged | LedgerUnavailable) -> HTMLResponse:
        # what the database said goes to the log, never to the browser
        log.error("console: %s", exc)
        damaged = isinstance(exc, LedgerDamaged)
        response = render(
            request, "error.html", 500 if damaged else 503,
            title="The ledger is damaged" if damaged else "The ledger is not available",
            message=(f"The ledger ({exc.where}) is damaged or is not a tradelane ledger;"
                     " restore it from a backup." if damaged else
                     f"The ledger ({exc.where}) cannot be used right now; try again in a"
                     " moment.") + " The details are in the console's log.")
        secure(response.headers)
        return response

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
