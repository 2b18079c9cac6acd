"""Fixing a file in a real headless Chromium: an operator filters the list to a route's
quarantined files, opens one, sees the failing row marked, edits the bad value, resubmits and
sees it delivered; a viewer sees no action. Saves docs/console-file.png for the README.

Uses Debian's /usr/bin/chromium through Playwright (never a browser of its own).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from support.console import BAD_CSV, LiveConsole, screenshot_path
from support.project import CSV_ROUTE, ProjectDir
from tradelane.cli import app as cli
from tradelane.models import FileState

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
USERS = {"olga": ("operator", "olga operates daily"), "vic": ("viewer", "vic only looks")}

# Skipped on a laptop without it; under CI (which installs it) a missing browser must fail.
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev extra")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[sync_api.BrowserContext]:
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def two_routes(ops_project: ProjectDir) -> ProjectDir:
    """orders_0412.csv (file 1) in quarantine, and a bad invoice on another route."""
    ops_project.route("invoices", CSV_ROUTE.replace("orders", "invoices"))
    ops_project.drop("invoices", "inv_0412.csv", BAD_CSV)
    ops_project.run(["invoices"])
    for name, (role, password) in USERS.items():
        result = CliRunner().invoke(cli, ["user", "add", name, "--role", role,
                                          "--password-stdin", "-C", str(ops_project.root)],
                                    input=password + "\n")
        assert result.exit_code == 0, result.output
    return ops_project


def _log_in(page: sync_api.Page, live: LiveConsole, name: str) -> None:
    page.goto(live.url + "/files")
    page.get_by_label("User").fill(name)
    page.get_by_label("Password").fill(USERS[name][1])
    page.get_by_role("button", name="Log in").click()
    sync_api.expect(page).to_have_url(live.url + "/files")


def test_an_operator_fixes_a_row_in_the_browser(browser: sync_api.BrowserContext,
                                                live: LiveConsole, two_routes: ProjectDir,
                                                tmp_path: Path) -> None:
    expect = sync_api.expect
    page = browser.new_page()
    _log_in(page, live, "olga")

    filters = page.locator("#filter")
    filters.get_by_label("Route").select_option("orders")
    filters.get_by_label("State").select_option("attention")
    filters.get_by_role("button", name="Filter").click()
    rows = page.locator("#files tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("orders_0412.csv")
    rows.get_by_role("link", name="orders_0412.csv").click()
    expect(page).to_have_url(live.url + "/files/1")

    marked = page.locator("#preview .hit")
    expect(marked).to_have_count(1)
    expect(marked).to_have_attribute("id", "L3")
    expect(marked).to_contain_text("PO-2;<b>zwei</b>;100;;closed")  # shown, not rendered
    expect(marked).to_have_attribute("title", "row 2 (line 3): qty: " + page.locator(
        "#errors tbody td").nth(4).inner_text())
    background = marked.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")  # visibly marked
    shot = screenshot_path("console-file.png", tmp_path)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    page.get_by_role("link", name="Edit and resubmit").click()
    expect(page).to_have_url(live.url + "/files/1/edit")
    text = page.get_by_label("The file's text")
    expect(text).to_have_value(BAD_CSV)
    text.fill(text.input_value().replace("<b>zwei</b>", "2"))
    page.get_by_role("button", name="Save and reprocess").click()

    expect(page).to_have_url(live.url + "/files/1")
    expect(page.locator(".flash.ok")).to_contain_text("Your edit was delivered")
    expect(page.locator("#state")).to_have_text("archived")
    expect(page.locator("table.events")).to_contain_text("+PO-2;2;100;;closed")
    expect(page.locator("table.events")).to_contain_text("console:olga")
    with two_routes.ledger() as ledger:
        record = ledger.get(1)
    assert record.state == FileState.ARCHIVED
    [output] = two_routes.outputs("orders")
    assert '"qty":2' in output.read_text().replace(" ", "")
    # the original is kept as it came, archived next to the edit that was delivered
    assert Path(record.path or "").with_name("1-orders_0412.csv").read_text() == BAD_CSV


def test_a_viewer_sees_no_action(browser: sync_api.BrowserContext, live: LiveConsole,
                                 two_routes: ProjectDir) -> None:
    expect = sync_api.expect
    page = browser.new_page()
    _log_in(page, live, "vic")
    expect(page.locator("#files tbody tr")).to_have_count(2)
    expect(page.locator("#files input[type=checkbox]")).to_have_count(0)
    page.get_by_role("link", name="inv_0412.csv").click()
    expect(page.locator("#preview .hit")).to_have_count(1)  # reading is allowed
    expect(page.locator("#actions")).to_have_count(0)
    expect(page.get_by_role("button")).to_have_count(1)  # Log out, nothing else
    expect(page.get_by_role("link", name="Edit and resubmit")).to_have_count(0)
