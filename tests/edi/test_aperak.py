"""APERAK (format.ack.aperak): an order whose records fail the route's field rules is answered
with an APERAK beside the CONTRL, one ERC + FTX per error naming the segment and element."""

from __future__ import annotations

from pathlib import Path

from support.project import ProjectDir
from tradelane.edi.validation import StructureValidator
from tradelane.formats.ack_reading import read_acks
from tradelane.formats.edifact_envelope import iter_messages
from tradelane.formats.edifact_syntax import SegmentStream
from tradelane.models import Outcome

ROUTE = """\
    source: {folder: inbox/orders, pattern: "*.edi", min_age: 1s}
    format:
      type: edifact
      records: LIN
      messages: [ORDERS]
      ack: {folder: outbox/acks, aperak: %s}
    header:
      order_id: {source: BGM.2, required: true}
    fields:
      line_no: {source: LIN.1082, type: integer, required: true}
      qty:     {source: "QTY[21].C186.6060", type: decimal, required: true, min: 0}
    target: {folder: outbox/orders, format: json, name: "{stem}.json"}
"""

LINES = ("LIN+1++4000862141404:EN'QTY+21:abc'"  # 'abc' is not a number
         "LIN+2++4000862141404:EN'QTY+21:5'"
         "LIN+3++4000862141404:EN'")  # no QTY at all


def order(lines: str = LINES) -> str:
    body = "BGM+220+PO1+9'DTM+137:20240101:102'" + lines + "UNS+S'"
    count = body.count("'") + 2
    return ("UNA:+.? 'UNB+UNOC:3+5412345000013:14+4012345000009:14+240101:1200+REF1'"
            f"UNH+1+ORDERS:D:96A:UN'{body}UNT+{count}+1'UNZ+1+REF1'")


def run(project: ProjectDir, text: str, *, aperak: bool = True) -> tuple[Outcome, list[Path]]:
    project.route("orders", ROUTE % ("true" if aperak else "false"))
    project.drop("orders", "o1.edi", text)
    [result] = project.run().results
    acks = sorted((project.root / "outbox" / "acks").glob("*"))
    return result.outcome, acks


def test_a_bad_field_is_answered_by_an_aperak_naming_its_segment_and_element(
        project: ProjectDir) -> None:
    outcome, acks = run(project, order())
    assert outcome == Outcome.QUARANTINED
    assert [p.name for p in acks] == ["1-APERAK_5412345000013_REF1.edi",
                                      "1-CONTRL_5412345000013_REF1.edi"]
    text = acks[0].read_text(encoding="latin-1")
    # from us to the partner, about their message 1, order PO1
    assert "UNB+UNOC:3+4012345000009:14+5412345000013:14+" in text
    assert "UNH+1+APERAK:D:96A:UN'" in text and "BGM+313+" in text
    assert "RFF+ACW:1'" in text and "RFF+ON:PO1'" in text
    assert "NAD+MS+4012345000009::9'" in text and "NAD+MR+5412345000013::9'" in text
    [ack] = read_acks(acks[0], standard="edifact")
    assert ack.verdict == "rejected"
    assert ack.errors == [
        "application error 12: segment 5 (QTY), element 1:2, field qty: 'abc' is not a"
        " number",
        "application error 13: no QTY[21] (element 1:2) in the LIN group at segment 8, field"
        " qty: a value is required",
    ]


def test_the_aperak_follows_the_d96a_structure(project: ProjectDir) -> None:
    _, acks = run(project, order())
    stream = SegmentStream(acks[0])
    [msg] = list(iter_messages(stream))
    result = StructureValidator().check(msg, stream.locator.byte_of)
    assert result.directory == "D96A" and not result.skipped
    # segment order, groups, repeats, elements, lengths: clean. D96A's code list 1001 has no
    # code for an APERAK; 313 (message acknowledgement) is the one later directories and
    # partners' guides use, and the only finding.
    assert [(v.rule, v.field_path(), v.value) for v in result.violations] == [
        ("code_list", "BGM.1.1", "313")]


def test_a_long_error_is_cut_between_words_into_70_character_components(
        project: ProjectDir) -> None:
    long_gtin = "LIN+1++4000862141404:EN'QTY+21:" + "9" * 40 + "x'"
    _, acks = run(project, order(long_gtin))
    stream = SegmentStream(acks[0])
    [msg] = list(iter_messages(stream))
    [ftx] = [s for s in msg.segments() if s[0] == "FTX"]
    parts = ftx[4] if isinstance(ftx[4], list) else [ftx[4]]
    assert len(parts) > 1 and all(len(p) <= 70 for p in parts)
    assert [v.field_path() for v in StructureValidator().check(msg).violations] == ["BGM.1.1"]


def test_without_the_option_only_the_contrl_answers(project: ProjectDir) -> None:
    _, acks = run(project, order(), aperak=False)
    assert [p.name for p in acks] == ["1-CONTRL_5412345000013_REF1.edi"]


def test_a_clean_order_gets_no_aperak(project: ProjectDir) -> None:
    outcome, acks = run(project, order("LIN+1++4000862141404:EN'QTY+21:5'"))
    assert outcome == Outcome.DELIVERED
    assert [p.name for p in acks] == ["1-CONTRL_5412345000013_REF1.edi"]


def test_an_envelope_error_is_the_contrls_alone(project: ProjectDir) -> None:
    """A wrong UNT count is a syntax error, not an application error: no APERAK."""
    outcome, acks = run(project, order().replace("UNT+", "UNT+9"))
    assert outcome == Outcome.QUARANTINED
    assert [p.name for p in acks] == ["1-CONTRL_5412345000013_REF1.edi"]


def test_a_message_split_out_of_a_delivered_file_is_answered_alone(project: ProjectDir) -> None:
    """on_invalid: split delivers the good message; the APERAK names only the bad one (the
    errors themselves are in the split-out file's reason file)."""
    spec = (ROUTE % "true").replace("  messages: [ORDERS]",
                                    "  messages: [ORDERS]\n      isolate_messages: true")
    project.route("orders", spec.replace("    target:", "    on_invalid: split\n    target:"))
    bad = "UNH+1+ORDERS:D:96A:UN'BGM+220+PO1+9'LIN+1++4000862141404:EN'QTY+21:abc'UNT+5+1'"
    good = "UNH+2+ORDERS:D:96A:UN'BGM+220+PO2+9'LIN+1++4000862141404:EN'QTY+21:5'UNT+5+2'"
    project.drop("orders", "o1.edi", "UNA:+.? 'UNB+UNOC:3+5412345000013:14+4012345000009:14"
                 f"+240101:1200+REF1'{bad}{good}UNZ+2+REF1'")
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED and result.split_out == 1
    aperak = project.root / "outbox" / "acks" / "1-APERAK_5412345000013_REF1.edi"
    [ack] = read_acks(aperak, standard="edifact")
    assert ack.references == ["1", "PO1"]  # message 1 only, order PO1
    assert ack.errors == ["application error 12: message 1 (ORDERS): its records failed the"
                          " receiver's checks and were not accepted"]
