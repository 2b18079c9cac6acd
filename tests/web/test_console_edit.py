"""Edit and resubmit, over real HTTP and from the CLI: the original stays in quarantine, the
change is in the history as a diff, and the edited bytes are what is delivered."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from typer.testing import CliRunner

from support.console import BAD_CSV, token_in
from support.project import ProjectDir
from tradelane.cli import app as cli
from tradelane.models import FileState


def _record(project: ProjectDir, file_id: int = 1):
    with project.ledger() as ledger:
        return ledger.get(file_id), ledger.events(file_id)


def _edit_form(client: httpx.Client, file_id: int = 1) -> tuple[str, str, str]:
    page = client.get(f"/files/{file_id}/edit")
    assert page.status_code == 200, page.text[:500]
    base = page.text.split('name="base" value="', 1)[1].split('"', 1)[0]
    text = page.text.split('id="text"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    return token_in(page.text), base, text


def test_edit_keeps_the_original_records_the_diff_and_delivers_the_edit(
        ops: httpx.Client, ops_project: ProjectDir) -> None:
    [original] = ops_project.quarantined("orders")
    before = original.read_bytes()
    token, base, shown = _edit_form(ops)
    assert "PO-2;&lt;b&gt;zwei&lt;/b&gt;;100;;closed" in shown  # escaped in the textarea
    # a browser sends the textarea back with CRLF line ends
    fixed = BAD_CSV.replace("<b>zwei</b>", "2").replace("\n", "\r\n")
    response = ops.post("/files/1/edit", data={"csrf_token": token, "base": base,
                                               "text": fixed})
    assert response.status_code == 303 and response.headers["location"] == "/files/1"
    page = ops.get("/files/1").text
    assert "Your edit was delivered" in page

    record, events = _record(ops_project)
    assert record.state == FileState.ARCHIVED and record.attempt == 2
    # the original, untouched, went to the archive with the edit that was delivered
    assert not original.exists()
    archived = Path(record.path or "").with_name(original.name)
    assert archived.read_bytes() == before
    assert list((ops_project.root / "quarantine").rglob("1-orders_0412*")) == []
    [output] = ops_project.outputs("orders")
    rows = json.loads(output.read_text())
    assert [r["qty"] for r in (rows if isinstance(rows, list) else rows["records"])] == [5, 2]
    edit = next(e for e in events if e.detail and e.detail.startswith("edited"))
    assert edit.actor == "console:ops"
    assert "-PO-2;<b>zwei</b>;100;;closed\n+PO-2;2;100;;closed" in edit.detail
    assert str(original) in edit.detail
    # the delivered bytes are the edit, with the file's own LF line ends
    expected = BAD_CSV.replace("<b>zwei</b>", "2").encode()
    assert record.sha256 == hashlib.sha256(expected).hexdigest()
    assert Path(record.path or "").read_bytes() == expected  # the edit, archived


def test_an_edit_that_is_still_wrong_stays_in_quarantine_with_its_own_reason(
        ops: httpx.Client, ops_project: ProjectDir) -> None:
    token, base, _ = _edit_form(ops)
    still_bad = BAD_CSV.replace("<b>zwei</b>", "zero")
    response = ops.post("/files/1/edit", data={"csrf_token": token, "base": base,
                                               "text": still_bad})
    assert response.status_code == 303
    record, _ = _record(ops_project)
    assert record.state == FileState.QUARANTINED and record.attempt == 2
    assert record.path and record.path.endswith(".edit-" + record.sha256[:12])  # type: ignore[index]
    assert Path(record.path).read_text() == still_bad
    page = ops.get("/files/1").text
    assert "still in quarantine" in page
    assert "zero" in page and "(your edit; the original is kept next to it)" in page
    # the original can still be downloaded as it came in
    original = ops.get("/files/1/original")
    assert original.content == BAD_CSV.encode()


def test_an_edit_from_a_stale_page_is_refused_and_the_text_comes_back(
        ops: httpx.Client, ops_project: ProjectDir) -> None:
    token, base, _ = _edit_form(ops)
    [original] = ops_project.quarantined("orders")
    original.write_text(BAD_CSV + "PO-3;1;1;;open\n")  # changed on disk meanwhile
    response = ops.post("/files/1/edit", data={"csrf_token": token, "base": base,
                                               "text": "my careful fix"})
    assert response.status_code == 409
    assert "changed since it was opened" in response.text
    assert "my careful fix" in response.text
    record, _ = _record(ops_project)
    assert record.state == FileState.QUARANTINED and record.attempt == 1


def test_an_unchanged_edit_is_refused(ops: httpx.Client, ops_project: ProjectDir) -> None:
    token, base, _ = _edit_form(ops)
    response = ops.post("/files/1/edit", data={"csrf_token": token, "base": base,
                                               "text": BAD_CSV})
    assert response.status_code == 409 and "nothing was changed" in response.text
    assert _record(ops_project)[0].attempt == 1


@pytest.mark.parametrize(("content", "why"), [
    (b"Order;Qty\x00\x01;Price\n", "binary file"),
    (b"Order;Qty;Price\nPO-1;\xff\xfe;1\n", "encoding, utf-8 (byte 21)"),
])
def test_binary_or_undecodable_files_explain_why_not(ops: httpx.Client,
                                                     ops_project: ProjectDir, content: bytes,
                                                     why: str) -> None:
    [original] = ops_project.quarantined("orders")
    original.write_bytes(content)
    page = ops.get("/files/1")
    assert 'id="edit-refused"' in page.text and why in page.text
    assert 'href="/files/1/edit"' not in page.text
    assert ops.get("/files/1/edit").status_code == 409


def test_a_file_over_the_limit_cannot_be_edited(ops: httpx.Client,
                                                ops_project: ProjectDir) -> None:
    ops_project.settings("console: {user: ops, bind: 127.0.0.1, edit_max_size: 40}\n")
    page = ops.get("/files/1").text
    assert "more than the 40 that can be edited here (console.edit_max_size)" in page


def test_a_large_edit_passes_the_body_limit(ops: httpx.Client, ops_project: ProjectDir) -> None:
    # 0.9 MB of rows (over 1 MB URL-encoded): far over the 64 kB of the other forms
    token, base, _ = _edit_form(ops)
    rows = "".join(f"PO-{i};{i % 9 + 1};1,50;;open\n" for i in range(40_000))
    text = "Order;Qty;Price;ShipDate;Status\n" + rows
    assert len(urlencode({"text": text})) > 1 << 20
    response = ops.post("/files/1/edit", data={"csrf_token": token, "base": base,
                                               "text": text})
    assert response.status_code == 303, response.text[:300]
    assert _record(ops_project)[0].state == FileState.ARCHIVED
    # and other forms keep their small limit
    response = ops.post("/files/1/discard", data={"csrf_token": token, "reason": "x" * 70_000})
    assert response.status_code == 413


def test_cli_edit_from_a_file(ops_project: ProjectDir, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(BAD_CSV.replace("<b>zwei</b>", "2"))
    result = CliRunner().invoke(cli, ["quarantine", "edit", "1", "--from", str(fixed),
                                      "-C", str(ops_project.root)])
    assert result.exit_code == 0, result.output
    assert "+PO-2;2;100;;closed" in result.output
    record, events = _record(ops_project)
    assert record.state == FileState.ARCHIVED
    assert any(e.detail and e.detail.startswith("edited") for e in events)
    assert ops_project.quarantined("orders") == []
    archived = Path(record.path or "")
    assert archived.with_name("1-orders_0412.csv").read_text() == BAD_CSV  # kept as it came


def test_cli_edit_opens_the_editor(ops_project: ProjectDir, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "fix.sh"  # an "editor" that fixes the bad value in place
    script.write_text("#!/bin/sh\nsed -i 's/<b>zwei<\\/b>/2/' \"$1\"\n")
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.delenv("VISUAL", raising=False)
    result = CliRunner().invoke(cli, ["quarantine", "edit", "1", "-C", str(ops_project.root)])
    assert result.exit_code == 0, result.output
    assert _record(ops_project)[0].state == FileState.ARCHIVED


def test_cli_edit_refuses_a_binary_file(ops_project: ProjectDir) -> None:
    [original] = ops_project.quarantined("orders")
    original.write_bytes(b"\x00\x01\x02")
    result = CliRunner().invoke(cli, ["quarantine", "edit", "1", "--from", str(original),
                                      "-C", str(ops_project.root)])
    assert result.exit_code == 6
    assert "cannot be edited: it is a binary file" in result.output


def test_discarding_an_edited_file_takes_the_original_along(ops: httpx.Client,
                                                           ops_project: ProjectDir) -> None:
    token, base, _ = _edit_form(ops)
    ops.post("/files/1/edit", data={"csrf_token": token, "base": base,
                                    "text": BAD_CSV.replace("<b>zwei</b>", "zero")})
    assert _record(ops_project)[0].state == FileState.QUARANTINED
    response = ops.post("/files/1/discard", data={"csrf_token": token, "reason": "resent"})
    assert response.status_code == 303
    kept = ops_project.root / "archive" / "orders" / "discarded"
    names = sorted(p.name for p in kept.iterdir())
    assert names[0] == "1-orders_0412.csv" and len(names) == 4  # both, with their reasons
    assert (kept / "1-orders_0412.csv").read_text() == BAD_CSV
    assert list((ops_project.root / "quarantine").rglob("1-orders_0412*")) == []
