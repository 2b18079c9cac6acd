"""SIGKILL at every named crash point and at random moments, over mixed batches, restarting until
done: nothing lost, nothing twice, nothing silent (``harness.py`` says what is checked).

``make test`` runs ``CHAOS_KILLS`` kills (200 by default) in a few minutes; ``make chaos`` runs
2,000 and prints the summary table. A failure prints the seed: ``CHAOS_SEED=N`` replays it.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from chaos.harness import RoundProject, Services, harness_routes, run_campaigns
from support.sshd import Sshd, sshd_available, start_sshd
from tradelane.crashpoints import POINTS


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd | None]:
    """A real sshd for the SFTP route; without one, the campaign runs without that route."""
    if sshd_available():
        yield None
        return
    server = start_sshd()
    yield server
    server.stop()
    shutil.rmtree(server.base, ignore_errors=True)


KILLS = int(os.environ.get("CHAOS_KILLS", "200"))


@pytest.mark.timeout(120 + 3 * KILLS)
def test_nothing_is_lost_or_done_twice_under_sigkill(sshd: Sshd | None, tmp_path: Path) -> None:
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(10**6)))
    kills = KILLS
    start = time.monotonic()
    tally, met = run_campaigns(tmp_path, sshd, seed=seed, kills=kills)
    print("\n" + tally.table(seed, time.monotonic() - start))
    assert not tally.problems, f"CHAOS_SEED={seed}\n" + "\n\n".join(tally.problems[:5])
    assert tally.kills >= kills
    # every crash point that these batches pass through was aimed at and hit
    assert met <= set(POINTS)
    missed = met - set(tally.named)
    assert not missed, f"CHAOS_SEED={seed}: never killed at {sorted(missed)}"
    assert (tally.lost, tally.duplicated, tally.acks_lost) == (0, 0, 0)


@pytest.mark.parametrize("moment", ["fork server starting", "workers at work"])
def test_worker_processes_die_with_a_killed_engine(moment: str, tmp_path: Path) -> None:
    """``workers: 2`` starts a fork server and worker processes; a SIGKILLed engine takes
    them with it at once, whether they are still importing the engine or at work."""
    [bulk] = [r for r in harness_routes(big_rows=1) if r.name == "bulk_orders"]
    project = RoundProject(tmp_path / "p", [bulk], Services(sshd=None))
    engine = psutil.Popen([sys.executable, "-m", "tradelane", "run", "--once", "-C",
                           str(project.root)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    wanted = 1 if moment == "fork server starting" else 2  # the fork server, then a worker
    helpers: list[psutil.Process] = []
    deadline = time.monotonic() + 60
    while len(helpers) < wanted and engine.poll() is None and time.monotonic() < deadline:
        helpers = [p for p in engine.children(recursive=True)
                   if "resource_tracker" not in command(p)]
        time.sleep(0.005)
    assert len(helpers) >= wanted, "the run never started its worker processes"
    engine.kill()
    engine.wait()
    _gone, alive = psutil.wait_procs(helpers, timeout=1.0)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [command(p) for p in alive]


def command(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:80]
    except psutil.Error:  # gone, or a zombie its parent has not reaped
        return ""
