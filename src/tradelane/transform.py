"""Declarative mapping of validated records, column by column in Arrow. Pure: returns a new
Document plus any problems.

Order: copy_header, constants, lookups, derive, hook, rename, output, then the target's
fixed decimals.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tradelane.errors import ConfigError, HookError
from tradelane.expr import ExpressionFailed, ExpressionInvalid, compile_expression
from tradelane.hooks import run_hook
from tradelane.models import Document, Issue
from tradelane.spec import DeriveSpec, LookupSpec, RouteSpec, TransformSpec


@dataclass(frozen=True)
class TransformResult:
    document: Document
    issues: list[Issue]
    error_count: int
    invalid: np.ndarray  # bool per record of the input: True if a lookup failed for it


def transform(doc: Document, route: RouteSpec, *, limit: int = 100) -> TransformResult:
    spec: TransformSpec = route.transform
    table = doc.records
    n = table.num_rows
    numbers = doc.numbers
    assert numbers is not None
    issues: list[Issue] = []
    invalid = np.zeros(n, dtype=bool)
    error_count = 0

    for name in spec.copy_header:
        table = _set(table, name, _broadcast(doc.header.get(name), n))
    for name, value in spec.constants.items():
        table = _set(table, name, _broadcast(value, n))
    for lookup in spec.lookups:
        mapped, missing = _lookup(table, lookup, route)
        if lookup.on_missing == "reject" and missing.any():
            invalid |= missing
            error_count += int(missing.sum())
            keys = table.column(lookup.key)
            for row in np.flatnonzero(missing)[: max(0, limit - len(issues))]:
                key = str(keys[int(row)].as_py())
                issues.append(Issue(
                    doc.locate(int(numbers[row])), lookup.key, key, "lookup",
                    f"{lookup.key}: {key!r} is not in {lookup.table} ({lookup.key_column})"))
        table = _set(table, lookup.field, mapped)
    for name, derive in spec.derive.items():
        table = _set(table, name, _derive(name, derive, table, doc.header))
    if spec.hook:
        table, numbers = run_hook(spec.hook, route.base_dir, table, numbers, doc.header)
    if spec.rename:
        table = table.rename_columns([spec.rename.get(c, c) for c in table.column_names])
    if spec.output:
        table = _select(table, list(spec.output), spec.hook)
    for column, places in route.target.decimals.items():
        if column not in table.column_names:
            continue
        fixed, too_big = _fixed_decimals(table.column(column), places)
        table = _set(table, column, fixed)
        if too_big.any():  # a record that cannot be written as asked is a record's problem
            invalid |= np.isin(doc.numbers, numbers[too_big])
            error_count += int(too_big.sum())
            for row in np.flatnonzero(too_big)[: max(0, limit - len(issues))]:
                issues.append(Issue(
                    doc.locate(int(numbers[row])), column, "", "decimals",
                    f"{column}: the value has more digits than {38 - places} before the"
                    f" decimal point, which an exact decimal with {places} places allows"))
    return TransformResult(document=doc.with_records(table, numbers), issues=issues,
                           error_count=error_count, invalid=invalid)


def _set(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """``table`` with the column ``name`` replaced in place, or added at the end."""
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def _broadcast(value: Any, n: int) -> pa.Array:
    if isinstance(value, pa.Array):  # a header column: already one value per record
        return value
    if value is None:
        return pa.nulls(n, pa.string())
    return pa.repeat(pa.scalar(value), n)


def _lookup(table: pa.Table, lookup: LookupSpec, route: RouteSpec
            ) -> tuple[pa.Array, np.ndarray]:
    """The looked-up values, and which records have a key that is not in the table."""
    known, values = _table(route.resolve(lookup.table), lookup.key_column, lookup.value_column)
    keys = table.column(lookup.key)
    if not (pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)):
        keys = pc.cast(keys, pa.string())
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    at = pc.index_in(keys, value_set=known)
    mapped = values.take(at)
    missing_mask = pc.and_(pc.is_null(at), pc.not_equal(keys, ""))
    missing = np.asarray(pc.fill_null(missing_mask, False).to_numpy(zero_copy_only=False),
                         dtype=bool)
    if lookup.on_missing == "keep" and missing.any():
        mapped = pc.if_else(pa.array(missing), pc.cast(keys, pa.string()), mapped)
    return mapped, missing


def _derive(name: str, derive: DeriveSpec, table: pa.Table, header: Mapping[str, Any]
            ) -> pa.Array | pa.ChunkedArray:
    if derive.template:
        return _template(table, derive.template, header)
    assert derive.expr
    where = f"transform.derive.{name}.expr"
    try:
        expression = compile_expression(derive.expr)
    except ExpressionInvalid as exc:
        raise ConfigError([f"{where}: {exc.problems[0]}"]) from None
    absent = sorted(expression.names - set(table.column_names))
    if absent:
        raise ConfigError([f"{where}: {', '.join(map(repr, absent))} is not a field"])
    columns = {c: table.column(c) for c in expression.names}
    try:
        result = expression.evaluate(columns, table.num_rows)
        if derive.round is not None:
            result = pc.round(result, ndigits=derive.round, round_mode="half_to_even")
    except ExpressionFailed as exc:
        raise HookError(f"{where} {derive.expr!r}", exc.error, where=repr(exc.part)) from None
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:  # round of a text
        raise HookError(f"{where} {derive.expr!r}", TypeError(
            f"round: {str(exc).splitlines()[0]}")) from None
    return result


def _template(table: pa.Table, template: str, header: Mapping[str, Any]) -> pa.Array:
    columns = {k: v.to_pylist() for k, v in header.items() if isinstance(v, pa.Array)}
    text = [template.format_map(_Row(record, header, columns, row))
            for row, record in enumerate(table.to_pylist())]
    return pa.array(text, pa.string())


class _Row(dict[str, Any]):
    """One record's values for a template; missing values and header fields fill in."""

    def __init__(self, record: dict[str, Any], header: Mapping[str, Any],
                 header_columns: Mapping[str, list[Any]], row: int):
        super().__init__({k: ("" if _missing(v) else v) for k, v in record.items()})
        self.header, self.header_columns, self.row = header, header_columns, row

    def __missing__(self, key: str) -> Any:
        column = self.header_columns.get(key)
        value = column[self.row] if column is not None else self.header.get(key)
        return "" if _missing(value) else value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _select(table: pa.Table, names: list[str], hook: str | None) -> pa.Table:
    absent = [c for c in names if c not in table.column_names]
    if absent and hook:  # the check cannot know what a hook returns
        raise HookError(hook, KeyError(
            f"transform.output names {', '.join(map(repr, absent))}, which the hook's result"
            f" does not have (it has {', '.join(table.column_names)})"))
    if absent:
        raise ConfigError([f"transform.output: {', '.join(map(repr, absent))} is not a field"])
    return table.select(names)


def _fixed_decimals(values: pa.Array | pa.ChunkedArray, places: int
                    ) -> tuple[pa.Array | pa.ChunkedArray, np.ndarray]:
    """Exact decimals with ``places`` digits (225 -> 225.00), as Arrow decimal128, and which
    values have too many digits for one (38 in all): those become nulls."""
    values = pc.round(values if pa.types.is_decimal(values.type)
                      else pc.cast(values, pa.float64()), places, round_mode="half_to_even")
    magnitude = pc.abs(pc.cast(values, pa.float64()))
    too_big = pc.fill_null(pc.greater_equal(magnitude, 10.0 ** (38 - places)), False)
    if too_big.true_count if isinstance(too_big, pa.BooleanArray) else pc.any(too_big).as_py():
        values = pc.if_else(too_big, pa.scalar(None, values.type), values)
    mask = np.asarray(too_big.to_numpy(zero_copy_only=False), dtype=bool)
    return pc.cast(values, pa.decimal128(38, places)), mask


@cache
def _table_cached(path: Path, mtime_ns: int, key: str, value: str) -> tuple[pa.Array, pa.Array]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        table = {row[key].strip(): row[value] for row in csv.DictReader(fh)}
    return pa.array(list(table), pa.string()), pa.array(list(table.values()), pa.string())


def _table(path: Path, key: str, value: str) -> tuple[pa.Array, pa.Array]:
    """A lookup table's keys and values (the last row of a key wins)."""
    return _table_cached(path, path.stat().st_mtime_ns, key, value)
