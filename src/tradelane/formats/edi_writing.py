"""What the EDIFACT and X12 writers share: records grouped into documents (an EDIFACT message
or an X12 transaction set each), each document rendered as its header, one line per record
and its summary, and the template's ``prepared`` time taken from the first document that
has one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

import pyarrow as pa

from tradelane.errors import DeliveryRejected
from tradelane.models import Document, Issue

S = TypeVar("S")
#: ``render(part, values, rows, where)``: the segments of one template part ("header",
#: "line" or "summary") with ``values``; ``rows`` are the document's records (for ``sum_X``).
Render = Callable[[str, dict[str, Any], list[dict[str, Any]], str], list[S]]


def blank(value: Any) -> Any:
    """``""`` for a missing value (None or NaN), else the value."""
    return "" if value is None or (isinstance(value, float) and value != value) else value


def scalars(header: Mapping[str, Any]) -> dict[str, Any]:
    """Header values of a document; a header column (EDI input) gives its first value."""
    return {k: (v[0].as_py() if len(v) else None) if isinstance(v, pa.Array) else v
            for k, v in header.items()}


def groups(batches: Iterable[Document], group_by: str | None
           ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(header values, records) per document: a batch each, or runs of equal ``group_by``."""
    header: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for doc in batches:
        records = doc.records.to_pylist()
        if group_by is None:
            if records:
                yield scalars(doc.header), records
            continue
        for record in records:
            if rows and record.get(group_by) != rows[0].get(group_by):
                yield header, rows
                rows = []
            if not rows:
                header = scalars(doc.header)
            rows.append(record)
    if rows:
        yield header, rows


class PreparedNotATime(DeliveryRejected):
    """The template's ``prepared`` field holds something that is no date: the envelope
    would carry a date nobody chose, so the file is refused at that record."""

    def __init__(self, field: str, value: Any, where: str):
        message = (f"{field} is {str(value)[:60]!r}, not a date or time: the interchange's"
                   " preparation date (target prepared:) cannot be taken from it")
        super().__init__(f"cannot write the envelope: {field} at {where}: {message}",
                         issues=[Issue(location=where, field=field, value=str(value)[:200],
                                       rule="prepared", message=message)])


def as_time(value: Any, field: str, where: str) -> datetime | None:
    """A ``prepared`` value as a datetime; None when it is empty (the ledger's time is
    used), ``PreparedNotATime`` when it is text that is no ISO date or time."""
    value = blank(value)
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise PreparedNotATime(field, value, where) from None
    if value not in ("", None):
        raise PreparedNotATime(field, value, where)
    return None


class DocumentWriting:
    """Renders the documents of one output: ``documents()`` gives each one's segments;
    afterwards ``count`` is the records written and ``prepared`` the template's time."""

    def __init__(self, batches: Iterable[Document], *, group_by: str | None,
                 prepared: str | None, kind: str, number_field: str | None = None):
        self._batches = batches
        self._group_by = group_by
        self._prepared_field = prepared
        self._kind = kind  # "message", "transaction set": names the place of a problem
        self._number_field = number_field  # a placeholder for the document's number
        self.count = 0
        self.prepared: datetime | None = None

    def documents(self, render: Render[S]) -> Iterator[tuple[int, list[S]]]:
        """(number from 1, segments) per document, rendered with ``render``."""
        for number, (header, rows) in enumerate(groups(self._batches, self._group_by),
                                                start=1):
            first = self.count + 1  # its first record's number in the output
            values = {**header, **rows[0], "line_count": len(rows)}
            if self._number_field:
                values[self._number_field] = number
            where = f"record {first} ({self._kind} {number})"
            if self.prepared is None and self._prepared_field:
                self.prepared = as_time(values.get(self._prepared_field),
                                        self._prepared_field, where)
            segments = render("header", values, rows, where)
            for line_no, row in enumerate(rows, start=1):
                segments += render("line", {**values, **row, "line_no": line_no}, rows,
                                   f"record {first + line_no - 1} ({self._kind} {number})")
            segments += render("summary", values, rows, where)
            self.count += len(rows)
            yield number, segments
