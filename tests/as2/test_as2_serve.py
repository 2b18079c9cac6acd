"""tradelane serve runs the AS2 endpoint on its own port: django-pyas2 sends, and the file
goes through the route that reads the partner's folder, with no other step."""

from __future__ import annotations

from pathlib import Path

from as2_fixtures import As2Setup

from support.serving import wait_for
from tradelane.serve.server import Server

ROUTE = """\
    source: {folder: inbox/from_peer, pattern: "*.csv", min_age: 0s}
    watch: true
    format: {type: csv}
    fields:
      order_id: {source: Order, required: true}
    target: {folder: outbox/from_peer, format: json, name: "{stem}.json"}
"""


def test_serve_receives_from_django_pyas2_and_the_route_delivers(as2: As2Setup,
                                                                 tmp_path: Path) -> None:
    as2.project.route("from_peer", ROUTE)
    (as2.project.root / "inbox/from_peer").mkdir(parents=True)
    payload = tmp_path / "po_77.csv"
    payload.write_text("Order\nPO-77\n")
    out = as2.project.root / "outbox/from_peer/po_77.json"
    with as2.project.ledger() as ledger:
        server = Server(as2.project.load(), ledger, health_port=None, channels=[])
        server.start()
        try:
            assert server.as2 is not None and server.as2.port == as2.endpoint_port
            as2.peer.send(payload)
            wait_for(out.exists, 30, "the route's output")
        finally:
            assert server.stop(timeout=10)
    assert b"PO-77" in out.read_bytes()
    assert [m["status"] for m in as2.peer.messages("OUT")] == ["S"]
