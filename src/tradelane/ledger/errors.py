"""The ledger's boundary: every database error becomes one of the engine's own.

A listener on the engine (``handle_error``) sees every failure, at connect time and in any
statement, whoever runs it (the ledger, alerts, the outbox, the console), and raises instead:

- ``LedgerDamaged`` (a configuration error, exit 2) when the database is not a ledger any
  more: the file is not a database, is malformed, or has no ledger tables;
- ``LedgerUnavailable`` (transient, exit 4) for the rest: locked, read-only, a full disk,
  a server that is down or refuses us. Writes retry it a few times (``retrying``).

Integrity errors are left alone: the ledger never relies on them, so one is a bug to see.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy import exc as sa_exc

from tradelane.errors import ConfigError, LedgerUnavailable

T = TypeVar("T")

_DAMAGED = re.compile(r"file is not a database|malformed|no such table|does not exist|"
                      r"file is encrypted|not an error", re.IGNORECASE)
#: Tries of a ledger write whose database is momentarily unavailable, and the first wait.
ATTEMPTS, FIRST_WAIT = 3, 0.2


class LedgerDamaged(ConfigError):
    """The ledger database is damaged or is not a ledger: it needs a person, not a retry."""

    def __init__(self, where: str, cause: str):
        self.where, self.cause = where, cause
        super().__init__(f"the ledger ({where}) is damaged or is not a tradelane ledger:"
                         f" {cause}. Restore it from a backup, or move it away to start a new"
                         " one.")


def describe(engine: Engine) -> str:
    """Where the ledger is, for messages: a file path, or the URL without its password."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


_TRANSLATED: weakref.WeakSet[Engine] = weakref.WeakSet()


def translate_errors(engine: Engine) -> None:
    """Make every database error of ``engine`` one of the engine's own (see the module)."""
    if engine in _TRANSLATED:
        return
    _TRANSLATED.add(engine)
    where = describe(engine)

    @event.listens_for(engine, "handle_error")
    def _translate(context: Any) -> None:
        error = context.sqlalchemy_exception
        if isinstance(error, sa_exc.IntegrityError):
            return
        cause = str(getattr(context.original_exception, "args", [""])[0] or
                    context.original_exception).strip().splitlines()[0]
        if _DAMAGED.search(cause):
            raise LedgerDamaged(where, cause) from context.original_exception
        raise LedgerUnavailable(where, cause) from context.original_exception


def retrying(action: Callable[[], T]) -> T:
    """``action``, tried again after a short wait when the ledger is unavailable."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return action()
        except LedgerUnavailable:
            if attempt == ATTEMPTS:
                raise
            time.sleep(FIRST_WAIT * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
