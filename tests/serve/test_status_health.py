"""``tradelane status`` shows serving state; the heartbeat and /healthz report liveness;
logs are JSON lines with the bound route."""

from __future__ import annotations

import io
import json
import os
import urllib.request
from datetime import UTC, datetime

import time_machine
from typer.testing import CliRunner

from support.project import ProjectDir
from tradelane import logs
from tradelane.cli import app
from tradelane.ledger.alerts import Heartbeats
from tradelane.serve.server import Server

ROUTE = """\
    source: {folder: inbox/orders, pattern: "*.csv", min_age: 0s}
    format: {type: csv}
    fields: {id: {source: id}}
    target: {folder: outbox/orders, format: json}
    schedule: "0 2 * * *"
    timezone: Europe/Berlin
    expect: {by: "06:00", every: weekday}
"""


def test_status_shows_schedule_next_run_overdue_and_heartbeat(project: ProjectDir) -> None:
    project.route("orders", ROUTE)
    written = datetime(2026, 4, 1, tzinfo=UTC).timestamp()  # the route is older than Monday
    os.utime(project.root / "mappings" / "orders.yaml", (written, written))
    (project.root / "inbox" / "orders").mkdir(parents=True)
    with time_machine.travel(datetime(2026, 5, 5, 6, 30, tzinfo=UTC), tick=False):
        project.run()  # Tuesday 08:30 Berlin: ran, no file arrived since Monday 06:00
        with project.ledger() as ledger:
            Heartbeats(ledger).beat("host:1", "running")
    with time_machine.travel(datetime(2026, 5, 5, 6, 31, tzinfo=UTC), tick=False):
        result = CliRunner().invoke(app, ["status", "-C", str(project.root), "--json"])
        text = CliRunner().invoke(app, ["status", "-C", str(project.root)]).output
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["schedule"] == "cron 0 2 * * * (Europe/Berlin)"
    assert row["next_run"].startswith("2026-05-06T02:00:00+02:00")
    assert row["overdue_since"] == "2026-05-05T06:00:00+02:00"
    assert row["serve_heartbeat"]["worker"] == "host:1"
    assert row["serve_heartbeat"]["age_s"] == 60
    assert "heartbeat 60s ago" in text


def test_healthz_and_heartbeat_of_a_running_server(project: ProjectDir) -> None:
    project.route("orders", ROUTE).settings("health: {heartbeat: 1s}\n")
    proj = project.load()
    with project.ledger() as ledger:
        server = Server(proj, ledger, health_port=0, channels=[])
        server.start()
        try:
            assert server.health is not None
            url = f"http://127.0.0.1:{server.health.port}/healthz"
            with urllib.request.urlopen(url, timeout=5) as response:
                body = json.loads(response.read())
            assert response.status == 200 and body["status"] == "ok"
            assert "T02:00:00+0" in body["next_runs"]["orders"]  # Berlin, CET or CEST
            assert Heartbeats(ledger).latest()[0]["state"] == "running"
        finally:
            assert server.stop(timeout=10)
        assert Heartbeats(ledger).latest()[0]["state"] == "stopped"


def test_json_logs_carry_the_bound_route_and_mask_secrets() -> None:
    stream = io.StringIO()
    handler = logs.setup(stream, json_lines=None)  # StringIO is not a TTY: JSON
    try:
        import logging

        with logs.bind(route="orders", file="A.csv"):
            logging.getLogger("tradelane").info("delivered %s", "A.csv",
                                                extra={"extra_keys": ("password",),
                                                       "password": "hunter2"})
        logging.getLogger("tradelane").warning("outside")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["route"] == "orders" and first["file"] == "A.csv"
    assert first["msg"] == "delivered A.csv" and first["password"] == "***"
    assert "route" not in second
