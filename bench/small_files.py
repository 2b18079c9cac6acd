"""5,000 one-kilobyte files through a full route with the SQLite ledger: files per second.

Every file is claimed, staged (copied + sha256), read, validated, transformed, written
atomically (fsync + rename), archived, and recorded step by step in the ledger (in group
commits of up to 128 files). The route runs twice: as one process (``workers: 1``, strict
order) and with ``workers: 2`` (two worker processes, one per core). The baseline, in the
same run, is a bare loop doing only the file work (read, write + fsync + rename, move) with
no parsing and no ledger: it shows how fast this disk is at the time.

Each setup keeps its folders under ``bench/.data/small-files/`` from run to run. Between
rounds their files are moved to a trash folder, not deleted, and the trash is deleted once at
the end. This machine's root filesystem is ext4 without a journal, and there creating a file
skips every inode of its block group freed in the last one to six minutes
(``recently_deleted`` in the kernel's ``fs/ext4/ialloc.c``): deleting the previous round's
20,000 files just before a round was measured to add 1.5 ms of kernel time to each file of
the next, a cost of the benchmark's clean-up, not of the engine. The engine's own deletions
(its spool copies) stay in the measurement. A run started within six minutes of another
says so, as its figures are then lower.

The engine (Arrow, numpy, the formats: made for a pass's first file) is made before the clock
starts, as it was before it became lazy: its time is printed apart (``bench/startup.py``
measures a process's start).

    .venv/bin/python bench/small_files.py [--files 5000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import time
from pathlib import Path

ROUTE = """\
source: {{folder: inbox/orders, pattern: "*.csv", min_age: 0s}}
format: {{type: csv, delimiter: ";"}}
fields:
  order_id: {{required: true, pattern: "PO-[0-9]+"}}
  qty:      {{type: integer, required: true, min: 1}}
  price:    {{type: decimal, required: true}}
target: {{folder: outbox/orders, format: json, name: "{{stem}}.json"}}
workers: {workers}
"""
DATA = Path(__file__).parent / ".data" / "small-files"
TRASH = DATA / "trash"
EMPTIED = DATA / "trash-emptied-at"
_TRASHED = itertools.count(time.time_ns())
#: seconds to make the engine (import Arrow, numpy, the formats) before each route's pass
ENGINE_MADE: list[float] = []


def make_inputs(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = "order_id;qty;price\n" + "".join(f"PO-{i};{i % 9 + 1};{i}.50\n" for i in range(60))
    then = time.time() - 60
    for i in range(count):
        path = folder / f"order-{i:05}.csv"
        path.write_text(body.replace("PO-", f"PO-{i}"))
        os.utime(path, (then, then))
    os.sync()  # the partner wrote them long before the nightly run: not still being flushed


def empty(root: Path) -> Path:
    """Move the files under ``root`` to the trash and keep its folders; then let the disk
    settle (the moves are written now, not during the next measurement)."""
    TRASH.mkdir(parents=True, exist_ok=True)
    for path in list(root.rglob("*")):
        if path.is_file() or path.is_symlink():
            path.rename(TRASH / f"{next(_TRASHED)}")
    root.mkdir(parents=True, exist_ok=True)
    os.sync()
    time.sleep(2)
    return root


def empty_trash() -> None:
    for path in TRASH.glob("*"):
        path.unlink()
    os.sync()
    EMPTIED.write_text(f"{time.time()}")


def since_last_deletions() -> float | None:
    """Seconds since a previous run emptied the trash, if that was under six minutes ago."""
    if not EMPTIED.exists():
        return None
    seconds = time.time() - float(EMPTIED.read_text())
    return seconds if seconds < 360 else None


def bare_loop(root: Path, count: int) -> float:
    src, out, archive = root / "in", root / "out", root / "archive"
    make_inputs(src, count)
    out.mkdir(exist_ok=True)
    archive.mkdir(exist_ok=True)
    start = time.perf_counter()
    for path in sorted(src.iterdir()):
        data = path.read_bytes()
        tmp = out / f".{path.name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out / path.name)
        os.replace(path, archive / path.name)
    return time.perf_counter() - start


def route(root: Path, count: int, workers: int) -> tuple[float, float]:
    """Seconds for the whole pass, and CPU seconds (this process and its workers)."""
    from tradelane.ledger import Ledger
    from tradelane.models import Outcome
    from tradelane.runner import Runner
    from tradelane.spec import load_project

    (root / "mappings").mkdir(parents=True, exist_ok=True)
    (root / "mappings" / "orders.yaml").write_text(ROUTE.format(workers=workers))
    make_inputs(root / "inbox" / "orders", count)
    project = load_project(root)
    with Ledger(project.settings.ledger_url) as ledger, Runner(project, ledger) as pipeline:
        made = time.perf_counter()
        _ = pipeline.pipeline  # the engine, made for a pass's first file: once per process
        ENGINE_MADE.append(time.perf_counter() - made)
        cpu = _cpu()
        start = time.perf_counter()
        summary = pipeline.run_once()
        seconds = time.perf_counter() - start
    cpu = _cpu() - cpu  # the worker processes have exited: their time is counted now
    delivered = summary.count(Outcome.DELIVERED)
    assert delivered == count, (summary.results[:3], summary.source_errors)
    return seconds, cpu


def cpu_check() -> float:
    """Seconds for a fixed pure-Python loop: this machine's CPU speed varies by a third from
    minute to minute, and the figures above are only comparable alongside it."""
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    n = args.files
    best: dict[str, tuple[float, float]] = {}
    recent = since_last_deletions()
    if recent is not None:
        print(f"note: the last run deleted its files {recent:.0f} s ago; on this disk, files"
              " are created more slowly for up to six minutes after deletions, so these"
              " figures will be low")
    speed = [cpu_check()]
    for i in range(args.rounds):
        # alternate the order: the disk's speed drifts during a run
        order = ["bare", "1", "2"] if i % 2 == 0 else ["2", "1", "bare"]
        for what in order:
            where = empty(DATA / what)
            result = (bare_loop(where, n), 0.0) if what == "bare" \
                else route(where, n, workers=int(what))
            print(f"  round {i + 1}: {_label(what):30} {n / result[0]:6.0f} files/s")
            if what not in best or result[0] < best[what][0]:
                best[what] = result
    speed.append(cpu_check())
    empty_trash()
    bare = best["bare"][0]
    print(f"\n{n:,} files of ~1 KB, SQLite ledger, best of {args.rounds} rounds")
    for what in ("1", "2"):
        seconds, cpu = best[what]
        # worker processes are children of the fork server, not of this process: their CPU
        # time is not visible here, so it is shown for the single process only
        used = f"{cpu / n * 1e3:.2f} ms CPU per file, " if what == "1" else ""
        print(f"  {_label(what):30}: {seconds:6.2f} s {n / seconds:6.0f} files/s"
              f"  ({used}{bare / seconds:.2f}x the bare loop)  target >= 500 files/s")
    print(f"  {_label('bare'):30}: {bare:6.2f} s {n / bare:6.0f} files/s"
          "  (read + fsync'd write + rename + move: no parsing, no ledger)")
    print(f"  not counted above: making the engine before the pass, {min(ENGINE_MADE):.2f}"
          f"-{max(ENGINE_MADE):.2f} s once per process (imports; see bench/startup.py)")
    print(f"  CPU check, a fixed Python loop: {speed[0]:.2f} s before, {speed[1]:.2f} s after"
          " (this machine's CPU speed drifts: compare runs by it)")


def _label(what: str) -> str:
    return {"bare": "bare file loop", "1": "tradelane route, 1 process",
            "2": "tradelane route, workers: 2"}[what]


if __name__ == "__main__":
    main()
