"""Targets ``nats:``, ``rabbitmq:``, ``mqtt:``: a file's records published one JSON message each.

Nothing is published before the whole file is read and valid (the records are spooled to a
temporary file meanwhile, so memory stays bounded): a file quarantined half-way publishes
nothing. Each message's id is ``<route>-<sha256 of the file, 20 hex>-<record number>``, the
same on every retry of the file: NATS JetStream drops the repeats (``Nats-Msg-Id``); RabbitMQ
and MQTT deliver them again (at least once) and consumers deduplicate by ``message_id``/the
``_message_id`` field.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tradelane.errors import TargetUnavailable, TransientError
from tradelane.events import Message
from tradelane.events.model import render
from tradelane.models import Delivery, Document
from tradelane.spec.events import BROKERS

if TYPE_CHECKING:
    from tradelane.abc import DeliveryContext
    from tradelane.spec import RouteSpec, Settings

CHUNK = 1000  # messages per confirmation round


class RecordsTarget:
    def __init__(self, route: RouteSpec, settings: Settings | None = None):
        self.spec: Any = route.target
        self.kind = str(self.spec.kind)
        self.uri = str(getattr(self.spec, self.kind))
        template = getattr(self.spec, {"nats": "subject", "rabbitmq": "routing_key",
                                       "mqtt": "topic"}[self.kind])
        self.template = str(template)

    def deliver(self, batches: Iterable[Document], ctx: DeliveryContext) -> Delivery:
        subject = render(self.template, route=ctx.route, outcome="records", file_id=ctx.file_id)
        prefix = f"{ctx.route}-{ctx.sha256[:20]}"
        with tempfile.TemporaryFile() as spool:
            count = 0
            for doc in batches:  # may raise RejectError at the end: nothing published yet
                for number, row in zip(doc.numbers.tolist(), doc.records.to_pylist(),
                                       strict=True):
                    row["_message_id"] = f"{prefix}-{number}"
                    spool.write(json.dumps(row, default=str, separators=(",", ":")).encode()
                                + b"\n")
                    count += 1
            spool.seek(0)
            try:
                with BROKERS.get(self.kind).create(self.spec) as publisher:
                    for chunk in _chunks(spool, subject):
                        refused = [why for why in publisher.publish(chunk) if why is not None]
                        if refused:
                            raise TargetUnavailable(
                                f"{self.kind} at {self.uri} refused {len(refused)} of"
                                f" {len(chunk)} records: {refused[0]}")
            except TransientError as exc:
                raise TargetUnavailable(str(exc)) from exc
        return Delivery(target=f"{self.uri}#{subject}", records=count)

    def preview(self, batches: Sequence[Document], route: RouteSpec) -> str:
        records = sum(doc.records.num_rows for doc in batches)
        return f"{records} records, one {self.kind} message each, to {self.uri} ({self.template})"

    def close(self) -> None:
        return None


def _chunks(spool: Any, subject: str) -> Iterator[list[Message]]:
    chunk: list[Message] = []
    for line in spool:
        message_id = json.loads(line)["_message_id"]
        chunk.append(Message(message_id, subject, line.rstrip(b"\n")))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
