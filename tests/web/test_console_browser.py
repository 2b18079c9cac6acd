"""The ops workflow in a real headless Chromium: log in, find the reject, fix it, reprocess.

Uses Debian's /usr/bin/chromium (CI installs it in .ci/run); Playwright never downloads a
browser of its own here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.console import GOOD_CSV, PASSWORD, LiveConsole
from support.project import ProjectDir

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Skipped on a laptop without it; under CI (which installs it) a missing browser must fail.
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev extra")


@pytest.fixture
def page(tmp_path: Path) -> Iterator[sync_api.Page]:
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=ARGS)
        context.set_default_timeout(20_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def test_fix_and_reprocess_in_the_browser(page: sync_api.Page, live: LiveConsole,
                                          ops_project: ProjectDir, tmp_path: Path) -> None:
    expect = sync_api.expect
    page.goto(live.url + "/quarantine")
    expect(page).to_have_url(f"{live.url}/login?next=%2Fquarantine")

    page.get_by_label("User").fill("ops")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(live.url + "/quarantine")
    row = page.locator("#quarantine tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("orders_0412.csv")
    expect(row).to_contain_text("qty.type")

    row.get_by_role("link", name="orders_0412.csv").click()
    expect(page).to_have_url(live.url + "/files/1")
    failing = page.locator("#errors tbody tr")
    expect(failing).to_have_count(1)
    expect(failing).to_contain_text("row 2 (line 3)")
    expect(failing.locator("td").nth(1)).to_have_text("qty")
    expect(failing.locator("td").nth(2)).to_have_text("<b>zwei</b>")  # shown, not rendered
    expect(page.locator("#preview")).to_contain_text("PO-2;<b>zwei</b>;100;;closed")

    # the operator fixes the quarantined copy on disk, as the page tells them to
    [quarantined] = ops_project.quarantined("orders")
    expect(page.locator(".actions")).to_contain_text(str(quarantined))
    quarantined.write_text(GOOD_CSV)

    page.get_by_role("button", name="Reprocess").click()
    expect(page).to_have_url(live.url + "/quarantine")
    expect(page.locator(".flash.ok")).to_contain_text("File 1 (orders_0412.csv) was delivered")
    expect(page.locator("#quarantine")).to_have_count(0)
    expect(page.locator(".empty")).to_have_text("The quarantine is empty.")
    assert [p.name for p in ops_project.outputs("orders")] == ["orders_0412.json"]

    page.get_by_role("link", name="History").click()
    page.get_by_label("File id or name").fill("orders_0412.csv")
    page.get_by_role("button", name="Search").click()
    trail = page.locator(".trail")
    expect(trail.locator(".attempt")).to_have_text("2")
    expect(trail.locator(".state")).to_have_text("archived")
    expect(trail).to_contain_text("reprocess requested")

    shot = tmp_path / "console.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 1000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
