"""Split-out rejects (issue 16): the reason file of the rejects file points into the rejects
file itself, each error also saying where the record was in the original, and ``quarantine
show`` prints the offending line of the rejects file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.project import CSV_ROUTE, REPO, ProjectDir, copy_partners

MIXED_CSV = ("Order;Qty;Price;ShipDate;Status\n"
             "PO-1;5;1;;open\n"
             "PO-2;0;1;;open\n"        # qty below min: row 2, line 3 of the original
             "PO-3;5;1;;open\n"
             "PO-4;5;1;;bogus\n"       # status not allowed: row 4, line 5
             "PO-5;5;1;;open\n")


def tradelane(project: ProjectDir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradelane", *args, "-C", str(project.root)],
                          capture_output=True, text=True, timeout=120)


def split_reason(project: ProjectDir, route: str) -> tuple[Path, dict[str, Any]]:
    [rejects] = [p for p in project.quarantined(route) if ".rejected" in p.name]
    return rejects, json.loads(Path(f"{rejects}.reason.json").read_text())


def test_csv_rejects_locations_are_the_rejects_files_own(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE + "    on_invalid: split\n")
    project.drop("orders", "mix.csv", MIXED_CSV)
    [result] = project.run().results
    assert result.split_out == 2
    rejects, reason = split_reason(project, "orders")
    lines = rejects.read_text().splitlines()
    by_field = {e["field"]: e for e in reason["errors"]}
    assert by_field["qty"]["location"] == "row 1 (line 2)"
    assert by_field["qty"]["original_location"] == "row 2 (line 3)"
    assert by_field["status"]["location"] == "row 2 (line 3)"
    assert by_field["status"]["original_location"] == "row 4 (line 5)"
    assert "PO-2" in lines[1] and "PO-4" in lines[2]

    child = next(r for r in json.loads(tradelane(project, "quarantine", "list",
                                                 "--json").stdout)
                 if ".rejected" in r["name"])
    shown = tradelane(project, "quarantine", "show", str(child["id"]), "--json")
    assert shown.returncode == 0, shown.stderr
    offending = {item["line"]: item["text"] for item in json.loads(shown.stdout)["lines"]}
    assert offending == {2: lines[1], 3: lines[2]}
    text = tradelane(project, "quarantine", "show", str(child["id"])).stdout
    assert "original" in text and "line 5" in text  # the original's place, said too


def test_json_rejects_point_at_their_place_in_the_rejects_file(project: ProjectDir) -> None:
    project.route("shop", """\
        source: {folder: inbox/shop, pattern: "*.json", min_age: 1s}
        format: {type: json, records: orders}
        fields:
          id: {required: true}
          qty: {type: integer, min: 1}
        target: {folder: outbox/shop, format: csv, name: "{stem}.csv"}
        on_invalid: split
    """)
    orders = [{"id": str(i), "qty": 0 if i in (3, 7) else 1} for i in range(10)]
    project.drop("shop", "o.json", json.dumps({"orders": orders}))
    project.run()
    rejects, reason = split_reason(project, "shop")
    assert [json.loads(rejects.read_text())["orders"][i]["id"] for i in (0, 1)] == ["3", "7"]
    assert [(e["location"], e["original_location"]) for e in reason["errors"]] == [
        ("$.orders[0]", "$.orders[3]"), ("$.orders[1]", "$.orders[7]")]


def test_edifact_rejects_point_at_the_segment_in_the_rejects_file(
        project: ProjectDir) -> None:
    spec = (REPO / "mappings" / "edifact_orders.yaml").read_text()
    copy_partners(project.root)
    project.route("edi", spec.replace("inbox/edifact_orders", "inbox/edi")
                  .replace("min_age: 5s", "min_age: 1s")
                  .replace("outbox/edifact_orders", "outbox/edi")
                  .replace("  ack: {folder: outbox/acks}", "")
                  + "on_invalid: split\n")
    sample = (REPO / "examples/edifact_orders/ORDERS_20261125_0815.edi").read_text()
    bad = sample.replace("QTY+21:6'", "QTY+21:-6'")  # message 2's line: qty below 0
    project.drop("edi", "o.edi", bad)
    [result] = project.run().results
    assert result.split_out == 1
    rejects, reason = split_reason(project, "edi")
    [error] = reason["errors"]
    assert "message 2" in error["original_location"]
    assert error["location"].startswith("message 1, segment ")  # the first one in it
    child = next(r for r in json.loads(tradelane(project, "quarantine", "list",
                                                 "--json").stdout)
                 if ".rejected" in r["name"])
    shown = json.loads(tradelane(project, "quarantine", "show", str(child["id"]),
                                 "--json").stdout)
    assert [item["text"] for item in shown["lines"]] == ["LIN+1++4006381333955:EN'"]
    assert "LIN+1++4006381333955:EN'" in rejects.read_text()


def test_xml_and_fixed_width_rejects_point_at_their_own_lines(project: ProjectDir) -> None:
    project.route("inv", """\
        source: {folder: inbox/inv, pattern: "*.xml", min_age: 1s}
        format: {type: xml, records: Line}
        fields:
          sku: {source: Sku, required: true}
          qty: {source: Qty, type: integer, min: 1}
        target: {folder: outbox/inv, format: json, name: "{stem}.json"}
        on_invalid: split
    """)
    project.drop("inv", "a.xml", "<Inv>\n<Line><Sku>A</Sku><Qty>1</Qty></Line>\n"
                 "<Line><Sku>B</Sku><Qty>0</Qty></Line>\n<Line><Sku>C</Sku><Qty>1</Qty></Line>\n"
                 "<Line><Sku>D</Sku><Qty>0</Qty></Line>\n</Inv>\n")
    project.route("fx", """\
        source: {folder: inbox/fx, pattern: "*.txt", min_age: 1s}
        format:
          type: fixed
          record_types:
            I: {prefix: "I", fields: {sku: {start: 2, width: 4}, qty: {start: 6, width: 3}}}
        fields:
          sku: {source: I.sku, required: true}
          qty: {source: I.qty, type: integer, min: 1}
        target: {folder: outbox/fx, format: json, name: "{stem}.json"}
        on_invalid: split
    """)
    project.drop("fx", "a.txt", "IAAAA001\nIBBBB000\nICCCC001\nIDDDD000\n")
    assert sorted(r.split_out for r in project.run().results) == [2, 2]

    rejects, reason = split_reason(project, "inv")
    lines = rejects.read_text().splitlines()
    assert [(e["location"], e["original_location"]) for e in reason["errors"]] == [
        ("line 3 (/Inv//Line[1])", "line 3 (/Inv//Line[2])"),
        ("line 4 (/Inv//Line[2])", "line 5 (/Inv//Line[4])")]
    assert "<Sku>B</Sku>" in lines[2] and "<Sku>D</Sku>" in lines[3]

    rejects, reason = split_reason(project, "fx")
    assert rejects.read_text() == "IBBBB000\nIDDDD000\n"
    assert [(e["location"], e["original_location"]) for e in reason["errors"]] == [
        ("line 1", "line 2"), ("line 2", "line 4")]


def test_when_a_hook_drops_rows_the_originals_places_are_kept(project: ProjectDir) -> None:
    """The rejects file then cannot be matched record for record: its reason keeps the
    original's locations (and says nothing it cannot know) rather than point at wrong lines."""
    project.file("hooks/drop.py", "def first_only(df, header):\n    return df.iloc[:1]\n")
    project.route("orders", CSV_ROUTE.replace(
        "    target:", "    transform: {hook: 'drop:first_only'}\n    target:")
        + "    on_invalid: split\n")
    project.drop("orders", "mix.csv", MIXED_CSV)
    [result] = project.run().results
    assert result.split_out == 2, result.message
    _, reason = split_reason(project, "orders")
    assert [e["location"] for e in reason["errors"]] == ["row 2 (line 3)", "row 4 (line 5)"]
    assert not any("original_location" in e for e in reason["errors"])
