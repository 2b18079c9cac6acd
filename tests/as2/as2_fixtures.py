"""An AS2 project (tradelane) and its partner django-pyas2, with throwaway keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from as2_peer import DjangoPeer, KeyPair, free_port, make_pair

from support.project import ProjectDir
from tradelane.as2.receive import As2Endpoint, As2Server

PASS = "tl-pass-1"


@dataclass(frozen=True)
class Keys:
    ours: KeyPair
    peer: KeyPair
    stranger: KeyPair
    expired: KeyPair


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(ours=make_pair("tradelane", passphrase=PASS), peer=make_pair("djpeer"),
                stranger=make_pair("djpeer"), expired=make_pair("djpeer", expired=True))


@dataclass
class As2Setup:
    project: ProjectDir
    peer: DjangoPeer
    endpoint_port: int

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.endpoint_port}/"


ROUTE = """\
    source: {{folder: inbox/to_peer, pattern: "*.csv", min_age: 1s}}
    format: {{type: csv}}
    fields:
      order_id: {{source: Order, required: true}}
      qty: {{source: Qty, type: integer}}
    target:
      format: csv
      name: "{{stem}}.csv"
      as2:
        url: {url}
        our_id: tradelane
        partner_id: djpeer
        our_key: {{key: keys/ours.pem, passphrase_env: TL_AS2_PASS}}
        partner_certificate: {cert}
        mdn: {mdn}
        mdn_wait: 20s
        {extra}
"""


#: a route taking the CSV files the partner sent us over AS2
FROM_PEER_ROUTE = """\
    source: {folder: inbox/from_peer, pattern: "*.csv", min_age: 0s}
    format: {type: csv}
    fields:
      order_id: {source: Order, required: true}
    target: {folder: outbox/from_peer, format: json, name: "{stem}.json"}
"""


@contextmanager
def serving(project: ProjectDir, port: int) -> Iterator[As2Server]:
    """Our AS2 endpoint for ``project`` (its settings and ledger) on ``port``, stopped when
    the block ends."""
    loaded = project.load()
    with project.ledger() as ledger:
        server = As2Server(As2Endpoint(loaded.settings.as2, project.root, ledger.engine),
                           "127.0.0.1", port)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def settings_text(port: int, peer_cert: str = "keys/peer.crt") -> str:
    return f"""\
        ledger: sqlite:///ledger.db
        as2:
          port: {port}
          our_id: tradelane
          key: {{key: keys/ours.pem, passphrase_env: TL_AS2_PASS}}
          mdn_url: http://127.0.0.1:{port}/
          partners:
            - {{id: djpeer, certificate: {peer_cert}, folder: inbox/from_peer}}
        """


def route_text(url: str, *, mdn: str = "sync", cert: str = "keys/peer.crt",
               extra: str = "") -> str:
    return ROUTE.format(url=url, mdn=mdn, cert=cert, extra=extra)


@pytest.fixture(scope="session")
def peer(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DjangoPeer]:
    """One django-pyas2 for the session (migrating and starting it took 5-10 s a test);
    ``as2`` resets it before each test."""
    root = tmp_path_factory.mktemp("as2peer")
    (root / "ours.crt").write_bytes(keys.ours.cert_pem)
    # each test's endpoint has its own port: reset() names it
    server = DjangoPeer(root / "peer", keys.peer, root / "ours.crt", "http://127.0.0.1:9/")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def as2(project: ProjectDir, keys: Keys, peer: DjangoPeer,
        monkeypatch: pytest.MonkeyPatch) -> As2Setup:
    monkeypatch.setenv("TL_AS2_PASS", PASS)
    project.file("keys/ours.pem", keys.ours.key_pem)
    project.file("keys/ours.crt", keys.ours.cert_pem)
    project.file("keys/peer.crt", keys.peer.cert_pem)
    project.file("keys/stranger.crt", keys.stranger.cert_pem)
    project.file("keys/expired.crt", keys.expired.cert_pem)
    port = free_port()
    project.settings(settings_text(port))
    peer.reset(f"http://127.0.0.1:{port}/")
    return As2Setup(project, peer, port)
