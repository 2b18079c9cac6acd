"""A 1,000,000-row, 6-column CSV through a full route, against a bare pandas script.

The route reads, validates every field (types, patterns, enums, ranges, dates), maps, writes
CSV atomically and records everything in the SQLite ledger. The baseline is the script people
write by hand: ``pd.read_csv(...).to_csv(...)``, timed in the same run on the same file.
Each side runs in its own child process so its peak RSS is its own. Each round starts with an
empty ledger (the same file again would be a duplicate), created before the clock starts, as
a deployment's ledger exists before its nightly run.

    .venv/bin/python bench/csv_route.py            # 1M rows (~60 MB)
    .venv/bin/python bench/csv_route.py --big      # also a ~2 GB file: peak RSS must stay < 1 GB
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


def generate(path: Path, rows: int) -> None:
    rng = random.Random(42)
    statuses = ["open", "shipped", "cancelled"]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("id,sku,qty,price,ship_on,status\n")
        chunk = []
        for i in range(1, rows + 1):
            chunk.append(f"{i},AB-{rng.randrange(10**6):06d},{rng.randrange(5000)},"
                         f"{rng.randrange(100000) / 100:.2f},2026-{rng.randrange(1, 13):02d}-"
                         f"{rng.randrange(1, 29):02d},{statuses[i % 3]}\n")
            if len(chunk) == 100_000:
                fh.write("".join(chunk))
                chunk = []
        fh.write("".join(chunk))


def child_bare(src: str, dest: str) -> None:
    import pandas as pd

    pd.read_csv(src).to_csv(dest, index=False)


def child_route(project: str) -> None:
    from tradelane.ledger import Ledger
    from tradelane.models import Outcome
    from tradelane.runner import Runner
    from tradelane.spec import load_project

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


def measure(*args: str) -> tuple[float, int]:
    """Run this script as a child doing one job; return (seconds, its own peak RSS in bytes)."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, *args])
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"benchmark child {args[0]} failed ({child.returncode})")
    return elapsed, usage.ru_maxrss * 1024


def child_startup() -> None:
    import pandas  # noqa: F401

    import tradelane.pipeline  # noqa: F401


def bench(rows: int, work: Path, *, baseline: bool = True, rounds: int = 1) -> dict[str, Any]:
    project = work / f"project-{rows}"
    (project / "mappings").mkdir(parents=True)
    (project / "mappings" / "items.yaml").write_text(ROUTE)
    inbox = project / "inbox" / "items"
    inbox.mkdir(parents=True)
    pristine = work / f"items-{rows}.csv"
    generate(pristine, rows)
    src = inbox / "items.csv"
    size = pristine.stat().st_size
    startup, _ = measure("--child-startup")
    out: dict[str, Any] = {"rows": rows, "mb": size / 1e6, "startup_s": startup}
    bare_runs, route_runs, ratios = [], [], []
    for _ in range(rounds):  # alternate, so a busy moment hurts both sides alike
        if baseline:
            bare_runs.append(measure("--child-bare", str(pristine), str(work / "bare.csv")))
        for leftover in ("outbox", "archive", ".tradelane"):
            shutil.rmtree(project / leftover, ignore_errors=True)
        measure("--child-ledger", str(project))  # a deployment's ledger exists already
        os.link(pristine, src)  # the route archives its input: give it a fresh name each round
        route_runs.append(measure("--child-route", str(project)))
        if baseline:
            ratios.append(bare_runs[-1][0] / route_runs[-1][0])
        delivered = project / "outbox" / "items" / "items.csv"
        assert delivered.exists() and delivered.stat().st_size > size * 0.9
    out.update(route_s=statistics.median(s for s, _ in route_runs),
               route_rss_mb=max(r for _, r in route_runs) / 1e6)
    if baseline:
        out.update(bare_s=statistics.median(s for s, _ in bare_runs),
                   bare_rss_mb=max(r for _, r in bare_runs) / 1e6, ratios=sorted(ratios))
    return out


def report(r: dict[str, float]) -> None:
    print(f"input: {int(r['rows']):,} rows, {r['mb']:.1f} MB "
          f"(interpreter + imports alone: {r['startup_s']:.2f} s, included in both)")
    print(f"  tradelane route : {r['route_s']:6.2f} s  {r['rows'] / r['route_s']:>10,.0f} rows/s"
          f"  {r['mb'] / r['route_s']:6.1f} MB/s  peak RSS {r['route_rss_mb']:6.0f} MB")
    if "bare_s" in r:
        print(f"  bare pandas     : {r['bare_s']:6.2f} s  {r['rows'] / r['bare_s']:>10,.0f} rows/s"
              f"  {r['mb'] / r['bare_s']:6.1f} MB/s  peak RSS {r['bare_rss_mb']:6.0f} MB")
        ratios = r["ratios"]
        print(f"  ratio (route speed / bare script speed): {statistics.median(ratios):.2f}x"
              f" median of {len(ratios)} back-to-back pairs ({ratios[0]:.2f}-{ratios[-1]:.2f})"
              "  (target >= 1.0x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", action="store_true", help="also a ~2 GB file (RSS check)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        results = [bench(args.rows, Path(tmp), rounds=args.rounds)]
        report(results[0])
        if args.big:
            big = bench(42_000_000, Path(tmp), baseline=False)
            report(big)
            print(f"  2 GB file peak RSS {big['route_rss_mb']:.0f} MB (target < 1000 MB)")
            results.append(big)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("--child-"):
        os.environ.setdefault("PYTHONHASHSEED", "0")
        {"--child-bare": child_bare, "--child-route": child_route,
         "--child-ledger": child_ledger,
         "--child-startup": child_startup}[sys.argv[1]](*sys.argv[2:])
    else:
        main()
