"""Routes, records and delivery contexts for the HTTP target tests and the benchmark."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from tradelane.abc import DeliveryContext
from tradelane.ledger import Ledger
from tradelane.models import Document, FileRef
from tradelane.spec import RouteSpec


def http_route(url: str, *, name: str = "crm_orders", on_invalid: str = "reject",
               **http: Any) -> RouteSpec:
    http.setdefault("retry", {"attempts": 3, "backoff": "10ms", "max_backoff": "50ms"})
    return RouteSpec.model_validate({
        "name": name,
        "source": {"folder": "inbox"},
        "format": {"type": "csv"},
        "fields": {"order_id": {}},
        "on_invalid": on_invalid,
        "target": {"http": {"url": url, **http}},
    })


def records(count: int, start: int = 0) -> pa.Table:
    """Typed records as validation and transform leave them: records ``start`` to
    ``start + count - 1`` of a file (``documents`` gives them their numbers)."""
    numbers = range(start, start + count)
    return pa.table(
        {
            "order_id": [f"O-{n:06d}" for n in numbers],
            "qty": [n % 7 + 1 for n in numbers],
            "price": [round(n * 0.25, 2) for n in numbers],
            "shipped": [date(2024, 1, 1 + n % 28) for n in numbers],
            "note": [None if n % 5 == 0 else f"größe {n}" for n in numbers],
        },
    )


def expected_json(count: int, start: int = 0) -> list[dict[str, Any]]:
    """The same records as the API must receive them."""
    return [{"order_id": f"O-{n:06d}", "qty": n % 7 + 1, "price": round(n * 0.25, 2),
             "shipped": date(2024, 1, 1 + n % 28).isoformat(),
             "note": None if n % 5 == 0 else f"größe {n}"}
            for n in range(start, start + count)]


def documents(count: int, chunk: int = 700) -> Iterator[Document]:
    """A file read in chunks, like readers yield it."""
    for start in range(0, count, chunk):
        size = min(chunk, count - start)
        yield Document(header={}, records=records(size, start),
                       numbers=np.arange(start, start + size))


def context(ledger: Ledger | None, *, route: str = "crm_orders", name: str = "orders.csv",
            content: bytes = b"orders") -> DeliveryContext:
    """Claim a file in the ledger (the outbox refers to it) and describe it to the target."""
    file_id = 1
    if ledger is not None:
        claimed = ledger.claim(FileRef(route, "file:///inbox", name, len(content), 1))
        assert claimed is not None
        file_id = claimed.id
    return DeliveryContext(file_id=file_id, route=route, original_name=name,
                           sha256=hashlib.sha256(content).hexdigest(),
                           received_at=datetime.now(UTC), ledger=ledger)
