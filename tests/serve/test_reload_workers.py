"""A ``workers: N`` route whose mapping breaks while ``tradelane serve`` runs keeps running
its old version in its worker processes too (issue 16): they are handed the route spec the
server holds, never the broken file on disk. A real subprocess and real worker processes."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable

from support.orders import orders_route
from support.project import ProjectDir
from support.serving import Serve, wait_for

ROUTE = orders_route('{folder: outbox/orders, format: csv, name: "{stem}.out.csv"}', min_age="1s",
                     more="workers: 2\nevery: 2s")
FILES = 80  # a poll of 64 files or more is shared with the worker processes


def _logged(server: Serve, text: str) -> bool:
    return any(text in str(r.get("msg")) for r in server.logs())


def _delivering_actors(project: ProjectDir) -> set[str]:
    db = project.root / ".tradelane" / "ledger.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return {a for (a,) in conn.execute(
            "SELECT DISTINCT actor FROM events WHERE to_state = 'delivered'")}


def test_workers_keep_the_old_version_after_a_bad_reload(project: ProjectDir,
                                                          serve: Callable[..., Serve]) -> None:
    project.route("orders", ROUTE).settings("worker: engine\nalerts: {check_every: 1s}\n")
    project.drop("orders", "first.csv", "id,qty\nA0,1\n")
    server = serve()
    out = project.root / "outbox" / "orders"
    wait_for(lambda: (out / "first.out.csv").exists(), 30, "the first file delivered")

    # broken: a typo, and a new output name that must not be used
    project.route("orders", ROUTE.replace("{stem}.out.csv", "{stem}.v2.csv")
                  .replace("format: {type: csv}", "format: {type: csv, delimeter: ';'}"))
    os.kill(server.proc.pid, 1)  # SIGHUP: reload now
    wait_for(lambda: _logged(server, "reload: route orders: its mapping is invalid; still"
                                     " running the version loaded before"), 20, "the break")

    # one listing of many files (the same age: all ready in the same poll) for the workers
    inbox = project.root / "inbox" / "orders"
    for i in range(FILES):
        (inbox / f"o{i:03}.csv").write_text(f"id,qty\nB{i},{i}\n")
    now = time.time()
    for path in inbox.glob("o*.csv"):
        os.utime(path, (now, now))
    wait_for(lambda: len(list(out.glob("o*.out.csv"))) == FILES, 120,
             f"{FILES} files delivered by the old version")
    assert list(out.glob("*.v2.csv")) == []
    workers = {a for a in _delivering_actors(project) if a.startswith("engine/")}
    assert workers, "no file was delivered by a worker process"
    assert not _logged(server, "internal error")
    assert not any("Traceback" in str(r) for r in server.logs())
    assert server.stop() == 0
