"""Where Arrow's buffers come from: jemalloc, unless the operator chose otherwise.

pyarrow's wheels default to mimalloc. In a fresh process, as a cron's ``run --once`` is, a
first pass over a big file took longer with it: reading the 47 MB CSV of ``bench/csv_route.py``
cost 0.24-0.27 s against 0.17 s with jemalloc, and the whole route 1.03 s against 0.97 s
(medians of 8, alternated). Arrow's jemalloc gives freed pages back to the OS at once, so a
long-running worker's memory falls back after each file. ``ARROW_DEFAULT_MEMORY_POOL``, Arrow's
own setting, still wins when it is set.
"""

from __future__ import annotations

import contextlib
import os

import pyarrow as pa

_chosen = False


def prefer_jemalloc() -> None:
    """Once per process, when the engine is made: Arrow's default pool becomes jemalloc."""
    global _chosen
    if _chosen:
        return
    _chosen = True
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    with contextlib.suppress(NotImplementedError):  # a build without it (Windows wheels)
        pa.set_memory_pool(pa.jemalloc_memory_pool())
