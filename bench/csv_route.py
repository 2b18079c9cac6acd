"""A 1,000,000-row, 6-column CSV through a full route, against the scripts people write by hand.

The route reads, validates every field (types, patterns, enums, ranges, dates), maps, writes
CSV atomically and records everything in the SQLite ledger. The baselines, timed in the same
run on the same file, alternating with the route so that a busy moment hurts every side alike:

- a polars script doing the same checks (casts, the pattern, the enum, the ranges, the date
  parse), counting the bad values, then writing the CSV;
- DuckDB: the same casts and checks in SQL over ``read_csv``, then ``COPY ... TO``;
- the bare pandas script, ``pd.read_csv(...).to_csv(...)``, which checks nothing;
- and, as a floor, a process that only imports the libraries the route cannot do without
  (``STACK``): their imports plus the route's work alone is the least a whole run can take.

Every side runs in a child process of its own, so its peak RSS is its own, and is timed twice:
whole (the process, start-up and imports included: for the route, the ``tradelane run --once``
command a cron job runs) and in-process (the work alone, after the imports). CPU time (user +
system, every thread) is reported next to wall-clock time: on a loaded machine it is the
steadier figure. Each route run starts with an empty ledger (the same file again would be a
duplicate), created before the clock starts, as a deployment's ledger exists before its
nightly run.

    .venv/bin/python bench/csv_route.py            # 1M rows (~47 MB), 3 rounds
    .venv/bin/python bench/csv_route.py --big      # also a ~2 GB file: peak RSS must stay < 1 GB
    .venv/bin/python bench/csv_route.py --big --only polars   # the 2 GB file without pandas

On the 2 GB file every chosen side runs too (one round unless ``--big-rounds``), with the same
ratios (the pandas and polars scripts hold the whole file in RAM: several GB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROUTE = """\
source: {folder: inbox/items, pattern: "*.csv", min_age: 0s}
format: {type: csv}
fields:
  id:       {type: integer, required: true, min: 1}
  sku:      {required: true, pattern: "[A-Z]{2}-[0-9]{6}"}
  qty:      {type: integer, required: true, min: 0, max: 100000}
  price:    {type: decimal, required: true, min: 0}
  ship_on:  {type: date, required: true}
  status:   {required: true, enum: [open, shipped, cancelled]}
transform:
  rename: {qty: quantity}
target: {folder: outbox/items, format: csv, name: "{stem}.csv"}
"""
STATUSES = ["open", "shipped", "cancelled"]
SKU = r"^[A-Z]{2}-[0-9]{6}$"
#: the sides, in the order they run in each round and are shown
SIDES = {"route": "tradelane run --once", "polars": "polars script", "duckdb": "DuckDB SQL",
         "pandas": "bare pandas", "stack": "stack imports only"}
#: The libraries the route's process cannot do without (the card's choices and their
#: companions): what they cost to import is a floor no change to tradelane's own code lowers.
STACK = ("sqlalchemy", "sqlalchemy.dialects.sqlite", "pydantic", "typer", "yaml", "numpy",
         "pyarrow.compute", "pyarrow.csv")


def generate(path: Path, rows: int) -> None:
    rng = random.Random(42)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("id,sku,qty,price,ship_on,status\n")
        chunk = []
        for i in range(1, rows + 1):
            chunk.append(f"{i},AB-{rng.randrange(10**6):06d},{rng.randrange(5000)},"
                         f"{rng.randrange(100000) / 100:.2f},2026-{rng.randrange(1, 13):02d}-"
                         f"{rng.randrange(1, 29):02d},{STATUSES[i % 3]}\n")
            if len(chunk) == 100_000:
                fh.write("".join(chunk))
                chunk = []
        fh.write("".join(chunk))


# -- the children: each does one job and reports the time of its work alone -----------------


class _Work:
    """Times the work of a child (after its imports) into the file named by $BENCH_TIMES."""

    def __enter__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            Path(os.environ["BENCH_TIMES"]).write_text(json.dumps(
                [time.perf_counter() - self.wall, time.process_time() - self.cpu]))


def child_pandas(src: str, dest: str) -> None:
    import pandas as pd

    with _Work():
        pd.read_csv(src).to_csv(dest, index=False)


def child_polars(src: str, dest: str) -> None:
    """What a careful user writes with polars: every value read as text, cast, checked, the
    bad ones counted, then the CSV written."""
    import polars as pl

    col = pl.col
    with _Work():
        text = pl.read_csv(src, infer_schema=False)
        typed = text.select(
            col("id").str.strip_chars().cast(pl.Int64, strict=False),
            col("sku").str.strip_chars(),
            col("qty").str.strip_chars().cast(pl.Int64, strict=False),
            col("price").str.strip_chars().cast(pl.Float64, strict=False),
            col("ship_on").str.strip_chars().str.to_date("%Y-%m-%d", strict=False),
            col("status").str.strip_chars())
        bad = typed.select(
            (col("id").is_null() | (col("id") < 1)).sum(),
            (~col("sku").str.contains(SKU)).sum(),
            (col("qty").is_null() | (col("qty") < 0) | (col("qty") > 100_000)).sum(),
            (col("price").is_null() | (col("price") < 0)).sum(),
            col("ship_on").is_null().sum(),
            (~col("status").is_in(STATUSES)).sum()).row(0)
        assert not any(bad), bad
        typed.rename({"qty": "quantity"}).write_csv(dest)


def child_duckdb(src: str, dest: str) -> None:
    """The same casts and checks in SQL, then ``COPY``."""
    import duckdb

    with _Work():
        con = duckdb.connect()
        con.execute("""CREATE TABLE t AS SELECT
            TRY_CAST(trim(id) AS BIGINT) AS id, trim(sku) AS sku,
            TRY_CAST(trim(qty) AS BIGINT) AS qty, TRY_CAST(trim(price) AS DOUBLE) AS price,
            TRY_STRPTIME(trim(ship_on), '%Y-%m-%d')::DATE AS ship_on, trim(status) AS status
            FROM read_csv(?, all_varchar = true, header = true)""", [src])
        bad = con.execute(f"""SELECT
            count(*) FILTER (id IS NULL OR id < 1),
            count(*) FILTER (NOT regexp_full_match(sku, '{SKU[1:-1]}')),
            count(*) FILTER (qty IS NULL OR qty < 0 OR qty > 100000),
            count(*) FILTER (price IS NULL OR price < 0), count(*) FILTER (ship_on IS NULL),
            count(*) FILTER (status NOT IN ('open', 'shipped', 'cancelled')) FROM t""").fetchone()
        assert bad is not None and not any(bad), bad
        con.execute(f"COPY (SELECT id, sku, qty AS quantity, price, ship_on, status FROM t)"
                    f" TO '{dest}' (HEADER, DELIMITER ',')")


def child_stack(src: str, dest: str) -> None:
    """Imports ``STACK`` and does nothing: with the route's work alone, the least a whole
    ``tradelane run --once`` can take."""
    import importlib

    for name in STACK:
        importlib.import_module(name)


def child_route(project: str) -> None:
    """The route in-process: the same pass ``tradelane run --once`` makes, timed without the
    interpreter's start-up and the imports."""
    # imported by the run on first use: loaded here, so that the work alone is timed
    import tradelane.formats.csv
    import tradelane.pipeline  # noqa: F401
    from tradelane.ledger import Ledger
    from tradelane.models import Outcome
    from tradelane.runner import Runner
    from tradelane.spec import load_project

    with _Work():
        loaded = load_project(project)
        with Ledger(loaded.settings.ledger_url) as ledger:
            summary = Runner(loaded, ledger).run_once()
    assert [r.outcome for r in summary.results] == [Outcome.DELIVERED], summary.results


def child_ledger(project: str) -> None:
    """Create the project's (empty) ledger: the route measured is a nightly run, not an
    installation."""
    from tradelane.ledger import Ledger
    from tradelane.spec import load_project

    Ledger(load_project(project).settings.ledger_url).close()


CHILDREN = {"--child-pandas": child_pandas, "--child-polars": child_polars,
            "--child-duckdb": child_duckdb, "--child-route": child_route,
            "--child-stack": child_stack,
            "--child-ledger": child_ledger}


# -- the parent -------------------------------------------------------------------------------


def run_child(argv: list[str], cwd: Path | None = None) -> dict[str, float]:
    """Run ``argv``; its whole wall-clock and CPU time, its peak RSS, and the time of its work
    alone when it reports one."""
    with tempfile.NamedTemporaryFile(suffix=".json") as times:
        env = {**os.environ, "BENCH_TIMES": times.name, "PYTHONHASHSEED": "0"}
        start = time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"benchmark child {argv} failed ({status})")
        work = json.loads(Path(times.name).read_text() or "[null, null]")
    return {"wall": elapsed, "cpu": usage.ru_utime + usage.ru_stime,
            "rss": usage.ru_maxrss * 1024, "work_wall": work[0], "work_cpu": work[1]}


def bench(rows: int, work: Path, *, sides: tuple[str, ...], rounds: int) -> dict[str, Any]:
    project = work / f"project-{rows}"
    (project / "mappings").mkdir(parents=True)
    (project / "mappings" / "items.yaml").write_text(ROUTE)
    inbox = project / "inbox" / "items"
    inbox.mkdir(parents=True)
    pristine = work / f"items-{rows}.csv"
    generate(pristine, rows)
    size = pristine.stat().st_size
    tradelane = Path(sys.executable).with_name("tradelane")
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    in_process: list[dict[str, float]] = []
    me = [sys.executable, __file__]

    def fresh_project() -> None:
        for leftover in ("outbox", "archive", ".tradelane"):
            shutil.rmtree(project / leftover, ignore_errors=True)
        run_child([*me, "--child-ledger", str(project)])  # a deployment's ledger exists
        os.link(pristine, inbox / "items.csv")  # the route archives its input

    for _ in range(rounds):  # alternate, so a busy moment hurts every side alike
        for side in sides:
            if side == "route":
                fresh_project()
                runs["route"].append(run_child([str(tradelane), "run", "--once"], cwd=project))
                delivered = project / "outbox" / "items" / "items.csv"
                assert delivered.exists() and delivered.stat().st_size > size * 0.9
                fresh_project()
                in_process.append(run_child([*me, "--child-route", str(project)]))
            else:
                runs[side].append(run_child([*me, f"--child-{side}", str(pristine),
                                             str(work / f"{side}.csv")]))
    out: dict[str, Any] = {"rows": rows, "mb": size / 1e6, "rounds": rounds}
    for side, measured in runs.items():
        work_runs = in_process if side == "route" else measured
        if side == "stack":  # no work: its whole process is its imports
            work_runs = [{**r, "work_wall": 0.0, "work_cpu": 0.0} for r in measured]
        out[side] = {
            "wall_s": statistics.median(r["wall"] for r in measured),
            "cpu_s": statistics.median(r["cpu"] for r in measured),
            "work_wall_s": statistics.median(r["work_wall"] for r in work_runs),
            "work_cpu_s": statistics.median(r["work_cpu"] for r in work_runs),
            "rss_mb": max(max(r["rss"] for r in measured),
                          max(r["rss"] for r in work_runs)) / 1e6,
            "walls": sorted(r["wall"] for r in measured)}
    return out


def report(r: dict[str, Any]) -> None:
    print(f"input: {r['rows']:,} rows, {r['mb']:.1f} MB; medians of {r['rounds']} rounds;"
          " CPU = user + system, all threads")
    print(f"{'':22}{'whole process':>19}{'work alone':>19}{'peak RSS':>11}")
    print(f"{'':22}{'wall s':>9}{'CPU s':>10}{'wall s':>9}{'CPU s':>10}{'MB':>11}")
    for side, label in SIDES.items():
        if side in r:
            s = r[side]
            print(f"{label:22}{s['wall_s']:9.2f}{s['cpu_s']:10.2f}{s['work_wall_s']:9.2f}"
                  f"{s['work_cpu_s']:10.2f}{s['rss_mb']:11.0f}")
    route = r["route"]
    if not any(side in r for side in ("polars", "duckdb", "pandas")):
        return
    print("route speed / baseline speed (the baseline's time / the route's; target: issue 19)")
    print(f"{'':22}{'wall':>9}{'CPU':>10}{'wall':>9}{'CPU':>10}{'target':>11}")
    targets = {"polars": ">= 0.5x", "pandas": ">= 2.0x"}
    for side in ("polars", "duckdb", "pandas"):
        if side in r:
            s = r[side]
            cells = "".join(f"{s[k] / route[k]:{w}.2f}x" for k, w in (
                ("wall_s", 8), ("cpu_s", 9), ("work_wall_s", 8), ("work_cpu_s", 9)))
            print(f"{SIDES[side]:22}{cells}{targets.get(side, ''):>11}")
    # on the 2 GB file the route's two runs (whole, in-process) differ by more than any
    # start-up: their difference would be misread as one
    if "stack" in r and "pandas" in r and r["rows"] <= 10_000_000:
        floor = r["stack"]["wall_s"] + route["work_wall_s"]
        own = route["wall_s"] - floor
        print(f"floor: the stack's imports {r['stack']['wall_s']:.2f} s + the route's work"
              f" {route['work_wall_s']:.2f} s = {floor:.2f} s, {r['pandas']['wall_s'] / floor:.2f}x"
              f" pandas; the rest of the whole process, {own:.2f} s, is tradelane's own start-up"
              " (its modules and spec models, loading the project, opening the ledger)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", action="store_true", help="also a ~2 GB file (RSS check)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-rounds", type=int, default=1, help="rounds on the 2 GB file")
    parser.add_argument("--only", choices=list(SIDES), action="append",
                        help="run only these sides (repeatable); the route always runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sides = tuple(s for s in SIDES if not args.only or s in args.only or s == "route")
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        results = [bench(args.rows, Path(tmp), sides=sides, rounds=args.rounds)]
        report(results[0])
        if args.big:  # the baselines too (pandas holds the 2 GB file in several GB of RAM)
            big = bench(42_000_000, Path(tmp), sides=sides, rounds=args.big_rounds)
            report(big)
            print(f"2 GB file: peak RSS {big['route']['rss_mb']:.0f} MB (target < 1000 MB)")
            results.append(big)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in CHILDREN:
        CHILDREN[sys.argv[1]](*sys.argv[2:])
    else:
        main()
