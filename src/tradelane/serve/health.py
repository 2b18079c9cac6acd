"""``GET /healthz`` for ``tradelane serve``: a stdlib HTTP server in a thread, on 127.0.0.1.

200 with a JSON body while the scheduler runs and the heartbeat is fresh, 503 otherwise, so
a load balancer, Kubernetes or a systemd watchdog script can restart a wedged server.
``GET /metrics``: the ledger's Prometheus metrics (``tradelane.metrics``), without a login:
the port is bound to 127.0.0.1 unless health.host says otherwise.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tradelane.metrics import CONTENT_TYPE

log = logging.getLogger("tradelane.serve")

Report = Callable[[], tuple[bool, dict[str, Any]]]
Exposition = Callable[[], bytes]  # the Prometheus text format


class HealthServer:
    def __init__(self, host: str, port: int, report: Report,
                 metrics: Exposition | None = None):
        self.report = report
        handler = _handler(report, metrics)
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


def _handler(report: Report, metrics: Exposition | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if metrics is not None and self.path.split("?")[0] == "/metrics":
                self._metrics(metrics)
                return
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

        def _metrics(self, exposition: Exposition) -> None:
            try:
                data, status = exposition(), 200
            except Exception as exc:  # what failed goes to the log, not to the scraper
                log.error("metrics: %s", type(exc).__name__)
                data, status = b"metrics unavailable; see the server's log\n", 500
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # probes every few seconds would drown the log

    return Handler
