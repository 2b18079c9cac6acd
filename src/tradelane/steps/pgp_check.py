"""``tradelane check`` for the OpenPGP steps: every key a step names is in the project keyring,
can do what the step asks of it (sign, encrypt, decrypt) and has not expired or been revoked.

Looked at with ``gpg --list-keys`` only: nothing is signed, decrypted or written, and a
keyring folder that does not exist is reported, not created. A key that expires within
``SOON`` is advice (``spec.checks.Advice``): shown, but check still passes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tradelane.spec.checks import Advice
from tradelane.steps import StepContext

SOON = 30 * 86400

#: what a step needs of a key: (secret key needed, capability letter, in words)
SIGN, ENCRYPT, VERIFY = (True, "S", "sign"), (False, "E", "encrypt to"), \
    (False, "S", "verify signatures of")


@dataclass
class KeyringView:
    """The keyring's keys by fingerprint (public and secret), listed once per step."""

    ctx: StepContext
    public: dict[str, dict[str, Any]] = field(default_factory=dict)
    secret: dict[str, dict[str, Any]] = field(default_factory=dict)
    problem: str | None = None

    @classmethod
    def of(cls, ctx: StepContext) -> KeyringView:
        view = cls(ctx)
        shown = view.shown
        if not ctx.keyring.is_dir():
            view.problem = (f"the keyring folder {shown} does not exist: create it and import"
                            f" the keys (gpg --homedir {shown} --import KEYFILE)")
            return view
        import gnupg

        try:
            gpg = gnupg.GPG(gnupghome=str(ctx.keyring))
            view.public = {k["fingerprint"]: k for k in gpg.list_keys()}
            view.secret = {k["fingerprint"]: k for k in gpg.list_keys(True)}
        except (OSError, ValueError) as exc:
            view.problem = f"the keyring {shown} cannot be read ({exc})"
        return view

    @property
    def shown(self) -> str:
        path = self.ctx.keyring
        return str(path.relative_to(self.ctx.root)) if path.is_relative_to(self.ctx.root) \
            else str(path)

    def check(self, where: str, fingerprint: str, need: tuple[bool, str, str],
              out: list[str], *, now: float | None = None) -> None:
        secret, letter, words = need
        keys = self.secret if secret else self.public
        key = keys.get(fingerprint)
        if key is None:
            if secret:
                out.append(f"{where}: {fingerprint}: our secret key is not in the keyring"
                           f" {self.shown}: import it (gpg --homedir {self.shown}"
                           " --import SECRETKEYFILE)")
            else:
                out.append(f"{where}: {fingerprint}: no such public key in the keyring"
                           f" {self.shown}: import the partner's key (gpg --homedir"
                           f" {self.shown} --import KEYFILE) and compare its fingerprint")
            return
        key = self.public.get(fingerprint, key)  # validity and expiry are on the public key
        if key.get("trust") == "r":
            out.append(f"{where}: {fingerprint}: the key was revoked: get its owner's new"
                       " key")
            return
        expires = _expiry(key, letter)
        now = time.time() if now is None else now
        if key.get("trust") == "e" or (expires is not None and expires <= now):
            when = f" on {_day(expires)}" if expires else ""
            out.append(f"{where}: {fingerprint}: the key expired{when}: get its new"
                       " expiry date or a new key from its owner")
            return
        if letter not in key.get("cap", ""):
            use = {"S": "signing", "E": "encryption"}[letter]
            out.append(f"{where}: {fingerprint}: the key has no usable {use} key: use a key"
                       f" we can {words}")
            return
        if expires is not None and expires - now < SOON:
            out.append(Advice(f"{where}: {fingerprint}: the key expires on {_day(expires)}:"
                              " extend it or get the new one before then"))

    def any_decryption_key(self, where: str, out: list[str]) -> None:
        usable = [fpr for fpr, key in self.public.items()
                  if fpr in self.secret and "E" in key.get("cap", "")
                  and key.get("trust") not in ("e", "r")]
        if not usable:
            out.append(f"{where}: the keyring {self.shown} holds no usable secret key to"
                       f" decrypt with: import ours (gpg --homedir {self.shown} --import"
                       " SECRETKEYFILE)")


def _expiry(key: dict[str, Any], letter: str) -> float | None:
    """When the key stops serving ``letter``: the primary key's expiry, or the latest of its
    subkeys that can do it, whichever is first."""
    dates = []
    if key.get("expires"):
        dates.append(float(key["expires"]))
    subs = [s for s in (key.get("subkey_info") or {}).values()
            if letter.lower() in s.get("cap", "") and s.get("trust") not in ("e", "r")]
    if subs and all(s.get("expires") for s in subs):
        dates.append(max(float(s["expires"]) for s in subs))
    return min(dates) if dates else None


def _day(epoch: float | None) -> str:
    return f"{datetime.fromtimestamp(epoch or 0, UTC):%Y-%m-%d}"
