"""A file that came in over AS2 shows, in `tradelane history` (text and --json), the message
it came in: its id, the partner's and our AS2 names, whether its signature was verified, and
the MDN we answered. The partner is pyas2lib (django-pyas2's engine) posting to our endpoint.
A resend of the same message id is answered as RFC 4130 says, and stored once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from as2_fixtures import FROM_PEER_ROUTE, PASS, Keys, serving, settings_text
from as2_peer import free_port
from pyas2lib import Mdn, Message, Organization, Partner
from typer.testing import CliRunner

from support.console import PASSWORD, LiveConsole, log_in
from support.project import ProjectDir
from tradelane.cli import app
from tradelane.models import Outcome

runner = CliRunner()


@dataclass
class Running:
    project: ProjectDir
    url: str


@pytest.fixture
def endpoint(project: ProjectDir, keys: Keys, monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[Running]:
    monkeypatch.setenv("TL_AS2_PASS", PASS)
    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    project.file("keys/ours.pem", keys.ours.key_pem)
    project.file("keys/peer.crt", keys.peer.cert_pem)
    port = free_port()
    project.settings(settings_text(port).rstrip() + "\n        console: {user: ops}\n")
    project.route("from_peer", FROM_PEER_ROUTE)
    with serving(project, port):
        yield Running(project, f"http://127.0.0.1:{port}/")


def _send(keys: Keys, url: str, data: bytes, *, signed_mdn: bool = True,
          message: Message | None = None) -> tuple[httpx.Response, Message]:
    """Post a message as the partner builds it (the same one again when given)."""
    if message is None:
        org = Organization(as2_name="djpeer", sign_key=keys.peer.key_pem, sign_key_pass="")
        us = Partner(as2_name="tradelane", encrypt_cert=keys.ours.cert_pem,
                     verify_cert=keys.ours.cert_pem, sign=True, encrypt=True,
                     enc_alg="aes_256_cbc", mdn_mode="SYNC",
                     mdn_digest_alg="sha256" if signed_mdn else None)
        message = Message(sender=org, receiver=us)
        message.build(data, filename="orders.csv")
    answer = httpx.post(url, content=message.content,
                        headers={k: str(v) for k, v in message.headers.items()}, timeout=30)
    return answer, message


def _history(project: ProjectDir, key: str, *extra: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["history", key, "--project", str(project.root), *extra])


def test_history_of_a_file_received_over_as2(endpoint: Running, keys: Keys) -> None:
    answer, message = _send(keys, endpoint.url, b"Order\nPO-7\n")
    assert answer.status_code == 200
    summary = endpoint.project.run(["from_peer"])
    assert summary.count(Outcome.DELIVERED) == 1
    result = _history(endpoint.project, "orders.csv", "--json")
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.stdout)
    [received] = item["as2_received"]
    assert received["message_id"] == message.message_id
    assert (received["from"], received["to"]) == ("djpeer", "tradelane")
    assert received["signature_verified"] is True
    assert received["mic"].endswith(", sha256")
    assert received["stored_as"] == "inbox/from_peer/orders.csv"
    assert received["mdn"]["signed"] is True
    assert received["mdn"]["disposition"] == "processed"
    assert item["as2"] == []  # nothing was sent for it
    text = _history(endpoint.project, "orders.csv", "--wide")
    assert (f"received over AS2: message {message.message_id} from djpeer to tradelane"
            in text.stdout)
    assert ("signature verified; we answered with a signed MDN: processed"
            in " ".join(text.stdout.split()))


def test_console_file_page_shows_the_as2_message(endpoint: Running, keys: Keys) -> None:
    _answer, message = _send(keys, endpoint.url, b"Order\nPO-6\n")
    [result] = endpoint.project.run(["from_peer"]).results
    console = LiveConsole(endpoint.project.root)
    try:
        with console.client() as client:
            log_in(client)
            page = client.get(f"/files/{result.file_id}").text
    finally:
        console.stop()
    section = page.split('id="as2-received"', 1)[1].split("</section>", 1)[0]
    text = " ".join(section.split())
    assert f"Message <code>{message.message_id}</code> from djpeer to tradelane" in text
    assert "signature verified; we answered with a signed MDN: processed" in text


def test_unsigned_mdn_is_told_and_other_files_have_none(endpoint: Running,
                                                        keys: Keys) -> None:
    _send(keys, endpoint.url, b"Order\nPO-8\n", signed_mdn=False)
    endpoint.project.drop("from_peer", "local.csv", "Order\nPO-8\n")  # same bytes, not AS2
    endpoint.project.run(["from_peer"])
    [item] = json.loads(_history(endpoint.project, "orders.csv", "--json").stdout)
    assert item["as2_received"][0]["mdn"]["signed"] is False
    [local] = json.loads(_history(endpoint.project, "local.csv", "--json").stdout)
    assert local["as2_received"] == []


def test_resend_of_a_message_id_is_a_duplicate_document_stored_once(
        endpoint: Running, keys: Keys) -> None:
    first, message = _send(keys, endpoint.url, b"Order\nPO-9\n")
    assert first.status_code == 200
    again, _ = _send(keys, endpoint.url, b"", message=message)
    head = "".join(f"{k}: {v}\r\n" for k, v in again.headers.items()).encode()
    status, detail = Mdn().parse(head + b"\r\n" + again.content, lambda _i, _r: message)
    # RFC 4130 7.5.3 (and django-pyas2's own answer): processed, warning: duplicate-document
    assert (status, detail) == ("processed/Warning", "duplicate-document")
    assert b"was received before" in again.content  # the MDN's text says what happened
    folder = endpoint.project.root / "inbox" / "from_peer"
    assert [p.name for p in folder.iterdir()] == ["orders.csv"]
    assert endpoint.project.run(["from_peer"]).count(Outcome.DELIVERED) == 1


def test_same_bytes_sent_twice_each_file_names_its_own_message(endpoint: Running,
                                                               keys: Keys) -> None:
    _a, first = _send(keys, endpoint.url, b"Order\nPO-5\n")
    endpoint.project.run(["from_peer"])  # delivered, and archived out of the inbox
    _b, second = _send(keys, endpoint.url, b"Order\nPO-5\n")  # a new message id
    assert [r.outcome for r in endpoint.project.run(["from_peer"]).results] == \
        [Outcome.DUPLICATE]
    trail = json.loads(_history(endpoint.project, "orders.csv", "--json").stdout)
    linked = {item["file"]["id"]: [m["message_id"] for m in item["as2_received"]]
              for item in trail}
    assert sorted(linked.values()) == sorted([[first.message_id], [second.message_id]])
    assert linked[min(linked)] == [first.message_id]
