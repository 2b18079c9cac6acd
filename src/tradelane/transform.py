"""Declarative mapping of validated records. Pure: returns a new Document plus any problems.

Order: copy_header, constants, lookups, derive, hook, rename, output.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tradelane.models import Document, Issue
from tradelane.spec import RouteSpec, TransformSpec, import_hook


@dataclass(frozen=True)
class TransformResult:
    document: Document
    issues: list[Issue]
    error_count: int
    invalid: np.ndarray


def transform(doc: Document, route: RouteSpec, *, limit: int = 100) -> TransformResult:
    spec: TransformSpec = route.transform
    df = doc.records.copy(deep=False)
    n = len(df)
    issues: list[Issue] = []
    invalid = np.zeros(n, dtype=bool)
    error_count = 0

    for name in spec.copy_header:
        df[name] = _broadcast(doc.header.get(name), n, df.index)
    for name, value in spec.constants.items():
        df[name] = _broadcast(value, n, df.index)
    for lookup in spec.lookups:
        table = _table(route.resolve(lookup.table), lookup.key_column, lookup.value_column)
        keys = df[lookup.key].astype("string")
        mapped = keys.map(table)
        missing = (mapped.isna() & keys.notna() & (keys != "")).to_numpy(dtype=bool)
        if lookup.on_missing == "keep":
            mapped = mapped.where(~missing, keys)
        elif lookup.on_missing == "reject" and missing.any():
            invalid |= missing
            error_count += int(missing.sum())
            for row in np.flatnonzero(missing)[: max(0, limit - len(issues))]:
                key = str(keys.iloc[row])
                issues.append(Issue(
                    doc.locate(int(df.index[row])), lookup.key, key, "lookup",
                    f"{lookup.key}: {key!r} is not in {lookup.table} ({lookup.key_column})"))
        df[lookup.field] = mapped.astype("string")
    for name, derive in spec.derive.items():
        if derive.expr:
            result = df.eval(derive.expr, engine="python")
            if derive.round is not None:
                result = result.round(derive.round)
            df[name] = result
        else:
            assert derive.template
            df[name] = _template(df, derive.template, doc.header)
    if spec.hook:
        func = import_hook(spec.hook, route.base_dir)
        df = func(df, dict(doc.header))
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"transform hook {spec.hook} must return a pandas DataFrame")
    if spec.rename:
        df = df.rename(columns=spec.rename)
    if spec.output:
        df = df[list(spec.output)]
    for column, places in route.target.decimals.items():
        if column in df:
            df[column] = _fixed_decimals(df[column], places)
    return TransformResult(
        document=doc.with_records(df), issues=issues, error_count=error_count, invalid=invalid)


def _fixed_decimals(series: pd.Series, places: int) -> pd.Series:
    """Exact decimals with ``places`` digits (225 -> 225.00), as Arrow decimal128."""
    values = pa.array(series, from_pandas=True)
    if not pa.types.is_decimal(values.type):
        values = pc.round(pc.cast(values, pa.float64()), places, round_mode="half_to_even")
    fixed = pc.cast(values, pa.decimal128(38, places))
    return pd.Series(pd.arrays.ArrowExtensionArray(fixed), index=series.index)


def _broadcast(value: Any, n: int, index: pd.Index) -> pd.Series:
    if isinstance(value, pd.Series):  # a header column: already one value per record
        return value
    if isinstance(value, str) or value is None:
        return pd.Series([value] * n, index=index, dtype="string")
    return pd.Series([value] * n, index=index)


def _template(df: pd.DataFrame, template: str, header: Any) -> pd.Series:
    if df.empty:
        return pd.Series([], index=df.index, dtype="string")
    text = [template.format_map(_Row(record, header, label))
            for label, record in zip(df.index, df.to_dict(orient="records"), strict=True)]
    return pd.Series(text, index=df.index, dtype="string")


class _Row(dict[str, Any]):
    def __init__(self, record: dict[str, Any], header: Any, label: Any = None):
        super().__init__({k: ("" if _missing(v) else v) for k, v in record.items()})
        self.header = header
        self.label = label

    def __missing__(self, key: str) -> Any:
        value = self.header.get(key)
        if isinstance(value, pd.Series):  # a header column
            value = value.get(self.label)
            value = None if _missing(value) else value
        return "" if value is None else value


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


@cache
def _table_cached(path: Path, mtime_ns: int, key: str, value: str) -> dict[str, str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return {row[key].strip(): row[value] for row in csv.DictReader(fh)}


def _table(path: Path, key: str, value: str) -> dict[str, str]:
    return _table_cached(path, path.stat().st_mtime_ns, key, value)
