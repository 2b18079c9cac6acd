"""Records as JSON text, one object per record, built column by column with pyarrow.

Building a Python dict per record and running ``json.dumps`` over it costs more than the whole
HTTP exchange of a batch; here each column is turned into JSON value texts with vectorised
Arrow kernels (numbers, dates, plain strings) and only unusual values go through ``json``.
Output matches the JSON writer: ISO dates, ``null`` for missing values, the fields'
``output_format`` for dates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tradelane.errors import DeliveryRejected
from tradelane.models import Issue

_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_TEXT = pa.large_string()  # one string type for every part joined (pandas uses large ones)


def json_rows(records: pd.DataFrame, formats: Mapping[str, str] | None = None,
              indent: int | None = None) -> list[str]:
    """One JSON object text per record, in the frame's order: compact, or with ``indent``
    spaces before each key (as ``json.dumps(record, indent=...)`` would lay it out)."""
    if len(records) == 0:
        return []
    formats = formats or {}
    first, between, colon, last = ("{", ",", ":", "}") if indent is None else (
        "{\n" + " " * indent, ",\n" + " " * indent, ": ", "\n}")
    parts: list[pa.Array] = []
    for i, name in enumerate(records.columns):
        key = (first if i == 0 else between) + json.dumps(str(name), ensure_ascii=False) + colon
        parts.append(pa.scalar(key, _TEXT))
        parts.append(pc.cast(_values(str(name), records[name], formats.get(str(name))), _TEXT))
    parts.append(pa.scalar(last if len(records.columns) else "{}", _TEXT))
    return pc.binary_join_element_wise(*parts, pa.scalar("", _TEXT)).to_pylist()


def _values(name: str, series: pd.Series, fmt: str | None) -> pa.Array:
    """The JSON text of each value of one column, ``null`` for missing ones."""
    try:
        column = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return _slow(name, series.tolist())  # mixed Python objects, e.g. from a hook
    kind = column.type
    if fmt and pa.types.is_temporal(kind):
        return _quoted(name, pc.strftime(column, format=fmt))
    if pa.types.is_null(kind):
        return pa.array(["null"] * len(column), _TEXT)
    if pa.types.is_boolean(kind):
        text = pc.if_else(column, "true", "false")
    elif pa.types.is_integer(kind):
        text = pc.cast(column, pa.string())
    elif pa.types.is_decimal(kind):
        text = pc.cast(column, pa.string())  # exact, trailing zeros kept: 225.00
    elif pa.types.is_floating(kind):
        if _any(pc.is_inf(column)):
            _not_json(name, "infinity")
        text = pc.cast(column, pa.string())  # shortest round-trip form, e.g. 0.1, 1e-7
    elif pa.types.is_date(kind):
        text = _quoted(name, pc.cast(column, pa.string()))
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = _quoted(name, column)
    else:  # timestamps, decimals, nested values: exact, through json
        return _slow(name, column.to_pylist())
    return pc.fill_null(text, "null") if text.null_count else text


def _quoted(name: str, strings: pa.Array) -> pa.Array:
    if _any(pc.match_substring_regex(strings, _NEEDS_ESCAPE)):
        return _slow(name, strings.to_pylist())
    quote = pa.scalar('"', _TEXT)
    joined = pc.binary_join_element_wise(quote, pc.cast(strings, _TEXT), quote,
                                         pa.scalar("", _TEXT))
    return pc.fill_null(joined, "null") if joined.null_count else joined


def _any(mask: pa.Array | pa.ChunkedArray) -> bool:
    """True if any value is true (nulls are not), without a kernel call for a plain array."""
    if isinstance(mask, pa.BooleanArray):
        return mask.true_count > 0
    return bool(pc.any(mask).as_py())


def _slow(name: str, values: list[Any]) -> pa.Array:
    out = []
    for value in values:
        if value is None or (isinstance(value, float) and value != value):
            out.append("null")
            continue
        try:
            out.append(json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                                  allow_nan=False, default=_plain))
        except ValueError:
            _not_json(name, repr(value))
    return pa.array(out, _TEXT)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "isoformat"):  # pandas Timestamp, time
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _not_json(name: str, value: str) -> None:
    raise DeliveryRejected(
        f"field {name}: the value {value} cannot be sent as JSON",
        issues=[Issue(location=f"field {name}", field=name, value=value, rule="json",
                      message="infinity and not-a-number have no JSON form")],
    )


__all__ = ["json_rows"]
