"""``tradelane serve`` reloads mappings as they are edited, broken and fixed (issue 16): a real
subprocess, a real folder, files dropped in between the edits."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Callable

from support.project import ProjectDir
from support.serving import WATCHED, Serve, wait_for


def _logged(server: Serve, text: str) -> bool:
    return any(text in str(r.get("msg")) for r in server.logs())


def _open_alerts(project: ProjectDir) -> list[str]:
    db = project.root / ".tradelane" / "ledger.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return [k for (k,) in conn.execute("SELECT key FROM alerts WHERE resolved_at IS NULL")]


def test_serve_reloads_an_edited_then_broken_then_fixed_mapping(
        project: ProjectDir, serve: Callable[..., Serve]) -> None:
    project.route("orders", WATCHED).settings("alerts: {check_every: 1s}\n")
    (project.root / "inbox" / "orders").mkdir(parents=True)
    server = serve()
    project.file("inbox/orders/o1.csv", "id,qty\nA1,1\n")
    wait_for(lambda: (project.root / "outbox/orders/o1.out.csv").exists(), 20, "o1 delivered")

    # edited: the next file is named by the new version
    project.route("orders", WATCHED.replace("{stem}.out.csv", "{stem}.v2.csv"))
    wait_for(lambda: _logged(server, "reload: route orders changed"), 15, "the change logged")
    project.file("inbox/orders/o2.csv", "id,qty\nA2,2\n")
    wait_for(lambda: (project.root / "outbox/orders/o2.v2.csv").exists(), 20, "o2 delivered")

    # broken: the version loaded before keeps running, with an alert
    project.route("orders", WATCHED.replace("{stem}.out.csv", "{stem}.v3.csv")
                  .replace("format: {type: csv}", "format: {type: csv, delimeter: ';'}"))
    wait_for(lambda: _logged(server, "reload: route orders: its mapping is invalid; still"
                                     " running the version loaded before"), 15, "broken")
    assert _logged(server, "did you mean 'delimiter'?")
    project.file("inbox/orders/o3.csv", "id,qty\nA3,3\n")
    wait_for(lambda: (project.root / "outbox/orders/o3.v2.csv").exists(), 20, "o3 delivered")
    wait_for(lambda: _open_alerts(project) == ["invalid:orders"], 15, "the alert")

    # fixed: the new version runs and the alert is resolved
    project.route("orders", WATCHED.replace("{stem}.out.csv", "{stem}.v3.csv"))
    wait_for(lambda: _logged(server, "reload: route orders is valid again"), 15, "fixed")
    project.file("inbox/orders/o4.csv", "id,qty\nA4,4\n")
    wait_for(lambda: (project.root / "outbox/orders/o4.v3.csv").exists(), 20, "o4 delivered")
    wait_for(lambda: _open_alerts(project) == [], 15, "the alert resolved")

    # a new route is picked up too; SIGHUP reloads on demand
    project.route("more", WATCHED.replace("orders", "more"))
    wait_for(lambda: _logged(server, "reload: route more added"), 15, "the new route")
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: _logged(server, "reload (SIGHUP)"), 15, "SIGHUP")
    wait_for(lambda: _logged(server, "reload: nothing changed"), 15, "nothing changed")
    assert server.proc.poll() is None
    assert server.stop() == 0
    assert not any("Traceback" in json.dumps(r) for r in server.logs())
