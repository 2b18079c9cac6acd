"""Slow down password guessing without letting an attacker lock the operator out.

Failed logins are counted twice, per client address and per user name, each count in its own
bounded table. A wrong password waits ``step`` seconds per failure counted so far (the larger
of its address's and its user's count, at most ``most``); a right one is answered at once.
Attempts from one address are checked one after the other, so guessing in parallel from one
machine gains nothing, and a guess from another address never waits behind them. The user
count is what slows an attacker who spreads guesses over many addresses.

IPv6 clients are counted per /64, the block one machine usually gets. Behind a reverse proxy
every client has the proxy's address: the user count still applies.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool


@dataclass
class _Entry:
    failures: int = 0
    last: float = 0.0  # time.monotonic() of the last failure
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0  # attempts holding or queued on ``lock``: never evicted meanwhile


class _Counts:
    """Failures per key, forgotten ``forget`` seconds after the last one. Holds at most
    ``max_entries`` keys: when full, the key idle longest goes (``keep`` never does)."""

    def __init__(self, forget: float, max_entries: int, keep: Iterable[str] = ()):
        self.forget, self.max_entries = forget, max_entries
        self.keep = frozenset(keep)
        self.entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, key: str, now: float) -> _Entry:
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = _Entry()
            self._shrink()
        else:
            self.entries.move_to_end(key)
        if entry.failures and now - entry.last > self.forget:
            entry.failures = 0
        return entry

    def failures(self, key: str, now: float) -> int:
        entry = self.entries.get(key)
        if entry is None or now - entry.last > self.forget:
            return 0
        return entry.failures

    def fail(self, key: str, now: float) -> None:
        entry = self.get(key, now)
        entry.failures += 1
        entry.last = now

    def _shrink(self) -> None:
        for _ in range(len(self.entries)):
            if len(self.entries) <= self.max_entries:
                return
            key, entry = self.entries.popitem(last=False)  # the one idle longest
            if key in self.keep or entry.waiting:
                self.entries[key] = entry  # in use: back it goes, as if just used


class LoginThrottle:
    """The login throttle of one console process (every method runs on its event loop)."""

    def __init__(self, *, step: float = 0.5, most: float = 5.0, forget: float = 900.0,
                 max_entries: int = 10_000, keep_users: Iterable[str] = ()):
        self.step, self.most = step, most
        self._addresses = _Counts(forget, max_entries)
        self._users = _Counts(forget, max_entries, keep_users)

    async def attempt(self, address: str, user: str, check: Callable[[], bool]) -> bool:
        """``check()`` (the password check, run in a thread: argon2 is slow on purpose), in
        turn with this address's other attempts; on failure, wait before answering."""
        entry = self._addresses.get(self.address_key(address), time.monotonic())
        entry.waiting += 1
        try:
            async with entry.lock:
                if await run_in_threadpool(check):
                    entry.failures = 0
                    return True
                self.record_failure(address, user)
                await asyncio.sleep(self.delay(address, user))
                return False
        finally:
            entry.waiting -= 1

    def keep_users(self, names: Iterable[str]) -> None:
        """The names of real users: their counts are never evicted to make room."""
        self._users.keep = frozenset(names)

    def record_failure(self, address: str, user: str) -> None:
        now = time.monotonic()
        self._addresses.fail(self.address_key(address), now)
        self._users.fail(user, now)

    def delay(self, address: str, user: str) -> float:
        """How long a failure waits, given the failures counted so far."""
        now = time.monotonic()
        failures = max(self._addresses.failures(self.address_key(address), now),
                       self._users.failures(user, now))
        return min(self.step * failures, self.most)

    def entries(self) -> int:
        return len(self._addresses.entries) + len(self._users.entries)

    @staticmethod
    def address_key(address: str) -> str:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address  # not an IP (a test client, a Unix socket): as it is
        if ip.version == 6 and ip.ipv4_mapped is None:
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)
