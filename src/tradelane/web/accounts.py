"""Who may log in to the console, and who a logged-in name is now.

Two modes, chosen by the ledger at each request: with console users (``tradelane user add``),
each logs in with their own name and password, checked against an argon2id hash; without
any, the single ops user of tradelane.yaml (``console.user``) logs in with the configured
password and is an admin (the history names ``console:ops``, as before users). A session's
name is looked up again on every request (``roles.current_user``), so removing or demoting a
user takes effect at once.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tradelane.ledger.users import Users, check_name
from tradelane.web.auth import Credentials
from tradelane.web.roles import Role, User

#: argon2id with the library's defaults (RFC 9106's second recommended profile: 64 MiB,
#: 3 passes); a hash made with weaker parameters is redone at the next good login.
_hasher = PasswordHasher()

#: Passwords shorter than this are refused when set (NIST SP 800-63B: at least 8).
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    """The argon2id hash to store; ValueError when the password is too short."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password is too short: at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("no such user: this only makes the wrong name cost as much")


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


class Accounts:
    """Checks logins and answers who a session's name is (``roles.Directory``)."""

    def __init__(self, users: Users, credentials: Credentials | None, single_user: str):
        self.users = users
        self.credentials = credentials  # None: no password configured (users only)
        self.single_user = single_user

    def user(self, name: str) -> User | None:
        role = self.users.role(name)
        if role is not None:
            return User(name, Role[role])
        if name == self.single_user and self.credentials is not None and not self.users.any():
            return User(self.single_user, Role.admin)
        return None  # removed, or a single-password session from before users existed

    def check(self, username: str, password: str) -> str | None:
        """The name to start a session for, or None: wrong name or password (which, never
        said, and both cost the same time). Blocking: argon2 takes tens of milliseconds."""
        if not self.users.any():
            if self.credentials is not None and self.credentials.matches(username, password):
                return self.single_user
            return None
        try:
            name: str | None = check_name(username)
        except ValueError:
            name = None
        found = self.users.get(name) if name else None
        if found is None or name is None:
            _verify(_dummy_hash(), password)
            return None
        _record, stored = found
        if not _verify(stored, password):
            return None
        if _hasher.check_needs_rehash(stored):
            self.users.set_password(name, _hasher.hash(password), end_sessions=False)
        return name

    def names(self) -> list[str]:
        return [record.name for record in self.users.list()] or [self.single_user]


__all__ = ["MIN_PASSWORD", "Accounts", "hash_password"]
