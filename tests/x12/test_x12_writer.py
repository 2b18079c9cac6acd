"""Writing X12 (issue 17): records become 810 transaction sets with computed counts, exact ISA
widths and checked values; what is written reads back through tradelane's own X12 reader and
through pyx12. The route and its golden output are in cases/x12_810_out (mapping.yaml, the
partner it writes to, input.csv, expected.x12)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from x12_out_case import CASE, PARTNER, ROUTE, deliver, invoices, segments, x12_project

from support.project import ProjectDir
from tradelane.errors import ConfigError
from tradelane.models import Outcome
from tradelane.sequences import Sequences

READ_BACK = """\
source: {folder: inbox/x12_810_in, pattern: "*.x12", min_age: 0s}
format: {type: x12, records: IT1, transactions: ["810"]}
header:
  invoice_no:   {source: BIG.2, required: true}
  invoice_date: {source: BIG.1, required: true}
  po_number:    {source: BIG.4}
fields:
  line_no:     {source: IT1.1, required: true}
  qty:         {source: IT1.2}
  unit:        {source: IT1.3}
  unit_price:  {source: IT1.4}
  sku:         {source: IT1.7}
  description: {source: PID.5}
transform: {copy_header: [invoice_no, invoice_date, po_number]}
target: {folder: outbox/x12_810_in, format: jsonl, name: "{stem}.jsonl"}
"""


def _problems(project: ProjectDir) -> str:
    with pytest.raises(ConfigError) as info:
        project.load()
    return str(info.value)


# -- refused: what cannot be written, and what check finds -----------------------------------


def test_a_value_holding_a_delimiter_is_quarantined_at_its_place_and_takes_no_number(
        project: ProjectDir) -> None:
    x12_project(project, partner=PARTNER + "  control_numbers: {interchange: {start: 1}}\n")
    bad = (CASE / "input.csv").read_text().replace("GEAR OIL 5 L", "GEAR OIL*5 L").replace(
        "COPPER WIRE", "COPPER~WIRE")
    project.drop(ROUTE, "INVOICES_1.csv", bad)
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED
    assert "cannot write X12: description at record 2 (transaction set 1), PID05 holds the" \
        " element separator '*'" in result.message
    assert project.outputs(ROUTE) == []
    [held] = project.quarantined(ROUTE)
    reason = json.loads(Path(f"{held}.reason.json").read_text())
    assert reason["stage"] == "deliver" and reason["error_count"] == 2
    assert [(e["location"], e["field"], e["value"], e["rule"]) for e in reason["errors"]] == [
        ("record 2 (transaction set 1), PID05", "description", "GEAR OIL*5 L SYNTHETIC",
         "x12.delimiters"),
        ("record 3 (transaction set 2), PID05", "description", "COPPER~WIRE 2.5 MM",
         "x12.delimiters")]
    with project.ledger() as ledger:  # refused before numbering: the partner sees no gap
        assert Sequences(ledger).next_values() == []


def test_a_character_the_encoding_cannot_hold_is_refused(project: ProjectDir) -> None:
    x12_project(project)
    project.drop(ROUTE, "INVOICES_1.csv",
                 (CASE / "input.csv").read_text().replace("HEX BOLT", "ÉCROU"))
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED
    assert "description at record 1 (transaction set 1), PID05 holds 'É', which ascii" \
        " cannot write (target.x12.encoding)" in result.message


def test_a_prepared_field_that_holds_no_date_is_refused_at_its_record(
        project: ProjectDir) -> None:
    """The envelope's date is what the template names; text that is no date would put a date
    nobody chose in ISA09 (EDIFACT's UNB 0017 is refused alike: formats/edi_writing.py)."""
    mapping = (CASE / "mapping.yaml").read_text().replace(
        "prepared: invoice_date", "prepared: po_number")
    x12_project(project, mapping=mapping)
    project.drop(ROUTE, "INVOICES_1.csv", (CASE / "input.csv").read_text())
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED
    assert "cannot write the envelope: po_number at record 1 (transaction set 1):" \
        " po_number is '4500012345', not a date or time" in result.message
    [held] = project.quarantined(ROUTE)
    reason = json.loads(Path(f"{held}.reason.json").read_text())
    assert [(e["location"], e["rule"]) for e in reason["errors"]] == [
        ("record 1 (transaction set 1)", "prepared")]
    assert project.outputs(ROUTE) == []


def test_writing_x12_to_a_partner_without_x12_ids_is_a_check_error(
        project: ProjectDir) -> None:
    x12_project(project, partner="edifact: {id: X, our_id: Y}\n")
    assert "mappings/x12_810_out.yaml: target.x12: partner 'distrib' has no x12 identifiers" \
        in _problems(project)
    x12_project(project, partner="x12: {isa_qualifier: ZZ, isa_id: DISTRIB01}\n")
    assert "partner 'distrib' does not say our ISA id: add x12.our_isa_qualifier and" \
        " x12.our_isa_id to partners/distrib.yaml" in _problems(project)
    mapping = (CASE / "mapping.yaml").read_text().replace("partner: distrib\n", "")
    x12_project(project, mapping=mapping)
    assert "target.x12: give sender and receiver, or name the route's partner" \
        in _problems(project)


def test_an_id_holding_a_delimiter_is_a_check_error(project: ProjectDir) -> None:
    x12_project(project, partner=PARTNER.replace("isa_id: DISTRIB01", "isa_id: DIST~RIB"))
    assert "mappings/x12_810_out.yaml: target.x12: receiver: 'DIST~RIB' holds '~', a" \
        " delimiter of the output (with the ids of partners/distrib.yaml)" in _problems(project)


@pytest.mark.parametrize(("segment", "found"), [
    ('"ST*810*0001"', "target.x12: header.1: ST is written by the engine"),
    ('"it1*{line_no}"', "'it1' is not an X12 segment id"),
    ('"REF*ZZ*A^B"', "'^' separates repetitions, which version 004010 cannot write"),
    ('"REF*ZZ*A~B"', "the text holds '~', a delimiter of the output"),
    ('"REF*ZZ*{po_number"', "header.1: expected '}' before end of string"),
])
def test_template_segments_x12_cannot_take_are_check_errors(
        project: ProjectDir, segment: str, found: str) -> None:
    mapping = (CASE / "mapping.yaml").read_text().replace(
        '      - "N1*ST*NORTHWIND WAREHOUSE*92*0042"', f"      - {segment}")
    x12_project(project, mapping=mapping)
    assert found in _problems(project)


def test_a_placeholder_that_cannot_be_filled_in_is_refused_at_its_place(
        project: ProjectDir) -> None:
    mapping = (CASE / "mapping.yaml").read_text().replace(
        '"CTT*{line_count}"', '"CTT*{line_count}*{sum_description}"')
    x12_project(project, mapping=mapping)
    project.drop(ROUTE, "INVOICES_1.csv", (CASE / "input.csv").read_bytes())
    [result] = project.run().results
    assert result.outcome == Outcome.QUARANTINED
    [held] = project.quarantined(ROUTE)
    reason = json.loads(Path(f"{held}.reason.json").read_text())
    assert [(e["location"], e["field"], e["rule"]) for e in reason["errors"]] == [
        ("record 1 (transaction set 1), CTT02", "sum_description", "x12.template"),
        ("record 3 (transaction set 2), CTT02", "sum_description", "x12.template")]
    assert "cannot be formatted: InvalidOperation" in reason["errors"][0]["message"]


def test_x12_control_number_ranges_are_checked(project: ProjectDir) -> None:
    x12_project(project, partner=PARTNER + "  control_numbers:\n"
                "    interchange: {start: 1, width: 8}\n"
                "    group: {start: 1, max: 9999999999}\n"
                "    transaction: {start: 1, width: 3}\n")
    problems = _problems(project)
    assert "partners/distrib.yaml: x12.control_numbers.interchange.width: Input should be" \
        " greater than or equal to 9" in problems
    assert "partners/distrib.yaml: x12.control_numbers.group.max: Input should be less than" \
        " or equal to 999999999" in problems
    assert "partners/distrib.yaml: x12.control_numbers.transaction.width: Input should be" \
        " greater than or equal to 4" in problems


def test_a_route_writing_x12_takes_the_partners_ids_but_not_its_expected_arrivals(
        project: ProjectDir) -> None:
    partner = PARTNER.replace("  gs_id: DISTRIB01\n", "  gs_id: DISTRIBGS\n  our_gs_id: TLGS\n")
    x12_project(project, partner=partner + "expect: {by: '06:00', every: weekday}\n")
    route = project.load().route(ROUTE)
    assert route.target.x12 is not None
    assert (route.target.x12.sender, route.target.x12.receiver) == ("ZZ:TRADELANE",
                                                                    "ZZ:DISTRIB01")
    assert (route.target.x12.gs_sender, route.target.x12.gs_receiver) == ("TLGS", "DISTRIBGS")
    assert route.expect is None  # the partner's files are expected where they are read


# -- written: exact envelope, counts, read back ---------------------------------------------


def test_the_golden_810_with_its_isa_at_its_fixed_widths(project: ProjectDir) -> None:
    x12_project(project)
    out = deliver(project, "INVOICES_1.csv", (CASE / "input.csv").read_bytes())
    assert out.read_bytes() == (CASE / "expected.x12").read_bytes()
    isa = out.read_text().splitlines()[0]
    assert len(isa) == 106 and isa[3] == "*" and isa[104:] == ">~"
    el = isa[:-1].split("*")
    assert [len(e) for e in el[1:]] == [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1]
    assert el[6] == "TRADELANE      " and el[8] == "DISTRIB01      "
    assert el[11:13] == ["U", "00401"]  # no repetition separator before 00402


def test_counts_are_computed(project: ProjectDir) -> None:
    x12_project(project)
    segs = segments(deliver(project, "INVOICES_1.csv", (CASE / "input.csv").read_bytes()))
    sets = [i for i, s in enumerate(segs) if s[0] == "ST"]
    ends = [i for i, s in enumerate(segs) if s[0] == "SE"]
    assert [int(segs[e][1]) for e in ends] == [e - s + 1 for s, e in zip(sets, ends,
                                                                          strict=True)]
    assert [s for s in segs if s[0] in ("CTT", "TDS")] == [
        ["TDS", "33516"], ["CTT", "2"], ["TDS", "10680"], ["CTT", "1"]]
    assert segs[-2][:2] == ["GE", "2"] and segs[-1][:2] == ["IEA", "1"]
    assert segs[-1][2] == segs[0][13] and segs[-2][2] == segs[1][6] == str(int(segs[0][13]))


def _read_back(project: ProjectDir, out: Path) -> list[dict[str, str]]:
    project.route("x12_810_in", READ_BACK)
    project.drop("x12_810_in", out.name, out.read_bytes())
    [result] = project.run(["x12_810_in"]).results
    assert result.outcome == Outcome.DELIVERED, result.message
    [jsonl] = project.outputs("x12_810_in")
    return [json.loads(line) for line in jsonl.read_text().splitlines()]


def test_the_output_reads_back_through_tradelanes_own_x12_reader(project: ProjectDir) -> None:
    x12_project(project)
    out = deliver(project, "INVOICES_1.csv", (CASE / "input.csv").read_bytes())
    rows = _read_back(project, out)
    assert [(r["invoice_no"], r["invoice_date"], r["po_number"], r["line_no"], r["qty"],
             r["unit"], r["unit_price"], r["sku"], r["description"]) for r in rows] == [
        ("INV-70001", "20261125", "4500012345", "1", "24", "EA", "3.49", "NW-1001",
         "HEX BOLT M8 X 40 ZINC"),
        ("INV-70001", "20261125", "4500012345", "2", "6", "CS", "41.90", "NW-2040",
         "GEAR OIL 5 L SYNTHETIC"),
        ("INV-70002", "20261126", "4500012399", "1", "120", "EA", "0.89", "NW-0007",
         "COPPER WIRE 2.5 MM")]


def test_awkward_values_read_back_unchanged(project: ProjectDir) -> None:
    """Inner blanks, quotes, lowercase and the characters other standards escape are plain data in
    X12 (latin-1 output here): each description comes back exactly as it went."""
    mapping = (CASE / "mapping.yaml").read_text().replace(
        "    usage: T\n", "    usage: T\n    encoding: latin-1\n")
    x12_project(project, mapping=mapping)
    values = ["INNER   BLANKS  KEPT", "a&b#c'd\"e?f+g:h", "Größe 10 % (ÄÖÜ)",
              "x" * 80]
    rows = "".join(f"INV-70001;2026-11-25;4500012345;{i};NW-{i};{v};1;EA;1.00\n"
                   for i, v in enumerate(values, start=1))
    header = (CASE / "input.csv").read_text().splitlines()[0]
    out = deliver(project, "INVOICES_1.csv", f"{header}\n{rows}".encode())
    assert [r["description"] for r in _read_back(project, out)] == values


def test_other_delimiters_and_005010_read_back_alike(project: ProjectDir) -> None:
    mapping = (CASE / "mapping.yaml").read_text().replace(
        'version: "004010"', 'version: "005010"\n    delimiters: {element: "|", component:'
        ' ":", segment: "\'", repetition: "!", line_breaks: false}').replace(
        '"N1*ST*NORTHWIND WAREHOUSE*92*0042"', '"N1*ST*NORTHWIND WAREHOUSE*92*0042^0043"')
    x12_project(project, mapping=mapping)
    out = deliver(project, "INVOICES_1.csv", (CASE / "input.csv").read_bytes())
    text = out.read_text()
    assert "\n" not in text and len(text.split("'")[0]) == 105
    isa = text.split("'")[0].split("|")
    assert isa[11:13] == ["!", "00501"] and isa[16] == ":"
    assert "'N1|ST|NORTHWIND WAREHOUSE|92|0042!0043'" in text
    assert "GS|IN|TRADELANE|DISTRIB01|20261125|0000|" in text and text.count("|005010'") == 1
    assert [r["sku"] for r in _read_back(project, out)] == ["NW-1001", "NW-2040", "NW-0007"]


def test_pyx12_reads_the_envelope_without_a_finding(project: ProjectDir) -> None:
    pyx12_file = pytest.importorskip("pyx12.x12file")  # a dependency (HIPAA checks): present
    x12_project(project)
    out = deliver(project, "INVOICES_1.csv", (CASE / "input.csv").read_bytes())
    with out.open(encoding="ascii") as fd:
        reader = pyx12_file.X12Reader(fd)
        read = [seg.get_seg_id() for seg in reader]
        reader.cleanup()
        assert reader.pop_errors() == []
    assert read.count("ST") == 2 and read[-1] == "IEA"


def test_a_997_written_by_the_template_passes_pyx12s_own_004010_map(
        project: ProjectDir) -> None:
    """pyx12 ships full maps for a few sets outside HIPAA: a 997 written by the writer is
    checked segment by segment, element by element, against its 004010 map."""
    from pyx12.params import params
    from pyx12.x12n_document import x12n_document

    project.file("partners/distrib.yaml", PARTNER)
    project.route("acks_out", """\
        partner: distrib
        source: {folder: inbox/acks_out, pattern: "*.csv", min_age: 0s}
        format: {type: csv}
        fields:
          group: {source: group, required: true}
          set:   {source: set, required: true}
        target:
          folder: outbox/acks_out
          format: x12
          x12:
            transaction: "997"
            header: ["AK1*HC*{group}"]  # its map is the HIPAA one: 837s
            line: ["AK2*837*{set}", "AK5*A"]
            summary: ["AK9*A*{line_count}*{line_count}*{line_count}"]
        """)
    project.drop("acks_out", "acks.csv", "group,set\n101,0001\n101,0002\n")
    [result] = project.run(["acks_out"]).results
    assert result.outcome == Outcome.DELIVERED, result.message
    [out] = project.outputs("acks_out")
    html = io.StringIO()
    assert x12n_document(params(), str(out), None, html) is True, html.getvalue()


# -- control numbers from the partner's sequences -------------------------------------------

SEQUENCES = PARTNER + """\
  control_numbers:
    interchange: {start: 1}
    group: {start: 1}
    transaction: {start: 1}
"""


def numbers(path: Path) -> tuple[str, str, list[str]]:
    """(ISA13, GS06, the ST02s), each checked against its trailer."""
    segs = segments(path)
    isa13, gs06 = segs[0][13], segs[1][6]
    assert segs[-1][2] == isa13 and segs[-2][2] == gs06
    st = [s[2] for s in segs if s[0] == "ST"]
    assert [s[2] for s in segs if s[0] == "SE"] == st
    return isa13, gs06, st


def test_consecutive_files_take_the_next_numbers(project: ProjectDir) -> None:
    x12_project(project, partner=SEQUENCES)
    got = [numbers(deliver(project, f"INVOICES_{n}.csv", invoices(n))) for n in (1, 2, 3)]
    assert got == [("000000001", "1", ["0001", "0002"]), ("000000002", "2", ["0003", "0004"]),
                   ("000000003", "3", ["0005", "0006"])]
    with project.ledger() as ledger:
        nexts = {(s["standard"], s["kind"]): s["next"] for s in Sequences(ledger).next_values()}
    assert nexts == {("x12", "interchange"): 4, ("x12", "group"): 4, ("x12", "transaction"): 7}


def test_a_retry_writes_the_numbers_of_its_first_attempt(project: ProjectDir) -> None:
    from sqlalchemy import update

    from tradelane.ledger.tables import files

    x12_project(project, partner=SEQUENCES)
    # an uncollected file of the same name: the first attempt writes, then cannot deliver
    blocker = project.file(f"outbox/{ROUTE}/INVOICES_1.x12", "someone else's\n")
    project.drop(ROUTE, "INVOICES_1.csv", invoices(1))
    [result] = project.run().results
    assert result.outcome == Outcome.PENDING, result.message
    second = deliver(project, "INVOICES_2.csv", invoices(2))  # the next numbers meanwhile
    blocker.unlink()
    with project.ledger() as ledger, ledger.begin() as conn:  # the retry's backoff passes
        conn.execute(update(files).values(next_attempt_at=None))
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED, result.message
    first = project.root / "outbox" / ROUTE / "INVOICES_1.x12"
    assert numbers(first) == ("000000001", "1", ["0001", "0002"])
    assert numbers(second) == ("000000002", "2", ["0003", "0004"])


def test_past_max_the_interchange_number_starts_again_with_an_alert(
        project: ProjectDir) -> None:
    from tradelane.ledger.alerts import Incidents

    x12_project(project, partner=PARTNER + "  control_numbers:\n"
                "    interchange: {start: 999999998}\n")
    got = [numbers(deliver(project, f"INVOICES_{n}.csv", invoices(n)))[0] for n in (1, 2, 3)]
    assert got == ["999999998", "999999999", "999999998"]
    with project.ledger() as ledger:
        [incident] = [i for i in Incidents(ledger).all() if i.kind == "sequence"]
    assert "the x12 interchange numbers of partner distrib reached 999999999 and start again" \
        " at 999999998" in incident.message


def test_widths_of_gs06_and_st02(project: ProjectDir) -> None:
    x12_project(project, partner=PARTNER + "  control_numbers:\n"
                "    group: {start: 5, width: 9}\n"
                "    transaction: {start: 123456, max: 9999999, width: 7}\n")
    isa13, gs06, st = numbers(deliver(project, "INVOICES_1.csv", invoices(1)))
    assert (gs06, st) == ("000000005", ["0123456", "0123457"])
    assert len(isa13) == 9  # no interchange sequence: a digest, still nine digits


def test_partners_and_the_console_list_the_x12_sequences_next_values(
        project: ProjectDir, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from support.console import PASSWORD, LiveConsole, log_in
    from tradelane.cli.main import app

    def cli(*args: str) -> str:
        result = CliRunner().invoke(app, [*args, "--project", str(project.root)],
                                    env={"COLUMNS": "100"})
        assert result.exit_code == 0, result.output
        return result.output

    x12_project(project, partner=SEQUENCES)
    deliver(project, "INVOICES_1.csv", invoices(1))
    [row] = json.loads(cli("partners", "--json"))
    assert row["x12"] == "ZZ:DISTRIB01"
    assert [(s["standard"], s["kind"], s["next"]) for s in row["sequences"]] == [
        ("x12", "interchange", "000000002"), ("x12", "group", "2"),
        ("x12", "transaction", "0003")]
    assert "ISA 000000002, GS 2, ST 0003" in cli("partners")
    assert "next x12 transaction number: 0003 (max 999999999, rolled over 0 times)" \
        in cli("partners", "show", "distrib")

    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.delenv("TRADELANE_LEDGER_URL", raising=False)
    project.settings("console: {user: ops}\n")
    server = LiveConsole(project.root)
    try:
        with server.client() as client:
            assert log_in(client, PASSWORD, "ops").status_code == 303
            page = client.get("/partners").text
    finally:
        server.stop()
    section = page[page.index('id="partner-distrib"'):]
    assert '<dd class="sequence">000000002 (max 999999999)</dd>' in section
    assert '<dd class="sequence">0003 (max 999999999)</dd>' in section
