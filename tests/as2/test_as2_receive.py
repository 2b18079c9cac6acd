"""django-pyas2 sends to tradelane's AS2 endpoint: both MDN modes, and the bad cases."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from as2_fixtures import FROM_PEER_ROUTE, PASS, As2Setup, Keys, serving
from pyas2lib import Mdn, Message, Organization, Partner

from tradelane.as2.receive import As2Server
from tradelane.models import Outcome

EDI = b"UNA:+.? 'UNB+UNOC:3+DJPEER+TRADELANE+261207:1200+1'UNZ+0+1'"



@pytest.fixture
def endpoint(as2: As2Setup) -> Iterator[As2Server]:
    with serving(as2.project, as2.endpoint_port) as server:
        yield server


def _wait_for(check, seconds: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _stored(as2: As2Setup) -> list[Path]:
    folder = as2.project.root / "inbox" / "from_peer"
    return sorted(p for p in folder.glob("*") if p.is_file()) if folder.exists() else []


def _peer_message(keys: Keys, *, key_pem: bytes | None = None, mdn: str = "SYNC",
                  data: bytes = EDI) -> tuple[dict[str, str], bytes, Message]:
    """A message as the partner's pyas2lib builds it (for the cases django-pyas2's client
    cannot make: tampered bytes, a resend, a key that is not the partner's)."""
    org = Organization(as2_name="djpeer", sign_key=key_pem or keys.peer.key_pem,
                       sign_key_pass="", mdn_url="http://127.0.0.1:9/")
    us = Partner(as2_name="tradelane", encrypt_cert=keys.ours.cert_pem,
                 verify_cert=keys.ours.cert_pem, sign=True, encrypt=True,
                 enc_alg="aes_256_cbc", mdn_mode=mdn, mdn_digest_alg="sha256")
    message = Message(sender=org, receiver=us)
    message.build(data, filename="orders.edi")
    return {k: str(v) for k, v in message.headers.items()}, message.content, message


def _mdn_as_partner_reads_it(answer: httpx.Response, message: Message) -> tuple[str, str]:
    """(status, detail) of our MDN, verified by the partner's pyas2lib with our cert."""
    head = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
    status, detail = Mdn().parse(head.encode() + b"\r\n" + answer.content,
                                 lambda _id, _to: message)
    return str(status), str(detail or "")


@pytest.mark.parametrize("mode", ["SYNC", "ASYNC"])
def test_peer_sends_and_the_payload_flows_into_a_route(as2: As2Setup, endpoint: As2Server,
                                                       mode: str, tmp_path: Path) -> None:
    as2.peer.set_partner(mdn_mode=mode)
    payload = tmp_path / "orders.csv"
    payload.write_text("Order\nPO-9\n")
    as2.peer.send(payload)  # django-pyas2's own client
    sent = _wait_for(lambda: [m for m in as2.peer.messages("OUT") if m["status"] == "S"])
    assert sent, as2.peer.messages("OUT")  # S: the peer verified our signed MDN
    # a text type (application/edi-consent) travels in MIME canonical form: CRLF lines
    assert [p.read_bytes() for p in _stored(as2)] == [b"Order\r\nPO-9\r\n"]
    as2.project.route("from_peer", FROM_PEER_ROUTE)
    summary = as2.project.run(["from_peer"])
    assert summary.count(Outcome.DELIVERED) == 1
    assert b"PO-9" in (as2.project.root / "outbox/from_peer/orders.json").read_bytes()


def test_tampered_message_gets_a_failed_mdn_and_nothing_is_stored(
        as2: As2Setup, endpoint: As2Server, keys: Keys) -> None:
    headers, body, message = _peer_message(keys)
    middle = len(body) // 2
    tampered = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1:]
    answer = httpx.post(as2.endpoint_url, content=tampered, headers=headers, timeout=30)
    status, detail = _mdn_as_partner_reads_it(answer, message)
    assert status == "processed/Error", (status, detail)  # the partner is told it failed
    assert _stored(as2) == []


def test_message_signed_with_another_key_is_refused(as2: As2Setup, endpoint: As2Server,
                                                    keys: Keys) -> None:
    headers, body, message = _peer_message(keys, key_pem=keys.stranger.key_pem)
    answer = httpx.post(as2.endpoint_url, content=body, headers=headers, timeout=30)
    # our MDN is signed with our key, so the partner's side (the stranger's) can read it
    status, detail = _mdn_as_partner_reads_it(answer, message)
    assert detail == "authentication-failed", (status, detail)
    assert _stored(as2) == []


def test_duplicate_message_id_is_answered_duplicate_document_and_stored_once(
        as2: As2Setup, endpoint: As2Server, keys: Keys) -> None:
    headers, body, message = _peer_message(keys)
    first = httpx.post(as2.endpoint_url, content=body, headers=headers, timeout=30)
    again = httpx.post(as2.endpoint_url, content=body, headers=headers, timeout=30)
    assert first.status_code == again.status_code == 200
    assert _mdn_as_partner_reads_it(first, message) == ("processed", "")
    # the first MDN went out: the resend is a duplicate (RFC 4130 7.5.3)
    assert _mdn_as_partner_reads_it(again, message) == ("processed/Warning",
                                                        "duplicate-document")
    assert [p.read_bytes() for p in _stored(as2)] == [EDI]


ENDPOINT = """\
import sys
from tradelane.as2.receive import As2Endpoint, As2Server
from tradelane.ledger import Ledger
from tradelane.spec import load_project
project = load_project(sys.argv[1])
ledger = Ledger(project.settings.ledger_url)
s = project.settings
server = As2Server(As2Endpoint(s.as2, s.root, ledger.engine), "127.0.0.1", s.as2.port)
server.httpd.serve_forever()
"""


def test_receiver_killed_before_answering_answers_the_retry_and_stores_once(
        as2: As2Setup, keys: Keys, tmp_path: Path) -> None:
    script = tmp_path / "endpoint.py"
    script.write_text(ENDPOINT)
    headers, body, message = _peer_message(keys)

    def start(crash: str | None) -> subprocess.Popen[bytes]:
        env = {**os.environ, "TL_AS2_PASS": PASS}
        if crash:
            env["TRADELANE_CRASH_AT"] = crash
        process = subprocess.Popen([sys.executable, str(script), str(as2.project.root)],
                                   env=env, cwd=as2.project.root)

        def up() -> bool:
            try:
                return httpx.get(as2.endpoint_url, timeout=1).status_code == 200
            except httpx.TransportError:
                return False
        assert _wait_for(up), "the endpoint did not start"
        return process

    killed = start("as2-stored")
    with pytest.raises(httpx.TransportError):  # SIGKILL after storing, before the MDN
        httpx.post(as2.endpoint_url, content=body, headers=headers, timeout=30)
    assert killed.wait(10) == -9
    assert [p.read_bytes() for p in _stored(as2)] == [EDI]
    again = start(None)
    try:
        answer = httpx.post(as2.endpoint_url, content=body, headers=headers, timeout=30)
    finally:
        again.terminate()
        again.wait(10)
    assert _mdn_as_partner_reads_it(answer, message) == ("processed", "")
    assert [p.read_bytes() for p in _stored(as2)] == [EDI]  # once


def test_duplicate_on_a_postgresql_ledger(as2: As2Setup, keys: Keys, pg_url: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELANE_LEDGER_URL", pg_url)
    with as2.project.ledger() as ledger:
        assert ledger.engine.dialect.name == "postgresql"
    with serving(as2.project, as2.endpoint_port):
        headers, body, message = _peer_message(keys)
        first = httpx.post(as2.endpoint_url, content=body, headers=headers, timeout=30)
        again = httpx.post(as2.endpoint_url, content=body, headers=headers, timeout=30)
    assert _mdn_as_partner_reads_it(first, message) == ("processed", "")
    assert _mdn_as_partner_reads_it(again, message) == ("processed/Warning",
                                                        "duplicate-document")
    assert [p.read_bytes() for p in _stored(as2)] == [EDI]
