"""Scale-out (issue 18): 5,000 small files through one route by 1 worker on SQLite and by 1,
2 and 4 workers on one PostgreSQL ledger, in the same run: files per second and the ratios.

A worker is a ``tradelane run --once`` process; the N workers of a setup are started
together over the same inbox and race for its files through the ledger's claims, as N serve
processes on N hosts do. Each setup gets a fresh project folder and a fresh ledger (a new
PostgreSQL schema), and afterwards every file must be archived once with one output.
Targets on the 2-core machine: 2 workers >= 1.7x one worker on PostgreSQL; one worker on
PostgreSQL >= 0.8x one worker on SQLite.

It also measures, first, a worker's start-up CPU (subtracted from the CPU per file it
prints) and, in this process, what one file costs the PostgreSQL ledger (statements,
commits, time waiting for them) and the storage. Every setup runs ``--repeat`` times; the
ratios are taken within each round and shown as median and best.

    .venv/bin/python bench/scaleout.py [--files 5000] [--repeat 3] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROUTE = """\
source: {folder: inbox/orders, pattern: "*.csv", min_age: 0s}
format: {type: csv, delimiter: ";"}
fields:
  order_id: {required: true, pattern: "PO-[0-9]+"}
  qty:      {type: integer, required: true, min: 1}
  price:    {type: decimal, required: true}
target: {folder: outbox/orders, format: json, name: "{stem}.json"}
"""
TRADELANE = Path(sys.executable).with_name("tradelane")


def make_project(root: Path, ledger: str, files: int) -> None:
    (root / "mappings").mkdir(parents=True)
    (root / "mappings" / "orders.yaml").write_text(ROUTE)
    (root / "tradelane.yaml").write_text(f"ledger: '{ledger}'\n")
    inbox = root / "inbox" / "orders"
    inbox.mkdir(parents=True)
    body = "order_id;qty;price\n" + "".join(f"PO-{i};{i % 9 + 1};{i}.50\n" for i in range(20))
    then = time.time() - 60
    for i in range(files):
        path = inbox / f"order-{i:05}.csv"
        path.write_text(body.replace("PO-", f"PO-{i}"))
        os.utime(path, (then, then))
    os.sync()


def run(root: Path, workers: int) -> float:
    """Seconds from starting ``workers`` processes to the last one's exit (their CPU time
    is in ``RUSAGE_CHILDREN``)."""
    return run_each([root] * workers)


def run_each(roots: list[Path]) -> float:
    """``run`` with one worker per project in ``roots``, all started together."""
    env = {**os.environ}
    env.pop("TRADELANE_LEDGER_URL", None)
    start = time.perf_counter()
    procs = [subprocess.Popen([str(TRADELANE), "run", "--once", "-C", str(root)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
             for root in roots]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a worker exited {proc.returncode}: {err.decode()[-2000:]}")
    return time.perf_counter() - start


def check(root: Path, ledger: str, files: int) -> None:
    outputs = len(list((root / "outbox" / "orders").glob("*.json")))
    engine = create_engine(ledger)
    with engine.connect() as conn:
        archived = conn.execute(text("SELECT count(*) FROM files WHERE state = 'archived'")
                                ).scalar_one()
        delivered = conn.execute(text("SELECT count(*) FROM events WHERE to_state ="
                                      " 'delivered'")).scalar_one()
    engine.dispose()
    left = len(list((root / "inbox" / "orders").glob("*.csv")))
    if (outputs, archived, delivered, left) != (files, files, files, 0):
        raise SystemExit(f"{root}: {outputs} outputs, {archived} archived, {delivered}"
                         f" deliveries, {left} left in the inbox (expected {files} each, 0)")


def pg_schema(url: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return schema, f"{url}?options=-csearch_path%3D{schema}"


def drop_schema(url: str, schema: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


SETUPS = (("sqlite, 1 worker", "sqlite", 1), ("postgresql, 1 worker", "pg", 1),
          ("postgresql, 2 workers", "pg", 2), ("postgresql, 4 workers", "pg", 4),
          # the control: 2 workers each on an inbox and a ledger of its own (half the files
          # each), the same work with no race for files; against "2 workers" it shows what
          # sharing one inbox costs, apart from what the machine can give two processes
          ("postgresql, 2 apart", "pg-apart", 2))


def one_round(base: Path, files: int, pg: str, startup_cpu: float) -> dict[str, float]:
    """Every setup once, in order; files/s per setup."""
    rates: dict[str, float] = {}
    for name, backend, workers in SETUPS:
        root = base / name.replace(", ", "-").replace(" ", "")
        apart = backend == "pg-apart"
        roots = [root / str(i) for i in range(workers)] if apart else [root]
        ledgers, schemas = [], []
        for each in roots:
            if backend == "sqlite":
                ledgers.append(f"sqlite:///{each}/.tradelane/ledger.db")
            else:
                schema, ledger = pg_schema(pg)
                schemas.append(schema)
                ledgers.append(ledger)
            make_project(each, ledgers[-1], files // len(roots))
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds = run_each(roots) if apart else run(root, workers)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        for each, ledger in zip(roots, ledgers, strict=True):
            check(each, ledger, files // len(roots))
        rates[name] = files / seconds
        # the workers' own CPU per file, without their start-up (imports, connecting); the
        # rest of the wall time is waiting (on the ledger's round trips, the disk, the other
        # processes of this shared machine)
        net = max(0.0, cpu - workers * startup_cpu)
        print(f"  {name:24} {seconds:6.1f} s {rates[name]:6.1f} files/s  workers' CPU"
              f" {1000 * net / files:5.2f} ms/file (+{workers * startup_cpu:.1f} s start-up),"
              f" wall {1000 * seconds * workers / files:6.2f} ms/file/worker, load {load:.1f}",
              flush=True)
        for schema in schemas:
            drop_schema(pg, schema)
        shutil.rmtree(root)
    return rates


def startup(base: Path, pg: str) -> float:
    """CPU seconds of a worker that starts, loads the engine and processes one file (best of
    three): what every worker of a setup pays once, near enough."""
    schema, ledger = pg_schema(pg)
    root = base / "startup"
    make_project(root, ledger, 1)
    run(root, 1)  # creates the tables
    best = float("inf")
    for i in range(3):
        path = root / "inbox" / "orders" / f"one-{i}.csv"
        path.write_text(f"order_id;qty;price\nPO-9{i};1;1.50\n")
        os.utime(path, (time.time() - 60, time.time() - 60))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run(root, 1)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))
    drop_schema(pg, schema)
    shutil.rmtree(root)
    return best


def ledger_costs(base: Path, pg: str, files: int = 500) -> None:
    """Per file, what one worker asks of the PostgreSQL ledger (statements, commits, and the
    time spent waiting for them) and of the storage (bytes written, files created), measured
    in this process over ``files`` files."""
    from sqlalchemy import event

    from tradelane.ledger import Ledger
    from tradelane.runner import Runner
    from tradelane.spec import load_project

    schema, ledger_url = pg_schema(pg)
    root = base / "costs"
    make_project(root, ledger_url, files)
    counts = {"statements": 0, "commits": 0, "seconds": 0.0}
    started: list[float] = []
    with Ledger(ledger_url, worker="bench") as ledger:
        @event.listens_for(ledger.engine, "before_cursor_execute")
        def _before(*_: object) -> None:
            started.append(time.perf_counter())

        @event.listens_for(ledger.engine, "after_cursor_execute")
        def _after(*_: object) -> None:
            counts["statements"] += 1
            counts["seconds"] += time.perf_counter() - started.pop()

        @event.listens_for(ledger.engine, "commit")
        def _commit(*_: object) -> None:
            counts["commits"] += 1

        project = load_project(root)
        with Runner(project, ledger) as runner:
            runner.run_once()
    out = root / "outbox" / "orders"
    written = sum(p.stat().st_size for p in out.iterdir()) + sum(
        p.stat().st_size for p in (root / "archive").rglob("*") if p.is_file())
    print(f"ledger, per file (one worker, {files} files): {counts['statements'] / files:.1f}"
          f" statements, {counts['commits'] / files:.2f} commits,"
          f" {1000 * counts['seconds'] / files:.2f} ms waiting for PostgreSQL;"
          f" storage: {written / files / 1024:.1f} KB written, 2 files created (output,"
          " archive copy)")
    drop_schema(pg, schema)
    shutil.rmtree(root)


def storage_costs(base: Path, files: int = 500) -> None:
    """What a file costs the storage, alone, as the engine does it for one small file: the
    output written to a temporary name, fsynced and renamed; the original renamed into the
    archive; both folders fsynced once per chunk of 128. Timed on the bench's file system."""
    inbox, out, archive = base / "s-in", base / "s-out", base / "s-arc"
    for folder in (inbox, out, archive):
        folder.mkdir()
    data = b"x" * 600
    for i in range(files):
        (inbox / f"{i}.csv").write_bytes(data)
    start = time.perf_counter()
    for chunk in range(0, files, 128):
        for i in range(chunk, min(chunk + 128, files)):
            tmp = out / f"{i}.tmp"
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.rename(out / f"{i}.json")
            (inbox / f"{i}.csv").rename(archive / f"{i}.csv")
        for folder in (out, archive, inbox):
            fd = os.open(folder, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
    seconds = time.perf_counter() - start
    print(f"storage, per file: {1000 * seconds / files:.2f} ms (an output written, fsynced and"
          f" renamed, the original renamed into the archive): at most {files / seconds:,.0f}"
          " files/s from one writer")
    for folder in (inbox, out, archive):
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="scaleout-", dir=Path(__file__).parent / ".data"
                                 if (Path(__file__).parent / ".data").is_dir() else None))
    print(f"{args.files} files of about 0.4 KB, {args.repeat} rounds; load average at start:"
          f" {os.getloadavg()[0]:.1f}")
    rounds = []
    try:
        startup_cpu = startup(base, args.pg)
        print(f"a worker's start-up: {startup_cpu:.2f} s CPU", flush=True)
        ledger_costs(base, args.pg)
        storage_costs(base)
        for i in range(args.repeat):
            print(f"round {i + 1}:", flush=True)
            rounds.append(one_round(base, args.files, args.pg, startup_cpu))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    # ratios within each round (the setups of one round ran minutes apart, not hours)
    two = sorted(r["postgresql, 2 workers"] / r["postgresql, 1 worker"] for r in rounds)
    four = sorted(r["postgresql, 4 workers"] / r["postgresql, 1 worker"] for r in rounds)
    pg_sqlite = sorted(r["postgresql, 1 worker"] / r["sqlite, 1 worker"] for r in rounds)
    sharing = sorted(r["postgresql, 2 workers"] / r["postgresql, 2 apart"] for r in rounds)

    def show(ratios: list[float]) -> str:
        return (f"median {statistics.median(ratios):.2f}x, best {ratios[-1]:.2f}x"
                f" ({', '.join(f'{x:.2f}' for x in ratios)})")

    print(f"2 workers / 1 on PostgreSQL: {show(two)} (target >= 1.7x)")
    print(f"4 workers / 1 on PostgreSQL: {show(four)}")
    print(f"1 worker PostgreSQL / SQLite: {show(pg_sqlite)} (target >= 0.8x)")
    print(f"2 workers on one inbox / 2 apart: {show(sharing)} (1x: sharing costs nothing)")


if __name__ == "__main__":
    main()
