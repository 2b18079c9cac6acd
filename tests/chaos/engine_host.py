"""A warm interpreter that runs ``tradelane`` commands in forked children, for the crash harness.

Importing the engine (pandas, pyarrow, SQLAlchemy) costs most of a ``tradelane run --once``;
forking a process that has imported it once costs a few milliseconds. Each child is the real
command (``tradelane.cli.app``) with its own environment, crash points re-armed from it, and
its output in files; it dies at a crash point by SIGKILL, or is SIGKILLed by this host after
``kill_after`` seconds.

Protocol, one JSON object per line: the harness writes
``{"args": [...], "env": {...}, "out": PATH, "kill_after": SECONDS | null, "timeout": S}`` and
reads back ``{"exit": CODE, "killed": BOOL, "seconds": S}``; ``exit`` is ``-9`` for a SIGKILL,
by a crash point or by the host.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import tradelane.cli.main  # the warm part: the engine and its libraries
import tradelane.pipeline
import tradelane.runner  # noqa: F401
from tradelane import crashpoints


def _child(request: dict) -> None:
    os.environ.update(request["env"])
    crashpoints.arm_from_environment()
    out = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    code = 1
    try:
        from tradelane.cli import app

        app(request["args"], prog_name="tradelane")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # a crash of the command itself: exit 1, as the console script does
        import traceback

        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _wait(pid: int, kill_after: float | None, timeout: float) -> tuple[int, bool]:
    start = time.monotonic()
    killed = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), killed
        elapsed = time.monotonic() - start
        if not killed and ((kill_after is not None and elapsed >= kill_after)
                           or elapsed >= timeout):
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.002)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(request)
        code, killed = _wait(pid, request.get("kill_after"), request.get("timeout", 120))
        answer = {"exit": code, "killed": killed, "seconds": time.monotonic() - start}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
