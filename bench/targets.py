"""Targets beyond files against the tools people use by hand, each timed in the same run.

One part per target kind, chosen with ``--only``; each part is a function in ``PARTS`` that
returns its rows of results (printed as a table, or as JSON with ``--json``).

- ``table``: a 1,000,000-row CSV file loaded into PostgreSQL by ``tradelane run --once``
  (read, validate every field, ``table:`` target in insert mode: COPY FROM STDIN in the binary
  format, the marker row and the ledger) against ``psql -c "\\copy ... FROM ... CSV HEADER"``
  (no checks at all), alternating rounds, each side into a fresh table. Target: the route
  at >= 0.5x psql. ``route`` is the whole command (start-up and imports included), ``work``
  the same route timed inside a process whose imports are done (as in ``serve``). CPU is the
  client's own; the server parses binary rows faster than psql's CSV.

    .venv/bin/python bench/targets.py --only table            # 1M rows, 3 rounds
    .venv/bin/python bench/targets.py --only table --rows 200000 --rounds 1

- ``events``: 100,000 events (``BENCH_EVENTS``) to NATS JetStream through the ledger's
  outbox (``publish_due``: read the rows, publish with ``Nats-Msg-Id``, await the stream's
  acks, mark them sent) against a bare nats-py loop doing the same publishes, alternating
  rounds, each into a fresh stream (its message count checked). Target: >= 0.8x the loop.
  "vs base" is against the bare loop.

    .venv/bin/python bench/targets.py --only events --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TRADELANE = Path(sys.executable).parent / "tradelane"

# -- table: PostgreSQL -------------------------------------------------------------------------

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PSQL = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres",
        "-d", "test"]
TABLE_ROUTE = """\
source: {{folder: inbox/items, pattern: "*.csv", min_age: 0s}}
format: {{type: csv}}
fields:
  id:       {{type: integer, required: true, min: 1}}
  sku:      {{required: true, pattern: "[A-Z]{{2}}-[0-9]{{6}}"}}
  qty:      {{type: integer, required: true, min: 0}}
  price:    {{type: decimal, required: true, min: 0}}
  ship_on:  {{type: date, required: true}}
target:
  table: {{connection: wh, table: {table}, mode: insert, batch: 100000}}
"""
TABLE_DDL = "CREATE TABLE {table} (id BIGINT, sku TEXT, qty BIGINT, price NUMERIC(12,2)," \
    " ship_on DATE)"


def _generate(path: Path, rows: int) -> None:
    rnd = random.Random(20)
    with path.open("w") as out:
        out.write("id,sku,qty,price,ship_on\n")
        for i in range(1, rows + 1):
            out.write(f"{i},AB-{rnd.randrange(1_000_000):06d},{rnd.randrange(500)},"
                      f"{rnd.randrange(100_000) / 100:.2f},2026-{rnd.randrange(1, 13):02d}-"
                      f"{rnd.randrange(1, 29):02d}\n")


def _psql(sql: str) -> None:
    subprocess.run([*PSQL, "-c", sql], check=True, capture_output=True, text=True)


def _count(table: str) -> int:
    done = subprocess.run([*PSQL, "-tA", "-c", f"SELECT count(*) FROM {table}"], check=True,
                          capture_output=True, text=True)
    return int(done.stdout.strip())


def _timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}"
                         f"{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


#: the route in a child process, timed after its imports: the work alone (what a serve
#: process, whose imports are done once, spends per file)
IN_PROCESS = """\
import json, sys, time, resource
from tradelane.ledger import Ledger
from tradelane.runner import Runner
from tradelane.spec import load_project
import tradelane.targets.table, pyarrow.csv, psycopg  # noqa: the target's own imports
project = load_project(".")
with Ledger(project.settings.ledger_url, worker="bench") as ledger, \\
        Runner(project, ledger) as runner:
    start, cpu = time.perf_counter(), time.process_time()
    summary = runner.run_once(None)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
assert summary.exit_code == 0, summary
print(json.dumps([wall, cpu]))
"""


def _in_process(project: Path) -> tuple[float, float]:
    done = subprocess.run([sys.executable, "-c", IN_PROCESS], cwd=project, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"the in-process route failed:\n{done.stdout}{done.stderr}")
    wall, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, cpu


def _compiled() -> None:
    """Byte-compile the package, as pip does when it installs it. With PYTHONDONTWRITEBYTECODE
    set (as in these sessions) a module edited since its .pyc was written is compiled again by
    every timed process (table.py: ~50 ms on the loaded machine), which no install pays."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("tradelane")  # the tree the children import (PYTHONPATH)
    assert spec is not None and spec.origin is not None
    compileall.compile_dir(Path(spec.origin).parent, quiet=2)


def bench_table(rows: int, rounds: int) -> list[dict[str, Any]]:
    if shutil.which("psql") is None:
        raise SystemExit("the table part needs psql")
    _compiled()
    work = Path(tempfile.mkdtemp(prefix="bench-table-"))
    data = work / "items.csv"
    _generate(data, rows)
    size = data.stat().st_size
    times: dict[str, list[tuple[float, float]]] = {"route": [], "work": [], "psql": []}
    try:
        for n in range(rounds):
            table = f"bench_psql_{os.getpid()}_{n}"
            _psql(TABLE_DDL.format(table=table))
            try:  # psql's COPY: the server reads the rows, nothing is checked
                times["psql"].append(_timed(
                    [*PSQL, "-c", f"\\copy {table} FROM '{data}' CSV HEADER"], work))
                assert _count(table) == rows
            finally:
                _psql(f"DROP TABLE IF EXISTS {table}")

            for side in ("route", "work"):
                table = f"bench_{side}_{os.getpid()}_{n}"
                project = work / f"{side}{n}"
                (project / "mappings").mkdir(parents=True)
                (project / "inbox" / "items").mkdir(parents=True)
                (project / "tradelane.yaml").write_text(
                    f"connections:\n  wh:\n    database: {{url: \"{PG_URL}\"}}\n")
                (project / "mappings" / "items.yaml").write_text(
                    TABLE_ROUTE.format(table=table))
                _psql(TABLE_DDL.format(table=table))
                # the ledger exists before the nightly run, as in a deployment
                _timed([str(TRADELANE), "status"], project)
                shutil.copy(data, project / "inbox" / "items" / "items.csv")
                try:
                    times[side].append(
                        _timed([str(TRADELANE), "run", "--once"], project) if side == "route"
                        else _in_process(project))
                    assert _count(table) == rows, "the route did not load every row"
                finally:
                    _psql(f"DROP TABLE IF EXISTS {table}")
                    _psql(f"DELETE FROM tradelane_deliveries WHERE table_name = '{table}'")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best = {side: min(t[0] for t in runs) for side, runs in times.items()}
    cpu = {side: min(t[1] for t in runs) for side, runs in times.items()}
    median = {side: statistics.median(t[0] for t in runs) for side, runs in times.items()}
    return [{"part": "table", "side": side, "rows": rows, "mb": round(size / 1e6, 1),
             "best_s": round(best[side], 2), "median_s": round(median[side], 2),
             "cpu_s": round(cpu[side], 2),
             "rows_per_s": round(rows / best[side]),
             "vs_psql": round(best["psql"] / best[side], 2)}
            for side in ("route", "work", "psql")]


# -- events: NATS JetStream --------------------------------------------------------------------

EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")


def _bare_nats(subject: str, bodies: list[tuple[str, bytes]]) -> tuple[float, float]:
    """What a user writes by hand: nats-py, publish_async with Nats-Msg-Id, acks awaited per
    1,000 (the same rounds as the outbox's)."""
    import asyncio

    import nats

    async def go() -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        for start in range(0, len(bodies), 1000):
            futures = [await js.publish_async(subject, body, headers={"Nats-Msg-Id": mid})
                       for mid, body in bodies[start:start + 1000]]
            await asyncio.gather(*futures)
        await nc.close()

    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(go())
    return time.perf_counter() - wall, time.process_time() - cpu


def _outbox_nats(work: Path, subject: str, bodies: list[tuple[str, bytes]]) -> tuple[float, float]:
    """The ledger's outbox (SQLite, as a default project): rows as the outcomes' transactions
    wrote them, then published, confirmed and marked sent by ``publish_due``."""
    from sqlalchemy import func, insert, select

    from tradelane.events.publishing import publish_due
    from tradelane.ledger import Ledger
    from tradelane.ledger.store import utcnow
    from tradelane.ledger.tables import event_outbox

    target = json.dumps({"kind": "nats", "nats": NATS_URL, "subject": subject})
    now = utcnow()
    with Ledger(f"sqlite:///{work / 'ledger.db'}", worker="bench") as ledger:
        with ledger.begin() as conn:
            conn.execute(insert(event_outbox), [
                {"event_id": mid, "route": "bench", "file_id": None, "outcome": "delivered",
                 "target": target, "subject": subject, "body": body.decode(), "attempts": 0,
                 "next_try_at": now, "created_at": now} for mid, body in bodies])
        wall, cpu = time.perf_counter(), time.process_time()
        sent = publish_due(ledger, ["bench"])
        took = time.perf_counter() - wall, time.process_time() - cpu
        with ledger.engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(event_outbox)
                                .where(event_outbox.c.sent_at.is_(None))).scalar_one()
    assert sent == len(bodies) and left == 0, f"published {sent}, {left} left"
    return took


def bench_events(rows: int, rounds: int) -> list[dict[str, Any]]:
    """``EVENTS`` events (100,000; env BENCH_EVENTS) to NATS JetStream: the outbox against a
    bare nats-py loop, alternating rounds, each round into a fresh stream. Target >= 0.8x."""
    import asyncio
    import uuid

    import nats

    async def stream(name: str, subjects: list[str], drop: bool = False) -> int:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        if drop:
            count = (await js.stream_info(name)).state.messages
            await js.delete_stream(name)
        else:
            await js.add_stream(name=name, subjects=subjects)
            count = 0
        await nc.close()
        return count

    n = EVENTS
    times: dict[str, list[tuple[float, float]]] = {"outbox": [], "bare": []}
    size = 0
    for r in range(rounds):
        for side in (("outbox", "bare") if r % 2 == 0 else ("bare", "outbox")):
            tag = uuid.uuid4().hex[:8]
            name, subject = f"BENCH{tag}", f"bench{tag}.delivered"
            bodies = [(f"{tag}-{i}", json.dumps(
                {"event_id": f"{tag}-{i}", "type": "file.delivered", "route": "bench",
                 "file_id": i, "name": f"orders_{i}.csv", "outcome": "delivered",
                 "records": 120, "history": f"tradelane history {i}"}).encode())
                for i in range(n)]
            size = sum(len(b) for _, b in bodies)
            asyncio.run(stream(name, [f"bench{tag}.>"]))
            work = Path(tempfile.mkdtemp(prefix="bench-events-"))
            try:
                times[side].append(_outbox_nats(work, subject, bodies) if side == "outbox"
                                   else _bare_nats(subject, bodies))
            finally:
                got = asyncio.run(stream(name, [], drop=True))
                shutil.rmtree(work, ignore_errors=True)
            assert got == n, f"{side}: the stream holds {got} of {n} events"
    best = {side: min(t[0] for t in runs) for side, runs in times.items()}
    cpu = {side: min(t[1] for t in runs) for side, runs in times.items()}
    median = {side: statistics.median(t[0] for t in runs) for side, runs in times.items()}
    return [{"part": "events", "side": side, "rows": n, "mb": round(size / 1e6, 1),
             "best_s": round(best[side], 2), "median_s": round(median[side], 2),
             "cpu_s": round(cpu[side], 2), "rows_per_s": round(n / best[side]),
             "vs_psql": round(best["bare"] / best[side], 2)}
            for side in ("outbox", "bare")]


#: every part of the benchmark: name -> function(rows, rounds) -> result rows
PARTS: dict[str, Callable[[int, int], list[dict[str, Any]]]] = {"table": bench_table,
                                                               "events": bench_events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(PARTS), action="append",
                        help="run only this part (repeatable); default: all")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for name in args.only or sorted(PARTS):
        results.extend(PARTS[name](args.rows, args.rounds))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'part':6} {'side':6} {'rows':>9} {'MB':>6} {'best s':>7} {'cpu s':>6}"
          f" {'rows/s':>9} {'vs base':>7}")
    for r in results:
        print(f"{r['part']:6} {r['side']:6} {r['rows']:>9} {r['mb']:>6} {r['best_s']:>7}"
              f" {r['cpu_s']:>6} {r['rows_per_s']:>9} {r['vs_psql']:>6}x")


if __name__ == "__main__":
    main()
