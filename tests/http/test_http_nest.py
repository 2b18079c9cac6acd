"""Nested documents pushed to a real local API: one request per document (per_document), or
several documents per request (batch), each with its idempotency key."""

from __future__ import annotations

import json
from pathlib import Path

from support.http_server import RecordingServer
from support.project import ProjectDir
from tradelane.models import Outcome

ORDERS = (
    "Order;Buyer;Line;GTIN;Qty\n"
    "PO-1;4012345000009;1;4006381333931;24\n"
    "PO-1;4012345000009;2;4006381333948;12\n"
    "PO-2;5412345000013;1;4006381333955;6\n"
    "PO-3;5412345000020;1;4006381333962;1\n"
)

PO_1 = {"order_number": "PO-1", "buyer_gln": "4012345000009",
        "lines": [{"line_no": 1, "gtin": "4006381333931", "quantity": 24},
                  {"line_no": 2, "gtin": "4006381333948", "quantity": 12}]}


def route(server: RecordingServer, http: str) -> str:
    return f"""\
        source: {{folder: inbox/orders, pattern: "*.csv", min_age: 1s}}
        format: {{type: csv, delimiter: ";"}}
        fields:
          order_number: {{source: Order, required: true}}
          buyer_gln:    {{source: Buyer}}
          line_no:      {{source: Line, type: integer}}
          gtin:         {{source: GTIN}}
          quantity:     {{source: Qty, type: integer}}
        nest:
          by: order_number
          fields: [order_number, buyer_gln]
          children:
            lines: {{by: line_no, fields: [line_no, gtin, quantity]}}
        target:
          http: {{url: {server.url}/orders, {http}, retry: {{attempts: 2, backoff: 10ms}}}}
        """


def run(project: ProjectDir, content: str) -> Outcome:
    project.drop("orders", "orders.csv", content)
    [result] = project.run().results
    return result.outcome


def test_one_request_per_document(server: RecordingServer, tmp_path: Path) -> None:
    project = ProjectDir(tmp_path / "p").route("orders", route(server, "per_document: true"))

    assert run(project, ORDERS) == Outcome.DELIVERED
    bodies = [r.json() for r in server.requests]
    assert [b["order_number"] for b in bodies] == ["PO-1", "PO-2", "PO-3"]
    assert bodies[0] == PO_1
    assert len({r.key for r in server.requests}) == 3  # each document its own key
    assert all(r.headers["content-type"] == "application/json" for r in server.requests)


def test_batch_counts_documents_per_request(server: RecordingServer, tmp_path: Path) -> None:
    project = ProjectDir(tmp_path / "p").route("orders", route(server, "batch: 2"))

    assert run(project, ORDERS) == Outcome.DELIVERED
    bodies = [r.json() for r in server.requests]
    assert [[d["order_number"] for d in b] for b in bodies] == [["PO-1", "PO-2"], ["PO-3"]]
    assert bodies[0][0] == PO_1


def test_a_refused_document_names_its_records(server: RecordingServer, tmp_path: Path) -> None:
    """The API refuses PO-2's request: the reason file says which document and records."""
    project = ProjectDir(tmp_path / "p").route("orders", route(server, "per_document: true"))
    server.when(lambda r: b'"PO-2"' in r.body, status=422, body='{"error": "unknown buyer"}')

    assert run(project, ORDERS) == Outcome.QUARANTINED
    [reason] = (project.root / "quarantine" / "orders").rglob("*.reason.json")
    [error] = json.loads(reason.read_text())["errors"]
    assert error["location"] == "document 2 of 3 (record 3)"
    assert error["rule"] == "http_422"


def test_nothing_is_sent_when_a_document_field_disagrees(server: RecordingServer,
                                                          tmp_path: Path) -> None:
    project = ProjectDir(tmp_path / "p").route("orders", route(server, "per_document: true"))
    bad = ORDERS.replace("PO-1;4012345000009;2", "PO-1;4099999999999;2")

    assert run(project, bad) == Outcome.QUARANTINED
    assert server.requests == []
