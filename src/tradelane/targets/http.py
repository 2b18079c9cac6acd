"""HTTP target: push a file's records to an API in batches, idempotently, with retries.

Each request carries an idempotency key derived from the route, the file's sha256, the batch
size and the batch index. Batches are written to the ledger's outbox before they are sent, so a
crash leads to a resend under the same key, never a second, different delivery.

How an answer is handled::

    2xx                       acknowledged
    retry.status, other 5xx,  retried with exponential backoff and jitter (Retry-After honoured
    timeouts, network errors  on 429/503, up to retry.max_retry_after); when the attempts are
                              used up: HttpUnavailable (TargetUnavailable) -> file pending, alert
    unavailable_status, 3xx   HttpUnavailable at once: the target is misconfigured (auth, URL)
    any other 4xx             the data is refused: HttpRejected (DeliveryRejected) -> quarantine;
                              with on_invalid: split the other batches are still sent and
                              RecordsRejected names just the refused records
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from tradelane.abc import DeliveryContext
from tradelane.crashpoints import crash_point
from tradelane.errors import DeliveryRejected, RecordsRejected, TargetUnavailable
from tradelane.ledger.outbox import ACKED, REJECTED, SENT, Batch, Outbox, PlanConflict
from tradelane.models import Delivery, Document, Issue
from tradelane.targets.http_auth import Credentials, credentials
from tradelane.targets.http_body import PlannedRequest, plan_requests

if TYPE_CHECKING:
    from tradelane.spec import RouteSpec, Settings

log = logging.getLogger(__name__)
BODY_SHOWN = 500  # characters of a refusal's body kept for the reason file


class HttpUnavailable(TargetUnavailable):
    """The API could not take a batch now; the file stays pending and ops are alerted."""

    def __init__(self, url: str, *, why: str, where: str, attempts: int, delivered: int,
                 status: int | None = None, retry_after: float | None = None):
        self.url, self.why, self.where, self.attempts = url, why, where, attempts
        self.delivered, self.status, self.retry_after = delivered, status, retry_after
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        later = f"; it asks to wait {retry_after:.0f}s" if retry_after else ""
        super().__init__(f"{url} is unavailable: {why}{tries} at {where}{later}; {delivered}"
                         f" batch(es) delivered, the rest is sent when the file is retried")


class HttpRejected(DeliveryRejected):
    """The API refused a batch's data (4xx)."""

    def __init__(self, url: str, refusal: Refusal, *, accepted: int):
        self.url, self.status, self.accepted = url, refusal.status, accepted
        earlier = (f"; {accepted} earlier batch(es) were accepted and will not be sent again"
                   if accepted else "")
        super().__init__(f"{url} refused {refusal.where}: HTTP {refusal.status} {refusal.reason}"
                         f"{earlier}", issues=[refusal.issue()])


@dataclass(frozen=True)
class Refusal:
    """A 4xx answer to one request, redacted."""

    request: PlannedRequest
    where: str
    status: int
    reason: str
    body_start: str

    def issue(self) -> Issue:
        return Issue(location=self.where, field="", value=self.body_start,
                     rule=f"http_{self.status}",
                     message=f"HTTP {self.status} {self.reason}: {self.body_start[:200]}".strip())


class HttpTarget:
    """Pushes records to ``route.target.http``. Pass ``client`` to choose the transport (tests)."""

    #: may refuse single batches after taking others (``RecordsRejected``, on_invalid: split)

    def __init__(self, route: RouteSpec, settings: Settings | None = None, *,
                 client: httpx.Client | None = None, environ: Mapping[str, str] | None = None):
        spec = route.target.http
        if spec is None:
            raise ValueError(f"route {route.name} has no http target")
        self.route, self.spec = route, spec
        self.uri = spec.url
        self._environ = os.environ if environ is None else environ
        self._own_client = client is None
        self._client = client
        self._verify = _tls(spec.verify, spec.ca_bundle, settings)
        timeouts = spec.timeouts
        self._timeout = httpx.Timeout(connect=timeouts.connect.total_seconds(),
                                      read=timeouts.read.total_seconds(),
                                      write=timeouts.write.total_seconds(),
                                      pool=timeouts.pool.total_seconds())
        rate = spec.requests_per_second
        self._interval = 1 / rate if rate else 0.0
        self._next_slot = 0.0
        self._pace_lock = threading.Lock()  # one target may serve several worker threads

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            # HTTP/1.1 keep-alive through one pool; redirects are not followed, so credentials
            # never travel to a host nobody configured.
            self._client = httpx.Client(
                timeout=self._timeout, verify=self._verify, follow_redirects=False,
                limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
                headers={"User-Agent": "tradelane"})
        return self._client

    def close(self) -> None:
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> HttpTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def deliver(self, batches: Iterable[Document], ctx: DeliveryContext) -> Delivery:
        names = {"route": ctx.route, "name": ctx.original_name, "sha256": ctx.sha256,
                 "file_id": ctx.file_id}
        planned = plan_requests(batches, self.route, names)  # consumes everything first
        creds = credentials(self.spec, self._environ, route=self.route.name)
        box = Outbox(ctx.ledger.engine if ctx.ledger is not None else None, ctx.file_id)
        conflicts = box.plan([Batch(p.index, self._key(ctx.route, ctx.sha256, p.index),
                                    p.first_record, len(p.records)) for p in planned])
        if conflicts:
            raise _replanned(self.uri, conflicts)
        refused: list[Refusal] = []
        sent = skipped = 0
        try:
            for request in planned:
                if box.batches[request.index].status == ACKED:
                    skipped += 1
                    continue
                refusal = self._send(request, len(planned), box, creds)
                if refusal is None:
                    sent += 1
                    continue
                if self.route.on_invalid != "split":
                    raise HttpRejected(self.uri, refusal, accepted=_acked(box))
                refused.append(refusal)
        finally:
            box.flush()
        delivery = Delivery(
            target=self.uri,
            records=sum(len(p.records) for p in planned) - sum(len(r.request.records)
                                                               for r in refused),
            size=sum(len(p.body) for p in planned),
            details={"requests": sent, "already_delivered": skipped, "refused": len(refused)},
        )
        log.info("route %s file %s: %d records to %s in %d requests (%d sent before)",
                 ctx.route, ctx.file_id, delivery.records, self.uri, sent, skipped)
        if refused:
            records = [n for r in refused for n in r.request.records]
            raise RecordsRejected(
                f"{self.uri} refused {len(refused)} of {len(planned)} batches ({len(records)}"
                f" records); the other {delivery.records} records were delivered",
                records=records, delivery=delivery, issues=[r.issue() for r in refused])
        return delivery

    def preview(self, batches: Sequence[Document], route: RouteSpec) -> str:
        names = {"route": route.name, "name": "<file>", "sha256": "<sha256>", "file_id": 0}
        planned = plan_requests(batches, route, names)
        if not planned:
            return f"{self.spec.method} {self.uri}: no records, nothing would be sent"
        creds = credentials(self.spec, self._environ, route=route.name, strict=False)
        first = planned[0]
        headers = {**creds.shown,
                   self.spec.idempotency_header: self._key(route.name, "<sha256>", 0)}
        body = creds.redact(first.body[:1000].decode("utf-8", "replace"))
        more = " …" if len(first.body) > 1000 else ""
        lines = [f"{self.spec.method} {self.uri}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += [f"({len(planned)} request(s); the first carries {len(first.records)} records,"
                  f" {len(first.body):,} bytes)", "", body + more]
        return "\n".join(lines)

    # -- one request, with retries ---------------------------------------------------------

    def _send(self, request: PlannedRequest, total: int, box: Outbox,
              creds: Credentials) -> Refusal | None:
        retry = self.spec.retry
        where = request.describe(total)
        for attempt in range(1, retry.attempts + 1):
            batch = box.sending(request.index)
            headers = {**creds.headers, self.spec.idempotency_header: batch.key}
            self._pace()
            wait: float | None = None
            try:
                response = self.client.request(self.spec.method, self.uri, content=request.body,
                                               headers=headers, timeout=self._timeout)
            except httpx.TransportError as exc:
                box.answered(request.index, SENT, error=type(exc).__name__)
                why, status = _network_problem(exc), None
            else:
                crash_point("http-batch-sent")
                status = response.status_code
                kind = self._kind(status)
                if kind == "ok":
                    box.answered(request.index, ACKED, code=status)
                    return None
                if kind == "reject":
                    box.answered(request.index, REJECTED, code=status)
                    return Refusal(request, where, status, creds.redact(response.reason_phrase),
                                   _body_start(response, creds))
                box.answered(request.index, SENT, code=status)
                why = f"HTTP {status} {creds.redact(response.reason_phrase)}"
                if kind == "unavailable":
                    raise HttpUnavailable(self.uri, why=why, where=where, attempts=attempt,
                                          delivered=_acked(box), status=status)
                if status in (429, 503):
                    wait = _retry_after(response.headers.get("Retry-After"))
                    if wait is not None and wait > retry.max_retry_after.total_seconds():
                        raise HttpUnavailable(self.uri, why=why, where=where, attempts=attempt,
                                              delivered=_acked(box), status=status,
                                              retry_after=wait)
            if attempt == retry.attempts:
                raise HttpUnavailable(self.uri, why=why, where=where, attempts=attempt,
                                      delivered=_acked(box), status=status)
            delay = wait if wait is not None else _backoff(attempt, retry.backoff.total_seconds(),
                                                           retry.max_backoff.total_seconds())
            log.warning("route %s: %s at %s; retry %d of %d in %.1fs", self.route.name, why,
                        where, attempt, retry.attempts - 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _kind(self, status: int) -> str:
        if 200 <= status < 300:
            return "ok"
        if status in self.spec.retry.status or status >= 500:
            return "retry"
        if status in self.spec.unavailable_status or status < 400:
            return "unavailable"
        return "reject"

    def _key(self, route: str, sha256: str, index: int) -> str:
        return f"{route}:{sha256[:32]}:{self.spec.records_per_request}:{index}"

    def _pace(self) -> None:
        """Keep to ``rate_limit``: requests start at least 1/rate seconds apart."""
        if not self._interval:
            return
        with self._pace_lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


def _tls(verify: bool, ca_bundle: str | None, settings: Settings | None) -> Any:
    if not verify:
        log.warning("TLS certificate checks are off for an HTTP target (verify: false)")
        return False
    if ca_bundle:
        path = settings.path(ca_bundle) if settings else ca_bundle
        return ssl.create_default_context(cafile=str(path))
    return True


def _backoff(attempt: int, first: float, cap: float) -> float:
    """Exponential, with jitter in its upper half so that workers do not retry in step."""
    delay = min(cap, first * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _body_start(response: httpx.Response, creds: Credentials) -> str:
    text = response.content[:4 * BODY_SHOWN].decode(response.encoding or "utf-8", "replace")
    # Redact before cutting, so a secret straddling the cut is not half shown.
    text = creds.redact(text[:BODY_SHOWN + 200])
    return text[:BODY_SHOWN] + ("…" if len(text) > BODY_SHOWN else "")


def _network_problem(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return "the server's TLS certificate is not trusted (see verify, ca_bundle)"
        return "cannot connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection was dropped"
    return f"network error ({type(exc).__name__})"


def _acked(box: Outbox) -> int:
    return sum(b.status == ACKED for b in box.batches.values())


def _replanned(url: str, conflicts: list[PlanConflict]) -> DeliveryRejected:
    first = conflicts[0]
    was = f"records {first.acked_first + 1}-{first.acked_first + first.acked_count}"
    return DeliveryRejected(
        f"part of this file was already delivered to {url} in batches that no longer match"
        f" (batch {first.index + 1} took {was}); the batch size or the records changed since."
        " Check with the receiver, then discard or reprocess the file with the old settings",
        issues=[Issue(location=f"batch {c.index + 1}", field="", value="", rule="outbox",
                      message="acknowledged earlier with other records") for c in conflicts],
    )


__all__ = ["HttpRejected", "HttpTarget", "HttpUnavailable", "Refusal"]
