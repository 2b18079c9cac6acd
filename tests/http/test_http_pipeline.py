"""End to end: ``tradelane run --once`` in a subprocess pushing a CSV file to a real local API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from support.http_server import RecordingServer

TRADELANE = Path(sys.executable).parent / "tradelane"
TOKEN = "e2e-token-0123456789"


def make_project(root: Path, url: str, *, batch: int, rows: int, settings: str = "") -> Path:
    (root / "mappings").mkdir(parents=True)
    (root / "tradelane.yaml").write_text(textwrap.dedent(settings))
    (root / "mappings" / "x.yaml").write_text(textwrap.dedent(f"""\
        source: {{folder: inbox/x, pattern: "*.csv", min_age: 1s}}
        format: {{type: csv, delimiter: ";"}}
        fields:
          order_id: {{source: Order, required: true}}
          qty:      {{source: Qty, type: integer, required: true, min: 1}}
          price:    {{source: Price, type: decimal}}
        target:
          http:
            url: {url}/orders
            batch: {batch}
            auth: {{bearer_env: E2E_TOKEN}}
            retry: {{attempts: 2, backoff: 10ms}}
            timeouts: {{read: 5s}}
        """))
    lines = ["Order;Qty;Price"] + [f"PO-{i};{i % 9 + 1};{i}.5" for i in range(rows)]
    inbox = root / "inbox" / "x"
    inbox.mkdir(parents=True)
    path = inbox / "orders.csv"
    path.write_text("\n".join(lines) + "\n")
    then = time.time() - 120
    os.utime(path, (then, then))
    return path


def expected(rows: int) -> list[dict]:
    return [{"order_id": f"PO-{i}", "qty": i % 9 + 1, "price": i + 0.5} for i in range(rows)]


def tradelane(root: Path, *args: str, **kwargs) -> subprocess.Popen | subprocess.CompletedProcess:
    env = {**os.environ, "E2E_TOKEN": TOKEN}
    if kwargs.pop("background", False):
        return subprocess.Popen([str(TRADELANE), *args], cwd=root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return subprocess.run([str(TRADELANE), *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def test_run_once_pushes_the_records_to_the_api(server: RecordingServer, tmp_path: Path) -> None:
    make_project(tmp_path, server.url, batch=4, rows=10)
    done = tradelane(tmp_path, "run", "--once")

    assert done.returncode == 0, done.stdout + done.stderr
    assert server.processed_records == expected(10)
    assert [len(r.json()) for r in server.requests] == [4, 4, 2]
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in done.stdout + done.stderr
    assert list((tmp_path / "inbox" / "x").iterdir()) == []
    trail = json.loads(tradelane(tmp_path, "history", "orders.csv", "--json").stdout)
    batches = trail[0]["batches"]
    assert [(b["first_record"], b["record_count"], b["status"]) for b in batches] == [
        (0, 4, "acked"), (4, 4, "acked"), (8, 2, "acked")]
    assert {b["key"] for b in batches} == {r.key for r in server.requests}
    shown = tradelane(tmp_path, "history", "orders.csv")
    assert "HTTP batches" in shown.stdout and "acked" in shown.stdout


def test_run_once_on_a_postgresql_ledger(server: RecordingServer, tmp_path: Path,
                                         pg_url: str) -> None:
    make_project(tmp_path, server.url, batch=4, rows=10,
                 settings=f"ledger: {pg_url}\n")
    done = tradelane(tmp_path, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.processed_records == expected(10)
    again = tradelane(tmp_path, "quarantine", "list", "--json")  # same ledger, nothing wrong
    assert json.loads(again.stdout) == []


def test_a_refusal_is_quarantined_with_its_reason(server: RecordingServer, tmp_path: Path) -> None:
    server.when(lambda r: r.key.endswith(":1"), status=422,
                body=f'{{"error": "qty too large", "token": "{TOKEN}"}}')
    make_project(tmp_path, server.url, batch=4, rows=10)
    done = tradelane(tmp_path, "run", "--once")

    assert done.returncode == 3, done.stdout + done.stderr
    [reason_path] = (tmp_path / "quarantine").rglob("*.reason.json")
    reason = json.loads(reason_path.read_text())
    assert reason["stage"] == "deliver"
    [error] = reason["errors"]
    assert error["location"] == "batch 2 of 3 (records 5-8)" and error["rule"] == "http_422"
    assert error["value"].startswith('{"error": "qty too large"')
    assert TOKEN not in reason_path.read_text()


def test_an_api_that_is_down_leaves_the_file_pending(tmp_path: Path) -> None:
    server = RecordingServer()
    server.stop()
    make_project(tmp_path, server.url, batch=4, rows=10)
    done = tradelane(tmp_path, "run", "--once")

    assert done.returncode == 4, done.stdout + done.stderr
    assert list((tmp_path / "quarantine").rglob("*")) == []


def test_validate_shows_the_first_request_without_secrets(server: RecordingServer,
                                                          tmp_path: Path) -> None:
    path = make_project(tmp_path, server.url, batch=4, rows=10)
    done = tradelane(tmp_path, "validate", str(path), "--route", "x")

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"POST {server.url}/orders" in done.stdout
    assert "Authorization: Bearer ***" in done.stdout and TOKEN not in done.stdout
    assert '[{"order_id":"PO-0","qty":1,"price":0.5}' in done.stdout
    assert server.requests == []


@pytest.mark.slow
def test_kill_9_in_the_middle_of_a_push_then_restart(server: RecordingServer,
                                                     tmp_path: Path) -> None:
    # Every request is processed, then answered 0.1s later: a kill lands between the two.
    server.when(process=True, delay=0.1, times=1000)
    rows, batch = 60, 2  # 30 batches
    make_project(tmp_path, server.url, batch=batch, rows=rows, settings="lease: 1s\n")
    run = tradelane(tmp_path, "run", "--once", background=True)
    deadline = time.monotonic() + 60
    while len(server.requests) < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert len(server.requests) < 30, "the push finished before the kill"
    before = len(server.requests)

    time.sleep(1.2)  # the dead worker's lease runs out
    done = tradelane(tmp_path, "run", "--once")

    assert done.returncode == 0, done.stdout + done.stderr
    keys = server.keys()
    assert len(set(keys)) == rows // batch  # every batch reached the server
    assert len(server.dedup_log) == rows // batch  # and was processed once
    assert server.processed_records == expected(rows)
    resent = [k for k in keys[before:] if k in keys[:before]]
    assert len(resent) <= 1  # only the batch in flight at the kill is sent again
    assert server.replays == resent  # under its key, so the server did not process it twice
    print(f"killed after {before} requests; resent {resent}")
