"""Keeping claims while the work goes on: leases renewed from a daemon thread.

A claim lasts ``lease`` (15 minutes by default) so that a dead worker's files are taken over.
A file whose processing takes longer (a 2 GB CSV, a slow partner, a table load) must not be
taken over while its worker is alive: ``LeaseKeeper`` renews every claim a worker holds every
``lease / 3``, in one ledger statement guarded by worker and fencing token
(``Ledger.renew``). A claim another worker took over meanwhile (this one stalled: a pause, a
swap storm, the ledger out of reach for a whole lease) is not renewed, and the holder
learns it lost it: ``check`` raises ``StaleClaim`` and ``guarded`` stops the target before
its commit step (a claim lost during the commit itself is caught by fencing only: the loser
records nothing). A worker that is stopped (SIGSTOP) or dead renews nothing: its thread
stops with it.

A failed renewal (the ledger down) is logged and tried again soon; it never stops the worker.
``Renewing`` is the thread itself, also used for a table source's polling lease.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from tradelane.crashpoints import crash_point
from tradelane.errors import LedgerUnavailable, StaleClaim

if TYPE_CHECKING:
    from tradelane.ledger.store import FileRecord, Ledger

log = logging.getLogger("tradelane")

#: A failed renewal is tried again this soon (seconds), or at the next turn if that is sooner.
RETRY_AFTER = 5.0
T = TypeVar("T")


# A forked worker process (``processes.py``) holds none of its parent's claims, and a lock the
# parent held at the fork would never be released in the child: each keeper starts afresh.
_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()


def _after_fork() -> None:
    for item in list(_LIVE):
        item._after_fork()


os.register_at_fork(after_in_child=_after_fork)


class Renewing:
    """A daemon thread calling ``renew`` every ``every`` seconds from ``start`` to ``stop``.
    ``renew`` returns False when there is nothing more to keep (the lease was lost); an
    exception is logged and the call tried again after ``RETRY_AFTER`` at most."""

    def __init__(self, renew: Callable[[], bool], every: float, what: str):
        self._renew = renew
        self.every = max(every, 0.05)
        self.what = what
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        _LIVE.add(self)

    def start(self) -> None:
        with self._lock:
            if self._stop is not None:
                return
            self._stop = stop = threading.Event()
        threading.Thread(target=self._loop, args=(stop,), daemon=True,
                         name=f"lease {self.what}").start()

    def stop(self) -> None:
        with self._lock:
            if self._stop is not None:
                self._stop.set()
                self._stop = None

    @property
    def running(self) -> bool:
        return self._stop is not None

    def _loop(self, stop: threading.Event) -> None:
        wait = self.every
        while not stop.wait(wait):
            try:
                keep = self._renew()
            except Exception as exc:  # the ledger out of reach: the worker goes on, we retry
                wait = min(self.every, RETRY_AFTER)
                log.warning("could not renew the lease of %s (tried again in %.1f s): %s",
                            self.what, wait, exc)
                continue
            wait = self.every
            if not keep:
                with self._lock:
                    if self._stop is stop:
                        self._stop = None
                return

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._stop = None


class LeaseKeeper:
    """The claims one worker (one ``Ledger``) holds, renewed while they are held."""

    def __init__(self, ledger: Ledger, *, every: float | None = None):
        self.ledger = ledger
        self.lease = ledger.lease.total_seconds()
        self._lock = threading.Lock()
        self._held: dict[int, int] = {}  # file id -> fencing token
        self._confirmed: dict[int, float] = {}  # file id -> when its lease last started
        self._lost: dict[int, tuple[int, int]] = {}  # file id -> (my token, the token now)
        self._thread = Renewing(self.renew_now, self.lease / 3 if every is None else every,
                                f"the claims of {ledger.worker}")
        _LIVE.add(self)

    # -- what the pipeline says -----------------------------------------------------------

    def hold(self, records: Iterable[FileRecord]) -> None:
        """These claims are in hand (their lease was just taken): keep them."""
        now = time.monotonic()
        with self._lock:
            for record in records:
                self._held[record.id] = record.fence
                self._confirmed[record.id] = now
                self._lost.pop(record.id, None)
            if self._held:
                self._thread.start()

    def drop(self, records: Iterable[FileRecord]) -> None:
        """These files are done with (recorded, postponed or lost): renew them no more."""
        with self._lock:
            for record in records:
                if self._held.get(record.id) == record.fence:
                    del self._held[record.id]
                    self._confirmed.pop(record.id, None)
                self._lost.pop(record.id, None)
            if not self._held:
                self._thread.stop()

    def holding(self, records: Iterable[FileRecord]) -> _Holding:
        """``hold`` for a ``with`` block, ``drop`` at its end."""
        return _Holding(self, list(records))

    def check(self, record: FileRecord) -> None:
        """Raise ``StaleClaim`` if the claim was taken over. Free while the lease was renewed
        within half of it; after longer (the thread fell behind: a stall, the ledger away),
        the leases are renewed now, so a worker that wakes from a pause learns it at once."""
        with self._lock:
            lost = self._lost.get(record.id)
            since = self._confirmed.get(record.id)
        if lost is None and since is not None \
                and time.monotonic() - since >= self.lease / 2:
            try:
                self.renew_now()
            except Exception as exc:  # the ledger away: decided below by the clock
                if time.monotonic() - since >= self.lease:
                    raise LedgerUnavailable("renewing a claim", str(exc)) from exc
            with self._lock:
                lost = self._lost.get(record.id)
        if lost is not None:
            raise StaleClaim(record.id, *lost)

    def guarded(self, record: FileRecord, batches: Iterable[T]) -> Iterator[T]:
        """``batches`` for a target, checking the claim before each and after the last one: a
        target takes every batch before its commit step (rename, COMMIT, the request), so a
        file whose claim was lost stops before it is delivered."""
        for batch in batches:
            self.check(record)
            yield batch
        self.check(record)

    # -- the thread -----------------------------------------------------------------------

    def renew_now(self) -> bool:
        """Renew every claim held, in one statement; note the ones taken over."""
        with self._lock:
            held = dict(self._held)
        if not held:
            return True
        started = time.monotonic()
        lost = self.ledger.renew(held)
        crash_point("lease-renewed")
        with self._lock:
            for file_id, fence in held.items():
                if self._held.get(file_id) != fence:
                    continue  # dropped meanwhile
                if file_id in lost:
                    del self._held[file_id]
                    self._confirmed.pop(file_id, None)
                    self._lost[file_id] = (fence, lost[file_id])
                else:
                    self._confirmed[file_id] = started
        for file_id, now in lost.items():
            log.warning("file %s was taken over by another worker (fencing token %s, this"
                        " worker held %s): it is stopped before delivery and nothing of it"
                        " is recorded here", file_id, now, held[file_id])
        return True

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._held.clear()
        self._confirmed.clear()
        self._lost.clear()


class _Holding:
    def __init__(self, keeper: LeaseKeeper, records: list[FileRecord]):
        self.keeper, self.records = keeper, records

    def __enter__(self) -> None:
        self.keeper.hold(self.records)

    def __exit__(self, *exc: object) -> None:
        self.keeper.drop(self.records)


__all__ = ["LeaseKeeper", "Renewing"]
