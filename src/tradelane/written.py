"""The interchanges the writers of one delivery wrote, told back for acknowledgement tracking.

The EDIFACT and X12 writers know the envelope they write (references, partners, messages), so
they say it here (``wrote``) instead of the file being read back: the interchange is recorded
as sent whatever the target (a folder, SFTP, FTP, AS2, HTTP). The pipeline collects around
``Target.deliver`` (``collecting``) and records what was written with the delivery, as its
``sent`` follow-up steps; outside a delivery (a dry run) nothing is collected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # made by the EDI writers: a CSV route never loads their tokenizer
    from tradelane.formats.ack_reading import SentInterchange

_CURRENT: ContextVar[list[SentInterchange] | None] = ContextVar("tradelane_written",
                                                                 default=None)


@contextlib.contextmanager
def collecting() -> Iterator[list[SentInterchange]]:
    """The interchanges written inside, filled in as the writers write them."""
    written: list[SentInterchange] = []
    token = _CURRENT.set(written)
    try:
        yield written
    finally:
        _CURRENT.reset(token)


def wrote(sent: SentInterchange) -> None:
    """A writer wrote ``sent``; a target that writes again (its own retry) replaces it."""
    written = _CURRENT.get()
    if written is None:
        return
    written[:] = [s for s in written if (s.standard, s.recipient, s.control_ref)
                  != (sent.standard, sent.recipient, sent.control_ref)]
    written.append(sent)
