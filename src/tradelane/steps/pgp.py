"""OpenPGP steps with GnuPG (python-gnupg drives Debian's ``gpg``): ``decrypt`` and
``verify`` before reading, ``sign`` and ``encrypt`` after writing.

Keys live in the project's keyring folder (``gnupg`` in tradelane.yaml, a GnuPG home created
with mode 0700). Keys are named by full fingerprint only, never a user id or a short key id.
A signature counts only if it is good, made by a key that is not expired or revoked, and
that key is one the route names (``signed_by``): trust is pinned per route, so GnuPG's web of
trust is not consulted (``always_trust`` for recipients named by fingerprint).

Data streams through gpg (the input from the snapshot, the output to the step's spool file):
memory stays bounded. A failure on a received file quarantines it with a reason an operator
can act on; a failure on our own output (a missing key) leaves the file pending.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradelane.errors import TargetUnavailable
from tradelane.staging import Staged
from tradelane.steps import StepContext, StepFailed

if TYPE_CHECKING:
    import gnupg

    from tradelane.spec.steps import DecryptStep, EncryptStep, SignStep, VerifyStep


def keyring(ctx: StepContext) -> gnupg.GPG:
    import gnupg

    home = ctx.keyring
    if not home.exists():
        home.mkdir(mode=0o700, parents=True)
        home.chmod(0o700)  # whatever the umask: GnuPG refuses a home others can read
    return gnupg.GPG(gnupghome=str(home))


def _input(staged: Staged) -> Any:
    return io.BytesIO(staged.data) if staged.data is not None else str(staged.path)


def _output(dest: Path) -> Staged:
    return Staged(size=dest.stat().st_size, path=dest, in_spool=True)


def _signer(result: Any) -> str | None:
    """The primary key's fingerprint of a good signature (a subkey may have made it)."""
    return getattr(result, "pubkey_fingerprint", None) or result.fingerprint


def _status_words(result: Any) -> dict[str, str]:
    """gpg's status lines (``[GNUPG:] KEYWORD args``) by keyword: after a decryption
    python-gnupg's ``status`` says only "decryption ok", the signature is told here."""
    words: dict[str, str] = {}
    for line in (result.stderr or "").splitlines():
        if line.startswith("[GNUPG:] "):
            keyword, _, rest = line[9:].partition(" ")
            words.setdefault(keyword, rest)
    return words


def _signature_problem(result: Any, signed_by: list[str]) -> str | None:
    """Why the message's signature is not acceptable, or None."""
    words = _status_words(result)
    if "NO_PUBKEY" in words or "ERRSIG" in words:
        key = words.get("NO_PUBKEY") or words.get("ERRSIG", "").split(" ")[0]
        return (f"signed by a key not in the keyring (key ID {key}): import the partner's"
                " public key, or check who sent it")
    if "BADSIG" in words:
        return "bad signature: the content was changed after it was signed"
    if "EXPKEYSIG" in words:
        return f"signed by key {_signer(result)}, but the signing key has expired"
    if "REVKEYSIG" in words:
        return f"signed by key {_signer(result)}, but the signing key was revoked"
    if "EXPSIG" in words:
        return f"the signature by key {_signer(result)} has expired"
    if "GOODSIG" not in words or "VALIDSIG" not in words:
        return "the file is not signed"
    signer = _signer(result)
    if signer not in signed_by and result.fingerprint not in signed_by:
        return (f"signed by key {signer}, which is not one of the keys this route accepts"
                f" (signed_by: {', '.join(signed_by)})")
    return None


class Decrypt:
    extension = ""

    def __init__(self, spec: DecryptStep, ctx: StepContext):
        self.spec, self.ctx = spec, ctx

    def verify(self) -> list[str]:
        """``tradelane check``: a secret key to decrypt with, the signers' keys usable."""
        from tradelane.steps.pgp_check import VERIFY, KeyringView

        view, out = KeyringView.of(self.ctx), []
        if view.problem:
            return [view.problem]
        view.any_decryption_key("decrypt", out)
        for index, fpr in enumerate(self.spec.signed_by):
            view.check(f"signed_by[{index}]", fpr, VERIFY, out)
        return out

    def apply(self, staged: Staged, dest: Path) -> Staged:
        gpg = keyring(self.ctx)
        passphrase = self.ctx.secret(self.spec.passphrase_env, self.spec.passphrase_file,
                                     "the passphrase of our secret key")
        dest.parent.mkdir(parents=True, exist_ok=True)
        result = gpg.decrypt_file(_input(staged), output=str(dest), passphrase=passphrase or None)
        try:
            if not result.ok:
                raise StepFailed("decrypt", _decrypt_problem(result), value=result.key_id or "")
            if self.spec.signed_by:
                problem = _signature_problem(result, self.spec.signed_by)
                if problem:
                    raise StepFailed("decrypt", problem, value=_signer(result) or "")
            return _output(dest)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise


def _decrypt_problem(result: Any) -> str:
    status = result.status or ""
    if status == "no secret key":
        return (f"not encrypted to our key: it is for key ID {result.key_id}, whose secret key"
                " is not in the keyring")
    if status == "no data was provided":
        return "the file is not an OpenPGP message"
    if status in ("signature valid", "signature bad") or (result.returncode == 0
                                                          and not result.ok):
        return "the file is not encrypted (only signed): use the verify step"
    if status == "decryption incomplete" or "decryption failed" in status:
        return "decryption failed: the file is damaged or was changed after it was encrypted"
    if "bad passphrase" in status or "need passphrase" in status:
        return "our secret key's passphrase is wrong or missing"
    return f"decryption failed ({status or 'gpg exit ' + str(result.returncode)})"


class Verify:
    extension = ""

    def __init__(self, spec: VerifyStep, ctx: StepContext):
        self.spec, self.ctx = spec, ctx

    def verify(self) -> list[str]:
        """``tradelane check``: the signers' keys in the keyring and usable."""
        from tradelane.steps.pgp_check import VERIFY, KeyringView

        view, out = KeyringView.of(self.ctx), []
        if view.problem:
            return [view.problem]
        for index, fpr in enumerate(self.spec.signed_by):
            view.check(f"signed_by[{index}]", fpr, VERIFY, out)
        return out

    def apply(self, staged: Staged, dest: Path) -> Staged:
        gpg = keyring(self.ctx)
        dest.parent.mkdir(parents=True, exist_ok=True)
        result = gpg.decrypt_file(_input(staged), output=str(dest))
        try:
            if result.status == "no data was provided":
                raise StepFailed("verify", "the file is not signed (not an OpenPGP message)")
            problem = _signature_problem(result, self.spec.signed_by)
            if problem:
                raise StepFailed("verify", problem, value=_signer(result) or "")
            if not dest.exists():
                raise StepFailed("verify", f"the signed message holds no content ({result.status})")
            return _output(dest)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise


class Sign:
    def __init__(self, spec: SignStep, ctx: StepContext):
        self.spec, self.ctx = spec, ctx
        self.extension = "asc" if spec.armor else "pgp"

    def verify(self) -> list[str]:
        """``tradelane check``: our signing key in the keyring and usable."""
        from tradelane.steps.pgp_check import SIGN, KeyringView

        view, out = KeyringView.of(self.ctx), []
        if view.problem:
            return [view.problem]
        view.check("sign", self.spec.sign, SIGN, out)
        return out

    def apply(self, staged: Staged, dest: Path) -> Staged:
        gpg = keyring(self.ctx)
        passphrase = self.ctx.secret(self.spec.passphrase_env, self.spec.passphrase_file,
                                     "the passphrase of our signing key")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with staged.open() as src:
            result = gpg.sign_file(src, keyid=self.spec.sign, passphrase=passphrase or None,
                                   binary=not self.spec.armor, output=str(dest))
        if result.returncode != 0 or not dest.exists():
            with contextlib.suppress(FileNotFoundError):
                dest.unlink()
            raise TargetUnavailable(f"signing with key {self.spec.sign} failed"
                                    f" ({result.status or 'gpg exit ' + str(result.returncode)}):"
                                    " is its secret key in the keyring, with this passphrase?")
        return _output(dest)


class Encrypt:
    def __init__(self, spec: EncryptStep, ctx: StepContext):
        self.spec, self.ctx = spec, ctx
        self.extension = "asc" if spec.armor else "pgp"

    def verify(self) -> list[str]:
        """``tradelane check``: the recipients' keys (and our signing key) usable."""
        from tradelane.steps.pgp_check import ENCRYPT, SIGN, KeyringView

        view, out = KeyringView.of(self.ctx), []
        if view.problem:
            return [view.problem]
        for index, fpr in enumerate(self.spec.encrypt):
            view.check(f"encrypt[{index}]", fpr, ENCRYPT, out)
        if self.spec.sign_with:
            view.check("sign_with", self.spec.sign_with, SIGN, out)
        return out

    def apply(self, staged: Staged, dest: Path) -> Staged:
        gpg = keyring(self.ctx)
        spec = self.spec
        passphrase = self.ctx.secret(spec.passphrase_env, spec.passphrase_file,
                                     "the passphrase of our signing key")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with staged.open() as src:
            result = gpg.encrypt_file(src, spec.encrypt, sign=spec.sign_with,
                                      passphrase=passphrase or None, armor=spec.armor,
                                      always_trust=True, output=str(dest))
        if not result.ok or not dest.exists():
            with contextlib.suppress(FileNotFoundError):
                dest.unlink()
            raise TargetUnavailable(
                f"encrypting to {', '.join(spec.encrypt)} failed ({result.status}): are the"
                " recipients' public keys (and our signing key) in the keyring?")
        return _output(dest)
