"""``/metrics`` on ``tradelane serve``'s health port: no login (it listens on 127.0.0.1), and
the same numbers as the console, both read from the ledger."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.console import BAD_CSV, LiveConsole
from support.project import CSV_ROUTE, ProjectDir
from support.serving import wait_for
from tradelane.ledger.alerts import Incidents
from tradelane.serve.server import Server

TOKEN = "serve-port-test-token-42"


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {f.name: [(s.labels, s.value) for s in f.samples]
            for f in text_string_to_metric_families(text)}


def test_serve_health_port_serves_metrics(project: ProjectDir,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", "a password for the console")
    monkeypatch.setenv("TRADELANE_METRICS_TOKEN", TOKEN)
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "orders_0412.csv", BAD_CSV)
    project.run()
    with project.ledger() as ledger:
        server = Server(project.load(), ledger, health_port=0, channels=[])
        server.start()
        console = LiveConsole(project.root)
        try:
            assert server.health is not None
            # serve raises the quarantine alert on its own: scrape once it has
            wait_for(lambda: bool(Incidents(ledger).open_incidents()), 30, "the alert")
            base = f"http://127.0.0.1:{server.health.port}"
            with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                from_serve = _families(response.read().decode())
            with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
                assert response.status == 200  # the health check is unchanged
            with pytest.raises(urllib.error.HTTPError) as missing:
                urllib.request.urlopen(base + "/nothing", timeout=10)
            assert missing.value.code == 404
            with console.client() as client:
                from_console = _families(client.get(
                    "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
        finally:
            console.stop()
            assert server.stop(timeout=10)
    assert ({"route": "orders", "state": "quarantined"}, 1.0) in from_serve["tradelane_files"]
    assert from_serve["tradelane_open_alerts"] == [({"kind": "quarantined"}, 1.0)]
    for name in ("tradelane_files", "tradelane_quarantines", "tradelane_open_alerts",
                 "tradelane_source_up", "tradelane_ledger_up"):
        assert from_serve[name] == from_console[name], name
