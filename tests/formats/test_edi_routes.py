"""EDI routes end to end: the demo mappings through the real pipeline, real files, real ledger.

Golden cases live in tests/cases/<route>/ (input.* -> expected.*, compared byte for byte).
"""

from __future__ import annotations

import json
import shutil
import warnings

import pytest

from support.project import REPO, ProjectDir, copy_partners
from tradelane.models import Outcome
from tradelane.runner import Runner
from tradelane.staging import Staged

CASES = REPO / "tests" / "cases"
ROUTES = {"edifact_orders": "ORDERS_case.edi", "x12_850": "PO_case.x12",
          "fixed_items": "ITEMS_case.txt"}
BAD_COUNT = REPO / "examples" / "edifact_orders" / "ORDERS_20261126_bad_count.edi"


@pytest.fixture
def edi(project: ProjectDir) -> ProjectDir:
    for route in ROUTES:
        shutil.copy(REPO / "mappings" / f"{route}.yaml", project.root / "mappings")
    copy_partners(project.root)
    return project


def reason(project: ProjectDir, route: str) -> dict:
    [path] = project.quarantined(route)
    return json.loads(path.with_name(path.name + ".reason.json").read_text())


def test_demo_routes_deliver_their_golden_outputs_in_one_run(edi: ProjectDir) -> None:
    for route, name in ROUTES.items():
        [source] = (CASES / route).glob("input.*")
        edi.drop(route, name, source.read_bytes())
    summary = edi.run()
    assert [r.outcome for r in summary.results] == [Outcome.DELIVERED] * 3, summary.results
    assert summary.exit_code == 0
    for route in ROUTES:
        [output] = edi.outputs(route)
        [expected] = (CASES / route).glob("expected.*")
        assert output.read_bytes() == expected.read_bytes(), route
        assert edi.inbox(route) == []


def test_broken_edifact_interchange_is_quarantined_with_its_place(edi: ProjectDir) -> None:
    edi.drop("edifact_orders", "ORDERS_bad.edi", BAD_COUNT.read_bytes())
    [result] = edi.run(["edifact_orders"]).results
    assert result.outcome == Outcome.QUARANTINED
    why = reason(edi, "edifact_orders")
    assert why["stage"] == "read"
    assert why["message"] == ("UNT of '1' declares 9 segments but there are 8"
                              " (segment 10 (byte 216))")
    assert why["errors"] == [{"location": "segment 10 (byte 216)", "field": "", "value": "9",
                              "rule": "control_count",
                              "message": "UNT of '1' declares 9 segments but there are 8"}]
    assert edi.outputs("edifact_orders") == []


def test_broken_x12_interchange_is_quarantined_with_its_place(edi: ProjectDir) -> None:
    text = (CASES / "x12_850" / "input.x12").read_text().replace("SE*8*0001", "SE*7*0001")
    edi.drop("x12_850", "PO_bad.x12", text)
    [result] = edi.run(["x12_850"]).results
    assert result.outcome == Outcome.QUARANTINED
    why = reason(edi, "x12_850")
    byte = text.index("SE*7")
    assert why["stage"] == "read"
    assert why["errors"][0]["location"] == f"segment 10 (byte {byte})"
    assert why["errors"][0]["rule"] == "control_count"
    assert "SE of '0001' declares 7 segments but there are 8" in why["message"]


def test_bad_fixed_width_line_is_quarantined_with_its_line(edi: ProjectDir) -> None:
    text = (CASES / "fixed_items" / "input.txt").read_text().replace("INUT", "XNUT")
    edi.drop("fixed_items", "ITEMS_bad.txt", text)
    [result] = edi.run(["fixed_items"]).results
    assert result.outcome == Outcome.QUARANTINED
    why = reason(edi, "fixed_items")
    assert why["stage"] == "read"
    assert why["errors"][0]["location"] == "line 3"
    assert why["errors"][0]["rule"] == "record_type"


def test_same_edifact_interchange_twice_is_a_duplicate(edi: ProjectDir) -> None:
    first = (CASES / "edifact_orders" / "input.edi").read_text()
    # Same sender, recipient and control reference (ORD0001), another order inside: the
    # content differs, so only the interchange check can catch it.
    again = first.replace("PO-77001", "PO-77009")
    edi.drop("edifact_orders", "ORDERS_1.edi", first, age=200)
    edi.drop("edifact_orders", "ORDERS_2.edi", again, age=100)
    results = edi.run(["edifact_orders"]).results
    assert [r.outcome for r in results] == [Outcome.DELIVERED, Outcome.DUPLICATE]
    why = reason(edi, "edifact_orders")
    assert why["stage"] == "duplicate"
    assert why["message"].startswith(
        "interchange ORD0001 from 5412345000013 to 4012345000009 was already delivered as"
        f" file {results[0].file_id} (ORDERS_1.edi, received ")
    assert why["reprocess"].endswith("--force")
    assert [p.name for p in edi.outputs("edifact_orders")] == ["ORDERS_1.json"]


def test_same_x12_interchange_twice_is_a_duplicate(edi: ProjectDir) -> None:
    first = (CASES / "x12_850" / "input.x12").read_text()
    edi.drop("x12_850", "PO_1.x12", first, age=200)
    edi.drop("x12_850", "PO_2.x12", first.replace("NW-1001", "NW-1002"), age=100)
    results = edi.run(["x12_850"]).results
    assert [r.outcome for r in results] == [Outcome.DELIVERED, Outcome.DUPLICATE]
    assert "interchange 000000101 from DISTRIB01 to TRADELANE" in reason(edi, "x12_850")[
        "message"]


def test_the_history_names_the_interchange_and_messages_delivered(edi: ProjectDir) -> None:
    from tradelane import ops

    edi.drop("edifact_orders", "ORDERS_1.edi", (CASES / "edifact_orders" / "input.edi")
             .read_text())
    [result] = edi.run(["edifact_orders"]).results
    with edi.ledger() as ledger:
        [trail] = ops.history(ledger, str(result.file_id))
    [delivered] = [e for e in trail["events"] if e["to_state"] == "delivered"]
    assert "; interchange ORD0001 from 5412345000013 to 4012345000009: 2 messages (1, 2)" \
        in delivered["detail"]


def test_other_partner_may_reuse_a_control_reference(edi: ProjectDir) -> None:
    first = (CASES / "edifact_orders" / "input.edi").read_text()
    other = first.replace("5412345000013:14", "5412345000099:14")
    edi.drop("edifact_orders", "ORDERS_1.edi", first, age=200)
    edi.drop("edifact_orders", "ORDERS_2.edi", other, age=100)
    results = edi.run(["edifact_orders"]).results
    assert [r.outcome for r in results] == [Outcome.DELIVERED, Outcome.DELIVERED]


# -- message isolation ------------------------------------------------------------------------

GOOD = (CASES / "edifact_orders" / "input.edi").read_text()
#: message 2 of the good interchange, with a UNT that miscounts its segments
BAD_SECOND = GOOD.replace("UNT+9+2'", "UNT+8+2'")


def isolating(project: ProjectDir, *options: str) -> ProjectDir:
    spec = (REPO / "mappings" / "edifact_orders.yaml").read_text()
    copy_partners(project.root)
    spec = spec.replace("isolate_messages: false", "isolate_messages: true")
    for option in options:
        spec += option + "\n"
    project.route("edifact_orders", spec)
    return project


def test_isolated_message_is_split_out_and_the_others_delivered(project: ProjectDir) -> None:
    from tradelane.formats.edifact import EdifactReader

    isolating(project).drop("edifact_orders", "ORDERS_x.edi", BAD_SECOND)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED
    [output] = project.outputs("edifact_orders")
    assert [r["order_id"] for r in json.loads(output.read_text())] == ["PO-77001"] * 2
    [rejects] = project.quarantined("edifact_orders")
    assert rejects.name.endswith("-ORDERS_x.rejected.edi")
    why = json.loads(rejects.with_name(rejects.name + ".reason.json").read_text())
    unt = BAD_SECOND.index("UNT+8+2'")
    assert why["stage"] == "read" and why["split_from"] == result.file_id
    assert why["errors"] == [{
        "location": f"message 2 (2), segment 25 (byte {unt})", "field": "", "value": "8",
        "rule": "control_count",
        "message": "message 2 (2): UNT of '2' declares 8 segments but there are 9"}]
    # The rejects are an interchange of their own: fresh UNB/UNZ, counts right, message 2 only.
    text = rejects.read_text()
    assert text.startswith("UNA:+.? '\nUNB+UNOC:3+5412345000013:14+4012345000009:14+261125:0815+R")
    assert text.count("UNH+") == 1 and "BGM+220+PO-77002+9'" in text
    ref = text.split("\n")[1].rsplit("+", 1)[1].rstrip("'")
    assert text.endswith(f"UNZ+1+{ref}'\n") and len(ref) == 14
    # ... which ops fix by hand and reprocess through the same route.
    rejects.write_text(text.replace("UNT+8+2'", "UNT+9+2'"))
    route = project.load().route("edifact_orders")
    [doc] = EdifactReader().read(Staged.file(rejects), route)
    assert doc.header["order_id"].to_pylist() == ["PO-77002"]
    with project.ledger() as ledger:
        again = Runner(project.load(), ledger).reprocess(why["file_id"])
    assert again.outcome == Outcome.DELIVERED, again.message
    assert len(project.outputs("edifact_orders")) == 2


def test_without_isolation_one_bad_message_rejects_the_interchange(edi: ProjectDir) -> None:
    edi.drop("edifact_orders", "ORDERS_x.edi", BAD_SECOND)
    [result] = edi.run(["edifact_orders"]).results
    assert result.outcome == Outcome.QUARANTINED
    assert edi.outputs("edifact_orders") == []
    assert reason(edi, "edifact_orders")["errors"][0]["rule"] == "control_count"


def test_split_takes_out_the_whole_message_of_an_invalid_line(project: ProjectDir) -> None:
    isolating(project, "on_invalid: split")
    bad_line = GOOD.replace("LIN+2++4006381333948:EN", "LIN+2++ABC:EN")
    project.drop("edifact_orders", "ORDERS_y.edi", bad_line)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED
    [output] = project.outputs("edifact_orders")
    assert [r["order_id"] for r in json.loads(output.read_text())] == ["PO-77002"]
    [rejects] = project.quarantined("edifact_orders")
    text = rejects.read_text()
    assert "BGM+220+PO-77001+9'" in text and "PO-77002" not in text
    assert "LIN+1++4006381333931:EN'" in text  # the good line goes with its message
    why = json.loads(rejects.with_name(rejects.name + ".reason.json").read_text())
    assert why["stage"] == "validate"
    assert why["errors"][0]["field"] == "gtin"
    byte = bad_line.index("LIN+2")
    assert why["errors"][0]["original_location"] == f"message 1, segment 11 (byte {byte})"
    # the rejects file is an interchange of its own: the place is where it has the line
    here = rejects.read_bytes().index(b"LIN+2")
    assert why["errors"][0]["location"] == f"message 1, segment 11 (byte {here})"


# -- acknowledgements -------------------------------------------------------------------------

def acking(project: ProjectDir, route: str, isolate: bool = False) -> ProjectDir:
    spec = (REPO / "mappings" / f"{route}.yaml").read_text()
    copy_partners(project.root)
    if isolate:
        spec = spec.replace("isolate_messages: false", "isolate_messages: true")
    kind = "edifact" if route == "edifact_orders" else "x12"
    spec = spec.replace(f"  type: {kind}\n", f"  type: {kind}\n  ack: {{folder: outbox/acks}}\n")
    project.route(route, spec)
    return project


def acks(project: ProjectDir) -> dict[str, str]:
    folder = project.root / "outbox" / "acks"
    return {p.name: p.read_text() for p in sorted(folder.iterdir())} if folder.exists() else {}


def contrl_segments(text: str) -> list[str]:
    """The CONTRL read back by pydifact (it must parse) and by the engine's own reader."""
    from pydifact.segmentcollection import Interchange

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydifact ships no service-segment directory
        interchange = Interchange.from_str(text)
    assert [m.type for m in interchange.get_messages()] == ["CONTRL"]
    return [str(s.tag) + "+" + "+".join(e if isinstance(e, str) else ":".join(e)
                                       for e in s.elements) for s in interchange.segments]


def test_contrl_for_an_accepted_interchange(project: ProjectDir) -> None:
    acking(project, "edifact_orders").drop("edifact_orders", "ORDERS_1.edi", GOOD)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED
    [(name, text)] = acks(project).items()
    assert name == f"{result.file_id}-CONTRL_5412345000013_ORD0001.edi"
    segments = contrl_segments(text)
    # the partners exactly as received (qualifier 14 included), swapped in the CONTRL's UNB,
    # which is dated with the interchange it answers (a retry writes the same bytes)
    assert "UCI+ORD0001+5412345000013:14+4012345000009:14+7" in segments
    assert text.split("\n")[1].startswith(
        "UNB+UNOC:3+4012345000009:14+5412345000013:14+261125:0815+")


def test_contrl_for_a_rejected_interchange_carries_the_error(project: ProjectDir) -> None:
    acking(project, "edifact_orders").drop("edifact_orders", "ORDERS_b.edi",
                                           BAD_COUNT.read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED
    [text] = acks(project).values()
    # the miscount is in message 1: the interchange is refused (4), the message says why,
    # at its level: UNT's element 1 (the count) does not match (29)
    segments = contrl_segments(text)
    assert "UCI+ORD0002+5412345000013:14+4012345000009:14+4" in segments
    assert "UCM+1+ORDERS:D:96A:UN:EAN008+4+29+UNT+1" in segments


def test_contrl_rejects_an_isolated_message_and_accepts_the_rest(project: ProjectDir) -> None:
    acking(project, "edifact_orders", isolate=True).drop("edifact_orders", "ORDERS_x.edi",
                                                          BAD_SECOND)
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED
    [text] = acks(project).values()
    segments = contrl_segments(text)
    assert "UCI+ORD0001+5412345000013:14+4012345000009:14+7" in segments
    assert "UCM+2+ORDERS:D:96A:UN:EAN008+4+29+UNT+1" in segments  # S009 whole, as received


def test_contrl_for_a_duplicate_interchange(project: ProjectDir) -> None:
    acking(project, "edifact_orders")
    project.drop("edifact_orders", "ORDERS_1.edi", GOOD, age=200)
    project.drop("edifact_orders", "ORDERS_2.edi", GOOD.replace("PO-77001", "PO-7"), age=100)
    _first, second = project.run().results
    assert second.outcome == Outcome.DUPLICATE
    answers = acks(project)
    assert len(answers) == 2  # the first answer is not overwritten
    dup = answers[f"{second.file_id}-CONTRL_5412345000013_ORD0001.edi"]
    assert "UCI+ORD0001+5412345000013:14+4012345000009:14+4+26" in contrl_segments(dup)


def test_997_for_accepted_and_rejected_x12(project: ProjectDir) -> None:
    good = (CASES / "x12_850" / "input.x12").read_text()
    acking(project, "x12_850").drop("x12_850", "PO_1.x12", good, age=200)
    bad = good.replace("SE*8*0001", "SE*7*0001").replace("000000101", "000000102")
    project.drop("x12_850", "PO_2.x12", bad, age=100)
    ok, rejected = project.run().results
    assert (ok.outcome, rejected.outcome) == (Outcome.DELIVERED, Outcome.QUARANTINED)
    answers = acks(project)
    accepted = answers[f"{ok.file_id}-997_DISTRIB01_000000101_101.x12"]
    refused = answers[f"{rejected.file_id}-997_DISTRIB01_000000102_101.x12"]
    for text, ak5, ak9 in ((accepted, "AK5*A~", "AK9*A*1*1*1~"),
                           (refused, "AK5*R*4~", "AK9*R*1*1*0~")):
        assert "ST*997*" in text and "AK1*PO*101~" in text and "AK2*850*0001~" in text
        assert ak5 in text and ak9 in text
        assert text.startswith("ISA*00*          *00*          *ZZ*TRADELANE      *ZZ*DISTRIB01")
    # the 997 is itself a valid X12 interchange for the engine's reader
    from tradelane.formats.x12 import X12File, iter_transactions

    [tx] = iter_transactions(X12File(accepted.encode()))
    assert tx.code == "997"


# -- writing EDIFACT and fixed-width ----------------------------------------------------------

def test_csv_invoice_lines_become_a_valid_invoic(project: ProjectDir) -> None:
    from pydifact.segmentcollection import Interchange

    from tradelane.formats.edifact import EdifactReader
    from tradelane.spec import RouteSpec

    shutil.copy(REPO / "mappings" / "invoic_out.yaml", project.root / "mappings")
    copy_partners(project.root)
    case = CASES / "invoic_out"
    project.drop("invoic_out", "INVOICES_1.csv", (case / "input.csv").read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    [output] = project.outputs("invoic_out")
    assert output.read_bytes() == (case / "expected.edi").read_bytes()
    # pydifact reads it without complaint, counts and all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interchange = Interchange.from_str(output.read_text(encoding="latin-1"))
    messages = list(interchange.get_messages())
    assert [m.type for m in messages] == ["INVOIC", "INVOIC"]
    # ... and so does the engine's own reader, whose envelope checks every count
    invoic = RouteSpec.model_validate({
        "name": "invoic", "source": {"folder": "in"}, "target": {"folder": "out"},
        "format": {"type": "edifact", "records": "LIN", "messages": ["INVOIC"]},
        "header": {"invoice": {"source": "BGM.C106.1004"}},
        "fields": {"gtin": {"source": "LIN.C212.7140"}, "text": {"source": "IMD.3.4"},
                   "amount": {"source": "MOA[203].C516.5004"}}})
    [doc] = EdifactReader().read(Staged.file(output), invoic)
    assert doc.header["invoice"].to_pylist() == ["INV-90001", "INV-90001", "INV-90002"]
    assert doc.records["amount"].to_pylist() == ["83.76", "299.40", "75.00"]
    assert doc.records["text"].to_pylist()[1] == "Gear oil 5 l: synthetic + 'premium'"


def test_edifact_target_needs_its_template(project: ProjectDir) -> None:
    from tradelane.errors import ConfigError

    spec = (REPO / "mappings" / "invoic_out.yaml").read_text()
    project.route("invoic_out", spec[: spec.index("  edifact:")])
    with pytest.raises(ConfigError, match="format edifact needs 'edifact'"):
        project.load()


def test_csv_to_fixed_width_with_a_target_layout(project: ProjectDir) -> None:
    project.route("items_out", """\
        source: {folder: inbox/items_out, min_age: 1s}
        format: {type: csv}
        fields:
          sku: {source: SKU, required: true}
          price: {source: Price, type: decimal}
        target:
          folder: outbox/items_out
          format: fixed
          name: "{stem}.txt"
          fixed:
            prefix: "I"
            fields: {sku: {start: 2, width: 8}, price: {start: 10, width: 7,
                                                       implied_decimals: 2}}
        """)
    project.drop("items_out", "items.csv", "SKU,Price\nBOLT-M8,0.12\nOIL-5L,24.95\nWIRE,1.8\n")
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    [output] = project.outputs("items_out")
    assert output.read_text() == "IBOLT-M8 0000012\nIOIL-5L  0002495\nIWIRE    0000180\n"
