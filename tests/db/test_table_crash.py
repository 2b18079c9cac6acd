"""A table load killed (SIGKILL) at its crash points, then run again: no row twice. And two
workers upserting the same keys at the same time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import csv_rows, make_table, table_project
from sqlalchemy import Engine, text

TRADELANE = Path(sys.executable).parent / "tradelane"
ROWS = [(f"S-{i:04d}", i, f"{i}.25", "2026-11-25") for i in range(10)]


def tradelane(root: Path, *args: str, crash_at: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "TRADELANE_CRASH_AT": crash_at}
    return subprocess.run([str(TRADELANE), *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def counts(engine: Engine, table: str) -> tuple[int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT COUNT(*), COUNT(DISTINCT sku) FROM {table}"))
                     .one())


@pytest.mark.parametrize(("commit", "crash_at", "rows_at_crash"), [
    ("file", "table-committed", 10),
    ("batch", "table-batch-committed:2", 6),
    ("batch", "table-committed", 10),
])
def test_killed_during_a_load_then_rerun_loads_each_row_once(
        tmp_path: Path, db: tuple[str, Engine], table_name: str, commit: str, crash_at: str,
        rows_at_crash: int) -> None:
    url, engine = db
    make_table(engine, table_name)
    project = table_project(tmp_path, url, table_name,
                            f"mode: insert, commit: {commit}, batch: 3")
    project.drop("items", "a.csv", csv_rows(ROWS))

    killed = tradelane(tmp_path, "run", "--once", crash_at=crash_at)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert counts(engine, table_name) == (rows_at_crash, rows_at_crash)

    time.sleep(0.15)  # the killed run's lease (100 ms) runs out
    again = tradelane(tmp_path, "run", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert counts(engine, table_name) == (10, 10)
    assert project.inbox("items") == []


def test_two_workers_upserting_the_same_keys(tmp_path: Path, db: tuple[str, Engine],
                                             table_name: str) -> None:
    """Two routes (two worker processes) load files that update the same 2,000 keys at the
    same time: every key ends up once, with one of the two files' values, and nothing is
    quarantined."""
    url, engine = db
    make_table(engine, table_name, key=True)
    project = table_project(tmp_path, url, table_name, "mode: upsert, key: [sku], batch: 250")
    spec = (tmp_path / "mappings" / "items.yaml").read_text()
    project.route("items2", spec.replace("inbox/items", "inbox/items2"))
    keys = range(2000)
    project.drop("items", "a.csv", csv_rows([(f"K-{i:05d}", 1, "1.00", "2026-11-25")
                                             for i in keys]))
    project.drop("items2", "b.csv", csv_rows([(f"K-{i:05d}", 2, "2.00", "2026-11-26")
                                              for i in keys]))
    env = {**os.environ, "TRADELANE_CRASH_AT": ""}
    workers = [subprocess.Popen([str(TRADELANE), "run", "--once", "--route", route],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
               for route in ("items", "items2")]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    codes = [w.returncode for w in workers]
    for _ in range(3):  # a deadlock victim stays pending and is retried, never quarantined
        if codes == [0, 0]:
            break
        assert 3 not in codes, outputs
        codes = [tradelane(tmp_path, "run", "--once").returncode]
    assert set(codes) == {0}, outputs
    assert counts(engine, table_name) == (2000, 2000)
    with engine.connect() as conn:
        values = set(conn.execute(text(f"SELECT qty FROM {table_name}")).scalars())
    assert values <= {1, 2}
    assert project.quarantined("items") == [] and project.quarantined("items2") == []


