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

import pyarrow as pa
import pyarrow.compute as pc

from tradelane.errors import DeliveryRejected
from tradelane.models import Issue

_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_TEXT = pa.large_string()  # one string type for every part joined: no 2 GB limit per batch


def json_rows(records: pa.Table, formats: Mapping[str, str] | None = None,
              indent: int | None = None) -> list[str]:
    """One JSON object text per record, in the table's order: compact, or with ``indent``
    spaces before each key (as ``json.dumps(record, indent=...)`` would lay it out)."""
    if records.num_rows == 0:
        return []
    formats = formats or {}
    first, between, colon, last = ("{", ",", ":", "}") if indent is None else (
        "{\n" + " " * indent, ",\n" + " " * indent, ": ", "\n}")
    parts: list[pa.Array | pa.Scalar] = []
    for i, (name, column) in enumerate(zip(records.column_names, records.columns,
                                           strict=True)):
        key = (first if i == 0 else between) + json.dumps(name, ensure_ascii=False) + colon
        parts.append(pa.scalar(key, _TEXT))
        parts.append(pc.cast(_values(name, column.combine_chunks(), formats.get(name)), _TEXT))
    parts.append(pa.scalar(last if records.num_columns else "{}", _TEXT))
    return pc.binary_join_element_wise(*parts, pa.scalar("", _TEXT)).to_pylist()


def json_values(records: pa.Table, formats: Mapping[str, str] | None = None
                ) -> dict[str, list[str]]:
    """The JSON text of every value, column by column (``null`` for a missing one): the
    cells of nested documents, encoded exactly as ``json_rows`` encodes a record."""
    formats = formats or {}
    return {name: (_values(name, column.combine_chunks(), formats.get(name)).to_pylist()
                   if records.num_rows else [])
            for name, column in zip(records.column_names, records.columns, strict=True)}


def _values(name: str, column: pa.Array, fmt: str | None) -> pa.Array:
    """The JSON text of each value of one column, ``null`` for missing ones."""
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
        if _any(pc.is_nan(column)):  # not a number: JSON has only null for it
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, kind), column)
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
    if hasattr(value, "isoformat"):  # time of day
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


__all__ = ["json_rows", "json_values"]
