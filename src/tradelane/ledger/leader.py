"""One leader among the workers sharing a ledger, for the cluster-wide duties (alert and
expected-arrival checks, sweeps, retention): done once, not by every worker.

PostgreSQL: the leader holds ``pg_try_advisory_lock`` on a connection of its own, kept for
as long as it leads. The lock belongs to that session, so when the leader dies (SIGKILL, a
lost host, a cut network) the server drops it and the next worker that asks becomes leader,
within one ``LeaderElection.check`` interval. The session's ``application_name`` carries the
worker's name, so ``who()`` tells any process who leads.

SQLite (one host): an exclusive ``flock`` on ``<ledger file>.leader``, which the kernel
releases with the process. Several processes on one host are safe either way: SQLite itself
serialises their writes, and claims decide who processes a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

log = logging.getLogger("tradelane.leader")

#: The advisory lock's key: any fixed 63-bit number, other than the migrations' one.
LOCK_KEY = int.from_bytes(b"tl-lead", "big")
_APP_PREFIX = "tradelane leader "


class LeaderElection:
    """Whether this process leads; ``check()`` tries to become leader (or confirms it still
    is) and is cheap enough to call before every cluster-wide duty."""

    def __init__(self, engine: Engine, worker: str):
        self.engine, self.worker = engine, worker
        self._conn: Any = None  # PostgreSQL: the session holding the lock
        self._file: Any = None  # SQLite: the locked file
        self.leading = False

    def check(self) -> bool:
        was = self.leading
        try:
            self.leading = (self._check_postgres() if self.engine.dialect.name == "postgresql"
                            else self._check_file())
        except Exception as exc:  # the ledger is unreachable: lead nothing meanwhile
            log.warning("leader check failed (%s); not leading until the ledger answers", exc)
            self._drop()
            self.leading = False
        if self.leading != was:
            log.info("%s is %s the leader (cluster-wide duties: alerts, expected arrivals,"
                     " sweeps, retention)", self.worker, "now" if self.leading else "no longer")
        return self.leading

    def close(self) -> None:
        self._drop()
        self.leading = False

    def _check_postgres(self) -> bool:
        if self._conn is not None:  # leading: is the session (and so the lock) still alive?
            try:
                self._conn.exec_driver_sql("SELECT 1")
                return True
            except Exception:
                self._drop()
                raise
        # a connection of its own, outside the pool: it lives exactly as long as the lead
        conn = self.engine.raw_connection()
        conn.detach()  # closing it must end the session (and the lock), not pool it
        try:
            conn.dbapi_connection.autocommit = True
            cur = conn.cursor()
            cur.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
            if not cur.fetchone()[0]:
                conn.close()
                return False
            cur.execute("SELECT set_config('application_name', %s, false)",
                        (_APP_PREFIX + self.worker[:40],))
            cur.close()
        except Exception:
            conn.close()
            raise
        self._conn = _Session(conn)
        return True

    def _check_file(self) -> bool:
        if self._file is not None:
            return True
        path = lock_path(self.engine)
        if path is None:  # an in-memory ledger: one process by definition
            return True
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{self.worker} pid {os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()  # releases the flock
            self._file = None


class _Session:
    """The leader's DB-API connection, with the one call the check needs."""

    def __init__(self, conn: Any):
        self.conn = conn

    def exec_driver_sql(self, sql: str) -> None:
        cur = self.conn.cursor()
        cur.execute(sql)
        cur.fetchall()
        cur.close()

    def close(self) -> None:
        self.conn.close()


def lock_path(engine: Engine) -> Path | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + ".leader")


def who(engine: Engine) -> str | None:
    """The current leader's worker name, or None if no worker leads right now."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            name = conn.execute(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
                " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
                " AND (l.classid::bigint << 32) + l.objid::bigint = :key LIMIT 1"),
                {"key": LOCK_KEY}).scalar_one_or_none()
        return name.removeprefix(_APP_PREFIX) if name else None
    path = lock_path(engine)
    if path is None or not path.exists():
        return None
    with path.open("r") as handle:
        try:  # a lock we can take is a lock nobody holds
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().split(" pid ")[0].strip() or None
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
