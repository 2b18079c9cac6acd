"""``/metrics`` on the console: who may scrape it, and that what it says is what the ledger
holds, as Prometheus parses it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import time_machine
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from support.console import BAD_CSV, GOOD_CSV, PASSWORD, LiveConsole, log_in, token_in
from support.project import ProjectDir
from tradelane.ledger.alerts import Incidents
from tradelane.metrics import Metrics

TOKEN = "scrape-token-0123456789abcdef"


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, as Prometheus's own parser reads the text."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(exposition) for s in family.samples}


def value(found: dict[Any, float], name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def scraped(ops_project: ProjectDir, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveConsole]:
    monkeypatch.setenv("TRADELANE_METRICS_TOKEN", TOKEN)
    server = LiveConsole(ops_project.root)
    yield server
    server.stop()


def _scrape(server: LiveConsole, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with server.client() as client:
        return client.get("/metrics", headers=headers)


def test_metrics_need_the_token_or_a_login(scraped: LiveConsole) -> None:
    for token in (None, "wrong", TOKEN + "x", ""):
        response = _scrape(scraped, token)
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "tradelane_files" not in response.text
    with scraped.client() as client:
        assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401
        log_in(client)
        assert client.get("/metrics").status_code == 200  # a logged-in user may look
    response = _scrape(scraped)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_without_a_token_only_a_login_scrapes(live: LiveConsole) -> None:
    assert _scrape(live).status_code == 401
    assert _scrape(live, "").status_code == 401


def test_the_metrics_say_what_the_ledger_holds(scraped: LiveConsole,
                                               ops_project: ProjectDir) -> None:
    found = samples(_scrape(scraped).text)
    assert value(found, "tradelane_files", route="orders", state="quarantined") == 1
    assert value(found, "tradelane_quarantines_total", route="orders") == 1
    assert value(found, "tradelane_deliveries_total", route="orders") is None
    assert value(found, "tradelane_ledger_up") == 1
    assert value(found, "tradelane_open_alerts", kind="overdue") is None
    assert value(found, "tradelane_overdue_routes") == 0
    assert value(found, "tradelane_source_up", route="orders") == 1
    last = value(found, "tradelane_last_success_timestamp_seconds", route="orders")
    assert last is not None and abs(time.time() - last) < 120

    # the partner's fix is reprocessed from the console; a new file comes and is delivered
    [quarantined] = ops_project.quarantined("orders")
    quarantined.write_text(GOOD_CSV)
    with scraped.client() as client:
        log_in(client)
        token = token_in(client.get("/files/1").text)
        assert client.post("/files/1/reprocess",
                           data={"csrf_token": token}).status_code == 303
    ops_project.drop("orders", "orders_0413.csv", GOOD_CSV.replace("PO-1", "PO-7"))
    ops_project.run()
    with ops_project.ledger() as ledger:
        Incidents(ledger).open("overdue:orders:2026-12-07T06:00", "overdue",
                               "no file by 06:00", route="orders")

    found = samples(_scrape(scraped).text)
    delivered = sum(value(found, "tradelane_files", route="orders", state=s) or 0
                    for s in ("delivered", "archived"))
    assert delivered == 2
    assert value(found, "tradelane_deliveries_total", route="orders") == 2
    assert value(found, "tradelane_quarantines_total", route="orders") == 1
    assert value(found, "tradelane_processing_seconds_count", route="orders") == 2
    assert value(found, "tradelane_processing_seconds_bucket", route="orders", le="+Inf") == 2
    assert (value(found, "tradelane_processing_seconds_bucket", route="orders", le="86400.0")
            == 2)
    assert (value(found, "tradelane_processing_seconds_sum", route="orders") or -1) >= 0
    assert value(found, "tradelane_open_alerts", kind="overdue") == 1
    assert value(found, "tradelane_route_overdue", route="orders") == 1
    assert value(found, "tradelane_overdue_routes") == 1


def test_a_pending_file_shows_its_age(ops_project: ProjectDir) -> None:
    """A file waiting for a retry: its age grows until it is delivered."""
    with ops_project.ledger() as ledger:
        with ledger.engine.begin() as conn:  # a file that arrived long ago, then failed
            conn.execute(text("UPDATE files SET state = 'pending', received_at = :at"
                              " WHERE id = 1"),
                         {"at": "2000-01-01 00:00:00"})
        found = samples(Metrics(ledger).exposition().decode())
    age = value(found, "tradelane_oldest_pending_age_seconds", route="orders")
    assert age is not None and age > 26 * 365 * 86400


def test_a_broken_ledger_is_reported_not_raised(ops_project: ProjectDir) -> None:
    with ops_project.ledger() as ledger:
        metrics = Metrics(ledger)
        assert value(samples(metrics.exposition().decode()), "tradelane_ledger_up") == 1
        with ledger.engine.begin() as conn:
            conn.execute(text("ALTER TABLE files RENAME TO files_gone"))
        found = samples(metrics.exposition().decode())
    assert value(found, "tradelane_ledger_up") == 0
    assert value(found, "tradelane_ledger_errors_total") == 1
    assert not any(name == "tradelane_files" for name, _ in found)


def test_the_password_and_token_never_show(scraped: LiveConsole) -> None:
    page = _scrape(scraped).text
    assert TOKEN not in page and PASSWORD not in page


def test_metrics_on_each_backend(backend_project: ProjectDir) -> None:
    """The same numbers from SQLite and PostgreSQL (their date arithmetic differs)."""
    backend_project.drop("orders", "orders_0413.csv", GOOD_CSV)
    backend_project.run()
    with backend_project.ledger() as ledger:
        found = samples(Metrics(ledger).exposition().decode())
    assert value(found, "tradelane_ledger_up") == 1
    assert value(found, "tradelane_quarantines_total", route="orders") == 1
    assert value(found, "tradelane_deliveries_total", route="orders") == 1
    took = value(found, "tradelane_processing_seconds_sum", route="orders")
    assert took is not None and 0 <= took < 60
    assert value(found, "tradelane_processing_seconds_bucket", route="orders", le="60.0") == 1
    last = value(found, "tradelane_last_success_timestamp_seconds", route="orders")
    assert last is not None and abs(time.time() - last) < 120


def test_counts_carried_over_between_scrapes_match_a_fresh_count(ops_project: ProjectDir
                                                                 ) -> None:
    """Event counts carry over between scrapes of one process (only newer rows are read):
    they must equal what a process that counts everything at once finds."""
    counted = ("tradelane_deliveries_total", "tradelane_quarantines_total",
               "tradelane_processing_seconds_count", "tradelane_processing_seconds_sum")
    start = datetime.now(UTC)
    with ops_project.ledger() as ledger:
        metrics = Metrics(ledger)
        with time_machine.travel(start + timedelta(minutes=10)):
            before = samples(metrics.exposition().decode())  # settles the first events
        assert value(before, "tradelane_quarantines_total", route="orders") == 1
        ops_project.drop("orders", "orders_0413.csv", GOOD_CSV)
        ops_project.drop("orders", "orders_0414.csv", BAD_CSV.replace("PO-1", "PO-8"))
        ops_project.run()
        for minutes in (0, 30):  # the new events fresh (now), then settled
            with time_machine.travel(datetime.now(UTC) + timedelta(minutes=minutes)):
                carried = samples(metrics.exposition().decode())
                fresh = samples(Metrics(ledger).exposition().decode())
            for name in counted:
                assert value(carried, name, route="orders") == value(fresh, name,
                                                                     route="orders"), name
    assert value(carried, "tradelane_quarantines_total", route="orders") == 2
    assert value(carried, "tradelane_deliveries_total", route="orders") == 1
