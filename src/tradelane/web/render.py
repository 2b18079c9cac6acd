"""Templates (autoescaped) and the one helper every page renders through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from tradelane.web.auth import CSRF_FIELD, csrf_token

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # every template, whatever its name: partner data is hostile
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)


def flash(request: Request, kind: str, text: str) -> None:
    """A message shown once, on the next page (kind: ok, warn or error)."""
    request.session["flash"] = [kind, text]


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    message = request.session.pop("flash", None)
    base = {"csrf_field": CSRF_FIELD, "csrf_token": csrf_token(request),
            "user": request.session.get("user"), "flash": message, "nav": ""}
    return templates.TemplateResponse(request, name, base | context, status_code=status)
