"""``/files``: the list over the whole ledger, over real HTTP: paging, sorting, every filter,
bad filters in words, escaping, the bulk form, an empty ledger, and both backends."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from support.console import PASSWORD, LiveConsole, log_in
from support.project import CSV_ROUTE, ProjectDir
from tradelane.ledger.tables import files

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def seed(project: ProjectDir, count: int, *, route: str = "orders", start: datetime = T0,
         state: str = "delivered", name: str = "file_{i:04d}.csv",
         step: timedelta = timedelta(hours=1)) -> list[int]:
    """``count`` files as the engine leaves them, received ``step`` apart from ``start``."""
    rows: list[dict[str, Any]] = []
    for i in range(count):
        at = start + i * step
        n = name.format(i=i)
        rows.append({"route": route, "source": "inbox", "name": n, "size": 100 + i,
                     "mtime_ns": i, "sha256": hashlib.sha256(n.encode()).hexdigest(),
                     "state": state, "attempt": 1, "received_at": at, "updated_at": at,
                     "message": "qty: not a number" if state == "quarantined" else None,
                     "generation": 0})
    with project.ledger() as ledger, ledger.engine.begin() as conn:
        result = conn.execute(insert(files).returning(files.c.id), rows)
        return [r[0] for r in result]


def ids_on(page: str) -> list[int]:
    """The file ids of the list's rows, in order."""
    body = page.split('<tbody>', 1)[1].split('</tbody>', 1)[0] if '<tbody>' in page else ""
    return [int(m) for m in re.findall(r'<td data-label="id"><a href="/files/(\d+)">', body)]


# -- paging and sorting ----------------------------------------------------------------------


def test_pages_newest_first_with_links(ops: httpx.Client, ops_project: ProjectDir) -> None:
    seed(ops_project, 120)  # ids 2..121, received in November, before file 1 (today)
    newest_first = [1, *range(121, 1, -1)]
    page = ops.get("/files")
    assert page.status_code == 200
    assert ids_on(page.text) == newest_first[:50]
    assert "Files (121)" in page.text and "1\N{EN DASH}50 of 121" in page.text
    assert "page 1 of 3" in page.text
    assert 'href="/files?page=2" rel="next"' in page.text
    assert 'rel="prev"' not in page.text

    third = ops.get("/files", params={"page": "3"}).text
    assert ids_on(third) == newest_first[100:]
    assert "101\N{EN DASH}121 of 121" in third and 'rel="next"' not in third
    assert 'href="/files?page=2" rel="prev"' in third

    # past the end: the last page, not an empty one
    assert ids_on(ops.get("/files", params={"page": "99"}).text) == newest_first[100:]
    # in order of the ledger's ids, oldest first
    assert ids_on(ops.get("/files", params={"sort": "id", "order": "asc"}).text) == \
        list(range(1, 51))
    assert len(ids_on(ops.get("/files", params={"per": "200"}).text)) == 121
    # the page links keep the filter
    filtered = ops.get("/files", params={"route": "orders", "per": "25"}).text
    assert 'href="/files?route=orders&amp;per=25&amp;page=2" rel="next"' in filtered


def test_sorting_by_a_column_and_back(ops: httpx.Client, ops_project: ProjectDir) -> None:
    seed(ops_project, 3, name="b_{i}.csv")
    seed(ops_project, 2, name="A_{i}.csv", route="invoices", start=T0 - timedelta(days=3))
    by_name = ops.get("/files", params={"sort": "name", "order": "asc"}).text
    names = re.findall(r'<td data-label="file" class="name"><a href="/files/\d+">([^<]+)</a>',
                       by_name)
    assert names == sorted(names) and names[0] == "A_0.csv"
    # the sorted column's header turns the order round
    assert 'href="/files?sort=name&amp;order=desc" class="sorted">file ↑</a>' in by_name
    received = ids_on(ops.get("/files", params={"sort": "received", "order": "asc"}).text)
    assert received[:2] == [5, 6]  # the invoices, three days older
    by_size = ids_on(ops.get("/files", params={"sort": "size"}).text)
    assert by_size[:3] == [4, 6, 3]  # 102 bytes, then 101 (the newer first)


# -- filters -----------------------------------------------------------------------------------


def test_each_filter_and_their_combination(ops: httpx.Client, ops_project: ProjectDir) -> None:
    delivered = seed(ops_project, 10)  # 2026-11-01 08:00 .. 17:00
    late = seed(ops_project, 5, start=T0 + timedelta(days=2), state="quarantined",
                name="late_{i}_100%.csv")
    other = seed(ops_project, 4, route="invoices", name="INV_{i}.xml")

    def shown(**params: str) -> set[int]:
        response = ops.get("/files", params={"per": "200", **params})
        assert response.status_code == 200, response.text[:500]
        return set(ids_on(response.text))

    assert shown(route="invoices") == set(other)
    assert shown(state="quarantined") == {1, *late}
    assert shown(state="attention", route="orders") == {1, *late}
    assert shown(state="delivered") == set(delivered + other)
    assert shown(since="2026-11-03") == {1, *late}  # file 1 was received today
    assert shown(until="2026-11-01") == set(delivered + other)  # the day is included
    assert shown(since="2026-11-01", until="2026-11-02") == set(delivered + other)
    assert shown(name="inv_") == set(other)  # any case; _ is a character, not a wildcard
    assert shown(name="100%") == set(late)  # and % too
    assert shown(name="_1_") == {late[1]}
    sha = hashlib.sha256(b"INV_2.xml").hexdigest()
    assert shown(sha256=sha[:6].upper()) == {other[2]}
    assert shown(sha256=sha) == {other[2]}
    assert shown(route="orders", state="quarantined", name="late_3") == {late[3]}
    assert shown(route="nowhere") == set()
    page = ops.get("/files", params={"route": "nowhere"}).text
    assert "No file matches this filter" in page and "Files (0 matching)" in page


@pytest.mark.parametrize(("params", "says"), [
    ({"since": "yesterday"}, "since: 'yesterday' is not a date; write it as YYYY-MM-DD"),
    ({"since": "2026-11-05", "until": "2026-11-01"}, "until: the range ends before it starts"),
    ({"sha256": "xyz"}, "sha256: a prefix of the hash is hex digits"),
    ({"state": "gone"}, "state: 'gone' is not a state"),
    ({"page": "-1"}, "page: a whole number from 1"),
    ({"per": "100000"}, "per: files per page is one of 25, 50, 100, 200"),
    ({"sort": "password"}, "sort: choose one of id, received"),
    ({"name": "x" * 201}, "name: at most 200 characters"),
    ({"until": "9999-12-31", "page": "9" * 30}, "page: a whole number"),
])
def test_a_bad_filter_is_named_not_a_traceback(ops: httpx.Client, params: dict[str, str],
                                               says: str) -> None:
    response = ops.get("/files", params=params)
    assert response.status_code == 400
    assert "Part of the filter was not understood and is left out" in response.text
    assert says in html.unescape(response.text)
    assert "Traceback" not in response.text
    assert ids_on(response.text) == [1]  # the rest of the filter still applies


# -- what the rows show ------------------------------------------------------------------------


def test_names_and_messages_are_escaped(ops: httpx.Client, ops_project: ProjectDir) -> None:
    seed(ops_project, 1, name='<img src=x onerror=alert(1)>"{i}.csv', state="quarantined")
    with ops_project.ledger() as ledger, ledger.engine.begin() as conn:
        conn.execute(files.update().where(files.c.id == 2)
                     .values(message="<script>alert(2)</script>", route="<b>r</b>"))
    for path in ("/files", "/files?name=%3Cimg", "/"):
        page = ops.get(path).text
        assert "<img src=x" not in page and "<script>alert" not in page and "<b>r</b>" not in page
    page = ops.get("/files").text
    assert "&lt;img src=x onerror=alert(1)&gt;&#34;0.csv" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert 'href="/routes/%3Cb%3Er%3C/b%3E"' in page
    # the filter's own value comes back escaped too
    echoed = ops.get("/files", params={"name": '"><script>x'}).text
    assert 'value="&#34;&gt;&lt;script&gt;x"' in echoed


def test_the_bulk_form_posts_ids_or_the_filter(ops: httpx.Client,
                                               ops_project: ProjectDir) -> None:
    seed(ops_project, 60, state="quarantined")
    page = ops.get("/files", params={"state": "quarantined", "route": "orders"}).text
    form = page.split('<form method="post" action="/files/bulk" id="bulk">', 1)[1]
    form = form.split("</form>", 1)[0]
    assert 'name="csrf_token"' in form
    assert len(re.findall(r'<input type="checkbox" name="ids" value="\d+"', form)) == 50
    # every matching file, not only this page's 50: the filter goes back as the query string
    assert ('<input type="checkbox" name="filter" value="route=orders&amp;state=quarantined">'
            ' or on all 61 files matching this filter') in form
    for action in ("reprocess", "force", "discard"):
        assert f'name="action" value="{action}"' in form


def test_a_viewer_sees_no_checkbox(ops_project: ProjectDir, live: LiveConsole) -> None:
    from typer.testing import CliRunner

    from tradelane.cli import app as cli

    result = CliRunner().invoke(cli, ["user", "add", "vic", "--role", "viewer",
                                      "--password-stdin", "-C", str(ops_project.root)],
                                input="vic only looks around\n")
    assert result.exit_code == 0, result.output
    with live.client() as vic:
        assert log_in(vic, "vic only looks around", "vic").status_code == 303
        page = vic.get("/files").text
    assert ids_on(page) == [1]
    assert 'name="ids"' not in page and "/files/bulk" not in page


def test_an_empty_ledger(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.delenv("TRADELANE_LEDGER_URL", raising=False)
    project = ProjectDir(tmp_path / "empty")
    project.settings("console: {user: ops}\n")
    project.route("orders", CSV_ROUTE)
    server = LiveConsole(project.root)
    try:
        with server.client() as c:
            assert log_in(c).status_code == 303
            page = c.get("/files").text
            assert "The ledger holds no files yet" in page and "Files (0)" in page
            assert "/files/bulk" not in page
            assert c.get("/files", params={"page": "5"}).status_code == 200
    finally:
        server.stop()


def test_old_pages_still_answer(ops: httpx.Client) -> None:
    assert "orders_0412.csv" in ops.get("/quarantine").text
    assert "orders_0412.csv" in ops.get("/history", params={"q": "orders_0412.csv"}).text
    nav = ops.get("/files").text
    assert '<a href="/files?state=attention"' in nav  # the menu's quarantine is the list's


def test_both_backends(backend_live: LiveConsole, backend_project: ProjectDir) -> None:
    seed(backend_project, 30, route="invoices", name="Inv_{i}.XML")
    with backend_live.client() as c:
        assert log_in(c).status_code == 303
        assert ids_on(c.get("/files", params={"name": "inv_1"}).text) == [*range(21, 11, -1), 3]
        sha = hashlib.sha256(b"Inv_7.XML").hexdigest()
        assert ids_on(c.get("/files", params={"sha256": sha[:5]}).text) == [9]
        assert ids_on(c.get("/files", params={"since": "2026-11-02", "until": "2026-11-02",
                                              "sort": "received", "order": "asc"}).text
                      ) == [18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]
        assert ids_on(c.get("/files", params={"state": "attention"}).text) == [1]
