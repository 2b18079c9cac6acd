"""Templates (autoescaped) and the one helper every page renders through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tradelane import redact
from tradelane.web.auth import CSRF_FIELD
from tradelane.web.roles import current_user
from tradelane.web.session import session_of, take_flash


def _shown(value: Any) -> Any:
    """Every value a template prints: no known secret shows, whatever put it in the ledger.
    A value is printed whole, so only a visible mark makes it a cut-off one: the history's
    ``console:olga`` stays itself beside the passphrase ``a password for the console``."""
    return redact.redact(value, whole=True) if isinstance(value, str) else value


_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # every template, whatever its name: partner data is hostile
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_shown,
)
# templates hide what the user's role may not do: {% if current_user(request).role >= 2 %}
_env.globals["current_user"] = current_user
templates = Jinja2Templates(env=_env)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    session = session_of(request)
    base = {"csrf_field": CSRF_FIELD, "csrf_token": session.csrf_token,
            "user": session.user, "flash": take_flash(request), "nav": ""}
    return templates.TemplateResponse(request, name, base | context, status_code=status)
