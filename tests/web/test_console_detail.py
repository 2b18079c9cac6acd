"""The file detail page over real HTTP: the failing line or segment marked in the preview,
the wording of each state, what a file led to, and the downloads."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator

import httpx
import pytest

from support.console import BAD_CSV, GOOD_CSV, PASSWORD, LiveConsole, log_in
from support.project import CSV_ROUTE, REPO, ProjectDir, copy_partners
from tradelane.models import FileState

BAD_COUNT = REPO / "examples" / "edifact_orders" / "ORDERS_20261126_bad_count.edi"


def _marked(page: str) -> dict[int, str]:
    """Preview line number -> its tooltip, for the lines marked as failing."""
    return {int(n): title for n, title in re.findall(
        r'<span id="L(\d+)" class="hit" title="([^"]*)"', page)}


def test_the_failing_row_is_marked_in_the_preview(ops: httpx.Client) -> None:
    page = ops.get("/files/1").text
    assert _marked(page) == {3: "row 2 (line 3): qty: " + _message(page)}
    assert '<span id="L2" class="line">' in page  # a good row is not marked
    assert "1 marked" in page
    assert "1 problem(s) in all" in page
    assert "the first" not in page  # every problem is listed


def _message(page: str) -> str:
    row = page.split('<table id="errors">', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<td>([^<]*)</td>", row)[-1]


def test_edi_errors_mark_their_segment(project: ProjectDir, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.delenv("TRADELANE_LEDGER_URL", raising=False)
    project.settings("console: {user: ops}\n")
    shutil.copy(REPO / "mappings" / "edifact_orders.yaml", project.root / "mappings")
    copy_partners(project.root)
    project.drop("edifact_orders", "ORDERS_bad.edi", BAD_COUNT.read_bytes())
    [result] = project.run().results
    assert result.outcome == "quarantined"
    server = LiveConsole(project.root)
    try:
        with server.client() as client:
            log_in(client)
            page = client.get(f"/files/{result.file_id}").text
    finally:
        server.stop()
    marked = _marked(page)
    assert list(marked) == [10]  # "segment 10 (byte 216)": the UNT, tenth in the file
    line = page.split('<span id="L10" class="hit"', 1)[1].split("</span>", 2)
    assert "UNT+9+1" in "".join(line[:2])
    assert "segment 10 (byte 216)" in marked[10]


def test_a_duplicate_names_the_first_delivery_and_has_nothing_to_fix(
        ops: httpx.Client, ops_project: ProjectDir) -> None:
    ops_project.drop("orders", "first.csv", GOOD_CSV)
    ops_project.run()
    ops_project.drop("orders", "again.csv", GOOD_CSV)
    [again] = ops_project.run().results
    assert again.outcome == "duplicate"
    page = ops.get(f"/files/{again.file_id}").text
    assert re.search(r'already delivered as <a href="/files/2">#2</a> \(first.csv\) on'
                     r" \d{4}-\d\d-\d\d \d\d:\d\d UTC, with the same content: nothing to fix",
                     page)
    assert "problem(s) in all" not in page and "Fix the file" not in page
    assert "deliver even if duplicate" in page
    assert 'href="/files/' + str(again.file_id) + '/edit"' not in page


def test_split_out_records_name_their_parent_and_the_parent_its_child(
        ops: httpx.Client, ops_project: ProjectDir) -> None:
    ops_project.route("split", CSV_ROUTE.replace("orders", "split")
                      + "    on_invalid: split\n")
    ops_project.drop("split", "mixed.csv", BAD_CSV)
    [parent] = ops_project.run(["split"]).results
    assert parent.outcome == "delivered"
    with ops_project.ledger() as ledger:
        [child] = [r for r in ledger.files() if r.parent_id == parent.file_id]
    page = ops.get(f"/files/{parent.file_id}").text
    assert f'split out into <a href="/files/{child.id}">#{child.id}</a>' in page
    page = ops.get(f"/files/{child.id}").text
    assert (f'split out of <a href="/files/{parent.file_id}">#{parent.file_id}</a>'
            " (mixed.csv), which was delivered without them") in page
    assert _marked(page)  # its failing row is marked in the rejects file itself


def test_lost_and_queued_files_say_what_to_do(ops: httpx.Client,
                                             ops_project: ProjectDir) -> None:
    [copy] = ops_project.quarantined("orders")
    copy.unlink()  # deleted by hand
    with ops_project.ledger() as ledger:
        from tradelane.runner import Runner

        with Runner(ops_project.load(), ledger) as runner:
            assert runner.reprocess(1).outcome == "lost"
    page = ops.get("/files/1").text
    assert "The kept copy of this file is gone" in page
    assert "Ask the partner to send it again" in page
    assert 'id="reprocess"' in page and 'id="discard"' in page
    assert 'id="download-original"' not in page


def test_downloads_of_the_original_and_the_reason(ops: httpx.Client,
                                                 ops_project: ProjectDir) -> None:
    page = ops.get("/files/1").text
    assert 'href="/files/1/original"' in page and 'href="/files/1/reason"' in page
    original = ops.get("/files/1/original")
    assert original.status_code == 200 and original.content == BAD_CSV.encode()
    assert original.headers["content-disposition"] == (
        "attachment; filename=\"orders_0412.csv\"; filename*=UTF-8''orders_0412.csv")
    assert original.headers["content-type"] == "application/octet-stream"
    reason = ops.get("/files/1/reason")
    assert reason.headers["content-disposition"].startswith(
        'attachment; filename="1-orders_0412.csv.reason.json"')
    assert json.loads(reason.content)["errors"][0]["location"] == "row 2 (line 3)"
    assert ops.get("/files/999/original").status_code == 404


def test_a_delivered_file_lists_its_outputs_and_keeps_its_original(
        ops: httpx.Client, ops_project: ProjectDir) -> None:
    [copy] = ops_project.quarantined("orders")
    copy.write_text(GOOD_CSV)
    with ops_project.ledger() as ledger:
        from tradelane.runner import Runner

        with Runner(ops_project.load(), ledger) as runner:
            assert runner.reprocess(1).outcome == "delivered"
    page = ops.get("/files/1").text
    assert "Delivered to 1 place(s)" in page
    assert re.search(r"<li>Output: <code>file://[^<]*orders_0412.json</code></li>", page)
    assert ops.get("/files/1/original").content == GOOD_CSV.encode()  # from the archive
    assert 'id="actions"' not in page  # nothing to do to a delivered file
    with ops_project.ledger() as ledger:
        assert ledger.get(1).state == FileState.ARCHIVED


@pytest.fixture
def viewer_client(ops_project: ProjectDir, live: LiveConsole) -> Iterator[httpx.Client]:
    from typer.testing import CliRunner

    from tradelane.cli import app as cli

    result = CliRunner().invoke(cli, ["user", "add", "vic", "--role", "viewer",
                                      "--password-stdin", "-C", str(ops_project.root)],
                                input="vic only looks around\n")
    assert result.exit_code == 0, result.output
    with live.client() as client:
        assert log_in(client, "vic only looks around", "vic").status_code == 303
        yield client


def test_a_viewer_may_download(viewer_client: httpx.Client) -> None:
    assert viewer_client.get("/files/1/original").content == BAD_CSV.encode()
    assert 'id="edit-refused"' not in viewer_client.get("/files/1").text


def test_an_edifact_file_lists_the_contrl_it_sent(project: ProjectDir,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.delenv("TRADELANE_LEDGER_URL", raising=False)
    project.settings("console: {user: ops}\n")
    shutil.copy(REPO / "mappings" / "edifact_orders.yaml", project.root / "mappings")
    copy_partners(project.root)
    [source] = (REPO / "tests" / "cases" / "edifact_orders").glob("input.*")
    project.drop("edifact_orders", "ORDERS_ok.edi", source.read_bytes())
    [result] = project.run().results
    assert result.outcome == "delivered"
    [ack] = (project.root / "outbox" / "acks").iterdir()
    server = LiveConsole(project.root)
    try:
        with server.client() as client:
            log_in(client)
            page = client.get(f"/files/{result.file_id}").text
    finally:
        server.stop()
    assert f"<li>Acknowledgement sent: <code>{ack}</code></li>" in page


def test_an_edifact_output_lists_its_interchange_and_ack_state(
        project: ProjectDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.delenv("TRADELANE_LEDGER_URL", raising=False)
    project.settings("console: {user: ops}\n")
    shutil.copy(REPO / "mappings" / "invoic_out.yaml", project.root / "mappings")
    copy_partners(project.root)
    source = REPO / "tests" / "cases" / "invoic_out" / "input.csv"
    project.drop("invoic_out", "INVOICES_0412.csv", source.read_bytes())
    [result] = project.run().results
    assert result.outcome == "delivered"
    server = LiveConsole(project.root)
    try:
        with server.client() as client:
            log_in(client)
            page = client.get(f"/files/{result.file_id}").text
    finally:
        server.stop()
    sent = re.search(r"<li>Sent as EDIFACT interchange (\S+) to 5412345000013:14 \((\d+)"
                     r" message\(s\)\) in <code>[^<]*INVOICES_0412.edi</code>:"
                     r" acknowledgement (\w+)", page)
    assert sent, page[page.find("What it led to"):][:800]
    with project.ledger() as ledger:
        from tradelane.ledger.interchanges import Tracking

        [row] = Tracking(ledger).sent()
    assert sent.groups() == (row.control_ref, str(row.messages), row.ack_state)


def test_a_queued_file_says_it_waits_for_the_next_poll(ops: httpx.Client,
                                                      ops_project: ProjectDir) -> None:
    from tradelane import ops as engine_ops

    with ops_project.ledger() as ledger:
        assert engine_ops.queue_reprocess(ops_project.load(), ledger, [1]) == ([1], [])
    page = ops.get("/files/1").text
    assert "Queued for reprocessing: <code>tradelane serve</code> takes it at its next poll" \
        in page
    assert "A temporary problem" not in page
    assert 'id="reprocess">Retry now</button>' in page
    assert _marked(page)  # the failing row is still shown
