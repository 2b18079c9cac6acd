"""`tradelane check` looks at the AS2 keys and certificates of every AS2 target and of the
endpoint, and at the asynchronous MDN settings, and reports every problem at once, each with
its option, its file and what to do. Nothing is sent (the target's URL answers nothing)."""

from __future__ import annotations

import pytest
from as2_fixtures import PASS, Keys, route_text, settings_text
from as2_peer import make_pair
from typer.testing import CliRunner

from support.project import ProjectDir
from tradelane.cli import app

runner = CliRunner()
NOWHERE = "http://127.0.0.1:9/"  # nothing listens: check must not post


def _key_only(pem: bytes) -> bytes:
    return pem[: pem.index(b"-----BEGIN CERTIFICATE-----")]


@pytest.fixture
def keyed(project: ProjectDir, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> ProjectDir:
    monkeypatch.setenv("TL_AS2_PASS", PASS)
    project.file("keys/ours.pem", keys.ours.key_pem)
    project.file("keys/peer.crt", keys.peer.cert_pem)
    project.file("keys/expired.crt", keys.expired.cert_pem)
    project.settings(settings_text(8999))
    return project


def _check(project: ProjectDir):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["check", "--project", str(project.root)])


def test_good_keys_pass(keyed: ProjectDir) -> None:
    keyed.route("to_peer", route_text(NOWHERE, mdn="async"))
    result = _check(keyed)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_every_key_problem_reported_at_once(keyed: ProjectDir, keys: Keys) -> None:
    # the target: our key with the stranger's certificate beside it, an expired partner
    # certificate, async MDN while tradelane.yaml has no mdn_url
    keyed.file("keys/mismatch.pem", _key_only(keys.ours.key_pem) + keys.stranger.cert_pem)
    keyed.route("to_peer", route_text(NOWHERE, mdn="async", cert="keys/expired.crt")
                .replace("keys/ours.pem", "keys/mismatch.pem"))
    # the endpoint: its key file is missing, and there is no mdn_url
    keyed.settings(settings_text(8999).replace("keys/ours.pem", "keys/gone.pem")
                   .replace("          mdn_url: http://127.0.0.1:8999/\n", ""))
    result = _check(keyed)
    assert result.exit_code == 2, result.output
    lines = [line.strip() for line in result.stderr.splitlines()]
    assert any(line.startswith("to_peer: target: as2.partner_certificate: keys/expired.crt:"
                               " the certificate expired on ") for line in lines), lines
    assert ("to_peer: target: as2.our_key.key: keys/mismatch.pem: the private key does not"
            " match the certificate in the file (CN=djpeer)") in result.stderr
    assert ("to_peer: target: as2.mdn: async needs as2.mdn_url in tradelane.yaml"
            in result.stderr)
    assert ("tradelane.yaml: as2.key.key: keys/gone.pem does not exist: put our private key"
            " and our certificate there, or correct the path") in lines
    assert "The configuration has 4 problem(s)" in result.stderr
    assert "Traceback" not in result.output


def test_wrong_passphrase_and_a_bad_mdn_url(keyed: ProjectDir,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    keyed.settings(settings_text(8999).replace("http://127.0.0.1:8999/", "/as2/mdn"))
    monkeypatch.setenv("TL_AS2_PASS", "not-it")
    keyed.route("to_peer", route_text(NOWHERE, mdn="async"))
    result = _check(keyed)
    assert result.exit_code == 2
    assert ("tradelane.yaml: as2.mdn_url: '/as2/mdn' is not an absolute http(s) URL"
            in result.stderr)
    assert "to_peer: target: as2.mdn: async: as2.mdn_url '/as2/mdn' in tradelane.yaml" \
        in result.stderr
    assert "as2.our_key.key: keys/ours.pem: the passphrase does not open the private key" \
        in result.stderr
    monkeypatch.delenv("TL_AS2_PASS")
    result = _check(keyed)
    assert "as2.our_key.passphrase_env: the environment variable TL_AS2_PASS is not set" \
        in result.stderr


def test_certificate_expiring_soon_is_a_warning(keyed: ProjectDir) -> None:
    keyed.file("keys/soon.crt", make_pair("djpeer", days=10).cert_pem)
    keyed.route("to_peer", route_text(NOWHERE, cert="keys/soon.crt"))
    result = _check(keyed)
    assert result.exit_code == 0, result.output
    assert "warning: to_peer: target: as2.partner_certificate: keys/soon.crt: the certificate" \
        " expires on " in result.stderr
    assert "days): ask the partner for its new certificate before then" \
        in result.stderr
