"""Edit and resubmit under SIGKILL: ``tradelane quarantine edit`` killed at each step of
keeping an edit (and at the delivery after it), then the operator does the obvious thing
(edit again, or reprocess what the ledger now points at), then a pass finishes what was
recorded. The edit is delivered exactly once, the original is never changed, and the ledger
never points at a file that is not there."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.console import BAD_CSV
from support.project import CSV_ROUTE, ProjectDir
from tradelane.models import FileState
from tradelane.quarantine import edit_path

FIXED = BAD_CSV.replace("<b>zwei</b>", "2")


def _tradelane(project: ProjectDir, *args: str, crash_at: str = "") -> int:
    env = {**os.environ, "TRADELANE_CRASH_AT": crash_at}
    env.pop("TRADELANE_LEDGER_URL", None)
    return subprocess.run([sys.executable, "-m", "tradelane", *args, "-C", str(project.root)],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=120).returncode


@pytest.fixture
def quarantined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectDir:
    monkeypatch.delenv("TRADELANE_LEDGER_URL", raising=False)
    project = ProjectDir(tmp_path / "p")
    # a killed run's claims and steps are taken over once its lease runs out
    project.settings("console: {user: ops}\nlease: 2s\n")
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "orders_0412.csv", BAD_CSV)
    assert [r.outcome for r in project.run().results] == ["quarantined"]
    return project


@pytest.mark.parametrize("point", ["edit-written", "edit-recorded", "delivered-committed",
                                   "original-moved"])
def test_a_killed_edit_is_delivered_once_and_the_original_kept(
        quarantined: ProjectDir, tmp_path: Path, point: str) -> None:
    [original] = quarantined.quarantined("orders")
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(FIXED)

    code = _tradelane(quarantined, "quarantine", "edit", "1", "--from", str(fixed),
                      crash_at=point)
    assert code == -signal.SIGKILL, f"not killed at {point} (exit {code})"
    # the original is untouched, in quarantine or already archived: never lost, never two
    [kept] = [p for p in quarantined.root.rglob(original.name) if p.is_file()]
    assert kept.read_text() == BAD_CSV
    with quarantined.ledger() as ledger:
        record = ledger.get(1)
    if record.state == FileState.QUARANTINED:  # never pointing at a file that is not there
        assert record.path is not None and Path(record.path).is_file()

    # what ops do next: the ledger says which
    if record.state == FileState.QUARANTINED and record.path == str(original):
        assert _tradelane(quarantined, "quarantine", "edit", "1", "--from", str(fixed)) == 0
    elif record.state == FileState.QUARANTINED:  # the edit is recorded: reprocess it
        assert Path(record.path or "").read_text() == FIXED
        assert _tradelane(quarantined, "quarantine", "reprocess", "1") == 0
    time.sleep(2.5)  # the killed process's lease runs out
    assert _tradelane(quarantined, "run", "--once") == 0  # finishes recorded steps

    with quarantined.ledger() as ledger:
        record = ledger.get(1)
        events = ledger.events(1)
    assert record.state == FileState.ARCHIVED
    assert record.sha256 == hashlib.sha256(FIXED.encode()).hexdigest()
    [output] = quarantined.outputs("orders")  # once
    assert '"qty": 2' in output.read_text().replace('"qty":2', '"qty": 2')
    # the original, untouched, went to the archive with the edit; nothing is left behind
    archived = Path(record.path or "")
    assert archived.read_text() == FIXED
    assert archived.with_name(original.name).read_text() == BAD_CSV
    assert not original.exists() and not edit_path(original, FIXED.encode()).exists()
    assert sum(1 for e in events if (e.detail or "").startswith("edited")) == 1
