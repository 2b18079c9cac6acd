"""Fixed-width reader: record types by prefix, columns, implied decimals, EBCDIC, bad lines."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from support.project import ProjectDir
from tradelane.formats.fixed import FixedReader, FixedWriter, ShortRecord, UnknownRecordType
from tradelane.models import Outcome
from tradelane.runner import Runner
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
    assert doc.records.to_pylist() == [
        {"sku": "SKU-0001", "qty": "00012", "price": "12.34"},
        {"sku": "SKU-0002", "qty": "00003", "price": "0.05"},
    ]
    assert doc.locate(1) == "line 3"


def test_ebcdic_fixed_length_records(tmp_path: Path) -> None:
    records = "".join(line.ljust(24) for line in TEXT.splitlines())
    [doc] = read(tmp_path, records.encode("cp037"), encoding="cp037", record_length=24)
    assert doc.records["price"].to_pylist() == ["12.34", "0.05"]


def test_writer_round_trip(tmp_path: Path) -> None:
    docs = read(tmp_path, TEXT.encode())
    out = io.BytesIO()
    assert FixedWriter().write(docs, out, route()) == 2
    assert out.getvalue().decode().splitlines()[0] == "DSKU-0001000120001234"


def test_split_quarantines_the_bad_lines_with_the_header_and_the_fix_goes_through(
        project: ProjectDir) -> None:
    """on_invalid: split delivers the good records; the bad ones become a fixed-width file
    of the header line and those records, which goes through the same route once fixed."""
    project.route("items", yaml.safe_dump({
        "source": {"folder": "inbox/items", "pattern": "*.txt", "min_age": "1s"},
        "format": LAYOUT,
        "header": {"order_id": {"source": "H.order_id", "required": True}},
        "fields": {"sku": {"source": "D.sku", "required": True},
                   "qty": {"source": "D.qty", "type": "integer", "min": 1},
                   "price": {"source": "D.price", "type": "decimal"}},
        "transform": {"copy_header": ["order_id"]},
        "on_invalid": "split",
        "target": {"folder": "outbox/items", "format": "csv", "name": "{stem}.csv"}}))
    bad_line = "DSKU-0003000000000100"  # quantity 0
    project.drop("items", "order.txt", TEXT.replace("T0000002", bad_line + "\nT0000003"))
    [result] = project.run().results
    assert result.outcome == Outcome.DELIVERED and result.records == 2
    [rejects] = project.quarantined("items")
    assert rejects.read_text() == "HPO-0000001202401 31\n" + bad_line + "\n"
    rejects.write_text(rejects.read_text().replace("SKU-000300000", "SKU-000300001"))
    with project.ledger() as ledger:
        child = next(r for r in ledger.files() if r.parent_id)
        fixed = Runner(project.load(), ledger).reprocess(child.id)
    assert fixed.outcome == Outcome.DELIVERED and fixed.records == 1
