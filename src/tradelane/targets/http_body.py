"""Request bodies for HTTP targets: records (or a nest block's documents) cut into batches,
JSON-encoded, wrapped in an envelope.

Pure: no network, no ledger. Encoding matches the JSON writer (ISO dates, nulls, the fields'
``output_format``), so an API receives the same records a folder target would have written.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tradelane.formats.json_rows import json_rows
from tradelane.models import Document
from tradelane.spec import RouteSpec


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One request's body and the records it carries (record numbers of the file, 0-based)."""

    index: int
    records: list[int]
    body: bytes
    #: what a request carries, for people: a batch (of records or documents) or a document
    unit: str = "batch"

    @property
    def first_record(self) -> int:
        return self.records[0] if self.records else 0

    @property
    def last_record(self) -> int:
        return self.records[-1] if self.records else 0

    def describe(self, total: int) -> str:
        """'batch 3 of 5 (records 1001-1500)', numbered from 1 for people."""
        span = (f"record {self.first_record + 1}" if len(self.records) == 1 else
                f"records {self.first_record + 1}-{self.last_record + 1}")
        return f"{self.unit} {self.index + 1} of {total} ({span})"


def plan_requests(batches: Iterable[Document], route: RouteSpec,
                  names: Mapping[str, Any]) -> list[PlannedRequest]:
    """Consume every batch, then cut the records into request bodies.

    ``names`` fills the envelope's placeholders (route, name, sha256, file_id). Consuming the
    whole generator first matters: it may raise ``RejectError`` after its last batch, and by
    then nothing may have been sent.
    """
    spec = route.target.http
    assert spec is not None
    if route.nest is not None:
        return _plan_documents(batches, route, names)
    size = spec.records_per_request
    formats = route.output_formats()
    cut: list[tuple[list[int], bytes]] = []
    rows: list[str] = []
    numbers: list[int] = []
    for doc in batches:
        rows.extend(json_rows(doc.records, formats))
        assert doc.numbers is not None
        numbers.extend(doc.numbers.tolist())
        while len(rows) >= size:
            cut.append((numbers[:size], _encode(rows[:size], spec.per_record)))
            del rows[:size], numbers[:size]
    if rows:
        cut.append((numbers, _encode(rows, spec.per_record)))
    envelope = Envelope(spec.envelope, names)
    total = len(cut)
    return [PlannedRequest(i, nums, envelope.wrap(payload, batch=i + 1, batches=total,
                                                    count=len(nums)))
            for i, (nums, payload) in enumerate(cut)]


def _plan_documents(batches: Iterable[Document], route: RouteSpec,
                    names: Mapping[str, Any]) -> list[PlannedRequest]:
    """Nested documents (the route's ``nest``): one per request (``per_document``), else
    ``batch`` documents per request as a JSON array; each request lists its documents'
    records, so a refusal names them."""
    from tradelane.formats.nested import document_json, json_documents

    spec = route.target.http
    assert spec is not None and route.nest is not None
    size = spec.records_per_request
    cut: list[tuple[list[int], bytes]] = []
    texts: list[str] = []
    numbers: list[int] = []
    for doc in json_documents(batches, route):
        texts.append(document_json(doc, route.nest))
        numbers.extend(doc.records)
        if len(texts) >= size:
            cut.append((numbers, _encode(texts, spec.per_document)))
            texts, numbers = [], []
    if texts:
        cut.append((numbers, _encode(texts, spec.per_document)))
    envelope = Envelope(spec.envelope, names)
    total = len(cut)
    unit = "document" if spec.per_document else "batch"
    return [PlannedRequest(i, nums, envelope.wrap(payload, batch=i + 1, batches=total,
                                                    count=len(nums)), unit)
            for i, (nums, payload) in enumerate(cut)]


def _encode(rows: list[str], per_record: bool) -> bytes:
    return (rows[0] if per_record else "[" + ",".join(rows) + "]").encode()


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Envelope:
    """The body template around each batch, filled by substitution only (never evaluated).

    ``{records}`` must be a whole JSON value and becomes the batch; a string that is exactly
    ``{batch}``, ``{batches}``, ``{count}`` or ``{file_id}`` becomes a number; any other
    placeholder is replaced as text.
    """

    _NUMERIC = frozenset({"batch", "batches", "count", "file_id"})

    def __init__(self, template: Mapping[str, Any] | None, names: Mapping[str, Any]):
        self.template = template
        self.names = dict(names)
        self._slot = f"__tradelane_records_{uuid.uuid4().hex}__"

    def wrap(self, payload: bytes, **numbers: int) -> bytes:
        if self.template is None:
            return payload
        values = {**self.names, **numbers}
        text = _dumps(self._fill(self.template, values))
        before, _, after = text.partition(json.dumps(self._slot).encode())
        return before + payload + after

    def _fill(self, node: Any, values: Mapping[str, Any]) -> Any:
        if isinstance(node, dict):
            return {k: self._fill(v, values) for k, v in node.items()}
        if isinstance(node, list):
            return [self._fill(v, values) for v in node]
        if not isinstance(node, str):
            return node
        whole = re.fullmatch(r"{(\w+)}", node)
        if whole and whole[1] == "records":
            return self._slot
        if whole and whole[1] in self._NUMERIC and isinstance(values.get(whole[1]), int):
            return values[whole[1]]
        return re.sub(r"{(\w+)}", lambda m: str(values.get(m[1], m[0])), node)


__all__ = ["Envelope", "PlannedRequest", "plan_requests"]

