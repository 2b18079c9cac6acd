"""Source ``nats:``: messages of a JetStream stream, taken in batches and processed as files.

Each poll pulls up to ``batch`` messages (waiting at most ``wait``) from a durable pull
consumer and writes them as one JSON Lines file (one message a line) into a landing folder
under ``.tradelane/broker/<route>/``, named by the stream sequences it holds
(``batch-<first>-<last>.jsonl``), durably (temp, fsync, rename). From there it is an ordinary
local file: claimed, staged, read, delivered or quarantined, with history.

Messages are acknowledged to NATS only once the file's outcome is recorded in the ledger (in
``after_delivery``/``after_reject``, a follow-up step redone after a crash); the reply
subjects to acknowledge are kept beside the batch (``.batch-….acks``). A process killed
before it acknowledged: NATS redelivers after the consumer's ``ack_wait``; the redelivered
batch holds the same messages and bytes, so the ledger's content identity takes it as a
duplicate (acknowledged then), and its records are delivered once.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from tradelane.errors import SourceUnavailable
from tradelane.paths import atomic_writer
from tradelane.sources.landing import LandingSource, json_line

if TYPE_CHECKING:
    from tradelane.spec import RouteSpec, Settings


class NatsSource(LandingSource):
    def __init__(self, route: RouteSpec, settings: Settings):
        super().__init__(route, settings)
        self.uri = f"{self.broker.nats}/{self.broker.stream}"

    def _land(self) -> None:
        asyncio.run(self._pull())

    # -- NATS ----------------------------------------------------------------------------------

    async def _connect(self) -> Any:
        import nats

        spec = self.broker
        options: dict[str, Any] = {}
        if spec.username:
            options["user"] = spec.username
        if spec.password_env:
            options["password"] = os.environ.get(spec.password_env, "")

        async def quiet(exc: Exception) -> None:
            """nats-py logs a traceback per failed attempt; the poll reports the outcome."""

        try:
            return await asyncio.wait_for(nats.connect(
                spec.nats, connect_timeout=5, allow_reconnect=False, max_reconnect_attempts=1,
                reconnect_time_wait=0.1, error_cb=quiet, **options), timeout=11)
        except Exception as exc:  # nats-py raises OSError, NoServersError, timeouts
            raise SourceUnavailable(f"NATS at {spec.nats} cannot be reached"
                                    f" ({type(exc).__name__})") from exc

    async def _pull(self) -> None:
        from nats.errors import TimeoutError as NatsTimeout

        spec = self.broker
        nc = await self._connect()
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe(spec.subject, durable=spec.consumer
                                          or f"tradelane-{self.route}", stream=spec.stream)
            try:
                msgs = await sub.fetch(spec.batch, timeout=spec.wait.total_seconds())
            except (TimeoutError, NatsTimeout):
                return
            if not msgs:
                return
            first = msgs[0].metadata.sequence.stream
            last = msgs[-1].metadata.sequence.stream
            name = f"batch-{first:012d}-{last:012d}.jsonl"
            path = self.folder / name
            acks = self.folder / f".{name}.acks"
            with atomic_writer(acks) as fh:  # before the batch is visible
                fh.write("\n".join(m.reply for m in msgs).encode() + b"\n")
            if not path.exists():
                with atomic_writer(path) as fh:
                    for m in msgs:
                        fh.write(json_line(m.data) + b"\n")
        except SourceUnavailable:
            raise
        except Exception as exc:  # a missing stream, a consumer refused: say which
            raise SourceUnavailable(f"NATS stream {spec.stream} ({spec.subject}):"
                                    f" {type(exc).__name__}: {exc}") from exc
        finally:
            await nc.close()

    def _ack(self, name: str) -> None:
        acks = self.folder / f".{name}.acks"
        try:
            replies = [r for r in acks.read_text().splitlines() if r]
        except FileNotFoundError:
            return  # acknowledged before a crash: the step is being redone

        async def go() -> None:
            nc = await self._connect()
            try:
                for reply in replies:
                    await nc.publish(reply, b"+ACK")
                await nc.flush(timeout=5)
            finally:
                await nc.close()

        asyncio.run(go())
        acks.unlink(missing_ok=True)
