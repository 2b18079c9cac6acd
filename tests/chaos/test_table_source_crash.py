"""A table source killed (SIGKILL) between the ledger's record of a snapshot's outcome and the
watermark's or status column's update, then another worker on the same PostgreSQL ledger
carries on (the killed one comes back later): every row is delivered once, none is lost, and
every row's status ends as set by its file's outcome."""

from __future__ import annotations

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
from support.table_exports import add_exports, delivered_ids, exports_project, make_exports

TRADELANE = Path(sys.executable).parent / "tradelane"


@pytest.fixture
def table() -> Iterator[tuple[str, Engine]]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL)
    make_exports(engine, name)
    yield name, engine
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


def _run(project: ProjectDir, crash_at: str = "") -> int:
    env = {**os.environ, "TRADELANE_CRASH_AT": crash_at}
    env.pop("TRADELANE_LEDGER_URL", None)
    return subprocess.run([str(TRADELANE), "run", "--once"], cwd=project.root, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=120).returncode


@pytest.mark.parametrize(("status", "point"), [
    (False, "table-source-settling"),
    (True, "delivered-committed"),
    (True, "table-source-status-set"),
], ids=["watermark-settling", "status-delivered", "status-set"])
def test_killed_after_the_outcome_another_worker_carries_on_and_no_row_is_lost_or_twice(
        tmp_path: Path, pg_url: str, table: tuple[str, Engine], status: bool,
        point: str) -> None:
    name, engine = table
    one = exports_project(tmp_path / "one", PG_URL, name, ledger=pg_url, status=status,
                          lease="1s")
    two = exports_project(tmp_path / "two", PG_URL, name, ledger=pg_url, status=status,
                          lease="1s")
    add_exports(engine, name, range(4))
    assert _run(one, point) == -signal.SIGKILL
    add_exports(engine, name, range(4, 6))
    time.sleep(1.1)  # the killed worker's lease on the route runs out
    assert _run(two) == 0  # settles the killed worker's snapshot, exports rows 4 and 5
    assert _run(one) == 0  # back: finishes its own steps, finds nothing new
    assert delivered_ids(one, two) == list(range(6))
    assert delivered_ids(two) == [4, 5]
    if status:
        with engine.connect() as conn:
            statuses = set(conn.execute(text(f"SELECT status FROM {name}")).scalars())
        assert statuses == {"done"}
