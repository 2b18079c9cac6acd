"""Group-aware EDIFACT mapping (issue 14): records are instances of a segment group, and a
record's field is read in its own group instance, then the enclosing ones, then the message.

The case that went wrong before: a DESADV's lines (LIN, SG15 in D96A) sit in packaging levels
(CPS, SG10) whose label (PAC/PCI/GIN) comes before them. Cut tag to tag, pallet 0017's last
line took pallet 0024's SSCC and its first line none at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.project import ProjectDir
from tradelane.errors import ConfigError, RejectError
from tradelane.formats.edifact import EdifactReader
from tradelane.formats.edifact_envelope import iter_messages
from tradelane.formats.edifact_map import MessagePlan
from tradelane.formats.edifact_syntax import SegmentStream
from tradelane.spec import RouteSpec
from tradelane.staging import Staged

SSCC_17, SSCC_24 = "354123450000000017", "354123450000000024"


def pallet(cps: int, sscc: str, *lines: tuple[Any, ...], labels: str = "") -> str:
    """A packaging level: its label, then its lines (number, GTIN, quantity[, segments])."""
    body = "".join(f"LIN+{n}++{gtin}:EN'QTY+12:{qty}'{''.join(more)}"
                   for n, gtin, qty, *more in lines)
    return f"CPS+{cps}+1'PAC+1++201'PCI+17'GIN+BJ+{sscc}'{labels}{body}"


def desadv(*pallets: str, ref: str = "1", directory: str = "D:96A") -> str:
    body = ("BGM+351+DES-88017+9'DTM+137:20261125:102'RFF+ON:PO-77001'"
            "NAD+SU+4012345000009::9'CPS+1'" + "".join(pallets) + "CNT+2:4'")
    count = body.count("'") + 2
    return f"UNH+{ref}+DESADV:{directory}:UN'{body}UNT+{count}+{ref}'"


def interchange(*messages: str) -> str:
    return ("UNA:+.? 'UNB+UNOC:3+4012345000009:14+5412345000013:14+261125:0930+DES1'"
            + "".join(messages) + f"UNZ+{len(messages)}+DES1'")


TWO_PALLETS = interchange(desadv(
    pallet(2, SSCC_17, (1, "4006381333931", 24), (2, "4006381333948", 12)),
    pallet(3, SSCC_24, (3, "4006381333955", 6), (4, "4006381333962", 30))))


def route(fields: dict[str, Any], *, records: str = "LIN", directory: str | None = "D96A",
          header: dict[str, Any] | None = None) -> RouteSpec:
    fmt: dict[str, Any] = {"type": "edifact", "records": records, "messages": ["DESADV"]}
    if directory:
        fmt["directory"] = directory
    return RouteSpec.model_validate({
        "name": "desadv", "source": {"folder": "in"}, "target": {"folder": "out"},
        "format": fmt, "header": header or {}, "fields": fields})


def read(tmp_path: Path, text: str, spec: RouteSpec) -> dict[str, list[Any]]:
    path = tmp_path / "in.edi"
    path.write_text(text, encoding="latin-1")
    docs = list(EdifactReader().read(Staged.file(path), spec))
    out: dict[str, list[Any]] = {}
    for doc in docs:
        for name in doc.records.column_names:
            out.setdefault(name, []).extend(doc.records[name].to_pylist())
        for name, values in doc.header.items():
            out.setdefault(name, []).extend(values.to_pylist())
    return out


LINE = {"line": {"source": "LIN.1082"}, "sscc": {"source": "GIN[BJ].C208.7402",
                                                  "take": "first"}}


# -- each line, its own pallet ------------------------------------------------------------------


@pytest.mark.parametrize("directory", ["D96A", None])  # the route's, or the one UNH names
def test_each_line_gets_the_sscc_of_its_own_pallet(tmp_path: Path,
                                                   directory: str | None) -> None:
    # without a directory, codes are known only for common segments: GIN by position
    line = LINE if directory else {**LINE, "sscc": {"source": "GIN[BJ].2.1", "take": "first"}}
    rows = read(tmp_path, TWO_PALLETS, route(line, directory=directory))
    assert rows["line"] == ["1", "2", "3", "4"]
    assert rows["sscc"] == [SSCC_17, SSCC_17, SSCC_24, SSCC_24]


def test_records_by_group_name_and_by_trigger_give_the_same_rows(tmp_path: Path) -> None:
    fields = {**LINE, "qty": {"source": "QTY[12].C186.6060", "take": "first"},
              "pallet": {"source": "CPS.7164"}}
    by_tag = read(tmp_path, TWO_PALLETS, route(fields, records="LIN"))
    by_group = read(tmp_path, TWO_PALLETS, route(fields, records="SG15"))
    assert by_tag == by_group
    assert by_group["qty"] == ["24", "12", "6", "30"]
    assert by_group["pallet"] == ["2", "2", "3", "3"]


#: line 3 carries a GIN of its own
OWN_GIN = interchange(desadv(
    pallet(2, SSCC_17, (1, "4006381333931", 24), (2, "4006381333948", 12)),
    pallet(3, SSCC_24, (3, "4006381333955", 6, "GIN+BJ+354123450000000099'"),
           (4, "4006381333962", 30))))


def test_a_line_s_own_value_comes_before_its_pallet_s(tmp_path: Path) -> None:
    rows = read(tmp_path, OWN_GIN, route(LINE))
    assert rows["sscc"] == [SSCC_17, SSCC_17, "354123450000000099", SSCC_24]


def test_a_group_in_the_path_reads_that_level_alone(tmp_path: Path) -> None:
    """SG15/... is the line's own group: no fall back; SG10/... the pallet's level alone."""
    rows = read(tmp_path, OWN_GIN, route({
        "own": {"source": "SG15/GIN[BJ].C208.7402"},
        "pallet": {"source": "SG10/GIN[BJ].C208.7402", "take": "first"},
        "by_trigger": {"source": "CPS/GIN[BJ].2.1", "take": "first"}}))
    assert rows["own"] == [None, None, "354123450000000099", None]
    assert rows["pallet"] == rows["by_trigger"] == [SSCC_17, SSCC_17, SSCC_24, SSCC_24]


def test_a_record_field_falls_back_to_the_message(tmp_path: Path) -> None:
    rows = read(tmp_path, TWO_PALLETS, route({
        "line": {"source": "LIN.1082"}, "despatch": {"source": "BGM.1004"},
        "order": {"source": "RFF[ON].C506.1154"}}))
    assert rows["despatch"] == ["DES-88017"] * 4
    assert rows["order"] == ["PO-77001"] * 4


# -- take -------------------------------------------------------------------------------------

TWO_LABELS = interchange(desadv(
    pallet(2, SSCC_17, (1, "4006381333931", 24), labels="GIN+BJ+354123450000000031'"),
    pallet(3, SSCC_24, (2, "4006381333955", 6))))


@pytest.mark.parametrize(("take", "first_pallet"), [
    ("first", SSCC_17), ("last", "354123450000000031"),
    ("all", f"{SSCC_17}|354123450000000031")])
def test_take_says_which_of_several_values(tmp_path: Path, take: str,
                                           first_pallet: str) -> None:
    rows = read(tmp_path, TWO_LABELS, route({"sscc": {"source": "GIN[BJ].C208.7402",
                                                      "take": take, "separator": "|"}}))
    assert rows["sscc"] == [first_pallet, SSCC_24]


# -- the columnar path against the reference -----------------------------------------------


@pytest.mark.parametrize("text", [TWO_PALLETS, TWO_LABELS, interchange(
    desadv(pallet(2, SSCC_17, (1, "1", 1)), ref="1"),
    desadv(pallet(5, SSCC_24, (1, "2", 2), (2, "3", 3)), ref="2"),
    "UNH+3+DESADV:D:99Z:UN'BGM+351+X+9'LIN+1++4:EN'GIN+BJ+9'GIN+BJ+8'UNT+6+3'")])
@pytest.mark.parametrize("take", ["first", "last", "all"])
def test_columnar_mapping_matches_the_segment_by_segment_reference(tmp_path: Path, text: str,
                                                                   take: str) -> None:
    path = tmp_path / "in.edi"
    path.write_text(text, encoding="latin-1")
    msgs = list(iter_messages(SegmentStream(path)))
    spec = route({"line": {"source": "LIN.1082"},
                  "sscc": {"source": "GIN[BJ].2.1", "take": take},
                  "qty": {"source": "QTY.1.2", "take": take},
                  "pallet": {"source": "CPS.1"}},
                 directory=None, header={"doc": {"source": "BGM.2"}})
    plan = MessagePlan(spec)
    fast, slow = plan.map_fast(msgs), plan.map_slow(msgs)
    assert fast.starts.tolist() == slow.starts.tolist()
    for name in spec.fields:
        assert fast.columns[name].to_pylist() == slow.columns[name].to_pylist(), name
    assert fast.header["doc"].to_pylist() == slow.header["doc"].to_pylist()


def test_a_message_of_an_unknown_directory_is_cut_tag_to_tag(tmp_path: Path) -> None:
    text = interchange("UNH+1+DESADV:D:99Z:UN'BGM+351+X+9'LIN+1++4:EN'GIN+BJ+9'GIN+BJ+8'"
                       "LIN+2++5:EN'UNT+7+1'")
    rows = read(tmp_path, text, route({"line": {"source": "LIN.1082"},
                                       "sscc": {"source": "GIN[BJ].2.1"},
                                       "all": {"source": "GIN[BJ].2.1", "take": "all"}},
                                      directory=None))
    assert rows["line"] == ["1", "2"]
    assert rows["sscc"] == ["9", None]
    assert rows["all"] == ["9,8", None]


# -- what check refuses ----------------------------------------------------------------------


def problems(project: ProjectDir, fmt: str, fields: str) -> str:
    project.route("desadv", f"""
source: {{folder: inbox/desadv}}
format: {fmt}
fields:
{fields}
target: {{folder: outbox/desadv, format: json}}
""")
    with pytest.raises(ConfigError) as caught:
        project.load()
    return "\n".join(caught.value.problems)


D96A = "{type: edifact, records: LIN, messages: [DESADV], directory: D96A}"


def test_check_refuses_a_path_that_may_match_several_segments(project: ProjectDir) -> None:
    text = problems(project, D96A, "  sscc: {source: 'GIN[BJ].C208.7402'}")
    assert ("fields.sscc.source: 'GIN[BJ].C208.7402' may match several GIN segments for a"
            " record without one of its own, read in its SG10 (CPS) in DESADV") in text, text
    assert "SG11 (PAC, up to 9,999), SG13 (PCI, up to 1,000)" in text, text
    assert "say which with take: first, last or all" in text


def test_check_accepts_the_same_path_with_take(project: ProjectDir) -> None:
    project.route("desadv", f"""
source: {{folder: inbox/desadv}}
format: {D96A}
fields:
  sscc: {{source: 'GIN[BJ].C208.7402', take: first}}
  line: {{source: LIN.1082}}
  qty: {{source: 'SG15/QTY[12].C186.6060'}}
target: {{folder: outbox/desadv, format: json}}
""")
    project.load()  # no ConfigError


@pytest.mark.parametrize(("source", "why"), [
    ("GNI[BJ].1", "GNI is not a segment of DESADV in D96A; did you mean GIR, GIN?"),
    ("GIN[BJ].C280.7402", "C280 is not an element of GIN; did you mean C208?"),
    ("GIN[BJ].C208.7420", "7420 is not a component of C208; did you mean 7402"),
    ("SG99/GIN[BJ].2.1", "names the group SG99, which is neither format.records (LIN) nor a"
                         " group around it"),
])
def test_check_refuses_unknown_codes_with_did_you_mean(project: ProjectDir, source: str,
                                                       why: str) -> None:
    text = problems(project, D96A, f"  x: {{source: '{source}', take: first}}")
    assert f"fields.x.source: '{source}'" in text and why in text, text


@pytest.mark.parametrize(("fmt", "why"), [
    ("{type: edifact, records: SG99, messages: [DESADV], directory: D96A}",
     "format.records: SG99 is not a segment group of DESADV in D96A (groups: SG1 (RFF)"),
    ("{type: edifact, records: SG15, messages: [DESADV]}",
     "format.records: SG15 is numbered by a directory: name format.directory and"
     " format.messages too"),
    ("{type: edifact, records: PCI, messages: [DESADV], directory: D96A}",
     "format.records: PCI starts several groups of DESADV in D96A (SG13, SG20); name the"
     " group instead"),
])
def test_check_refuses_records_that_name_no_group(project: ProjectDir, fmt: str,
                                                  why: str) -> None:
    assert why in problems(project, fmt, "  line: {source: LIN.1082}")


def test_names_and_positions_read_the_same_values(tmp_path: Path) -> None:
    rows = read(tmp_path, TWO_PALLETS, route({
        "by_name": {"source": "GIN[BJ].C208.7402", "take": "first"},
        "by_position": {"source": "GIN[BJ].2.1", "take": "first"}},
        header={"su_name": {"source": "NAD[SU].C082.3039"}, "su_pos": {"source": "NAD[SU].2.1"}}))
    assert rows["by_name"] == rows["by_position"] == [SSCC_17, SSCC_17, SSCC_24, SSCC_24]
    assert rows["su_name"] == rows["su_pos"] == ["4012345000009"] * 4


# -- the walk, record by record ------------------------------------------------------------


def test_the_walk_by_records_places_segments_as_the_validator_does(tmp_path: Path) -> None:
    """Misplaced and unknown segments included: every message of the shipped samples and of
    the cases above, against ``StructureMachine.run``."""
    from tradelane.edi.groups import machine, message_directory, plan_for

    texts = [TWO_PALLETS, TWO_LABELS, OWN_GIN, interchange(desadv(
        "CPS+2+1'LIN+1++1:EN'PAC+1++201'BOGUS+1'QTY+12:1'CPS+3+1'GIN+BJ+1'LIN+2++2:EN'"))]
    files = sorted((Path(__file__).parents[1] / "data" / "edifact").iterdir())
    compared = 0
    for k, text in enumerate(texts):
        files.append(tmp_path / f"{k}.edi")
        files[-1].write_text(text, encoding="latin-1")
    for path in files:
        try:
            msgs = list(iter_messages(SegmentStream(path), isolate=True))
        except RejectError:  # samples the envelope refuses: nothing to walk
            continue
        for msg in msgs:
            directory = message_directory(msg)
            for records in ("LIN", None):
                try:
                    plan = plan_for(directory, msg.type, records)
                except ConfigError:
                    continue  # LIN starts no group of this message type
                if plan is None:
                    continue
                expected, _ = machine(directory, msg.type).run(msg.block.tags)
                assert plan.shape(msg.block.tags).tolist() == list(expected), path.name
                compared += 1
    assert compared >= 20
