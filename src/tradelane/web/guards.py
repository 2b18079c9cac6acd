"""The layers every request passes before the console looks at it, outermost first.

``SecurityHeaders`` puts the same strict headers on every answer, whoever made it (a page,
an error page, a refusal below); ``HostCheck`` refuses Host names we do not serve (DNS
rebinding); ``BodyLimit`` refuses bodies larger than our forms can be.
"""

from __future__ import annotations

import ipaddress

from fastapi.responses import HTMLResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradelane.spec import Settings

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
