"""EDIFACT read speed: the engine against pydifact and the npm ``edifact`` package, in one run.

    .venv/bin/python bench/edifact.py [--big-mb 100] [--messages 20000] [--no-npm]

Generates (in a temp dir) a 20,000-message D96A ORDERS interchange (~5 MB) and a 100 MB one,
then prints one table: MB/s by the wall clock and by CPU time (user + system of the process,
its threads included: steadier on a loaded machine) for

- pydifact's ``Interchange.from_str`` (parse only; its ``validate()`` does nothing);
- the npm ``edifact`` package under Node: its Reader, the parser with the package's own
  segment and element validation on, and its Tracker over each message's segment order
  (``bench/_node_edifact.js``; installed into ``bench/.node/`` on first run, skipped with a
  message when Node, npm or the network is missing);
- the engine's levels: the envelope-checked message stream, every segment split into
  elements, the reader's Documents, and the whole route through ``tradelane.runner.Runner``
  (claim, stage, read, validate, transform, JSON out, SQLite ledger) with structure
  validation off, then on (every message against D96A ORDERS, every rule ``reject``);

each with its ratio to pydifact and to npm ``edifact`` by CPU time (fastest of 3 runs; 1 for
pydifact). The same bytes go to all three. The 100 MB interchange then goes through the whole
route, validation on, in a child process; its peak RSS is the parent's ``RUSAGE_CHILDREN``
maximum.
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
from dataclasses import dataclass
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


@dataclass
class Timing:
    what: str
    wall: float  # seconds
    cpu: float  # seconds of CPU, user + system, every thread of the process


def timed(what: str, fn: Callable[[], object], repeat: int = 3) -> Timing:
    """The fastest of ``repeat`` runs (by CPU time, the steadier on a loaded machine)."""
    runs = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        runs.append(Timing(what, time.perf_counter() - wall, time.process_time() - cpu))
    return min(runs, key=lambda t: t.cpu)


NPM_VERSION = "1.2.12"
NODE_DIR = Path(__file__).parent / ".node"


def npm_edifact(path: Path, repeat: int = 3) -> Timing | str:
    """The npm ``edifact`` package over ``path`` (see ``_node_edifact.js``), or why not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "Node or npm is not installed"
    if not (NODE_DIR / "node_modules" / "edifact" / "package.json").exists():
        NODE_DIR.mkdir(exist_ok=True)
        try:
            subprocess.run([npm, "install", "--prefix", str(NODE_DIR), "--no-audit",
                            "--no-fund", "--no-save", f"edifact@{NPM_VERSION}"], check=True,
                           capture_output=True, text=True, timeout=300)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            why = (getattr(exc, "stderr", "") or "").strip().splitlines()
            return f"npm install edifact@{NPM_VERSION} failed ({why[-1] if why else exc})"
    # the script times its own runs (wall and CPU): Node's start and the file read left out
    out = subprocess.run([node, str(Path(__file__).with_name("_node_edifact.js")), str(path),
                          str(repeat)], check=True, capture_output=True, text=True)
    run = json.loads(out.stdout)
    if run["errors"]:
        return f"npm edifact found {run['errors']} errors in a valid file"
    return Timing(f"npm edifact {NPM_VERSION}: Reader + Tracker (Node)", run["seconds"],
                  run["cpu"])


def table(size: int, rows: list[Timing], pydifact: Timing, npm: Timing | None) -> None:
    print(f"{'':<44}{'wall':>7}{'CPU':>7}{'CPU':>7}  {'x':>5}  {'x':>5}")
    print(f"{'':<44}{'MB/s':>7}{'MB/s':>7}{'s':>7}  {'pydif':>5}  {'npm':>5}")
    for row in rows:
        ratio_py = f"{pydifact.cpu / row.cpu:5.1f}"
        ratio_npm = f"{npm.cpu / row.cpu:5.1f}" if npm is not None else f"{'-':>5}"
        print(f"{row.what:<44}{size / row.wall / 1e6:7.2f}{size / row.cpu / 1e6:7.2f}"
              f"{row.cpu:7.3f}  {ratio_py}  {ratio_npm}")


def small(path: Path, use_npm: bool = True) -> None:
    from pydifact.segmentcollection import Interchange

    size = path.stat().st_size
    text = path.read_text(encoding="latin-1")
    segments = text.count("'") - 1  # minus the UNA's terminator
    messages = text.count("UNH+")
    print(f"D96A ORDERS interchange: {size / 1e6:.2f} MB, {messages:,} messages,"
          f" {segments:,} segments")
    route = RouteSpec.model_validate(ROUTE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        py = timed("pydifact Interchange.from_str (parse only)",
                   lambda: Interchange.from_str(text), 1)
    npm = npm_edifact(path) if use_npm else "--no-npm"
    env = timed("engine: envelope-checked message stream",
                lambda: sum(1 for _ in iter_messages(SegmentStream(path))))

    def tokens() -> None:
        for block in SegmentStream(path):
            for i in range(len(block)):
                block.elements(i)

    tok = timed("engine: every segment split into elements", tokens)
    staged = Staged.file(path)
    docs = timed("engine: reader -> Documents, validation on",
                 lambda: sum(1 for _ in EdifactReader().read(staged, route)))
    off = min((run_route(path, "off") for _ in range(3)), key=lambda t: t.cpu)
    off.what = "engine: whole route -> JSON, validation off"
    on = min((run_route(path, "reject") for _ in range(3)), key=lambda t: t.cpu)
    on.what = "engine: whole route -> JSON, validation ON"
    rows = [py, *([npm] if isinstance(npm, Timing) else []), env, tok, docs, off, on]
    table(size, rows, py, npm if isinstance(npm, Timing) else None)
    if not isinstance(npm, Timing):
        print(f"npm edifact skipped: {npm}")
    print(f"validation on/off: {off.cpu / on.cpu:.2f} by CPU, {off.wall / on.wall:.2f} by the"
          " wall clock\n(every message against D96A ORDERS, every rule reject; target: the"
          " route at >= 10 MB/s with\nvalidation on)")


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


def run_route(path: Path, validation: str = "reject") -> Timing:
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
            wall, cpu = time.perf_counter(), time.process_time()
            summary = Runner(project, ledger).run_once()
            timing = Timing(f"validation {validation}", time.perf_counter() - wall,
                            time.process_time() - cpu)
        [result] = summary.results
        if result.outcome != Outcome.DELIVERED:
            raise SystemExit(f"the route did not deliver: {result.message}")
        RECORDS[path] = result.records
        return timing
    finally:
        shutil.rmtree(root, ignore_errors=True)


RECORDS: dict[Path, int] = {}


def big(path: Path) -> None:
    """Child process: the whole route over the big file; prints its timing and records."""
    timing = run_route(path)
    print(json.dumps({"wall": timing.wall, "cpu": timing.cpu, "records": RECORDS[path]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--no-npm", action="store_true", help="leave out the npm package")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        big(args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        orders = Path(tmp) / "orders.edi"
        generate(orders, messages=args.messages)
        small(orders, use_npm=not args.no_npm)
        if args.big_mb:
            huge = Path(tmp) / "big.edi"
            n = generate(huge, megabytes=args.big_mb)
            size = huge.stat().st_size
            out = subprocess.run([sys.executable, __file__, "--child", str(huge)], check=True,
                                 capture_output=True, text=True)
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            result = json.loads(out.stdout)
            print(f"{size / 1e6:.0f} MB interchange ({n:,} messages), whole route, validation"
                  f" on: {size / result['wall'] / 1e6:.2f} MB/s wall,"
                  f" {size / result['cpu'] / 1e6:.2f} MB/s CPU, {result['records']:,} records,"
                  f" peak RSS {peak_mb:.0f} MB (targets: >= 10 MB/s, < 500 MB)")


if __name__ == "__main__":
    main()
