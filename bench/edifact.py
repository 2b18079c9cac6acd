"""EDIFACT read speed: pydifact's ``Interchange.from_str`` against the engine, in one run.

    .venv/bin/python bench/edifact.py [--big-mb 100] [--messages 20000]

Generates (in a temp dir) a 20,000-message ORDERS interchange (~4.6 MB) and a 100 MB one, then
prints MB/s and segments/s for pydifact and for the engine's three levels (envelope-checked
message stream, every segment split into elements, the reader's Documents), the ratio, and the
peak RSS of reading the 100 MB file message by message (measured in a child process so the
pydifact run does not count).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from tradelane.formats.edifact import EdifactReader
from tradelane.formats.edifact_envelope import iter_messages
from tradelane.formats.edifact_syntax import SegmentStream
from tradelane.spec import RouteSpec

ROUTE = {
    "name": "bench", "source": {"folder": "inbox"}, "target": {"folder": "outbox"},
    "format": {"type": "edifact", "records": "LIN", "messages": ["ORDERS"]},
    "header": {"order_id": {"source": "BGM.C106.1004"}, "date": {"source": "DTM[137].C507.2380"},
               "buyer": {"source": "NAD[BY].C082.3039"}},
    "fields": {"line": {"source": "LIN.1082"}, "gtin": {"source": "LIN.C212.7140"},
               "qty": {"source": "QTY[21].C186.6060"}, "price": {"source": "PRI[AAA].1.2"}},
}


def message(n: int) -> str:
    lines = "".join(f"LIN+{i}++40{n % 10**9:09d}{i:02d}:SRS'QTY+21:{i * 3}'PRI+AAA:{i}.5?+'"
                    for i in range(1, 3))
    body = (f"BGM+220+PO{n:08d}+9'DTM+137:20240101:102'NAD+BY+5412345000013::9'"
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
    docs = rate("engine: EdifactReader -> Documents (mapped)",
                best(lambda: sum(1 for _ in EdifactReader().read(path, route)), 1), size,
                segments)
    for row in (env, tok, docs):
        print(f"  ratio {row['what']:<44} {row['MB/s'] / py['MB/s']:>6.1f}x pydifact")


def big(path: Path) -> None:
    """Child process: read the big file message by message; print time and peak RSS."""
    route = RouteSpec.model_validate(ROUTE)
    start = time.perf_counter()
    messages = records = 0
    for doc in EdifactReader().read(path, route):
        messages += 1
        records += len(doc.records)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "messages": messages, "records": records,
                      "peak_rss_mb": peak_mb}))


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
            result = json.loads(out.stdout)
            print(f"{size / 1e6:.0f} MB interchange ({n:,} messages), read message by message:")
            print(f"  {size / result['seconds'] / 1e6:.2f} MB/s,"
                  f" {result['records']:,} records, peak RSS {result['peak_rss_mb']:.0f} MB"
                  " (target < 500 MB)")


if __name__ == "__main__":
    main()
