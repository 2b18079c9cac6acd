"""``tradelane console`` as a real process, and the console on a PostgreSQL ledger."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator

import httpx
import psutil
import pytest

from support.console import BAD_CSV, GOOD_CSV, PASSWORD, LiveConsole, log_in, token_in
from support.project import CSV_ROUTE, ProjectDir, pg_schema_url
from support.serving import TRADELANE, wait_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_console_command_serves_on_loopback_only(ops_project: ProjectDir) -> None:
    port = _free_port()
    env = os.environ | {"TRADELANE_CONSOLE_PASSWORD": PASSWORD}
    log = ops_project.root / "console.log"
    proc = subprocess.Popen([str(TRADELANE), "console", "-C", str(ops_project.root),
                             "--port", str(port)], env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(url + "/login", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, 30, "the console to answer")
        listening = {c.laddr for c in psutil.Process(proc.pid).net_connections("inet")
                     if c.status == psutil.CONN_LISTEN}
        assert listening == {("127.0.0.1", port)}
        with httpx.Client(base_url=url) as client:
            assert log_in(client).status_code == 303
            assert "orders_0412.csv" in client.get("/quarantine").text
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises the signal it caught
        assert proc.wait(30) in (0, -signal.SIGTERM)
        output = log.read_text()
        assert "Finished server process" in output
        assert f"ops console on http://127.0.0.1:{port}/ (user ops)" in output
        assert PASSWORD not in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


def test_console_on_a_postgresql_ledger(tmp_path, pg_url: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.setenv("TRADELANE_LEDGER_URL", pg_url)  # what the CLI and console both read
    project = ProjectDir(tmp_path / "pg", ledger_url=pg_url)
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "orders_0412.csv", BAD_CSV)
    project.drop("orders", "orders_0413.csv", BAD_CSV.replace("PO-1", "PO-9"))
    assert [r.outcome for r in project.run().results] == ["quarantined", "quarantined"]
    assert not (project.root / ".tradelane" / "ledger.db").exists()
    server = LiveConsole(project.root)
    try:
        with server.client() as client:
            log_in(client)
            assert client.get("/quarantine").text.count("/files/") == 4  # id and name links
            project.quarantined("orders")[0].write_text(GOOD_CSV)
            token = token_in(client.get("/files/1").text)
            client.post("/files/1/reprocess", data={"csrf_token": token})
            assert "was delivered" in client.get("/quarantine").text
            client.post("/files/2/discard", data={"csrf_token": token, "reason": "resent"})
            assert "The quarantine is empty" in client.get("/quarantine").text
    finally:
        server.stop()
    with project.ledger() as ledger:
        assert [(r.state.value, r.attempt) for r in ledger.files()] == [
            ("archived", 2), ("discarded", 1)]
