"""Source ``rabbitmq:``: messages of a RabbitMQ queue, taken in batches and processed as files.

Each poll consumes up to ``batch`` messages of the queue (waiting at most ``wait`` for the
next one) without acknowledging them, and writes them as one JSON Lines file (one message a
line) into ``.tradelane/broker/<route>/``, durably, named by its content
(``batch-<sha256>.jsonl``). From there it is an ordinary local file: claimed, staged, read,
delivered or quarantined, with history.

The messages are acknowledged (``basic_ack``, each of the batch's delivery tags) only in
``after_delivery``/``after_reject``, i.e. once the file's outcome is recorded in the ledger,
on the channel that received them, which stays open for the poll. A process killed before
that, or a poll that ends first, closes the channel: RabbitMQ puts the unacknowledged
messages back in the queue, and the next poll takes them again. The same messages in the
same order make the same bytes, which the ledger takes as a duplicate (acknowledged then),
so their records are delivered once; if other consumers of the queue took some of them
meanwhile, the batch differs and delivery is at least once (consumers deduplicate on the
messages' ``message_id``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import TYPE_CHECKING, Any

from tradelane.errors import SourceUnavailable
from tradelane.paths import atomic_writer
from tradelane.sources.landing import LandingSource, json_line

if TYPE_CHECKING:
    from tradelane.spec import RouteSpec, Settings


class RabbitSource(LandingSource):
    def __init__(self, route: RouteSpec, settings: Settings):
        super().__init__(route, settings)
        self.uri = f"{self.broker.rabbitmq.rstrip('/')}/{self.broker.queue}"
        self._connection: Any = None
        self._channel: Any = None
        self._tags: dict[str, tuple[int, int]] = {}  # batch name -> its delivery tags

    def __exit__(self, *exc: object) -> None:
        """The poll is over: messages not acknowledged go back to the queue."""
        if self._connection is not None:
            with contextlib.suppress(Exception):  # already gone: the broker requeued them
                self._connection.close()
        self._connection = self._channel = None
        self._tags.clear()

    # -- RabbitMQ ------------------------------------------------------------------------------

    def _open(self) -> Any:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        import pika

        spec = self.broker
        params = pika.URLParameters(spec.rabbitmq)
        if spec.username:
            params.credentials = pika.PlainCredentials(
                spec.username, os.environ.get(spec.password_env or "", ""))
        params.socket_timeout = params.blocked_connection_timeout = 10
        params.connection_attempts, params.stack_timeout = 1, 10
        try:
            self._connection = pika.BlockingConnection(params)
            self._channel = self._connection.channel()
            self._channel.basic_qos(prefetch_count=spec.batch)
        except Exception as exc:  # pika's AMQPConnectionError family, socket errors
            raise SourceUnavailable(f"RabbitMQ at {spec.rabbitmq} cannot be reached"
                                    f" ({type(exc).__name__})") from exc
        return self._channel

    def _land(self) -> None:
        spec = self.broker
        channel = self._open()
        lines: list[bytes] = []
        first = last = 0
        try:
            for method, _props, body in channel.consume(
                    spec.queue, inactivity_timeout=spec.wait.total_seconds()):
                if method is None:  # nothing more within wait
                    break
                lines.append(json_line(body))
                first, last = first or method.delivery_tag, method.delivery_tag
                if len(lines) >= spec.batch:
                    break
            channel.cancel()  # unacknowledged messages stay with this channel until acked
        except Exception as exc:  # a missing queue, a connection lost: say which
            self.__exit__()
            raise SourceUnavailable(f"RabbitMQ queue {spec.queue}: {type(exc).__name__}:"
                                    f" {exc}") from exc
        if not lines:
            return
        data = b"\n".join(lines) + b"\n"
        name = f"batch-{hashlib.sha256(data).hexdigest()[:16]}.jsonl"
        path = self.folder / name
        if not path.exists():
            with atomic_writer(path) as fh:
                fh.write(data)
        self._tags[name] = (first, last)

    def _ack(self, name: str) -> None:
        """Acknowledge a batch's messages, if this poll's channel holds them; otherwise they
        went back to the queue and come again (a duplicate then)."""
        tags = self._tags.pop(name, None)
        if tags is None or self._channel is None or not self._channel.is_open:
            return
        try:  # each tag: another batch of this poll may still wait for its outcome
            for tag in range(tags[0], tags[1] + 1):
                self._channel.basic_ack(delivery_tag=tag)
        except Exception as exc:  # the channel died: RabbitMQ requeued them
            raise SourceUnavailable(f"RabbitMQ queue {self.broker.queue}: cannot acknowledge"
                                    f" ({type(exc).__name__})") from exc
