"""The preparation time of an output: UNB 0017/0019 (EDIFACT), ISA09/10 and GS04/05 (X12).

A template may name a field that holds it (``prepared``). Otherwise it is the time the ledger
first recorded the file (``received_at``), the same for every attempt: a retry after a crash
between writing the output and recording its delivery (or after a target that was down)
writes the very same bytes, so the target finds its own output instead of refusing "different
content" at a deterministic name, and nothing is delivered twice. A reprocess by ops keeps it
too, deliberately: the output of an earlier attempt may already sit at the target under the
same name (a pending file's output written before its delivery could be recorded), and a
reprocessed file is still the file received then. The interchange is told apart by its
control numbers, not by its date; a partner that wants another date gets it from the
template's ``prepared`` field.

The pipeline sets the time of the file it delivers (``preparing``) around ``Target.deliver``;
writers ask ``prepared_at()``, which falls back to the clock outside a delivery (a dry run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

_CURRENT: ContextVar[datetime | None] = ContextVar("tradelane_prepared_at", default=None)


@contextlib.contextmanager
def preparing(at: datetime) -> Iterator[None]:
    """Let the writers called inside date their output ``at``."""
    token = _CURRENT.set(at)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def prepared_at() -> datetime:
    """The preparation time of the output being written: the file's, or now outside one."""
    at = _CURRENT.get()
    return at if at is not None else datetime.now(UTC)
