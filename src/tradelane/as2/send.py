"""Sending one AS2 message and reading its MDN (pyas2lib builds and checks; httpx posts).

``As2Sender.post`` returns the outcome of one message: confirmed by a good MDN (signature
verified, MIC equal to ours), refused by the partner (its MDN says failed or the MIC
differs), or waiting for an asynchronous MDN. Transport failures raise TargetUnavailable.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tradelane.as2.keys import organization, read_certificate
from tradelane.errors import TargetUnavailable
from tradelane.spec.as2 import As2TargetSpec


@dataclass(frozen=True)
class Built:
    message_id: str
    headers: dict[str, str]
    body: bytes
    mic: str | None


@dataclass(frozen=True)
class MdnOutcome:
    """``status``: processed, or the partner's failure; ``ok`` only for a clean processed."""

    status: str
    detail: str | None
    raw: bytes

    @property
    def ok(self) -> bool:
        return mdn_confirms(self.status, self.detail)


def mdn_confirms(status: str | None, detail: str | None) -> bool:
    """processed, or the partner's duplicate-document warning: it holds this message id
    already (our resend after a crash between posting and recording its MDN)."""
    if status == "processed" and not detail:
        return True
    return (status or "").lower() == "processed/warning" and \
        (detail or "").strip().lower() == "duplicate-document"


class As2Sender:
    def __init__(self, spec: As2TargetSpec, root: Path, *, partner_certificate: Path,
                 mdn_url: str | None = None, client: httpx.Client | None = None):
        from pyas2lib import Partner

        self.spec = spec
        cert = read_certificate(partner_certificate)
        self.org = organization(spec.our_id, spec.our_key, root, mdn_url=mdn_url)
        self.partner = Partner(
            as2_name=spec.partner_id, verify_cert=cert, encrypt_cert=cert,
            sign=spec.sign, encrypt=spec.encrypt, compress=spec.compress,
            digest_alg=spec.digest, enc_alg=spec.encryption,
            mdn_mode="ASYNC" if spec.mdn == "async" else "SYNC",
            mdn_digest_alg=spec.digest if spec.mdn_signed else None)
        if spec.mdn == "async" and not mdn_url:
            raise TargetUnavailable("AS2 target with mdn: async needs as2.mdn_url in"
                                    " tradelane.yaml (where the partner posts its MDN)")
        verify: Any = spec.verify
        if spec.verify and spec.ca_bundle:
            verify = ssl.create_default_context(cafile=str(root / spec.ca_bundle))
        self._own = client is None
        self.client = client or httpx.Client(
            timeout=spec.timeout.total_seconds(), verify=verify, follow_redirects=False,
            headers={"User-Agent": "tradelane"})

    def close(self) -> None:
        if self._own:
            self.client.close()

    def build(self, data: bytes, message_id: str, filename: str) -> Built:
        from pyas2lib import Message

        message = Message(sender=self.org, receiver=self.partner)
        # The same id on every attempt: the partner answers a resend with the MDN it gave.
        message.build(data, filename=filename, content_type=self.spec.content_type,
                      additional_headers={"Message-ID": f"<{message_id}>"})
        message.message_id = message_id
        headers = {k: str(v) for k, v in message.headers.items()}
        return Built(message_id, headers, message.content,
                     message.mic.decode() if message.mic else None)

    def post(self, built: Built) -> httpx.Response:
        try:
            response = self.client.post(self.spec.url, content=built.body,
                                        headers=built.headers)
        except httpx.TransportError as exc:
            raise TargetUnavailable(f"AS2 {self.spec.url}: {_network_problem(exc)}; the"
                                    " message is sent again on the next retry") from None
        if response.status_code >= 300:
            raise TargetUnavailable(
                f"AS2 {self.spec.url} answered HTTP {response.status_code}"
                f" {response.reason_phrase}; the message is sent again on the next retry")
        return response

    def check_mdn(self, raw: bytes, built_id: str, mic: str | None) -> MdnOutcome:
        """Verify an MDN (headers + body, as received) for our message ``built_id``."""
        from pyas2lib import Mdn, Message

        original = Message(sender=self.org, receiver=self.partner)
        original.message_id = built_id
        original.mic = mic.encode() if mic else None
        mdn = Mdn()
        status, detail = mdn.parse(raw, lambda _id, _recipient: original)
        if mdn.orig_message_id and mdn.orig_message_id != built_id:
            status, detail = "failed/Failure", (f"the MDN answers message"
                                                f" {mdn.orig_message_id}, not {built_id}")
        return MdnOutcome(status or "failed/Failure", detail, raw)


def response_as_mime(response: httpx.Response) -> bytes:
    """The HTTP answer of a synchronous MDN as one MIME text, as pyas2lib parses it."""
    head = "".join(f"{k}: {v}\r\n" for k, v in response.headers.items()
                   if k.lower() not in ("content-length", "transfer-encoding", "connection"))
    return head.encode("utf-8", "replace") + b"\r\n" + response.content


def mdn_orig_id(raw: bytes) -> str | None:
    """The Original-Message-ID an MDN answers, or None when ``raw`` is no MDN."""
    from email import message_from_bytes

    from pyas2lib import Mdn
    from pyas2lib.exceptions import MDNNotFound

    mdn = Mdn()
    mdn.payload = message_from_bytes(raw)
    try:
        orig, _recipient = mdn.detect_mdn()
    except MDNNotFound:
        return None
    return str(orig) if orig else None


def _network_problem(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return "the server's TLS certificate is not trusted (see verify, ca_bundle)"
        return "cannot connect"
    return f"network error ({type(exc).__name__})"
