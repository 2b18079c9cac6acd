"""``GET /healthz`` for ``tradelane serve``: a stdlib HTTP server in a thread, on 127.0.0.1.

200 with a JSON body while the scheduler runs and the heartbeat is fresh, 503 otherwise, so
a load balancer, Kubernetes or a systemd watchdog script can restart a wedged server.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("tradelane.serve")

Report = Callable[[], tuple[bool, dict[str, Any]]]


class HealthServer:
    def __init__(self, host: str, port: int, report: Report):
        self.report = report
        handler = _handler(report)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="healthz",
                                       daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self.thread.start()
        log.info("health endpoint on http://%s:%d/healthz", self.httpd.server_address[0],
                 self.port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(report: Report) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/healthz", "/health"):
                self.send_error(404)
                return
            try:
                ok, body = report()
            except Exception as exc:  # the probe itself must answer, whatever happens
                ok, body = False, {"status": "error", "error": type(exc).__name__}
            data = json.dumps(body, default=str).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # probes every few seconds would drown the log

    return Handler
