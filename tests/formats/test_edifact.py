"""EDIFACT reader: bad inputs first (each a precise reject with its location), then mapping."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest

from tradelane.errors import ConfigError, EmptyFile, RejectError
from tradelane.formats import reader_for
from tradelane.formats.edifact import (
    BadServiceStringAdvice,
    CharsetViolation,
    ControlReferenceMismatch,
    CountMismatch,
    DanglingRelease,
    EdifactReader,
    MissingTrailer,
    NotAnInterchange,
    NulByte,
    SegmentCountMismatch,
    SegmentTooLong,
    UnexpectedMessageType,
    UnexpectedSegment,
    UnknownSyntaxIdentifier,
)
from tradelane.formats.edifact_writer import EdifactTemplate, EdifactWriter, build_contrl
from tradelane.spec import RouteSpec
from tradelane.staging import Staged

UNB = "UNB+UNOA:3+SENDER:14+RECEIVER:14+240101:1200+REF1'"
ORDER = ("UNH+M1+ORDERS:D:96A:UN'BGM+220+PO-1+9'DTM+137:20240101:102'NAD+BY+5412345000013::9'"
         "NAD+SU+4012345000009::9'LIN+1++4000862141404:SRS'QTY+21:48'PRI+AAA:12.5'"
         "LIN+2++4000862141411:SRS'QTY+21:12'QTY+12:2'UNS+S'CNT+2:2'UNT+14+M1'")


def route(**fmt: object) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "orders", "source": {"folder": "inbox"}, "target": {"folder": "outbox"},
        "format": {"type": "edifact", "records": "LIN", **fmt},
        "header": {"order_id": {"source": "BGM.C106.1004"},
                   "buyer": {"source": "NAD[BY].C082.3039"},
                   "sender": {"source": "UNB.S002.0004"}},
        "fields": {"line": {"source": "LIN.1082"}, "gtin": {"source": "LIN.C212.7140"},
                   "qty": {"source": "LIN/QTY[21].C186.6060"},
                   "free_qty": {"source": "QTY[12].1.2"}},
    })


def write(tmp_path: Path, text: str | bytes, name: str = "in.edi") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1") if isinstance(text, str) else text)
    return path


def read(path: Path, **fmt: object) -> list:
    return list(EdifactReader().read(path, route(**fmt)))


def first_header(docs: list, name: str) -> object:
    """The header value of the first record (header fields are columns in a batch)."""
    return docs[0].header[name][0].as_py()


def reject(path: Path, kind: type[RejectError], **fmt: object) -> RejectError:
    with pytest.raises(kind) as info:
        read(path, **fmt)
    return info.value


# -- bad input --------------------------------------------------------------------------------

def test_truncated_interchange_without_unz(tmp_path: Path) -> None:
    err = reject(write(tmp_path, UNB + ORDER), MissingTrailer)
    assert (err.trailer, err.header, err.reference) == ("UNZ", "UNB", "REF1")
    assert err.location == "segment 1 (byte 0)"


def test_truncated_message_without_unt(tmp_path: Path) -> None:
    text = UNB + ORDER.replace("UNT+14+M1'", "") + "UNZ+1+REF1'"
    err = reject(write(tmp_path, text), MissingTrailer)
    assert (err.trailer, err.reference) == ("UNT", "M1")
    assert err.segment_index == 15  # the UNZ arrived while the message was open


def test_file_cut_inside_a_segment(tmp_path: Path) -> None:
    err = reject(write(tmp_path, UNB + ORDER[:40]), MissingTrailer)
    assert err.trailer == "segment terminator"


def test_unt_segment_count_mismatch_names_declared_actual_and_place(tmp_path: Path) -> None:
    text = UNB + ORDER.replace("UNT+14", "UNT+22") + "UNZ+1+REF1'"
    err = reject(write(tmp_path, text), SegmentCountMismatch)
    assert (err.declared, err.actual, err.segment_index) == ("22", 14, 15)
    assert err.byte_offset == len(UNB) + ORDER.index("UNT")
    assert f"segment 15 (byte {err.byte_offset})" in str(err)
    assert "declares 22 segments but there are 14" in str(err)


def test_unz_message_count_mismatch(tmp_path: Path) -> None:
    err = reject(write(tmp_path, UNB + ORDER + "UNZ+2+REF1'"), CountMismatch)
    assert (err.trailer, err.declared, err.actual) == ("UNZ", "2", 1)


def test_control_reference_mismatch(tmp_path: Path) -> None:
    err = reject(write(tmp_path, UNB + ORDER + "UNZ+1+OTHER'"), ControlReferenceMismatch)
    assert (err.trailer, err.header_ref, err.trailer_ref) == ("UNZ", "REF1", "OTHER")
    err = reject(write(tmp_path, UNB + ORDER.replace("UNT+14+M1", "UNT+14+M9") + "UNZ+1+REF1'"),
                 ControlReferenceMismatch)
    assert (err.trailer, err.trailer_ref) == ("UNT", "M9")


def test_release_character_at_end_of_file(tmp_path: Path) -> None:
    err = reject(write(tmp_path, UNB + ORDER + "UNZ+1+REF1?"), DanglingRelease)
    assert err.release == "?"
    assert err.segment_index == 16


def test_nul_byte_is_rejected_with_its_offset(tmp_path: Path) -> None:
    text = UNB + ORDER + "UNZ+1+REF1'"
    at = text.index("PO-1")
    err = reject(write(tmp_path, text[:at] + "\x00" + text[at:]), NulByte)
    assert err.byte_offset == at
    assert err.segment_index == 3


def test_ten_megabyte_segment_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.edi"
    with path.open("wb") as fh:
        fh.write((UNB + "UNH+M1+ORDERS:D:96A:UN'FTX+AAI+++").encode())
        for _ in range(10):
            fh.write(b"A" * (1 << 20))
        fh.write(b"'UNT+3+M1'UNZ+1+REF1'")
    tracemalloc.start()
    try:
        err = reject(path, SegmentTooLong)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.limit == 1 << 20
    assert err.segment_index == 3
    assert peak < 8 * (1 << 20)  # well under the 10 MB segment


def test_segment_limit_is_configurable(tmp_path: Path) -> None:
    path = write(tmp_path, UNB + ORDER + "UNZ+1+REF1'")
    err = reject(path, SegmentTooLong, max_segment_bytes=30)
    assert err.segment_index == 1
    assert read(path, max_segment_bytes=200)


def test_junk_before_una(tmp_path: Path) -> None:
    err = reject(write(tmp_path, "HELLO UNA:+.? '" + UNB + ORDER + "UNZ+1+REF1'"),
                 NotAnInterchange)
    assert err.found.startswith("HELLO")
    assert err.location == "segment 1 (byte 0)"


def test_message_without_interchange_header(tmp_path: Path) -> None:
    err = reject(write(tmp_path, "UNA:+.? '" + ORDER), NotAnInterchange)
    assert err.found.startswith("UNH") and err.segment_index == 2


def test_unknown_syntax_identifier_and_version(tmp_path: Path) -> None:
    err = reject(write(tmp_path, UNB.replace("UNOA:3", "ABCD:3") + ORDER + "UNZ+1+REF1'"),
                 UnknownSyntaxIdentifier)
    assert err.identifier == "ABCD"
    err = reject(write(tmp_path, UNB.replace("UNOA:3", "UNOA:9") + ORDER + "UNZ+1+REF1'"),
                 UnknownSyntaxIdentifier)
    assert err.version == "9"


def test_bytes_outside_the_declared_character_set(tmp_path: Path) -> None:
    text = UNB + ORDER.replace("PO-1", "PO-\xe9") + "UNZ+1+REF1'"
    err = reject(write(tmp_path, text), CharsetViolation)
    assert (err.charset, err.byte) == ("UNOA", 0xE9)
    assert err.byte_offset == text.index("\xe9")
    assert err.segment_index == 3
    # the same bytes are fine as UNOC (latin-1), and with the route's encoding override
    assert first_header(read(write(tmp_path, text.replace("UNOA", "UNOC"))), "order_id") \
        == "PO-\xe9"
    assert first_header(read(write(tmp_path, text), encoding="latin-1"), "order_id") == "PO-\xe9"


def test_invalid_utf8_in_unow(tmp_path: Path) -> None:
    text = (UNB.replace("UNOA", "UNOW") + ORDER + "UNZ+1+REF1'").encode()
    at = text.index(b"PO-1")
    err = reject(write(tmp_path, text[:at] + b"\xff" + text[at:]), CharsetViolation)
    assert err.byte_offset == at


def test_short_una(tmp_path: Path) -> None:
    err = reject(write(tmp_path, "UNA:+.'" + UNB + ORDER + "UNZ+1+REF1'"), BadServiceStringAdvice)
    assert err.header == "UNA"


def test_empty_file(tmp_path: Path) -> None:
    reject(write(tmp_path, ""), EmptyFile)
    reject(write(tmp_path, "\r\n  \n"), EmptyFile)


def test_data_segment_between_messages(tmp_path: Path) -> None:
    err = reject(write(tmp_path, UNB + "BGM+220+X+9'" + ORDER + "UNZ+1+REF1'"), UnexpectedSegment)
    assert err.tag == "BGM" and err.segment_index == 2


def test_unaccepted_message_type(tmp_path: Path) -> None:
    text = UNB + ORDER.replace("ORDERS", "INVOIC") + "UNZ+1+REF1'"
    err = reject(write(tmp_path, text), UnexpectedMessageType, messages=["ORDERS"])
    assert err.found == "INVOIC"


def test_isolate_messages_marks_the_bad_one_and_keeps_the_others(tmp_path: Path) -> None:
    bad = ORDER.replace("M1", "M2").replace("UNT+14", "UNT+13")
    path = write(tmp_path, UNB + ORDER + bad + "UNZ+2+REF1'")
    reject(path, SegmentCountMismatch)
    [doc] = read(path, isolate_messages=True)
    assert doc.messages == 1 and doc.records["line"].to_pylist() == ["1", "2"]
    [failed] = doc.failed
    assert isinstance(failed.message.error, SegmentCountMismatch)
    byte = len(UNB + ORDER) + bad.index("UNT")
    assert failed.issue.location == f"message 2 (M2), segment 29 (byte {byte})"
    assert "message 2 (M2) failed" in doc.notes[0]


# -- good input -------------------------------------------------------------------------------

def test_maps_header_and_record_fields_per_message(tmp_path: Path) -> None:
    second = ORDER.replace("M1", "M2").replace("PO-1", "PO-2")
    path = write(tmp_path, "UNA:+.? '\r\n" + UNB + "\r\n" + ORDER + second + "UNZ+2+REF1'\r\n")
    [doc] = list(reader_for(route()).read(Staged.file(path), route()))  # one batch: both messages
    assert doc.header["order_id"].to_pylist() == ["PO-1", "PO-1", "PO-2", "PO-2"]  # per record
    assert doc.header["buyer"].to_pylist() == ["5412345000013"] * 4
    assert doc.header["sender"].to_pylist() == ["SENDER"] * 4
    assert doc.interchange == ("SENDER", "RECEIVER", "REF1")
    assert doc.units.tolist() == [1, 1, 2, 2]
    rows = doc.records.to_pylist()
    assert rows[:2] == [
        {"line": "1", "gtin": "4000862141404", "qty": "48", "free_qty": None},
        {"line": "2", "gtin": "4000862141411", "qty": "12", "free_qty": "2"},
    ]
    assert doc.numbers.tolist() == [0, 1, 2, 3]
    offset = len("UNA:+.? '\r\n" + UNB + "\r\n") + len(ORDER) + ORDER.index("LIN+2")
    assert doc.locate(3) == f"message 2, segment 25 (byte {offset})"


def test_release_characters_and_custom_delimiters(tmp_path: Path) -> None:
    text = ("UNA=*.! ~UNB*UNOA=3*S*R*240101=1200*9~UNH*1*ORDERS=D=96A=UN~"
            "BGM*220*A!*B!=C!~D!!*9~LIN*1~UNT*4*1~UNZ*1*9~")
    docs = read(write(tmp_path, text))
    assert first_header(docs, "order_id") == "A*B=C~D!"


def test_repetition_separator_is_kept_in_values(tmp_path: Path) -> None:
    text = ("UNB+UNOA:4+S+R+20240101:1200+9'UNH+1+ORDERS:D:03B:UN'BGM+220+X?*Y+9'"
            "LIN+1'UNT+4+1'UNZ+1+9'")
    assert first_header(read(write(tmp_path, text)), "order_id") == "X*Y"


def test_bad_paths_are_config_errors(tmp_path: Path) -> None:
    path = write(tmp_path, UNB + ORDER + "UNZ+1+REF1'")
    spec = route().model_dump(exclude={"spec_path", "version", "base_dir"})
    spec["fields"]["qty"]["source"] = "QTY.C999.1"
    with pytest.raises(ConfigError, match="C999 is not an element of QTY"):
        list(EdifactReader().read(path, RouteSpec.model_validate(spec)))


# -- acknowledgements and writing -------------------------------------------------------------

def test_contrl_round_trips_through_the_reader(tmp_path: Path) -> None:
    err = SegmentCountMismatch("22", 14, segment_index=15)
    text = build_contrl(("SENDER", "RECEIVER", "REF1"),
                        rejected_messages={"M1": ("ORDERS", err)})
    assert "UCI+REF1+SENDER+RECEIVER+7'" in text
    assert "UCM+M1+ORDERS+4+29+UNT+1'" in text  # UNT's element 1, the count, is wrong
    contrl_route = route(records="UCM", messages=["CONTRL"])
    docs = list(EdifactReader().read(write(tmp_path, text), contrl_route.model_copy(
        update={"header": {}, "fields": {}})))
    assert docs[0].interchange[:2] == ("RECEIVER", "SENDER")
    rejected = build_contrl(("S", "R", "9"), errors=[err])
    assert "UCI+9+S+R+4+29+UNT+1'" in rejected


def test_writer_builds_an_orders_interchange_with_valid_counts(tmp_path: Path) -> None:
    docs = read(write(tmp_path, UNB + ORDER + "UNZ+1+REF1'"))
    template = EdifactTemplate(
        message=["ORDERS", "D", "96A", "UN", "EAN008"], sender="ME", recipient="YOU",
        header=["BGM+220+{order_id}+9", "NAD+BY+{buyer}::9"],
        line=["LIN+{line_no}++{gtin}:SRS", "QTY+21:{qty}"],
        summary=["UNS+S", "CNT+2:{line_count}"])
    out = io.BytesIO()
    assert EdifactWriter(template).write(docs, out, route()) == 2
    again = read(write(tmp_path, out.getvalue(), "out.edi"))
    assert first_header(again, "order_id") == "PO-1"
    assert again[0].records["qty"].to_pylist() == ["48", "12"]


# -- the columnar mapping against the segment-by-segment reference --------------------------

MAPPING = {
    "header": {"bgm": {"source": "BGM.1.1"}, "doc": {"source": "BGM.2.1"},
               "by": {"source": "NAD[BY].2.1"}, "dtm": {"source": "DTM[137].1.2"},
               "empty_q": {"source": "FTX[].2"}, "unh": {"source": "UNH.2.1"},
               "unb": {"source": "UNB.2.1"}, "ung": {"source": "UNG.1"}},
    "fields": {"lin": {"source": "LIN.1"}, "item": {"source": "LIN.3.1"},
               "kind": {"source": "LIN.3.2"}, "q21": {"source": "QTY[21].1.2"},
               "qty": {"source": "QTY.1.2"}, "far": {"source": "QTY.1.9"},
               "price": {"source": "PRI.1.2"}, "imd": {"source": "IMD.3.4"}},
}
CRAFTED = ("UNA:+.? '" + UNB + ORDER + ORDER.replace("M1", "M2").replace(
    "QTY+21:48'", "QTY+21:4?+8'FTX++a?:b:?'c'").replace("UNT+14", "UNT+15")
    + "UNH+M3+ORDERS:D:96A:UN'BGM+220+NOLINES'UNT+3+M3'"
    + "UNH+M4+ORDERS:D:96A:UN'LIN+1'IMD+F++:::A?:B'QTY+21'QTY+21::'QTY++:12:'UNS+S'LIN+9'"
    "UNT+9+M4'UNZ+4+REF1'")


def edifact_samples() -> list[Path]:
    return sorted((Path(__file__).parents[1] / "data" / "edifact").iterdir())


#: Samples whose envelope is refused before any message is mapped (a 6-digit UNB date under
#: syntax 3, bytes outside UNOA, a 4-letter tag, no UNZ...): the differential test below
#: asserts that they stay refused, and maps every other sample both ways.
REFUSED_ENVELOPES = {
    "edifact-rs__d96a_orders_malformed.edi", "portxchange__VIFTSAI0000001.txt",
    "pydifact__order.edi", "pydifact__patient1.edi",
    "smooks__INVOIC_D.03B_Interchange_with_UNA.txt", "smooks__bad-paxlst.txt",
    "smooks__recadv.txt", "smooks__unedifact-msg-02_with_ung.edi",
    "staedi__invoic_d93a_una.edi", "staedi__orders-with-group.edi"}


@pytest.mark.parametrize("records", ["LIN", None])
@pytest.mark.parametrize("sample", [None, *edifact_samples()], ids=lambda p: getattr(p, "name",
                                                                                   "crafted"))
def test_columnar_mapping_matches_the_reference(tmp_path: Path, sample: Path | None,
                                                records: str | None) -> None:
    from tradelane.formats.edifact_envelope import iter_messages
    from tradelane.formats.edifact_map import MessagePlan
    from tradelane.formats.edifact_syntax import SegmentStream

    path = sample or write(tmp_path, CRAFTED)
    spec = RouteSpec.model_validate({"name": "diff", "source": {"folder": "in"},
                                     "target": {"folder": "out"},
                                     "format": {"type": "edifact", "records": records},
                                     **MAPPING})
    if sample is not None and sample.name in REFUSED_ENVELOPES:
        with pytest.raises(RejectError):
            list(iter_messages(SegmentStream(path), isolate=True))
        return
    msgs = list(iter_messages(SegmentStream(path), isolate=True))
    plain = [m for m in msgs if not m.block.parsed]
    assert plain, "every accepted sample has a message the columnar mapper reads"
    plan = MessagePlan(spec)
    fast, slow = plan.map_fast(plain), plan.map_slow(plain)
    assert fast.starts.tolist() == slow.starts.tolist()
    assert fast.numbers.tolist() == slow.numbers.tolist()
    for name in spec.fields:
        assert fast.columns[name].to_pylist() == slow.columns[name].to_pylist(), name
    for name in spec.header:
        assert fast.header[name].to_pylist() == slow.header[name].to_pylist(), name
