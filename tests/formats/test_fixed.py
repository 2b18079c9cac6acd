"""Fixed-width reader: record types by prefix, columns, implied decimals, EBCDIC, bad lines."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tradelane.formats.fixed import FixedReader, FixedWriter, ShortRecord, UnknownRecordType
from tradelane.spec import RouteSpec
from tradelane.staging import Staged

LAYOUT = {
    "type": "fixed",
    "record_types": {
        "H": {"prefix": "H", "role": "header",
              "fields": {"order_id": {"start": 2, "width": 10}, "date": {"start": 12, "end": 19}}},
        "D": {"prefix": "D", "fields": {"sku": {"start": 2, "width": 8},
                                        "qty": {"start": 10, "width": 5},
                                        "price": {"start": 15, "width": 7,
                                                  "implied_decimals": 2}}},
        "T": {"prefix": "T", "role": "ignore"},
    },
}
TEXT = ("HPO-0000001202401 31\n"
        "DSKU-0001000120001234\n"
        "DSKU-0002000030000005\n"
        "T0000002\n")


def route(**fmt: object) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "items", "source": {"folder": "inbox"}, "target": {"folder": "outbox"},
        "format": {**LAYOUT, **fmt},
        "header": {"order_id": {"source": "H.order_id"}},
        "fields": {"sku": {"source": "D.sku"}, "qty": {"source": "D.qty"},
                   "price": {"source": "D.price"}},
    })


def read(tmp_path: Path, data: bytes, **fmt: object) -> list:
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    return list(FixedReader().read(Staged.file(path), route(**fmt)))


def test_unknown_record_line_is_rejected_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(UnknownRecordType) as info:
        read(tmp_path, (TEXT + "XJUNK\n").encode())
    assert info.value.location == "line 5"
    assert read(tmp_path, (TEXT + "XJUNK\n").encode(), unknown_lines="skip")


def test_short_line_is_rejected_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ShortRecord) as info:
        read(tmp_path, TEXT.replace("DSKU-0002000030000005", "DSKU-00020").encode())
    assert (info.value.line, info.value.needed) == (3, 21)


def test_fields_and_implied_decimals(tmp_path: Path) -> None:
    [doc] = read(tmp_path, TEXT.encode())
    assert doc.header == {"order_id": "PO-0000001"}
    assert doc.records.to_dict("records") == [
        {"sku": "SKU-0001", "qty": "00012", "price": "12.34"},
        {"sku": "SKU-0002", "qty": "00003", "price": "0.05"},
    ]
    assert doc.locate(1) == "line 3"


def test_ebcdic_fixed_length_records(tmp_path: Path) -> None:
    records = "".join(line.ljust(24) for line in TEXT.splitlines())
    [doc] = read(tmp_path, records.encode("cp037"), encoding="cp037", record_length=24)
    assert doc.records["price"].tolist() == ["12.34", "0.05"]


def test_writer_round_trip(tmp_path: Path) -> None:
    docs = read(tmp_path, TEXT.encode())
    out = io.BytesIO()
    assert FixedWriter().write(docs, out, route()) == 2
    assert out.getvalue().decode().splitlines()[0] == "DSKU-0001000120001234"
