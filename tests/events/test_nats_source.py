"""Source nats:: JetStream messages processed in batches as JSON Lines files, acknowledged only
once the outcome is recorded (the real NATS on 127.0.0.1:4222)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

from events.brokers import NATS_URL, delete_stream, unique
from support.project import ProjectDir

ROUTE = """\
    source: {nats: 'nats://127.0.0.1:4222', stream: %s, subject: '%s.>', batch: 10,
             wait: 1s}
    format: {type: jsonl}
    fields:
      order_id: {source: order_id, required: true}
      qty:      {source: qty, type: integer, required: true}
    target: {folder: outbox/orders, format: jsonl, name: "{stem}.jsonl"}
"""


def _publish(stream: str, prefix: str, count: int, *, ack_wait: float = 30) -> None:
    async def go() -> None:
        import nats
        from nats.js.api import ConsumerConfig

        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
        await js.add_consumer(stream, ConsumerConfig(durable_name="tradelane-orders",
                                                     ack_wait=ack_wait,
                                                     filter_subject=f"{prefix}.>"))
        for i in range(count):
            await js.publish(f"{prefix}.new", json.dumps(
                {"order_id": f"PO-{i}", "qty": i + 1}).encode())
        await nc.close()

    asyncio.run(go())


def _pending(stream: str) -> tuple[int, int]:
    """(messages not yet delivered, delivered but not acknowledged) of the consumer."""
    async def go() -> tuple[int, int]:
        import nats

        nc = await nats.connect(NATS_URL)
        info = await nc.jetstream().consumer_info(stream, "tradelane-orders")
        await nc.close()
        return info.num_pending, info.num_ack_pending

    return asyncio.run(go())


def _records(project: ProjectDir) -> list[str]:
    return sorted(json.loads(line)["order_id"] for path in project.outputs("orders")
                  for line in path.read_text().splitlines())


def test_messages_become_a_file_and_are_acknowledged_after_delivery(
        project: ProjectDir) -> None:
    stream, prefix = unique("TLS"), unique("tls")
    _publish(stream, prefix, 3)
    try:
        project.route("orders", ROUTE % (stream, prefix))
        results = project.run().results
        assert [r.outcome for r in results] == ["delivered"]
        assert results[0].name == "batch-000000000001-000000000003.jsonl"
        assert _records(project) == ["PO-0", "PO-1", "PO-2"]
        assert _pending(stream) == (0, 0)  # all acknowledged
    finally:
        delete_stream(stream)


def test_killed_before_the_ack_the_batch_comes_again_and_is_delivered_once(
        project: ProjectDir) -> None:
    stream, prefix = unique("TLS"), unique("tls")
    _publish(stream, prefix, 4, ack_wait=2)
    try:
        project.settings("lease: 1s\n")
        project.route("orders", ROUTE % (stream, prefix))
        env = {**os.environ, "TRADELANE_CRASH_AT": "delivered-committed"}
        env.pop("TRADELANE_LEDGER_URL", None)
        killed = subprocess.run([sys.executable, "-m", "tradelane", "run", "--once", "-C",
                                 str(project.root)], env=env, capture_output=True, timeout=120)
        assert killed.returncode == -9
        assert _pending(stream)[1] == 4  # delivered to us, not acknowledged
        time.sleep(2.5)  # past ack_wait: NATS redelivers; past the lease: the file is free
        project.run()
        project.run()
        assert _records(project) == ["PO-0", "PO-1", "PO-2", "PO-3"]
        assert _pending(stream) == (0, 0)
    finally:
        delete_stream(stream)
