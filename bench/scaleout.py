"""Scale-out (issue 18): 5,000 small files through one route by 1 worker on SQLite and by 1,
2 and 4 workers on one PostgreSQL ledger, in the same run: files per second and the ratios.

A worker is a ``tradelane run --once`` process; the N workers of a setup are started
together over the same inbox and race for its files through the ledger's claims, as N serve
processes on N hosts do. Each setup gets a fresh project folder and a fresh ledger (a new
PostgreSQL schema), and afterwards every file must be archived once with one output.
Targets on the 2-core machine: 2 workers >= 1.7x one worker on PostgreSQL; one worker on
PostgreSQL >= 0.8x one worker on SQLite.

    .venv/bin/python bench/scaleout.py [--files 5000] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
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
    env = {**os.environ}
    env.pop("TRADELANE_LEDGER_URL", None)
    start = time.perf_counter()
    procs = [subprocess.Popen([str(TRADELANE), "run", "--once", "-C", str(root)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
             for _ in range(workers)]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    rates: dict[str, float] = {}
    base = Path(tempfile.mkdtemp(prefix="scaleout-", dir=Path(__file__).parent / ".data"
                                 if (Path(__file__).parent / ".data").is_dir() else None))
    print(f"{args.files} files of about 0.4 KB; load average at start:"
          f" {os.getloadavg()[0]:.1f}")
    try:
        for name, backend, workers in (("sqlite, 1 worker", "sqlite", 1),
                                       ("postgresql, 1 worker", "pg", 1),
                                       ("postgresql, 2 workers", "pg", 2),
                                       ("postgresql, 4 workers", "pg", 4)):
            root = base / name.replace(", ", "-").replace(" ", "")
            schema = None
            if backend == "sqlite":
                ledger = f"sqlite:///{root}/.tradelane/ledger.db"
            else:
                schema, ledger = pg_schema(args.pg)
            make_project(root, ledger, args.files)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds = run(root, workers)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            check(root, ledger, args.files)
            rates[name] = args.files / seconds
            # the workers' own CPU per file; the rest of the wall time is waiting (on the
            # ledger's round trips and commits, the disk, the other workers)
            print(f"{name:24} {seconds:7.1f} s  {rates[name]:7.1f} files/s  workers' CPU"
                  f" {1000 * cpu / args.files:5.2f} ms/file, wall"
                  f" {1000 * seconds * workers / args.files:5.2f} ms/file/worker", flush=True)
            if schema:
                drop_schema(args.pg, schema)
            shutil.rmtree(root)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    one = rates["postgresql, 1 worker"]
    print(f"2 workers / 1 on PostgreSQL: {rates['postgresql, 2 workers'] / one:.2f}x"
          " (target >= 1.7x)")
    print(f"4 workers / 1 on PostgreSQL: {rates['postgresql, 4 workers'] / one:.2f}x")
    print(f"1 worker PostgreSQL / SQLite: {one / rates['sqlite, 1 worker']:.2f}x"
          " (target >= 0.8x)")


if __name__ == "__main__":
    main()
