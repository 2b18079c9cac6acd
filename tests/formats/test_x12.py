"""X12 reader: bad envelopes first, then the corpus outcomes and the 850 mapping oracle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelane.errors import EmptyFile, RejectError
from tradelane.formats import edi_errors as E
from tradelane.formats.x12 import X12File, X12Reader, build_997, iter_transactions
from tradelane.spec import RouteSpec
from tradelane.staging import Staged

DATA = Path(__file__).parents[1] / "data" / "x12"
ISA = ("ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240101*1200*U*"
       "00401*000000007*0*P*>~")
GROUP = ("GS*PO*SENDER*RECEIVER*20240101*1200*42*X*004010~ST*850*0001~BEG*00*SA*PO-1**20240101~"
         "N1*ST*ACME STORE*92*0001~PO1*1*10*EA*2.5**VP*SKU-1~PO1*2*3*EA*4**VP*SKU-2~CTT*2~"
         "SE*7*0001~GE*1*42~")


def route(**fmt: object) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "po", "source": {"folder": "inbox"}, "target": {"folder": "outbox"},
        "format": {"type": "x12", "records": "PO1", **fmt},
        "header": {"po": {"source": "BEG.3"}, "ship_to": {"source": "N1[ST].2"}},
        "fields": {"line": {"source": "PO1.1"}, "qty": {"source": "PO1.2"},
                   "sku": {"source": "PO1.7"}},
    })


def read(tmp_path: Path, text: str | bytes, **fmt: object) -> list:
    path = tmp_path / "in.x12"
    path.write_bytes(text.encode("latin-1") if isinstance(text, str) else text)
    return list(X12Reader().read(Staged.file(path), route(**fmt)))


def reject(tmp_path: Path, text: str | bytes, kind: type[RejectError]) -> RejectError:
    with pytest.raises(kind) as info:
        read(tmp_path, text)
    return info.value


def test_short_isa(tmp_path: Path) -> None:
    err = reject(tmp_path, ISA.replace("SENDER         ", "SENDER") + GROUP + "IEA*1*000000007~",
                 E.BadServiceStringAdvice)
    assert err.header == "ISA" and err.location == "segment 1 (byte 0)"


def test_mismatched_isa13_iea02(tmp_path: Path) -> None:
    err = reject(tmp_path, ISA + GROUP + "IEA*1*000000008~", E.ControlReferenceMismatch)
    assert (err.trailer, err.header_ref, err.trailer_ref) == ("IEA", "000000007", "000000008")
    assert err.segment_index == 11


def test_se_count_and_control_number(tmp_path: Path) -> None:
    err = reject(tmp_path, ISA + GROUP.replace("SE*7", "SE*9") + "IEA*1*000000007~",
                 E.SegmentCountMismatch)
    assert (err.trailer, err.declared, err.actual) == ("SE", "9", 7)
    err = reject(tmp_path, ISA + GROUP.replace("SE*7*0001", "SE*7*0002") + "IEA*1*000000007~",
                 E.ControlReferenceMismatch)
    assert err.trailer == "SE"


def test_ge_and_iea_counts(tmp_path: Path) -> None:
    err = reject(tmp_path, ISA + GROUP.replace("GE*1", "GE*2") + "IEA*1*000000007~",
                 E.CountMismatch)
    assert (err.trailer, err.declared, err.actual) == ("GE", "2", 1)
    err = reject(tmp_path, ISA + GROUP + "IEA*3*000000007~", E.CountMismatch)
    assert err.trailer == "IEA"


def test_truncated_interchange(tmp_path: Path) -> None:
    err = reject(tmp_path, ISA + GROUP, E.MissingTrailer)
    assert err.trailer == "IEA"
    err = reject(tmp_path, ISA + GROUP[:120], E.MissingTrailer)
    assert err.trailer in {"SE", "segment terminator"}


def test_junk_nul_and_empty(tmp_path: Path) -> None:
    reject(tmp_path, "hello" + ISA + GROUP + "IEA*1*000000007~", E.NotAnInterchange)
    err = reject(tmp_path, ISA + GROUP.replace("PO-1", "PO\x00") + "IEA*1*000000007~", E.NulByte)
    assert err.byte_offset == len(ISA) + GROUP.index("PO-1") + 2
    reject(tmp_path, "", EmptyFile)


def test_maps_transaction_sets(tmp_path: Path) -> None:
    docs = read(tmp_path, ISA + "\n" + GROUP.replace("~", "~\n") + "IEA*1*000000007~\n")
    assert docs[0].header == {"po": "PO-1", "ship_to": "ACME STORE"}
    assert docs[0].records.to_pylist() == [
        {"line": "1", "qty": "10", "sku": "SKU-1"}, {"line": "2", "qty": "3", "sku": "SKU-2"}]
    assert docs[0].interchange == ("SENDER", "RECEIVER", "000000007")
    assert docs[0].locate(1).startswith("transaction 1, segment 7 (byte ")


def test_997_round_trips(tmp_path: Path) -> None:
    text = build_997(("SENDER", "RECEIVER", "000000007"), ("PO", "42"),
                     [("850", "0001", True)])
    f = X12File(text.encode())
    [tx] = list(iter_transactions(f))
    assert tx.code == "997"
    assert "AK9*A*1*1*1~" in text


# -- corpus -----------------------------------------------------------------------------------

X12 = {
    "badx12__error_validation_835.edi": (E.SegmentCountMismatch, {"declared": "30",
                                                                  "actual": 27}),
    "node-x12__850.edi": (1, None),
    "node-x12__850_2_newline_terminator.edi": (1, None),
    "node-x12__856.edi": (1, None),
    "staedi__invalid997.edi": (1, None),  # bad values only: validation's job
    "staedi__invoice810_po850_dual.edi": (3, None),
    "staedi__simple997-multiple-interchanges.edi": (3, None),
    "staedi__simple997.edi": (1, None),
    "staedi__ts214_ellipses_segterm.edi": (1, None),
}


@pytest.mark.parametrize(("name", "expected", "attrs"),
                         [(k, *v) for k, v in X12.items()], ids=list(X12))
def test_x12_corpus_outcome(name: str, expected: object, attrs: dict | None) -> None:
    f = X12File((DATA / name).read_bytes(), "utf-8")
    if isinstance(expected, int):
        assert len(list(iter_transactions(f))) == expected
        return
    assert isinstance(expected, type)
    with pytest.raises(expected) as info:
        list(iter_transactions(f))
    for key, value in (attrs or {}).items():
        assert getattr(info.value, key) == value


def test_corpus_table_covers_every_file() -> None:
    assert sorted(p.name for p in DATA.iterdir()) == sorted(X12)


def test_node_x12_850_mapping_oracle() -> None:
    """node-x12 850_map_result.json: ShipTo name and the six PO1 quantities."""
    docs = list(X12Reader().read(Staged.file(DATA / "node-x12__850.edi"), route()))
    assert docs[0].header["ship_to"] == "XYZ RETAIL"
    assert docs[0].records["qty"].to_pylist() == ["120", "220", "126", "76", "72", "696"]
    newline = list(X12Reader().read(
        Staged.file(DATA / "node-x12__850_2_newline_terminator.edi"), route()))
    assert newline[0].records["qty"].to_pylist() == docs[0].records["qty"].to_pylist()


def test_delimiters_from_the_isa() -> None:
    assert X12File((DATA / "node-x12__856.edi").read_bytes()).delims.repetition == "-"
    f = X12File((DATA / "staedi__ts214_ellipses_segterm.edi").read_bytes(), "utf-8")
    assert f.delims.segment == "\u2026"
