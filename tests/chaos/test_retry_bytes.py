"""A retry writes the very same bytes (issue 17): an EDIFACT INVOIC and an X12 810 whose
templates name no ``prepared`` field are written, the process is SIGKILLed between writing the
output and recording the delivery (crash point ``output-written``), and the retry runs minutes
later on the process clock (libfaketime: the real CLI, its clock moved, nothing patched). The
retry must find the output it wrote, identical, and deliver the file once; before the
preparation time was taken from the ledger, UNB 0017/0019, ISA09/10 and GS04/05 took the
retry's minute, the folder target refused the different bytes and the file was stuck."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from support.project import ProjectDir
from support.retailer import INVOIC_CASE, X12_CASE, invoic_out_route, retailer, x12_810_route
from tradelane.ledger.tables import events
from tradelane.models import FileState

FAKETIME = shutil.which("faketime")  # Debian's faketime, installed by .ci/run


def _project(root: Path) -> ProjectDir:
    project = ProjectDir(root)
    project.settings("lease: 300ms\nretry_backoff: 0s\n")  # the killed claim is retaken at once
    project.file("partners/retailer.yaml", retailer())
    spec = invoic_out_route(prepared=False)  # the engine's own preparation time
    project.route("invoic_out", spec)
    project.drop("invoic_out", "INVOICES_01.csv", (INVOIC_CASE / "input.csv").read_text())
    x12 = x12_810_route(prepared=False)
    assert "prepared" not in spec + x12
    project.route("x12_810_out", x12)
    project.drop("x12_810_out", "INVOICES_01.csv", (X12_CASE / "input.csv").read_text())
    return project


def _run(project: ProjectDir, route: str, *, crash_at: str | None = None,
         later: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TRADELANE_CRASH_AT"}
    if crash_at:
        env["TRADELANE_CRASH_AT"] = crash_at
    clock = [FAKETIME, "-f", later] if later else []  # e.g. "+3m": the process clock moved
    return subprocess.run([*clock, sys.executable, "-m", "tradelane", "run", "--once", "-C",
                           str(project.root), "--route", route], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.skipif(FAKETIME is None, reason="needs Debian's faketime (.ci/run installs it)")
@pytest.mark.parametrize(("route", "stamps"), [
    # UNB 0017:0019 (date:time of preparation)
    ("invoic_out", r"UNB\+[^']*?\+[^+']*\+[^+']*\+(\d{6}:\d{4})\+"),
    # ISA09, ISA10 and GS04, GS05
    ("x12_810_out", r"ISA(?:\*[^*]*){8}\*(\d{6}\*\d{4})\*.*?GS(?:\*[^*]*){3}\*(\d{8}\*\d{4})"),
])
def test_a_retry_minutes_after_a_crash_writes_the_same_bytes_once(
        tmp_path: Path, route: str, stamps: str) -> None:
    project = _project(tmp_path / "p")
    crashed = _run(project, route, crash_at="output-written")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    [written] = project.outputs(route)
    first = written.read_bytes()

    retried = _run(project, route, later="+7m")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert project.outputs(route) == [written]
    assert written.read_bytes() == first  # the very bytes the crashed attempt wrote
    with project.ledger() as ledger:
        [record] = ledger.files()
        assert record.state == FileState.ARCHIVED
        with ledger.engine.connect() as conn:
            delivered = conn.execute(select(events.c.at).where(
                events.c.file_id == record.id, events.c.to_state == "delivered")).all()
        assert len(delivered) == 1  # delivered once
    # the preparation time is the file's: when the ledger first recorded it
    found = re.search(stamps, first.decode("latin-1"), re.S)
    assert found, first
    when = record.received_at
    expected = [f"{when:%y%m%d}:{when:%H%M}"] if route == "invoic_out" else \
        [f"{when:%y%m%d}*{when:%H%M}", f"{when:%Y%m%d}*{when:%H%M}"]
    assert list(found.groups()) == expected
