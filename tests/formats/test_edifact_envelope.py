"""EDIFACT envelopes (issue 13): the service segments' own rules per syntax version, with
their CONTRL syntax error codes, and control references repeated inside one file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelane.checking import Checked, checked_batches
from tradelane.formats.edi_errors import DuplicateControlReference, RepeatedInterchange
from tradelane.formats.edifact import EdifactReader
from tradelane.formats.edifact_envelope import iter_messages
from tradelane.formats.edifact_service import EdifactServiceError, check, fast
from tradelane.formats.edifact_syntax import Delimiters, SegmentStream
from tradelane.models import Document
from tradelane.spec import RouteSpec

UNB3 = "UNB+UNOA:3+SENDER:14+RECEIVER:14+240101:1200+REF1'"
UNB4 = "UNB+UNOA:4+SENDER:14+RECEIVER:14+20240101:1200+REF1'"
MSG = "UNH+{ref}+ORDERS:D:96A:UN'BGM+220+PO-{ref}+9'LIN+1'UNT+4+{ref}'"
GROUP = "UNG+ORDERS+SENDER+RECEIVER+240101:1200+{ref}+UN+D:96A'"


def route(**fmt: object) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "r", "source": {"folder": "in"}, "target": {"folder": "out"},
        "format": {"type": "edifact", "records": "LIN", **fmt},
        "fields": {"line": {"source": "LIN.1"}}, "header": {"po": {"source": "BGM.2"}}})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "in.edi"
    path.write_bytes(text.encode("latin-1"))
    return path


def refuse(tmp_path: Path, text: str, kind: type[Exception] = EdifactServiceError) -> object:
    with pytest.raises(kind) as info:
        list(iter_messages(SegmentStream(write(tmp_path, text))))
    return info.value


def interchange(*messages: str, unb: str = UNB3, count: int | None = None) -> str:
    n = len(messages) if count is None else count
    return unb + "".join(messages) + f"UNZ+{n}+REF1'"


# -- the service segments' own rules ---------------------------------------------------------

# (what, interchange text, (tag, data element, 0085 code, element, component, segment))
RULES = {
    "empty UNG 0038": (interchange(GROUP.format(ref="G1").replace("UNG+ORDERS", "UNG+"),
                                   MSG.format(ref="1"), "UNE+1+G1'", count=1),
                       ("UNG", "0038", "13", 1, None, 2)),
    "empty UNG 0051": (interchange(GROUP.format(ref="G1").replace("+UN+", "++"),
                                   MSG.format(ref="1"), "UNE+1+G1'", count=1),
                       ("UNG", "0051", "13", 6, None, 2)),
    "UNH 0062 over 14": (interchange(MSG.format(ref="M" * 15)),
                         ("UNH", "0062", "39", 1, None, 2)),
    "UNB date too short": (interchange(MSG.format(ref="1"), unb=UNB3.replace("240101",
                                                                             "24011")),
                           ("UNB", "0017", "40", 4, 1, 1)),
    "syntax 4 date is CCYYMMDD": (interchange(MSG.format(ref="1"),
                                              unb=UNB4.replace("20240101", "240101")),
                                  ("UNB", "0017", "40", 4, 1, 1)),
    "letters in a time": (interchange(MSG.format(ref="1"), unb=UNB3.replace("1200", "12h0")),
                          ("UNB", "0019", "37", 4, 2, 1)),
    "a plain syntax 3 interchange passes": (interchange(MSG.format(ref="1")), None),
    "too many UNB elements": (interchange(MSG.format(ref="1"),
                                          unb=UNB3[:-1] + "+++++++X'"),
                              ("UNB", "", "16", 12, None, 1)),
    "too many S009 components": (interchange(MSG.format(ref="1").replace(
        "ORDERS:D:96A:UN", "ORDERS:D:96A:UN:EAN008:X")), ("UNH", "S009", "16", 2, 6, 2)),
    "UNT count with a decimal mark": (interchange(MSG.format(ref="1").replace(
        "UNT+4", "UNT+,4")), ("UNT", "0074", "38", 1, None, 5)),
    "UNZ without reference": (UNB3 + MSG.format(ref="1") + "UNZ+1'",
                              ("UNZ", "0020", "13", 2, None, 6)),
    "UNH repeated element (syntax 4)": (interchange(MSG.format(ref="1").replace(
        "UNH+1", "UNH+1*2"), unb=UNB4), ("UNH", "0062", "35", 1, None, 2)),
    "syntax 4 UNG may leave 0038 empty": (interchange(
        GROUP.format(ref="G1").replace("UNG+ORDERS", "UNG+").replace("240101", "20240101"),
        MSG.format(ref="1"), "UNE+1+G1'", unb=UNB4, count=1), None),
}


@pytest.mark.parametrize(("text", "expected"), RULES.values(), ids=RULES.keys())
def test_service_segment_rules(tmp_path: Path, text: str, expected: tuple | None) -> None:
    if expected is None:
        assert len(list(iter_messages(SegmentStream(write(tmp_path, text))))) == 1
        return
    err = refuse(tmp_path, text)
    assert (err.tag, err.data_element, err.code, err.position, err.component,
            err.segment_index) == expected
    offsets = [0]
    for part in text.split("'")[:-1]:
        offsets.append(offsets[-1] + len(part) + 1)
    assert err.byte_offset == offsets[expected[-1] - 1]
    assert err.rule == "service_element" and f"syntax error {expected[2]}" in str(err)


def test_a_bad_unh_is_split_out_under_isolation(tmp_path: Path) -> None:
    text = interchange(MSG.format(ref="1"), MSG.format(ref="M" * 15), MSG.format(ref="3"))
    [doc] = EdifactReader().read(write(tmp_path, text), route(isolate_messages=True))
    assert doc.header["po"].to_pylist() == ["PO-1", "PO-3"]
    [failed] = doc.failed
    assert isinstance(failed.message.error, EdifactServiceError)
    assert failed.issue.location.startswith(f"message 2 ({'M' * 15}), segment 6")


def test_what_the_fast_rule_accepts_the_detailed_check_accepts() -> None:
    """The one-regex fast path never lets through what the detailed check refuses."""
    d = Delimiters()

    @settings(max_examples=400, deadline=None, derandomize=True)
    @given(tag=st.sampled_from(["UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"]),
           version=st.sampled_from(["3", "4"]),
           parts=st.lists(st.lists(st.text("A1:.,*-", max_size=16), min_size=1,
                                   max_size=5), min_size=1, max_size=12))
    def agree(tag: str, version: str, parts: list[list[str]]) -> None:
        text = tag + "".join("+" + ":".join(p) for p in parts)
        if fast(tag, version, d).fullmatch(text):
            elements = [tag] + [p if len(p) > 1 else p[0] for p in parts]
            assert check(tag, elements, version) is None, text

    agree()


def test_the_fast_rule_accepts_usual_segments() -> None:
    d = Delimiters()
    assert fast("UNB", "3", d).fullmatch(UNB3[:-1])
    assert fast("UNB", "4", d).fullmatch(UNB4[:-1])
    assert fast("UNH", "3", d).fullmatch("UNH+1+ORDERS:D:96A:UN:EAN008")
    assert fast("UNH", "4", d).fullmatch("UNH+1+INVOIC:D:14B:UN::16B")  # 0110 in syntax 4
    assert not fast("UNH", "3", d).fullmatch("UNH+1+INVOIC:D:14B:UN::16B")


# -- control references repeated in one file ----------------------------------------------------

def test_a_repeated_message_reference_is_refused_with_both_places(tmp_path: Path) -> None:
    text = interchange(MSG.format(ref="7"), MSG.format(ref="8"), MSG.format(ref="7"))
    err = refuse(tmp_path, text, DuplicateControlReference)
    assert (err.element, err.reference, err.first_segment, err.segment_index) == (
        "UNH 0062", "7", 2, 10)
    assert err.byte_offset == len(UNB3) + 2 * len(MSG.format(ref="7"))
    assert "UNH 0062 '7' repeats the one at segment 2" in str(err)


def test_under_isolation_only_the_repeated_message_is_split_out(tmp_path: Path) -> None:
    text = interchange(MSG.format(ref="7"), MSG.format(ref="8"), MSG.format(ref="7"))
    [doc] = EdifactReader().read(write(tmp_path, text), route(isolate_messages=True))
    assert doc.header["po"].to_pylist() == ["PO-7", "PO-8"]
    [failed] = doc.failed
    assert failed.message.number == 3
    assert isinstance(failed.message.error, DuplicateControlReference)


def test_message_references_are_unique_per_interchange_only(tmp_path: Path) -> None:
    second = interchange(MSG.format(ref="1")).replace("REF1", "REF2")
    path = write(tmp_path, interchange(MSG.format(ref="1")) + second)
    assert [m.reference for m in iter_messages(SegmentStream(path))] == ["1", "1"]


def test_a_repeated_group_reference_is_refused(tmp_path: Path) -> None:
    group = GROUP.format(ref="G1") + MSG.format(ref="{ref}") + "UNE+1+G1'"
    text = interchange(group.format(ref="1"), group.format(ref="2"))
    err = refuse(tmp_path, text, DuplicateControlReference)
    assert (err.element, err.reference, err.first_segment, err.segment_index) == (
        "UNG 0048", "G1", 2, 8)
    [doc] = EdifactReader().read(write(tmp_path, text), route(isolate_messages=True))
    assert doc.header["po"].to_pylist() == ["PO-1"]
    assert [f.message.reference for f in doc.failed] == ["2"]


def test_the_same_interchange_twice_is_refused(tmp_path: Path) -> None:
    one = interchange(MSG.format(ref="1"))
    err = refuse(tmp_path, one + "\n" + one, DuplicateControlReference)
    assert (err.element, err.reference, err.first_segment, err.segment_index) == (
        "UNB 0020", "REF1", 1, 7)
    assert err.byte_offset == len(one) + 1


def test_under_isolation_the_repeated_interchange_is_split_out_whole(tmp_path: Path) -> None:
    one = interchange(MSG.format(ref="1"), MSG.format(ref="2").replace("LIN+1'", "")
                      .replace("UNT+4", "UNT+3"))  # message 2 has no records
    docs = list(EdifactReader().read(write(tmp_path, one + one), route(isolate_messages=True)))
    assert [d.records.num_rows for d in docs] == [1, 0]
    assert [f.message.number for f in docs[1].failed] == [3, 4]  # both, records or not
    assert docs[0].interchange == docs[1].interchange
    assert (docs[0].interchange_segment, docs[1].interchange_segment) == (1, 10)


def test_another_sender_may_use_the_same_reference(tmp_path: Path) -> None:
    one = interchange(MSG.format(ref="1"))
    other = one.replace("SENDER:14", "OTHER:14")
    assert len(list(iter_messages(SegmentStream(write(tmp_path, one + other))))) == 2


def test_an_empty_repeated_interchange_is_refused_even_under_isolation(tmp_path: Path) -> None:
    empty = UNB3 + "UNZ+0+REF1'"
    path = write(tmp_path, interchange(MSG.format(ref="1")) + empty)
    with pytest.raises(DuplicateControlReference):
        list(EdifactReader().read(path, route(isolate_messages=True)))


# -- checking: an interchange met twice after reading ------------------------------------------

def doc(key: tuple[str, str, str], segment: int | None, rows: int) -> Document:
    return Document(header={}, records=pa.table({"line": pa.array(["1"] * rows)}),
                    interchange=key, interchange_segment=segment, unit_refs=("M",) * rows)


CHECK_ROUTE = RouteSpec.model_validate({
    "name": "r", "source": {"folder": "in"}, "target": {"folder": "out"},
    "format": {"type": "csv"}, "fields": {"line": {}}})


def run_checks(docs: list[Document]) -> tuple[list[Document], list, Checked]:
    taken: list = []
    checked = Checked()
    out = list(checked_batches(docs, CHECK_ROUTE, checked, limit=10,
                               on_interchange=taken.append))
    return out, taken, checked


def test_checking_takes_each_interchange_once_over_its_batches() -> None:
    a, b = ("S", "R", "1"), ("S", "R", "2")
    out, taken, checked = run_checks([doc(a, 1, 2), doc(a, 1, 1), doc(b, 9, 1)])
    assert len(out) == 3 and taken == [a, b]
    assert checked.controls() == ("interchange 1 from S to R: 3 messages (M, M, M);"
                                  " interchange 2 from S to R: 1 message (M)")


def test_checking_refuses_an_interchange_repeated_in_the_file() -> None:
    a = ("S", "R", "1")
    with pytest.raises(RepeatedInterchange) as info:
        run_checks([doc(a, 1, 2), doc(a, 9, 1)])  # back to back, told apart by the segment
    err = info.value
    assert (err.reference, err.first_segment, err.segment_index) == ("1", 1, 9)
    assert str(err).startswith("interchange from S to R '1' repeats the one at segment 1")


def test_checking_without_segments_still_sees_a_repeat_after_another() -> None:
    a, b = ("S", "R", "1"), ("S", "R", "2")
    with pytest.raises(RepeatedInterchange):
        run_checks([doc(a, None, 1), doc(b, None, 1), doc(a, None, 1)])


def test_checking_lets_a_repeat_the_reader_split_out_pass() -> None:
    a = ("S", "R", "1")
    out, taken, _ = run_checks([doc(a, 1, 1), doc(a, 9, 0)])
    assert taken == [a] and [d.records.num_rows for d in out] == [1, 0]
    assert np.array_equal(out[0].numbers, [0])


def test_the_history_of_a_big_interchange_stays_short() -> None:
    a = ("S", "R", "1")
    batches = [Document(header={}, records=pa.table({"line": pa.array(["1"] * 10)}),
                        interchange=a, interchange_segment=1,
                        unit_refs=tuple(str(n) for n in range(k * 10 + 1, k * 10 + 11)))
               for k in range(3)]
    _, _, checked = run_checks(batches)
    assert checked.controls() == "interchange 1 from S to R: 30 messages (1, 2, 3 … 30)"


def test_message_references_are_remembered_compactly_and_exactly() -> None:
    """Increasing numbers are kept as runs; whatever the order, a repeat is a repeat and
    nothing else is (checked against a plain set)."""
    from tradelane.formats.edifact_envelope import _References

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.lists(st.one_of(st.integers(0, 40).map(str), st.sampled_from(
        ["01", "007", "M1", "M2", "0", "00"])), max_size=60))
    def agree(refs: list[str]) -> None:
        seen: set[str] = set()
        memory = _References()
        for ref in refs:
            assert memory.repeats(ref) == (ref in seen), (refs, ref)
            seen.add(ref)

    agree()
    memory = _References()
    assert not any(memory.repeats(str(n)) for n in range(1, 100_001))
    assert (memory.starts, memory.ends, memory.others) == ([1], [100_000], set())
