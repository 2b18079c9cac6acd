"""Source rabbitmq:: messages of a queue processed in batches as JSON Lines files, acknowledged
only once the outcome is recorded (the real RabbitMQ on 127.0.0.1:5672)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from events.brokers import unique
from support.project import ProjectDir

ROUTE = """\
    source: {rabbitmq: 'amqp://127.0.0.1:5672/', queue: %s, username: guest,
             password_env: TL_TEST_RABBIT_PW, batch: 10, wait: 500ms}
    format: {type: jsonl}
    fields:
      order_id: {source: order_id, required: true}
      qty:      {source: qty, type: integer, required: true}
    target: {folder: outbox/orders, format: jsonl, name: "{stem}.jsonl"}
"""
URL = "amqp://guest:guest@127.0.0.1:5672/"


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import pika

    monkeypatch.setenv("TL_TEST_RABBIT_PW", "guest")
    name = unique("tradelane-source-")
    conn = pika.BlockingConnection(pika.URLParameters(URL))
    conn.channel().queue_declare(name, durable=True)
    conn.close()
    yield name
    conn = pika.BlockingConnection(pika.URLParameters(URL))
    conn.channel().queue_delete(name)
    conn.close()


def _publish(queue: str, orders: list[tuple[str, int]]) -> None:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(URL))
    channel = conn.channel()
    for order_id, qty in orders:
        channel.basic_publish("", queue, json.dumps({"order_id": order_id, "qty": qty}))
    conn.close()


def _left(queue: str) -> int:
    """Messages in the queue (ready); unacknowledged ones of a closed channel are back."""
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(URL))
    count = conn.channel().queue_declare(queue, passive=True).method.message_count
    conn.close()
    return int(count)


def _records(project: ProjectDir) -> list[str]:
    return sorted(json.loads(line)["order_id"] for path in project.outputs("orders")
                  for line in path.read_text().splitlines())


def test_messages_become_a_file_acknowledged_after_delivery_and_a_reject_too(
        project: ProjectDir, queue: str) -> None:
    project.route("orders", ROUTE % queue)
    _publish(queue, [("PO-1", 1), ("PO-2", 2), ("PO-3", 3)])
    results = project.run().results
    assert [r.outcome for r in results] == ["delivered"]
    assert results[0].name.startswith("batch-") and results[0].records == 3
    assert _records(project) == ["PO-1", "PO-2", "PO-3"]
    assert _left(queue) == 0
    _publish(queue, [("PO-4", 0)])
    _publish(queue, [("", 5)])  # no order id: the batch is quarantined, and acknowledged
    assert [r.outcome for r in project.run().results] == ["quarantined"]
    assert _left(queue) == 0
    assert project.run().results == []


def test_killed_before_the_ack_the_batch_comes_again_and_is_delivered_once(
        project: ProjectDir, queue: str) -> None:
    project.settings("lease: 1s\n")
    project.route("orders", ROUTE % queue)
    _publish(queue, [(f"PO-{i}", i + 1) for i in range(4)])
    env = {**os.environ, "TRADELANE_CRASH_AT": "delivered-committed"}
    env.pop("TRADELANE_LEDGER_URL", None)
    killed = subprocess.run([sys.executable, "-m", "tradelane", "run", "--once", "-C",
                             str(project.root)], env=env, capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _left(queue) == 4  # the dead channel's messages are back in the queue
    time.sleep(1.2)  # the killed run's lease runs out
    summary = project.run()  # the batch again: the same bytes, a duplicate, acknowledged
    assert _left(queue) == 0, summary.results
    assert [r.outcome for r in summary.results] == ["duplicate"]
    assert _records(project) == ["PO-0", "PO-1", "PO-2", "PO-3"], summary.results
