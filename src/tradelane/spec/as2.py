"""AS2 (RFC 4130): the ``as2:`` target of a route and the ``as2:`` receiving endpoint of
``tradelane serve`` (settings). Keys and certificates are PEM files in the project; the
passphrase of a private key comes from the environment or a file, never from the spec."""

import re
from datetime import timedelta
from typing import ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from tradelane.registry import TARGETS, TargetPlugin
from tradelane.spec._base import Duration, Strict
from tradelane.spec.targets import TargetOptions

#: RFC 4130 section 6.2: an AS2 name is 1-128 printable ASCII characters.
_AS2_NAME = re.compile(r'^[!-~ ]{1,128}$')
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _as2_name(value: str) -> str:
    if not _AS2_NAME.match(value):
        raise ValueError(f"{value!r} is not an AS2 name (1-128 printable ASCII characters)")
    return value


class As2Key(Strict):
    """Our own key pair: a PEM file holding the private key and its certificate."""

    key: str = Field(..., description="PEM file (in the project) holding our private key and"
                     " our certificate, e.g. keys/our-as2.pem.")
    passphrase_env: str | None = Field(
        None, description="Environment variable holding the key's passphrase.")
    passphrase_file: str | None = Field(
        None, description="File holding the key's passphrase (its first line).")

    @field_validator("passphrase_env")
    @classmethod
    def _variable(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @model_validator(mode="after")
    def _one_passphrase(self) -> Self:
        if self.passphrase_env and self.passphrase_file:
            raise ValueError("give 'passphrase_env' or 'passphrase_file', not both")
        return self


class As2TargetSpec(Strict):
    """Send each output as one AS2 message to a partner and check its MDN."""

    url: str = Field(..., description="The partner's AS2 endpoint, e.g."
                     " https://as2.partner.example/as2/receive.")
    our_id: str = Field(..., description="Our AS2 name (AS2-From).")
    partner_id: str = Field(..., description="The partner's AS2 name (AS2-To).")
    our_key: As2Key = Field(..., description="Our key pair, to sign messages.")
    partner_certificate: str | None = Field(
        None, description="PEM file of the partner's certificate: messages are encrypted to"
        " it and its MDNs verified with it. Default: the route's partner's"
        " keys.certificate (partners/NAME.yaml).")
    sign: bool = Field(True, description="Sign each message with our key.")
    encrypt: bool = Field(True, description="Encrypt each message to the partner's"
                          " certificate.")
    compress: bool = Field(False, description="Compress each message (zlib) before signing.")
    digest: Literal["sha256", "sha384", "sha512", "sha1"] = Field(
        "sha256", description="Digest of the signature and of the MIC.")
    encryption: Literal["aes_128_cbc", "aes_192_cbc", "aes_256_cbc", "tripledes_192_cbc"] = (
        Field("aes_256_cbc", description="Encryption algorithm."))
    mdn: Literal["sync", "async"] = Field(
        "sync", description="sync: the MDN comes in the HTTP answer; async: the partner posts"
        " it later to our endpoint (settings as2.mdn_url).")
    mdn_signed: bool = Field(True, description="Ask for a signed MDN, and refuse an unsigned"
                             " one.")
    mdn_within: Duration = Field(
        timedelta(hours=1), description="An asynchronous MDN is expected within this time of"
        " sending: past it an alert is raised and the message is sent again (same message id)"
        " on the file's next retry.")
    mdn_wait: Duration = Field(
        timedelta(seconds=30), description="How long a delivery waits for an asynchronous MDN"
        " before leaving the file pending (it is checked again on the next retry).")
    content_type: str = Field("application/edi-consent",
                              description="MIME type of the payload, e.g. application/EDIFACT.")
    verify: bool = Field(True, description="Verify the partner's TLS certificate. Leave it on.")
    ca_bundle: str | None = Field(
        None, description="PEM file of CAs trusted for the partner's HTTPS server.")
    timeout: Duration = Field(timedelta(seconds=120),
                              description="Longest wait for the HTTP answer (and a sync MDN).")
    max_size: int = Field(200 * 1024 * 1024, ge=1, description="Largest output sent, in"
                          " bytes: AS2 messages are built in memory.")

    _names = field_validator("our_id", "partner_id")(classmethod(lambda cls, v: _as2_name(v)))

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("give an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise ValueError("no credentials in the URL")
        return value


class As2Target(TargetOptions):
    """Outputs sent as AS2 messages: signed, encrypted, with an MDN checked."""

    kind: Literal["as2"] = "as2"
    as2: As2TargetSpec = Field(..., description="The AS2 partner and how to send to it.")


class As2InboundPartner(Strict):
    """A partner allowed to send to our AS2 endpoint, and where its files go."""

    id: str = Field(..., description="The partner's AS2 name (AS2-From).")
    certificate: str = Field(..., description="PEM file of the partner's certificate: its"
                             " signatures are verified with it, async MDNs signed to it.")
    folder: str = Field(..., description="Inbound folder the payloads are written into: the"
                        " folder source of the route that reads this partner's files.")
    require_signed: bool = Field(True, description="Refuse an unsigned message.")
    require_encrypted: bool = Field(True, description="Refuse an unencrypted message.")

    _name = field_validator("id")(classmethod(lambda cls, v: _as2_name(v)))


class As2Settings(Strict):
    """The AS2 endpoint of ``tradelane serve``: plain HTTP on its own port; put a TLS proxy
    in front of it."""

    port: int = Field(..., gt=0, lt=65536, description="Port of the AS2 endpoint.")
    host: str = Field("127.0.0.1", description="Address it binds to (the TLS proxy's side).")
    our_id: str = Field(..., description="Our AS2 name (AS2-To of the messages we accept).")
    key: As2Key = Field(..., description="Our key pair: decrypts messages and signs MDNs.")
    mdn_url: str | None = Field(
        None, description="Our public URL for asynchronous MDNs (as the partner reaches it,"
        " through the proxy), asked for by targets with mdn: async.")
    partners: list[As2InboundPartner] = Field(
        default_factory=list, description="Partners allowed to send to us.")
    max_size: int = Field(200 * 1024 * 1024, ge=1, description="Largest message accepted,"
                          " in bytes.")

    _name = field_validator("our_id")(classmethod(lambda cls, v: _as2_name(v)))
    #: ``tradelane check``: the key, the partners' certificates and mdn_url, looked at
    far_side_check: ClassVar[str] = "tradelane.as2.checks:endpoint_findings"

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [p.id for p in self.partners]
        if len(ids) != len(set(ids)):
            raise ValueError("a partner id is listed twice under as2.partners")
        return self


TARGETS.register(TargetPlugin("as2", As2Target, "tradelane.targets.as2:As2Target",
                              writes_files=True))
