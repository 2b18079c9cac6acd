"""The event outbox between workers and under ``serve``: two processes publishing from one
PostgreSQL ledger at once send each event once (RabbitMQ, which does not deduplicate), and a
running server publishes an event that waited for its broker seconds after the broker is
back, without a poll of the route."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from events.brokers import Proxy, delete_stream, nats_messages, nats_stream, unique
from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir
from tradelane.events.publishing import waiting

N = 1500
PUBLISHER = """
import sys
from tradelane.events import publishing
from tradelane.ledger import Ledger

publishing.BATCH = 100  # many small rounds: the two processes' claims interleave
with Ledger(sys.argv[1], worker=sys.argv[2]) as ledger:
    print(publishing.publish_due(ledger, ["r"]))
"""


@pytest.fixture
def queue() -> Iterator[tuple[str, object]]:
    import pika

    name = unique("tradelane-outbox-")
    conn = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/"))
    channel = conn.channel()
    channel.queue_declare(name, auto_delete=False)
    try:
        yield name, channel
    finally:
        channel.queue_delete(name)
        conn.close()


def test_two_workers_publish_each_waiting_event_once(pg_url: str,
                                                     queue: tuple[str, object]) -> None:
    from sqlalchemy import insert

    from tradelane.ledger import Ledger
    from tradelane.ledger.store import utcnow
    from tradelane.ledger.tables import event_outbox

    name, channel = queue
    target = json.dumps({"kind": "rabbitmq", "rabbitmq": "amqp://127.0.0.1:5672/",
                         "username": "guest", "password_env": "TL_TEST_RABBIT_PW",
                         "routing_key": name})
    now = utcnow()
    with Ledger(pg_url, worker="setup") as ledger, ledger.begin() as conn:
        conn.execute(insert(event_outbox), [
            {"event_id": f"e{i}", "route": "r", "file_id": None, "outcome": "delivered",
             "target": target, "subject": name, "body": json.dumps({"n": i}),
             "attempts": 0, "next_try_at": now, "created_at": now} for i in range(N)])
    env = {**os.environ, "TL_TEST_RABBIT_PW": "guest", "TRADELANE_CRASH_AT": ""}
    workers = [subprocess.Popen([sys.executable, "-c", PUBLISHER, pg_url, f"w{i}"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    counts = [int(out.strip()) for out, _ in outputs]
    assert sum(counts) == N, counts
    received = []
    while True:
        method, props, _body = channel.basic_get(name, auto_ack=True)  # type: ignore[attr-defined]
        if method is None:
            break
        received.append(props.message_id)
    assert len(received) == N and len(set(received)) == N
    with Ledger(pg_url, worker="check") as ledger:
        assert waiting(ledger) == 0


def test_serve_publishes_a_waiting_event_once_the_broker_is_back_and_new_ones_at_once(
        project: ProjectDir) -> None:
    """The route is polled nightly only: the event that waited for the broker goes out within
    seconds of the broker's return, from serve's events job; a file delivered while serve
    runs has its event out within seconds of the delivery."""
    from tradelane.ledger import Ledger
    from tradelane.serve.server import Server

    stream, prefix = unique("TL"), unique("tl")
    nats_stream(stream, [f"{prefix}.>"])
    proxy = Proxy(4222)
    try:
        project.route("orders", CSV_ROUTE + "    schedule: '0 2 * * *'\n    watch: true\n"
                      f"    events: {{nats: 'nats://127.0.0.1:{proxy.port}',"
                      f" subject: '{prefix}.{{outcome}}', timeout: 1s}}\n")
        project.drop("orders", "first.csv", GOOD_CSV)
        assert [r.outcome for r in project.run().results] == ["delivered"]
        loaded = project.load()
        with Ledger(loaded.settings.ledger_url, worker="serve") as ledger:
            assert waiting(ledger) == 1
            server = Server(loaded, ledger, health_port=None, channels=[])
            server.start()
            try:
                proxy.start()
                assert _names_within(stream, 10) == ["first.csv"]
                project.drop("orders", "second.csv", GOOD_CSV.replace("PO-1", "PO-8"), age=0)
                assert _names_within(stream, 15, want=2) == ["first.csv", "second.csv"]
            finally:
                assert server.stop(timeout=10)
            assert waiting(ledger) == 0
    finally:
        proxy.stop()
        delete_stream(stream)


def _names_within(stream: str, seconds: float, want: int = 1) -> list[str]:
    deadline = time.monotonic() + seconds
    while True:
        names = [e["name"] for e, _ in nats_messages(stream)]
        if len(names) >= want or time.monotonic() > deadline:
            return names
        time.sleep(0.2)


def test_the_nats_publisher_reports_each_message_a_stream_refuses_and_takes_repeats() -> None:
    """The lean JetStream publish: an ack per message, a repeat of a Nats-Msg-Id is
    acknowledged (the stream drops it), a subject no stream takes is named per message."""
    from tradelane.events import Message
    from tradelane.events.nats import NatsPublisher
    from tradelane.spec.events import NatsEvents

    stream, prefix = unique("TL"), unique("tl")
    nats_stream(stream, [f"{prefix}.>"])
    try:
        spec = NatsEvents(nats="nats://127.0.0.1:4222", subject=f"{prefix}.x")
        with NatsPublisher(spec) as publisher:
            first = [Message(f"m{i}", f"{prefix}.x", b'{"n": %d}' % i) for i in range(3)]
            assert publisher.publish(first) == [None, None, None]
            nowhere = f"{unique('nowhere')}.x"
            assert publisher.publish([first[0], Message("z", nowhere, b"{}")]) == [
                None, f"no stream takes the subject {nowhere!r}"]
        assert len(nats_messages(stream)) == 3
    finally:
        delete_stream(stream)
