"""EDIFACT read speed: pydifact's ``Interchange.from_str`` against the engine, in one run.

    .venv/bin/python bench/edifact.py [--big-mb 100] [--messages 20000]

Generates (in a temp dir) a 20,000-message ORDERS interchange (~4.9 MB) and a 100 MB one, then
prints MB/s and segments/s for pydifact and for the engine's levels (envelope-checked message
stream, every segment split into elements, the reader's Documents, and the whole route through
``tradelane.runner.Runner``: claim, stage, read, validate, transform, JSON out, SQLite
ledger), each with its ratio to pydifact; the route runs with structure validation off, then
on (every message against D96A ORDERS, every rule ``reject``). The 100 MB interchange then goes
through the whole route, validation on, in a child process; its peak RSS is the parent's
``RUSAGE_CHILDREN`` maximum.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import yaml

from tradelane.formats.edifact import EdifactReader
from tradelane.formats.edifact_envelope import iter_messages
from tradelane.formats.edifact_syntax import SegmentStream
from tradelane.ledger import Ledger
from tradelane.models import Outcome
from tradelane.runner import Runner
from tradelane.spec import RouteSpec, load_project
from tradelane.staging import Staged

ROUTE = {
    "name": "bench", "source": {"folder": "inbox"}, "target": {"folder": "outbox"},
    "format": {"type": "edifact", "records": "LIN", "messages": ["ORDERS"], "directory": "D96A"},
    "header": {"order_id": {"source": "BGM.2"}, "date": {"source": "DTM[137].C507.2380"},
               "buyer": {"source": "NAD[BY].C082.3039"}},
    "fields": {"line": {"source": "LIN.1082"}, "gtin": {"source": "LIN.C212.7140"},
               "qty": {"source": "QTY[21].C186.6060"}, "price": {"source": "PRI[AAA].1.2"}},
}


def message(n: int) -> str:
    # valid D96A ORDERS, so that structure validation measures the common case; the
    # released "+" in BGM keeps the release path exercised
    lines = "".join(f"LIN+{i}++40{n % 10**9:09d}{i:02d}:EN'QTY+21:{i * 3}'PRI+AAA:{i}.5:CA'"
                    for i in range(1, 3))
    body = (f"BGM+220+PO{n:08d}?+A+9'DTM+137:20240101:102'NAD+BY+5412345000013::9'"
            f"NAD+SU+4012345000009::9'{lines}UNS+S'CNT+2:2'")
    count = body.count("'") + 2
    return f"UNH+{n}+ORDERS:D:96A:UN:EAN008'{body}UNT+{count}+{n}'\n"


def generate(path: Path, *, messages: int | None = None, megabytes: int | None = None) -> int:
    """Write an interchange; returns the number of messages."""
    with path.open("w", encoding="ascii") as fh:
        fh.write("UNA:+.? '\nUNB+UNOC:3+5412345000013:14+4012345000009:14+240101:1200+BENCH1'\n")
        n, size = 0, 0
        limit = (megabytes or 0) * 1_000_000
        while (messages and n < messages) or (megabytes and size < limit):
            n += 1
            text = message(n)
            size += len(text)
            fh.write(text)
        fh.write(f"UNZ+{n}+BENCH1'\n")
    return n


def rate(label: str, seconds: float, size: int, segments: int) -> dict:
    row = {"what": label, "seconds": round(seconds, 3), "MB/s": round(size / seconds / 1e6, 2),
           "segments/s": int(segments / seconds)}
    print(f"  {label:<44} {row['MB/s']:>8.2f} MB/s {row['segments/s']:>11,} segments/s"
          f"  ({row['seconds']} s)")
    return row


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def small(path: Path) -> None:
    from pydifact.segmentcollection import Interchange

    size = path.stat().st_size
    text = path.read_text(encoding="latin-1")
    segments = text.count("'") - 1  # minus the UNA's terminator
    print(f"ORDERS interchange: {size / 1e6:.2f} MB, {segments:,} segments")
    route = RouteSpec.model_validate(ROUTE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        py = rate("pydifact Interchange.from_str", best(lambda: Interchange.from_str(text), 1),
                  size, segments)
    env = rate("engine: envelope-checked message stream",
               best(lambda: sum(1 for _ in iter_messages(SegmentStream(path)))), size, segments)

    def tokens() -> None:
        for block in SegmentStream(path):
            for i in range(len(block)):
                block.elements(i)

    tok = rate("engine: every segment split into elements", best(tokens), size, segments)
    staged = Staged.file(path)
    docs = rate("engine: EdifactReader -> Documents (mapped)",
                best(lambda: sum(1 for _ in EdifactReader().read(staged, route)), 1), size,
                segments)
    route_rate = rate("engine: whole route, Runner -> JSON",
                      min(run_route(path, "off")["seconds"] for _ in range(3)), size, segments)
    checked = rate("engine: whole route, structure validation on",
                   min(run_route(path, "reject")["seconds"] for _ in range(3)), size, segments)
    for row in (env, tok, docs, route_rate, checked):
        print(f"  ratio {row['what']:<44} {row['MB/s'] / py['MB/s']:>6.1f}x pydifact")
    print(f"  structure validation on/off: {checked['MB/s'] / route_rate['MB/s']:.2f}"
          " (every message against D96A ORDERS, every rule reject; target >= 10 MB/s)")


#: The route of the benchmark: typed header and record fields, header copied into each line.
ROUTE_YAML = {
    "source": {"folder": "inbox/orders", "pattern": "*.edi", "min_age": "0s"},
    "format": {"type": "edifact", "records": "LIN", "messages": ["ORDERS"]},
    "header": {"order_id": {"source": "BGM.2", "required": True},
               "date": {"source": "DTM[137].C507.2380", "type": "date", "format": "%Y%m%d"},
               "buyer": {"source": "NAD[BY].C082.3039", "pattern": "\\d{13}"}},
    "fields": {"line": {"source": "LIN.1082", "type": "integer", "required": True},
               "gtin": {"source": "LIN.C212.7140", "required": True},
               # a line without its own QTY+21 would read one of the header's SCC/ALC groups
               "qty": {"source": "QTY[21].C186.6060", "type": "decimal", "min": 0,
                       "take": "first"},
               "price": {"source": "PRI[AAA].1.2"}},
    "transform": {"copy_header": ["order_id", "date", "buyer"]},
    "target": {"folder": "outbox/orders", "format": "json"},
}


def run_route(path: Path, validation: str = "reject") -> dict:
    """One pass of the whole route over ``path`` in a fresh temp project (SQLite ledger), with
    structure validation at ``validation`` (reject, warn or off) for every rule."""
    root = Path(tempfile.mkdtemp(prefix="edifact-route-"))
    try:
        (root / "mappings").mkdir()
        spec = {**ROUTE_YAML, "format": {**ROUTE_YAML["format"], "directory": "D96A",
                                          "validate_structure": {"default": validation}}}
        (root / "mappings" / "orders.yaml").write_text(yaml.safe_dump(spec))
        inbox = root / "inbox" / "orders"
        inbox.mkdir(parents=True)
        if path.stat().st_dev == inbox.stat().st_dev:
            os.link(path, inbox / path.name)  # no copy of 100 MB; the route deletes the link
        else:
            shutil.copy(path, inbox / path.name)
        project = load_project(root)
        with Ledger(project.settings.ledger_url) as ledger:
            start = time.perf_counter()
            summary = Runner(project, ledger).run_once()
            seconds = time.perf_counter() - start
        [result] = summary.results
        if result.outcome != Outcome.DELIVERED:
            raise SystemExit(f"the route did not deliver: {result.message}")
        return {"seconds": seconds, "records": result.records}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def big(path: Path) -> None:
    """Child process: the whole route over the big file; prints time and records."""
    print(json.dumps(run_route(path)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        big(args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        orders = Path(tmp) / "orders.edi"
        generate(orders, messages=args.messages)
        small(orders)
        if args.big_mb:
            huge = Path(tmp) / "big.edi"
            n = generate(huge, megabytes=args.big_mb)
            size = huge.stat().st_size
            out = subprocess.run([sys.executable, __file__, "--child", str(huge)], check=True,
                                 capture_output=True, text=True)
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            result = json.loads(out.stdout)
            print(f"{size / 1e6:.0f} MB interchange ({n:,} messages) through the whole route:")
            print(f"  {size / result['seconds'] / 1e6:.2f} MB/s,"
                  f" {result['records']:,} records, peak RSS {peak_mb:.0f} MB"
                  " (targets: >= 10 MB/s, < 500 MB)")


if __name__ == "__main__":
    main()
