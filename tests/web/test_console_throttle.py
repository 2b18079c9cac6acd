"""Failed logins slow down only the address that made them and the user name they guessed.

The console listens on 127.0.0.1; clients bound to other loopback addresses (127.0.0.2, ...)
are other machines as far as it can tell.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from support.console import PASSWORD, LiveConsole, log_in, token_in
from tradelane.web.throttle import LoginThrottle


def _from(live: LiveConsole, address: str, timeout: float = 30) -> httpx.Client:
    return httpx.Client(base_url=live.url, timeout=timeout, follow_redirects=False,
                        transport=httpx.HTTPTransport(local_address=address))


def _attack(live: LiveConsole, address: str, attempts: int, user: str = "ops") -> list[int]:
    """``attempts`` wrong logins from ``address``, all at once, in the background."""
    codes: list[int] = []

    def guess(n: int) -> None:
        try:
            with _from(live, address, timeout=120) as c:
                codes.append(log_in(c, password=f"guess-{n}", user=user).status_code)
        except httpx.HTTPError:
            pass  # the server stopped before answering this one

    for n in range(attempts):
        threading.Thread(target=guess, args=(n,), daemon=True).start()
    return codes


def _timed_login(live: LiveConsole, address: str, user: str = "ops",
                 password: str = PASSWORD) -> tuple[int, float]:
    with _from(live, address) as c:
        token = token_in(c.get("/login").text)
        started = time.monotonic()
        response = c.post("/login", data={"csrf_token": token, "next": "/",
                                          "username": user, "password": password})
        return response.status_code, time.monotonic() - started


def test_an_attack_from_one_address_does_not_delay_the_operator(live: LiveConsole) -> None:
    codes = _attack(live, "127.0.0.2", 20)
    time.sleep(1.0)  # the guesses are queued on the server by now
    status, took = _timed_login(live, "127.0.0.1")
    assert status == 303
    assert took < 0.5, f"the operator waited {took:.1f}s behind the attacker"
    # the attacker is still waiting, one guess after the other
    assert len(codes) <= 2
    live.server.config.timeout_graceful_shutdown = 1  # stop without waiting out the attack


def test_the_attacked_user_is_slowed_from_any_address(live: LiveConsole) -> None:
    codes = _attack(live, "127.0.0.2", 4)
    deadline = time.monotonic() + 20
    while len(codes) < 3 and time.monotonic() < deadline:  # 0.5 + 1.0 + 1.5 s
        time.sleep(0.1)
    assert codes[:3] == [401, 401, 401]
    # a wrong password for that user from elsewhere waits as long as the attacker's next one
    status, took = _timed_login(live, "127.0.0.3", password="typo")
    assert status == 401 and took >= 1.9
    # another user name from another address is not slowed by the attack on "ops"
    status, took = _timed_login(live, "127.0.0.4", user="admin", password="typo")
    assert status == 401 and 0.45 <= took < 1.0
    # and the right password is answered at once, from anywhere
    status, took = _timed_login(live, "127.0.0.5")
    assert status == 303 and took < 0.5
    live.server.config.timeout_graceful_shutdown = 1


# -- the throttle itself, with short delays --------------------------------------------------


def _throttle(**kwargs: float) -> LoginThrottle:
    return LoginThrottle(step=0.01, most=0.05, **kwargs)


def test_a_correct_login_is_never_delayed_by_others() -> None:
    throttle = _throttle()

    async def scenario() -> float:
        for _ in range(30):
            await throttle.attempt("10.0.0.1", "ops", lambda: False)
        started = time.monotonic()
        assert await throttle.attempt("10.0.0.2", "ops", lambda: True)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.005


def test_failures_from_one_address_queue_up() -> None:
    throttle = LoginThrottle(step=0.05, most=1.0)

    async def scenario() -> float:
        started = time.monotonic()
        await asyncio.gather(*(throttle.attempt("10.0.0.1", f"u{n}", lambda: False)
                               for n in range(4)))
        return time.monotonic() - started

    assert asyncio.run(scenario()) >= 0.05 + 0.10 + 0.15 + 0.20 - 0.01


def test_ipv6_neighbours_count_as_one_address() -> None:
    throttle = _throttle()
    assert throttle.address_key("2001:db8:1:2::7") == throttle.address_key("2001:db8:1:2:ffff::")
    assert throttle.address_key("2001:db8:1:3::7") != throttle.address_key("2001:db8:1:2::7")
    assert throttle.address_key("127.0.0.2") != throttle.address_key("127.0.0.3")


@pytest.mark.parametrize("dimension", ["address", "user"])
def test_memory_stays_bounded(dimension: str) -> None:
    throttle = LoginThrottle(step=0.0, most=0.0, max_entries=1000)

    async def scenario() -> None:
        for n in range(20_000):
            address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" \
                if dimension == "address" else "10.0.0.1"
            await throttle.attempt(address, f"user{n}" if dimension == "user" else "ops",
                                   lambda: False)

    asyncio.run(scenario())
    assert throttle.entries() <= 2 * 1000


def test_the_real_user_is_not_forgotten_when_names_flood_the_table() -> None:
    throttle = LoginThrottle(step=1.0, most=5.0, max_entries=100, keep_users=("ops",))
    for _ in range(5):
        throttle.record_failure("10.0.0.1", "ops")
    for n in range(1000):
        throttle.record_failure(f"10.1.{n >> 8}.{n & 255}", f"random{n}")
    assert throttle.delay("10.9.9.9", "ops") == 5.0


def test_failures_are_forgotten_after_a_while() -> None:
    throttle = LoginThrottle(step=1.0, most=5.0, forget=0.05)
    for _ in range(5):
        throttle.record_failure("10.0.0.1", "ops")
    assert throttle.delay("10.0.0.1", "ops") == 5.0
    time.sleep(0.06)
    assert throttle.delay("10.0.0.1", "ops") == 0.0
