"""Workers sharing a PostgreSQL ledger wake each other when one of them finds new files.

A claim that records new files also sends ``NOTIFY`` on the ledger's channel, naming their
routes (``announce``, in the claim's transaction: peers hear it once it commits). ``serve``
listens on a connection of its own (``Listener``) and wakes a poll of each route named, so an
idle peer takes its share at once instead of sleeping out its poll interval. The interval
stays the fallback: after a lost connection the listener wakes every route once, for what it
may have missed.

The channel is named after the ledger's schema, so ledgers in other schemas of one database
(tests, a staging copy) never wake each other. SQLite (one host) sends nothing: folder
watchers and intervals wake its polls.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("tradelane.wakeups")

#: The channel, computed by the server from the session's schema (the same on both sides).
_CHANNEL = "'tradelane_' || left(md5(current_schema()), 12)"
_NOTIFY = text(f"SELECT pg_notify({_CHANNEL}, :routes)")
#: How long a listener waits before connecting again after losing its connection.
RECONNECT_AFTER = 2.0


def announcer(engine: Engine) -> Callable[[Connection, str, Iterable[str]], None] | None:
    """What ``Ledger.claim_many`` calls when it recorded new files; None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    return announce


def announce(conn: Connection, worker: str, routes: Iterable[str]) -> None:
    """Tell the peers (once this transaction commits) that ``worker`` recorded new files
    of ``routes``."""
    conn.execute(_NOTIFY, {"routes": "\n".join([worker, *sorted(set(routes))])})


class Listener:
    """A thread that calls ``wake(route)`` for each route a peer announces (``None``: all
    routes, after the connection was lost and notifications may have been missed). What
    ``worker`` (this process) announced itself is ignored: it is polling already."""

    def __init__(self, engine: Engine, worker: str, wake: Callable[[str | None], None]):
        self.engine, self.worker, self.wake = engine, worker, wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wakeups", daemon=True)
        self._conn: Any = None

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                self._listen(missed=not first)
            except Exception as exc:  # the ledger went away: listen again when it is back
                log.warning("not hearing peers' new files (%s); listening again in %.0f s",
                            exc, RECONNECT_AFTER)
            first = False
            self._stop.wait(RECONNECT_AFTER)

    def _listen(self, *, missed: bool) -> None:
        raw = self.engine.raw_connection()
        raw.detach()  # LISTEN belongs to this session: it never goes back to the pool
        try:
            conn = raw.dbapi_connection
            assert conn is not None
            conn.autocommit = True
            channel = conn.execute(f"SELECT {_CHANNEL}").fetchone()[0]
            conn.execute(f'LISTEN "{channel}"')
            if missed:
                self.wake(None)
            while not self._stop.is_set():
                # a short timeout: a stop request is seen within a second
                for note in conn.notifies(timeout=1.0):
                    sender, *routes = note.payload.split("\n")
                    if sender != self.worker:
                        for route in routes:
                            self.wake(route)
        finally:
            with contextlib.suppress(Exception):
                raw.close()


def listen(engine: Engine, worker: str,
           wake: Callable[[str | None], None]) -> Listener | None:
    """A started ``Listener`` for ``worker`` on PostgreSQL; None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    listener = Listener(engine, worker, wake)
    listener.start()
    return listener
