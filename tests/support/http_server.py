"""A real local HTTP server for the HTTP target tests.

It records every request, honours idempotency keys like a careful API would (a key seen before
gets the stored answer replayed and is not processed again: ``dedup_log`` shows what was
processed), and can be told to misbehave: answer a status with a body and headers, answer late
(a client timeout), or drop the connection, for chosen requests.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    """What to do with a matching request. ``process``: record it in the dedup log first."""

    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # answer this late (after processing, when process is True)
    drop: bool = False  # close the connection without answering
    process: bool = False


@dataclass
class _Rule:
    match: Callable[[Received], bool]
    answer: Answer
    times: int


class RecordingServer:
    """``url`` is the base URL; ``requests`` every request; ``dedup_log`` key -> processed body."""

    def __init__(self, port: int = 0, *, tls: ssl.SSLContext | None = None):
        self._tls = tls
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self.requests: list[Received] = []
        self.dedup_log: dict[str, Any] = {}  # in processing order
        self.replays: list[str] = []
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self.start()

    # -- control ---------------------------------------------------------------------------

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"app": self})
        ThreadingHTTPServer.allow_reuse_address = True
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._httpd.daemon_threads = True
        if self._tls is not None:
            self._httpd.socket = self._tls.wrap_socket(self._httpd.socket, server_side=True)
        self._port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self) -> None:
        """Stop listening: clients get 'connection refused' until ``start()``."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self._port}"

    def when(self, match: Callable[[Received], bool] | None = None, *, times: int = 1,
             **answer: Any) -> None:
        """The next ``times`` requests matching ``match`` (or any) get ``Answer(**answer)``."""
        with self._lock:
            self._rules.append(_Rule(match or (lambda _r: True), Answer(**answer), times))

    @property
    def processed_records(self) -> list[Any]:
        """Every record processed, batches in the order processed (a batch's body: a list)."""
        out: list[Any] = []
        for body in self.dedup_log.values():
            out.extend(body if isinstance(body, list) else [body])
        return out

    def keys(self) -> list[str | None]:
        return [r.key for r in self.requests]

    # -- serving ---------------------------------------------------------------------------

    def handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        request = Received(handler.command, handler.path,
                           {k.lower(): v for k, v in handler.headers.items()}, body, time.time())
        with self._lock:
            self.requests.append(request)
            answer = self._take_rule(request)
        if answer is None:
            status, payload = self._process(request)
            return _reply(handler, status, payload, {})
        if answer.process:
            self._process(request)
        if answer.delay:
            time.sleep(answer.delay)
        if answer.drop:
            handler.close_connection = True
            return None
        payload = answer.body.encode() if isinstance(answer.body, str) else answer.body
        return _reply(handler, answer.status, payload, answer.headers)

    def _take_rule(self, request: Received) -> Answer | None:
        for rule in self._rules:
            if rule.times > 0 and rule.match(request):
                rule.times -= 1
                return rule.answer
        return None

    def _process(self, request: Received) -> tuple[int, bytes]:
        with self._lock:
            if request.key and request.key in self.dedup_log:
                self.replays.append(request.key)
                return 200, b'{"replayed": true}'
            data = json.loads(request.body)
            self.dedup_log[request.key or f"no-key-{len(self.dedup_log)}"] = data
            count = len(data) if isinstance(data, list) else 1
        return 200, json.dumps({"accepted": count}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real API
    disable_nagle_algorithm = True  # else headers then body wait on the client's delayed ACK
    app: RecordingServer

    def do_POST(self) -> None:
        self.app.handle(self)

    do_PUT = do_PATCH = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes,
           headers: dict[str, str]) -> None:
    headers = dict(headers)
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (its timeout): like a real server, carry on


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it (openssl CLI).

    Returns (ca.pem, server.pem, server.key).
    """
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, csr = folder / "server.pem", folder / "server.key", folder / "server.csr"
    ext = folder / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for command in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=tradelane test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca, cert, key

