"""The dashboard and the route pages over real HTTP: totals, traffic lights and their reasons,
the serve banner, auto-refresh and its pause, route pages, escaping."""

from __future__ import annotations

import html
import os
import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from support.console import PASSWORD, LiveConsole, log_in
from support.project import CSV_ROUTE, ProjectDir
from tradelane.ledger.alerts import Heartbeats, Incidents
from tradelane.ledger.tables import files

OWNED = textwrap.dedent(CSV_ROUTE) + (
    "owner: {name: ERP team (Anna Berg), webhook_env: ERP_HOOK}\n")


def _old_mapping(project: ProjectDir, name: str) -> None:
    """The route was written long ago, so its expected file is due already today."""
    past = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    os.utime(project.root / "mappings" / f"{name}.yaml", (past, past))


def _add_file(project: ProjectDir, route: str, name: str, state: str, at: datetime,
              message: str | None = None) -> None:
    with project.ledger() as ledger, ledger.engine.begin() as conn:
        conn.execute(files.insert().values(
            route=route, source="inbox", name=name, size=10, mtime_ns=int(at.timestamp()),
            state=state, attempt=1, received_at=at, updated_at=at, message=message,
            generation=0))


def _row(page: str, route: str) -> str:
    """The dashboard's table row of ``route``."""
    match = re.search(r'<tr class="light-(\w+)">\s*<td>' + re.escape(route)
                      + r"</td>(.*?)</tr>", page, re.S)
    assert match, f"no row for {route}"
    return f"{match.group(1)} {html.unescape(match.group(2))}"


def _totals(page: str, which: str) -> dict[str, int]:
    block = page.split(f'id="totals-{which}"', 1)[1].split("</dl>", 1)[0]
    return {k: int(v.replace(",", "")) for k, v in
            re.findall(r"<dt>(\w+)</dt><dd><a [^>]*>([\d,]+)</a>", block)}


def test_totals_count_what_arrived_today_and_in_24_hours(ops: httpx.Client,
                                                         ops_project: ProjectDir) -> None:
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    seeded = [("delivered", now - timedelta(minutes=3)), ("archived", now - timedelta(hours=2)),
              ("quarantined", now - timedelta(hours=5)), ("duplicate", now - timedelta(hours=23)),
              ("pending", now - timedelta(hours=30)), ("lost", now - timedelta(minutes=1)),
              ("delivered", now - timedelta(days=3))]
    for i, (state, at) in enumerate(seeded):
        _add_file(ops_project, "orders", f"t{i}.csv", state, at)
    # file 1 (quarantined just now, by the fixture) counts too
    seeded.append(("quarantined", now))

    def expected(since: datetime) -> dict[str, int]:
        group = {"delivered": "delivered", "archived": "delivered", "quarantined": "quarantined",
                 "lost": "quarantined", "pending": "pending", "duplicate": "duplicates"}
        out = dict.fromkeys(("delivered", "quarantined", "pending", "duplicates"), 0)
        for state, at in seeded:
            if at >= since:
                out[group[state]] += 1
        return out

    page = ops.get("/").text
    assert _totals(page, "24h") == expected(now - timedelta(hours=24)) == {
        "delivered": 2, "quarantined": 3, "pending": 0, "duplicates": 1}
    assert _totals(page, "today") == expected(midnight)
    assert "Received today (UTC)" in page


def test_lights_say_what_is_wrong_per_route(ops_project: ProjectDir, live: LiveConsole) -> None:
    ops_project.route("quiet", OWNED.replace("orders", "quiet")
                      + 'description: "Invoices from <ACME>"\n')
    ops_project.route("late", OWNED.replace("orders", "late")
                      + 'expect: {by: "00:00", every: daily}\ntimezone: UTC\n')
    _old_mapping(ops_project, "late")
    ops_project.route("slow", OWNED.replace("orders", "slow"))
    _add_file(ops_project, "slow", "waiting.csv", "pending",
              datetime.now(UTC) - timedelta(hours=3, minutes=5), "the target did not answer")
    with ops_project.ledger() as ledger:
        run = ledger.start_run("late")
        ledger.finish_run(run, delivered=0, quarantined=0, pending=0,
                          error="cannot list sftp://partner/out: connection refused")
        Incidents(ledger).open("unreachable:late", "unreachable",
                               "the source of late cannot be reached", route="late")
        ok = ledger.start_run("quiet")
        ledger.finish_run(ok, delivered=0, quarantined=0, pending=0)

    with live.client() as c:
        assert log_in(c).status_code == 303
        page = c.get("/").text
    late = _row(page, "late")
    assert late.startswith("red ")
    assert "expected file overdue since" in late
    assert ("source unreachable at the last run (cannot list sftp://partner/out: connection"
            " refused)") in late
    assert "1 open alert(s)" in late
    orders = _row(page, "orders")
    assert orders.startswith("amber ") and "1 file(s) in quarantine" in orders
    assert "no owner: nobody is told when it fails" in orders
    assert "0 delivered, 1 quarantined, 0 pending" in orders  # the last run with files
    slow = _row(page, "slow")
    assert slow.startswith("amber ")
    assert "a file has been pending for 3 hours" in slow
    assert 'data-label="oldest pending">3 hours<' in slow
    quiet = _row(page, "quiet")
    assert quiet.startswith("green ") and ">nothing<" in quiet
    assert "ERP team (Anna Berg)" in quiet
    assert re.search(r"last reached source\">\d{4}-\d\d-\d\d \d\d:\d\d<", quiet)
    assert "1 with problems, 2 needing attention, 1 fine" in page


def test_the_serve_banner(ops: httpx.Client, ops_project: ProjectDir) -> None:
    def banner() -> str:
        page = ops.get("/").text
        found = re.search(r'<div class="banner" role="alert" id="serve-banner">(.*?)</div>',
                          page, re.S)
        text = re.sub(r"<[^>]+>", "", found.group(1)) if found else ""
        return " ".join(html.unescape(text).split())

    assert banner().startswith("tradelane serve has never run on this ledger.")
    now = datetime.now(UTC)
    with ops_project.ledger() as ledger:
        Heartbeats(ledger).beat("host:7", "running", now=now)
    assert banner() == ""  # running, and its heartbeat is fresh
    with ops_project.ledger() as ledger:
        Heartbeats(ledger).beat("host:7", "running", now=now - timedelta(minutes=10))
    said = banner()
    assert said.startswith("tradelane serve has stopped answering. Its last heartbeat was 10"
                           " minutes ago")
    assert "worker host:7" in said and "it writes one every 30 seconds" in said
    with ops_project.ledger() as ledger:
        Heartbeats(ledger).beat("host:7", "stopped", now=now - timedelta(hours=2))
    assert banner().startswith("tradelane serve is not running. It was stopped 2 hours ago")
    # the banner comes first, above the page's heading
    page = ops.get("/").text
    assert page.index('id="serve-banner"') < page.index("<h1>")


def test_refresh_and_its_pause(ops: httpx.Client) -> None:
    page = ops.get("/").text
    assert '<meta http-equiv="refresh" content="30">' in page
    assert '<a href="/?pause=1">Pause</a>' in page
    paused = ops.get("/", params={"pause": "1"}).text
    assert 'http-equiv="refresh"' not in paused
    assert 'Auto-refresh is paused. <a href="/">Resume it</a>' in paused
    route = ops.get("/routes/orders").text
    assert '<meta http-equiv="refresh" content="30">' in route
    assert '<a href="/routes/orders?pause=1">Pause</a>' in route
    assert 'http-equiv="refresh"' not in ops.get("/files").text  # a list is not reloaded


def test_a_route_page(ops_project: ProjectDir, live: LiveConsole) -> None:
    ops_project.route("orders", OWNED + 'description: "Orders from <b>ACME</b>"\n'
                      + 'schedule: "0 2 * * *"\n')
    for i in range(25):
        _add_file(ops_project, "orders", f"o_{i:02d}.csv", "archived",
                  datetime(2026, 11, 2, tzinfo=UTC) + timedelta(minutes=i))
    with ops_project.ledger() as ledger:
        Incidents(ledger).open("quarantined:1", "quarantined", "orders_0412.csv <is> bad",
                               route="orders", file_id=1)
        Incidents(ledger).open("unreachable:other", "unreachable", "not this route",
                               route="other")
    with live.client() as c:
        assert log_in(c).status_code == 303
        page = c.get("/routes/orders").text
        missing = c.get("/routes/nope")
    assert "<h1>Route orders" in page
    assert "Orders from &lt;b&gt;ACME&lt;/b&gt;" in page
    assert "ERP team (Anna Berg)" in page
    assert "cron 0 2 * * * (UTC)" in page
    alerts = page.split('id="route-alerts"', 1)[1].split("</table>", 1)[0]
    assert '<a href="/files/1">file 1</a>: orders_0412.csv &lt;is&gt; bad' in alerts
    assert "not this route" not in page
    assert "Open alerts (1)" in page
    recent = page.split('id="recent"', 1)[1].split("</table>", 1)[0]
    assert recent.count('<td data-label="id">') == 20
    # newest received first: file 1 (today), then the 19 newest of November
    assert re.findall(r'<td data-label="id"><a href="/files/(\d+)">', recent) == \
        [str(i) for i in (1, *range(26, 7, -1))]
    assert '<a href="/files?route=orders">All 26 files of orders</a>' in page
    assert missing.status_code == 404 and "There is no route" in missing.text


def test_no_routes_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.delenv("TRADELANE_LEDGER_URL", raising=False)
    project = ProjectDir(tmp_path / "new")
    project.settings("console: {user: ops}\n")
    server = LiveConsole(project.root)
    try:
        with server.client() as c:
            assert log_in(c).status_code == 303
            page = c.get("/")
    finally:
        server.stop()
    assert page.status_code == 200
    assert "No routes yet: add one in mappings/" in page.text
    assert _totals(page.text, "today") == {"delivered": 0, "quarantined": 0, "pending": 0,
                                           "duplicates": 0}
