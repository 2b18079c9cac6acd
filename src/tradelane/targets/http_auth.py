"""Credentials of an HTTP target, read from the environment.

Secrets live only in the request headers built here, and are registered with
``tradelane.redact`` as they are read, so that no log record shows them in any encoding.
Everything else shown to people (reason files, dry runs, error messages) goes through
``Credentials.redact`` first.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from tradelane import redact
from tradelane.errors import TargetUnavailable
from tradelane.redact import MASK
from tradelane.spec import EnvValue, HttpTargetSpec


@dataclass(frozen=True)
class Credentials:
    """The headers a request carries, what a person may see of them, and the secret values."""

    headers: dict[str, str]
    shown: dict[str, str]
    secrets: tuple[str, ...]

    def redact(self, text: str) -> str:
        """``text`` with every secret masked in every encoding (these and any other the
        process knows), and every value shaped like a credential too."""
        redact.register(*self.secrets)  # already known, unless built by hand
        return redact.credential_shapes(redact.redact(text))


def credentials(spec: HttpTargetSpec, environ: Mapping[str, str], *, route: str,
                strict: bool = True) -> Credentials:
    """Build the configured headers. ``strict``: a missing variable is an error (else shown)."""
    headers: dict[str, str] = {"Content-Type": "application/json", "Accept": "application/json"}
    shown = dict(headers)
    secrets: list[str] = []

    def read(variable: str, option: str) -> str | None:
        value = environ.get(variable)
        if value is None and strict:
            raise TargetUnavailable(
                f"route {route}: environment variable {variable} is not set"
                f" (target.http.{option}); the file stays pending until it is"
            )
        if value is not None:
            secrets.append(value)
        return value

    for name, item in spec.headers.items():
        if isinstance(item, EnvValue):
            value = read(item.env, f"headers.{name}")
            headers[name] = f"{item.prefix}{value}" if value is not None else ""
            shown[name] = f"{item.prefix}{MASK}" if value is not None else f"<{item.env} not set>"
        else:
            headers[name] = shown[name] = item
    auth = spec.auth
    if auth and auth.bearer_env:
        token = read(auth.bearer_env, "auth.bearer_env")
        headers["Authorization"] = f"Bearer {token}"
        shown["Authorization"] = f"Bearer {MASK}" if token is not None else (
            f"<{auth.bearer_env} not set>")
    elif auth and auth.basic_user and auth.basic_password_env:
        password = read(auth.basic_password_env, "auth.basic_password_env")
        pair = base64.b64encode(f"{auth.basic_user}:{password or ''}".encode()).decode()
        secrets.append(pair)
        redact.register_basic(auth.basic_user, password)
        headers["Authorization"] = f"Basic {pair}"
        shown["Authorization"] = f"Basic {MASK} (user {auth.basic_user})"
    if not strict:
        headers = {k: v for k, v in headers.items() if v}
    redact.register(*secrets)
    return Credentials(headers, shown, tuple(sorted(set(secrets), key=len, reverse=True)))


__all__ = ["MASK", "Credentials", "credentials"]
