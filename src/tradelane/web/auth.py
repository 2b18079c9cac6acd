"""Login, secrets and CSRF for the ops console.

Console users with roles (``users.py``, ``roles.py``), or with none, one ops user configured
under ``console:`` in tradelane.yaml; that password comes from the environment or a file,
never from the config. Sessions live in the ledger (``session.py``);
every POST carries the session's CSRF token in a hidden field, checked before any handler
runs. Failed logins are slowed down by ``throttle.py``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from urllib.parse import quote

from fastapi import HTTPException, Request

from tradelane import redact
from tradelane.errors import ConfigError
from tradelane.spec import ConsoleSpec, Settings
from tradelane.web.session import session_of

CSRF_FIELD = "csrf_token"


def _secret_from(env: str, file: str | None, settings: Settings, what: str) -> str | None:
    value = _read_secret(env, file, settings, what)
    redact.register(value)  # never in a log line, a page or a message, in any encoding
    return value


def _read_secret(env: str, file: str | None, settings: Settings, what: str) -> str | None:
    value = os.environ.get(env)
    if value:
        return value
    if file:
        path = settings.path(file)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError([f"tradelane.yaml: console.{what}_file: cannot read {path}:"
                               f" {exc.strerror}"]) from None
        return lines[0] if lines and lines[0] else None
    return None


def console_password(settings: Settings, *, required: bool = True) -> str | None:
    """The single ops user's password; ``required``: ConfigError when none is set."""
    spec = settings.console
    password = _secret_from(spec.password_env, spec.password_file, settings, "password")
    if not password and required:
        raise ConfigError([f"the ops console needs a password: set {spec.password_env} or"
                           " name a file holding it in console.password_file, or add console"
                           " users with `tradelane user add NAME --role admin`"])
    return password or None


def metrics_token(settings: Settings) -> str | None:
    """The bearer token Prometheus scrapes the console's /metrics with (None: login only)."""
    spec = settings.console
    return _secret_from(spec.metrics_token_env, spec.metrics_token_file, settings,
                        "metrics_token")


def session_secret(settings: Settings) -> str:
    spec = settings.console
    return (_secret_from(spec.secret_env, spec.secret_file, settings, "secret")
            or secrets.token_urlsafe(32))


class Credentials:
    """The ops user's name and password."""

    def __init__(self, spec: ConsoleSpec, password: str):
        self._user = spec.user.encode()
        self._password = password.encode()

    def matches(self, user: str, password: str) -> bool:
        # both compared every time, in constant time: no hint which one was wrong
        user_ok = hmac.compare_digest(user.encode(), self._user)
        password_ok = hmac.compare_digest(password.encode(), self._password)
        return user_ok and password_ok


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: a POST without this session's token is refused with 403."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session_of(request).csrf_token
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(
            sent.encode(), expected.encode()):
        raise HTTPException(403, "This form has expired or did not come from the console."
                                 " Reload the page and try again.")


def login_url(next_path: str) -> str:
    return "/login" + (f"?next={quote(next_path, safe='')}" if next_path != "/" else "")


def safe_next(value: str | None) -> str:
    """Only paths on this site: never ``//host`` or ``https://...`` (an open redirect)."""
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)):
        return "/"
    return value
