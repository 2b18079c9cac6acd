"""Schema errors on the file detail page (issue 21), over real HTTP: the line an XSD error
names, and the line where the value a JSON Schema error's path names starts, are marked in
the preview, each with the rule (keyword, Schematron id) and message shown under it,
escaped."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import httpx
import pytest

from schemas.helpers import ubl_route, with_schemas
from schemas.invoices import invoice
from support.console import PASSWORD, LiveConsole, log_in
from support.project import ProjectDir

JSON_ROUTE = """\
    source: {{folder: inbox/{name}, min_age: 0s}}
    format: {{type: {kind}{records}}}
    validate: [{{json_schema: schemas/json/{schema}}}]
    fields: {{order: {{}}, sku: {{}}, qty: {{}}}}
    target: {{folder: outbox/{name}, format: json}}
"""
#: A JSON document whose records are under "lines" (a schema written for this test).
LINES_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "required": ["lines"],
    "properties": {"lines": {"type": "array",
                             "items": {"$ref": "order.schema.json"}}}}


def _json_route(project: ProjectDir, name: str, kind: str, schema: str) -> None:
    records = ", records: lines" if kind == "json" else ""
    project.route(name, JSON_ROUTE.format(name=name, kind=kind, records=records,
                                          schema=schema))


@pytest.fixture(scope="module")
def quarantined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProjectDir, dict]]:
    """One project, one file quarantined by each kind of schema error; file ids by route."""
    project = with_schemas(ProjectDir(tmp_path_factory.mktemp("schema") / "project"))
    project.settings("console: {user: ops, bind: 127.0.0.1}\n")
    ubl_route(project, "[{xsd: schemas/ubl/invoice.xsd}]")
    project.drop("inv", "bad.xml", invoice(3).replace('unitCode="C62">3<',
                                                        'unitCode="C62">three<'))
    ubl_route(project, "[{schematron: schemas/rules/totals.sch}]", name="sch")
    project.drop("sch", "sum.xml", invoice(4, total="99.00"))  # the lines sum to 35.00
    project.file("schemas/json/lines.schema.json", json.dumps(LINES_SCHEMA))
    _json_route(project, "doc", "json", "lines.schema.json")
    lines = [{"order": "PO-1", "sku": "4006381", "qty": 2},
             {"order": "PO-1", "sku": "4006382", "qty": 0},
             {"order": "<b>PO</b>", "sku": "4006383", "qty": 1}]
    project.drop("doc", "order.json", json.dumps({"lines": lines}, indent=2))
    _json_route(project, "jl", "jsonl", "order.schema.json")
    project.drop("jl", "orders.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    ids = {r.route: r.file_id for r in project.run().results}
    assert len(ids) == 4
    yield project, ids


@pytest.fixture(scope="module")
def ops(quarantined: tuple[ProjectDir, dict]) -> Iterator[httpx.Client]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
        env.delenv("TRADELANE_LEDGER_URL", raising=False)
        server = LiveConsole(quarantined[0].root)
        try:
            with server.client() as client:
                assert log_in(client).status_code == 303
                yield client
        finally:
            server.stop()


def _marks(page: str) -> dict[int, list[str]]:
    """Preview line -> the notes shown under it (unescaped)."""
    preview = page.split('<pre id="preview">', 1)[1].split("</pre>", 1)[0]
    found: dict[int, list[str]] = {}
    for number, notes in re.findall(r'<span id="L(\d+)" class="hit"[^>]*>.*?</span>[^<]*'
                                    r"</span>((?:<span class=\"why\">[^<]*</span>)*)",
                                    preview):
        found[int(number)] = [html.unescape(n) for n in
                              re.findall(r'<span class="why">([^<]*)</span>', notes)]
    return found


def _line_of(text: str, needle: str) -> int:
    [number] = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return number


def test_an_xsd_error_is_marked_at_its_line_with_its_rule(
        ops: httpx.Client, quarantined: tuple[ProjectDir, dict]) -> None:
    project, ids = quarantined
    page = ops.get(f"/files/{ids['inv']}").text
    [kept] = project.quarantined("inv")
    line = _line_of(kept.read_text(), ">three<")
    [note] = _marks(page)[line]
    assert note.startswith(f"line {line} (/*/cac:InvoiceLine[2]/cbc:InvoicedQuantity): xsd:")
    assert "'three' is not a valid value of the atomic type 'xs:decimal'" in note
    assert list(_marks(page)) == [line]


def test_a_schematron_rule_is_marked_at_its_context_with_its_id(
        ops: httpx.Client, quarantined: tuple[ProjectDir, dict]) -> None:
    project, ids = quarantined
    [kept] = project.quarantined("sch")
    line = _line_of(kept.read_text(), "<cac:LegalMonetaryTotal>")
    [note] = _marks(ops.get(f"/files/{ids['sch']}").text)[line]
    assert note.startswith(f"line {line} (/Invoice/LegalMonetaryTotal): schematron:BR-CO-10:"
                           " [BR-CO-10]-Sum of Invoice line net amount")


def test_json_schema_errors_in_a_document_are_marked_where_their_path_starts(
        ops: httpx.Client, quarantined: tuple[ProjectDir, dict]) -> None:
    project, ids = quarantined
    page = ops.get(f"/files/{ids['doc']}").text
    [kept] = project.quarantined("doc")
    text = kept.read_text()
    qty = _line_of(text, '"qty": 0')
    order = _line_of(text, "<b>PO</b>")
    marks = _marks(page)
    assert list(marks) == [qty, order]
    assert marks[qty] == ["$.lines[1].qty: json_schema:minimum: 0 is less than the minimum"
                          " of 1"]
    [note] = marks[order]
    assert note.startswith("$.lines[2].order: json_schema:pattern: '<b>PO</b>' does not match")
    assert "<b>PO</b>" not in page  # the partner's markup is escaped everywhere
    assert "2 marked" in page


def test_json_lines_errors_are_marked_at_their_line(
        ops: httpx.Client, quarantined: tuple[ProjectDir, dict]) -> None:
    _, ids = quarantined
    marks = _marks(ops.get(f"/files/{ids['jl']}").text)
    assert list(marks) == [2, 3]
    assert marks[2] == ["line 2 ($.qty): json_schema:minimum: 0 is less than the minimum of 1"]
    assert marks[3][0].startswith("line 3 ($.order): json_schema:pattern:")
