"""Helpers for the event tests: unique names, reading what reached the real brokers, and a TCP
proxy that stands for a broker going down and coming back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import uuid
from typing import Any

NATS_URL = "nats://127.0.0.1:4222"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def nats_stream(name: str, subjects: list[str]) -> None:
    async def go() -> None:
        import nats

        nc = await nats.connect(NATS_URL)
        await nc.jetstream().add_stream(name=name, subjects=subjects, duplicate_window=120)
        await nc.close()

    asyncio.run(go())


def nats_messages(stream: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Every message the stream holds: (event, headers)."""
    async def go() -> list[tuple[dict[str, Any], dict[str, str]]]:
        import nats

        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        count = (await js.stream_info(stream)).state.messages
        found = []
        for seq in range(1, count + 1):
            msg = await js.get_msg(stream, seq)
            found.append((json.loads(msg.data), dict(msg.headers or {})))
        await nc.close()
        return found

    return asyncio.run(go())


def delete_stream(name: str) -> None:
    async def go() -> None:
        import nats

        nc = await nats.connect(NATS_URL)
        await nc.jetstream().delete_stream(name)
        await nc.close()

    asyncio.run(go())


class Proxy:
    """Forwards 127.0.0.1:<port> to a broker while started; stopped, the port refuses."""

    def __init__(self, upstream: int):
        self.upstream = upstream
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
