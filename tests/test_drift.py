"""Schema drift (issue 16): a route with ``drift: warn|reject`` pins the shape of its first
file; a later file with a new or missing column, a new JSON key, a new XML element or a new
EDIFACT/X12 segment raises an alert naming exactly what changed, before any record is read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.project import CSV_ROUTE, GOOD_CSV, REPO, ProjectDir, copy_partners
from tradelane.ledger.alerts import Incidents
from tradelane.models import Outcome


def tradelane(project: ProjectDir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradelane", *args, "-C", str(project.root)],
                          capture_output=True, text=True, timeout=120)


def drift_alerts(project: ProjectDir, *, open_only: bool = True) -> list[str]:
    with project.ledger() as ledger:
        incidents = Incidents(ledger)
        found = incidents.open_incidents() if open_only else incidents.all()
    return [i.message for i in found if i.kind == "drift"]


def csv_route(mode: str) -> str:
    return CSV_ROUTE + f"    drift: {mode}\n"


DRIFTED_CSV = ("Order;Qty;Price;ShipDate;Discount\n"  # Status gone, Discount new
               "PO-3;2;1,50;01.12.2026;5\n")


def test_drift_is_off_unless_asked(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "a.csv", GOOD_CSV)
    project.drop("orders", "b.csv", DRIFTED_CSV)
    summary = project.run()
    assert [r.outcome for r in summary.results] == [Outcome.DELIVERED] * 2
    assert drift_alerts(project, open_only=False) == []
    listing = tradelane(project, "drift", "--json")
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout) == []


def test_warn_names_the_new_and_the_missing_column_and_delivers(project: ProjectDir) -> None:
    project.route("orders", csv_route("warn"))
    project.drop("orders", "a.csv", GOOD_CSV)
    assert [r.outcome for r in project.run().results] == [Outcome.DELIVERED]
    assert drift_alerts(project) == []  # the first file pins the shape

    project.drop("orders", "b.csv", DRIFTED_CSV)
    result = project.run().results[0]
    assert result.outcome == Outcome.DELIVERED
    [alert] = drift_alerts(project)
    assert "new column 'Discount'" in alert
    assert "column 'Status' is missing" in alert
    assert "schema drift" in json.dumps(json.loads(
        tradelane(project, "history", "b.csv", "--json").stdout))

    # the partner goes back to the old header: the alert is resolved
    project.drop("orders", "c.csv", GOOD_CSV.replace("PO-1", "PO-9"))
    assert project.run().results[0].outcome == Outcome.DELIVERED
    assert drift_alerts(project) == []
    assert len(drift_alerts(project, open_only=False)) == 1


def test_reject_quarantines_until_accepted_then_reprocess_delivers(project: ProjectDir) -> None:
    project.route("orders", csv_route("reject"))
    project.drop("orders", "a.csv", GOOD_CSV)
    project.run()
    project.drop("orders", "b.csv", DRIFTED_CSV)
    result = project.run().results[0]
    assert result.outcome == Outcome.QUARANTINED
    assert project.outputs("orders") == [project.root / "outbox/orders/a.json"]
    [copy] = project.quarantined("orders")
    reason = json.loads(Path(f"{copy}.reason.json").read_text())
    assert reason["stage"] == "read"
    assert "new column 'Discount'" in reason["message"]
    assert "tradelane drift accept orders" in reason["message"]
    assert {e["rule"] for e in reason["errors"]} == {"drift"}
    assert sorted(e["message"] for e in reason["errors"]) == [
        "column 'Status' is missing", "new column 'Discount'"]
    assert drift_alerts(project)

    shown = tradelane(project, "drift", "orders", "--json")
    assert shown.returncode == 0, shown.stderr
    pinned = json.loads(shown.stdout)
    assert pinned["shape"] == {"columns": ["Order", "Qty", "Price", "ShipDate", "Status"]}
    assert sorted(pinned["drifted"]) == ["column 'Status' is missing",
                                         "new column 'Discount'"]
    table = tradelane(project, "drift")
    assert "orders" in table.stdout and "Discount" in table.stdout

    accepted = tradelane(project, "drift", "accept", "orders")
    assert accepted.returncode == 0, accepted.stderr
    assert drift_alerts(project) == []
    again = tradelane(project, "drift", "accept", "orders")
    assert again.returncode == 6, again.stdout  # nothing drifted since
    reprocessed = tradelane(project, "quarantine", "reprocess", str(result.file_id), "--json")
    assert reprocessed.returncode == 0, reprocessed.stdout + reprocessed.stderr
    assert (project.root / "outbox/orders/b.json").exists()
    # the old header is now the drift
    project.drop("orders", "c.csv", GOOD_CSV.replace("PO-1", "PO-9"))
    assert project.run().results[0].outcome == Outcome.QUARANTINED


def test_drift_of_a_route_with_no_pinned_shape_is_not_found(project: ProjectDir) -> None:
    project.route("orders", csv_route("warn"))
    for args in (["drift", "orders"], ["drift", "accept", "orders"]):
        result = tradelane(project, *args)
        assert result.returncode == 5, result.stdout + result.stderr
        assert "Traceback" not in result.stderr


JSON_ROUTE = """\
    source: {folder: inbox/shop, pattern: "*.json", min_age: 1s}
    format: {type: json, records: orders}
    fields:
      id: {required: true}
      sku: {source: lines.0.sku}
    target: {folder: outbox/shop, format: csv, name: "{stem}.csv"}
    drift: warn
"""


def test_a_new_json_key_is_named_by_its_path(project: ProjectDir) -> None:
    project.route("shop", JSON_ROUTE)
    first = {"batch": "B1", "orders": [{"id": "1", "lines": [{"sku": "A", "qty": 1}]}]}
    project.drop("shop", "a.json", json.dumps(first))
    project.run()
    later = {"batch": "B2", "orders": [
        {"id": "2", "lines": [{"sku": "B", "qty": 1}]},
        {"id": "3", "lines": [{"sku": "C", "qty": 2, "discount": 5}], "channel": "app"}]}
    project.drop("shop", "b.json", json.dumps(later))
    assert project.run().results[0].outcome == Outcome.DELIVERED
    [alert] = drift_alerts(project)
    assert "new key 'lines[].discount' in the records" in alert
    assert "new key 'channel' in the records" in alert
    assert "batch" not in alert  # outside the records: not their shape


XML_ROUTE = """\
    source: {folder: inbox/inv, pattern: "*.xml", min_age: 1s}
    format: {type: xml, records: Line}
    fields:
      sku: {source: Sku, required: true}
    target: {folder: outbox/inv, format: json, name: "{stem}.json"}
    drift: reject
"""


def test_a_new_xml_element_in_the_record_rejects(project: ProjectDir) -> None:
    project.route("inv", XML_ROUTE)
    project.drop("inv", "a.xml", "<Inv><Line><Sku>A</Sku><Qty>1</Qty></Line></Inv>")
    project.run()
    project.drop("inv", "b.xml",
                 "<Inv><Note>x</Note><Line><Sku>B</Sku><Qty>1</Qty><Tax>7</Tax></Line></Inv>")
    result = project.run().results[0]
    assert result.outcome == Outcome.QUARANTINED
    assert "new element 'Tax' in Line" in result.message
    assert "Note" not in result.message


@pytest.fixture
def edifact(project: ProjectDir) -> ProjectDir:
    spec = (REPO / "mappings" / "edifact_orders.yaml").read_text()
    copy_partners(project.root)
    project.route("edi", spec.replace("inbox/edifact_orders", "inbox/edi")
                  .replace("min_age: 5s", "min_age: 1s")
                  .replace("outbox/edifact_orders", "outbox/edi")
                  + "drift: reject\n")
    return project


def test_a_new_segment_in_an_edifact_message_is_named_with_its_message_type(
        edifact: ProjectDir) -> None:
    sample = (REPO / "examples/edifact_orders/ORDERS_20261125_0815.edi").read_text()
    edifact.drop("edi", "a.edi", sample)
    assert edifact.run().results[0].outcome == Outcome.DELIVERED
    # another interchange, whose second message carries a free text segment
    later = (sample.replace("ORD0001", "ORD0002")
             .replace("UNS+S'\nUNT+9+2'", "FTX+AAI+++fragile'\nUNS+S'\nUNT+10+2'"))
    assert "FTX" in later
    edifact.drop("edi", "b.edi", later)
    result = edifact.run().results[0]
    assert result.outcome == Outcome.QUARANTINED, result.message
    assert "new segment FTX in ORDERS messages" in result.message


def test_a_new_segment_in_an_x12_transaction_set(project: ProjectDir) -> None:
    spec = (REPO / "mappings" / "x12_850.yaml").read_text()
    project.route("po", spec.replace("inbox/x12_850", "inbox/po")
                  .replace("min_age: 5s", "min_age: 1s")
                  .replace("outbox/x12_850", "outbox/po") + "drift: warn\n")
    sample = (REPO / "examples/x12_850/PO_4500012345.x12").read_text()
    project.drop("po", "a.x12", sample)
    project.run()
    later = (sample.replace("000000101", "000000102")
             .replace("CTT*3~", "CTT*3~\nAMT*TT*1234~").replace("SE*8*", "SE*9*"))
    project.drop("po", "b.x12", later)
    project.run()
    [alert] = drift_alerts(project)
    assert "new segment AMT in 850 transaction sets" in alert


def test_the_shape_costs_the_same_for_a_big_file(project: ProjectDir, tmp_path: Path) -> None:
    """Only the head of a file is looked at: a 40 MB CSV is pinned from its header, in a
    few milliseconds, not read twice."""
    import time

    from tradelane.drift import shape_of
    from tradelane.staging import Staged

    project.route("orders", csv_route("warn"))
    big = tmp_path / "big.csv"
    with big.open("w") as fh:
        fh.write("Order;Qty;Price;ShipDate;Status\n")
        fh.write("PO-1;5;9,50;01.12.2026;open\n" * 1_500_000)
    route = project.load().routes["orders"]
    started = time.perf_counter()
    shape = shape_of(route, Staged.file(big))
    elapsed = time.perf_counter() - started
    assert shape == {"columns": ["Order", "Qty", "Price", "ShipDate", "Status"]}
    assert elapsed < 0.2, elapsed


def test_a_file_that_cannot_be_read_is_the_readers_to_reject(project: ProjectDir) -> None:
    project.route("shop", JSON_ROUTE.replace("drift: warn", "drift: reject"))
    project.drop("shop", "a.json", json.dumps({"orders": [{"id": "1"}]}))
    project.run()
    project.drop("shop", "b.json", b"\x00\x01 not json")
    result = project.run().results[0]
    assert result.outcome == Outcome.QUARANTINED
    assert "drift" not in result.message


def test_pin_drift_and_accept_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    """The same story on the ledger several servers share: the first file pins, the second
    drifts (reject), accept pins its shape."""
    project = ProjectDir(tmp_path / "pg", ledger_url=pg_url)
    project.route("orders", csv_route("reject"))
    project.drop("orders", "a.csv", GOOD_CSV)
    assert project.run().results[0].outcome == Outcome.DELIVERED
    project.drop("orders", "b.csv", DRIFTED_CSV)
    assert project.run().results[0].outcome == Outcome.QUARANTINED
    from tradelane.drift import Drift

    with project.ledger() as ledger:
        drift = Drift(ledger)
        assert drift.pinned("orders").seen == {  # type: ignore[union-attr]
            "columns": ["Order", "Qty", "Price", "ShipDate", "Discount"]}
        accepted = drift.accept("orders")
        assert accepted.shape["columns"][-1] == "Discount" and accepted.seen is None
        assert [i for i in Incidents(ledger).open_incidents() if i.kind == "drift"] == []


def test_fixed_width_layouts_and_json_lines_keys(project: ProjectDir) -> None:
    project.route("fx", """\
        source: {folder: inbox/fx, pattern: "*.txt", min_age: 1s}
        format:
          type: fixed
          unknown_lines: skip
          record_types:
            I: {prefix: "I", fields: {sku: {start: 2, width: 4}}}
        fields:
          sku: {source: I.sku, required: true}
        target: {folder: outbox/fx, format: json, name: "{stem}.json"}
        drift: warn
    """)
    project.route("lines", """\
        source: {folder: inbox/lines, pattern: "*.jsonl", min_age: 1s}
        format: {type: jsonl}
        fields:
          id: {required: true}
        target: {folder: outbox/lines, format: json, name: "{stem}.json"}
        drift: warn
    """)
    project.drop("fx", "a.txt", "IAAAA\nIBBBB\n")
    project.drop("lines", "a.jsonl", '{"id": "1", "qty": 1}\n{"id": "2"}\n')
    project.run()
    # a wider layout, and lines of a record type the mapping skips
    project.drop("fx", "b.txt", "ICCCC  9\nXZZZZ\n")
    project.drop("lines", "b.jsonl", '{"id": "3", "qty": 1, "meta": {"src": "app"}}\n')
    assert all(r.outcome == Outcome.DELIVERED for r in project.run().results)
    alerts = sorted(drift_alerts(project))
    assert "new record layout 'I: 8 characters'" in alerts[0]
    assert "new record layout 'lines of no record type'" in alerts[0]
    assert "new key 'meta' in the records" in alerts[1]
    assert "new key 'meta.src' in the records" in alerts[1]
