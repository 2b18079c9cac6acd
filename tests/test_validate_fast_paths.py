"""The CSV route's faster kernels (issue 19) decide exactly what the slower ones decided.

Each fast path is taken for the usual file (plain ASCII, every value a number, no formula)
and must step aside for the unusual one: a hexadecimal integer, "inf", Unicode or control
whitespace, a bad byte past the first block of a big file, a formula deep in a later batch.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import re
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelane.errors import MalformedInput
from tradelane.formats import reader_for
from tradelane.formats.csv import BLOCK_SIZE, CsvWriter
from tradelane.models import Document
from tradelane.spec import RouteSpec
from tradelane.staging import Staged
from tradelane.validate import validate


def route(fields: dict) -> RouteSpec:
    return RouteSpec.model_validate({
        "name": "t", "source": {"folder": "in"}, "format": {"type": "csv"}, "fields": fields,
        "target": {"folder": "out", "format": "csv"}})


def check(values: list[str], field: dict) -> tuple[list, list[tuple[str, str, str]]]:
    """The typed values of one column, and its issues as (location, value, rule)."""
    spec = route({"v": field})
    result = validate(Document(header={}, records=pa.table({"v": pa.array(values)})), spec)
    found = [(i.location, i.value, i.rule) for i in result.issues]
    assert result.error_count == len(found)
    return result.document.records.column("v").to_pylist(), found


def test_a_hexadecimal_integer_is_refused_though_arrow_would_read_it() -> None:
    values, issues = check(["1", "0x1F", "3"], {"type": "integer"})
    assert issues == [("record 2", "0x1F", "type")]
    assert values == [1, None, 3]
    _, issues = check(["0X10", "0x2"], {"type": "integer"})
    assert [rule for _, _, rule in issues] == ["type", "type"]


def test_signs_and_leading_zeros_read_as_before() -> None:
    assert check(["+7", "-3", "007"], {"type": "integer"}) == ([7, -3, 7], [])
    assert check(["+.5", "5.", "1e3", "-0.25"], {"type": "decimal"}) == \
        ([0.5, 5.0, 1000.0, -0.25], [])


@pytest.mark.parametrize("bad", ["inf", "nan", "-inf", "infinity", "1e400"])
def test_infinite_and_not_a_number_decimals_are_refused(bad: str) -> None:
    values, issues = check(["1.5", bad], {"type": "decimal"})
    assert issues == [("record 2", bad, "type")] and values == [1.5, None]


def test_unicode_and_control_whitespace_is_trimmed_as_str_strip_does() -> None:
    # a no-break space (not ASCII) and the separators 0x1c-0x1f (ASCII, but only Unicode's
    # trim removes them) around numbers: both columns take the Unicode kernel
    texts = ["\u00a012\u00a0", "7"]
    assert check(texts, {"type": "integer"}) == ([12, 7], [])
    texts = ["\x1f12\x1c", " 7\t"]
    assert [t.strip() for t in texts] == ["12", "7"]
    assert check(texts, {"type": "integer"}) == ([12, 7], [])
    assert check(["  open ", "shipped"], {"enum": ["open", "shipped"]}) == \
        (["open", "shipped"], [])


def test_dates_with_an_empty_or_impossible_value_are_located() -> None:
    values, issues = check(["2026-02-28", "", "2026-02-30"], {"type": "date"})
    assert issues == [("record 3", "2026-02-30", "type")]
    assert [str(v) if v else v for v in values] == ["2026-02-28", None, None]
    _, issues = check(["2026-02-28", ""], {"type": "date", "required": True})
    assert issues == [("record 2", "", "required")]


def test_a_bad_byte_past_the_first_block_of_a_big_file_names_its_line(tmp_path: Path) -> None:
    line = b"1,AB-000001,open\n"
    lines = BLOCK_SIZE // len(line) + 1000  # the bad line is in the second block, read later
    path = tmp_path / "big.csv"
    with open(path, "wb") as out:
        out.write(b"id,sku,status\n")
        out.write(line * lines)
        out.write(b"2,AB-\xa9,open\n")
        out.write(line * 10)
    spec = route({"id": {}, "sku": {}, "status": {}})
    with pytest.raises(MalformedInput) as info:
        list(reader_for(spec).read(Staged.file(path), spec))
    bad_at = len(b"id,sku,status\n") + len(line) * lines + len(b"2,AB-")
    assert info.value.location == f"line {lines + 2}, byte {bad_at}"
    assert "0xa9" in info.value.message


def test_a_nul_after_a_bad_byte_in_the_same_block_reports_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,\xa9\n2,\x00\n")
    spec = route({"a": {}, "b": {}})
    with pytest.raises(MalformedInput, match="0xa9") as info:
        list(reader_for(spec).read(Staged.file(path), spec))
    assert info.value.location == "line 2, byte 6"


def test_a_formula_deep_in_a_later_batch_is_neutralised() -> None:
    spec = route({"sku": {}})
    skus = ["AB-1"] * 5000 + ["=HYPERLINK(1)", "-2", "@x"]
    # a slice, as Arrow's reader hands out batches: its values start inside a buffer
    doc = Document(header={}, records=pa.table({"sku": skus}).slice(4990))
    out = io.BytesIO()
    CsvWriter().write([doc], out, spec)
    rows = [row[0] for row in csv.reader(io.StringIO(out.getvalue().decode()))]
    assert rows[1:11] == ["AB-1"] * 10
    assert rows[11:] == ["'=HYPERLINK(1)", "'-2", "'@x"]
    out = io.BytesIO()  # the first 5,000 rows hold no formula: written as they are
    CsvWriter().write([Document(header={}, records=pa.table({"sku": skus}).slice(0, 5000))],
                      out, spec)
    rows = [row[0] for row in csv.reader(io.StringIO(out.getvalue().decode()))]
    assert rows[1:] == ["AB-1"] * 5000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="=+-@\t\ra1 ", max_size=4)),
                min_size=1, max_size=30), st.integers(0, 5))
def test_any_text_column_is_neutralised_as_its_first_characters_say(
        values: list[str | None], cut: int) -> None:
    """Empty values and nulls between others (the first-byte scan then sees a neighbour's
    byte, or a null's), in a slice that starts inside the buffer."""
    spec = route({"sku": {}})
    column = pa.array(values, pa.string()).slice(min(cut, len(values) - 1))
    out = io.BytesIO()
    CsvWriter().write([Document(header={}, records=pa.table({"sku": column}))], out, spec)
    rows = [row[0] if row else "" for row in
            csv.reader(io.StringIO(out.getvalue().decode(), newline=""))][1:]
    expected = ["" if v is None else "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r")
                else v for v in column.to_pylist()]
    assert rows == expected


def test_a_pattern_arrow_cannot_run_is_checked_by_python_on_every_batch() -> None:
    field = {"pattern": r"(\w)\1-\d+"}  # a back-reference: RE2 refuses it
    spec = route({"v": field})
    for values, bad in ((["aa-1", "ab-2"], ["ab-2"]), (["zz-9", "q"], ["q"])):
        result = validate(Document(header={}, records=pa.table({"v": values})), spec)
        assert [i.value for i in result.issues] == bad
        assert result.issues[0].rule == "pattern"


def test_an_edited_code_list_counts_from_the_next_file(tmp_path: Path) -> None:
    codes = tmp_path / "codes.csv"
    codes.write_text("code,name\nEA,each\n")
    spec = RouteSpec.model_validate({
        "name": "t", "source": {"folder": "in"}, "format": {"type": "csv"},
        "fields": {"unit": {"codes": "codes.csv"}}, "target": {"folder": "out"},
        "base_dir": tmp_path})
    doc = Document(header={}, records=pa.table({"unit": ["EA", "PK"]}))
    assert [i.value for i in validate(doc, spec).issues] == ["PK"]
    codes.write_text("code,name\nEA,each\nPK,pack\n")
    stat = codes.stat()
    os.utime(codes, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert validate(doc, spec).issues == []


def test_integer_bounds_whole_or_fractional() -> None:
    _, issues = check(["1", "0", "100001"], {"type": "integer", "min": 1, "max": 100000})
    assert issues == [("record 2", "0", "min"), ("record 3", "100001", "max")]
    _, issues = check(["5", "0"], {"type": "integer", "min": 0.5})  # compared as numbers
    assert issues == [("record 2", "0", "min")]


def test_batches_whose_types_differ_are_written_under_one_header() -> None:
    # a hook may type a column differently from one batch to the next (all empty: null)
    spec = route({"a": {}, "b": {}})
    batches = [pa.table({"a": [1, 2], "b": ["x", "y"]}),
               pa.table({"a": pa.nulls(1, pa.null()), "b": ["z"]}),
               pa.table({"a": [3], "b": ["w"]})]
    out = io.BytesIO()
    count = CsvWriter().write([Document(header={}, records=t) for t in batches], out, spec)
    rows = list(csv.reader(io.StringIO(out.getvalue().decode())))
    assert count == 4
    assert rows == [["a", "b"], ["1", "x"], ["2", "y"], ["", "z"], ["3", "w"]]


FIXED_PATTERNS = [r"[A-Z]{2}-[0-9]{6}", r"\d{3}", r"[a-c\-x]{2}\.z", r"AB[0-9]", r"[0-9]{2}"]


def pattern_issues(values: list[str], pattern: str) -> list[str]:
    _, issues = check(values, {"pattern": pattern})
    assert {rule for _, _, rule in issues} <= {"pattern"}
    return [value for _, value, _ in issues]


def expected_misses(values: list[str], pattern: str) -> list[str]:
    # RE2's \d and classes are ASCII: Python's re in ASCII mode says the same
    return [v for v in values
            if v.strip() and re.fullmatch(pattern, v.strip(), re.ASCII) is None]


@pytest.mark.parametrize("pattern", FIXED_PATTERNS)
def test_a_fixed_length_pattern_decides_what_re2_decides(pattern: str) -> None:
    odd = ["AB-123456", "ab-123456", "AB-12345", "AB-1234567", "AB\u2013123456", "\u00c4B-12345",
           "AB-12345\uff16", "", " AB-123456 ", "123", "12", "١٢٣", "ab.z", "x-.z", "AB1",
           "AB-123\n56", "a-.z", "ad.z"]
    same_length = [v for v in odd if len(v.encode()) == len(odd[0].encode())]
    for values in (odd, same_length, ["AB-123456"] * 3 + [""] + ["AB-654321"]):
        assert pattern_issues(values, pattern) == expected_misses(values, pattern), values


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="AB-0123456789az.\u00c4\uff16 \u00a0", max_size=11),
                min_size=1, max_size=30), st.sampled_from(FIXED_PATTERNS))
def test_any_column_meets_a_fixed_pattern_as_python_re_would(values: list[str],
                                                             pattern: str) -> None:
    assert pattern_issues(values, pattern) == expected_misses(values, pattern)


def test_a_column_whose_only_space_ends_its_last_value_is_still_trimmed() -> None:
    assert check(["1", "2", "3 "], {"type": "integer"}) == ([1, 2, 3], [])
    assert check(["", "\u3000" + "5", "6"], {"type": "integer"}) == ([None, 5, 6], [])
    assert check(["open", "", "shipped\x1f"], {"enum": ["open", "shipped"]}) == \
        (["open", None, "shipped"], [])
    # a slice of a column whose trimmed-off values lie before it
    doc = Document(header={}, records=pa.table({"v": [" 9 ", "1", "2"]}).slice(1))
    result = validate(doc, route({"v": {"type": "integer"}}))
    assert result.document.records.column("v").to_pylist() == [1, 2] and result.ok


# -- a number or date column taken whole, as it is (validate._typed_as_is) --------------------

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CLEAN = {"integer": st.integers(-(2**63), 2**63 - 1).map(str),
          "decimal": st.floats(allow_nan=False, allow_infinity=False).map(str),
          "date": st.dates(dt.date(1900, 1, 1), dt.date(2199, 12, 31)).map(dt.date.isoformat)}
#: values that must step off the fast path, or pass it as they would the slow one
_ODD = ["", " ", " 12", "12 ", "\t7", "7\n", "\u00a012", "12\u3000", "\x1f5", "0x1F", "inf",
        "nan", "1e400", "+5", "007", "5.", ".5", "2026-02-30", " 2026-01-02", "2026-01-02 ",
        "1_000", "9223372036854775808", "١٢"]


def _expected(kind: str, value: str) -> tuple[object, str | None]:
    """What a column's value types as, by Python's own reading: (value, rule of its issue)."""
    text = value.strip()
    if not text:
        return None, "required"
    if kind == "integer":
        ok = _INTEGER.fullmatch(text) and -(2**63) <= int(text) < 2**63
        return (int(text), None) if ok else (None, "type")
    if kind == "decimal":
        number = float(text) if _DECIMAL.fullmatch(text) else float("nan")
        return (number, None) if math.isfinite(number) else (None, "type")
    try:
        return (dt.date.fromisoformat(text), None) if _ISO_DATE.fullmatch(text) \
            else (None, "type")
    except ValueError:
        return None, "type"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(_CLEAN)), st.data())
def test_a_number_or_date_column_types_as_python_reads_it_whole_or_odd(
        kind: str, data: st.DataObject) -> None:
    """Most columns drawn are clean (every value casts as it is: no trimming, no search for
    empty values); the rest hold one odd value, which sends the column the usual way."""
    values = data.draw(st.lists(_CLEAN[kind], min_size=1, max_size=20))
    if data.draw(st.booleans()):
        values.insert(data.draw(st.integers(0, len(values))), data.draw(st.sampled_from(_ODD)))
    typed, issues = check(values, {"type": kind, "required": True})
    expected = [_expected(kind, v) for v in values]
    assert typed == [value for value, _ in expected]
    assert [(location, rule) for location, _, rule in issues] == \
        [(f"record {i}", rule) for i, (_, rule) in enumerate(expected, start=1) if rule]
