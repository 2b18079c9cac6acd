"""5,000 one-kilobyte files through a full route with the SQLite ledger: files per second.

Every file is claimed, staged (copied + sha256), read, validated, transformed, written
atomically (fsync + rename), archived, and recorded step by step in the ledger. The baseline,
in the same run, is a bare loop doing only the file work (read, write + fsync + rename, move)
with no parsing and no ledger: the ceiling of this disk.

    .venv/bin/python bench/small_files.py [--files 5000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROUTE = """\
source: {folder: inbox/orders, pattern: "*.csv", min_age: 0s}
format: {type: csv, delimiter: ";"}
fields:
  order_id: {required: true, pattern: "PO-[0-9]+"}
  qty:      {type: integer, required: true, min: 1}
  price:    {type: decimal, required: true}
target: {folder: outbox/orders, format: json, name: "{stem}.json"}
workers: 1
"""


def make_inputs(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = "order_id;qty;price\n" + "".join(f"PO-{i};{i % 9 + 1};{i}.50\n" for i in range(60))
    then = time.time() - 60
    for i in range(count):
        path = folder / f"order-{i:05}.csv"
        path.write_text(body.replace("PO-", f"PO-{i}"))
        os.utime(path, (then, then))


def bare_loop(src: Path, out: Path, archive: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    archive.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        data = path.read_bytes()
        tmp = out / f".{path.name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out / path.name)
        os.replace(path, archive / path.name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    args = parser.parse_args()
    from tradelane.ledger import Ledger
    from tradelane.pipeline import Outcome, Pipeline
    from tradelane.spec import load_project

    with tempfile.TemporaryDirectory(prefix="tl-small-") as tmp:
        root = Path(tmp)
        make_inputs(root / "bare-in", args.files)
        start = time.perf_counter()
        bare_loop(root / "bare-in", root / "bare-out", root / "bare-archive")
        bare_s = time.perf_counter() - start

        project = root / "project"
        (project / "mappings").mkdir(parents=True)
        (project / "mappings" / "orders.yaml").write_text(ROUTE)
        make_inputs(project / "inbox" / "orders", args.files)
        loaded = load_project(project)
        with Ledger(loaded.settings.ledger_url) as ledger:
            start = time.perf_counter()
            summary = Pipeline(loaded, ledger).run_once()
            route_s = time.perf_counter() - start
        delivered = summary.count(Outcome.DELIVERED)
        assert delivered == args.files, summary.results[:3]

    print(f"{args.files:,} files of ~1 KB, SQLite ledger")
    print(f"  tradelane route   : {route_s:6.2f} s  {args.files / route_s:8.0f} files/s"
          "  (target >= 500 files/s)")
    print(f"  bare file loop    : {bare_s:6.2f} s  {args.files / bare_s:8.0f} files/s"
          "  (read + fsync'd write + rename + move, no parsing, no ledger)")
    print(f"  ratio route / bare: {bare_s / route_s:.2f}x")


if __name__ == "__main__":
    main()
