"""A table source killed (SIGKILL) between the ledger's record of a snapshot's outcome and the
watermark's or status column's update, then another worker on the same PostgreSQL ledger
carries on (the killed one comes back later): every row is delivered once, none is lost, and
every row's status ends as set by its file's outcome."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from support.project import PG_URL, ProjectDir

TRADELANE = Path(sys.executable).parent / "tradelane"


def _project(root: Path, table: str, ledger: str, *, status: bool) -> ProjectDir:
    project = ProjectDir(root)
    project.settings(f"""\
        lease: 1s
        retry_backoff: 0s
        ledger: "{ledger}"
        connections:
          erp:
            database: {{url: "{PG_URL}"}}
        """)
    how = "status: {column: status, key: [id]}" if status else "watermark: exported_at"
    project.route("exports", f"""\
        source:
          table: {{connection: erp, table: {table}, {how}, max_rows: 4}}
        format: {{type: csv}}
        fields:
          id: {{type: integer, required: true}}
          sku: {{required: true, pattern: "[A-Z]-[0-9]+"}}
        transform: {{output: [id, sku]}}
        target: {{folder: outbox/exports, format: json}}
        """)
    return project


@pytest.fixture
def table() -> Iterator[tuple[str, Engine]]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {name} (id INT PRIMARY KEY, sku VARCHAR(20),"
                          " exported_at TIMESTAMP, status VARCHAR(20))"))
    yield name, engine
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


def _add(engine: Engine, table: str, ids: range) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {table} VALUES (:id, :sku, :at, 'new')"),
                     [{"id": i, "sku": f"A-{i}", "at": f"2026-11-25 10:00:{i:02d}"}
                      for i in ids])


def _run(project: ProjectDir, crash_at: str = "") -> int:
    env = {**os.environ, "TRADELANE_CRASH_AT": crash_at}
    env.pop("TRADELANE_LEDGER_URL", None)
    return subprocess.run([str(TRADELANE), "run", "--once"], cwd=project.root, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=120).returncode


def _delivered(*projects: ProjectDir) -> list[int]:
    ids: list[int] = []
    for project in projects:
        for path in project.outputs("exports"):
            ids.extend(r["id"] for r in json.loads(path.read_text()))
    return sorted(ids)


@pytest.mark.parametrize(("status", "point"), [
    (False, "table-source-settling"),
    (True, "delivered-committed"),
    (True, "table-source-status-set"),
], ids=["watermark-settling", "status-delivered", "status-set"])
def test_killed_after_the_outcome_another_worker_carries_on_and_no_row_is_lost_or_twice(
        tmp_path: Path, pg_url: str, table: tuple[str, Engine], status: bool,
        point: str) -> None:
    name, engine = table
    one = _project(tmp_path / "one", name, pg_url, status=status)
    two = _project(tmp_path / "two", name, pg_url, status=status)
    _add(engine, name, range(4))
    assert _run(one, point) == -signal.SIGKILL
    _add(engine, name, range(4, 6))
    time.sleep(1.1)  # the killed worker's lease on the route runs out
    assert _run(two) == 0  # settles the killed worker's snapshot, exports rows 4 and 5
    assert _run(one) == 0  # back: finishes its own steps, finds nothing new
    assert _delivered(one, two) == list(range(6))
    assert _delivered(two) == [4, 5]
    if status:
        with engine.connect() as conn:
            statuses = set(conn.execute(text(f"SELECT status FROM {name}")).scalars())
        assert statuses == {"done"}
