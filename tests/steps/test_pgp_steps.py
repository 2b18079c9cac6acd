"""OpenPGP steps through the real pipeline, with keys made by Debian's gpg: round trips in
both directions, and every bad-key case quarantined with a reason an operator can act on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pgp_keys import Keys, gpg

from support.project import ProjectDir

CSV = b"order,qty\nA1,3\nA2,5\n"


def _route(project: ProjectDir, steps: str, *, output: str = "{stem}.json") -> None:
    project.route("orders", f"""\
        source: {{folder: inbox/orders, min_age: 1s}}
        format: {{type: csv}}
        fields:
          order: {{required: true}}
          qty: {{type: integer}}
        target: {{folder: outbox/orders, format: json, name: "{output}"}}
        steps:
        {steps}
        """)


def _run_one(project: ProjectDir, data: bytes, name: str = "ORD1.csv.pgp") -> tuple[str, str]:
    project.drop("orders", name, data)
    [result] = project.run().results
    return result.outcome.value, result.message


def _encrypt(keys: Keys, data: bytes, *, to: str, sign: str | None = None,
             home: Path | None = None) -> bytes:
    signing = ["--local-user", sign, "--sign"] if sign else []
    return gpg(home or keys.partner_home, "--recipient", to, *signing, "--encrypt", data=data)


def test_decrypt_and_verify_a_partner_file(project: ProjectDir, keys: Keys,
                                           keyring: Path) -> None:
    _route(project, f"  before_read: [{{decrypt: pgp, signed_by: [{keys.partner}]}}]")
    outcome, message = _run_one(project, _encrypt(keys, CSV, to=keys.ours, sign=keys.partner))
    assert outcome == "delivered", message
    [out] = project.outputs("orders")
    assert [r["order"] for r in json.loads(out.read_text())] == ["A1", "A2"]


def test_encrypt_and_sign_for_a_partner(project: ProjectDir, keys: Keys, keyring: Path) -> None:
    _route(project, f"  after_write: [{{encrypt: [{keys.partner}], sign_with: {keys.ours}}}]",
           output="{stem}.{ext}")
    outcome, message = _run_one(project, CSV, name="ORD1.csv")
    assert outcome == "delivered", message
    [out] = project.outputs("orders")
    assert out.name == "ORD1.json.pgp"
    assert b"A1" not in out.read_bytes()
    # the partner decrypts it with its own key and sees our good signature
    status = project.root / "status.txt"
    plain = gpg(keys.partner_home, "--status-file", str(status), "--decrypt",
                data=out.read_bytes())
    assert [r["order"] for r in json.loads(plain)] == ["A1", "A2"]
    assert f"VALIDSIG {keys.ours}" in status.read_text()  # a good signature by our key


def test_sign_for_a_partner_who_verifies(project: ProjectDir, keys: Keys,
                                         keyring: Path) -> None:
    _route(project, f"  after_write: [{{sign: {keys.ours}, armor: true}}]",
           output="{stem}.{ext}")
    outcome, message = _run_one(project, CSV, name="ORD1.csv")
    assert outcome == "delivered", message
    [out] = project.outputs("orders")
    assert out.name == "ORD1.json.asc" and out.read_bytes().startswith(b"-----BEGIN PGP")
    plain = gpg(keys.partner_home, "--decrypt", data=out.read_bytes())
    assert json.loads(plain)[0]["order"] == "A1"


def test_verify_a_signed_file(project: ProjectDir, keys: Keys, keyring: Path) -> None:
    _route(project, f"  before_read: [{{verify: pgp, signed_by: [{keys.partner}]}}]")
    signed = gpg(keys.partner_home, "--local-user", keys.partner, "--sign", data=CSV)
    outcome, message = _run_one(project, signed, name="ORD1.csv.sig")
    assert outcome == "delivered", message


def test_a_passphrase_from_the_environment(project: ProjectDir, keys: Keys, keyring: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUR_PGP_PASSPHRASE", "open sesame")
    _route(project, "  before_read: [{decrypt: pgp, passphrase_env: OUR_PGP_PASSPHRASE}]")
    outcome, message = _run_one(project, _encrypt(keys, CSV, to=keys.locked))
    assert outcome == "delivered", message


def _bad(keys: Keys, case: str) -> tuple[str, bytes]:
    """(the route's step, the file) for one bad case."""
    decrypt = f"{{decrypt: pgp, signed_by: [{keys.partner}]}}"
    verify = f"{{verify: pgp, signed_by: [{keys.partner}]}}"
    if case == "wrong key":
        return decrypt, _encrypt(keys, CSV, to=keys.stranger, sign=keys.stranger,
                                 home=keys.stranger_home)
    if case == "unsigned":
        return decrypt, _encrypt(keys, CSV, to=keys.ours)
    if case == "unknown signer":
        return decrypt, _encrypt(keys, CSV, to=keys.ours, sign=keys.stranger,
                                 home=keys.stranger_home)
    if case == "other signer":  # in the keyring, but not a key this route accepts
        return (f"{{decrypt: pgp, signed_by: [{keys.expired}]}}",
                _encrypt(keys, CSV, to=keys.ours, sign=keys.partner))
    if case == "tampered":
        data = bytearray(_encrypt(keys, CSV, to=keys.ours, sign=keys.partner))
        data[len(data) // 2] ^= 0xFF
        return decrypt, bytes(data)
    if case == "tampered signed":
        data = bytearray(gpg(keys.partner_home, "--local-user", keys.partner, "--sign",
                             "--compress-algo", "none", data=CSV))
        at = data.find(b"A1")
        data[at] = ord("B")
        return verify, bytes(data)
    if case == "expired":
        signed = gpg(keys.partner_home, "--faked-system-time", "20200101T120000!",
                     "--local-user", keys.expired, "--sign", data=CSV)
        return f"{{verify: pgp, signed_by: [{keys.expired}]}}", signed
    if case == "not encrypted":
        return decrypt, CSV
    if case == "signed, not encrypted":
        return decrypt, gpg(keys.partner_home, "--local-user", keys.partner, "--sign", data=CSV)
    if case == "plain to verify":
        return verify, CSV
    raise AssertionError(case)


@pytest.mark.parametrize(("case", "reason"), [
    ("wrong key", "not encrypted to our key"),
    ("unsigned", "the file is not signed"),
    ("unknown signer", "signed by a key not in the keyring"),
    ("other signer", "which is not one of the keys this route accepts"),
    ("tampered", "the file is damaged or was changed after it was encrypted"),
    ("tampered signed", "bad signature: the content was changed after it was signed"),
    ("expired", "the signing key has expired"),
    ("not encrypted", "the file is not an OpenPGP message"),
    ("signed, not encrypted", "the file is not encrypted (only signed)"),
    ("plain to verify", "the file is not signed"),
])
def test_a_bad_file_is_quarantined_with_a_clear_reason(project: ProjectDir, keys: Keys,
                                                       keyring: Path, case: str,
                                                       reason: str) -> None:
    step, data = _bad(keys, case)
    _route(project, f"  before_read: [{step}]")
    outcome, message = _run_one(project, data)
    assert outcome == "quarantined"
    assert reason in message, message
    assert [p.read_bytes() for p in project.quarantined("orders")] == [data]  # as received
    assert project.outputs("orders") == []
    spool = project.root / ".tradelane" / "spool"
    assert not spool.exists() or not [p for p in spool.rglob("*") if p.is_file()]


def test_a_missing_recipient_key_leaves_the_file_pending(project: ProjectDir, keys: Keys,
                                                         keyring: Path) -> None:
    _route(project, f"  after_write: [{{encrypt: [{keys.stranger}]}}]")
    outcome, message = _run_one(project, CSV, name="ORD1.csv")
    assert outcome == "pending", message
    assert "public keys" in message and "keyring" in message
    assert project.outputs("orders") == []


def test_the_keyring_is_created_private(project: ProjectDir, keys: Keys) -> None:
    _route(project, f"  before_read: [{{decrypt: pgp, signed_by: [{keys.partner}]}}]")
    old = os.umask(0o022)  # a usual umask would make the folder readable by everyone
    try:
        outcome, message = _run_one(project, _encrypt(keys, CSV, to=keys.ours,
                                                      sign=keys.partner))
    finally:
        os.umask(old)
    assert outcome == "quarantined" and "not encrypted to our key" in message  # empty keyring
    assert (project.root / "gnupg").stat().st_mode & 0o777 == 0o700


def test_keys_are_named_by_full_fingerprint_only(project: ProjectDir) -> None:
    from tradelane.errors import ConfigError

    _route(project, "  before_read: [{decrypt: pgp, signed_by: [partner@test]}]")
    with pytest.raises(ConfigError, match="full fingerprint"):
        project.load()


def test_a_retried_encrypted_delivery_sends_the_same_bytes(project: ProjectDir, keys: Keys,
                                                           keyring: Path) -> None:
    """A crash after the encrypted file reached the target, before the ledger heard of it:
    the retry must not meet 'already exists with different content' for ever, though gpg
    makes new bytes each run."""
    from datetime import UTC, datetime

    from tradelane.abc import DeliveryContext
    from tradelane.checking import Checked, checked_batches
    from tradelane.formats import reader_for
    from tradelane.staging import Staged
    from tradelane.targets import target_for

    _route(project, f"  after_write: [{{encrypt: [{keys.partner}], sign_with: {keys.ours}}}]",
           output="{stem}.{ext}")
    loaded = project.load()
    route = loaded.route("orders")
    ctx = DeliveryContext(file_id=1, route="orders", original_name="ORD1.csv",
                          sha256="ab" * 32, received_at=datetime(2026, 12, 7, tzinfo=UTC))

    def deliver() -> bytes:
        batches = checked_batches(reader_for(route).read(Staged(size=len(CSV), data=CSV),
                                                         route), route, Checked(), limit=10)
        target = target_for(route, loaded.settings)
        try:
            target.deliver(batches, ctx)
        finally:
            target.close()
        [out] = project.outputs("orders")
        return out.read_bytes()

    first = deliver()
    assert deliver() == first  # the kept result, not a new encryption
    plain = gpg(keys.partner_home, "--decrypt", data=first)
    assert json.loads(plain)[0]["order"] == "A1"
