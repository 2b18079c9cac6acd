"""The columnar JSON encoder gives what json.dumps of the same records would."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from tradelane.errors import DeliveryRejected
from tradelane.formats.json_rows import json_rows


def test_every_common_type_round_trips() -> None:
    frame = pa.table({
        "text": ["plain", 'quote " and \\ back', "tab\tnew\nline\x01", "größe ✓ 😀", None],
        "arrow_text": pa.array(["a", None, "b", "c", "d"], pa.large_string()),
        "int": [1, -2, 3, 0, 2**53],
        "nullable_int": pa.array([1, None, 3, 4, 5], pa.int64()),
        "float": pa.array([0.1, 1 / 3, 1e-7, float("nan"), 1.0], pa.float64()),  # a real NaN
        "flag": pa.array([True, False, None, True, False], pa.bool_()),
        "day": [date(2024, 1, 31), None, date(1999, 12, 1), date(2024, 2, 29), date(2000, 1, 1)],
        "stamp": pa.array([datetime(2024, 1, 31, 13, 45), datetime(2024, 1, 31, 13, 45, 0, 123456),
                           None, datetime(2024, 2, 1), datetime(2024, 2, 2)], pa.timestamp("us")),
        'we"ird': ["x"] * 5,
    })
    rows = [json.loads(r) for r in json_rows(frame)]

    assert rows[0] == {"text": "plain", "arrow_text": "a", "int": 1, "nullable_int": 1,
                       "float": 0.1, "flag": True, "day": "2024-01-31",
                       "stamp": "2024-01-31T13:45:00", 'we"ird': "x"}
    assert [r["text"] for r in rows] == ["plain", 'quote " and \\ back', "tab\tnew\nline\x01",
                                         "größe ✓ 😀", None]
    assert [r["nullable_int"] for r in rows] == [1, None, 3, 4, 5]
    assert rows[4]["int"] == 2**53
    assert [r["float"] for r in rows] == [0.1, 1 / 3, 1e-7, None, 1.0]
    assert [r["flag"] for r in rows] == [True, False, None, True, False]
    assert rows[1]["day"] is None and rows[1]["stamp"] == "2024-01-31T13:45:00.123456"
    assert rows[2]["stamp"] is None


def test_decimals_aware_times_and_narrow_integers() -> None:
    # A column of mixed Python values can no longer reach a writer: a hook returning one is
    # refused at the hook boundary (tests/test_route_options.py).
    frame = pa.table({
        "amount": [Decimal("12.50"), Decimal("3"), None],
        "aware": [datetime(2024, 1, 1, tzinfo=UTC)] * 3,
        "narrow": pa.array([1, 2, 3], pa.int32()),
    })
    rows = [json.loads(r) for r in json_rows(frame)]
    assert [r["amount"] for r in rows] == [12.5, 3, None]
    assert rows[0]["aware"] == "2024-01-01T00:00:00+00:00"
    assert [r["narrow"] for r in rows] == [1, 2, 3]


def test_output_format_for_dates() -> None:
    frame = pa.table({"day": [date(2024, 1, 31)]})
    assert json_rows(frame, {"day": "%d.%m.%Y"}) == ['{"day":"31.01.2024"}']


def test_infinity_is_refused_with_the_field_named() -> None:
    with pytest.raises(DeliveryRejected, match="field price"):
        json_rows(pa.table({"price": [1.0, float("inf")]}))


def test_empty_table() -> None:
    assert json_rows(pa.table({"a": pa.array([], pa.string())})) == []
