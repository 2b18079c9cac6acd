"""Alerts to a real webhook server and a real SMTP server, each once per incident."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller

from support.orders import orders_route
from support.project import ProjectDir
from tradelane.ledger.alerts import Incidents
from tradelane.serve.monitor import Monitor

GOOD = "id,qty\nA1,1\n"
BAD = "id,qty\nA1,many\n"


class Webhook:
    """A local HTTP endpoint that records alert POSTs; ``fail`` answers 500 that many times."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if hook.fail:
                    hook.fail -= 1
                    self.send_response(500)
                else:
                    hook.posts.append(json.loads(body))
                    hook.headers.append(dict(self.headers))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/s3cr3t-path"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def kinds(self) -> list[str]:
        return [p["event"] for p in self.posts]


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.httpd.shutdown()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def alerting(project: ProjectDir, webhook: Webhook, mailbox: tuple[Mailbox, int],
             monkeypatch: pytest.MonkeyPatch) -> ProjectDir:
    monkeypatch.setenv("ALERT_HOOK", webhook.url)
    monkeypatch.setenv("ALERT_TOKEN", "t0ken")
    project.settings(f"""\
        alerts:
          webhook:
            url_env: ALERT_HOOK
            headers: {{Authorization: {{env: ALERT_TOKEN, prefix: "Bearer "}}}}
          smtp: {{host: 127.0.0.1, port: {mailbox[1]}, from: tradelane@example.com,
                  to: [ops@example.com]}}
          pending_after: 1h
          unreachable_polls: 2
    """)
    project.route("orders", orders_route())
    return project


def check(project: ProjectDir, **kw: Any) -> list[str]:
    with project.ledger() as ledger:
        return Monitor(project.load(), ledger, **kw).check()


def test_a_quarantined_file_alerts_once_on_every_channel(
        alerting: ProjectDir, webhook: Webhook, mailbox: tuple[Mailbox, int]) -> None:
    alerting.drop("orders", "bad.csv", BAD)
    alerting.drop("orders", "good.csv", GOOD)
    alerting.run()
    with time_machine.travel(datetime.now(UTC), tick=True):
        opened = check(alerting)
        assert [k.split(":")[0] for k in opened] == ["quarantined"]
        for _ in range(3):  # later polls and a restarted monitor: no repeat
            assert check(alerting) == []
    assert webhook.kinds() == ["quarantined"]
    assert "bad.csv" in webhook.posts[0]["text"] and webhook.posts[0]["file_id"] == 1
    assert webhook.headers[0]["Authorization"] == "Bearer t0ken"
    box = mailbox[0]
    assert len(box.messages) == 1
    assert box.messages[0]["To"] == "ops@example.com"
    assert "bad.csv" in box.messages[0].get_payload()


def test_an_unreachable_source_alerts_after_n_polls_and_again_after_recovery(
        alerting: ProjectDir, webhook: Webhook) -> None:
    inbox = alerting.root / "inbox" / "orders"
    with time_machine.travel(datetime.now(UTC), tick=True):
        alerting.run()  # the folder does not exist: poll 1 fails
        assert check(alerting) == []
        alerting.run()  # poll 2 fails
        assert check(alerting) == ["unreachable:orders"]
        alerting.run()
        assert check(alerting) == []  # same incident
        inbox.mkdir(parents=True)
        alerting.run()
        assert check(alerting) == []  # resolved: said once, in its own words
        shutil.rmtree(inbox)
        alerting.run()
        alerting.run()
        assert check(alerting) == ["unreachable:orders"]  # a new incident
    assert webhook.kinds() == ["unreachable", "unreachable resolved", "unreachable"]
    assert "does not exist" in webhook.posts[0]["message"]


def test_an_overdue_file_alerts_once_per_deadline(alerting: ProjectDir,
                                                  webhook: Webhook) -> None:
    spec = alerting.root / "mappings" / "orders.yaml"
    spec.write_text(spec.read_text() + 'expect: {by: "06:00", every: daily}\ntimezone: UTC\n')
    day = datetime(2026, 5, 5, tzinfo=UTC)
    written = (day - timedelta(days=30)).timestamp()  # the route is older than the deadlines
    os.utime(spec, (written, written))
    with time_machine.travel(day.replace(hour=1), tick=False):
        alerting.drop("orders", "a.csv", GOOD)
        alerting.run()  # arrived Tuesday 01:00: on time for Tuesday 06:00
    with time_machine.travel(day.replace(hour=6, minute=10), tick=False):
        assert check(alerting) == []
    with time_machine.travel(day.replace(hour=6, minute=10) + timedelta(days=1), tick=False):
        assert check(alerting) == ["overdue:orders:2026-05-06T06:00+00:00"]
    with time_machine.travel(day.replace(hour=6, minute=25) + timedelta(days=1), tick=False):
        assert check(alerting) == []  # still the same incident
    with time_machine.travel(day.replace(hour=7) + timedelta(days=1), tick=False):
        alerting.drop("orders", "b.csv", "id,qty\nB1,2\n")
        alerting.run()
        assert check(alerting) == []
        with alerting.ledger() as ledger:
            assert Incidents(ledger).open_incidents() == []  # a late file clears it
    assert webhook.kinds() == ["overdue", "overdue resolved"]
    assert "2026-05-06 06:00" in webhook.posts[0]["text"]
    assert "RESOLVED route orders: the expected file arrived" in webhook.posts[1]["text"]


def test_a_file_pending_too_long_alerts_once(alerting: ProjectDir, webhook: Webhook) -> None:
    alerting.file("outbox", "not a folder")  # the target cannot be created: pending
    with time_machine.travel(datetime(2026, 5, 5, 5, tzinfo=UTC), tick=False):
        alerting.drop("orders", "a.csv", GOOD)
        assert alerting.run().exit_code == 4
        assert check(alerting) == []
    with time_machine.travel(datetime(2026, 5, 5, 5, 30, tzinfo=UTC), tick=False):
        assert check(alerting) == []  # not yet an hour
    with time_machine.travel(datetime(2026, 5, 5, 6, 1, tzinfo=UTC), tick=False):
        assert check(alerting) == ["pending:1"]
        assert check(alerting) == []
    assert webhook.kinds() == ["pending"]


def test_a_failing_channel_is_retried_without_repeating_the_others(
        alerting: ProjectDir, webhook: Webhook, mailbox: tuple[Mailbox, int]) -> None:
    webhook.fail = 1
    alerting.drop("orders", "bad.csv", BAD)
    alerting.run()
    with time_machine.travel(datetime.now(UTC), tick=True):
        check(alerting)
        assert webhook.posts == [] and len(mailbox[0].messages) == 1
        check(alerting)  # the webhook works again: only it is retried
    assert webhook.kinds() == ["quarantined"]
    assert len(mailbox[0].messages) == 1
    with alerting.ledger() as ledger:
        (incident,) = Incidents(ledger).all()
    assert incident.sent_to == {"log", "webhook", "smtp"}


def test_secrets_never_reach_the_log(alerting: ProjectDir, webhook: Webhook,
                                     caplog: pytest.LogCaptureFixture) -> None:
    webhook.fail = 1
    alerting.drop("orders", "bad.csv", BAD)
    alerting.run()
    with time_machine.travel(datetime.now(UTC), tick=True):
        check(alerting)
    text = caplog.text
    assert "answered HTTP 500" in text
    assert "s3cr3t-path" not in text and "t0ken" not in text


def test_a_routes_alerts_go_to_its_owner_as_well(
        alerting: ProjectDir, webhook: Webhook, mailbox: tuple[Mailbox, int]) -> None:
    owner_hook = Webhook()
    try:
        spec = (alerting.root / "mappings" / "orders.yaml").read_text()
        alerting.route("orders", spec + "owner: {name: ERP team, email: erp@example.com,"
                       f" webhook: '{owner_hook.url}'}}\n")
        alerting.route("other", spec.replace("orders", "other"))  # no owner
        alerting.drop("orders", "bad.csv", BAD)
        alerting.drop("other", "bad.csv", BAD)
        alerting.run()
        with time_machine.travel(datetime.now(UTC), tick=True):
            assert len(check(alerting)) == 2
            assert check(alerting) == []  # once each, on every channel
        # the global channels have both; the owner only its own route's
        assert sorted(p["route"] for p in webhook.posts) == ["orders", "other"]
        assert [p["route"] for p in owner_hook.posts] == ["orders"]
        recipients = sorted(m["To"] for m in mailbox[0].messages)
        assert recipients == ["erp@example.com", "ops@example.com", "ops@example.com"]
    finally:
        owner_hook.httpd.shutdown()


def test_a_resolution_goes_to_the_channels_of_its_alert_in_its_own_words(
        alerting: ProjectDir, webhook: Webhook, mailbox: tuple[Mailbox, int]) -> None:
    from tradelane import ops

    alerting.drop("orders", "bad.csv", BAD)
    alerting.run()
    with time_machine.travel(datetime.now(UTC), tick=True):
        assert len(check(alerting)) == 1
        with alerting.ledger() as ledger:
            ops.discard(alerting.load(), ledger, 1, "partner resent it")
        assert check(alerting) == []
        check(alerting)  # resolved once: nothing more
    assert webhook.kinds() == ["quarantined", "quarantined resolved"]
    text = webhook.posts[1]["text"]
    assert text.startswith("[tradelane] RESOLVED route orders, file 1: the file left"
                           " quarantine")
    assert webhook.posts[0]["text"].removeprefix("[tradelane] ") not in text
    subjects = [m["Subject"] for m in mailbox[0].messages]
    assert subjects == ["[tradelane] quarantined: orders",
                        "[tradelane] quarantined resolved: orders"]


def test_a_new_route_is_expected_from_its_first_deadline_after_it_was_loaded(
        alerting: ProjectDir, webhook: Webhook) -> None:
    # created at 20:01 expecting a file by 20:04: not late at once for yesterday's 20:04
    spec = alerting.root / "mappings" / "orders.yaml"
    spec.write_text(spec.read_text() + 'expect: {by: "20:04", every: daily}\ntimezone: UTC\n')
    created = datetime(2026, 5, 5, 20, 1, tzinfo=UTC)
    os.utime(spec, (created.timestamp(), created.timestamp()))
    with time_machine.travel(created + timedelta(seconds=30), tick=False):
        assert check(alerting) == []
    with time_machine.travel(created.replace(minute=10), tick=False):
        assert check(alerting) == ["overdue:orders:2026-05-05T20:04+00:00"]
    assert webhook.kinds() == ["overdue"]
