"""``tradelane serve`` as ops run it: a subprocess, files dropped in, SIGTERM mid-file."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable

from support.project import ProjectDir
from support.serving import WATCHED, Serve, big_csv, wait_for


def test_serve_delivers_watched_files_and_stops_cleanly(project: ProjectDir,
                                                        serve: Callable[..., Serve]) -> None:
    project.route("orders", WATCHED).settings("health: {heartbeat: 1s}\n")
    (project.root / "inbox" / "orders").mkdir(parents=True)
    server = serve("--health-port", "0")
    line = server.proc.stdout.readline() if server.proc.stdout else ""
    assert line.startswith("health: http://127.0.0.1:"), line
    url = line.split()[1]
    for i in range(3):
        project.file(f"inbox/orders/o{i}.csv", f"id,qty\nA{i},{i}\n")
    wait_for(lambda: len(project.outputs("orders")) == 3, 15, "3 outputs")
    health = json.loads(wait_for(lambda: _get(url), 10, "a healthy /healthz"))
    assert health["status"] == "ok"
    assert server.stop() == 0
    records = server.logs()
    assert any(r.get("route") == "orders" and "delivered o1.csv" in str(r["msg"])
               for r in records)
    assert set(server.states().values()) == {"archived"}


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def test_sigterm_mid_file_finishes_it_and_loses_nothing(project: ProjectDir,
                                                        serve: Callable[..., Serve]) -> None:
    project.route("orders", WATCHED)
    server = serve()
    wait_for(lambda: (project.root / ".tradelane" / "ledger.db").exists(), 15, "the ledger")
    # the big file is the oldest, so it is taken first; five small ones wait behind it
    project.drop("orders", "big.csv", big_csv(300_000), age=60)
    for i in range(5):
        project.drop("orders", f"small{i}.csv", f"id,qty\nS{i},1\n", age=30 - i)
    wait_for(lambda: server.states().get("big.csv") == "claimed", 30, "big.csv in hand")
    stopped_at = time.monotonic()
    assert server.stop(timeout=60) == 0
    took = time.monotonic() - stopped_at
    states = server.states()
    # the file in hand was finished and recorded; nothing else was started
    assert states["big.csv"] == "archived", states
    assert not any(name.startswith("small") for name in states), states
    assert len(project.inbox("orders")) == 5
    assert took < 60
    # the next run delivers the rest, each file exactly once
    summary = project.run()
    assert summary.exit_code == 0
    names = sorted(p.name for p in project.outputs("orders"))
    assert names == ["big.out.csv"] + [f"small{i}.out.csv" for i in range(5)]
    big_out = project.root / "outbox" / "orders" / "big.out.csv"
    assert big_out.read_text().count("\n") == 300_001
    with project.ledger() as ledger:
        files = ledger.files()
    assert len(files) == 6 and {f.state.value for f in files} == {"archived"}
    assert all(f.attempt == 1 for f in files)


def test_a_bad_schedule_disables_its_route_not_serve(project: ProjectDir,
                                                     serve: Callable[..., Serve]) -> None:
    # one bad mapping must not make serve exit (a restart loop under systemd): the route is
    # disabled with the reason, and a fix is picked up without a restart (test_reload.py)
    project.route("orders", WATCHED.replace("every: 1m", 'schedule: "0 25 * * *"'))
    server = serve()
    wait_for(lambda: "mappings/orders.yaml: schedule:" in server.log.read_text(), 30,
             "the route's problem logged")
    assert "route orders is disabled" in server.log.read_text()
    assert server.proc.poll() is None
    assert server.stop() == 0


def test_a_bad_tradelane_yaml_is_a_configuration_error(project: ProjectDir,
                                                       serve: Callable[..., Serve]) -> None:
    project.route("orders", WATCHED).settings("serve: {workerz: 2}\n")
    server = serve()
    assert server.proc.wait(30) == 2
    assert "tradelane.yaml: serve.workerz: unknown option" in server.log.read_text()
