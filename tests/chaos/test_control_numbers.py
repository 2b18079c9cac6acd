"""Control numbers under SIGKILL (issue 17): four ``tradelane run --once`` processes on one
PostgreSQL ledger write EDIFACT and X12 invoices to one partner, numbered from its sequences,
and are killed at random moments (and at the crash point between taking numbers and recording
the delivery) until every file is delivered. Then: every invoice delivered exactly once, no
UNB 0020, UNH 0062, ISA13, GS06 or ST02 written twice, and no number lost: the interchanges
carry exactly 1..N of each sequence, each the number the ledger recorded for its file."""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.project import ProjectDir
from support.retailer import INVOIC_CASE, X12_CASE, invoic_out_route, retailer, x12_810_route
from tradelane.models import FileState

EDIFACT_FILES, X12_FILES = 14, 8  # the X12 route shares the campaign: little more time
FILES = EDIFACT_FILES + X12_FILES


def _project(root: Path, ledger: str) -> ProjectDir:
    project = ProjectDir(root)
    # a short lease: a killed process's claims are taken over in the next round
    project.settings(f"ledger: {json.dumps(ledger)}\nlease: 300ms\nretry_backoff: 0s\n")
    project.file("partners/retailer.yaml", retailer(message="{start: 1, max: 99999999}"))
    project.route("invoic_out", f"partner: retailer\n{invoic_out_route()}")
    text = (INVOIC_CASE / "input.csv").read_text()
    for n in range(EDIFACT_FILES):  # distinct invoices: another number in each file
        project.drop("invoic_out", f"INVOICES_{n:02d}.csv",
                     re.sub(r"INV-9(\d+)", lambda m, n=n: f"INV-{n + 10}{m.group(1)}", text))
    project.route("x12_810_out", x12_810_route())
    text = (X12_CASE / "input.csv").read_text()
    for n in range(X12_FILES):
        project.drop("x12_810_out", f"INVOICES_{n:02d}.csv",
                     text.replace("INV-7000", f"INV-{n + 10}000"))
    return project


def _start(project: ProjectDir, crash_at: str | None = None,
           route: str | None = None) -> subprocess.Popen[str]:
    import os

    env = {**os.environ}
    env.pop("TRADELANE_CRASH_AT", None)
    if crash_at:
        env["TRADELANE_CRASH_AT"] = crash_at
    only = ["--route", route] if route else []
    return subprocess.Popen([sys.executable, "-m", "tradelane", "run", "--once", "-C",
                             str(project.root), *only], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _x12_refs(path: Path) -> tuple[str, str, list[str]]:
    """(ISA13, GS06, the ST02s), each the same in its trailer."""
    segs = [s.split("*") for s in path.read_text().replace("\n", "").split("~") if s]
    assert segs[-1][2] == segs[0][13] and segs[-2][2] == segs[1][6], segs
    st = [s[2] for s in segs if s[0] == "ST"]
    assert [s[2] for s in segs if s[0] == "SE"] == st
    return segs[0][13], segs[1][6], st


def _expand(ranges: list[list[int]]) -> list[int]:
    return [v for a, b in ranges for v in range(a, b + 1)]


def _refs(path: Path) -> tuple[str, list[str]]:
    text = path.read_text(encoding="latin-1")
    unb = re.search(r"UNB\+[^']*\+(\w+)'", text)
    unz = re.search(r"UNZ\+\d+\+(\w+)'", text)
    assert unb and unz and unb.group(1) == unz.group(1), text
    return unb.group(1), re.findall(r"UNH\+(\w+)\+", text)


@pytest.mark.timeout(600)
def test_four_killed_processes_never_write_a_number_twice_nor_lose_one(
        tmp_path: Path, pg_url: str) -> None:
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    project = _project(tmp_path / "project", pg_url)
    kills = crashes = 0
    for _round in range(40):
        with project.ledger() as ledger:
            if all(r.state == FileState.ARCHIVED for r in ledger.files()) \
                    and len(ledger.files()) == FILES:
                break
        # where numbers are taken and not yet written, one dies at its first EDIFACT
        # interchange (routes run in name order) and one writing X12 only at its first X12
        # one; one more is killed at a random moment, the last one finishes what it can
        crash = "numbers-allocated" if _round < 6 else None
        procs = [_start(project, crash), _start(project, crash, "x12_810_out"),
                 _start(project), _start(project)]
        time.sleep(rng.uniform(0.2, 1.5))
        for proc in procs[2:3]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        for proc in procs:
            _out, err = proc.communicate(timeout=180)
            assert "Traceback" not in err, f"seed {seed}: {err}"
            crashes += proc.returncode == -signal.SIGKILL
        time.sleep(0.35)  # the killed runs' leases (300 ms) run out
    assert kills and crashes, f"seed {seed}: nothing was killed"

    with project.ledger() as ledger:
        records = ledger.files()
        assert sorted(r.state for r in records) == [FileState.ARCHIVED] * FILES, \
            f"seed {seed}: {[(r.name, r.state, r.message) for r in records]}"
        from sqlalchemy import select

        from tradelane.ledger.tables import control_numbers
        with ledger.engine.connect() as conn:
            recorded = {(r.file_id, r.kind): json.loads(r.numbers)
                        for r in conn.execute(select(control_numbers))}
    # each invoice delivered once, under its own name (a killed write leaves a dot-temp)
    for route, count in (("invoic_out", EDIFACT_FILES), ("x12_810_out", X12_FILES)):
        outputs = [p for p in project.outputs(route) if not p.name.startswith(".")]
        assert len(outputs) == count, f"seed {seed}: {route}"
    interchanges, messages = [], []
    isa13s, gs06s, st02s = [], [], []
    for record in records:
        [uri] = record.outputs
        path = Path(uri.removeprefix("file://"))
        if record.route == "x12_810_out":
            isa13, gs06, st = _x12_refs(path)
            isa13s.append(int(isa13))
            gs06s.append(int(gs06))
            st02s += [int(n) for n in st]
            # what the file carries is what the ledger recorded for it
            assert recorded[(record.id, "interchange")] == [[int(isa13), int(isa13)]]
            assert recorded[(record.id, "group")] == [[int(gs06), int(gs06)]]
            assert _expand(recorded[(record.id, "transaction")]) == [int(n) for n in st]
            continue
        ref, unh = _refs(path)
        interchanges.append(int(ref))
        messages += [int(m) for m in unh]
        # the file carries what the ledger recorded for it, whichever attempt wrote it
        assert recorded[(record.id, "interchange")] == [[int(ref), int(ref)]]
        assert _expand(recorded[(record.id, "message")]) == [int(m) for m in unh]
    assert sorted(interchanges) == list(range(1, EDIFACT_FILES + 1)), f"seed {seed}"
    assert sorted(messages) == list(range(1, len(messages) + 1)), f"seed {seed}"
    assert sorted(isa13s) == list(range(1, X12_FILES + 1)), f"seed {seed}"
    assert sorted(gs06s) == list(range(1, X12_FILES + 1)), f"seed {seed}"
    assert sorted(st02s) == list(range(1, 2 * X12_FILES + 1)), f"seed {seed}"
