"""NATS JetStream publisher: each message acknowledged by the stream, ``Nats-Msg-Id`` set to
the event id so the stream drops a message published again after a crash.

A round is published the way JetStream's own async publish works, without its cost per
message: every message goes out with a reply subject under one inbox of ours, and the
stream's acks come back there; an ack is looked at for an error only (``"error"`` in it, or
a 503 status when no stream takes the subject), not parsed into a ``PubAck``, and no future
is made per message. The round is done when every message has its ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from tradelane.errors import TransientError
from tradelane.events import Message
from tradelane.spec.events import NatsEvents


class NatsPublisher:
    """nats-py is asyncio only: the publisher keeps its own event loop and one connection
    while open; a batch is published asynchronously (acks awaited together, not one round
    trip each)."""

    def __init__(self, spec: NatsEvents):
        self.spec = spec
        self._inbox: str | None = None
        self._round = 0
        self._results: list[str | None] = []
        self._subjects: list[str] = []
        self._left = 0
        self._all: asyncio.Event | None = None

    def __enter__(self) -> NatsPublisher:
        self._loop = asyncio.new_event_loop()
        try:
            self._nc, self._js = self._loop.run_until_complete(self._connect())
        except BaseException:
            self._loop.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):  # a connection already gone
            self._loop.run_until_complete(self._nc.close())
        self._loop.close()

    def publish(self, messages: list[Message]) -> list[str | None]:
        return self._loop.run_until_complete(self._publish(messages))

    async def _connect(self) -> tuple[Any, Any]:
        import nats
        from nats.js.errors import NotFoundError

        spec, seconds = self.spec, self.spec.timeout.total_seconds()
        options: dict[str, Any] = {}
        if spec.username:
            options["user"] = spec.username
        if spec.password_env:
            options["password"] = os.environ.get(spec.password_env, "")
        try:
            # max_reconnect_attempts=0 would mean "for ever" to nats-py, even on the first
            # connect: one retry, and a deadline over all of it
            nc = await asyncio.wait_for(nats.connect(
                spec.nats, connect_timeout=seconds, allow_reconnect=False,
                max_reconnect_attempts=1, reconnect_time_wait=0.1, error_cb=_quiet,
                **options), timeout=2 * seconds + 1)
        except Exception as exc:  # nats-py raises bare OSError, NoServersError, timeouts
            raise TransientError(f"NATS at {spec.nats} cannot be reached ({_why(exc)})") from exc
        js = nc.jetstream(timeout=seconds)
        if spec.stream:
            try:
                try:
                    await js.stream_info(spec.stream)
                except NotFoundError:
                    prefix = spec.subject.split("{", 1)[0].rstrip(".")
                    await js.add_stream(name=spec.stream, subjects=[f"{prefix}.>"])
            except Exception as exc:
                await nc.close()
                raise TransientError(f"NATS at {spec.nats}: stream {spec.stream}:"
                                     f" {_why(exc)}") from exc
        return nc, js

    async def _publish(self, messages: list[Message]) -> list[str | None]:
        spec, seconds, nc = self.spec, self.spec.timeout.total_seconds(), self._nc
        try:
            if self._inbox is None:
                self._inbox = nc.new_inbox()
                await nc.subscribe(f"{self._inbox}.*", cb=self._acked)
            self._round += 1  # acks of an earlier round that timed out are ignored
            self._results = [_NO_ACK] * len(messages)
            self._subjects = [m.subject for m in messages]
            self._left, self._all = len(messages), asyncio.Event()
            prefix = f"{self._inbox}.{self._round}-"
            for i, m in enumerate(messages):
                await nc.publish(m.subject, m.body, reply=f"{prefix}{i}",
                                 headers={"Nats-Msg-Id": m.id})
            if messages:
                await asyncio.wait_for(self._all.wait(), timeout=seconds + len(messages) / 1000)
        except (TimeoutError, OSError) as exc:
            raise TransientError(f"NATS at {spec.nats} did not answer ({_why(exc)})") from exc
        except Exception as exc:  # nats-py's connection errors (closed, stale, no servers)
            raise TransientError(f"NATS at {spec.nats}: {_why(exc)}") from exc
        return self._results

    async def _acked(self, msg: Any) -> None:
        round_, _, number = msg.subject.rpartition(".")[2].partition("-")
        index = int(number)
        if int(round_) != self._round or self._results[index] is not _NO_ACK:
            return
        data = msg.data
        if msg.headers and msg.headers.get("Status") == "503":
            why: str | None = f"no stream takes the subject {self._subjects[index]!r}"
        elif b'"error"' in data:
            why = _api_error(data)
        else:
            why = None
        self._results[index] = why
        self._left -= 1
        if self._left == 0 and self._all is not None:
            self._all.set()


#: a message not acknowledged (yet): a distinct object, compared by identity
_NO_ACK = "the stream did not acknowledge it"


def _api_error(data: bytes) -> str | None:
    """The error of a JetStream API answer; None if it is not one after all."""
    import json

    try:
        answer = json.loads(data)
    except ValueError:
        return f"an answer that is not JSON: {data[:200]!r}"
    error = answer.get("error") if isinstance(answer, dict) else None
    if not error:
        return None
    return f"JetStream error {error.get('code')}: {error.get('description')}"


async def _quiet(exc: Exception) -> None:
    """nats-py logs every failed attempt with a traceback; the caller reports the outcome."""


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
