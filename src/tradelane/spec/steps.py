"""A route's processing ``steps:``, applied to the file itself, not its records.

``before_read`` runs in order on the file as it was received, before it is parsed (decrypt,
verify, decompress); ``after_write`` runs in order on the file the target's format wrote,
before it is delivered (compress, sign, encrypt). Each step names its kind by its own key
(``decompress: zip``, ``decrypt: pgp``, ``encrypt: [fingerprint]``) and is checked against
the spec model of that kind (``tradelane.registry.STEPS``); their code is in
``tradelane.steps`` and is imported only when a route has steps.

A step that cannot do its work (a zip bomb, a signature by an unknown key) quarantines the
file with the reason; the ledger keeps the sha256 of the file as received.
"""

import itertools
import re
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from tradelane.registry import STEPS, StepPlugin
from tradelane.spec._base import Strict

_FINGERPRINT = re.compile(r"^[0-9A-F]{40}([0-9A-F]{24})?$")


def _fingerprint(value: str) -> str:
    value = value.replace(" ", "").upper()
    if not _FINGERPRINT.match(value):
        raise ValueError(f"{value!r}: give the key's full fingerprint (40 hex digits, as"
                         " `gpg --list-keys --with-colons` prints it), never a name or a"
                         " short key id, which anyone can forge")
    return value


Fingerprint = Annotated[str, Field(description="An OpenPGP key's full fingerprint.")]


class StepOptions(Strict):
    """What every step has: its kind."""

    kind: str = Field(..., description="Kind of step; implied by its own key (decompress,"
                      " decrypt, verify, compress, sign, encrypt).")

    @property
    def plugin(self) -> StepPlugin:
        return STEPS.get(self.kind)


class DecompressStep(StepOptions):
    """Unpack a gzip file, or a zip holding exactly one file (a zip of several files is
    quarantined with their names: send one file per zip). Streaming, in bounded memory."""

    kind: Literal["decompress"] = "decompress"
    decompress: Literal["gzip", "zip", "auto"] = Field(
        ..., description="gzip, zip, or auto: by the file's first bytes; a file that is"
        " neither goes on as it is.")
    max_size: int = Field(
        1 << 30, gt=0, description="Largest unpacked size in bytes; a larger file is"
        " quarantined as a possible zip bomb.")
    max_ratio: int = Field(
        200, gt=1, description="Largest unpacked:packed ratio once past 1 MB unpacked; a"
        " higher one is quarantined as a possible zip bomb.")


class _Passphrase(StepOptions):
    passphrase_env: str | None = Field(
        None, description="Environment variable holding our secret key's passphrase.")
    passphrase_file: str | None = Field(
        None, description="File holding our secret key's passphrase (relative to the project).")

    @model_validator(mode="after")
    def _one_passphrase(self) -> Self:
        if self.passphrase_env and self.passphrase_file:
            raise ValueError("give only one of 'passphrase_env' or 'passphrase_file'")
        return self


class DecryptStep(_Passphrase):
    """Decrypt an OpenPGP message with our secret key from the project keyring."""

    kind: Literal["decrypt"] = "decrypt"
    decrypt: Literal["pgp"] = Field(..., description="The method: pgp (OpenPGP, GnuPG).")
    signed_by: list[Fingerprint] = Field(
        default_factory=list, description="If given, the message must also carry a valid"
        " signature by one of these keys (full fingerprints, in the keyring).")

    _fingerprints = field_validator("signed_by")(
        classmethod(lambda cls, v: [_fingerprint(f) for f in v]))


class VerifyStep(StepOptions):
    """Check an OpenPGP signed (not encrypted) message and pass on its content."""

    kind: Literal["verify"] = "verify"
    verify: Literal["pgp"] = Field(..., description="The method: pgp (OpenPGP, GnuPG).")
    signed_by: list[Fingerprint] = Field(
        ..., min_length=1, description="Keys whose signature is accepted (full fingerprints,"
        " in the keyring).")

    _fingerprints = field_validator("signed_by")(
        classmethod(lambda cls, v: [_fingerprint(f) for f in v]))


class CompressStep(StepOptions):
    """Compress the written file with gzip."""

    kind: Literal["compress"] = "compress"
    compress: Literal["gzip"] = Field(..., description="The method: gzip.")


class SignStep(_Passphrase):
    """Sign the written file with our key (an OpenPGP signed message holding the file)."""

    kind: Literal["sign"] = "sign"
    sign: Fingerprint = Field(..., description="Fingerprint of our secret key in the keyring.")
    armor: bool = Field(False, description="ASCII armor instead of binary OpenPGP.")

    _fingerprint = field_validator("sign")(classmethod(lambda cls, v: _fingerprint(v)))


class EncryptStep(_Passphrase):
    """Encrypt the written file to the partner's key(s), optionally signed by ours."""

    kind: Literal["encrypt"] = "encrypt"
    encrypt: list[Fingerprint] = Field(
        ..., min_length=1, description="Fingerprints of the recipients' public keys.")
    sign_with: Fingerprint | None = Field(
        None, description="Also sign with our secret key (one OpenPGP message, signed and"
        " encrypted, as partners expect).")
    armor: bool = Field(False, description="ASCII armor instead of binary OpenPGP.")

    _recipients = field_validator("encrypt")(
        classmethod(lambda cls, v: [_fingerprint(f) for f in v]))
    _signer = field_validator("sign_with")(
        classmethod(lambda cls, v: None if v is None else _fingerprint(v)))


STEPS.register(StepPlugin("decompress", DecompressStep,
                          "tradelane.steps.decompress:Decompress", direction="input"))
STEPS.register(StepPlugin("decrypt", DecryptStep, "tradelane.steps.pgp:Decrypt",
                          direction="input"))
STEPS.register(StepPlugin("verify", VerifyStep, "tradelane.steps.pgp:Verify",
                          direction="input"))
STEPS.register(StepPlugin("compress", CompressStep, "tradelane.steps.decompress:Compress",
                          direction="output"))
STEPS.register(StepPlugin("sign", SignStep, "tradelane.steps.pgp:Sign", direction="output"))
STEPS.register(StepPlugin("encrypt", EncryptStep, "tradelane.steps.pgp:Encrypt",
                          direction="output"))

#: One entry of a ``steps:`` list, checked against the spec model of its kind.
StepSpec = Annotated[StepOptions, STEPS.annotation()]


class StepsSpec(Strict):
    """The route's processing steps on the file itself."""

    before_read: list[StepSpec] = Field(
        default_factory=list,
        description="Applied in order to the received file before it is read, e.g."
        " [{decrypt: pgp, signed_by: [FINGERPRINT]}, {decompress: gzip}].")
    after_write: list[StepSpec] = Field(
        default_factory=list,
        description="Applied in order to the written file before it is delivered, e.g."
        " [{compress: gzip}, {encrypt: [FINGERPRINT], sign_with: OUR_FINGERPRINT}].")

    @model_validator(mode="after")
    def _directions(self) -> Self:
        for where, steps, direction in (("before_read", self.before_read, "input"),
                                        ("after_write", self.after_write, "output")):
            for index, step in enumerate(steps):
                if step.plugin.direction != direction:
                    other = "after_write" if direction == "input" else "before_read"
                    raise ValueError(f"{where}[{index}]: {step.kind} belongs in {other}")
        kinds = [s.kind for s in self.after_write]
        for first, second in itertools.pairwise(kinds):
            if (first, second) == ("sign", "encrypt"):
                raise ValueError("after_write: sign then encrypt would encrypt a signed"
                                 " message the partner cannot verify in one go; use"
                                 " {encrypt: [...], sign_with: OUR_FINGERPRINT}")
        return self
