"""Start-up: whole processes of ``tradelane --version``, ``tradelane check`` and ``tradelane run
--once`` on an empty inbox (the demo's ten mappings), against ``python -c "import polars"``
(or, without polars, ``import pandas``) and ``python -c pass``, all timed in the same run.

A nightly cron job starts one process per run: what it pays before the first file is read is
the import of the CLI, the loading and checking of every mapping, and the ledger's open.
Target: ``run --once`` with nothing to do under 0.5 s wall on an unloaded machine. A mapping's
field paths are compiled by its format's engine (lxml, the EDI readers) the first time a
process sees it, and the pass is remembered (``tradelane.spec.verdicts``): the last row is a
run that checks them all again (``TRADELANE_CACHE=off``), as the first run after an edit does.

The commands take turns, round after round, so that a change in the machine's load touches
them all alike; each figure is the median of its rounds. Wall time is what a user waits; CPU
time (user + system, the child's own) is what the process does, and a loaded machine (other
jobs on the same cores) inflates it far less than wall time, so it is printed too. The load
average is printed with the results. Python's bytecode cache is allowed (as in an installed
package) and warmed by one round that is not counted. The last line counts the statements the
empty pass sends to the ledger (in this process: what ``run --once`` asks of it).

    .venv/bin/python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TRADELANE = str(Path(sys.executable).with_name("tradelane"))
TARGET = 0.5  # seconds, run --once on an empty inbox


def make_project(folder: Path) -> Path:
    """The demo's settings and mappings (guides and lookups too), every inbox folder there
    and empty."""
    project = folder / "project"
    project.mkdir()
    shutil.copy(ROOT / "tradelane.yaml", project / "tradelane.yaml")
    shutil.copytree(ROOT / "mappings", project / "mappings")
    shutil.copytree(ROOT / "partners", project / "partners")  # the EANCOM routes name one
    from tradelane.spec import load_project  # the bench's own process, not a timed one

    loaded = load_project(project, isolate=True)
    for route in loaded.routes.values():
        inbox = getattr(route.source, "folder", None)
        if inbox:
            loaded.settings.path(inbox).mkdir(parents=True, exist_ok=True)
    return project


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one whole process (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n"
                         f"{done.stdout.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def ledger_statements(project: Path) -> tuple[int, int]:
    """Routes, and the statements an empty pass over them sends to the ledger (its tables
    exist)."""
    from sqlalchemy import event

    from tradelane.ledger import Ledger
    from tradelane.runner import Runner
    from tradelane.spec import load_project

    loaded = load_project(project, isolate=True)
    settings = loaded.settings
    sent: list[str] = []
    with Ledger(settings.ledger_url, worker=settings.worker, lease=settings.lease) as ledger, \
            Runner(loaded, ledger) as runner:
        runner.run_once()  # the first pass settles what a first pass does once
        event.listen(ledger.engine, "before_cursor_execute",
                     lambda *args: sent.append(args[2]))
        runner.run_once()
    return len(loaded.routes), len(sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    args = parser.parse_args()

    baseline = "polars" if importlib.util.find_spec("polars") else "pandas"
    commands = {
        "python -c pass": [PYTHON, "-c", "pass"],
        f"python -c 'import {baseline}'": [PYTHON, "-c", f"import {baseline}"],
        "tradelane --version": [TRADELANE, "--version"],
        "tradelane check": [TRADELANE, "check"],
        "tradelane run --once (empty)": [TRADELANE, "run", "--once"],
        "  same, mappings not yet checked": [TRADELANE, "run", "--once"],
    }
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "TRADELANE_HOME", "TRADELANE_LEDGER_URL")}
    with tempfile.TemporaryDirectory(prefix="tl-startup-") as tmp:
        project = make_project(Path(tmp))
        envs = {name: env for name in commands}
        envs["  same, mappings not yet checked"] = {**env, "TRADELANE_CACHE": "off"}
        for name, argv in commands.items():  # bytecode cache, the ledger's tables, verdicts
            timed(argv, project, envs[name])
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                wall, cpu = timed(argv, project, envs[name])
                walls[name].append(wall)
                cpus[name].append(cpu)
        cwd = Path.cwd()
        try:
            os.chdir(project)  # the demo's ledger URL is relative to the project
            routes, statements = ledger_statements(project)
        finally:
            os.chdir(cwd)

    base = f"python -c 'import {baseline}'"
    base_wall, base_cpu = statistics.median(walls[base]), statistics.median(cpus[base])
    load = os.getloadavg()[0]
    print(f"median of {args.runs} rounds; load average {load:.1f} on {os.cpu_count()} cores")
    print(f"{'command':<30} {'wall s':>7} {'cpu s':>7} {'wall/' + baseline:>12}"
          f" {'cpu/' + baseline:>11}")
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"{name:<30} {wall:>7.3f} {cpu:>7.3f} {wall / base_wall:>11.2f}x"
              f" {cpu / base_cpu:>10.2f}x")
    run = "tradelane run --once (empty)"
    run_wall, run_cpu = statistics.median(walls[run]), statistics.median(cpus[run])
    verdict = "met" if run_wall < TARGET else (
        "met in CPU time; wall time is inflated by the load" if run_cpu < TARGET
        else "NOT met")
    print(f"target: run --once under {TARGET} s wall: {run_wall:.3f} s wall, {run_cpu:.3f} s CPU"
          f" -> {verdict}")
    print(f"ledger statements of an empty pass over the {routes} routes: {statements}")


if __name__ == "__main__":
    main()
