"""Events about files' outcomes, published to brokers through an outbox in the ledger.

- ``model``: the event (JSON) and the outbox row built for an outcome;
- ``publishing``: the loop that publishes due rows, marks them sent, backs off and alerts;
- ``nats``, ``rabbitmq``, ``mqtt``: one publisher per broker (``Publisher``), registered in
  ``tradelane.spec.events.BROKERS``.

Delivery guarantee: a row is written in the transaction that records the outcome, so a crash
never loses an event. It is marked sent only after the broker confirmed it, so a crash in
between publishes it again: NATS JetStream drops the repeat (``Nats-Msg-Id`` is the event
id); RabbitMQ and MQTT deliver it twice (at least once), and consumers deduplicate by
``event_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    """One message to publish: its stable id, where, and the bytes."""

    id: str
    subject: str
    body: bytes


class Publisher(Protocol):
    """A connection to one broker. ``publish`` returns, per message, None once the broker
    confirmed it or why it did not; a broker that cannot be reached raises ``TransientError``."""

    def __enter__(self) -> Publisher: ...

    def __exit__(self, *exc: object) -> None: ...

    def publish(self, messages: list[Message]) -> list[str | None]: ...
