"""Named crash points, so that the chaos tests can kill the engine between any two steps.

``crash_point("delivered-committed")`` does nothing unless the environment variable
``TRADELANE_CRASH_AT`` names that point; only the tests in ``tests/chaos/`` set it. Then the
process kills itself with SIGKILL (no clean-up, no ``finally``, no flushed buffers), exactly as
a power cut or the OOM killer would.

``TRADELANE_CRASH_AT`` holds comma-separated ``NAME`` or ``NAME:N`` items: crash at the Nth time
the point is reached in this process (default the first). ``TRADELANE_CRASH_LOG``, if set, is a
file each reached point is appended to (one name per line), so a harness learns which points a
run passes through and can aim at each of them.
"""

from __future__ import annotations

import os
import signal
import threading

#: Every crash point in the engine, in the order a file meets them. The chaos harness aims at
#: each one; a point missing from here is an error when it is reached under test.
POINTS = (
    "claimed",                 # after the claim commit, before anything is read
    "lease-renewed",           # the claims in hand were renewed (lease_keeper), work goes on
    "staged",                  # the snapshot is taken, nothing is written yet
    "numbers-allocated",       # control numbers are taken for an output, not yet written
    "output-written",          # outputs are durable on disk, the ledger does not know yet
    "delivered-committed",     # the ledger says delivered (with its follow-up work)
    "split-written",           # the split-out rejects are in quarantine
    "ack-written",             # acknowledgements are written
    "sent-recorded",           # an interchange sent is recorded, the step not yet done
    "ack-recorded",            # an acknowledgement received is recorded, the step not yet done
    "original-moved",          # the original is archived/deleted, not yet recorded
    "archived-committed",      # the ledger says archived
    "reason-written",          # a reject's reason file is written, the file is not moved yet
    "quarantine-written",      # the reject sits in quarantine, the ledger does not know yet
    "quarantined-committed",   # the ledger says quarantined
    "rejected-original-gone",  # a reject's original is removed from the inbox
    "table-batch-committed",   # a batch of rows is committed in a table (commit: batch)
    "table-committed",         # a file's rows are committed in a table, the ledger not told
    "table-source-status-set",  # a table source's rows have their new status, not yet settled
    "table-source-settling",   # a table source's snapshot is finished, its watermark not moved
    "http-batch-sent",         # an HTTP batch was answered, its outcome not yet recorded
    "as2-sent",                # an AS2 message was posted, its MDN not yet recorded
    "as2-stored",              # a received AS2 payload is stored, its MDN not yet answered
    "event-published",         # the broker confirmed events, the outbox not yet told
    "event-marked",            # the outbox says the events are sent
    "edit-written",            # an edit by ops is kept next to the original, not yet recorded
    "edit-recorded",           # the ledger points at the edit, it is not reprocessed yet
)

_ARMED: dict[str, int] = {}
_SEEN: dict[str, int] = {}
_LOG: str | None = None
_LOCK = threading.Lock()


def arm_from_environment() -> None:
    """Read ``TRADELANE_CRASH_AT`` and ``TRADELANE_CRASH_LOG`` again, forgetting the counts.

    Done once at import; the chaos harness calls it again in a process forked from a warm
    interpreter (one import of the engine, hundreds of runs)."""
    global _LOG
    _ARMED.clear()
    _SEEN.clear()
    _LOG = os.environ.get("TRADELANE_CRASH_LOG")
    spec = os.environ.get("TRADELANE_CRASH_AT", "")
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, nth = item.partition(":")
        _ARMED[name] = int(nth or 1)


arm_from_environment()


def crash_point(name: str) -> None:
    """Die here if the tests asked for it (see the module docstring); otherwise nothing."""
    if not _ARMED and _LOG is None:
        return
    if name not in POINTS:
        raise AssertionError(f"crash point {name!r} is not declared in crashpoints.POINTS")
    with _LOCK:
        _SEEN[name] = count = _SEEN.get(name, 0) + 1
        if _LOG is not None:
            with open(_LOG, "a", encoding="utf-8") as fh:
                fh.write(f"{name}\n")
    if _ARMED.get(name) == count:
        os.kill(os.getpid(), signal.SIGKILL)
