"""Route options a user relies on: readiness rules, transforms, hooks, output formats."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from lxml import etree

from support.project import GOOD_CSV, REPO, ProjectDir
from tradelane.errors import ConfigError
from tradelane.models import Outcome
from tradelane.runner import Runner

ROUTE = """\
    source: {{folder: inbox/orders, pattern: "*.csv", min_age: {min_age}{extra_source}}}
    format: {{type: csv, delimiter: ";", decimal: ","}}
    fields:
      order_id: {{source: Order, required: true}}
      qty:      {{source: Qty, type: integer, required: true}}
      price:    {{source: Price, type: decimal}}
      ship_on:  {{source: ShipDate, type: date, format: "%d.%m.%Y"}}
      status:   {{source: Status, default: open}}
    {extra}
    target: {{folder: outbox/orders, format: {fmt}, name: "{{stem}}.{{ext}}"}}
"""


def route(project: ProjectDir, *, fmt: str = "json", extra: str = "", min_age: str = "0s",
          extra_source: str = "") -> ProjectDir:
    text = ROUTE.format(fmt=fmt, extra=textwrap.indent(textwrap.dedent(extra), "    ").strip(),
                        min_age=min_age, extra_source=extra_source)
    return project.route("orders", text)


def test_done_marker_holds_the_file_until_the_marker_exists(project: ProjectDir) -> None:
    route(project, extra_source=', done_marker: "{stem}.ok"')
    project.drop("orders", "day1.csv", GOOD_CSV)
    assert project.run().results == []
    project.drop("orders", "day1.ok", "")
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED
    assert project.inbox("orders") == []  # the marker goes with the file


def test_stable_route_takes_a_still_file_in_one_run(project: ProjectDir) -> None:
    route(project, min_age="0.3s", extra_source=", stable: true")
    project.drop("orders", "day1.csv", GOOD_CSV)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED


def test_stable_route_waits_for_a_growing_file(project: ProjectDir) -> None:
    route(project, min_age="0.5s", extra_source=", stable: true")
    path = project.drop("orders", "growing.csv", GOOD_CSV)

    def keep_writing() -> None:
        for _ in range(8):
            time.sleep(0.1)
            with open(path, "a") as fh:
                fh.write("PO-9;1;1;;open\n")
            then = time.time() - 120  # an uploader that keeps old mtimes: size still moves
            os.utime(path, (then, then))

    writer = threading.Thread(target=keep_writing)
    writer.start()
    results = project.run().results
    writer.join()
    assert results == []
    [result] = project.run().results  # quiet now: two listings agree
    assert result.outcome == Outcome.DELIVERED
    assert len(json.loads(project.outputs("orders")[0].read_text())) == 10


def test_default_fills_empty_values(project: ProjectDir) -> None:
    route(project)
    project.drop("orders", "d.csv", "Order;Qty;Price;ShipDate;Status\nPO-1;1;;;\n")
    project.run()
    assert json.loads(project.outputs("orders")[0].read_text())[0]["status"] == "open"


def test_hook_lookup_template_and_output_order(project: ProjectDir) -> None:
    project.file("mappings/hooks_for_orders.py", textwrap.dedent("""\
        def priority(records, header):
            records["priority"] = (records["qty"] > 3).map({True: "high", False: "low"})
            return records
    """))
    project.file("mappings/statuses.csv", "code,label\nopen,Offen\nclosed,Geschlossen\n")
    route(project, fmt="csv", extra="""\
        transform:
          lookups: [{field: label, key: status, table: statuses.csv, key_column: code,
                     value_column: label}]
          derive: {ref: {template: "{order_id}/{status}"}}
          hook: hooks_for_orders:priority
          rename: {order_id: id}
          output: [id, ref, label, priority, qty]
    """)
    project.drop("orders", "h.csv", "Order;Qty;Price;ShipDate;Status\nPO-1;5;1;;closed\n"
                                     "PO-2;1;1;;\n")
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    assert project.outputs("orders")[0].read_text().splitlines() == [
        '"id","ref","label","priority","qty"',
        '"PO-1","PO-1/closed","Geschlossen","high",5',
        '"PO-2","PO-2/open","Offen","low",1',
    ]


def test_lookup_miss_rejects_with_the_key(project: ProjectDir) -> None:
    project.file("mappings/statuses.csv", "code,label\nopen,Offen\n")
    route(project, extra="""\
        transform:
          lookups: [{field: label, key: status, table: statuses.csv, key_column: code,
                     value_column: label}]
    """)
    project.drop("orders", "l.csv", "Order;Qty;Price;ShipDate;Status\nPO-1;5;1;;weird\n")
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED
    reason_path = next((project.root / "quarantine").rglob("*.reason.json"))
    reason = json.loads(reason_path.read_text())
    assert reason["stage"] == "transform"
    assert reason["errors"][0]["rule"] == "lookup" and reason["errors"][0]["value"] == "weird"


def test_csv_output_neutralises_formulas_but_not_numbers(project: ProjectDir) -> None:
    route(project, fmt="csv")
    project.drop("orders", "f.csv", "Order;Qty;Price;ShipDate;Status\n"
                                     "=cmd|' /C calc'!A0;1;-5;;@SUM(A1)\n+1;2;1;;\tx\n")
    project.run()
    rows = project.outputs("orders")[0].read_text().splitlines()
    assert rows[1].startswith('"\'=cmd') and ",-5," in rows[1] and '"\'@SUM(A1)"' in rows[1]
    assert rows[2].startswith('"\'+1"')


def test_csv_output_neutralises_header_values_copied_to_every_row(project: ProjectDir) -> None:
    shutil.copy(REPO / "mappings" / "shop_orders.yaml", project.root / "mappings")
    sample = (REPO / "tests" / "cases" / "shop_orders" / "input.json").read_text()
    hostile = sample.replace('"id": "B-20261125-01"', '"id": "@SUM(1+1)*cmd|\' /C calc\'!A0"')
    assert hostile != sample
    project.drop("shop_orders", "orders-1.json", hostile)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    rows = list(csv.reader(project.outputs("shop_orders")[0].read_text().splitlines()))
    assert len(rows) > 2 and {r[0] for r in rows[1:]} == {"'@SUM(1+1)*cmd|' /C calc'!A0"}


def test_jsonl_and_xml_outputs(project: ProjectDir) -> None:
    route(project, fmt="jsonl")
    project.drop("orders", "a.csv", GOOD_CSV.replace("Order;Qty;Price;ShipDate;Status",
                                                      "Order;Qty;Price;ShipDate;Status"))
    project.run()
    lines = project.outputs("orders")[0].read_text().splitlines()
    assert [json.loads(line)["order_id"] for line in lines] == ["PO-1", "PO-2"]

    shutil.rmtree(project.root / "outbox")
    route(project, fmt="xml")
    project.drop("orders", "b.csv", GOOD_CSV.replace("PO-", "XO-"))
    project.run()
    tree = etree.parse(str(project.outputs("orders")[0]))
    records = tree.getroot().findall("record")
    assert [r.findtext("order_id") for r in records] == ["XO-1", "XO-2"]
    assert records[0].findtext("ship_on") == "2026-12-01"
    assert records[1].find("ship_on").text is None


def test_move_after_delivery_keeps_the_name_in_the_move_to_folder(project: ProjectDir) -> None:
    route(project, extra_source=", after: move, move_to: done")
    project.drop("orders", "m.csv", GOOD_CSV)
    project.run()
    assert (project.root / "inbox" / "done" / "m.csv").read_text() == GOOD_CSV


def test_leave_after_delivery_and_the_ledger_prevents_a_second_run(project: ProjectDir) -> None:
    route(project, extra_source=", after: leave")
    project.drop("orders", "stay.csv", GOOD_CSV)
    assert [r.outcome for r in project.run().results] == [Outcome.DELIVERED]
    assert project.run().results == []
    assert [p.name for p in project.inbox("orders")] == ["stay.csv"]


def test_make_demo_script_behaves_as_designed(tmp_path: Path) -> None:
    """`make demo` on a copy of the repository: delivered and quarantined samples, exit 0."""
    copy = tmp_path / "repo"
    for part in ("mappings", "partners", "examples", "demo", "scripts", "tradelane.yaml"):
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, copy / part)
    for folder in ("inbox", "outbox", "archive", "quarantine"):
        (copy / folder).mkdir()
    done = subprocess.run([sys.executable, str(copy / "scripts" / "demo.py")],
                          capture_output=True, text=True, timeout=300, cwd=copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Quarantined" in done.stdout and "tradelane quarantine show" in done.stdout
    assert list((copy / "outbox").rglob("*.json"))
    # the partner exchange: an AS2 message confirmed by the partner project's signed MDN
    assert "MDN:         processed" in done.stdout, done.stdout


@pytest.mark.parametrize("fmt", ["csv", "json", "xml"])
def test_fixed_decimals_in_every_output_format(project: ProjectDir, fmt: str) -> None:
    text = ROUTE.format(fmt=fmt, extra="", min_age="0s", extra_source="")
    text = text.replace('name: "{stem}.{ext}"}', 'name: "{stem}.{ext}",\n'
                        '             decimals: {price: 2}}')
    project.route("orders", text)
    project.drop("orders", "d.csv", "Order;Qty;Price;ShipDate;Status\nPO-1;1;225;;\n"
                                     "PO-2;2;0,125;;\nPO-3;3;;;\n")
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    out = project.outputs("orders")[0].read_text()
    if fmt == "csv":
        assert [line.split(",")[2] for line in out.splitlines()[1:]] == ["225.00", "0.12", ""]
    elif fmt == "json":
        assert '"price":225.00' in out and '"price":0.12' in out and '"price":null' in out
        assert [r["price"] for r in json.loads(out)] == [225, 0.12, None]
    else:
        prices = [r.findtext("price") for r in etree.fromstring(out.encode()).iter("record")]
        assert prices == ["225.00", "0.12", ""]  # an empty element for a missing value


def test_decimals_for_an_unknown_column_fails_check(project: ProjectDir) -> None:
    text = ROUTE.format(fmt="json", extra="", min_age="0s", extra_source="")
    project.route("orders", text.replace('name: "{stem}.{ext}"}',
                                         'name: "{stem}.{ext}", decimals: {prise: 2}}'))
    with pytest.raises(ConfigError, match=r"target\.decimals\.prise: not an output column"):
        project.load()


@pytest.mark.parametrize("fmt", ["csv", "json", "xml"])
def test_output_format_of_dates_applies_to_every_writer(project: ProjectDir, fmt: str) -> None:
    text = ROUTE.format(fmt=fmt, extra="", min_age="0s", extra_source="")
    project.route("orders", text.replace('format: "%d.%m.%Y"}',
                                         'format: "%d.%m.%Y", output_format: "%d/%m/%Y"}'))
    project.drop("orders", "d.csv", GOOD_CSV)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    assert "01/12/2026" in project.outputs("orders")[0].read_text()


def test_split_on_xml_keeps_the_document_around_the_bad_lines(project: ProjectDir) -> None:
    """The rejects file is the invoice without its delivered lines: root, namespaces and
    header elements stay, so it goes through the same route once fixed."""
    spec = (REPO / "mappings" / "ubl_invoices.yaml").read_text()
    project.route("ubl", spec.replace("min_age: 5s", "min_age: 1s").replace(
        "inbox/ubl_invoices", "inbox/ubl").replace("outbox/ubl_invoices", "outbox/ubl")
        + "on_invalid: split\n")
    invoice = (REPO / "examples" / "ubl_invoices" / "INV-2026-0815.xml").read_text()
    bad = invoice.replace('unitCode="MTR">1200<', 'unitCode="MTR">twelve hundred<')
    project.drop("ubl", "INV-7.xml", bad)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED and result.records == 1
    [rejects] = project.quarantined("ubl")
    assert rejects.name.endswith("INV-7.rejected.xml")
    ns = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
          "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
    doc = etree.fromstring(rejects.read_bytes())
    assert doc.findtext("cbc:ID", namespaces=ns) == "INV-2026-0815"
    assert [line.findtext("cbc:ID", namespaces=ns)
            for line in doc.findall("cac:InvoiceLine", ns)] == ["2"]
    rejects.write_text(rejects.read_text().replace("twelve hundred", "1200"))
    with project.ledger() as ledger:
        child = next(r for r in ledger.files() if r.parent_id)
        fixed = Runner(project.load(), ledger).reprocess(child.id)
    assert fixed.outcome == Outcome.DELIVERED and fixed.records == 1
