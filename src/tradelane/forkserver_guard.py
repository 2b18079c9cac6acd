"""Imported only by the fork server of ``processes.WorkerPool`` (its first preload module): the
fork server exits as soon as the engine process that started it is gone, even while it is still
importing the engine, so that a SIGKILLed engine leaves no process behind.

On Linux the kernel kills it when the engine's thread that started it ends
(``PR_SET_PDEATHSIG``), whatever it is doing; elsewhere, and as a second line, a watchdog
thread notices that the engine is gone or that it was handed to another parent (init, or a
subreaper).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time

#: The engine process: named by the engine itself, since it may already be gone (and this
#: process handed to init) by the time this module is imported.
_ENGINE = int(os.environ.get("TRADELANE_ENGINE_PID", os.getppid()))  # processes.ENGINE_PID
_PR_SET_PDEATHSIG = 1

with contextlib.suppress(OSError, AttributeError):
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _engine_alive() -> bool:
    try:
        os.kill(_ENGINE, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return os.getppid() == _ENGINE


def _watch() -> None:
    while _engine_alive():
        time.sleep(0.05)
    os._exit(0)


threading.Thread(target=_watch, name="engine-watch", daemon=True).start()
