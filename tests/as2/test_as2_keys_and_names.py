"""Keys refused with the file named, and a partner's file name never used as a path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from as2_fixtures import PASS, Keys, serving, settings_text
from as2_peer import free_port
from pyas2lib import Message, Organization, Partner

from support.project import ProjectDir
from tradelane.as2.keys import As2KeyError, read_certificate, read_key_pair
from tradelane.spec.as2 import As2Key


@pytest.fixture
def keyed(project: ProjectDir, keys: Keys) -> ProjectDir:
    project.file("keys/ours.pem", keys.ours.key_pem)
    project.file("keys/ours.crt", keys.ours.cert_pem)
    project.file("keys/peer.crt", keys.peer.cert_pem)
    project.file("keys/expired.crt", keys.expired.cert_pem)
    return project


def test_wrong_passphrase_names_the_key_file(keyed: ProjectDir) -> None:
    spec = As2Key(key="keys/ours.pem", passphrase_env="TL_AS2_PASS")
    with pytest.raises(As2KeyError) as info:
        read_key_pair(spec, keyed.root, {"TL_AS2_PASS": "not-it"})
    assert "keys/ours.pem: wrong or missing passphrase" in str(info.value)
    with pytest.raises(As2KeyError) as info:
        read_key_pair(spec, keyed.root, {})
    assert "TL_AS2_PASS with its passphrase is not set" in str(info.value)
    data, secret = read_key_pair(spec, keyed.root, {"TL_AS2_PASS": PASS})
    assert b"PRIVATE KEY" in data and secret == PASS


def test_passphrase_from_a_file(keyed: ProjectDir) -> None:
    keyed.file("secrets/as2", PASS + "\n")
    spec = As2Key(key="keys/ours.pem", passphrase_file="secrets/as2")
    assert read_key_pair(spec, keyed.root, {})[1] == PASS


def test_expired_certificate_says_when(keyed: ProjectDir) -> None:
    with pytest.raises(As2KeyError, match=r"expired\.crt: the certificate expired on 20"):
        read_certificate(keyed.root / "keys/expired.crt")
    with pytest.raises(As2KeyError, match="cannot be read"):
        read_certificate(keyed.root / "keys/missing.crt")
    with pytest.raises(As2KeyError, match="is not a PEM certificate"):
        read_certificate(keyed.file("keys/junk.crt", "junk"))


@pytest.fixture
def endpoint(keyed: ProjectDir, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TL_AS2_PASS", PASS)
    port = free_port()
    keyed.settings(settings_text(port))
    with serving(keyed, port):
        yield f"http://127.0.0.1:{port}/"


@pytest.mark.parametrize("name", ["../../escaped.edi", "/etc/cron.d/evil", ".hidden.edi"])
def test_partner_file_name_stays_inside_the_folder(keyed: ProjectDir, keys: Keys,
                                                   endpoint: str, name: str) -> None:
    org = Organization(as2_name="djpeer", sign_key=keys.peer.key_pem, sign_key_pass="")
    us = Partner(as2_name="tradelane", encrypt_cert=keys.ours.cert_pem,
                 verify_cert=keys.ours.cert_pem, sign=True, encrypt=True,
                 enc_alg="aes_256_cbc", mdn_mode="SYNC", mdn_digest_alg="sha256")
    message = Message(sender=org, receiver=us)
    message.build(b"UNB+UNOC:3+A+B'", filename=name)
    answer = httpx.post(endpoint, content=message.content,
                        headers={k: str(v) for k, v in message.headers.items()}, timeout=30)
    assert answer.status_code == 200
    folder = keyed.root / "inbox" / "from_peer"
    stored = [p for p in folder.iterdir() if p.is_file()]
    assert len(stored) == 1 and not stored[0].name.startswith(".")
    assert stored[0].read_bytes() == b"UNB+UNOC:3+A+B'"
    assert not (keyed.root.parent / "escaped.edi").exists()
    assert not Path("/etc/cron.d/evil").exists()
