"""The crash harness: mixed batches, SIGKILL at named crash points and at random moments,
restart until done, then every invariant of "never lost, never twice, never silent".

A *round* lays a fresh project with a random subset of the routes below and their files,
then runs ``tradelane run --once`` again and again: the first runs are armed (a named crash
point and the Nth time it is reached, or a SIGKILL after a random delay), the last ones are
not, until nothing is left in hand. Each route was first run once without crashes; the round
must end exactly as that reference did:

- every input delivered once, byte-identical to the reference, or quarantined with a complete
  reason file; every input gone from its inbox and kept in the archive as it was;
- every acknowledgement written once; every HTTP batch processed once by a server that
  honours idempotency keys;
- no temp file left; no process of the round left; no impossible transition in any
  file's history.

The runs are forked from a warm interpreter (``engine_host.py``); one round in ten runs the
real console script instead. ``CHAOS_SEED`` replays a campaign, ``CHAOS_KILLS`` sets its size.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from support.http_server import RecordingServer
from support.project import REPO
from tradelane.ledger import Ledger
from tradelane.paths import TEMP_MARK

HOST = Path(__file__).with_name("engine_host.py")
OLD = time.time() - 3600  # inputs' mtime: older than every route's min_age
MARKER = "TRADELANE_CHAOS_ROUND"

#: Every state change a file may make. Anything else in a history is a broken promise:
#: above all, nothing leaves ``delivered``/``archived`` except to be finished.
ALLOWED = {
    (None, "claimed"), (None, "quarantined"), (None, "pending"), (None, "duplicate"),
    (None, "lost"), (None, "discarded"),
    ("claimed", "claimed"), ("claimed", "staged"), ("claimed", "quarantined"),
    ("claimed", "pending"), ("claimed", "duplicate"), ("claimed", "lost"),
    ("claimed", "discarded"), ("claimed", "delivered"), ("claimed", "archived"),
    ("staged", "claimed"), ("staged", "delivered"), ("staged", "quarantined"),
    ("staged", "pending"), ("staged", "duplicate"),
    ("delivered", "archived"), ("delivered", "delivered"),
    ("pending", "claimed"), ("pending", "lost"), ("pending", "discarded"),
    ("pending", "pending"), ("claimed", "discovered"), ("discovered", "claimed"),
    ("quarantined", "quarantined"), ("duplicate", "duplicate"), ("archived", "archived"),
}

FINAL = {"archived", "quarantined", "duplicate"}


# -- the routes and their files -----------------------------------------------------------------

ORDERS_FIELDS = """\
format: {type: csv, delimiter: ";"}
fields:
  order_id: {source: Order, required: true, pattern: "PO-\\\\d+"}
  qty:      {source: Qty, type: integer, required: true, min: 1}
  price:    {source: Price, type: decimal, min: 0}
"""


def orders_route(source: str, target: str, extra: str = "") -> str:
    return f"source: {source}\n{ORDERS_FIELDS}{extra}target: {target}\n"


def orders_csv(first: int, rows: int, bad: tuple[int, ...] = ()) -> bytes:
    lines = ["Order;Qty;Price"]
    for i in range(first, first + rows):
        qty = "x" if i - first in bad else str(i % 9 + 1)
        lines.append(f"PO-{i};{qty};{i}.5")
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Route:
    """A route of the campaign: its spec and its input files (name -> bytes)."""

    name: str
    spec: str  # YAML; "{http}" and "{remote}" are filled in per round
    files: dict[str, bytes]
    remote: bool = False  # the files go to the SFTP server, not the inbox
    big: bool = False  # a 20 MB file: slow, in some rounds only


def example_routes() -> list[Route]:
    """The demo's routes that have samples of their own (EDIFACT and X12 with acknowledgements
    among them)."""
    routes = []
    for spec in sorted((REPO / "mappings").glob("*.yaml")):
        samples = REPO / "examples" / spec.stem
        if not samples.is_dir():
            # erp_items_to_db loads erp_items' samples into PostgreSQL: its kills are
            # tests/db's (a SIGKILL at table-committed and table-batch-committed)
            continue
        files = {p.name: p.read_bytes() for p in sorted(samples.iterdir())}
        routes.append(Route(spec.stem, spec.read_text(), files))
    return routes


def harness_routes(big_rows: int) -> list[Route]:
    split = {f"split_{i}.csv": orders_csv(100 * i, 6, bad=(1, 4) if i % 2 else ())
             for i in range(4)}
    bulk = {f"bulk_{i:03d}.csv": orders_csv(1000 + 3 * i, 3, bad=(2,) if i % 11 == 5 else ())
            for i in range(66)}
    http = {f"push_{i}.csv": orders_csv(5000 + 10 * i, 5, bad=(3,) if i == 2 else ())
            for i in range(4)}
    remote = {f"sftp_{i}.csv": orders_csv(7000 + 10 * i, 4, bad=(0,) if i == 1 else ())
              for i in range(4)}
    big = {"big_orders.csv": orders_csv(10**6, big_rows)}
    http_target = """
  http:
    url: "{http}/orders"
    batch: 2
    retry: {attempts: 2, backoff: 10ms}
    timeouts: {read: 5s}"""
    return [
        Route("split_orders", orders_route(
            '{folder: inbox/split_orders, pattern: "*.csv", min_age: 1s}',
            '{folder: outbox/split_orders, format: jsonl, name: "{stem}.jsonl"}',
            "on_invalid: split\n"), split),
        Route("bulk_orders", orders_route(
            '{folder: inbox/bulk_orders, pattern: "*.csv", min_age: 1s}',
            '{folder: outbox/bulk_orders, format: csv, name: "{stem}.out.csv"}',
            "workers: 2\n"), bulk),
        Route("http_orders", orders_route(
            '{folder: inbox/http_orders, pattern: "*.csv", min_age: 1s}', http_target), http),
        Route("sftp_orders", orders_route(
            '{sftp: partner, path: "{remote}", pattern: "*.csv", min_age: 1s}',
            '{folder: outbox/sftp_orders, format: json, name: "{stem}.json"}'),
            remote, remote=True),
        Route("big_orders", orders_route(
            '{folder: inbox/big_orders, pattern: "*.csv", min_age: 1s}',
            '{folder: outbox/big_orders, format: csv, name: "{stem}.out.csv"}'),
            big, big=True),
    ]


# -- running the engine ------------------------------------------------------------------------


class EngineHost:
    """The warm interpreter of ``engine_host.py``; ``run`` is one ``tradelane`` command."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HOST)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=REPO)

    def run(self, args: list[str], env: dict[str, str], out: Path,
            kill_after: float | None = None, timeout: float = 120) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = {"args": args, "env": env, "out": str(out), "kill_after": kill_after,
                   "timeout": timeout}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError("the engine host died")
        return json.loads(answer)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def run_cli(args: list[str], env: dict[str, str], out: Path,
            kill_after: float | None = None, timeout: float = 120) -> dict[str, Any]:
    """The real console script in a process of its own."""
    start = time.monotonic()
    with open(out, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tradelane", *args],
                                env={**os.environ, **env}, stdout=log, stderr=log)
        killed = False
        try:
            proc.wait(timeout=kill_after if kill_after is not None else timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            killed = True
    return {"exit": proc.returncode, "killed": killed, "seconds": time.monotonic() - start}


# -- a project of one round ---------------------------------------------------------------------


@dataclass
class Services:
    """What the routes reach: an HTTP server of the round, and an sshd (or None)."""

    sshd: Any | None
    http: RecordingServer | None = None


class RoundProject:
    """A project folder with the chosen routes and their files laid out."""

    def __init__(self, root: Path, routes: list[Route], services: Services):
        self.root = root
        self.routes = routes
        self.services = services
        self.remote: Path | None = None
        (root / "mappings").mkdir(parents=True)
        for folder in (REPO / "mappings").iterdir():  # lookups, guides: what the routes name
            if folder.is_dir():
                shutil.copytree(folder, root / "mappings" / folder.name)
        shutil.copytree(REPO / "partners", root / "partners")  # the EANCOM routes name one
        settings = {"ledger": "sqlite:///.tradelane/ledger.db", "lease": "100ms",
                    "retry_backoff": "10ms", "retry_max_backoff": "10ms"}
        if any(r.remote for r in routes):
            assert services.sshd is not None
            self.remote = services.sshd.root / uuid.uuid4().hex[:12]
            self.remote.mkdir()
            self.remote.chmod(0o777)
            settings["connections"] = {"partner": {"sftp": services.sshd.connection()}}
        (root / "tradelane.yaml").write_text(json.dumps(settings))
        for route in routes:
            spec = route.spec.replace("{http}", services.http.url if services.http else "")
            spec = spec.replace("{remote}", str(self.remote or ""))
            (root / "mappings" / f"{route.name}.yaml").write_text(spec)
            folder = self.remote if route.remote else root / "inbox" / route.name
            assert folder is not None
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in route.files.items():
                (folder / name).write_bytes(data)
                os.utime(folder / name, (OLD, OLD))

    def cleanup(self) -> None:
        if self.remote is not None:
            shutil.rmtree(self.remote, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(folder: Path) -> Iterator[Path]:
    if folder.exists():
        yield from sorted(p for p in folder.rglob("*") if p.is_file())


@dataclass
class Outcome:
    """What a finished project holds for one route, in terms a user would check."""

    outputs: dict[str, str] = field(default_factory=dict)  # outbox path -> sha256
    acks: collections.Counter[str] = field(default_factory=collections.Counter)
    quarantined: collections.Counter[tuple[str, str]] = field(
        default_factory=collections.Counter)  # (original name, sha256 of the copy)
    archived: collections.Counter[str] = field(default_factory=collections.Counter)
    states: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    http: dict[str, str] = field(default_factory=dict)  # idempotency key -> body sha256


_WHEN = re.compile(rb"\d{6,8}([:*])\d{4}")


def _ack_sha(path: Path) -> str:
    """An acknowledgement's digest, its own date and time of preparation left out."""
    return _sha(_WHEN.sub(rb"DATE\1TIME", path.read_bytes()))


def _ack_route(name: str) -> str:
    return "edifact_orders" if "CONTRL" in name else "x12_850"


def read_outcome(project: RoundProject) -> tuple[dict[str, Outcome], list[str]]:
    """Per route, what the project holds; and every broken promise seen on the way."""
    root = project.root
    problems: list[str] = []
    outcomes = {r.name: Outcome() for r in project.routes}
    for path in _files(root / "outbox"):
        rel = path.relative_to(root / "outbox")
        if rel.parts[0] == "acks":
            # "<file id>-CONTRL_..." : the id depends on the order files were claimed in
            route = _ack_route(rel.name)
            if route in outcomes:
                outcomes[route].acks[rel.name.split("-", 1)[1] + ":" + _ack_sha(path)] += 1
        elif rel.parts[0] in outcomes:
            outcomes[rel.parts[0]].outputs[str(rel)] = _sha(path.read_bytes())
    for reason in _files(root / "quarantine"):
        if not reason.name.endswith(".reason.json"):
            continue
        copy = reason.with_name(reason.name.removesuffix(".reason.json"))
        data = json.loads(reason.read_text())
        missing = {"route", "original_name", "sha256", "stage", "message", "errors",
                   "error_count", "attempt", "reprocess"} - data.keys()
        if missing:
            problems.append(f"{reason}: reason file without {sorted(missing)}")
        if not copy.exists():
            problems.append(f"{reason}: a reason file with no file beside it")
            continue
        outcomes[data["route"]].quarantined[(data["original_name"],
                                             _sha(copy.read_bytes()))] += 1
    for path in _files(root / "quarantine"):
        if not path.name.endswith(".reason.json") and not path.with_name(
                path.name + ".reason.json").exists():
            problems.append(f"{path}: quarantined without a reason file")
    for path in _files(root / "archive"):
        route = path.relative_to(root / "archive").parts[0]
        if route in outcomes:
            outcomes[route].archived[_sha(path.read_bytes())] += 1
    for path in _files(root):
        if TEMP_MARK in path.name:
            problems.append(f"temp file left behind: {path.relative_to(root)}")
    for path in _files(root / ".tradelane" / "spool"):
        problems.append(f"spool copy left behind: {path.relative_to(root)}")
    for route in project.routes:
        inbox = project.remote if route.remote else root / "inbox" / route.name
        assert inbox is not None
        left = [p.name for p in _files(inbox)]
        if left:
            problems.append(f"{route.name}: still in its inbox: {left}")
    with Ledger(f"sqlite:///{root / '.tradelane' / 'ledger.db'}", worker="check") as ledger:
        for record in ledger.files():
            if record.route not in outcomes:
                continue
            outcomes[record.route].states[(record.name, record.state.value)] += 1
            if record.state.value not in FINAL:
                problems.append(f"{record.route}/{record.name}: left {record.state.value}")
            for event in ledger.events(record.id):
                if (event.from_state, event.to_state) not in ALLOWED:
                    problems.append(f"{record.route}/{record.name}: impossible transition "
                                    f"{event.from_state} -> {event.to_state} ({event.detail})")
    http = project.services.http
    if http is not None and "http_orders" in outcomes:
        outcomes["http_orders"].http = {key: _sha(json.dumps(body, sort_keys=True).encode())
                                        for key, body in http.dedup_log.items()}
    return outcomes, problems


def compare(route: str, got: Outcome, want: Outcome) -> list[str]:
    """Where a round's outcome for ``route`` differs from the crash-free reference."""
    problems = []
    for what in ("outputs", "acks", "quarantined", "archived", "states", "http"):
        mine, theirs = getattr(got, what), getattr(want, what)
        if mine != theirs:
            problems.append(f"{route}: {what} differ from the crash-free run:"
                            f" got {_diff(mine, theirs)}")
    return problems


def _diff(mine: Any, theirs: Any) -> str:
    if isinstance(mine, collections.Counter):
        return f"extra {dict(mine - theirs)}, missing {dict(theirs - mine)}"
    extra = {k: v for k, v in mine.items() if theirs.get(k) != v}
    missing = {k: v for k, v in theirs.items() if mine.get(k) != v}
    return f"extra/changed {extra}, missing {missing}"


def leftover_processes(marker: str, wait: float = 3.0) -> list[str]:
    """Processes that carry this round's marker in their environment (workers, fork
    servers), after giving them ``wait`` seconds to notice that their parent is gone."""
    deadline = time.monotonic() + wait
    while True:
        alive = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if proc.environ().get(MARKER) == marker:
                    alive.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])[:80]}")
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


# -- the campaign -------------------------------------------------------------------------------


@dataclass
class Tally:
    rounds: int = 0
    kills: int = 0
    named: collections.Counter[str] = field(default_factory=collections.Counter)
    random: int = 0
    runs: int = 0
    engine_seconds: float = 0.0
    orphan_seconds: float = 0.0  # the longest a killed run's worker processes outlived it
    files: int = 0
    lost: int = 0
    duplicated: int = 0
    acks_lost: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(mine, collections.Counter):
                mine.update(value)
            elif name == "orphan_seconds":
                self.orphan_seconds = max(mine, value)
            else:
                setattr(self, name, mine + value)

    def table(self, seed: int, seconds: float) -> str:
        rows = [("seed", seed), ("rounds", self.rounds), ("runs", self.runs),
                ("kills", self.kills), ("  at named points", sum(self.named.values())),
                ("  at random moments", self.random), ("files", self.files),
                ("lost", self.lost), ("duplicated", self.duplicated),
                ("acks lost", self.acks_lost), ("broken promises", len(self.problems)),
                ("workers outlived a kill", f"{self.orphan_seconds:.2f} s at most"),
                ("seconds", f"{seconds:.0f} ({self.engine_seconds:.0f} in the engine)")]
        lines = [f"  {name:<22} {value}" for name, value in rows]
        points = ", ".join(f"{p} {n}" for p, n in sorted(self.named.items()))
        return "\n".join(["chaos campaign", *lines, f"  points: {points}"])


@dataclass
class Reference:
    outcome: Outcome
    points: collections.Counter[str]
    seconds: float


class Campaign:
    """Rounds of kills and restarts until ``kills`` kills were made."""

    def __init__(self, workdir: Path, services: Services, *, seed: int, kills: int,
                 big_rows: int = 900_000):
        self.workdir = workdir
        self.services = services
        self.rng = random.Random(seed)
        self.seed = seed
        self.kills = kills
        self.host = EngineHost()
        routes = example_routes() + harness_routes(big_rows)
        self.routes = [r for r in routes if not r.remote or services.sshd is not None]
        self.tally = Tally()
        self.references: dict[str, Reference] = {}

    def close(self) -> None:
        self.host.close()

    # one run of the engine, as the user would start it
    def _run(self, project: RoundProject, marker: str, *, crash: str | None = None,
             kill_after: float | None = None, real_cli: bool = False,
             crash_log: Path | None = None) -> dict[str, Any]:
        env = {MARKER: marker, "TRADELANE_CRASH_AT": crash or "",
               "TRADELANE_CRASH_LOG": str(crash_log) if crash_log else ""}
        if not crash_log:
            env.pop("TRADELANE_CRASH_LOG")
        args = ["run", "--once", "-C", str(project.root)]
        out = project.root.parent / f"{project.root.name}.out"
        runner = run_cli if real_cli else self.host.run
        self.tally.runs += 1
        answer = runner(args, env, out, kill_after=kill_after)
        self.tally.engine_seconds += answer["seconds"]
        return answer

    def _fresh(self, routes: list[Route]) -> RoundProject:
        root = self.workdir / f"p{uuid.uuid4().hex[:10]}"
        if self.services.http is not None:
            self.services.http.dedup_log.clear()
            self.services.http.requests.clear()
        return RoundProject(root, routes, self.services)

    def reference(self, route: Route) -> Reference:
        """The route run alone without a crash: what every round must end with."""
        if route.name not in self.references:
            project = self._fresh([route])
            log = project.root.parent / f"{project.root.name}.points"
            marker = uuid.uuid4().hex
            start = time.monotonic()
            answer = self._run(project, marker, crash_log=log)
            seconds = time.monotonic() - start
            assert answer["exit"] in (0, 3), (route.name, answer, self._output(project))
            outcomes, problems = read_outcome(project)
            assert not problems, (route.name, problems)
            points = collections.Counter(log.read_text().split()) if log.exists() else \
                collections.Counter()
            self.references[route.name] = Reference(outcomes[route.name], points, seconds)
            project.cleanup()
        return self.references[route.name]

    @staticmethod
    def _output(project: RoundProject) -> str:
        out = project.root.parent / f"{project.root.name}.out"
        return out.read_text(errors="replace")[-3000:] if out.exists() else ""

    def one_round(self) -> None:
        small = [r for r in self.routes if not r.big]
        chosen = self.rng.sample(small, self.rng.randint(3, min(6, len(small))))
        if self.rng.random() < 0.12:
            chosen += [r for r in self.routes if r.big]
        refs = {r.name: self.reference(r) for r in chosen}
        points = sum((ref.points for ref in refs.values()), collections.Counter())
        budget = sum(ref.seconds for ref in refs.values())
        real_cli = self.tally.rounds % 10 == 9
        project = self._fresh(chosen)
        marker = uuid.uuid4().hex
        self.tally.rounds += 1
        self.tally.files += sum(len(r.files) for r in chosen)
        plan = []
        try:
            for _ in range(self.rng.choice((2, 3, 3, 4))):
                if points and self.rng.random() < 0.7:
                    # the least-hit point first: every point is aimed at, again and again
                    fewest = min(self.tally.named[p] for p in points)
                    name = self.rng.choice(sorted(p for p in points
                                                  if self.tally.named[p] == fewest))
                    # a restart redoes what was left, so early counts are reached again
                    top = points[name] if self.rng.random() < 0.5 else min(3, points[name])
                    nth = self.rng.randint(1, top)
                    answer = self._run(project, marker, crash=f"{name}:{nth}",
                                       real_cli=real_cli)
                    plan.append(f"{name}:{nth}")
                    if answer["exit"] == -9:
                        self.tally.kills += 1
                        self.tally.named[name] += 1
                else:
                    delay = self.rng.uniform(0.0, 0.7 * budget + (0.8 if real_cli else 0.0))
                    answer = self._run(project, marker, kill_after=delay, real_cli=real_cli)
                    plan.append(f"after {delay:.3f}s")
                    if answer["killed"]:
                        self.tally.kills += 1
                        self.tally.random += 1
                if answer["exit"] not in (0, 3, 4, -9):
                    self._problem(plan, f"a run exited {answer['exit']}:\n"
                                  f"{self._output(project)}")
                # a supervisor restarts the engine once it is gone, worker processes too (3 s on
                # a loaded machine; test_worker_processes_die_with_a_killed_engine holds 1 s)
                start = time.monotonic()
                alive = leftover_processes(marker, wait=3.0)
                self.tally.orphan_seconds = max(self.tally.orphan_seconds,
                                                time.monotonic() - start)
                if alive:
                    self._problem(plan, f"processes outlived the killed run by 3 s: {alive}")
                time.sleep(0.12)  # the killed run's lease (100 ms) runs out
            self._finish(project, marker, plan, real_cli)
        finally:
            project.cleanup()

    def _finish(self, project: RoundProject, marker: str, plan: list[str],
                real_cli: bool) -> None:
        for _attempt in range(8):
            answer = self._run(project, marker, real_cli=real_cli)
            if answer["exit"] in (0, 3):
                break
            if answer["exit"] != 4:
                self._problem(plan, f"a clean run exited {answer['exit']}:\n"
                              f"{self._output(project)}")
                return
            time.sleep(0.12)
        else:
            self._problem(plan, "still pending after 8 clean runs:\n" + self._output(project))
        outcomes, problems = read_outcome(project)
        for name, outcome in outcomes.items():
            want = self.references[name].outcome
            problems += compare(name, outcome, want)
            self.tally.lost += max(0, len(want.outputs) - len(outcome.outputs)) + sum(
                (want.quarantined - outcome.quarantined).values())
            self.tally.duplicated += sum((outcome.archived - want.archived).values()) + max(
                0, len(outcome.http) - len(want.http))
            self.tally.acks_lost += sum((want.acks - outcome.acks).values())
        alive = leftover_processes(marker)
        if alive:
            problems.append(f"processes left running: {alive}")
        for problem in problems:
            self._problem(plan, problem)

    def _problem(self, plan: list[str], text: str) -> None:
        self.tally.problems.append(f"round {self.tally.rounds} (seed {self.seed}, kills"
                                   f" {plan}): {text}")

    def run(self, *, after_round: Callable[[Tally], None] | None = None) -> Tally:
        while self.tally.kills < self.kills and len(self.tally.problems) <= 20:
            self.one_round()
            if after_round is not None:
                after_round(self.tally)
        return self.tally


def run_campaigns(workdir: Path, sshd: Any | None, *, seed: int, kills: int, lanes: int = 2,
                  progress: Path | None = None) -> tuple[Tally, set[str]]:
    """``lanes`` campaigns side by side (one per core), each with its own engine host and
    HTTP server, sharing the kills; their tally, and the crash points the batches meet.
    ``progress``: a file rewritten after every round with the table so far."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.monotonic()
    lanes_so_far: dict[int, Tally] = {}
    lock = threading.Lock()

    def report(index: int, tally: Tally) -> None:
        if progress is None:
            return
        with lock:
            lanes_so_far[index] = tally
            total = Tally()
            for each in lanes_so_far.values():
                total.add(each)
            progress.write_text(total.table(seed, time.monotonic() - start) + "\n"
                                + "\n".join(total.problems) + "\n")

    def lane(index: int) -> tuple[Tally, set[str]]:
        http = RecordingServer()
        folder = workdir / f"lane{index}"
        folder.mkdir()
        campaign = Campaign(folder, Services(sshd=sshd, http=http), seed=seed + index,
                            kills=-(-kills // lanes))
        try:
            tally = campaign.run(after_round=functools.partial(report, index))
        finally:
            campaign.close()
            http.stop()
        return tally, {p for ref in campaign.references.values() for p in ref.points}

    total, met = Tally(), set()
    with ThreadPoolExecutor(lanes) as pool:
        for tally, points in pool.map(lane, range(lanes)):
            total.add(tally)
            met |= points
    return total, met
