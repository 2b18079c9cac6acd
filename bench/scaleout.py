"""Scale-out (issue 18): 5,000 small files through one route by 1 worker on SQLite and by 1,
2 and 4 workers on one PostgreSQL ledger, in the same run: files per second and the ratios.

A worker is a ``tradelane run --once`` process; the N workers of a setup are started
together over the same inbox and race for its files through the ledger's claims, as N serve
processes on N hosts do. Each setup gets a fresh project folder and a fresh ledger (a new
PostgreSQL schema, its tables made before the clock starts, as a deployment makes them once),
and afterwards every file must be archived once with one output.
Targets on the 2-core machine: 2 workers >= 1.7x one worker on PostgreSQL; one worker on
PostgreSQL >= 0.8x one worker on SQLite.

It also measures, first, a worker's start-up CPU (subtracted from the CPU per file it
prints) and, in this process, what one file costs the PostgreSQL ledger (statements,
commits, time waiting for them) and the storage. Every setup runs ``--repeat`` times; the
ratios are taken within each round and shown as median and best.

Around every setup it also reads what the machine did: the workers' user and system CPU
(``RUSAGE_CHILDREN``), the PostgreSQL server's CPU (every ``postgres`` process in /proc, the
backends that exited included), the machine's busy time (/proc/stat), the ledger's commits
(``pg_stat_database``) and the disk's busy time and flushes (/proc/diskstats). From these it
prints the cores each setup keeps busy and the ceiling a second worker can reach on this
machine: cores / (cores one worker's setup keeps busy). The PostgreSQL and disk figures are
the whole server's and disk's: another user of them during a setup shows up there.

    .venv/bin/python bench/scaleout.py [--files 5000] [--repeat 3] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
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

TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class Reading:
    """What the machine had done by one moment; two readings give what a setup cost."""

    wall: float
    user: float  # the workers' (this process's children's) CPU, seconds
    sys: float
    postgres: float  # every postgres process's CPU, seconds (the whole server's)
    busy: float  # the machine's busy CPU time, seconds (all cores)
    commits: int  # the ledger database's committed transactions
    disk_ms: int  # the ledger's and the files' disk: time it was busy
    flushes: int  # ... and the cache flushes (fsyncs) it was asked for


def _cpu_of(pid: int | str) -> tuple[bytes, list[bytes]] | None:
    """A process's name and /proc/<pid>/stat fields after it (None if it has exited)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    return raw[raw.index(b"(") + 1:raw.rindex(b")")], raw[raw.rindex(b")") + 2:].split()


def postgres_cpu() -> float:
    """CPU seconds of every ``postgres`` process, the exited ones included: a backend's time
    goes to the postmaster's children's time (cutime, cstime) when it exits. The whole
    server's: another user of it counts too."""
    ticks = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (got := _cpu_of(pid)) is not None and got[0] == b"postgres":
            ticks += sum(int(x) for x in got[1][11:15])  # utime stime cutime cstime
    return ticks / TICK


class Backends(threading.Thread):
    """The CPU of the PostgreSQL backends serving the bench's workers, and theirs alone (the
    server is shared with whatever else runs on the machine): the workers connect with an
    ``application_name`` of their own; their backends are looked up in pg_stat_activity and
    their /proc CPU read every 50 ms until they exit. What a backend does after its last
    reading (its final commit and exit) is missed: a few ms per worker."""

    def __init__(self, pg: str, tag: str):
        super().__init__(daemon=True)
        self.engine = create_engine(pg)
        self.tag = tag
        self.seen: dict[int, int] = {}  # backend pid -> the last CPU ticks read
        self.stop = threading.Event()

    def run(self) -> None:
        query = text("SELECT pid FROM pg_stat_activity WHERE application_name = :tag")
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                pids = conn.execute(query, {"tag": self.tag}).scalars().all()
                conn.rollback()  # a fresh snapshot of pg_stat_activity next time
                for pid in set(pids) | set(self.seen):
                    if (got := _cpu_of(pid)) is not None and got[0] == b"postgres":
                        self.seen[pid] = max(self.seen.get(pid, 0),
                                             int(got[1][11]) + int(got[1][12]))
                self.stop.wait(0.05)
        self.engine.dispose()

    def finish(self) -> float:
        self.stop.set()
        self.join()
        return sum(self.seen.values()) / TICK


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot: /proc/stat's cpu line
    without idle and iowait."""
    with open("/proc/stat") as fh:
        values = [int(x) for x in fh.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICK


def disk_of(path: Path) -> str | None:
    """The /proc/diskstats name of the whole disk ``path`` is on (the files and, on this
    machine, PostgreSQL's WAL share it), or None if it is not a plain block device."""
    dev = os.stat(path).st_dev
    link = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not link.exists():
        return None
    real = link.resolve()
    return (real.parent.name if (real / "partition").exists() else real.name) or None


def disk_stats(disk: str | None) -> tuple[int, int]:
    """(milliseconds the disk was busy, flush requests completed) since boot."""
    if disk is None:
        return 0, 0
    with open("/proc/diskstats") as fh:
        for line in fh:
            parts = line.split()
            if parts[2] == disk:
                return int(parts[12]), int(parts[17]) if len(parts) > 17 else 0
    return 0, 0


def database_commits(pg: str) -> int:
    engine = create_engine(pg)
    with engine.connect() as conn:
        commits = conn.execute(text("SELECT xact_commit FROM pg_stat_database"
                                    " WHERE datname = current_database()")).scalar_one()
    engine.dispose()
    return int(commits)


def reading(pg: str, disk: str | None) -> Reading:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    disk_ms, flushes = disk_stats(disk)
    return Reading(time.perf_counter(), children.ru_utime, children.ru_stime, postgres_cpu(),
                   machine_busy(), database_commits(pg), disk_ms, flushes)


def settled(pg: str, disk: str | None) -> Reading:
    """A reading once the workers' backends have exited and sent their statistics (they do
    on exit; the postmaster reaps them a moment later)."""
    time.sleep(0.5)
    return reading(pg, disk)


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


def create_ledger(url: str) -> None:
    """The ledger's tables, made before the clock starts: a deployment creates them once, and
    PostgreSQL's migrations (some 0.2 s) would otherwise be timed in its runs and not SQLite's."""
    from tradelane.ledger import Ledger

    with Ledger(url, worker="bench-setup"):
        pass


def run(root: Path, workers: int) -> float:
    """Seconds from starting ``workers`` processes to the last one's exit (their CPU time
    is in ``RUSAGE_CHILDREN``)."""
    return run_each([root] * workers)


def run_each(roots: list[Path]) -> float:
    """``run`` with one worker per project in ``roots``, all started together."""
    env = {**os.environ}
    env.pop("TRADELANE_LEDGER_URL", None)
    start = time.perf_counter()
    # --json: the console table of every file that ``run --once`` prints otherwise is the
    # command line's, not a worker's (serve prints none), and cost more than a third of a
    # small file's CPU here (0.9 ms user + 0.4 ms system per file, at load 5)
    procs = [subprocess.Popen([str(TRADELANE), "run", "--once", "--json", "-C", str(root)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
             for root in roots]
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


def pg_schema(url: str, tag: str = "tradelane-bench") -> tuple[str, str]:
    """A new schema and the ledger URL that uses it; the workers connect as ``tag``
    (``application_name``), so that their backends can be told apart (``Backends``)."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return schema, f"{url}?options=-csearch_path%3D{schema}&application_name={tag}"


def bench_database(url: str) -> str:
    """The URL of a database of the bench's own beside ``url``'s (made if missing): its
    commit count (pg_stat_database) is then the workers' alone, whatever else uses the
    server."""
    from sqlalchemy.engine import make_url

    given = make_url(url)
    name = f"{given.database}_scaleout"
    engine = create_engine(given, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                        ).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return given.set(database=name).render_as_string(hide_password=False)


def drop_schema(url: str, schema: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


SETUPS = (("sqlite, 1 worker", "sqlite", 1), ("postgresql, 1 worker", "pg", 1),
          ("postgresql, 2 workers", "pg", 2), ("postgresql, 4 workers", "pg", 4),
          # the control: 2 workers each on an inbox and a ledger of its own (half the files
          # each), the same work with no race for files; against "2 workers" it shows what
          # sharing one inbox costs, apart from what the machine can give two processes
          ("postgresql, 2 apart", "pg-apart", 2))


@dataclass(frozen=True)
class Setup:
    """One setup's run: files per second and what the machine did meanwhile."""

    files: int
    workers: int
    seconds: float
    cost: Reading  # the difference of the readings around the run
    startup: tuple[float, float]  # a worker's start-up CPU, user and system
    backends: float  # CPU seconds of the PostgreSQL backends that served the workers

    @property
    def rate(self) -> float:
        return self.files / self.seconds

    def cores(self) -> tuple[float, float, float]:
        """Cores kept busy on average: by the workers, by their PostgreSQL backends, by
        anything else (PostgreSQL's own writers, other users of the machine)."""
        workers = (self.cost.user + self.cost.sys) / self.seconds
        postgres = self.backends / self.seconds
        return workers, postgres, max(0.0, self.cost.busy / self.seconds - workers - postgres)

    def cpu_per_file(self) -> float:
        """CPU seconds per file, the workers' (start-up included) and their backends'."""
        return (self.cost.user + self.cost.sys + self.backends) / self.files

    def per_file(self) -> dict[str, float]:
        """Milliseconds (counts for commits and flushes) per file; the workers' CPU without
        their start-up (imports, connecting), which a longer run spreads thinner."""
        user = max(0.0, self.cost.user - self.workers * self.startup[0])
        sys_ = max(0.0, self.cost.sys - self.workers * self.startup[1])
        return {"user": 1000 * user / self.files, "sys": 1000 * sys_ / self.files,
                "postgres": 1000 * self.backends / self.files,
                "server": 1000 * self.cost.postgres / self.files,
                "commits": self.cost.commits / self.files,
                "disk": self.cost.disk_ms / self.files, "flushes": self.cost.flushes / self.files}


def one_round(base: Path, files: int, pg: str, startup_cpu: tuple[float, float],
              disk: str | None) -> dict[str, Setup]:
    """Every setup once, in order."""
    done: dict[str, Setup] = {}
    for name, backend, workers in SETUPS:
        root = base / name.replace(", ", "-").replace(" ", "")
        apart = backend == "pg-apart"
        roots = [root / str(i) for i in range(workers)] if apart else [root]
        ledgers, schemas = [], []
        tag = f"scaleout-{uuid.uuid4().hex[:8]}"
        for each in roots:
            if backend == "sqlite":
                ledgers.append(f"sqlite:///{each}/.tradelane/ledger.db")
            else:
                schema, ledger = pg_schema(pg, tag)
                schemas.append(schema)
                ledgers.append(ledger)
            make_project(each, ledgers[-1], files // len(roots))
            create_ledger(ledgers[-1])
        load = os.getloadavg()[0]
        before = settled(pg, disk)
        backends = Backends(pg, tag)
        backends.start()
        seconds = run_each(roots) if apart else run(root, workers)
        # the machine's busy time up to the workers' exit; PostgreSQL's CPU and commits once
        # their backends have exited too
        ended = reading(pg, disk)
        after = settled(pg, disk)
        backend_cpu = backends.finish()
        cost = Reading(seconds, after.user - before.user, after.sys - before.sys,
                       after.postgres - before.postgres, ended.busy - before.busy,
                       after.commits - before.commits, after.disk_ms - before.disk_ms,
                       after.flushes - before.flushes)
        for each, ledger in zip(roots, ledgers, strict=True):
            check(each, ledger, files // len(roots))
        setup = done[name] = Setup(files, workers, seconds, cost, startup_cpu, backend_cpu)
        pf, (w, p, other) = setup.per_file(), setup.cores()
        commits = f", {pf['commits']:.2f} ledger commits" if backend != "sqlite" else ""
        print(f"  {name:24} {seconds:6.1f} s {setup.rate:6.1f} files/s, load {load:.1f}\n"
              f"    per file: workers {pf['user']:.2f} ms user + {pf['sys']:.2f} ms sys"
              f" (+{workers * sum(startup_cpu):.1f} s start-up), PostgreSQL"
              f" {pf['postgres']:.2f} ms (whole server {pf['server']:.2f}){commits}, disk"
              f" busy {pf['disk']:.2f} ms"
              f" ({pf['flushes']:.2f} flushes)\n"
              f"    cores busy: workers {w:.2f} + PostgreSQL {p:.2f} + other {other:.2f}"
              f" = {w + p + other:.2f} of {CORES}", flush=True)
        for schema in schemas:
            drop_schema(pg, schema)
        shutil.rmtree(root)
    return done


def startup(base: Path, pg: str) -> tuple[float, float]:
    """CPU seconds (user, system) of a worker that starts, loads the engine and processes one
    file (the best of three): what every worker of a setup pays once, near enough."""
    schema, ledger = pg_schema(pg)
    root = base / "startup"
    make_project(root, ledger, 1)
    run(root, 1)  # creates the tables
    best = (float("inf"), float("inf"))
    for i in range(3):
        path = root / "inbox" / "orders" / f"one-{i}.csv"
        path.write_text(f"order_id;qty;price\nPO-9{i};1;1.50\n")
        os.utime(path, (time.time() - 60, time.time() - 60))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run(root, 1)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime),
                   key=sum)
    drop_schema(pg, schema)
    shutil.rmtree(root)
    return best


def ledger_costs(base: Path, pg: str, files: int = 500) -> None:
    """Per file, what one worker asks of the PostgreSQL ledger (statements, commits, and the
    time spent waiting for them) and of the storage (bytes written, files created), measured
    in this process over ``files`` files."""
    from sqlalchemy import event

    from tradelane.ledger import Ledger
    from tradelane.runner import Runner
    from tradelane.spec import load_project

    schema, ledger_url = pg_schema(pg)
    root = base / "costs"
    make_project(root, ledger_url, files)
    counts = {"statements": 0, "commits": 0, "seconds": 0.0}
    started: list[float] = []
    with Ledger(ledger_url, worker="bench") as ledger:
        @event.listens_for(ledger.engine, "before_cursor_execute")
        def _before(*_: object) -> None:
            started.append(time.perf_counter())

        @event.listens_for(ledger.engine, "after_cursor_execute")
        def _after(*_: object) -> None:
            counts["statements"] += 1
            counts["seconds"] += time.perf_counter() - started.pop()

        @event.listens_for(ledger.engine, "commit")
        def _commit(*_: object) -> None:
            counts["commits"] += 1

        project = load_project(root)
        with Runner(project, ledger) as runner:
            runner.run_once()
    out = root / "outbox" / "orders"
    written = sum(p.stat().st_size for p in out.iterdir()) + sum(
        p.stat().st_size for p in (root / "archive").rglob("*") if p.is_file())
    print(f"ledger, per file (one worker, {files} files): {counts['statements'] / files:.1f}"
          f" statements, {counts['commits'] / files:.2f} commits,"
          f" {1000 * counts['seconds'] / files:.2f} ms waiting for PostgreSQL;"
          f" storage: {written / files / 1024:.1f} KB written, 2 files created (output,"
          " archive copy)")
    drop_schema(pg, schema)
    shutil.rmtree(root)


def storage_costs(base: Path, files: int = 500) -> None:
    """What a file costs the storage, alone, as the engine does it for one small file: the
    output written to a temporary name, fsynced and renamed; the original renamed into the
    archive; both folders fsynced once per chunk of 128. Timed on the bench's file system."""
    inbox, out, archive = base / "s-in", base / "s-out", base / "s-arc"
    for folder in (inbox, out, archive):
        folder.mkdir()
    data = b"x" * 600
    for i in range(files):
        (inbox / f"{i}.csv").write_bytes(data)
    start = time.perf_counter()
    for chunk in range(0, files, 128):
        for i in range(chunk, min(chunk + 128, files)):
            tmp = out / f"{i}.tmp"
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.rename(out / f"{i}.json")
            (inbox / f"{i}.csv").rename(archive / f"{i}.csv")
        for folder in (out, archive, inbox):
            fd = os.open(folder, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
    seconds = time.perf_counter() - start
    print(f"storage, per file: {1000 * seconds / files:.2f} ms (an output written, fsynced and"
          f" renamed, the original renamed into the archive): at most {files / seconds:,.0f}"
          " files/s from one writer")
    for folder in (inbox, out, archive):
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    args.pg = bench_database(args.pg)
    base = Path(tempfile.mkdtemp(prefix="scaleout-", dir=Path(__file__).parent / ".data"
                                 if (Path(__file__).parent / ".data").is_dir() else None))
    disk = disk_of(base)
    print(f"{args.files} files of about 0.4 KB, {args.repeat} rounds, {CORES} cores, disk"
          f" {disk}; load average at start: {os.getloadavg()[0]:.1f}")
    rounds: list[dict[str, Setup]] = []
    try:
        startup_cpu = startup(base, args.pg)
        print(f"a worker's start-up: {startup_cpu[0]:.2f} s user + {startup_cpu[1]:.2f} s sys"
              " CPU", flush=True)
        ledger_costs(base, args.pg)
        storage_costs(base)
        for i in range(args.repeat):
            print(f"round {i + 1}:", flush=True)
            rounds.append(one_round(base, args.files, args.pg, startup_cpu, disk))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    summary(rounds)


def summary(rounds: list[dict[str, Setup]]) -> None:
    one, sqlite = "postgresql, 1 worker", "sqlite, 1 worker"

    def ratios(a: str, b: str) -> list[float]:
        # within each round (the setups of one round ran minutes apart, not hours)
        return sorted(r[a].rate / r[b].rate for r in rounds)

    def show(values: list[float]) -> str:
        return (f"median {statistics.median(values):.2f}x, best {values[-1]:.2f}x"
                f" ({', '.join(f'{x:.2f}' for x in values)})")

    print(f"2 workers / 1 on PostgreSQL: {show(ratios('postgresql, 2 workers', one))}"
          " (target >= 1.7x)")
    print(f"4 workers / 1 on PostgreSQL: {show(ratios('postgresql, 4 workers', one))}")
    print(f"1 worker PostgreSQL / SQLite: {show(ratios(one, sqlite))} (target >= 0.8x)")
    sharing = ratios("postgresql, 2 workers", "postgresql, 2 apart")
    print(f"2 workers on one inbox / 2 apart: {show(sharing)} (1x: sharing costs nothing)")
    # the ceiling: N workers can keep at most all the cores busy; one worker's setup (the
    # worker and its PostgreSQL) already keeps some busy, so N workers reach at most
    # cores / that, whatever the code does, unless a file costs less
    for n in (2, 4):
        name = f"postgresql, {n} workers"
        lines: list[tuple[float, ...]] = []
        for r in rounds:
            w, p, _ = r[one].cores()
            ceiling = min(float(n), CORES / (w + p))
            # the CPU a file costs (worker and PostgreSQL) rises when both cores work (the
            # host's caches, its other guests): at the N-worker setup's cost, the ceiling is
            # lower by that much
            dearer = r[name].cpu_per_file() / r[one].cpu_per_file()
            lines.append((r[name].rate / r[one].rate, ceiling, w, p,
                          min(float(n), ceiling / dearer), dearer))
        got, ceiling, w, p, effective, dearer = (statistics.median(x[i] for x in lines)
                                                 for i in range(6))
        print(f"{n} workers / 1: {got:.2f}x of a {ceiling:.2f}x ceiling"
              f" ({100 * got / ceiling:.0f}%):"
              f" one worker's setup keeps {w + p:.2f} cores busy (worker {w:.2f} + PostgreSQL"
              f" {p:.2f}), so {n} can reach at most min({n}, {CORES}/{w + p:.2f}); a file costs"
              f" {100 * (dearer - 1):+.0f}% CPU with {n} workers, which leaves"
              f" {effective:.2f}x ({100 * got / effective:.0f}% reached) (medians of the"
              " rounds)")
    other = statistics.median(r[one].cores()[2] for r in rounds)
    if other > 0.3:
        print(f"  (the machine was not idle: {other:.2f} cores busy with other work during the"
              " one-worker setup, so the ceiling above is not what an idle machine allows)")
    costs = {k: statistics.median(r[one].per_file()[k] for r in rounds)
             for k in ("user", "sys", "postgres", "commits", "disk", "flushes")}
    worker = costs["user"] + costs["sys"]
    print(f"one worker on PostgreSQL, per file (medians): worker {costs['user']:.2f} ms user +"
          f" {costs['sys']:.2f} ms sys, PostgreSQL {costs['postgres']:.2f} ms CPU,"
          f" {costs['commits']:.2f} ledger commits, disk busy {costs['disk']:.2f} ms"
          f" ({costs['flushes']:.2f} flushes)")
    # beyond one machine: each part alone, at the per-file costs measured here
    print(f"what saturates first beyond this machine: a worker process {1000 / worker:,.0f}"
          f" files/s per core it has; PostgreSQL on its own {CORES}-core host"
          f" {CORES * 1000 / costs['postgres']:,.0f} files/s"
          f" ({CORES * 1000 / costs['postgres'] / (1000 / worker):.1f} workers' worth);"
          f" the disk {1000 / costs['disk']:,.0f} files/s if its busy time does not overlap"
          f" ({costs['disk']:.2f} ms per file)" if costs["disk"] and costs["postgres"] else "")


if __name__ == "__main__":
    main()
