"""Actions over real HTTP: reprocess, force and discard on one file, on ticked files and on
every file a filter matches (``POST /files/bulk``: a confirmation first, then a result page),
who may do them, CSRF, escaping, and 1,000 files in one request."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from support.console import BAD_CSV, GOOD_CSV, LiveConsole, log_in, token_in
from support.project import CSV_ROUTE, ProjectDir
from tradelane.cli import app as cli
from tradelane.models import FileState

PASSWORDS = {"olga": "olga operates daily", "vic": "vic only looks around"}


def _states(project: ProjectDir) -> dict[int, FileState]:
    with project.ledger() as ledger:
        return {r.id: r.state for r in ledger.files()}


def _events(project: ProjectDir, file_id: int) -> list[tuple[str, str]]:
    with project.ledger() as ledger:
        return [(e.actor, e.detail or "") for e in ledger.events(file_id)]


def _post(client: httpx.Client, path: str, data: dict[str, object]) -> httpx.Response:
    token = token_in(client.get("/files").text)
    return client.post(path, data={"csrf_token": token, **data})


def _confirm(client: httpx.Client, page: httpx.Response) -> httpx.Response:
    """Press the confirmation page's button: post its hidden fields back."""
    assert 'action="/files/bulk"' in page.text, page.text[:500]
    form = page.text.split('action="/files/bulk"', 1)[1].split("</form>", 1)[0]
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form))
    fields = {k: v.replace("&amp;", "&").replace("&#39;", "'").replace("&quot;", '"')
              for k, v in fields.items()}
    return client.post("/files/bulk", data=fields)


@pytest.fixture
def team(ops_project: ProjectDir, live: LiveConsole) -> Iterator[dict[str, httpx.Client]]:
    """olga (operator) and vic (viewer), logged in."""
    clients = {}
    for name, role in (("olga", "operator"), ("vic", "viewer")):
        result = CliRunner().invoke(cli, ["user", "add", name, "--role", role,
                                          "--password-stdin", "-C", str(ops_project.root)],
                                    input=PASSWORDS[name] + "\n")
        assert result.exit_code == 0, result.output
        clients[name] = live.client()
        assert log_in(clients[name], PASSWORDS[name], name).status_code == 303
    yield clients
    for client in clients.values():
        client.close()


# -- who may act ---------------------------------------------------------------------------


def test_a_viewer_sees_no_action_and_every_action_is_refused(
        team: dict[str, httpx.Client], ops_project: ProjectDir) -> None:
    vic = team["vic"]
    page = vic.get("/files/1").text
    assert "orders_0412.csv" in page and "row 2 (line 3)" in page
    for button in ('id="actions"', 'id="reprocess"', 'id="discard"', "/files/1/edit"):
        assert button not in page
    assert 'id="actions"' in team["olga"].get("/files/1").text  # an operator sees them
    assert vic.get("/files/1/edit").status_code == 403
    for path, data in (("/files/1/reprocess", {}), ("/files/1/discard", {"reason": "x"}),
                       ("/files/1/edit", {"text": GOOD_CSV, "base": "0" * 64}),
                       ("/files/bulk", {"action": "discard", "ids": "1", "reason": "x",
                                        "confirm": "1"})):
        response = _post(vic, path, data)
        assert response.status_code == 403, path
        assert "Your role (viewer) cannot" in response.text
    assert _states(ops_project) == {1: FileState.QUARANTINED}


@pytest.mark.parametrize("path", ["/files/bulk", "/files/1/edit", "/files/1/discard"])
def test_actions_without_the_csrf_token_are_refused(ops: httpx.Client, ops_project: ProjectDir,
                                                    path: str) -> None:
    data = {"action": "discard", "ids": "1", "reason": "x", "confirm": "1",
            "text": GOOD_CSV, "base": "0" * 64}
    assert ops.post(path, data=data).status_code == 403
    assert ops.post(path, data={**data, "csrf_token": "forged"}).status_code == 403
    assert _states(ops_project) == {1: FileState.QUARANTINED}


# -- one file ------------------------------------------------------------------------------


def test_discard_and_force_record_who_did_it(team: dict[str, httpx.Client],
                                             ops_project: ProjectDir) -> None:
    olga = team["olga"]
    response = _post(olga, "/files/1/discard", {"reason": "partner resent it"})
    assert response.status_code == 303
    assert _states(ops_project)[1] == FileState.DISCARDED
    assert ("console:olga", "discarded: partner resent it") in _events(ops_project, 1)
    assert list((ops_project.root / "archive" / "orders" / "discarded").iterdir())

    ops_project.drop("orders", "again_a.csv", GOOD_CSV)
    ops_project.drop("orders", "again_b.csv", GOOD_CSV)
    ops_project.run()
    duplicate = next(i for i, s in _states(ops_project).items() if s == FileState.DUPLICATE)
    page = olga.get(f"/files/{duplicate}").text
    assert "This file was already delivered as" in page and "nothing to fix" in page
    assert "problem(s) in all" not in page  # a duplicate has no problem to list
    response = _post(olga, f"/files/{duplicate}/reprocess", {"force": "1"})
    assert response.status_code == 303
    assert _states(ops_project)[duplicate] == FileState.ARCHIVED
    assert any(actor == "console:olga" and "forced" in detail
               for actor, detail in _events(ops_project, duplicate))


# -- many files ----------------------------------------------------------------------------


def _more(project: ProjectDir, names: list[str], content: str = BAD_CSV) -> None:
    for name in names:
        project.drop("orders", name, content)
    project.run()


def test_bulk_confirms_the_count_and_routes_then_acts(ops: httpx.Client,
                                                     ops_project: ProjectDir) -> None:
    ops_project.route("invoices", CSV_ROUTE.replace("orders", "invoices"))
    ops_project.drop("invoices", "inv_1.csv", BAD_CSV)
    _more(ops_project, ["b.csv", "good.csv"][:1])
    ops_project.drop("orders", "good.csv", GOOD_CSV)
    ops_project.run()
    states = _states(ops_project)
    quarantined = sorted(i for i, s in states.items() if s == FileState.QUARANTINED)
    delivered = [i for i, s in states.items() if s == FileState.ARCHIVED]
    assert len(quarantined) == 3 and len(delivered) == 1
    ids = ",".join(map(str, [*quarantined, *delivered, 999]))

    page = _post(ops, "/files/bulk", {"action": "discard", "ids": ids,
                                      "reason": "sent twice by mistake"})
    assert "Discard: 3 file(s)?" in page.text
    assert re.search(r"<td>invoices</td><td class=\"num\">1</td>", page.text)
    assert re.search(r"<td>orders</td><td class=\"num\">2</td>", page.text)
    assert "1 file(s) will be skipped" in page.text and "archived: nothing to do" in page.text
    assert "Not in the ledger: 999" in page.text
    assert _states(ops_project) == states  # nothing done before confirming

    result = _confirm(ops, page)
    assert result.status_code == 200
    assert "Discard: 3 done, 1 skipped" in result.text
    after = _states(ops_project)
    assert [after[i] for i in quarantined] == [FileState.DISCARDED] * 3
    assert after[delivered[0]] == FileState.ARCHIVED
    assert ("console:ops", "discarded: sent twice by mistake") in _events(ops_project,
                                                                          quarantined[0])


def test_bulk_asks_again_when_the_files_changed(ops: httpx.Client,
                                               ops_project: ProjectDir) -> None:
    _more(ops_project, ["b.csv"])
    page = _post(ops, "/files/bulk", {"action": "discard", "reason": "old",
                                      "filter": "route=orders&state=quarantined"})
    assert "Discard: 2 file(s)?" in page.text
    with ops_project.ledger("someone else") as ledger:  # acts on one meanwhile
        from tradelane import ops as engine_ops

        engine_ops.discard(ops_project.load(), ledger, 1, "done by hand")
    again = _confirm(ops, page)
    assert again.status_code == 400
    assert "The files matching changed" in again.text and "Discard: 1 file(s)?" in again.text
    assert _states(ops_project)[2] == FileState.QUARANTINED  # not done unseen
    assert "Discard: 1 done" in _confirm(ops, again).text


def test_bulk_reprocess_skips_duplicates_unless_forced(ops: httpx.Client,
                                                      ops_project: ProjectDir) -> None:
    _more(ops_project, ["a.csv", "b.csv"], GOOD_CSV)
    duplicate = next(i for i, s in _states(ops_project).items() if s == FileState.DUPLICATE)
    page = _post(ops, "/files/bulk", {"action": "reprocess", "ids": f"1,{duplicate}"})
    assert "a duplicate of a file already delivered" in page.text
    [quarantined] = ops_project.quarantined("orders")[:1]
    quarantined.write_text(GOOD_CSV.replace("PO-1", "PO-7"))  # fixed in place
    result = _confirm(ops, page)
    assert "Reprocess: 1 done, 1 skipped" in result.text
    assert _states(ops_project)[1] == FileState.ARCHIVED
    assert _states(ops_project)[duplicate] == FileState.DUPLICATE
    forced = _confirm(ops, _post(ops, "/files/bulk", {"action": "force",
                                                      "ids": str(duplicate)}))
    assert "1 done, 0 skipped" in forced.text
    assert _states(ops_project)[duplicate] == FileState.ARCHIVED


def test_bulk_refuses_what_it_cannot_do(ops: httpx.Client) -> None:
    assert _post(ops, "/files/bulk", {"action": "reprocess"}).status_code == 400
    assert _post(ops, "/files/bulk", {"action": "explode", "ids": "1"}).status_code == 400
    unfiltered = _post(ops, "/files/bulk", {"action": "discard", "filter": "sort=name"})
    assert unfiltered.status_code == 400 and "Filter the list first" in unfiltered.text
    bad = _post(ops, "/files/bulk", {"action": "discard", "filter": "since=yesterday"})
    assert bad.status_code == 400 and "is not a date" in bad.text
    page = _post(ops, "/files/bulk", {"action": "discard", "ids": "1"})
    assert "Say why" not in page.text
    refused = _confirm(ops, page)  # confirmed with an empty reason
    assert "Say why the files are discarded" in refused.text


# -- escaping ------------------------------------------------------------------------------


NASTY = "<img src=x onerror=alert(1)>&amp;.csv"


def test_names_and_contents_are_escaped_everywhere(ops: httpx.Client,
                                                  ops_project: ProjectDir) -> None:
    _more(ops_project, [NASTY], BAD_CSV.replace("PO-1", "<script>alert(2)</script>"))
    file_id = max(_states(ops_project))
    detail = ops.get(f"/files/{file_id}").text
    assert "<img src=x" not in detail and "<script>alert(2)" not in detail
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;amp;.csv" in detail
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in detail
    edit = ops.get(f"/files/{file_id}/edit").text
    assert "<script>alert(2)" not in edit and "&lt;script&gt;alert(2)" in edit
    confirm = _post(ops, "/files/bulk", {"action": "reprocess", "ids": str(file_id)})
    assert "<img src=x" not in confirm.text
    result = _confirm(ops, confirm)
    assert "<img src=x" not in result.text and "&lt;img src=x" in result.text
    download = ops.get(f"/files/{file_id}/original")
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"")
    assert not set('<>/\\\n') & set(disposition.split("filename*=")[0])
    assert download.content.startswith(b"Order;Qty")


# -- 1,000 files in one request ------------------------------------------------------------


@pytest.mark.timeout(600)
def test_bulk_discard_of_1000_files_in_one_request(ops: httpx.Client,
                                                  thousand: ProjectDir) -> None:
    page = _post(ops, "/files/bulk", {"action": "discard", "reason": "test batch",
                                      "filter": "route=orders&state=quarantined&name=o_"})
    assert "Discard: 1,000 file(s)?" in page.text
    started = time.monotonic()
    result = _confirm(ops, page)
    took = time.monotonic() - started
    print(f"\nbulk discard of 1,000 files: {took:.2f} s")
    assert "Discard: 1,000 done, 0 skipped" in result.text
    assert took < 15
    states = _states(thousand)
    assert sum(s == FileState.DISCARDED for s in states.values()) == 1000
    assert states[1] == FileState.QUARANTINED  # orders_0412.csv did not match the filter
    kept = Path(thousand.root / "archive" / "orders" / "discarded")
    assert len([p for p in kept.iterdir() if not p.name.endswith(".reason.json")]) == 1000


@pytest.mark.timeout(600)
def test_bulk_reprocess_of_1000_files_in_one_request(ops: httpx.Client,
                                                    thousand: ProjectDir) -> None:
    # the mapping is fixed (qty is text now): every file can be delivered
    thousand.route("orders", CSV_ROUTE.replace("type: integer, required: true, min: 1",
                                               "required: true"))
    page = _post(ops, "/files/bulk", {"action": "reprocess",
                                      "filter": "route=orders&state=quarantined"})
    assert "Reprocess: 1,001 file(s)?" in page.text
    started = time.monotonic()
    result = _confirm(ops, page)
    took = time.monotonic() - started
    heading = re.search(r"<h1>(.*?)</h1>", result.text)
    print(f"\nbulk reprocess of 1,001 files: {took:.2f} s: {heading and heading.group(1)}")
    assert took < 15
    done = re.search(r"Reprocess: ([\d,]+) done(?:, ([\d,]+) queued)?, 0 skipped", result.text)
    assert done, result.text[:1000]
    delivered = int(done.group(1).replace(",", ""))
    queued = int((done.group(2) or "0").replace(",", ""))
    assert delivered + queued == 1001 and delivered > 0
    states = _states(thousand)
    assert sum(s == FileState.ARCHIVED for s in states.values()) == delivered
    assert sum(s == FileState.PENDING for s in states.values()) == queued
    thousand.run()  # the next poll takes the queued ones
    assert set(_states(thousand).values()) == {FileState.ARCHIVED}
    assert len(thousand.outputs("orders")) == 1001  # each delivered once


def test_all_matching_the_filter_wins_over_rows_ticked(ops: httpx.Client,
                                                      ops_project: ProjectDir) -> None:
    # the list's form sends the ticked rows and, when "all N matching" is ticked, the filter
    _more(ops_project, ["b.csv", "c.csv"])
    page = _post(ops, "/files/bulk", {"action": "discard", "ids": "1",
                                      "filter": "route=orders&state=quarantined"})
    assert "Discard: 3 file(s)?" in page.text
    assert 'name="filter" value="route=orders&amp;state=quarantined"' in page.text


# -- both ledger backends ------------------------------------------------------------------


def test_edit_bulk_discard_and_queueing_on_each_backend(backend_live: LiveConsole,
                                                       backend_project: ProjectDir) -> None:
    from tradelane import ops as engine_ops

    _more(backend_project, ["b.csv", "c.csv", "d.csv"])  # files 2-4, quarantined
    with backend_live.client() as client:
        log_in(client)
        page = client.get("/files/1/edit").text
        base = page.split('name="base" value="', 1)[1].split('"', 1)[0]
        response = client.post("/files/1/edit", data={
            "csrf_token": token_in(page), "base": base,
            "text": BAD_CSV.replace("<b>zwei</b>", "2")})
        assert response.status_code == 303
        result = _confirm(client, _post(client, "/files/bulk", {
            "action": "discard", "ids": "2,3", "reason": "resent"}))
        assert "Discard: 2 done, 0 skipped" in result.text
    with backend_project.ledger() as ledger:
        queued, refused = engine_ops.queue_reprocess(backend_project.load(), ledger, [4, 1])
    assert queued == [4] and "file 1 is not in quarantine (it is archived)" in str(refused[0])
    backend_project.route("orders", CSV_ROUTE.replace("type: integer, required: true, min: 1",
                                                      "required: true"))
    backend_project.run()  # the next poll takes the queued file
    states = _states(backend_project)
    assert states == {1: FileState.ARCHIVED, 2: FileState.DISCARDED, 3: FileState.DISCARDED,
                      4: FileState.ARCHIVED}
