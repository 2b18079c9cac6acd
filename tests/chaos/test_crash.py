"""SIGKILL at every named crash point and at random moments, over mixed batches, restarting until
done: nothing lost, nothing twice, nothing silent (``harness.py`` says what is checked).

``make test`` runs ``CHAOS_KILLS`` kills (200 by default) in a few minutes; ``make chaos`` runs
2,000 and prints the summary table. A failure prints the seed: ``CHAOS_SEED=N`` replays it.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.harness import run_campaigns
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
