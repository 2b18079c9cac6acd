"""The process the reader fuzz tests feed: one input at a time, under a memory limit.

Run by ``test_fuzz_readers.py`` as ``python fuzz_worker.py PROJECT``. Each request on stdin is
a route name and the bytes of a file (each as a 4-byte length, then the data); each answer on
stdout is one JSON line: ``{"outcome": "ok" | "reject" | "crash" | "memory" | "timeout", ...}``.

The memory limit is ``RLIMIT_AS`` (address space), set once the engine is imported to its
size then plus ``TRADELANE_FUZZ_MEMORY_MB`` (512 by default): reading one small input must not
need more. The time limit is ``setitimer`` inside (5 s), and the parent kills a worker that
does not answer in twice that, in case a parser is stuck where no signal reaches Python.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import struct
import sys
import traceback
from pathlib import Path
from typing import Any

from tradelane.checking import Checked, checked_batches
from tradelane.errors import ConfigError, RejectError
from tradelane.formats import reader_for
from tradelane.spec import load_project
from tradelane.staging import Staged

SECONDS = 5


class Timeout(BaseException):  # not an Exception: no reader's except clause swallows it
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout


def _read_exactly(stream: Any, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError
    return data


def _frame(stream: Any) -> bytes:
    (size,) = struct.unpack(">I", _read_exactly(stream, 4))
    return _read_exactly(stream, size)


def run(route: Any, data: bytes) -> dict[str, Any]:
    """Read, validate and transform ``data`` on ``route``, as the pipeline does."""
    checked = Checked()
    records = 0
    try:
        docs = reader_for(route).read(Staged(size=len(data), data=data), route)
        for doc in checked_batches(docs, route, checked, limit=100):
            records += len(doc.records)
    except RejectError as exc:
        located = bool(exc.issues) and all(i.location for i in exc.issues)
        return {"outcome": "reject", "located": located, "type": type(exc).__name__,
                "message": exc.message[:500], "issues": len(exc.issues)}
    except ConfigError as exc:  # the route's own settings, e.g. a derived field's types
        return {"outcome": "config", "message": str(exc)[:500]}
    except MemoryError:
        return {"outcome": "memory"}
    return {"outcome": "ok", "records": records}


def main() -> None:
    project = load_project(Path(sys.argv[1]))
    signal.signal(signal.SIGALRM, _alarm)
    with open("/proc/self/status") as fh:
        size = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize"))
    extra = int(os.environ.get("TRADELANE_FUZZ_MEMORY_MB", "512")) << 20
    resource.setrlimit(resource.RLIMIT_AS, (size + extra, size + extra))
    out = sys.stdout
    print(json.dumps({"ready": True, "limit_mb": (size + extra) >> 20}), file=out, flush=True)
    while True:
        try:
            name = _frame(sys.stdin.buffer).decode()
            data = _frame(sys.stdin.buffer)
        except EOFError:
            return
        signal.setitimer(signal.ITIMER_REAL, SECONDS)
        try:
            answer = run(project.routes[name], data)
        except Timeout:
            answer = {"outcome": "timeout"}
        except BaseException as exc:  # what the test is looking for: a reader that crashed
            answer = {"outcome": "crash", "type": type(exc).__name__,
                      "traceback": "".join(traceback.format_exception(exc))[-4000:]}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        print(json.dumps(answer), file=out, flush=True)


if __name__ == "__main__":
    main()
