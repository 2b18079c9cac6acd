"""A big CSV file is parsed by Arrow's threads (issue 19): its records come in order, and a
bad row is still located exactly, though Arrow's threads do not number rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelane.errors import InvalidRecords
from tradelane.formats import reader_for
from tradelane.formats.csv import THREADED_BYTES
from tradelane.spec import RouteSpec
from tradelane.staging import Staged

HEADER = b"id,sku,status\n"
LINE = b"1,AB-000001,open\n"
ROWS = THREADED_BYTES // len(LINE) + 10_000  # just past the size read on threads


def spec() -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "t", "source": {"folder": "in"}, "format": {"type": "csv"},
        "fields": {"id": {}, "sku": {}, "status": {}}, "target": {"folder": "out"}})


def big(tmp_path: Path, bad: bytes, at: int) -> Path:
    """A file past THREADED_BYTES with ``bad`` as data row ``at`` (1-based)."""
    path = tmp_path / "big.csv"
    with open(path, "wb") as out:
        out.write(HEADER + LINE * (at - 1) + bad + LINE * (ROWS - at))
    assert path.stat().st_size >= THREADED_BYTES
    return path


def test_a_big_file_gives_every_record_in_order(tmp_path: Path) -> None:
    path = big(tmp_path, b"7,ZZ-999999,shipped\n", ROWS - 5)
    numbers, last = [], None
    for doc in reader_for(spec()).read(Staged.file(path), spec()):
        numbers.append(doc.numbers)
        if doc.records.num_rows:
            last = doc
    flat = [int(n) for chunk in numbers for n in chunk]
    assert flat == list(range(ROWS))
    assert last is not None and last.records.column("sku")[-6].as_py() == "ZZ-999999"
    assert last.locate(ROWS - 6) == f"row {ROWS - 5} (line {ROWS - 4})"


def test_a_ragged_row_late_in_a_big_file_is_located(tmp_path: Path) -> None:
    at = ROWS - 100
    path = big(tmp_path, b"2,AB-000002\n", at)
    with pytest.raises(InvalidRecords) as info:
        list(reader_for(spec()).read(Staged.file(path), spec()))
    [issue] = info.value.issues
    assert issue.location == f"row {at}" and issue.rule == "columns"
    assert issue.message == "row has 2 columns, the header has 3"


def test_an_unclosed_quote_late_in_a_big_file_is_located(tmp_path: Path) -> None:
    at = ROWS - 100  # the quote runs to the end of the file: one row of 2 columns
    path = big(tmp_path, b'3,"AB-0,open\n', at)
    with pytest.raises(InvalidRecords) as info:
        list(reader_for(spec()).read(Staged.file(path), spec()))
    [issue] = info.value.issues
    assert issue.location == f"row {at}" and issue.value.startswith('3,"AB-0,open\n1,AB-')
