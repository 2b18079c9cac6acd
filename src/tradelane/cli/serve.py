"""``tradelane serve``: run until SIGTERM or Ctrl-C (registered on the main app in cli.py).

Exit codes: 0 after a clean stop, 1 if files were still in hand when the stop timeout ran
out (they are retaken once their lease expires), 2 a configuration or usage error.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from tradelane import logs
from tradelane.errors import ConfigError

log = logging.getLogger("tradelane.serve")


def serve(
    project: Annotated[Path, typer.Option(
        "--project", "-C", envvar="TRADELANE_HOME",
        help="Project folder (holds tradelane.yaml and mappings/).")] = Path("."),
    health_port: Annotated[int | None, typer.Option(
        "--health-port", help="Serve GET /healthz on 127.0.0.1:PORT (0: any free port).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    json_logs: Annotated[bool | None, typer.Option(
        "--json-logs/--text-logs", help="Log format (default: JSON unless on a terminal).")
    ] = None,
) -> None:
    """Run the schedules, folder watchers and alerts until SIGTERM or Ctrl-C."""
    from tradelane.ledger import Ledger
    from tradelane.serve.server import Server  # the engine: loaded only when serving
    from tradelane.spec import load_project

    logs.setup(level=logging.DEBUG if verbose else logging.INFO, json_lines=json_logs)
    try:
        proj = load_project(project, isolate=True)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("configuration: %s", problem)
        raise typer.Exit(2) from None
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # asked twice: the operator wants out now
            log.error("%s again: exiting without waiting", signal.Signals(signum).name)
            logging.shutdown()
            os._exit(1)
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    settings = proj.settings
    ledger = Ledger(settings.ledger_url, worker=settings.worker, lease=settings.lease)
    server = Server(proj, ledger, health_port=health_port)
    # SIGHUP: load the mappings and tradelane.yaml again (they are also watched)
    signal.signal(signal.SIGHUP, lambda _s, _f: server.request_reload("SIGHUP"))
    try:
        server.start()
        if server.health is not None:
            sys.stdout.write(f"health: http://{settings.health.host}:{server.health.port}"
                             "/healthz\n")
            sys.stdout.flush()
        while not stop.wait(1.0):
            pass
    finally:
        clean = server.stop()
    ledger.close()
    log.info("stopped%s", "" if clean else " (files still in hand)")
    if not clean:
        logging.shutdown()
        os._exit(1)  # worker threads are mid-file; their leases hand the files over
    raise typer.Exit(0)
