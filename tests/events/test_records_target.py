"""Targets nats:, rabbitmq:, mqtt: publish a file's records one message each (real brokers)."""

from __future__ import annotations

import json
import os

from events.brokers import delete_stream, nats_messages, nats_stream, unique
from support.project import ProjectDir

ROUTE = """\
    source: {folder: inbox/orders, pattern: "*.csv", min_age: 1s}
    format: {type: csv, delimiter: ";", decimal: ","}
    fields:
      order_id: {source: Order, required: true, pattern: "PO-\\\\d+"}
      qty:      {source: Qty, type: integer, required: true, min: 1}
    target: %s
"""
BAD = "Order;Qty\nPO-1;1\nPO-2;zero\n"


def test_records_to_nats_one_message_each_and_none_from_a_quarantined_file(
        project: ProjectDir) -> None:
    stream, prefix = unique("TLR"), unique("tlr")
    nats_stream(stream, [f"{prefix}.>"])
    try:
        project.route("orders", ROUTE % (
            f"{{nats: 'nats://127.0.0.1:4222', subject: '{prefix}.{{route}}'}}"))
        project.drop("orders", "a.csv", "Order;Qty\nPO-1;5\nPO-2;1\n")
        project.drop("orders", "bad.csv", BAD)
        outcomes = sorted(r.outcome for r in project.run().results)
        assert outcomes == ["delivered", "quarantined"]
        got = [e for e, _ in nats_messages(stream)]
        assert [(e["order_id"], e["qty"]) for e in got] == [("PO-1", 5), ("PO-2", 1)]
        # ids from the file's content and the record number: a retry publishes the same ids
        ids = [h["Nats-Msg-Id"] for _, h in nats_messages(stream)]
        assert len(set(ids)) == 2 and ids[0].endswith("-0")
    finally:
        delete_stream(stream)


def test_records_to_rabbitmq_with_confirms(project: ProjectDir) -> None:
    import pika

    queue = unique("tradelane-records-")
    conn = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/"))
    channel = conn.channel()
    channel.queue_declare(queue)
    os.environ["TL_TEST_RABBIT_PW"] = "guest"
    try:
        project.route("orders", ROUTE % (
            f"{{rabbitmq: 'amqp://127.0.0.1:5672/', username: guest, password_env:"
            f" TL_TEST_RABBIT_PW, routing_key: '{queue}'}}"))
        project.drop("orders", "a.csv", "Order;Qty\nPO-1;5\nPO-2;1\nPO-3;2\n")
        assert [r.outcome for r in project.run().results] == ["delivered"]
        got = []
        while (msg := channel.basic_get(queue, auto_ack=True))[0] is not None:
            got.append((msg[1].message_id, json.loads(msg[2])))
        assert [b["order_id"] for _, b in got] == ["PO-1", "PO-2", "PO-3"]
        assert all(mid == body["_message_id"] for mid, body in got)
    finally:
        channel.queue_delete(queue)
        conn.close()


def test_an_unreachable_broker_leaves_the_file_pending(project: ProjectDir) -> None:
    project.route("orders", ROUTE % "{nats: 'nats://127.0.0.1:1', timeout: 1s}")
    project.drop("orders", "a.csv", "Order;Qty\nPO-1;5\n")
    result = project.run().results[0]
    assert result.outcome == "pending" and "cannot be reached" in result.message
