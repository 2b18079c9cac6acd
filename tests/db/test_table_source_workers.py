"""The table source's place in the ledger: several workers on one PostgreSQL ledger export
each row once, and a watermark file of an earlier version is taken over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from support.project import PG_URL, ProjectDir
from support.table_exports import add_exports, delivered_ids, exports_project, make_exports

TRADELANE = Path(sys.executable).parent / "tradelane"


def run_together(*projects: ProjectDir) -> None:
    env = {**os.environ, "TRADELANE_CRASH_AT": ""}
    env.pop("TRADELANE_LEDGER_URL", None)
    workers = [subprocess.Popen([str(TRADELANE), "run", "--once"], cwd=p.root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for p in projects]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs


def test_two_workers_on_one_ledger_export_each_row_once(tmp_path: Path, pg_url: str) -> None:
    """Two workers (each its own spool, as on two hosts) poll the same table at the same
    time, round after round, while rows keep coming: every row is delivered exactly once
    (the one that finds the route's lease taken lists nothing)."""
    url = PG_URL
    table = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    try:
        make_exports(engine, table)
        one = exports_project(tmp_path / "one", url, table, ledger=pg_url)
        two = exports_project(tmp_path / "two", url, table, ledger=pg_url)
        add_exports(engine, table, range(6))
        run_together(one, two)
        add_exports(engine, table, range(6, 9))
        for _ in range(4):  # the rest, a snapshot of at most 4 rows per turn
            run_together(one, two)
            if len(delivered_ids(one, two)) >= 9:
                break
        assert delivered_ids(one, two) == list(range(9))
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_a_watermark_file_of_an_earlier_version_is_taken_into_the_ledger(
        tmp_path: Path, db: tuple[str, Engine], table_name: str) -> None:
    url, engine = db
    make_exports(engine, table_name)
    add_exports(engine, table_name, range(1, 4))  # exported at 10:00:01, :02, :03
    project = exports_project(tmp_path, url, table_name)
    folder = tmp_path / ".tradelane" / "spool" / "tables" / "exports"
    folder.mkdir(parents=True)
    (folder / "watermark.json").write_text(json.dumps(
        {"watermark": {"type": "datetime", "value": "2026-11-25T10:00:01"}}))
    assert project.run().exit_code == 0
    assert delivered_ids(project) == [2, 3]
    assert not (folder / "watermark.json").exists()
    assert (folder / "watermark.json.migrated").exists()
    add_exports(engine, table_name, range(4, 5))
    assert project.run().exit_code == 0
    assert delivered_ids(project) == [2, 3, 4]
