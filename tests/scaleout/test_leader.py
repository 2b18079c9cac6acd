"""One leader for the cluster-wide duties (issue 18): several ``tradelane serve`` processes on
one PostgreSQL ledger, the leader killed, a new one within seconds, each alert sent once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from support.project import ProjectDir
from support.serving import wait_for
from tradelane.ledger.leader import LeaderElection, who

TRADELANE = Path(sys.executable).with_name("tradelane")
BAD = "id,qty\nA1,many\n"


class Webhook:
    """A real local HTTP endpoint counting alert POSTs."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.httpd.shutdown()


def _serve(root: Path, url: str, name: str, hook: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRADELANE_LEDGER_URL": url, "ALERT_HOOK": hook}
    return subprocess.Popen(
        [str(TRADELANE), "serve", "-C", str(root), "--health-port", "0"],
        stdout=subprocess.DEVNULL, stderr=(root / f"{name}.log").open("wb"), env=env)


def test_the_leader_killed_a_new_one_leads_within_10s_and_each_alert_goes_once(
        tmp_path: Path, pg_url: str, webhook: Webhook) -> None:
    project = ProjectDir(tmp_path / "p")
    project.settings("""\
        alerts:
          webhook: {url_env: ALERT_HOOK}
          check_every: 1s
        health: {heartbeat: 1s}
    """)
    project.route("orders", """\
        source: {folder: inbox/orders, pattern: "*.csv", min_age: 0s}
        format: {type: csv}
        fields:
          id:  {source: id, required: true}
          qty: {source: qty, type: integer}
        target: {folder: outbox/orders, format: json}
        every: 1s
    """)
    (project.root / "inbox" / "orders").mkdir(parents=True)
    engine = create_engine(pg_url)
    procs = {f"w{i}": _serve(project.root, pg_url, f"w{i}", webhook.url) for i in range(3)}
    try:
        first = wait_for(lambda: who(engine), 60, "a leader")
        assert isinstance(first, str)
        project.drop("orders", "bad1.csv", BAD)
        wait_for(lambda: len(webhook.posts) >= 1, 60, "the first alert")

        leader_pid = int(first.rsplit(":", 1)[1])  # worker names are host:pid
        [victim] = [p for p in procs.values() if p.pid == leader_pid]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed = time.monotonic()
        second = wait_for(lambda: (w := who(engine)) and w != first and w, 30, "a new leader")
        took = time.monotonic() - killed
        assert took < 10, f"a new leader took {took:.1f}s"

        project.drop("orders", "bad2.csv", BAD)
        wait_for(lambda: len(webhook.posts) >= 2, 60, "the second alert")
        time.sleep(5)  # several alert checks on every live worker: nothing is sent again
        subjects = [p["incident"] if "incident" in p else json.dumps(p, sort_keys=True)
                    for p in webhook.posts]
        assert len(webhook.posts) == 2, webhook.posts
        assert len(set(subjects)) == 2
        assert "bad1.csv" in json.dumps(webhook.posts[0])
        assert "bad2.csv" in json.dumps(webhook.posts[1])
        assert second != first
        shown = subprocess.run(
            [str(TRADELANE), "status", "-C", str(project.root), "--json"], capture_output=True,
            text=True, timeout=60, env={**os.environ, "TRADELANE_LEDGER_URL": pg_url})
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)[0]["serve_leader"] == second
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        engine.dispose()


def test_on_sqlite_one_process_leads_and_the_next_takes_over_when_it_closes(
        tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/ledger.db")
    one, two = LeaderElection(engine, "one"), LeaderElection(engine, "two")
    assert one.check() and not two.check()
    assert who(engine) == "one"
    one.close()
    assert who(engine) is None
    assert two.check() and who(engine) == "two"
    two.close()
    engine.dispose()
