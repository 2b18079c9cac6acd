"""Rejected records written back in the input's own format, so the split-out file can be
fixed and reprocessed through the same route."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from tradelane.spec import (
    CsvFormat,
    EdifactFormat,
    FixedFormat,
    JsonFormat,
    RouteSpec,
    X12Format,
    XmlFormat,
)


def pick(rows: Any, mask: np.ndarray) -> list[Any]:
    """The source rows of a batch where ``mask`` is True (a list, or Arrow record batches)."""
    if rows is None:
        return []
    if isinstance(rows, pa.RecordBatch | pa.Table):
        return [rows.filter(pa.array(mask))]
    return [row for row, bad in zip(rows, mask, strict=False) if bad]


def count(rows: list[Any]) -> int:
    """How many records ``pick`` kept: Arrow batches hold many, other items one each."""
    return sum(r.num_rows if isinstance(r, pa.RecordBatch | pa.Table) else 1 for r in rows)


def subset_bytes(route: RouteSpec, rows: list[Any]) -> bytes:
    fmt = route.format
    # each format's writer is imported for its own routes: a CSV route never loads lxml
    if isinstance(fmt, JsonFormat):
        from tradelane.formats.json import subset as json_subset

        return json_subset(rows, fmt)
    if isinstance(fmt, FixedFormat):
        from tradelane.formats.fixed import subset as fixed_subset

        return fixed_subset(rows, fmt)
    if isinstance(fmt, XmlFormat):
        from tradelane.formats.xml import subset as xml_subset

        return xml_subset(rows, fmt)
    if isinstance(fmt, CsvFormat):
        table = pa.Table.from_batches([b for r in rows for b in _batches(r)])
        sink = io.BytesIO()
        pacsv.write_csv(table, sink, pacsv.WriteOptions(
            include_header=fmt.header, delimiter=fmt.delimiter, quoting_style="needed"))
        text = sink.getvalue().decode("utf-8")
        encoding = "utf-8" if fmt.encoding.lower() == "utf-8-sig" else fmt.encoding
        return text.encode(encoding, errors="replace")
    if isinstance(fmt, EdifactFormat):  # rows are whole messages
        from tradelane.formats.edifact_rejects import rejects_interchange

        return rejects_interchange(rows, fmt.encoding)
    if isinstance(fmt, X12Format):  # rows are whole transaction sets
        from tradelane.formats.x12_rejects import rejects_interchange as x12_rejects

        return x12_rejects(rows, fmt.encoding)
    raise NotImplementedError(f"splitting {fmt.type} files is not supported")


def _batches(rows: Any) -> list[pa.RecordBatch]:
    return rows.to_batches() if isinstance(rows, pa.Table) else [rows]
