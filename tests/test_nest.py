"""Hierarchical output (a route's ``nest:`` block): flat records in, one document per key out.

Driven as a user drives it: a project folder, a partner file in the inbox, ``run --once``,
and the output file or the reason file read back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from support.project import CSV_ROUTE, REPO, ProjectDir, copy_partners
from tradelane.errors import ConfigError
from tradelane.models import Outcome

TRADELANE = Path(sys.executable).parent / "tradelane"

ROUTE = """\
    source: {{folder: inbox/orders, pattern: "*.csv", min_age: 1s}}
    format: {{type: csv, delimiter: ";", chunk_rows: {chunk}}}
    fields:
      order_number: {{source: Order, required: true}}
      buyer_gln:    {{source: Buyer}}
      order_date:   {{source: Date, type: date, format: "%Y-%m-%d"}}
      line_no:      {{source: Line, type: integer}}
      gtin:         {{source: GTIN}}
      quantity:     {{source: Qty, type: decimal}}
      sscc:         {{source: SSCC}}
    nest:
      by: order_number
      fields: [order_number, buyer_gln, order_date]
      children:
        lines:
          by: line_no
          fields: [line_no, gtin, quantity]
          children:
            packages: {{fields: [sscc]}}
    target: {{folder: outbox/orders, format: {fmt}, name: "{{stem}}.{{ext}}"{extra}}}
"""

# Order PO-1 has two lines; line 1 comes in two packages, line 2 in none. The records of a
# document need not be sorted inside it: line 1's second package comes after line 2.
ORDERS = (
    "Order;Buyer;Date;Line;GTIN;Qty;SSCC\n"
    "PO-1;4012345000009;2026-11-25;1;4006381333931;24.50;340123450000000017\n"
    "PO-1;4012345000009;2026-11-25;2;4006381333948;12;\n"
    "PO-1;4012345000009;2026-11-25;1;4006381333931;24.50;340123450000000024\n"
    "PO-2;5412345000013;2026-11-26;1;4006381333955;6;340123450000000031\n"
)


def nested_project(project: ProjectDir, fmt: str = "json", *, chunk: int = 200_000,
                   extra: str = "") -> ProjectDir:
    return project.route("orders", ROUTE.format(fmt=fmt, chunk=chunk, extra=extra))


def delivered(project: ProjectDir, content: str, name: str = "orders.csv") -> bytes:
    project.drop("orders", name, content)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    assert result.records == content.count("\n") - 1
    [output] = project.outputs("orders")
    return output.read_bytes()


def quarantined(project: ProjectDir, content: str) -> dict:
    project.drop("orders", "orders.csv", content)
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED, result.message
    assert project.outputs("orders") == []  # nothing of a rejected file is written
    [reason] = (project.root / "quarantine" / "orders").rglob("*.reason.json")
    return json.loads(reason.read_text())


GOLDEN_JSON = """\
[
{
  "order_number": "PO-1",
  "buyer_gln": "4012345000009",
  "order_date": "2026-11-25",
  "lines": [
    {
      "line_no": 1,
      "gtin": "4006381333931",
      "quantity": 24.5,
      "packages": [
        {
          "sscc": "340123450000000017"
        },
        {
          "sscc": "340123450000000024"
        }
      ]
    },
    {
      "line_no": 2,
      "gtin": "4006381333948",
      "quantity": 12,
      "packages": []
    }
  ]
},
{
  "order_number": "PO-2",
  "buyer_gln": "5412345000013",
  "order_date": "2026-11-26",
  "lines": [
    {
      "line_no": 1,
      "gtin": "4006381333955",
      "quantity": 6,
      "packages": [
        {
          "sscc": "340123450000000031"
        }
      ]
    }
  ]
}
]
"""


def test_json_writes_one_document_per_order_with_its_lines_and_packages(
        project: ProjectDir) -> None:
    nested_project(project, extra=", json_indent: 2")
    output = delivered(project, ORDERS).decode()

    assert output == GOLDEN_JSON
    orders = json.loads(output)
    assert [o["order_number"] for o in orders] == ["PO-1", "PO-2"]
    assert json.loads(output) == json.loads(GOLDEN_JSON)


def test_a_document_that_spans_batches_is_still_one_document(project: ProjectDir) -> None:
    """Batches of two records: PO-1's records arrive in two batches, its line 1 in both."""
    nested_project(project, chunk=2, extra=", json_indent: 2")
    assert delivered(project, ORDERS).decode() == GOLDEN_JSON


def test_json_lines_writes_one_compact_document_per_line(project: ProjectDir) -> None:
    nested_project(project, "jsonl")
    lines = delivered(project, ORDERS).decode().splitlines()

    assert lines[1] == ('{"order_number":"PO-2","buyer_gln":"5412345000013","order_date":'
                        '"2026-11-26","lines":[{"line_no":1,"gtin":"4006381333955",'
                        '"quantity":6,"packages":[{"sscc":"340123450000000031"}]}]}')
    assert [json.loads(line) for line in lines] == json.loads(GOLDEN_JSON)


GOLDEN_XML = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    "<orders><order><order_number>PO-1</order_number><buyer_gln>Smith &amp; Sons &lt;GmbH&gt;"
    "</buyer_gln><order_date>2026-11-25</order_date><lines>"
    "<line><line_no>1</line_no><gtin>4006381333931</gtin><quantity>24.5</quantity>"
    "<packages><package><sscc>340123450000000017</sscc></package>"
    "<package><sscc>340123450000000024</sscc></package></packages></line>"
    "<line><line_no>2</line_no><gtin>4006381333948</gtin><quantity>12.0</quantity>"
    "<packages/></line></lines></order>"
    "<order><order_number>PO-2</order_number><buyer_gln>5412345000013</buyer_gln>"
    "<order_date>2026-11-26</order_date><lines><line><line_no>1</line_no>"
    "<gtin>4006381333955</gtin><quantity>6.0</quantity><packages><package>"
    "<sscc>340123450000000031</sscc></package></packages></line></lines></order></orders>"
)


def test_xml_writes_one_element_per_document_with_escaped_text(project: ProjectDir) -> None:
    nested_project(project, "xml", extra=", xml: {root: orders, record: order}")
    partner = ORDERS.replace("PO-1;4012345000009", "PO-1;Smith & Sons <GmbH>")
    output = delivered(project, partner)

    assert output.decode() == GOLDEN_XML
    root = etree.fromstring(output)
    assert root.findtext("order/buyer_gln") == "Smith & Sons <GmbH>"
    assert [e.text for e in root.iterfind("order/lines/line/packages/package/sscc")] == [
        "340123450000000017", "340123450000000024", "340123450000000031"]


def test_a_document_field_that_changes_inside_a_document_quarantines_the_file(
        project: ProjectDir) -> None:
    nested_project(project)
    bad = ORDERS.replace("PO-1;4012345000009;2026-11-25;2", "PO-1;4099999999999;2026-11-25;2")
    reason = quarantined(project, bad)

    assert reason["stage"] == "transform"
    assert reason["error_count"] == 1
    [error] = reason["errors"]
    assert error["field"] == "buyer_gln"
    assert error["value"] == '"4099999999999"'
    assert error["rule"] == "nest.one_value"
    assert error["location"] == "row 2 (line 3)"
    assert "row 1 (line 2)" in error["message"]  # where the document's value came from
    assert "document-level field must have one value" in error["message"]


def test_a_line_whose_fields_disagree_is_located_too(project: ProjectDir) -> None:
    nested_project(project)
    bad = ORDERS.replace("PO-1;4012345000009;2026-11-25;1;4006381333931;24.50;3401234500000"
                         "00024", "PO-1;4012345000009;2026-11-25;1;4006381333999;24.50;34012"
                         "3450000000024")
    reason = quarantined(project, bad)

    [error] = reason["errors"]
    assert (error["field"], error["location"]) == ("gtin", "row 3 (line 4)")
    assert "lines entry (line_no 1)" in error["message"]


def test_records_of_one_document_scattered_through_the_file_are_refused(
        project: ProjectDir) -> None:
    nested_project(project)
    scattered = ORDERS + "PO-1;4012345000009;2026-11-25;3;4006381333962;1;\n"
    reason = quarantined(project, scattered)

    [error] = reason["errors"]
    assert error["location"] == "row 5 (line 6)"
    assert error["rule"] == "nest.together"
    assert "sort the file by order_number" in error["message"]


def test_edifact_messages_become_one_document_each(project: ProjectDir) -> None:
    """by: _message groups an EDIFACT interchange's records by their message."""
    spec = (REPO / "mappings" / "edifact_orders.yaml").read_text()
    copy_partners(project.root)
    spec = spec.replace("target:\n", "nest:\n  by: _message\n  fields: [order_id, order_date,"
                        " buyer_gln]\n  children:\n    lines: {fields: [line_no, gtin, qty,"
                        " price]}\ntarget:\n")
    project.route("edifact_orders", spec)
    project.drop("edifact_orders", "orders.edi",
                 (REPO / "tests" / "cases" / "edifact_orders" / "input.edi").read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    [output] = project.outputs("edifact_orders")

    documents = json.loads(output.read_text())
    assert [(d["order_id"], d["buyer_gln"], [line["gtin"] for line in d["lines"]])
            for d in documents] == [
        ("PO-77001", "5412345000013", ["4006381333931", "4006381333948"]),
        ("PO-77002", "5412345000020", ["4006381333955"])]


# -- check --------------------------------------------------------------------------------------


def problems(project: ProjectDir) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        project.load()
    return caught.value.problems


def test_check_refuses_nesting_into_csv_in_words_an_operator_understands(
        project: ProjectDir) -> None:
    nested_project(project, "csv")
    done = subprocess.run([str(TRADELANE), "check"], cwd=project.root, capture_output=True,
                          text=True, timeout=60)

    assert done.returncode == 2
    assert ("mappings/orders.yaml: nest: csv output is flat rows and cannot carry documents"
            " with lists inside them; write json, jsonl or xml, or remove the nest block"
            ) in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_check_refuses_unknown_and_twice_used_fields(project: ProjectDir) -> None:
    spec = ROUTE.format(fmt="json", chunk=10, extra="")
    spec = spec.replace("fields: [line_no, gtin, quantity]",
                        "fields: [line_no, gtin, qty, buyer_gln]")
    project.route("orders", spec)
    found = problems(project)

    assert any(p.endswith("nest.children.lines.fields.2: 'qty' is not an output field (known:"
                          " buyer_gln, gtin, line_no, order_date, order_number, quantity,"
                          " sscc)") for p in found), found
    assert any(p.endswith("nest.children.lines.fields.3: 'buyer_gln' is already used at nest;"
                          " a field belongs to one level of the document") for p in found), found
    assert any("the output field(s) quantity have no place in the documents" in p
               for p in found), found


def test_check_refuses_an_edi_key_on_csv_input_and_a_field_left_out(
        project: ProjectDir) -> None:
    spec = ROUTE.format(fmt="xml", chunk=10, extra="").replace("by: order_number",
                                                                "by: _message")
    spec = spec.replace("packages: {fields: [sscc]}", "packages: {by: _file, fields: []}")
    project.route("orders", spec)
    found = problems(project)

    assert any(p.endswith("nest.by: _message needs EDIFACT or X12 input; this route reads csv:"
                          " group by one of its fields instead") for p in found), found
    assert any("nest.children.lines.children.packages.by: _file is the whole file, not a"
               " field" in p for p in found), found
    assert any("the output field(s) sscc have no place" in p for p in found), found


def test_check_accepts_the_route(project: ProjectDir) -> None:
    nested_project(project, "xml")
    route = project.load().route("orders")
    assert route.nest is not None and route.nest.children["lines"].by == "line_no"


# -- a file per document ------------------------------------------------------------------------


def test_per_document_writes_a_file_per_order_named_by_its_fields(project: ProjectDir) -> None:
    nested_project(project, extra=', json_indent: 2')
    spec = (project.root / "mappings" / "orders.yaml").read_text()
    project.route("orders", spec.replace("nest:\n", "nest:\n  per_document:"
                                          " '{stem}-{order_number}.{ext}'\n"))
    delivered_docs = json.loads(GOLDEN_JSON)
    project.drop("orders", "orders.csv", ORDERS.replace("PO-2", "../PO-2"))
    [result] = project.run().results

    assert result.outcome == Outcome.DELIVERED, result.message
    files = project.outputs("orders")
    assert [f.name for f in files] == ["orders-.._PO-2.json", "orders-PO-1.json"]
    assert json.loads(files[1].read_text()) == delivered_docs[0]
    assert files[1].read_text().startswith('{\n  "order_number": "PO-1",\n  "buyer_gln"')
    assert json.loads(files[0].read_text())["order_number"] == "../PO-2"
    assert not list((project.root / "outbox").glob("PO-2*"))  # never a path from a value


def test_per_document_xml_files_have_the_document_as_their_root(project: ProjectDir) -> None:
    nested_project(project, "xml", extra=", xml: {record: order}")
    spec = (project.root / "mappings" / "orders.yaml").read_text()
    project.route("orders", spec.replace("nest:\n", "nest:\n  per_document: 'order-{n}.xml'\n"))
    project.drop("orders", "orders.csv", ORDERS)
    [result] = project.run().results

    assert result.outcome == Outcome.DELIVERED, result.message
    first, second = project.outputs("orders")
    assert first.name == "order-1.xml"
    root = etree.fromstring(first.read_bytes())
    assert root.tag == "order" and root.findtext("order_number") == "PO-1"
    assert etree.fromstring(second.read_bytes()).findtext("lines/line/gtin") == "4006381333955"


def test_per_document_writes_nothing_when_a_later_document_is_wrong(
        project: ProjectDir) -> None:
    nested_project(project)
    spec = (project.root / "mappings" / "orders.yaml").read_text()
    project.route("orders", spec.replace("nest:\n", "nest:\n  per_document: '{order_number}"
                                                    ".json'\n"))
    bad = ORDERS + "PO-2;4099999999999;2026-11-26;2;4006381333962;1;\n"
    reason = quarantined(project, bad)

    assert reason["errors"][0]["location"] == "row 5 (line 6)"
    assert list((project.root / "outbox" / "orders").iterdir()) == []  # no temp files either


def test_per_document_names_that_collide_quarantine_the_file(project: ProjectDir) -> None:
    nested_project(project)
    spec = (project.root / "mappings" / "orders.yaml").read_text()
    project.route("orders", spec.replace("nest:\n", "nest:\n  per_document: '{stem}.json'\n"))
    reason = quarantined(project, ORDERS)

    [error] = reason["errors"]
    assert error["rule"] == "nest.per_document"
    assert error["location"] == "row 4 (line 5)"
    assert "documents 1 and 2 would both be written as orders.json" in error["message"]
    assert list((project.root / "outbox" / "orders").iterdir()) == []


def test_check_refuses_a_per_document_name_with_an_unknown_field(project: ProjectDir) -> None:
    nested_project(project, "jsonl")
    spec = (project.root / "mappings" / "orders.yaml").read_text()
    project.route("orders", spec.replace("nest:\n", "nest:\n  per_document: '{gtin}.json'\n"))
    found = problems(project)

    assert any(p.endswith("nest.per_document: a file per document is written as json or xml,"
                          " not jsonl") for p in found), found
    assert any("nest.per_document: unknown placeholder(s) gtin; use the document's fields"
               " (order_number, buyer_gln, order_date)" in p for p in found), found


def test_validate_finds_what_run_would_refuse(project: ProjectDir) -> None:
    """The dry run groups the records as the writer does: same location, same rule."""
    nested_project(project)
    bad = ORDERS.replace("PO-1;4012345000009;2026-11-25;2", "PO-1;4099999999999;2026-11-25;2")
    path = project.file("orders.csv", bad)
    done = subprocess.run([str(TRADELANE), "validate", str(path), "--route", "orders", "--json",
                           "-C", str(project.root)], capture_output=True, text=True, timeout=60)

    assert done.returncode == 3, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert [(e["location"], e["rule"]) for e in report["errors"]] == [
        ("row 2 (line 3)", "nest.one_value")]
    reason = quarantined(project, bad)
    assert [(e["location"], e["rule"]) for e in reason["errors"]] == [
        ("row 2 (line 3)", "nest.one_value")]


def test_check_refuses_split_when_documents_could_lose_records(project: ProjectDir) -> None:
    nested_project(project)
    spec = (project.root / "mappings" / "orders.yaml").read_text()
    project.route("orders", spec.replace("nest:\n", "on_invalid: split\nnest:\n"))
    found = problems(project)

    assert any(p.endswith("on_invalid: 'split' would deliver a document without its invalid"
                          " records (an order, say, without some of its lines); use 'reject',"
                          " or nest by _message, whose messages are split out whole")
               for p in found), found


def test_x12_transaction_sets_become_xml_documents(project: ProjectDir) -> None:
    """Any input: an X12 850 read by the demo mapping, one <order> per transaction set."""
    spec = (REPO / "mappings" / "x12_850.yaml").read_text()
    spec = spec.replace("  format: csv\n  name: \"{stem}.csv\"",
                        "  format: xml\n  name: \"{stem}.xml\"\n  xml: {root: orders}")
    spec = spec.replace("target:\n", "nest:\n  by: _message\n  element: order\n  fields:"
                        " [po_number, po_date, ship_to]\n  children:\n    lines: {by: line_no,"
                        " fields: [line_no, vendor_sku, qty, unit, unit_price]}\ntarget:\n")
    project.route("x12_850", spec)
    project.drop("x12_850", "po.x12",
                 (REPO / "tests" / "cases" / "x12_850" / "input.x12").read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    [output] = project.outputs("x12_850")

    [order] = etree.fromstring(output.read_bytes())
    assert order.tag == "order" and order.findtext("po_number") == "4500012345"
    assert [line.findtext("vendor_sku") for line in order.iterfind("lines/line")] == [
        "NW-1001", "NW-2040", "NW-0007"]


def test_a_document_is_handed_on_before_the_rest_of_the_file_is_read() -> None:
    """Memory holds one document: PO-1 is finished when PO-2's first record comes, before
    the third batch is even read."""
    import pyarrow as pa

    from tradelane.models import Document
    from tradelane.nest import Nester
    from tradelane.spec.nest import NestSpec

    pulled: list[int] = []

    def batches():
        start = 0
        for orders in (["PO-1", "PO-1"], ["PO-1", "PO-2"], ["PO-3"]):
            pulled.append(start)
            yield Document(header={}, records=pa.table({"order": orders}),
                           numbers=np.arange(start, start + len(orders)))
            start += len(orders)

    spec = NestSpec(by="order", fields=["order"])
    documents = Nester(spec, lambda doc: doc.records.to_pydict()).documents(batches())

    first = next(documents)
    assert (first.root.values, first.records, len(pulled)) == ({"order": "PO-1"}, [0, 1, 2], 2)
    assert [d.root.values["order"] for d in documents] == ["PO-2", "PO-3"]


def per_document_project(project: ProjectDir) -> ProjectDir:
    nested_project(project)
    spec = (project.root / "mappings" / "orders.yaml").read_text()
    return project.route("orders", spec.replace("nest:\n", "nest:\n  per_document:"
                                                           " '{order_number}.json'\n"))


def test_per_document_finishes_what_a_crashed_run_left(project: ProjectDir) -> None:
    """A run killed between two renames left PO-1.json and PO-2's temp file: the retry
    writes the same bytes under the same names and leaves no temp file behind."""
    per_document_project(project)
    project.drop("orders", "orders.csv", ORDERS)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    folder = project.root / "outbox" / "orders"
    written = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert sorted(written) == ["PO-1.json", "PO-2.json"]

    # the state of a crash, in a fresh project: one file renamed, the other still a temp
    again = ProjectDir(project.root.parent / "again")
    per_document_project(again)
    out = again.root / "outbox" / "orders"
    out.mkdir(parents=True)
    (out / "PO-1.json").write_bytes(written["PO-1.json"])
    (out / ".PO-2.json.1.2.tradelane.tmp").write_bytes(written["PO-2.json"][:10])
    again.drop("orders", "orders.csv", ORDERS)
    [result] = again.run().results

    assert result.outcome == Outcome.DELIVERED, result.message
    assert {p.name: p.read_bytes() for p in out.iterdir()} == written


def test_per_document_never_replaces_a_file_with_other_content(project: ProjectDir) -> None:
    """PO-2.json from an earlier order file is still there: the file waits (pending), and
    none of its documents is written meanwhile."""
    per_document_project(project)
    out = project.root / "outbox" / "orders"
    out.mkdir(parents=True)
    (out / "PO-2.json").write_text('{"order_number": "PO-2", "from": "yesterday"}\n')
    project.drop("orders", "orders.csv", ORDERS)
    [result] = project.run().results

    assert result.outcome == Outcome.PENDING
    assert "PO-2.json already exists with different content" in result.message
    assert sorted(p.name for p in out.iterdir()) == ["PO-2.json"]


def test_check_refuses_http_choices_that_do_not_fit_documents(project: ProjectDir) -> None:
    spec = ROUTE.format(fmt="json", chunk=10, extra="")
    http = "target: {http: {url: 'http://127.0.0.1:9/orders', per_record: true}}"
    project.route("orders", spec.split("    target:")[0] + "    " + http + "\n")
    project.route("flat", CSV_ROUTE.replace("target: {folder: outbox/orders, format: json,"
                                            " name: \"{stem}.json\"}",
                                            "target: {http: {url: 'http://127.0.0.1:9/o',"
                                            " per_document: true}}"))
    found = problems(project)

    assert any(p.endswith("target.http.per_record: with a nest block the API gets documents,"
                          " not records: use per_document (one document per request) or"
                          " batch (documents per request)") for p in found), found
    assert any(p.startswith("mappings/flat.yaml") and p.endswith(
        "target.http.per_document: sends one nested document per request, but the route has"
        " no nest block") for p in found), found
