"""NATS JetStream publisher: each message acknowledged by the stream, ``Nats-Msg-Id`` set to
the event id so the stream drops a message published again after a crash."""

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
        spec, seconds = self.spec, self.spec.timeout.total_seconds()
        try:
            futures = [await self._js.publish_async(m.subject, m.body,
                                                    headers={"Nats-Msg-Id": m.id})
                       for m in messages]
            done = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True),
                                          timeout=seconds + len(messages) / 1000)
        except (TimeoutError, OSError) as exc:
            raise TransientError(f"NATS at {spec.nats} did not answer ({_why(exc)})") from exc
        return [None if not isinstance(r, BaseException) else _why(r) for r in done]


async def _quiet(exc: Exception) -> None:
    """nats-py logs every failed attempt with a traceback; the caller reports the outcome."""


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
