"""Worker processes for routes with ``workers: N``, when a poll lists many files.

Parsing and validating is CPU work, and threads share one interpreter lock: N processes use N
cores. The parent lists the source and shares the listed files, in tasks of up to
``TASK_FILES`` that shrink as the list runs out (so that all finish together), between itself
and N - 1 worker processes. Each worker process is a whole ``Pipeline`` with its own ledger
connection, so the ledger's claims still give every file to exactly one of them, and a
process that dies leaves its files claimed until their lease runs out, as any crashed worker
would.

Workers ignore SIGINT/SIGTERM: the parent decides when to stop, and a stop request reaches
them through a shared event, honoured between chunks like in the parent. They die with the
parent, even a SIGKILLed one: the kernel kills them when the fork server (their parent) goes
(``PR_SET_PDEATHSIG``), and a watchdog thread also checks that the parent process still lives.
Their log records travel to the parent through a queue and are written by the parent's
handlers. Errors come back as themselves (every ``TradelaneError`` pickles).

Workers never read the mappings or ``tradelane.yaml`` from disk: they are given the project
the parent runs when they start, and each task carries the route spec the parent holds.
``serve`` keeps running the old version of a route whose mapping became invalid, and its
workers must too, not the broken file (or a newer one the parent has not reloaded yet).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import logging.handlers
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from tradelane.errors import TransientError
from tradelane.logs import ContextFilter

if TYPE_CHECKING:
    from tradelane.models import FileRef, FileResult
    from tradelane.pipeline import Pipeline
    from tradelane.spec import Project, RouteSpec

log = logging.getLogger(__name__)

#: Files per task handed to a worker: small enough to spread the load and to stop quickly,
#: big enough for the worker's chunks (group commits) to reach their full size.
TASK_FILES = 128
#: The engine's pid, in the fork server's environment (read by ``forkserver_guard``).
ENGINE_PID = "TRADELANE_ENGINE_PID"
#: The last tasks of a poll are this small: no process waits long for another's last one.
LAST_TASK_FILES = 16


class WorkerPool:
    """``size`` worker processes, started on first use and kept for the pipeline's life."""

    def __init__(self, project: Project, ledger_url: str, worker: str, size: int):
        self.size = size
        self.broken = False  # a worker died: the pipeline starts a new pool
        context = _context()
        self._stop = context.Event()
        self._logs: Any = context.Queue()
        self._listener = logging.handlers.QueueListener(self._logs, _ToLocalLoggers())
        self._listener.start()
        self._pool = ProcessPoolExecutor(
            size, mp_context=context, initializer=_start_worker,
            initargs=(project, ledger_url, worker, self._stop, self._logs,
                      logging.getLogger().getEffectiveLevel(), os.getpid()))

    def take(self, route: RouteSpec, refs: list[FileRef],
             here: Callable[[list[FileRef]], Iterable[FileResult]],
             stop: threading.Event | None = None) -> Iterator[FileResult]:
        """Results as tasks finish. This process works through tasks too, with ``here``,
        while the workers are busy (or still starting). Raises TransientError/ConfigError
        like a poll in this process would."""
        waiting = collections.deque(refs)
        running: set[Future[Any]] = set()
        try:
            while waiting or running:
                if stop is not None and stop.is_set():
                    self._stop.set()  # running tasks finish their chunk; no new ones
                    waiting.clear()
                # each worker busy with one task and one queued, and a task left for this one
                while len(waiting) > LAST_TASK_FILES and len(running) < 2 * self.size:
                    running.add(self._pool.submit(_take, route, self._cut(waiting)))
                if waiting:
                    yield from here(self._cut(waiting))
                    done, running = wait(running, timeout=0)
                else:
                    done, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()
        except BrokenProcessPool as exc:
            self.broken = True
            raise TransientError(f"a worker process stopped unexpectedly ({exc}); its files "
                                 "are taken again when their lease runs out") from None
        finally:
            for future in running:
                future.cancel()

    def _cut(self, waiting: collections.deque[FileRef]) -> list[FileRef]:
        """The next task: a share of what is left (guided scheduling), within bounds."""
        share = len(waiting) // (2 * (self.size + 1))
        size = min(len(waiting), max(LAST_TASK_FILES, min(TASK_FILES, share)))
        return [waiting.popleft() for _ in range(size)]

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._listener.stop()
        _stop_fork_server()


def _stop_fork_server() -> None:
    """Stop the fork server with the pool, instead of leaving it to notice our exit: it may
    still be importing the engine. (``ForkServer._stop`` is how CPython's own tests do it.)"""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        with contextlib.suppress(OSError):
            stop()


def _context() -> Any:
    """Never fork this process (it may hold locks and connections). A fork server starts
    clean, imports the engine once, and forks each worker from there: half the start-up CPU
    of spawning each from scratch. Spawn where there is no fork server (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # the fork server inherits this: it learns which process to die with, even one that is
    # gone before the fork server has started
    os.environ[ENGINE_PID] = str(os.getpid())
    # the guard first: the fork server must not outlive the engine while it imports the rest
    context.set_forkserver_preload(["tradelane.forkserver_guard", "tradelane.pipeline"])
    return context


class _ToLocalLoggers(logging.Handler):
    """Hands a worker's record to the parent's logger of the same name."""

    def handle(self, record: logging.LogRecord) -> bool:
        logging.getLogger(record.name).handle(record)
        return True


# -- inside a worker process --------------------------------------------------------------------

_PIPELINE: Pipeline | None = None


def _start_worker(project: Project, ledger_url: str, worker: str, stop: Any, logs: Any,
                  level: int, parent: int) -> None:
    global _PIPELINE
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with(parent)
    handler = logging.handlers.QueueHandler(logs)  # sends the message text, unformatted
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(ContextFilter())  # the bound route/file travel with the record
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(level)

    from tradelane.ledger import Ledger
    from tradelane.pipeline import Pipeline

    ledger = Ledger(ledger_url, worker=f"{worker}/{os.getpid()}",
                    lease=project.settings.lease)
    _PIPELINE = Pipeline(project, ledger, stop=stop)


def _take(route: RouteSpec, refs: list[FileRef]) -> list[FileResult]:
    """``route`` is the parent's spec (pickled with the task: a few kilobytes)."""
    from tradelane.sources import source_for

    assert _PIPELINE is not None
    return _PIPELINE.take_listed(route, source_for(route, _PIPELINE.settings), refs)


_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Never outlive the engine process: a SIGKILLed parent leaves no orphans at work."""
    # Linux: the kernel sends SIGKILL when our parent (the fork server) exits
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch() -> None:  # the fork server may outlive the engine by a moment: check it too
        while True:
            time.sleep(0.1)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
