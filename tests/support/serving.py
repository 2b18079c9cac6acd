"""A ``tradelane serve`` subprocess for tests, and a polling wait."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from support.orders import orders_route
from support.project import ProjectDir

#: the console script beside the interpreter running the tests (never a hard-coded venv)
TRADELANE = Path(sys.executable).with_name("tradelane")

WATCHED = orders_route('{folder: outbox/orders, format: csv, name: "{stem}.out.csv"}',
                       more="watch: true\nevery: 1m")


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Serve:
    """A running ``tradelane serve`` subprocess."""

    def __init__(self, project: ProjectDir, *args: str):
        self.project = project
        self.log = project.root / "serve.log"
        self.proc = subprocess.Popen(
            [str(TRADELANE), "serve", "-C", str(project.root), *args],
            stdout=subprocess.PIPE, stderr=self.log.open("wb"), text=True)

    def states(self) -> dict[str, str]:
        db = self.project.root / ".tradelane" / "ledger.db"
        if not db.exists():
            return {}
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                return dict(conn.execute("SELECT name, state FROM files").fetchall())
        except sqlite3.OperationalError:  # schema not created yet
            return {}

    def stop(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def logs(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]


def big_csv(rows: int) -> bytes:
    return ("id,qty\n" + "".join(f"A{i},{i % 97}\n" for i in range(rows))).encode()
