"""Print the events tradelane publishes to RabbitMQ: a tiny consumer for the demo.

    .venv/bin/python scripts/print_events.py            # follow, Ctrl-C to stop
    .venv/bin/python scripts/print_events.py --drain    # print what is waiting, then exit

It reads the durable queue ``tradelane-demo-events`` bound to ``amq.topic`` with the key
``tradelane.#`` (``--setup`` only declares it, which the demo does before its run, so that
no event published meanwhile is dropped). An event may arrive twice after a crash (RabbitMQ
is at least once): a consumer that must act once keeps the ``event_id`` it has seen.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

QUEUE, EXCHANGE, KEY = "tradelane-demo-events", "amq.topic", "tradelane.#"


def channel(url: str) -> object:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    ch = connection.channel()
    ch.queue_declare(QUEUE, durable=True)
    ch.queue_bind(QUEUE, EXCHANGE, routing_key=KEY)
    return ch


def line(body: bytes) -> str:
    try:
        e = json.loads(body)
    except ValueError:
        return f"(not an event: {body[:80]!r})"
    records = f"{e['records']} records" if e.get("records") is not None else ""
    return (f"{e.get('outcome', '?'):<11} {e.get('route', '?')}/{e.get('name', '?')}"
            f" (file {e.get('file_id')}) {records}  -> {e.get('history', '')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get(
        "TRADELANE_DEMO_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--drain", action="store_true", help="print what waits, then exit")
    parser.add_argument("--setup", action="store_true", help="only declare the queue")
    args = parser.parse_args()
    try:
        ch = channel(args.url)
    except Exception as exc:  # pika's connection errors: say it in words, no traceback
        print(f"RabbitMQ at {args.url.split('@')[-1]} is not reachable ({type(exc).__name__})")
        return 2
    if args.setup:
        return 0
    if args.drain:
        count = 0
        while (got := ch.basic_get(QUEUE, auto_ack=True))[0] is not None:  # type: ignore[attr-defined]
            print(line(got[2]))
            count += 1
        print(f"({count} events)")
        return 0
    for _method, _props, body in ch.consume(QUEUE, auto_ack=True):  # type: ignore[attr-defined]
        print(line(body), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
