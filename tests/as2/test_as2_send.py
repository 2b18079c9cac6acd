"""tradelane sends to django-pyas2: sync and async MDN, and the bad cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from as2_fixtures import As2Setup, route_text, serving, settings_text
from sqlalchemy import select

from tradelane.ledger.tables import as2_messages
from tradelane.models import Outcome

CSV = "Order,Qty\nPO-1,5\nPO-2,7\n"


def _rows(setup: As2Setup) -> list[dict]:
    with setup.project.ledger() as ledger, ledger.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(as2_messages))]


def test_send_with_sync_mdn_is_delivered_and_recorded(as2: As2Setup) -> None:
    as2.project.route("to_peer", route_text(as2.peer.url))
    as2.project.drop("to_peer", "orders.csv", CSV)
    summary = as2.project.run()
    assert summary.count(Outcome.DELIVERED) == 1, summary
    received = as2.peer.messages("IN")
    assert [m["status"] for m in received] == ["S"], received
    assert any(b'"PO-2",7' in p for p in as2.peer.payloads())
    rows = _rows(as2)
    assert [(r["direction"], r["state"], r["mdn_status"]) for r in rows] == \
        [("out", "confirmed", "processed")]
    assert rows[0]["message_id"] == received[0]["id"]
    shown = subprocess.run([sys.executable, "-m", "tradelane", "history", "orders.csv",
                            "--json"], cwd=as2.project.root, capture_output=True, text=True,
                           check=True, env={**os.environ, "COLUMNS": "80"})
    [item] = json.loads(shown.stdout)
    assert [(m["message_id"], m["state"], m["mdn_status"]) for m in item["as2"]] == \
        [(received[0]["id"], "confirmed", "processed")]
    table = subprocess.run([sys.executable, "-m", "tradelane", "history", "orders.csv"],
                           cwd=as2.project.root, capture_output=True, text=True, check=True,
                           env={**os.environ, "COLUMNS": "80"}).stdout
    assert "AS2 messages" in table and "confirmed" in table
    assert max(len(line) for line in table.splitlines()) <= 80


def test_send_with_async_mdn_waits_for_the_mdn_at_our_endpoint(as2: As2Setup) -> None:
    as2.peer.set_partner(mdn_mode="ASYNC")
    as2.project.route("to_peer", route_text(as2.peer.url, mdn="async"))
    as2.project.drop("to_peer", "orders.csv", CSV)
    with serving(as2.project, as2.endpoint_port):
        # django-pyas2 posts its pending async MDNs from its management command
        sender = threading.Timer(2.0, as2.peer.manage, ("manageas2server", "--async-mdns"))
        sender.start()
        summary = as2.project.run()
        sender.join()
    assert summary.count(Outcome.DELIVERED) == 1, summary
    rows = _rows(as2)
    assert [(r["state"], r["mdn_status"]) for r in rows] == [("confirmed", "processed")]


def test_partner_with_other_certificate_is_not_confirmed(as2: As2Setup) -> None:
    # we hold a certificate for djpeer that is not its own: its signed MDN cannot be verified
    as2.project.route("to_peer", route_text(as2.peer.url, cert="keys/stranger.crt"))
    as2.project.drop("to_peer", "orders.csv", CSV)
    summary = as2.project.run()
    assert summary.count(Outcome.DELIVERED) == 0
    rows = _rows(as2)
    assert rows and rows[0]["state"] != "confirmed"


def test_expired_partner_certificate_is_refused_before_sending(as2: As2Setup) -> None:
    as2.project.route("to_peer", route_text(as2.peer.url, cert="keys/expired.crt"))
    as2.project.drop("to_peer", "orders.csv", CSV)
    summary = as2.project.run()
    assert summary.count(Outcome.DELIVERED) == 0
    assert as2.peer.messages("IN") == []
    assert as2.project.inbox("to_peer"), "the file stays pending until the key is fixed"


def test_sender_killed_after_posting_resends_the_same_id_and_delivers_once(
        as2: As2Setup) -> None:
    as2.project.settings(settings_text(as2.endpoint_port) + "lease: 100ms\n")
    as2.project.route("to_peer", route_text(as2.peer.url))
    as2.project.drop("to_peer", "orders.csv", CSV)
    run = [sys.executable, "-m", "tradelane", "run", "--once"]
    killed = subprocess.run(run, cwd=as2.project.root, capture_output=True,
                            env={**os.environ, "TRADELANE_CRASH_AT": "as2-sent"})
    assert killed.returncode == -9  # SIGKILL after the post, before the MDN was recorded
    [first] = as2.peer.messages("IN")
    assert [(r["state"], r["message_id"]) for r in _rows(as2)] == [("sent", first["id"])]
    time.sleep(0.3)  # the killed run's lease (100 ms) runs out
    again = subprocess.run(run, cwd=as2.project.root, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    rows = _rows(as2)
    assert [(r["state"], r["message_id"]) for r in rows] == [("confirmed", first["id"])]
    # the partner took it once; the resend under the same id was its duplicate
    received = as2.peer.messages("IN")
    assert [m["id"] for m in received if m["status"] == "S"] == [first["id"]]


def test_async_mdn_missing_past_mdn_within_raises_an_alert_and_resends(
        as2: As2Setup) -> None:
    from tradelane.ledger.alerts import Incidents

    as2.peer.set_partner(mdn_mode="ASYNC")  # the peer would post it; nobody makes it
    as2.project.settings(settings_text(as2.endpoint_port) + "retry_backoff: 100ms\n")
    as2.project.route("to_peer", route_text(as2.peer.url, mdn="async").replace(
        "mdn_wait: 20s", "mdn_wait: 1s\n        mdn_within: 2s"))
    as2.project.drop("to_peer", "orders.csv", CSV)
    assert as2.project.run().count(Outcome.DELIVERED) == 0
    [row] = _rows(as2)
    assert row["state"] == "awaiting-mdn"
    with as2.project.ledger() as ledger:
        assert not Incidents(ledger).open_incidents()
    time.sleep(2.5)
    assert as2.project.run().count(Outcome.DELIVERED) == 0
    with as2.project.ledger() as ledger:
        alerts = [(i.kind, i.message) for i in Incidents(ledger).open_incidents()]
    assert [k for k, _ in alerts] == ["as2_mdn_missing"]
    assert row["message_id"] in alerts[0][1]
    # sent again under the same id: the peer holds the first and a duplicate of it
    ids = [m["id"] for m in as2.peer.messages("IN")]
    assert ids[0] == row["message_id"] and len(ids) == 2
    assert as2.project.inbox("to_peer"), "the file stays pending"
    # the MDN comes at last: the file is delivered and the alert closes
    with serving(as2.project, as2.endpoint_port):
        as2.peer.manage("manageas2server", "--async-mdns")
    assert as2.project.run().count(Outcome.DELIVERED) == 1
    with as2.project.ledger() as ledger:
        assert Incidents(ledger).open_incidents() == []


def test_partner_certificate_from_the_partner_record(as2: As2Setup) -> None:
    as2.project.file("partners/djpeer.yaml", "description: the test peer\n"
                     "keys: {certificate: keys/peer.crt}\n")
    route = route_text(as2.peer.url).replace("        partner_certificate: keys/peer.crt\n",
                                             "")
    as2.project.route("to_peer", "partner: djpeer\n" + route.replace("\n    ", "\n")[4:])
    as2.project.drop("to_peer", "orders.csv", CSV)
    assert as2.project.run().count(Outcome.DELIVERED) == 1
    assert [r["state"] for r in _rows(as2)] == ["confirmed"]


def test_send_on_a_postgresql_ledger(as2: As2Setup, pg_url: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_LEDGER_URL", pg_url)
    as2.project.route("to_peer", route_text(as2.peer.url))
    as2.project.drop("to_peer", "orders.csv", CSV)
    assert as2.project.run().count(Outcome.DELIVERED) == 1
    with as2.project.ledger() as ledger:
        assert ledger.engine.dialect.name == "postgresql"
    assert [(r["state"], r["mdn_status"]) for r in _rows(as2)] == [("confirmed", "processed")]
