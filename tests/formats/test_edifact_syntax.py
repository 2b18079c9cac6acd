"""EDIFACT syntax (issue 13): repetitions, decimal marks, concatenated interchanges, and the
control references a record can name. Each behaviour accepted and refused, with its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelane.errors import ConfigError
from tradelane.formats.edi_errors import (
    BadServiceStringAdvice,
    MissingTrailer,
    SegmentCountMismatch,
    UnexpectedSegment,
)
from tradelane.formats.edifact import EdifactReader
from tradelane.formats.edifact_envelope import iter_messages
from tradelane.formats.edifact_map import MessagePlan
from tradelane.formats.edifact_paths import compile_path
from tradelane.formats.edifact_service import EdifactServiceError
from tradelane.formats.edifact_syntax import Repeated, SegmentStream, slow_elements
from tradelane.spec import RouteSpec
from tradelane.validate import validate

V4 = "UNB+UNOA:4+SENDER:14+RECEIVER:14+20240101:1200+REF1'"
COM = ("UNH+M1+ORDERS:D:03B:UN'BGM+220+PO-1+9'CTA+IC+:JOHN'COM+s11:AA*s21:BB'"
       "ATT+2++M*F'LIN+1'QTY+21:4,5'LIN+2'QTY+21:3.25'UNT+10+M1'")


def spec(fields: dict, header: dict | None = None, **fmt: object) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "r", "source": {"folder": "in"}, "target": {"folder": "out"},
        "format": {"type": "edifact", **fmt}, "header": header or {}, "fields": fields})


def write(tmp_path: Path, text: str | bytes, name: str = "in.edi") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1") if isinstance(text, str) else text)
    return path


def elements(path: Path, **kw: object) -> list[list]:
    return [b.elements(i) for b in SegmentStream(path, **kw) for i in range(len(b))]


def segment(path: Path, tag: str) -> list:
    return next(s for s in elements(path) if s[0] == tag)


# -- repetitions ------------------------------------------------------------------------------

def test_syntax_4_splits_repetitions_before_components(tmp_path: Path) -> None:
    path = write(tmp_path, V4 + COM + "UNZ+1+REF1'")
    com = segment(path, "COM")
    assert com == ["COM", [["s11", "AA"], ["s21", "BB"]]]
    assert isinstance(com[1], Repeated)
    assert segment(path, "ATT") == ["ATT", "2", "", ["M", "F"]]


def test_a_una_declares_the_repetition_separator_and_a_released_one_is_data(
        tmp_path: Path) -> None:
    text = ("UNA:+.?#'UNB+UNOA:4+S+R+20240101:1200+1'UNH+1+X:D:03B:UN'"
            "COM+a:b#c:d'FTX+AAI+++x?#y*z'UNT+4+1'UNZ+1+1'")
    path = write(tmp_path, text)
    assert segment(path, "COM") == ["COM", [["a", "b"], ["c", "d"]]]
    assert segment(path, "FTX") == ["FTX", "AAI", "", "", "x#y*z"]  # '*' is data here


def test_syntax_3_has_no_repetition_separator(tmp_path: Path) -> None:
    path = write(tmp_path, V4.replace("UNOA:4", "UNOA:3").replace("20240101", "240101")
                 + COM + "UNZ+1+REF1'")
    assert segment(path, "COM") == ["COM", ["s11", "AA*s21", "BB"]]


def test_trailing_empty_repetitions_are_dropped(tmp_path: Path) -> None:
    text = V4 + "UNH+1+X:D:03B:UN'COM+a*'ATT+1++b**c'UNT+4+1'UNZ+1+REF1'"
    path = write(tmp_path, text)
    assert segment(path, "COM") == ["COM", "a"]
    assert segment(path, "ATT") == ["ATT", "1", "", ["b", "", "c"]]


@pytest.mark.parametrize(("path", "value"), [
    ("COM.C076.3148", "s11"),  # no index: the first repetition
    ("COM.C076[1].3155", "AA"),
    ("COM.C076[2].3148", "s21"),
    ("COM.C076[2].3155", "BB"),
    ("COM.1[2].2", "BB"),  # positional
    ("COM.C076[3].3148", ""),  # not sent
    ("ATT.C956[2].9019", "F"),
    ("ATT.3[2]", "F"),
    ("CTA[IC].2.2", "JOHN"),
])
def test_paths_address_a_repetition(tmp_path: Path, path: str, value: str) -> None:
    route = spec({"v": {"source": path}})
    file = write(tmp_path, V4 + COM + "UNZ+1+REF1'")
    msgs = list(iter_messages(SegmentStream(file)))
    plan = MessagePlan(route)
    fast, slow = plan.map_fast(msgs), plan.map_slow(msgs)
    assert fast.columns["v"].to_pylist() == slow.columns["v"].to_pylist() == [value]


def test_a_qualifier_matches_the_first_repetition(tmp_path: Path) -> None:
    text = V4 + "UNH+1+X:D:03B:UN'RFF+ON*VN:9'RFF+VN:5'UNT+4+1'UNZ+1+REF1'"
    file = write(tmp_path, text)
    msgs = list(iter_messages(SegmentStream(file)))
    plan = MessagePlan(spec({"on": {"source": "RFF[ON].2"}, "vn": {"source": "RFF[VN].1.2"}}))
    for mapped in (plan.map_fast(msgs), plan.map_slow(msgs)):
        assert mapped.columns["on"].to_pylist() == [""]  # ON has no second element
        assert mapped.columns["vn"].to_pylist() == ["5"]  # the RFF that starts with VN


def test_repetition_index_counts_from_one() -> None:
    with pytest.raises(ConfigError, match="repetitions count from 1"):
        compile_path("ATT.C956[0].9019")


def test_the_fallback_tokenizer_splits_repetitions_too(tmp_path: Path) -> None:
    text = V4 + "UNH+1+X:D:03B:UN'FTX+AAI+++a?+\ufdd0b'COM+1:x*2:y'UNT+4+1'UNZ+1+REF1'"
    path = write(tmp_path, text.encode("utf-8").replace(b"UNOA", b"UNOW"))
    blocks = list(SegmentStream(path))
    assert blocks[0].parsed  # a placeholder character in the data
    assert blocks[0].elements(3) == ["COM", [["1", "x"], ["2", "y"]]]
    assert slow_elements(text.split("'", 1)[1], blocks[0].delims)[2] == blocks[0].elements(3)


def test_a_repeated_service_element_is_too_many_repetitions(tmp_path: Path) -> None:
    text = V4 + "UNH+M1*M2+ORDERS:D:03B:UN'UNT+2+M1'UNZ+1+REF1'"
    with pytest.raises(EdifactServiceError) as info:
        list(iter_messages(SegmentStream(write(tmp_path, text))))
    err = info.value
    assert (err.code, err.tag, err.position, err.segment_index) == ("35", "UNH", 1, 2)
    assert err.byte_offset == len(V4)


# -- decimal marks ----------------------------------------------------------------------------

def test_numbers_take_a_comma_or_a_full_stop_whatever_una_says(tmp_path: Path) -> None:
    route = spec({"qty": {"source": "QTY[21].1.2", "type": "decimal"},
                  "raw": {"source": "QTY[21].1.2"}}, records="LIN")
    for una in ("", "UNA:+.? '", "UNA:+,? '"):
        [doc] = EdifactReader().read(write(tmp_path, una + V4 + COM + "UNZ+1+REF1'"), route)
        assert doc.records["raw"].to_pylist() == ["4,5", "3.25"]  # strings stay as sent
        result = validate(doc, route)
        assert result.ok, result.issues
        assert result.document.records["qty"].to_pylist() == [4.5, 3.25]


def test_a_number_with_both_marks_is_not_a_number(tmp_path: Path) -> None:
    route = spec({"qty": {"source": "QTY[21].1.2", "type": "decimal"}}, records="LIN")
    text = V4 + COM.replace("QTY+21:4,5", "QTY+21:1,234.5") + "UNZ+1+REF1'"
    [doc] = EdifactReader().read(write(tmp_path, text), route)
    result = validate(doc, route)
    assert [(i.field, i.rule) for i in result.issues] == [("qty", "type")]
    assert result.issues[0].value == "1.234.5"
    assert result.issues[0].location.startswith("message 1, segment 7")


def test_header_numbers_take_a_comma_too(tmp_path: Path) -> None:
    route = spec({"bgm": {"source": "BGM.1"}},
                 header={"total": {"source": "MOA[86].1.2", "type": "decimal"}})
    text = V4 + "UNH+1+X:D:03B:UN'MOA+86:1234,56'UNT+3+1'UNZ+1+REF1'"
    [doc] = EdifactReader().read(write(tmp_path, text), route)
    assert validate(doc, route).document.header["total"].to_pylist() == [1234.56]


# -- several interchanges in one file ---------------------------------------------------------

TILDE = ("UNA=*,! ~UNB*UNOA=3*S2*R2*240101=1200*REF2~UNH*1*ORDERS=D=96A=UN~"
         "BGM*220*A!*B*9~QTY*21=7,5~UNT*4*1~UNZ*1*REF2~")
PLAIN = ("UNB+UNOA:3+S3+R3+240101:1200+REF3'UNH+1+ORDERS:D:96A:UN'BGM+220+C?+D+9'"
         "QTY+21:2'UNT+4+1'UNZ+1+REF3'")
FIRST = ("UNA:+.? '" + V4 + "UNH+1+ORDERS:D:03B:UN'BGM+220+PO-1+9'QTY+21:1'UNT+4+1'"
         "UNZ+1+REF1'")
ROUTE3 = spec({"qty": {"source": "QTY[21].1.2", "type": "decimal"}},
              header={"order": {"source": "BGM.2"}, "ic": {"source": "_interchange"}})


@pytest.mark.parametrize("chunk", [64, 1 << 20])
def test_each_interchange_may_bring_its_own_una(tmp_path: Path, chunk: int) -> None:
    path = write(tmp_path, FIRST + "\r\n" + TILDE + "\n  " + PLAIN + "\r\n")
    docs = list(EdifactReader().read(path, ROUTE3))
    assert [d.interchange for d in docs] == [("SENDER", "RECEIVER", "REF1"),
                                            ("S2", "R2", "REF2"), ("S3", "R3", "REF3")]
    assert [d.header["order"].to_pylist() for d in docs] == [["PO-1"], ["A*B"], ["C+D"]]
    assert [d.records["qty"].to_pylist() for d in docs] == [["1"], ["7.5"], ["2"]]
    # the service characters apply per interchange, in any chunking
    by_chunk = [s for b in SegmentStream(path, chunk_size=chunk) for s in
                (b.elements(i) for i in range(len(b)))]
    assert by_chunk == elements(path)
    assert [d.interchange_segment for d in docs] == [2, 9, 15]  # the UNA counts as one


def test_a_later_interchange_without_una_uses_the_defaults_of_its_version(
        tmp_path: Path) -> None:
    second = V4.replace("REF1", "REF9") + COM + "UNZ+1+REF9'"
    path = write(tmp_path, "UNA=*.? ~UNB*UNOA=3*S*R*240101=1200*1~UNZ*0*1~" + second)
    com = [s for s in elements(path) if s[0] == "COM"]
    assert com == [["COM", [["s11", "AA"], ["s21", "BB"]]]]  # syntax 4 without UNA: '*'


def test_errors_in_a_later_interchange_name_their_own_place(tmp_path: Path) -> None:
    bad = TILDE.replace("UNT*4*1", "UNT*5*1")
    text = FIRST + "\n" + bad
    with pytest.raises(SegmentCountMismatch) as info:
        list(iter_messages(SegmentStream(write(tmp_path, text))))
    err = info.value
    assert err.segment_index == 13  # UNA 1, 7 more, UNA 9, UNB 10 .. UNT 13
    assert err.byte_offset == len(FIRST + "\n") + bad.index("UNT")


def test_a_broken_una_of_a_later_interchange_is_refused_where_it_is(tmp_path: Path) -> None:
    text = FIRST + "UNA:+'" + PLAIN
    with pytest.raises(BadServiceStringAdvice) as info:
        list(iter_messages(SegmentStream(write(tmp_path, text))))
    assert info.value.segment_index == 8
    assert info.value.byte_offset == len(FIRST)


def test_a_una_inside_an_interchange_is_refused(tmp_path: Path) -> None:
    text = FIRST.replace("UNZ+1+REF1'", "UNA:+.? 'UNZ+1+REF1'")
    with pytest.raises(UnexpectedSegment) as info:
        list(iter_messages(SegmentStream(write(tmp_path, text))))
    assert info.value.segment_index == 7


def test_a_truncated_second_interchange_is_named(tmp_path: Path) -> None:
    text = FIRST + PLAIN.replace("UNZ+1+REF3'", "")
    with pytest.raises(MissingTrailer) as info:
        list(iter_messages(SegmentStream(write(tmp_path, text))))
    assert (info.value.trailer, info.value.reference) == ("UNZ", "REF3")
    assert info.value.byte_offset == len(FIRST)


def test_many_small_interchanges_read_in_linear_time(tmp_path: Path) -> None:
    one = ("UNB+UNOA:3+S+R+240101:1200+{n}'UNH+1+ORDERS:D:96A:UN'BGM+220+{n}+9'"
           "UNT+3+1'UNZ+1+{n}'\n")
    path = write(tmp_path, "".join(one.format(n=n) for n in range(3000)))
    docs = list(EdifactReader().read(path, ROUTE3))
    assert [d.header["order"].to_pylist()[0] for d in docs] == [str(n) for n in range(3000)]


# -- the record's link to its interchange, group and message ------------------------------------

def test_records_name_their_interchange_group_and_message(tmp_path: Path) -> None:
    text = ("UNB+UNOA:3+S+R+240101:1200+IC7'UNG+ORDERS+S+R+240101:1200+G1+UN+D:96A'"
            "UNH+M1+ORDERS:D:96A:UN'LIN+1'LIN+2'UNT+4+M1'UNH+M2+ORDERS:D:96A:UN'LIN+1'UNT+3+M2'"
            "UNE+2+G1'UNH+M3+ORDERS:D:96A:UN'LIN+1'UNT+3+M3'UNZ+2+IC7'")
    route = spec({"line": {"source": "LIN.1"}, "message": {"source": "_message"},
                  "_group": {}},
                 header={"interchange": {"source": "_interchange"}}, records="LIN")
    [doc] = EdifactReader().read(write(tmp_path, text), route)
    assert doc.records["message"].to_pylist() == ["M1", "M1", "M2", "M3"]
    assert doc.records["_group"].to_pylist() == ["G1", "G1", "G1", None]
    assert doc.header["interchange"].to_pylist() == ["IC7"] * 4
    assert doc.unit_refs == ("M1", "M2", "M3")


def test_links_of_a_batch_without_records(tmp_path: Path) -> None:
    route = spec({"line": {"source": "LIN.1"}, "m": {"source": "_message"}},
                 header={"i": {"source": "_interchange"}}, records="LIN")
    text = "UNB+UNOA:3+S+R+240101:1200+1'UNH+1+X:D:96A:UN'UNT+2+1'UNZ+1+1'"
    [doc] = EdifactReader().read(write(tmp_path, text), route)
    assert doc.records.column_names == ["line", "m"] and doc.records.num_rows == 0
    assert list(doc.header) == ["i"]
