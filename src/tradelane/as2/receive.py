"""The AS2 endpoint of ``tradelane serve``: partners post messages (and asynchronous MDNs
for the messages we sent) to it. Plain HTTP on its own port: TLS is a proxy's job.

A message is parsed by pyas2lib (signature verified, decrypted, decompressed), then stored
exactly once, and only then answered::

    1. write the payload to  <folder>/.as2-<id hash>.part  and fsync it
    2. one ledger transaction: the message id, the final path and the MDN we answer
    3. rename to the final name (the route's folder source sees it now), fsync the folder
    4. answer the MDN (sync) or post it to the partner (async)

A partner's resend of a known message id is never stored again. If our MDN may not have
reached the partner (the answer of 4 did not go out: a crash, a broken connection), the resend
gets the MDN recorded in 2 (a leftover temp file of 1-2 is renamed first); once it was handed
over, the resend is a duplicate: it is answered ``processed/warning: duplicate-document``
(RFC 4130 section 7.5.3), the MDN's text saying when the message came and what it became. A
message that fails its checks gets a failed MDN and nothing is stored.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from tradelane.as2.keys import organization, read_certificate
from tradelane.as2.ledger import (
    ANSWERED,
    AWAITING,
    CONFIRMED,
    FAILED,
    IN,
    OUT,
    SENT,
    As2Ledger,
    As2Message,
)
from tradelane.as2.send import mdn_confirms, mdn_orig_id
from tradelane.crashpoints import crash_point
from tradelane.paths import fsync_dir, safe_component
from tradelane.spec.as2 import As2InboundPartner, As2Settings

log = logging.getLogger("tradelane.as2")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    #: the message received whose MDN this is: marked answered once it is sent
    answers: str | None = None


def _text(status: int, words: str) -> Answer:
    return Answer(status, {"Content-Type": "text/plain; charset=utf-8"}, words.encode())


class As2Endpoint:
    """What the HTTP handler calls: ``handle(headers, body) -> Answer``."""

    def __init__(self, spec: As2Settings, root: Path, engine: Engine,
                 environ: Mapping[str, str] | None = None):
        self.spec, self.root = spec, root
        self.book = As2Ledger(engine)
        self.org = organization(spec.our_id, spec.key, root, environ=environ)
        self.inbound = {p.id: p for p in spec.partners}
        self._lock = threading.Lock()  # one message id is stored by one thread at a time

    def _partner(self, as2_id: str, *, mdn_signed: bool = True) -> Any:
        from pyas2lib import Partner

        spec = self.inbound.get(as2_id)
        if spec is None:
            return None
        cert = read_certificate(self.root / spec.certificate)
        return Partner(as2_name=as2_id, verify_cert=cert, encrypt_cert=cert,
                       sign=spec.require_signed, encrypt=spec.require_encrypted,
                       mdn_digest_alg="sha256" if mdn_signed else None)

    # -- one request ---------------------------------------------------------------------------

    def handle(self, headers: Mapping[str, str], body: bytes) -> Answer:
        if len(body) > self.spec.max_size:
            return _text(413, f"message larger than {self.spec.max_size} bytes")
        head = "".join(f"{k.lower()}: {v}\r\n" for k, v in headers.items())
        raw = head.encode("utf-8", "replace") + b"\r\n" + body
        lower = {k.lower(): v for k, v in headers.items()}
        if mdn_orig_id(raw) is not None:
            return self._mdn(raw, lower)
        return self._message(raw, lower)

    def _message(self, raw: bytes, headers: Mapping[str, str]) -> Answer:
        from pyas2lib import Message
        from pyas2lib.exceptions import AS2Exception

        message_id = headers.get("message-id", "").strip().strip("<>")
        sender = headers.get("as2-from", "").strip().strip('"')
        if not message_id or not sender:
            return _text(400, "not an AS2 message: Message-ID and AS2-From are required")
        with self._lock:
            known = self.book.get(message_id, IN)
            if known is not None and known.state == ANSWERED:
                return self._duplicate(raw, known)
            if known is not None:
                return self._again(message_id, known.path, known.mdn, headers)
            message = Message()
            try:
                status, (exc, _tb), mdn = message.parse(
                    raw, lambda org: self.org if org == self.spec.our_id else None,
                    lambda p: self._partner(p))
            except AS2Exception as err:  # raised before an MDN could be built
                log.warning("AS2 message %s from %s refused: %s", message_id, sender, err)
                return _text(400, f"AS2 message refused: {err}")
            if status != "processed":
                log.warning("AS2 message %s from %s refused: %s", message_id, sender, exc)
                return self._answer(mdn, f"AS2 message refused: {exc}")
            spec = self.inbound[message.sender.as2_name]
            mdn_bytes = _mdn_bytes(mdn)
            path = self._store(spec, message, message_id, mdn_bytes)
            log.info("AS2 message %s from %s stored as %s", message_id, sender, path)
        crash_point("as2-stored")
        return self._answer(mdn, "AS2 message received", message_id)

    def _store(self, spec: As2InboundPartner, message: Any, message_id: str,
               mdn: bytes | None) -> Path:
        folder = self.root / spec.folder
        folder.mkdir(parents=True, exist_ok=True)
        key = hashlib.sha256(message_id.encode()).hexdigest()[:16]
        temp = folder / f".as2-{key}.part"
        given = message.payload.get_filename() if message.payload is not None else None
        name = safe_component(os.path.basename(given)) if given else f"as2-{key}.edi"
        final = folder / name
        if final.exists():  # never overwrite another message's file
            final = folder / f"{key}-{name}"
        data = message.content
        data = data.encode() if isinstance(data, str) else data
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        # pyas2lib computes the MIC of a signed message only once its signature verified
        mic = (f"{message.mic.decode()}, {message.digest_alg}"
               if message.signed and message.mic else None)
        self.book.stored(message_id, partner=spec.id, path=str(final.relative_to(self.root)),
                         sha256=hashlib.sha256(data).hexdigest(), mdn=mdn,
                         mdn_status="processed", mic=mic)
        os.replace(temp, final)
        fsync_dir(folder)
        return final

    def _again(self, message_id: str, path: str | None, mdn: bytes | None,
               headers: Mapping[str, str]) -> Answer:
        """A resend of a message stored before: finish its rename, answer the same MDN."""
        if path:  # a crash between the ledger and the rename left the temp file
            final = self.root / path
            key = hashlib.sha256(message_id.encode()).hexdigest()[:16]
            temp = final.parent / f".as2-{key}.part"
            if temp.exists() and not final.exists():
                os.replace(temp, final)
                fsync_dir(final.parent)
        log.info("AS2 message %s received again: answered with the same MDN, not stored"
                 " twice", message_id)
        if mdn is None:
            self.book.answered_in(message_id)
            return _text(200, "AS2 message received")
        answer = _parse_stored(mdn, message_id)
        if headers.get("receipt-delivery-option"):
            self._post_async(headers["receipt-delivery-option"], answer)
            return _text(200, "AS2 message received")
        return answer

    def _duplicate(self, raw: bytes, known: As2Message) -> Answer:
        """A resend of a message whose MDN went out: not stored again; answered as RFC 4130
        prescribes, ``processed/warning: duplicate-document``, with what happened in words."""
        from pyas2lib import Message

        message = Message()
        status, _exc, mdn = message.parse(
            raw, lambda org: self.org if org == self.spec.our_id else None,
            lambda p: self._partner(p), lambda _id, _partner: True)
        name = os.path.basename(known.path or "") or "(no file)"
        words = (f"This AS2 message ({known.message_id}) was received before, on"
                 f" {known.created_at:%Y-%m-%d %H:%M:%S} UTC, and stored as {name}; it was not"
                 " processed again.")
        log.warning("AS2 message %s from %s received again: answered duplicate-document, not"
                    " stored twice", known.message_id, known.partner)
        if mdn is not None and status == "processed/Warning":
            mdn.build(message=message, status=status, detailed_status="duplicate-document",
                      failed_text=words)
        return self._answer(mdn, words)

    def _answer(self, mdn: Any, words: str, received: str | None = None) -> Answer:
        if mdn is None:
            if received:
                self.book.answered_in(received)
            return _text(200, words)
        answer = Answer(200, {k: str(v) for k, v in mdn.headers.items()}, mdn.content,
                        answers=received)
        if mdn.mdn_mode == "ASYNC" and mdn.mdn_url:
            self._post_async(mdn.mdn_url, answer)
            return _text(200, words)
        return answer

    def _post_async(self, url: str, answer: Answer) -> None:
        """Post an asynchronous MDN after our HTTP answer (in a thread); a failure is logged
        (the partner resends the message, and gets the MDN again from the ledger)."""
        threading.Thread(target=self._post_now, args=(url, answer), name="as2-mdn",
                         daemon=True).start()

    def _post_now(self, url: str, answer: Answer) -> None:
        time.sleep(0.05)  # let our HTTP answer reach the partner first
        try:
            response = httpx.post(url, content=answer.body, headers=answer.headers, timeout=60)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("AS2: the asynchronous MDN could not be posted to %s (%s)", url,
                        type(exc).__name__)
            return
        if answer.answers:
            self.book.answered_in(answer.answers)

    # -- an asynchronous MDN for a message we sent ---------------------------------------------

    def _mdn(self, raw: bytes, headers: Mapping[str, str]) -> Answer:
        from pyas2lib import Mdn, Message

        orig = mdn_orig_id(raw) or ""
        sent = self.book.get(orig, OUT)
        if sent is None:
            return _text(404, f"no AS2 message {orig} was sent from here")
        if sent.state not in (SENT, AWAITING):
            return _text(200, "AS2 MDN received before")
        partner = self._partner(sent.partner)
        if partner is None:
            return _text(403, f"AS2 partner {sent.partner} is not under as2.partners")
        original = Message(sender=self.org, receiver=partner)
        original.message_id = orig
        original.mic = sent.mic.encode() if sent.mic else None
        status, detail = Mdn().parse(raw, lambda _id, _to: original)
        ok = mdn_confirms(status, detail)
        words = f"{status}: {detail}" if detail else str(status)
        self.book.answered(orig, CONFIRMED if ok else FAILED, mdn_status=words, mdn=raw)
        log.info("AS2 MDN for message %s from %s: %s", orig, sent.partner, words)
        return _text(200, "AS2 MDN received")


def _mdn_bytes(mdn: Any) -> bytes | None:
    if mdn is None:
        return None
    head = "".join(f"{k}: {v}\r\n" for k, v in mdn.headers.items())
    return head.encode() + b"\r\n" + mdn.content


def _parse_stored(raw: bytes, answers: str | None = None) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    parsed = message_from_bytes(head + b"\r\n\r\n")
    return Answer(200, {k: str(v) for k, v in parsed.items()}, body, answers=answers)


class As2Server:
    """The endpoint on its own port, in a thread (like the health endpoint)."""

    def __init__(self, endpoint: As2Endpoint, host: str, port: int):
        self.endpoint = endpoint
        self.httpd = ThreadingHTTPServer((host, port), _handler(endpoint))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="as2",
                                       daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self.thread.start()
        log.info("AS2 endpoint on http://%s:%d/ (put a TLS proxy in front)",
                 self.httpd.server_address[0], self.port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(endpoint: As2Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > endpoint.spec.max_size:
                self._send(_text(413 if length > 0 else 411, "Content-Length missing or too"
                                 " large"))
                return
            body = self.rfile.read(length)
            try:
                answer = endpoint.handle(dict(self.headers.items()), body)
            except Exception as exc:  # the partner gets a 500 and resends; ops get the log
                log.exception("AS2 endpoint: %s", type(exc).__name__)
                answer = _text(500, "temporary failure, send again later")
            self._send(answer)
            if answer.answers:  # the sync MDN is out: a resend is now a duplicate
                self.wfile.flush()
                endpoint.book.answered_in(answer.answers)

        def do_GET(self) -> None:
            self._send(_text(200, "AS2 endpoint: POST AS2 messages here"))

        def _send(self, answer: Answer) -> None:
            self.send_response(answer.status)
            for key, value in answer.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value.replace("\r", " ").replace("\n", " "))
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("as2 %s", format % args)

    return Handler
