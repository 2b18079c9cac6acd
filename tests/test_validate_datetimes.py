"""ISO 8601 date-times are parsed with Arrow, accepting exactly what pandas' ISO 8601 parser
(which validation used before) accepts, with the same result, to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelane.iso8601 import parse_iso_datetimes
from tradelane.models import Document
from tradelane.spec import RouteSpec
from tradelane.validate import validate


def pandas_value(text: str) -> datetime | None:
    """What ``pd.to_datetime(..., format="ISO8601", utc=True)`` gives, to the microsecond
    (it keeps nanoseconds, which Arrow's microsecond timestamps round down)."""
    parsed = pd.to_datetime(pd.Series([text]), errors="coerce", format="ISO8601", utc=True)
    value = parsed.iloc[0]
    if pd.isna(value) or not 1 <= value.year <= 9999:  # beyond Python's datetime: refused
        return None
    return value.floor("us").to_pydatetime()


def ours(texts: list[str]) -> list[datetime | None]:
    return parse_iso_datetimes(pa.array(texts, pa.string())).to_pylist()


SPELLINGS = [
    "2024-01-31", "2024-01-31T13:45", "2024-01-31T13:45:00", "2024-01-31 13:45:00",
    "2024-01-31T13:45:00Z", "2024-01-31T13:45:00+01:00", "2024-01-31T13:45:00+0100",
    "2024-01-31T13:45:00+01", "2024-01-31T13:45:00.1", "2024-01-31T13:45:00.123456789",
    "20240131", "20240131T134500", "2024-1-31", "2024-01-3", "2024-01", "2024", "2024/01/31",
    "2024.01.31", "2024 01 31", "2024-01/31", "2024-02-30", "2024-02-29", "2023-02-29",
    "1900-02-29", "2000-02-29", "2024-01-31T24:00:00", "2024-01-31T23:60", "2024-01-31T23:59:60",
    "2024-01-31T13", "2024-01-31T1345", "2024-01-31T13:45:00 Z", "2024-01-31T13:45:00z",
    "2024-01-31t13:45:00", "0001-01-01", "9999-12-31T23:59:59", "1500-01-01",
    "2024-01-31T13:45:00-05:30", "2024-01-31T13:45:00+24:00", "2024-01-31T13:45:00.",
    "2024-01-31T13:45:00,5", "2024-W05-3", "2024-031", "+2024-01-31", "-2024-01-01",
    "0000-01-01", "2024-01-31T13:45:00+01:00:00", "2024-01-31T13:45:00 +01:00",
    "2024-01-31  13:45", "2024-01-31T13:45:5", "2024-01-31T1:45", "2024-01-31T13:4", "x", "",
    "2024-01-31T13:45:00UTC", "2024-01-31T13:45:00+1", "2024-01-31T13Z", "2024-01-31T1Z",
    "2024-01-31T13450", "2024-01-31T1345.5", "2024-01-31T13:45:00+01:5", "2024-01-31T13:45:00+013",
    "2024-01-31T13:45:00.1234567890123456789", "2024-01-31T13:45:00ZZ", "2024-01-31T",
    "2024-01-31T13:", "2024-1", "2024-01-", "202401", "2024-0131", "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00", "2024-13-01", "2024-00-10", "2024-01-00", "2024-04-31",
    "2024-01-31T000000", "2024-01-31T00000", "2024-01-31T0000", "2024-01-31T13:45:00.-1",
    "١٢٣٤-01-01", "NaT", "nan",
]


def test_every_known_spelling_is_read_as_pandas_read_it() -> None:
    assert ours(SPELLINGS) == [pandas_value(s) for s in SPELLINGS]


def test_now_and_today_are_not_times_a_partner_sent() -> None:
    assert ours(["now", "today"]) == [None, None]


def test_fractions_beyond_microseconds_round_down_instead_of_failing_the_batch() -> None:
    # pandas kept nanoseconds here, and converting its batch to Arrow then failed whole
    assert ours(["2024-01-31T13:45:00.1234567Z", "1969-12-31T23:59:59.9999999Z"]) == [
        datetime(2024, 1, 31, 13, 45, 0, 123456, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]


def piece(*choices: str) -> st.SearchStrategy[str]:
    return st.sampled_from(choices)


digits = st.text("0123456789", min_size=0, max_size=3)
CANDIDATES = st.builds(
    lambda *parts: "".join(parts),
    piece("", "-"), piece("2024", "1999", "0001", "9999", "0000", "202", "20245"),
    piece("", "-", "/", ".", " ", "\\"), digits, piece("", "-", "/", ".", " "), digits,
    piece("", "T", " ", "t", "  "), digits, piece("", ":"), digits, piece("", ":"), digits,
    piece("", ".", ","), digits, piece("", " ", "\t"),
    piece("", "Z", "+", "-", "z", "UTC"), digits, piece("", ":"), digits)


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(st.lists(CANDIDATES, min_size=1, max_size=8))
def test_generated_spellings_agree_with_pandas(texts: list[str]) -> None:
    assert ours(texts) == [pandas_value(t) for t in texts]


@pytest.mark.parametrize("value, ok", [("2026-11-25T07:15:00Z", True), ("25.11.2026", False)])
def test_a_datetime_field_is_checked_with_the_arrow_parser(value: str, ok: bool) -> None:
    route = RouteSpec.model_validate({
        "name": "t", "source": {"folder": "in"}, "format": {"type": "json"},
        "fields": {"at": {"type": "datetime"}}, "target": {"folder": "out"}})
    result = validate(Document(header={}, records=pa.table({"at": [value]})), route)
    assert result.ok is ok
    if ok:
        assert result.document.records.column("at").type == pa.timestamp("us", tz="UTC")
    else:
        assert result.issues[0].message == \
            "at: '25.11.2026' is not an ISO date-time like 2024-01-31T13:45:00"
