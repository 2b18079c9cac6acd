"""HttpTarget against a real local HTTP server, with a real SQLite ledger holding the outbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from support.http_cases import context, documents, expected_json, http_route, records
from support.http_server import Received, RecordingServer
from tradelane.errors import (
    DeliveryRejected,
    InvalidRecords,
    RecordsRejected,
    TargetUnavailable,
)
from tradelane.ledger import Ledger
from tradelane.ledger.outbox import outbox_rows
from tradelane.models import Document, Issue
from tradelane.targets.http import HttpRejected, HttpTarget, HttpUnavailable

ENV = {"CRM_TOKEN": "tok-SECRET-123456", "CRM_KEY": "key-XYZ-98765"}


def target(url: str, *, client: httpx.Client | None = None, **http: object) -> HttpTarget:
    http.setdefault("auth", {"bearer_env": "CRM_TOKEN"})
    http.setdefault("headers", {"X-Api-Key": {"env": "CRM_KEY"}, "X-Source": "tradelane"})
    return HttpTarget(http_route(url + "/api/orders", **http), client=client, environ=ENV)


def batch_no(n: int):
    """Match the request of batch ``n`` (0-based) by its idempotency key."""
    return lambda r: (r.key or "").split(":")[3] == str(n)


def test_batched_push_delivers_records_exactly_as_mapped(server: RecordingServer,
                                                         ledger: Ledger) -> None:
    ctx = context(ledger)
    delivery = target(server.url, batch=500).deliver(documents(1200), ctx)

    assert delivery.records == 1200 and delivery.target == server.url + "/api/orders"
    assert [len(r.json()) for r in server.requests] == [500, 500, 200]
    assert server.processed_records == expected_json(1200)
    first = server.requests[0]
    assert first.method == "POST" and first.path == "/api/orders"
    assert first.headers["authorization"] == "Bearer tok-SECRET-123456"
    assert first.headers["x-api-key"] == "key-XYZ-98765"
    assert first.headers["content-type"] == "application/json"
    assert server.keys() == [f"crm_orders:{ctx.sha256[:32]}:500:{i}" for i in range(3)]
    rows = outbox_rows(ledger.engine, ctx.file_id)
    assert [(r.status, r.attempts, r.last_code, r.record_count) for r in rows] == [
        ("acked", 1, 200, 500), ("acked", 1, 200, 500), ("acked", 1, 200, 200)]


def test_500_then_200_resends_with_the_same_key_and_the_server_processes_it_once(
        server: RecordingServer, ledger: Ledger) -> None:
    server.when(batch_no(1), status=500, body="oops", process=True)
    ctx = context(ledger)
    target(server.url, batch=500).deliver(documents(1200), ctx)

    keys = server.keys()
    assert len(keys) == 4 and keys[1] == keys[2]
    assert server.replays == [keys[1]]
    assert server.processed_records == expected_json(1200)
    assert [r.attempts for r in outbox_rows(ledger.engine, ctx.file_id)] == [1, 2, 1]


@pytest.mark.parametrize("misbehaviour", [
    {"delay": 0.5, "process": True},  # the client times out; the server did the work
    {"drop": True},  # connection closed without an answer
    {"drop": True, "process": True},
])
def test_timeouts_and_dropped_connections_are_retried_under_the_same_key(
        server: RecordingServer, ledger: Ledger, misbehaviour: dict) -> None:
    server.when(batch_no(0), **misbehaviour)
    ctx = context(ledger)
    target(server.url, batch=500, timeouts={"read": "200ms"}).deliver(documents(600), ctx)

    keys = server.keys()
    assert keys[0] == keys[1] and len(keys) == 3
    assert server.processed_records == expected_json(600)
    row = outbox_rows(ledger.engine, ctx.file_id)[0]
    assert (row.status, row.attempts) == ("acked", 2)


def test_429_retry_after_in_seconds_is_honoured(server: RecordingServer, ledger: Ledger) -> None:
    server.when(status=429, headers={"Retry-After": "1"})
    target(server.url, batch=500).deliver(documents(10), context(ledger))

    first, second = server.requests
    assert first.key == second.key
    assert second.at - first.at >= 0.95


def test_503_retry_after_as_an_http_date_is_honoured(server: RecordingServer,
                                                     ledger: Ledger) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    server.when(status=503, headers={"Retry-After": when})
    target(server.url, batch=500).deliver(documents(10), context(ledger))

    first, second = server.requests
    assert 0.5 <= second.at - first.at <= 3


def test_a_retry_after_beyond_the_cap_leaves_the_file_pending_at_once(
        server: RecordingServer, ledger: Ledger) -> None:
    server.when(status=429, headers={"Retry-After": "3600"})
    started = time.monotonic()
    with pytest.raises(HttpUnavailable) as caught:
        target(server.url, batch=500).deliver(documents(10), context(ledger))

    assert time.monotonic() - started < 1
    assert caught.value.retry_after == 3600 and caught.value.status == 429
    assert len(server.requests) == 1


def _refuse_batch_3(server: RecordingServer) -> None:
    # A careless API echoing the request's credentials in its error.
    server.when(batch_no(2), status=400, body=(
        '{"error": "invalid qty", "row": 17, "debug": {"authorization": "Bearer '
        'tok-SECRET-123456", "api_key": "key-XYZ-98765", "echo": "key-XYZ-98765"}}'
        + " padding" * 200))


def test_a_400_on_batch_3_of_5_rejects_the_file_and_explains_it(server: RecordingServer,
                                                                 ledger: Ledger) -> None:
    _refuse_batch_3(server)
    ctx = context(ledger)
    with pytest.raises(HttpRejected) as caught:
        target(server.url, batch=500).deliver(documents(2500), ctx)

    exc = caught.value
    assert isinstance(exc, DeliveryRejected) and exc.stage == "deliver" and exc.status == 400
    assert "batch 3 of 5 (records 1001-1500)" in exc.message
    assert "2 earlier batch(es) were accepted" in exc.message
    [issue] = exc.issues
    assert issue.rule == "http_400" and issue.location == "batch 3 of 5 (records 1001-1500)"
    assert issue.value.startswith('{"error": "invalid qty", "row": 17')
    assert len(issue.value) <= 501
    text = repr(exc.issues) + exc.message
    assert "tok-SECRET" not in text and "key-XYZ" not in text
    assert len(server.requests) == 3  # batches 4 and 5 were not sent
    assert [r.status for r in outbox_rows(ledger.engine, ctx.file_id)] == [
        "acked", "acked", "rejected", "pending", "pending"]


def test_with_split_only_the_refused_batch_is_rejected(server: RecordingServer,
                                                       ledger: Ledger) -> None:
    _refuse_batch_3(server)
    with pytest.raises(RecordsRejected) as caught:
        target(server.url, batch=500, on_invalid="split").deliver(documents(2500),
                                                                  context(ledger))

    exc = caught.value
    assert exc.records == list(range(1000, 1500))
    assert exc.delivery.records == 2000 and exc.error_count == 500
    assert exc.issues[0].location == "batch 3 of 5 (records 1001-1500)"
    assert server.processed_records == expected_json(1000) + expected_json(1000, start=1500)


def test_a_reprocessed_rejected_batch_gets_a_new_key(server: RecordingServer,
                                                     ledger: Ledger) -> None:
    server.when(batch_no(1), status=422, body="no")
    ctx = context(ledger)
    with pytest.raises(HttpRejected):
        target(server.url, batch=500).deliver(documents(1500), ctx)
    target(server.url, batch=500).deliver(documents(1500), ctx)  # after a fix: attempt 2

    keys = server.keys()
    assert keys[2:] == [keys[1] + ":r1", keys[1][:-1] + "2"]
    assert server.processed_records == expected_json(1500)


def test_a_server_down_for_the_whole_run_leaves_the_file_pending(server: RecordingServer,
                                                                 ledger: Ledger) -> None:
    server.stop()
    ctx = context(ledger)
    with pytest.raises(TargetUnavailable) as caught:
        target(server.url, batch=500).deliver(documents(1200), ctx)

    assert "cannot connect after 3 attempts at batch 1 of 3" in str(caught.value)
    rows = outbox_rows(ledger.engine, ctx.file_id)
    assert [(r.status, r.attempts, r.last_error) for r in rows] == [
        ("sent", 3, "ConnectError"), ("pending", 0, None), ("pending", 0, None)]

    server.start()  # same port: the API is back for the next run
    target(server.url, batch=500).deliver(documents(1200), ctx)
    assert server.processed_records == expected_json(1200)
    assert [r.status for r in outbox_rows(ledger.engine, ctx.file_id)] == ["acked"] * 3


def test_repeated_5xx_exhaust_the_attempts(server: RecordingServer, ledger: Ledger) -> None:
    server.when(status=502, times=10)
    with pytest.raises(HttpUnavailable) as caught:
        target(server.url, batch=500).deliver(documents(10), context(ledger))
    assert caught.value.status == 502 and caught.value.attempts == 3
    assert len(server.requests) == 3


def test_401_means_misconfigured_not_bad_data(server: RecordingServer, ledger: Ledger) -> None:
    server.when(status=401, body="bad token tok-SECRET-123456")
    with pytest.raises(HttpUnavailable) as caught:
        target(server.url, batch=500).deliver(documents(10), context(ledger))
    assert len(server.requests) == 1 and "HTTP 401" in str(caught.value)


class SimulatedCrash(BaseException):
    """Stands for kill -9: nothing in the target catches it."""


class CrashAfter(httpx.BaseTransport):
    """Forwards requests to the real server, then 'dies' once request ``n`` has reached it."""

    def __init__(self, n: int):
        self.inner, self.n, self.count = httpx.HTTPTransport(), n, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.count += 1
        if self.count == self.n:
            response.read()
            raise SimulatedCrash
        return response


def test_resume_after_a_crash_skips_acked_batches_and_reuses_keys(server: RecordingServer,
                                                                  ledger: Ledger) -> None:
    ctx = context(ledger)
    with pytest.raises(SimulatedCrash):  # batch 3 reached the server, its answer was lost
        target(server.url, batch=500, client=httpx.Client(transport=CrashAfter(3))).deliver(
            documents(2500), ctx)
    before = server.keys()
    assert [r.status for r in outbox_rows(ledger.engine, ctx.file_id)] == [
        "acked", "acked", "sent", "pending", "pending"]

    target(server.url, batch=500).deliver(documents(2500), ctx)  # a new process

    after = server.keys()[len(before):]
    assert after[0] == before[2]  # batch 3 again, same key
    assert not set(after) & set(before[:2])  # acked batches not resent
    assert server.replays == [before[2]]
    assert server.processed_records == expected_json(2500)
    assert [r.status for r in outbox_rows(ledger.engine, ctx.file_id)] == ["acked"] * 5


def test_changed_batching_after_a_partial_delivery_is_refused(server: RecordingServer,
                                                              ledger: Ledger) -> None:
    server.when(batch_no(1), status=503, times=5)
    ctx = context(ledger)
    with pytest.raises(TargetUnavailable):
        target(server.url, batch=500).deliver(documents(1500), ctx)
    with pytest.raises(DeliveryRejected, match="no longer match"):
        target(server.url, batch=400).deliver(documents(1500), ctx)


def test_nothing_is_sent_when_the_file_turns_out_invalid(server: RecordingServer,
                                                         ledger: Ledger) -> None:
    def batches() -> Iterator[Document]:
        yield from documents(1200)
        raise InvalidRecords([Issue("row 9", "qty", "x", "type", "not a number")], error_count=1)

    ctx = context(ledger)
    with pytest.raises(InvalidRecords):
        target(server.url, batch=500).deliver(batches(), ctx)
    assert server.requests == [] and outbox_rows(ledger.engine, ctx.file_id) == []


def test_per_record_requests_inside_an_envelope(server: RecordingServer) -> None:
    envelope = {"order": "{records}", "meta": {"route": "{route}", "file": "{name}",
                                               "n": "{batch}", "of": "{batches}",
                                               "label": "part {batch}/{batches} of {sha256}"}}
    ctx = context(None)
    target(server.url, per_record=True, envelope=envelope, method="PUT").deliver(
        documents(3), ctx)

    bodies = [r.json() for r in server.requests]
    assert [b["order"] for b in bodies] == expected_json(3)
    assert bodies[1]["meta"] == {"route": "crm_orders", "file": "orders.csv", "n": 2, "of": 3,
                                 "label": f"part 2/3 of {ctx.sha256}"}
    assert {r.method for r in server.requests} == {"PUT"}
    assert server.keys()[2].endswith(":1:2")


def test_rate_limit_spaces_requests(server: RecordingServer) -> None:
    started = time.monotonic()
    target(server.url, batch=1, rate_limit="20/s").deliver(documents(5), context(None))
    assert time.monotonic() - started >= 4 * 0.05  # 5 requests, 50ms apart
    assert len(server.requests) == 5


def test_a_missing_secret_leaves_the_file_pending_before_sending(server: RecordingServer) -> None:
    tgt = HttpTarget(http_route(server.url, auth={"bearer_env": "NOT_SET_ANYWHERE"}), environ={})
    with pytest.raises(TargetUnavailable, match="NOT_SET_ANYWHERE is not set"):
        tgt.deliver(documents(3), context(None))
    assert server.requests == []


def test_preview_shows_the_first_request_without_secrets(server: RecordingServer) -> None:
    tgt = target(server.url, batch=2, envelope={"orders": "{records}", "source": "{route}"})
    text = tgt.preview(list(documents(5)), tgt.route)

    assert text.startswith(f"POST {server.url}/api/orders\n")
    assert "Authorization: Bearer ***" in text and "X-Api-Key: ***" in text
    assert "Idempotency-Key: crm_orders:<sha256>:2:0" in text
    assert '{"orders":[{"order_id":"O-000000"' in text and "3 request(s)" in text
    assert "tok-SECRET" not in text and "key-XYZ" not in text
    assert server.requests == []


def test_date_output_format_is_applied(server: RecordingServer) -> None:
    route = http_route(server.url, batch=10).model_copy(update={"fields": {
        "shipped": http_route(server.url).fields["order_id"].model_copy(
            update={"type": "date", "output_format": "%d.%m.%Y"})}})
    frame = records(2).select(["shipped"])
    HttpTarget(route, environ={}).deliver([Document({}, frame)], context(None))
    assert server.requests[0].json() == [{"shipped": "01.01.2024"}, {"shipped": "02.01.2024"}]


def test_the_received_type_is_what_the_matcher_sees(server: RecordingServer) -> None:
    # keeps the server's own API honest: rules see the parsed request
    seen: list[Received] = []
    server.when(lambda r: seen.append(r) or False)
    target(server.url).deliver(documents(1), context(None))
    assert seen and seen[0].key is not None


def test_secrets_never_reach_the_logs(server: RecordingServer, ledger: Ledger,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    server.when(status=503, body="token tok-SECRET-123456")
    _refuse_batch_3(server)
    with pytest.raises(HttpRejected) as caught:
        target(server.url, batch=500).deliver(documents(2500), context(ledger))
    assert "retry 1 of 2" in caplog.text
    assert "SECRET" not in caplog.text + str(caught.value) + repr(caught.value.issues)


def test_basic_auth_and_its_redaction(server: RecordingServer) -> None:
    tgt = HttpTarget(http_route(server.url, auth={"basic_user": "acme",
                                                  "basic_password_env": "CRM_PASSWORD"}),
                     environ={"CRM_PASSWORD": "pa55-word!"})
    server.when(status=400, body="you sent Authorization: Basic YWNtZTpwYTU1LXdvcmQh and "
                                 "password=pa55-word!")
    with pytest.raises(HttpRejected) as caught:
        tgt.deliver(documents(1), context(None))
    assert server.requests[0].headers["authorization"] == "Basic YWNtZTpwYTU1LXdvcmQh"
    shown = caught.value.issues[0].value
    assert shown == "you sent Authorization: Basic *** and password=***"
