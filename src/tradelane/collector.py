"""Python's cyclic garbage collector, set for batch work once the engine is loaded.

Reading a file allocates millions of short-lived tuples and lists (segments, elements, rows)
that reference counting frees on its own; with the default threshold (700) the collector still
walks the young generation every few hundred of them, and the long-lived objects loaded at
start (compiled directories, spec models, libraries) on every older pass: a quarter of an
EDIFACT route's CPU time in ``bench/edifact.py``. Freezing what is loaded and collecting the
young generation every 50,000 allocations takes that to a few percent; cyclic garbage waits a
little longer, which costs a few megabytes at most.
"""

from __future__ import annotations

import gc

#: Young-generation threshold: allocations between two collections (CPython's default: 700).
YOUNG = 50_000

_tuned = False


def tune_for_batches() -> None:
    """Once per process, when the engine is made: freeze what is loaded, collect less often."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    # the young generations only: the old one holds what imports made, with next to no garbage
    # (none found after importing the engine), and walking it was 0.07-0.12 s of a CSV route
    gc.collect(1)
    gc.freeze()  # start-up objects live as long as the process: never walk them again
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG, max(older, 20), max(oldest, 20))
