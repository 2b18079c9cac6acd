"""Latency of ``tradelane serve`` on a watched folder, and its throughput against ``run --once``.

Latency: a partner uploads 500 files one by one (temp name, then rename, as SFTP clients
do). For each, the time from the rename until its output is durable (the target's atomic
rename, seen by an inotify observer on the outbox). Target: p99 under 2 s.

Throughput, in the same run and on the same route: N files dropped at once into the folder
of a running ``serve``, until the last output; then N files through ``run --once`` (the
process start included, as ops would run it from cron).

    .venv/bin/python bench/watch_latency.py [--files 500] [--gap 0.02] [--batch 2000]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

TRADELANE = Path(sys.executable).with_name("tradelane")

ROUTE = """\
source: {folder: inbox/orders, pattern: "*.csv", min_age: 0s}
format: {type: csv}
fields:
  id:  {source: id, required: true}
  qty: {source: qty, type: integer, min: 0}
target: {folder: outbox/orders, format: csv, name: "{stem}.out.csv"}
watch: true
every: 1m
"""


class Arrivals(FileSystemEventHandler):
    """When each output appeared (the atomic rename that makes it durable)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in ("moved", "created"):
            return
        path = os.fsdecode(event.dest_path if event.event_type == "moved" else event.src_path)
        name = os.path.basename(path)
        if name.endswith(".out.csv"):
            with self.lock:
                self.at.setdefault(name, time.monotonic())

    def count(self) -> int:
        with self.lock:
            return len(self.at)


def project(root: Path, watch: bool = True) -> Path:
    (root / "mappings").mkdir(parents=True)
    (root / "mappings" / "orders.yaml").write_text(ROUTE if watch else
                                                  ROUTE.replace("watch: true\n", ""))
    (root / "inbox" / "orders").mkdir(parents=True)
    (root / "outbox" / "orders").mkdir(parents=True)
    return root


def upload(inbox: Path, name: str, body: str) -> float:
    tmp = inbox / f".{name}.part"
    tmp.write_text(body)
    os.rename(tmp, inbox / name)
    return time.monotonic()


def wait(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between uploads")
    parser.add_argument("--batch", type=int, default=2000, help="files for the throughput run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tl-watch-") as tmp:
        root = project(Path(tmp) / "serve")
        inbox, outbox = root / "inbox" / "orders", root / "outbox" / "orders"
        arrivals = Arrivals()
        observer = Observer()
        observer.schedule(arrivals, str(outbox))
        observer.start()
        proc = subprocess.Popen([str(TRADELANE), "serve", "-C", str(root)],
                                stderr=subprocess.DEVNULL)
        try:
            wait(lambda: (root / ".tradelane" / "ledger.db").exists(), 30)
            time.sleep(1)
            landed: dict[str, float] = {}
            for i in range(args.files):
                name = f"lat{i:05d}.csv"
                landed[name.replace(".csv", ".out.csv")] = upload(
                    inbox, name, f"id,qty\nL{i},{i % 9}\n")
                time.sleep(args.gap)
            wait(lambda: arrivals.count() >= args.files, 120)
            lat = sorted(arrivals.at[n] - t for n, t in landed.items())
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            print(f"latency over {len(lat)} files, {args.gap * 1000:.0f} ms apart: "
                  f"median {statistics.median(lat) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
                  f"max {lat[-1] * 1000:.0f} ms (target p99 < 2000 ms)")

            for i in range(args.batch):
                (inbox / f"bulk{i:05d}.csv").write_text(f"id,qty\nB{i},{i % 9}\n")
            dropped = time.monotonic()
            wait(lambda: arrivals.count() >= args.files + args.batch, 900)
            serve_rate = args.batch / (time.monotonic() - dropped)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(90)
            observer.stop()
            observer.join()
        print(f"serve: {args.batch} files dropped at once: {serve_rate:.0f} files/s "
              f"(exit {code} on SIGTERM)")

        once = project(Path(tmp) / "once", watch=False)
        for i in range(args.batch):
            (once / "inbox" / "orders" / f"bulk{i:05d}.csv").write_text(f"id,qty\nB{i},{i % 9}\n")
        started = time.monotonic()
        subprocess.run([str(TRADELANE), "run", "--once", "-C", str(once), "--json"],
                       stdout=subprocess.DEVNULL, check=True)
        once_rate = args.batch / (time.monotonic() - started)
        print(f"run --once: {args.batch} files: {once_rate:.0f} files/s "
              f"(serve/once = {serve_rate / once_rate:.2f})")


if __name__ == "__main__":
    main()
