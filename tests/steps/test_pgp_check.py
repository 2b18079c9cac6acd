"""`tradelane check` looks at the keys every OpenPGP step names in the project keyring: there,
able to do what the step asks, not expired or revoked. Every problem at once, each at its
step and option; a key expiring soon is a warning. Real GnuPG keyrings (see pgp_keys.py)."""

from __future__ import annotations

from pathlib import Path

from pgp_keys import Keys, gpg, make_key
from typer.testing import CliRunner

from support.project import ProjectDir
from tradelane.cli import app

runner = CliRunner()


def _route(project: ProjectDir, before: str, after: str) -> None:
    project.route("orders", f"""\
        source: {{folder: inbox/orders, min_age: 1s}}
        format: {{type: csv}}
        fields:
          order: {{required: true}}
        target: {{folder: outbox/orders, format: csv, name: "{{stem}}.{{ext}}"}}
        steps:
          before_read: {before}
          after_write: {after}
        """)


def _check(project: ProjectDir):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["check", "--project", str(project.root)])


def test_usable_keys_pass(project: ProjectDir, keys: Keys, keyring: Path) -> None:
    _route(project, f"[{{decrypt: pgp, signed_by: [{keys.partner}]}}]",
           f"[{{encrypt: [{keys.partner}], sign_with: {keys.ours}}}]")
    result = _check(project)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_every_key_problem_at_once(project: ProjectDir, keys: Keys, keyring: Path) -> None:
    _route(project, f"[{{verify: pgp, signed_by: [{keys.partner}, {keys.expired}]}}]",
           f"[{{encrypt: [{keys.stranger}], sign_with: {keys.partner}}}]")
    result = _check(project)
    assert result.exit_code == 2, result.output
    lines = [" ".join(line.split()) for line in result.stderr.splitlines()]
    assert (f"orders: steps.before_read[0]: signed_by[1]: {keys.expired}: the key expired on"
            " 2020-01-02: get its new expiry date or a new key from its owner") in lines
    assert (f"orders: steps.after_write[0]: sign_with: {keys.partner}: our secret key is not in"
            " the keyring gnupg: import it (gpg --homedir gnupg --import SECRETKEYFILE)"
            ) in lines
    assert (f"orders: steps.after_write[0]: encrypt[0]: {keys.stranger}: no such public key"
            " in the keyring gnupg: import the partner's key (gpg --homedir gnupg --import"
            " KEYFILE) and compare its fingerprint") in lines
    assert "The configuration has 3 problem(s)" in result.stderr  # partner's key is fine


def test_a_decrypt_step_needs_a_secret_key(project: ProjectDir, keys: Keys) -> None:
    _route(project, "[{decrypt: pgp}]", "[]")
    result = _check(project)
    assert "steps.before_read[0]: the keyring folder gnupg does not exist" in result.stderr
    assert not (project.root / "gnupg").exists()  # check creates nothing
    home = project.root / "gnupg"
    home.mkdir(mode=0o700)
    gpg(home, "--import", data=gpg(keys.partner_home, "--export", keys.partner))
    result = _check(project)
    assert result.exit_code == 2
    assert ("orders: steps.before_read[0]: decrypt: the keyring gnupg holds no usable secret"
            " key to decrypt with") in " ".join(result.stderr.split())


def test_a_key_expiring_soon_is_a_warning(project: ProjectDir, keys: Keys,
                                          keyring: Path) -> None:
    soon = make_key(keyring, "soon", expire="10d")
    _route(project, "[]", f"[{{encrypt: [{soon}]}}]")
    result = _check(project)
    assert result.exit_code == 0, result.output
    assert f"warning: orders: steps.after_write[0]: encrypt[0]: {soon}: the key expires on" \
        in " ".join(result.stderr.split())
