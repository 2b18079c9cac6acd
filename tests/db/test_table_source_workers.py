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

TRADELANE = Path(sys.executable).parent / "tradelane"


def worker_project(root: Path, url: str, table: str, *, ledger: str | None = None,
                   status: bool = False, lease: str = "5s") -> ProjectDir:
    project = ProjectDir(root)
    ledger_line = f'ledger: "{ledger}"' if ledger else ""
    project.settings(f"""\
        lease: {lease}
        retry_backoff: 0s
        {ledger_line}
        connections:
          erp:
            database: {{url: "{url}"}}
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


def make_exports(engine: Engine, table: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id INT PRIMARY KEY, sku VARCHAR(20),"
                          " exported_at TIMESTAMP NULL, status VARCHAR(20))"))


def add(engine: Engine, table: str, ids: range) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {table} VALUES (:id, :sku, :at, 'new')"),
                     [{"id": i, "sku": f"A-{i}", "at": f"2026-11-25 10:{i // 60:02d}:{i % 60:02d}"}
                      for i in ids])


def delivered_ids(*projects: ProjectDir) -> list[int]:
    ids: list[int] = []
    for project in projects:
        for path in project.outputs("exports"):
            ids.extend(r["id"] for r in json.loads(path.read_text()))
    return sorted(ids)


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
        one = worker_project(tmp_path / "one", url, table, ledger=pg_url)
        two = worker_project(tmp_path / "two", url, table, ledger=pg_url)
        add(engine, table, range(6))
        run_together(one, two)
        add(engine, table, range(6, 9))
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
    add(engine, table_name, range(1, 4))  # exported at 10:00:01, :02, :03
    project = worker_project(tmp_path, url, table_name)
    folder = tmp_path / ".tradelane" / "spool" / "tables" / "exports"
    folder.mkdir(parents=True)
    (folder / "watermark.json").write_text(json.dumps(
        {"watermark": {"type": "datetime", "value": "2026-11-25T10:00:01"}}))
    assert project.run().exit_code == 0
    assert delivered_ids(project) == [2, 3]
    assert not (folder / "watermark.json").exists()
    assert (folder / "watermark.json.migrated").exists()
    add(engine, table_name, range(4, 5))
    assert project.run().exit_code == 0
    assert delivered_ids(project) == [2, 3, 4]
