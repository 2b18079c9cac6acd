"""AS2 target: each output is one AS2 message (signed, encrypted, optionally compressed) to
a partner, confirmed by its MDN.

The message id is derived from the route, the file and the output's digest, so every retry
sends the same message under the same id and the partner answers a resend with the MDN it
gave. The ledger (``as2_messages``) records the message before it is posted and its MDN
after; a retry of a confirmed message sends nothing.

    sync MDN, processed, MIC equal      delivered
    MDN failed, or MIC different        DeliveryRejected (quarantine, with the partner's words)
    HTTP error, no connection           TargetUnavailable (pending, retried)
    async MDN not in within mdn_wait    TargetUnavailable; the next retry looks again
    ... and none past mdn_within        alert as2_mdn_missing, the message is sent again
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tradelane.abc import DeliveryContext
from tradelane.as2.keys import As2KeyError
from tradelane.as2.ledger import AWAITING, CONFIRMED, FAILED, OUT, As2Ledger, As2Message
from tradelane.as2.send import As2Sender, response_as_mime
from tradelane.crashpoints import crash_point
from tradelane.errors import DeliveryRejected, TargetUnavailable
from tradelane.formats import writer_for
from tradelane.models import Delivery, Document, Issue
from tradelane.targets.naming import output_name

if TYPE_CHECKING:
    from tradelane.spec import RouteSpec, Settings

log = logging.getLogger(__name__)
_POLL = 0.2  # seconds between looks at the ledger for an asynchronous MDN


class As2Target:
    def __init__(self, route: RouteSpec, settings: Settings):
        self.route, self.settings = route, settings
        self.spec = route.target.as2  # type: ignore[attr-defined]
        self.writer = writer_for(route.target.format, route.target)
        self.uri = self.spec.url
        self._sender: As2Sender | None = None

    def __enter__(self) -> As2Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    @property
    def sender(self) -> As2Sender:
        if self._sender is None:
            as2 = self.settings.as2
            self._sender = As2Sender(self.spec, self.settings.root,
                                     partner_certificate=self._partner_certificate(),
                                     mdn_url=as2.mdn_url if as2 else None)
        return self._sender

    def _partner_certificate(self) -> Path:
        if self.spec.partner_certificate:
            return self.settings.path(self.spec.partner_certificate)
        if self.route.partner:
            from tradelane.partners import load_partners

            problems: list[str] = []
            root = self.settings.root
            partners = load_partners(self.settings.path(self.settings.mappings).parent
                                     / "partners", root, self.settings, problems)
            partner = partners.get(self.route.partner)
            if partner is not None and partner.keys.certificate:
                return self.settings.path(partner.keys.certificate)
        raise As2KeyError("(none)", f"route {self.route.name}: give as2.partner_certificate,"
                          " or keys.certificate in the route's partner")

    # -- delivery ------------------------------------------------------------------------------

    def deliver(self, batches: Iterable[Document], ctx: DeliveryContext) -> Delivery:
        data, count = self._render(batches)
        digest = hashlib.sha256(data).hexdigest()
        name = output_name(self.route.target.name, ctx, self.writer.extension)
        message_id = _message_id(ctx.route, ctx.file_id, digest, self.spec.our_id)
        book = As2Ledger(ctx.ledger.engine) if ctx.ledger is not None else None
        known = book.get(message_id, OUT) if book else None
        delivery = Delivery(target=self.uri, records=count, size=len(data), sha256=digest,
                            details={"as2_message_id": message_id, "name": name})
        if known is not None and known.state == CONFIRMED:
            log.info("AS2 message %s was confirmed before: not sent again", message_id)
            if book is not None:
                self._resolve_alerts(book, ctx)
            return delivery
        if known is not None and known.state == AWAITING and book is not None:
            if self._await_mdn(book, message_id):
                self._resolve_alerts(book, ctx)
                return delivery
            if not self._overdue(known, ctx):
                raise TargetUnavailable(
                    f"AS2 message {message_id} to {self.spec.partner_id}: no MDN yet (sent"
                    f" {known.created_at:%Y-%m-%d %H:%M} UTC); looked for again on the next"
                    " retry")
        sender = self.sender
        built = sender.build(data, message_id, name)
        if book is not None:
            book.sending(message_id, partner=self.spec.partner_id, route=ctx.route,
                         file_id=ctx.file_id, mic=built.mic, sha256=digest)
        response = sender.post(built)
        crash_point("as2-sent")
        if self.spec.mdn == "async":
            if book is not None:
                book.answered(message_id, AWAITING)
                if self._await_mdn(book, message_id):
                    return delivery
            raise TargetUnavailable(
                f"AS2 message {message_id} sent to {self.spec.partner_id}; waiting for its"
                " MDN (asynchronous): the file is delivered when it comes")
        outcome = sender.check_mdn(response_as_mime(response), message_id, built.mic)
        if book is not None:
            book.answered(message_id, CONFIRMED if outcome.ok else FAILED,
                          mdn_status=_status_text(outcome.status, outcome.detail),
                          mdn=outcome.raw)
        if not outcome.ok:
            raise _refused(self.spec.partner_id, message_id, outcome.status, outcome.detail)
        log.info("route %s file %s: AS2 message %s confirmed by %s", ctx.route, ctx.file_id,
                 message_id, self.spec.partner_id)
        return delivery

    def _render(self, batches: Iterable[Document]) -> tuple[bytes, int]:
        sink = _Bounded(self.spec.max_size)
        count = self.writer.write(batches, sink, self.route)
        return sink.getvalue(), count

    def _await_mdn(self, book: As2Ledger, message_id: str) -> bool:
        """Wait up to mdn_wait for the endpoint to record the MDN; True when confirmed."""
        deadline = time.monotonic() + self.spec.mdn_wait.total_seconds()
        while True:
            found = book.get(message_id, OUT)
            if found is not None and found.state == CONFIRMED:
                return True
            if found is not None and found.state == FAILED:
                status, _, detail = (found.mdn_status or "failed").partition(": ")
                raise _refused(self.spec.partner_id, message_id, status, detail or None)
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)

    @staticmethod
    def _resolve_alerts(book: As2Ledger, ctx: DeliveryContext) -> None:
        """Close the as2_mdn_missing alerts of messages whose MDN has come."""
        if ctx.ledger is not None:
            from tradelane.ledger.alerts import Incidents

            Incidents(ctx.ledger).resolve_others(  # type: ignore[arg-type]
                "as2_mdn_missing", {f"as2_mdn:{m}" for m in book.awaiting()})

    def _overdue(self, known: As2Message, ctx: DeliveryContext) -> bool:
        """Past mdn_within: alert once, and say so, so that the message is sent again."""
        late = datetime.now(UTC) - known.created_at
        if late <= self.spec.mdn_within:
            return False
        if ctx.ledger is not None:
            from tradelane.ledger.alerts import Incidents

            Incidents(ctx.ledger).open(  # type: ignore[arg-type]
                f"as2_mdn:{known.message_id}", "as2_mdn_missing",
                f"AS2 partner {self.spec.partner_id} sent no MDN for message"
                f" {known.message_id} within {self.spec.mdn_within}; it is sent again",
                route=ctx.route, file_id=ctx.file_id)
        log.warning("AS2 message %s: no MDN within %s, sending again", known.message_id,
                    self.spec.mdn_within)
        return True

    def verify(self) -> list[str]:
        """``tradelane check``: our key pair, the partner's certificate and the MDN settings,
        looked at without sending (a certificate expiring soon is advice)."""
        from tradelane.as2.checks import target_findings

        return target_findings(self.route, self.settings)

    def preview(self, batches: Sequence[Document], route: RouteSpec) -> str:
        records = sum(len(b.records) for b in batches)
        what = "signed" if self.spec.sign else "unsigned"
        what += ", encrypted" if self.spec.encrypt else ", not encrypted"
        return (f"would send {records} records as {self.writer.extension} in one AS2 message"
                f" ({what}, {self.spec.mdn} MDN) from {self.spec.our_id} to"
                f" {self.spec.partner_id} at {self.uri}")


class _Bounded(io.BytesIO):
    """The output in memory, refused past ``limit`` bytes (AS2 builds messages in memory)."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.limit:
            raise DeliveryRejected(f"the output is larger than the AS2 target's max_size"
                                   f" ({self.limit:,} bytes)")
        return super().write(data)


def _message_id(route: str, file_id: int, digest: str, our_id: str) -> str:
    local = re.sub(r"[^A-Za-z0-9.-]", "-", route)[:80]
    domain = re.sub(r"[^A-Za-z0-9.-]", "-", our_id)[:60] or "tradelane"
    return f"{local}.{file_id}.{digest[:20]}@{domain}"


def _status_text(status: str, detail: str | None) -> str:
    return f"{status}: {detail}" if detail else status


def _refused(partner: str, message_id: str, status: str, detail: str | None
             ) -> DeliveryRejected:
    words = _status_text(status, detail)
    return DeliveryRejected(
        f"AS2 partner {partner} did not accept message {message_id}: {words}",
        issues=[Issue(location=f"AS2 message {message_id}", field="", value=status,
                      rule="as2_mdn", message=words)])


__all__ = ["As2Target"]
