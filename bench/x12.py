"""X12 read speed: a 50 MB 850 file through the whole route, against pyx12 and node-x12, in
one run.

    .venv/bin/python bench/x12.py [--mb 50] [--lines 8] [--hipaa-mb 10] [--only-hipaa]

Generates (in a temp dir) one interchange of 850 purchase orders (``--lines`` PO1 lines each,
5010 with repetitions in PER) until it holds ``--mb`` megabytes, then measures on that same
file:

- the engine's envelope-checked stream (``iter_envelope``: tokenizer, ISA/GS/ST rules,
  counts, repeats), and ``X12Reader`` mapping it to Documents;
- the whole route through ``tradelane.runner.Runner`` (claim, stage, read, validate,
  transform, CSV out, SQLite ledger, a 999 written), in a child process: its peak RSS is the
  parent's ``RUSAGE_CHILDREN`` maximum;
- pyx12's ``X12Reader`` (pip ``pyx12``, a dev extra: it tokenizes and checks the envelope,
  segment by segment), iterated over every segment;
- node-x12 (npm ``node-x12``, installed by this script into a temp folder if missing):
  ``X12Parser(true).parse`` of the whole text, timed inside node.

With ``--hipaa-mb 10`` (``--only-hipaa`` skips the rest), it also generates 837P claims
(005010X222A1) and measures the whole route with ``format.hipaa: reject`` (pyx12 validates
every set, the reader maps them, a 999 is written) against pyx12's own ``x12n_document`` on
the same file (validation and its 999): the guide check costs what pyx12 costs, so the ratio
says what tradelane adds around it. 2026-12-07, 10 MB (14,599 claims), load average 5-10:
route 49.4 s CPU, pyx12 52.6 s CPU (1.07x; wall clock 0.95x and 1.03x in two runs), route
peak RSS 238 MB.

Each ratio is the route's MB/s over the other reader's. The engine streams: its memory is
the read batch (about 100,000 segments) and the largest transaction set, plus a few hundred
bytes per transaction set of the file (the ST02s of the open group, for the repeat check, and
the 999's AK2 list); not the file's bytes. pyx12 also streams; node-x12's ``parse`` holds the
whole interchange.
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
from pathlib import Path

import yaml

from tradelane.formats.x12 import X12Reader
from tradelane.formats.x12_envelope import iter_envelope
from tradelane.formats.x12_syntax import SegmentStream
from tradelane.ledger import Ledger
from tradelane.models import Outcome
from tradelane.runner import Runner
from tradelane.spec import RouteSpec, load_project
from tradelane.staging import Staged

NODE_X12 = "node-x12@1.7.1"
NODE_DIR = Path(tempfile.gettempdir()) / "tradelane-bench-node-x12"

ISA = ("ISA*00*          *00*          *ZZ*DISTRIB01      *ZZ*TRADELANE      *261125*0930*^*"
       "00501*000000101*0*P*:~\n")

#: The route of the benchmark: typed header and record fields, header copied into each line.
ROUTE_YAML = {
    "source": {"folder": "inbox/po", "pattern": "*.x12", "min_age": "0s"},
    "format": {"type": "x12", "records": "PO1", "transactions": ["850"],
               "ack": {"folder": "outbox/acks"}},
    "header": {"po_number": {"source": "BEG.3", "required": True},
               "po_date": {"source": "BEG.5", "type": "date", "format": "%Y%m%d"},
               "ship_to": {"source": "N1[ST].2", "required": True},
               "phone": {"source": "PER.4[1].2"}},
    "fields": {"line_no": {"source": "PO1.1", "type": "integer", "required": True},
               "qty": {"source": "PO1.2", "type": "decimal", "min": 0},
               "unit": {"source": "PO1.3"},
               "unit_price": {"source": "PO1.4", "type": "decimal"},
               "sku": {"source": "PO1.7", "required": True},
               "set": {"source": "_message"}},
    "transform": {"copy_header": ["po_number", "po_date", "ship_to"]},
    "target": {"folder": "outbox/po", "format": "csv"},
}


def order(n: int, lines: int) -> str:
    body = [f"BEG*00*SA*PO{n:09d}**20261125", "REF*DP*038", "DTM*002*20261214",
            f"N1*ST*STORE {n % 977}*92*{n % 10000:04d}", "N3*31875 SOLON RD", "N4*SOLON*OH*44139",
            "PER*BD*JANE DOE*TE:5551234^EM:buyer@example.com"]
    for i in range(1, lines + 1):
        body.append(f"PO1*{i}*{i * 6}*EA*{i}.49**VP*SKU-{n % 100000:05d}-{i:02d}")
        body.append(f"PID*F****ITEM {i} OF ORDER {n}")
    body.append(f"CTT*{lines}")
    control = f"{n:09d}"
    segs = [f"ST*850*{control}", *body, f"SE*{len(body) + 2}*{control}"]
    return "~\n".join(segs) + "~\n"


def generate(path: Path, megabytes: float, lines: int) -> tuple[int, int]:
    """Write the file; returns (transaction sets, segments)."""
    limit = megabytes * 1_000_000
    n = size = 0
    with path.open("w", encoding="ascii") as fh:
        head = ISA + "GS*PO*DISTRIB01*TRADELANE*20261125*0930*101*X*005010~\n"
        fh.write(head)
        size = len(head)
        while size < limit:
            n += 1
            text = order(n, lines)
            size += len(text)
            fh.write(text)
        fh.write(f"GE*{n}*101~\nIEA*1*000000101~\n")
    return n, 4 + n * (2 * lines + 10)


CLAIM = ["BHT*0019*00*{n:010d}*20261207*1200*CH", "NM1*41*2*PREMIER BILLING SERVICE*****46*TGJ23",
         "PER*IC*JERRY*TE*3055552222", "NM1*40*2*KEY INSURANCE COMPANY*****46*66783JJT",
         "HL*1**20*1", "NM1*85*2*BEN KILDARE SERVICE*****XX*9876543210", "N3*234 SEAWAY ST",
         "N4*MIAMI*FL*33111", "REF*EI*587654321", "HL*2*1*22*0", "SBR*P*18*12312-A******CI",
         "NM1*IL*1*SMITH*TED****MI*{n:011d}", "N3*236 N MAIN ST", "N4*MIAMI*FL*33413",
         "DMG*D8*19430501*M", "NM1*PR*2*ALLIANCE HEALTH AND LIFE INSURANCE*****PI*741234",
         "CLM*C{n:09d}*100***11:B:1*Y*A*Y*I", "HI*ABK:J0300*ABF:J320", "LX*1",
         "SV1*HC:99213*40*UN*1***1", "DTP*472*D8*20261006", "LX*2", "SV1*HC:87070*60*UN*1***1",
         "DTP*472*D8*20261006"]
HIPAA_ROUTE = {
    "source": {"folder": "inbox/po", "pattern": "*.x12", "min_age": "0s"},
    "format": {"type": "x12", "records": "CLM", "transactions": ["837"], "hipaa": "reject",
               "ack": {"folder": "outbox/acks"}},
    "fields": {"claim": {"source": "CLM.1", "required": True},
               "amount": {"source": "CLM.2", "type": "decimal"},
               "patient": {"source": "NM1[IL].9"}, "set": {"source": "_message"}},
    "target": {"folder": "outbox/po", "format": "csv"},
}


def generate_837(path: Path, megabytes: float) -> tuple[int, int]:
    """837P claims, one per transaction set, valid against 005010X222A1."""
    limit = megabytes * 1_000_000
    n = size = 0
    with path.open("w", encoding="ascii") as fh:
        head = (ISA + "GS*HC*DISTRIB01*TRADELANE*20261207*1200*1*X*005010X222A1~\n").replace(
            "*P*:~", "*T*:~")
        fh.write(head)
        size = len(head)
        while size < limit:
            n += 1
            segs = [f"ST*837*{n:09d}*005010X222A1", *(s.format(n=n) for s in CLAIM)]
            text = "".join(s + "~\n" for s in [*segs, f"SE*{len(segs) + 1}*{n:09d}"])
            size += len(text)
            fh.write(text)
        fh.write(f"GE*{n}*1~\nIEA*1*000000101~\n")
    return n, 4 + n * (len(CLAIM) + 2)


def pyx12_document(path: Path) -> None:
    """pyx12's own validation of the file, with its 999, as its x12valid script runs it."""
    import io
    import logging

    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").disabled = True
    if not pyx12.x12n_document.x12n_document(pyx12.params.params(), str(path), io.StringIO(),
                                             None):
        raise SystemExit("pyx12 found errors in the benchmark 837")


def hipaa(megabytes: float, tmp: str) -> None:
    path = Path(tmp) / "claims837.x12"
    sets, segments = generate_837(path, megabytes)
    size = path.stat().st_size
    print(f"837P interchange (005010X222A1): {size / 1e6:.1f} MB, {sets:,} transaction sets,"
          f" {segments:,} segments")
    cpu = _children_cpu()
    out = subprocess.run([sys.executable, __file__, "--child", str(path), "--hipaa-route"],
                         check=True, capture_output=True, text=True)
    route_cpu = _children_cpu() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = json.loads(out.stdout)
    rate("engine: route with hipaa: reject -> CSV + 999", result["seconds"], size, segments)
    print(f"    {result['records']:,} records, acks {result['acks']},"
          f" peak RSS {peak_mb:.0f} MB (the first child: its own peak),"
          f" CPU {route_cpu:.1f} s ({size / route_cpu / 1e6:.2f} MB/s of CPU)")
    cpu = time.process_time()
    seconds = timed(lambda: pyx12_document(path))
    py_cpu = time.process_time() - cpu
    rate("pyx12 4.0 x12n_document (validate + 999)", seconds, size, segments)
    print(f"    CPU {py_cpu:.1f} s ({size / py_cpu / 1e6:.2f} MB/s of CPU)")
    # from the times, not the rounded rates; CPU time too (a loaded machine slows both)
    print(f"  ratio route with hipaa / pyx12 x12n_document: {seconds / result['seconds']:.2f}x"
          f" wall clock, {py_cpu / route_cpu:.2f}x CPU")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rate(label: str, seconds: float, size: int, segments: int) -> dict:
    row = {"what": label, "seconds": round(seconds, 2), "MB/s": round(size / seconds / 1e6, 2),
           "segments/s": int(segments / seconds)}
    print(f"  {label:<50} {row['MB/s']:>7.2f} MB/s {row['segments/s']:>10,} segments/s"
          f"  ({row['seconds']} s)")
    return row


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def engine_stream(path: Path) -> int:
    return sum(1 for _ in iter_envelope(SegmentStream(path, encoding="ascii")))


def engine_reader(path: Path) -> int:
    spec = RouteSpec.model_validate({"name": "bench", **ROUTE_YAML})
    return sum(d.records.num_rows for d in X12Reader().read(Staged.file(path), spec))


def pyx12_reader(path: Path) -> int:
    import pyx12.x12file

    count = 0
    with pyx12.x12file.X12Reader(str(path)) as reader:
        for _ in reader:
            count += 1
    errors = reader.pop_errors()
    if errors:
        raise SystemExit(f"pyx12 found errors in the benchmark file: {errors[:3]}")
    return count


NODE_SCRIPT = """
const fs = require('fs');
const { X12Parser } = require('node-x12');
const text = fs.readFileSync(process.argv[2], 'latin1');
const start = process.hrtime.bigint();
const interchange = new X12Parser(true).parse(text);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
let sets = 0;
for (const g of interchange.functionalGroups) sets += g.transactions.length;
console.log(JSON.stringify({seconds, sets, rss: process.memoryUsage().rss}));
"""


def node_x12(path: Path) -> dict | None:
    """node-x12's parse of the file, or None (with the reason printed) if node is missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("  node-x12: node or npm is not installed; skipped")
        return None
    if not (NODE_DIR / "node_modules" / "node-x12").exists():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        (NODE_DIR / "package.json").write_text('{"private": true}\n')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", NODE_X12], cwd=NODE_DIR,
                       check=True, capture_output=True, timeout=600)
    script = NODE_DIR / "parse.js"
    script.write_text(NODE_SCRIPT)
    out = subprocess.run(["node", "--max-old-space-size=16000", str(script), str(path)],
                         cwd=NODE_DIR, check=True, capture_output=True, text=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_route(path: Path, spec: dict | None = None) -> dict:
    """One pass of the whole route over ``path`` in a fresh temp project (SQLite ledger)."""
    root = Path(tempfile.mkdtemp(prefix="x12-route-"))
    try:
        (root / "mappings").mkdir()
        (root / "mappings" / "po.yaml").write_text(yaml.safe_dump(spec or ROUTE_YAML))
        inbox = root / "inbox" / "po"
        inbox.mkdir(parents=True)
        if path.stat().st_dev == inbox.stat().st_dev:
            os.link(path, inbox / path.name)  # no copy of 50 MB; the route deletes the link
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
        acks = [p.name for p in (root / "outbox" / "acks").iterdir()]
        return {"seconds": seconds, "records": result.records, "acks": acks}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=50)
    parser.add_argument("--lines", type=int, default=8)
    parser.add_argument("--hipaa-mb", type=float, default=0,
                        help="also an 837P of this size through a route with hipaa: reject")
    parser.add_argument("--only-hipaa", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--hipaa-route", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_route(args.child, HIPAA_ROUTE if args.hipaa_route else None)))
        return
    if args.hipaa_mb or args.only_hipaa:
        with tempfile.TemporaryDirectory() as tmp:
            hipaa(args.hipaa_mb or 10, tmp)
        if args.only_hipaa:
            return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "po850.x12"
        sets, segments = generate(path, args.mb, args.lines)
        size = path.stat().st_size
        print(f"850 interchange: {size / 1e6:.1f} MB, {sets:,} transaction sets,"
              f" {segments:,} segments")
        out = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True,
                             capture_output=True, text=True)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        result = json.loads(out.stdout)
        route = rate("engine: whole route, Runner -> CSV + 999", result["seconds"], size,
                     segments)
        print(f"    {result['records']:,} records, acks {result['acks']},"
              f" peak RSS {peak_mb:.0f} MB (the file is {size / 1e6:.0f} MB)")
        rate("engine: envelope-checked stream (iter_envelope)", timed(lambda: engine_stream(
            path)), size, segments)
        rate("engine: X12Reader -> Documents (mapped)", timed(lambda: engine_reader(path)), size,
             segments)
        py = rate("pyx12 4.0 X12Reader, every segment", timed(lambda: pyx12_reader(path)), size,
                  segments)
        node = node_x12(path)
        rows = [py]
        if node is not None:
            if node["sets"] != sets:
                raise SystemExit(f"node-x12 found {node['sets']} sets, not {sets}")
            rows.append(rate("node-x12 1.7 X12Parser(strict).parse", node["seconds"], size,
                             segments))
            print(f"    node-x12 RSS after parse {node['rss'] / 2**20:.0f} MB")
        for row in rows:
            print(f"  ratio whole route / {row['what']:<40} {route['MB/s'] / row['MB/s']:>6.2f}x")


if __name__ == "__main__":
    main()
