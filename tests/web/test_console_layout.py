"""The console's layout in a real headless Chromium, from a 360 px phone to a laptop: no page
scrolls sideways, the login form lines up, tables become cards on a phone. Saves the
screenshots the README shows (docs/console-dashboard.png, docs/console-files.png).

Uses Debian's /usr/bin/chromium, as test_console_browser.py does.
"""

from __future__ import annotations

import hashlib
import os
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.console import PASSWORD, LiveConsole, screenshot_path
from support.project import CSV_ROUTE, ProjectDir
from tradelane.ledger.alerts import Heartbeats, Incidents
from tradelane.ledger.tables import files

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE, LAPTOP = {"width": 360, "height": 740}, {"width": 1280, "height": 800}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev extra")

ROUTE = textwrap.dedent(CSV_ROUTE)
OWNER = "owner: {name: ERP team (Anna Berg), webhook_env: ERP_HOOK}\n"


@pytest.fixture
def busy_project(ops_project: ProjectDir) -> ProjectDir:
    """Three routes, one of each light, 300 files with long names in every state."""
    ops_project.route("invoices", ROUTE.replace("orders", "invoices") + OWNER
                      + 'description: "Supplier invoices (UBL) into the ERP"\n')
    ops_project.route("despatch_advice_from_the_warehouse_partner",
                      ROUTE.replace("orders", "asn") + OWNER
                      + 'expect: {by: "00:00", every: daily}\ntimezone: UTC\n')
    past = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    os.utime(ops_project.root / "mappings" / "despatch_advice_from_the_warehouse_partner.yaml",
             (past, past))
    now = datetime.now(UTC)
    states = ["archived"] * 7 + ["quarantined", "duplicate", "pending"]
    rows = []
    for i in range(300):
        route = ("orders", "invoices")[i % 2]
        name = f"{route.upper()}_2026-12-{1 + i % 7:02d}_{i:05d}_" + "x" * (i % 3) * 40 + ".csv"
        at = now - timedelta(minutes=7 * (300 - i))
        state = states[i % len(states)]
        rows.append({"route": route, "source": "inbox", "name": name, "size": 900 + i,
                     "mtime_ns": i, "sha256": hashlib.sha256(name.encode()).hexdigest(),
                     "state": state, "attempt": 1 + (i % 4 == 0), "received_at": at,
                     "updated_at": at, "generation": 0,
                     "message": {"quarantined": "3 problems in the data (qty.type)",
                                 "duplicate": "the same content was already delivered",
                                 "pending": "the target did not answer; retried at 12:40"}
                     .get(state)})
    with ops_project.ledger() as ledger:
        with ledger.engine.begin() as conn:
            conn.execute(files.insert(), rows)
        run = ledger.start_run("despatch_advice_from_the_warehouse_partner")
        ledger.finish_run(run, delivered=0, quarantined=0, pending=0,
                          error="cannot list sftp://wh.example.com/out: connection refused")
        Incidents(ledger).open("unreachable:asn", "unreachable",
                               "the warehouse's SFTP server refuses connections",
                               route="despatch_advice_from_the_warehouse_partner")
        Heartbeats(ledger).beat("ops-host:4121", "running", now=now - timedelta(minutes=12))
    return ops_project


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[sync_api.Page]:
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport=PHONE)
        context.set_default_timeout(20_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def _overflow(page: sync_api.Page) -> int:
    """How many pixels the page is wider than the window (0: it does not scroll sideways)."""
    return int(page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth"))


def _widest(page: sync_api.Page) -> str:
    """The elements that reach past the window's right edge, to say what overflows."""
    return str(page.evaluate("""[...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
        .slice(0, 5).map(e => e.tagName + '.' + e.className + ' '
                         + Math.round(e.getBoundingClientRect().right))"""))


def _left(page: sync_api.Page, selector: str) -> float:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return round(box["x"])


def test_no_page_scrolls_sideways_from_phone_to_laptop(browser: sync_api.Page,
                                                       busy_project: ProjectDir,
                                                       live: LiveConsole) -> None:
    page, expect = browser, sync_api.expect
    page.goto(live.url + "/")
    for size in (PHONE, LAPTOP):
        page.set_viewport_size(size)
        assert _overflow(page) <= 0, f"the login page scrolls sideways at {size}"
        # the login form lines up: both fields start at one x, the button under them
        user, password = _left(page, "input[name=username]"), _left(page, "input[name=password]")
        assert user == password
        assert _left(page, "form.login button") == user
    page.get_by_label("User").fill("ops")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("h1")).to_have_text("Dashboard")

    pages = {"/": "#routes", "/files": "#files", "/files?state=attention&per=200": "#files",
             "/routes/invoices": "#recent"}
    for size in (PHONE, LAPTOP):
        page.set_viewport_size(size)
        for path, table in pages.items():
            page.goto(live.url + path)
            expect(page.locator(table)).to_be_visible()
            assert _overflow(page) <= 0, (f"{path} scrolls sideways at {size['width']} px: "
                                          + _widest(page))
            header_shown = page.locator(f"{table} thead").is_visible()
            # a phone gets one card per row, labelled; a laptop the table with its header
            assert header_shown == (size is LAPTOP), (path, size)

    page.set_viewport_size(PHONE)
    page.goto(live.url + "/")
    banner = page.locator("#serve-banner")
    expect(banner).to_contain_text("tradelane serve has stopped answering")
    top, heading = banner.bounding_box(), page.locator("h1").bounding_box()
    assert top is not None and heading is not None
    assert top["y"] < heading["y"]  # the first thing under the menu, above the heading
    card = page.locator("#routes tbody tr").first
    expect(card.locator("td").nth(1)).to_contain_text("problem")
    # the card's fields stack: the light sits under the route's name, not beside it
    name, light = card.locator("td").nth(0).bounding_box(), card.locator("td").nth(1).bounding_box()
    assert name is not None and light is not None and light["y"] >= name["y"] + name["height"]


def test_screenshots_for_the_readme(browser: sync_api.Page, busy_project: ProjectDir,
                                    live: LiveConsole, tmp_path: Path) -> None:
    page, expect = browser, sync_api.expect
    page.set_viewport_size(LAPTOP)
    page.goto(live.url + "/login")
    page.get_by_label("User").fill("ops")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#routes tbody tr")).to_have_count(3)
    shots = {"console-dashboard.png": "/?pause=1",
             "console-files.png": "/files?state=attention&per=25"}
    for name, path in shots.items():
        page.goto(live.url + path)
        shot = screenshot_path(name, tmp_path)
        page.screenshot(path=str(shot), full_page=True)
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    expect(page.locator("#files tbody tr")).to_have_count(25)
