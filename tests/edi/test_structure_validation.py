"""Structure validation against the UN/EDIFACT directories: one hand-written message per rule,
accepted as written, then broken one way, with the exact place and CONTRL code (0085)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tradelane.edi import errors as V
from tradelane.edi.validation import StructureValidator
from tradelane.formats.edifact_contrl import contrls
from tradelane.formats.edifact_envelope import iter_messages
from tradelane.formats.edifact_syntax import SegmentStream
from tradelane.spec import EdifactFormat
from tradelane.staging import Staged

ORDERS = [
    "BGM+220+PO1+9",
    "DTM+137:20240101:102",
    "NAD+BY+5412345000013::9",
    "LIN+1++4000862141404:EN",
    "QTY+21:5.5",
    "UNS+S",
]


def interchange(body: list[str], header: str = "ORDERS:D:96A:UN", una: str = "") -> str:
    segs = [f"UNH+1+{header}", *body]
    segs.append(f"UNT+{len(segs) + 1}+1")
    return (una + "UNB+UNOC:3+SENDER+RECEIVER+240101:1200+REF1'\n"
            + "".join(s + "'\n" for s in segs) + "UNZ+1+REF1'\n")


def check(tmp_path: Path, text: str, **options: object) -> list[V.DirectoryViolation]:
    path = tmp_path / "in.edi"
    path.write_text(text, encoding="utf-8")
    stream = SegmentStream(path)
    validator = StructureValidator(**options)  # type: ignore[arg-type]
    found: list[V.DirectoryViolation] = []
    for msg in iter_messages(stream):
        result = validator.check(msg, stream.locator.byte_of)
        assert not result.skipped, result.skipped
        found += result.violations
    return found


def only(violations: list[V.DirectoryViolation]) -> V.DirectoryViolation:
    assert len(violations) == 1, [v.message for v in violations]
    return violations[0]


def test_the_clean_order_passes(tmp_path: Path) -> None:
    assert check(tmp_path, interchange(ORDERS)) == []


def test_a_missing_mandatory_segment(tmp_path: Path) -> None:
    v = only(check(tmp_path, interchange(ORDERS[1:])))  # no BGM
    assert isinstance(v, V.SegmentMissing)
    assert (v.code, v.message_number, v.segment_position, v.tag) == ("13", 1, 2, "DTM")
    assert "segment BGM" in v.why
    assert v.segment_index == 3  # UNB is 1, UNH 2, the DTM 3 in the file


def test_a_group_out_of_order(tmp_path: Path) -> None:
    tax = "TAX+7+VAT"  # SG6 comes after SG2 (NAD)
    assert check(tmp_path, interchange([*ORDERS[:3], tax, *ORDERS[3:]])) == []
    v = only(check(tmp_path, interchange([*ORDERS[:2], tax, *ORDERS[2:]])))
    assert isinstance(v, V.SegmentNotAllowed)
    assert (v.code, v.segment_position, v.tag, v.position) == ("15", 5, "NAD", 0)


def test_a_segment_not_in_the_message(tmp_path: Path) -> None:
    v = only(check(tmp_path, interchange([*ORDERS[:2], "FOO+1", *ORDERS[2:]])))
    assert (v.code, v.segment_position, v.tag) == ("15", 4, "FOO")
    assert "FOO is not a segment of ORDERS in D96A" in v.why


def test_too_many_repeats_of_a_segment(tmp_path: Path) -> None:
    dtms = ["DTM+137:20240101:102"] * 36  # DTM: at most 35 at message level
    v = only(check(tmp_path, interchange([ORDERS[0], *dtms, *ORDERS[2:]])))
    assert isinstance(v, V.SegmentRepeated)
    assert (v.code, v.segment_position, v.tag) == ("35", 38, "DTM")
    assert check(tmp_path, interchange([ORDERS[0], *dtms[:35], *ORDERS[2:]])) == []


def test_too_many_repeats_of_a_group(tmp_path: Path) -> None:
    nads = [f"NAD+BY+54123450{k:05d}::9" for k in range(100)]  # SG2: at most 99
    v = only(check(tmp_path, interchange([*ORDERS[:2], *nads, *ORDERS[3:]])))
    assert isinstance(v, V.GroupRepeated)
    assert (v.code, v.segment_position, v.tag) == ("36", 103, "NAD")
    assert "group SG2 (NAD)" in v.why


def test_a_bad_code(tmp_path: Path) -> None:
    v = only(check(tmp_path, interchange(["BGM+999+PO1+9", *ORDERS[1:]])))
    assert isinstance(v, V.InvalidCode)
    assert (v.code, v.segment_position, v.tag, v.position, v.component) == (
        "12", 2, "BGM", 1, 1)
    assert (v.value, v.data_element) == ("999", "1001")


def test_an_over_long_value(tmp_path: Path) -> None:
    v = only(check(tmp_path, interchange([f"BGM+220+{'X' * 36}+9", *ORDERS[1:]])))
    assert isinstance(v, V.ValueTooLong)
    assert (v.code, v.segment_position, v.position, v.component) == ("39", 2, 2, None)
    assert check(tmp_path, interchange([f"BGM+220+{'X' * 35}+9", *ORDERS[1:]])) == []


def test_a_comma_decimal_is_a_number(tmp_path: Path) -> None:
    assert check(tmp_path, interchange([*ORDERS[:4], "QTY+21:5,5", ORDERS[5]])) == []
    v = only(check(tmp_path, interchange([*ORDERS[:4], "QTY+21:5,", ORDERS[5]])))
    assert isinstance(v, V.InvalidDecimal)
    assert (v.code, v.segment_position, v.position, v.component) == ("19", 6, 1, 2)
    v = only(check(tmp_path, interchange([*ORDERS[:4], "QTY+21:5A", ORDERS[5]])))
    assert isinstance(v, V.InvalidCharacters)
    assert v.code == "37"


def test_number_length_leaves_out_sign_and_mark(tmp_path: Path) -> None:
    fifteen = "1" * 14 + ",5"  # 6060 is n..15: 15 digits, the mark not counted
    assert check(tmp_path, interchange([*ORDERS[:4], f"QTY+21:-{fifteen}", ORDERS[5]])) == []
    v = only(check(tmp_path, interchange([*ORDERS[:4], f"QTY+21:1{fifteen}", ORDERS[5]])))
    assert (type(v), v.code) == (V.ValueTooLong, "39")


def test_a_too_short_value(tmp_path: Path) -> None:
    body = ["BGM+351+DES1+9", "DTM+137:20240101:102", "CPS+1", "LIN+1++4000862141404:EN",
            "QTY+12:5", "DGS+ADR++123"]  # DGS 7124, the UN number, is n4
    violations = check(tmp_path, interchange(body, "DESADV:D:96A:UN"))
    v = only([x for x in violations if x.tag == "DGS"])
    assert isinstance(v, V.ValueTooShort)
    assert (v.code, v.position, v.component, v.value) == ("40", 3, 1, "123")


def test_missing_mandatory_element_and_extra_constituents(tmp_path: Path) -> None:
    v = only(check(tmp_path, interchange([ORDERS[0], "DTM+:20240101:102", *ORDERS[2:]])))
    assert isinstance(v, V.ElementMissing)
    assert (v.code, v.segment_position, v.position, v.component, v.data_element) == (
        "13", 3, 1, 1, "2005")
    v = only(check(tmp_path, interchange([*ORDERS[:5], "UNS+S+X"])))
    assert isinstance(v, V.TooManyConstituents)
    assert (v.code, v.segment_position, v.position) == ("16", 7, 2)


def test_released_characters_count_once(tmp_path: Path) -> None:
    name = "A?+B" + "C" * 32  # 35 characters once the release is taken out
    assert check(tmp_path, interchange([f"BGM+220+{name}+9", *ORDERS[1:]])) == []


def test_severity_off_and_the_directory_named_by_the_route(tmp_path: Path) -> None:
    text = interchange(["BGM+999+PO1+9", *ORDERS[1:]], header="ORDERS:D:01B:UN")
    assert check(tmp_path, text, directory="D96A", severity={"code_list": "off"}) == []
    assert check(tmp_path, text, directory="D96A")[0].rule == "code_list"
    with pytest.raises(ValueError, match="code_lists"):
        StructureValidator(severity={"code_lists": "off"})


def test_unh_names_the_eancom_subset(tmp_path: Path) -> None:
    path = tmp_path / "in.edi"
    path.write_text(interchange(ORDERS, header="ORDERS:D:96A:UN:EAN008"), encoding="utf-8")
    msg = next(iter_messages(SegmentStream(path)))
    assert StructureValidator().directory_of(msg) == "EAN97"
    assert StructureValidator(directory="d96a").directory_of(msg) == "D96A"


def test_every_violation_reaches_the_reason_and_the_contrl(tmp_path: Path) -> None:
    violations = check(tmp_path, interchange(["BGM+999+PO1+9", *ORDERS[1:4], "QTY+21:5,"]))
    error = V.StructureInvalid(violations, "D96A", "ORDERS")
    assert error.error_count == 3  # bad code, bad decimal, UNS missing before UNT
    assert [i.rule for i in error.issues] == ["code_list", "decimal_mark", "segment_missing"]
    assert error.issues[0].field == "BGM.1.1"
    assert error.issues[0].location.startswith("message 1, segment 2 (BGM), element 1,")
    assert pickle.loads(pickle.dumps(error)).issues == error.issues
    path = tmp_path / "in.edi"
    fmt = EdifactFormat(type="edifact", records="LIN")
    [(_, contrl)] = contrls(Staged.file(path), fmt, error=error)
    # UCM rejects message 1; UCS names the segment in the message (UNH = 1), UCD the element
    assert b"UCM+1+ORDERS:D:96A:UN+4'\nUCS+2+12'\nUCD+12+1:1'" in contrl, contrl
