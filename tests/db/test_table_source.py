"""The table source against the real servers: a watermark, a status column, a query, and a
crash between the delivery and the watermark's update."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, text

from support.project import ProjectDir

TRADELANE = Path(sys.executable).parent / "tradelane"


def source_project(root: Path, url: str, source: str, *, fmt: str = "csv") -> ProjectDir:
    project = ProjectDir(root)
    project.settings(f"""\
        lease: 100ms
        retry_backoff: 0s
        connections:
          erp:
            database: {{url: "{url}"}}
        """)
    project.route("exports", f"""\
        source:
          table: {source}
        format: {{type: {fmt}}}
        fields:
          sku: {{required: true, pattern: "[A-Z]-[0-9]+"}}
          qty: {{type: integer, required: true}}
        transform: {{output: [sku, qty]}}
        target: {{folder: outbox/exports, format: json}}
        """)
    return project


def make_exports(engine: Engine, table: str, *, status: bool = False) -> None:
    extra = ", status VARCHAR(20)" if status else ""
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id INT PRIMARY KEY, sku VARCHAR(20), qty INT,"
                          f" exported_at TIMESTAMP NULL{extra})"))


def add(engine: Engine, table: str, rows: list[tuple], *, status: bool = False) -> None:
    with engine.begin() as conn:
        for row in rows:
            values = {"id": row[0], "sku": row[1], "qty": row[2], "at": row[3]}
            if status:
                values["st"] = "new"
            conn.execute(text(f"INSERT INTO {table} VALUES (:id, :sku, :qty, :at"
                              f"{', :st' if status else ''})"), values)


def delivered(project: ProjectDir) -> list[dict]:
    records = []
    for path in project.outputs("exports"):
        records.extend(json.loads(path.read_text()))
    return sorted(records, key=lambda r: r["sku"])


def test_watermark_delivers_new_rows_once(tmp_path: Path, db: tuple[str, Engine],
                                          table_name: str) -> None:
    url, engine = db
    make_exports(engine, table_name)
    add(engine, table_name, [(1, "A-1", 1, "2026-11-25 10:00:00"),
                             (2, "A-2", 2, "2026-11-25 11:00:00")])
    project = source_project(tmp_path, url, f"{{connection: erp, table: {table_name},"
                                            " watermark: exported_at}")
    assert project.run().exit_code == 0
    assert delivered(project) == [{"sku": "A-1", "qty": 1}, {"sku": "A-2", "qty": 2}]
    assert project.run().results == []  # nothing new
    add(engine, table_name, [(3, "A-3", 3, "2026-11-26 09:00:00")])
    summary = project.run()
    assert [r.records for r in summary.results] == [1]
    assert [r["sku"] for r in delivered(project)] == ["A-1", "A-2", "A-3"]
    assert len(project.outputs("exports")) == 2


def test_a_query_with_a_watermark_as_json_lines(tmp_path: Path, db: tuple[str, Engine],
                                                table_name: str) -> None:
    url, engine = db
    make_exports(engine, table_name)
    add(engine, table_name, [(1, "A-1", 1, "2025-01-01 00:00:00"),
                             (2, "A-2", 2, "2026-11-25 11:00:00")])
    query = (f"SELECT sku, qty, exported_at FROM {table_name} WHERE exported_at > :watermark"
             " ORDER BY exported_at")
    project = source_project(tmp_path, url, f"{{connection: erp, query: \"{query}\","
                             " watermark: exported_at, start: '2026-01-01'}", fmt="jsonl")
    assert project.run().exit_code == 0
    assert delivered(project) == [{"sku": "A-2", "qty": 2}]


def test_status_rows_are_marked_done_or_quarantined(tmp_path: Path, db: tuple[str, Engine],
                                                    table_name: str) -> None:
    url, engine = db
    make_exports(engine, table_name, status=True)
    add(engine, table_name, [(1, "A-1", 1, None), (2, "A-2", 2, None)], status=True)
    project = source_project(tmp_path, url, f"{{connection: erp, table: {table_name},"
                                            " status: {column: status, key: [id]}}")
    assert project.run().exit_code == 0
    add(engine, table_name, [(3, "bad sku", 3, None)], status=True)
    assert project.run().exit_code == 3
    with engine.connect() as conn:
        statuses = dict(conn.execute(text(f"SELECT id, status FROM {table_name}")).all())
    assert statuses == {1: "done", 2: "done", 3: "quarantined"}
    assert len(project.quarantined("exports")) == 1
    assert project.run().results == []


def test_a_crash_between_delivery_and_watermark_delivers_rows_once(
        tmp_path: Path, db: tuple[str, Engine], table_name: str) -> None:
    url, engine = db
    make_exports(engine, table_name)
    add(engine, table_name, [(1, "A-1", 1, "2026-11-25 10:00:00"),
                             (2, "A-2", 2, "2026-11-25 11:00:00")])
    project = source_project(tmp_path, url, f"{{connection: erp, table: {table_name},"
                                            " watermark: exported_at}")
    env = {**os.environ, "TRADELANE_CRASH_AT": "delivered-committed"}
    killed = subprocess.run([str(TRADELANE), "run", "--once"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    mark = _mark(project)  # delivered in the ledger: the next poll starts after it
    assert mark is not None and mark.snapshot is not None and mark.watermark is None
    time.sleep(0.15)
    add(engine, table_name, [(3, "A-3", 3, "2026-11-26 09:00:00")])
    for _ in range(3):  # the restart finishes the step, then the next poll takes row 3
        env["TRADELANE_CRASH_AT"] = ""
        done = subprocess.run([str(TRADELANE), "run", "--once"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    assert [r["sku"] for r in delivered(project)] == ["A-1", "A-2", "A-3"]


def _mark(project: ProjectDir):
    """The route's row in the ledger's ``source_marks``."""
    with _source(project) as source:
        return source.marks.current()


def _source(project: ProjectDir):  # the route's source, as the runner makes it
    from tradelane.sources import source_for

    loaded = project.load()
    return source_for(loaded.route("exports"), loaded.settings)


def test_the_source_primitives_on_a_snapshot(tmp_path: Path, db: tuple[str, Engine],
                                             table_name: str) -> None:
    """Where the Source contract applies: a waiting snapshot is listed again (no second
    query), fetched with its sha256, and gone once removed."""
    import hashlib

    url, engine = db
    make_exports(engine, table_name)
    add(engine, table_name, [(1, "A-1", 1, "2026-11-25 10:00:00")])
    project = source_project(tmp_path, url, f"{{connection: erp, table: {table_name},"
                                            " watermark: exported_at}")
    with _source(project) as source:
        [ref] = source.list_ready()
        add(engine, table_name, [(2, "A-2", 2, "2026-11-25 11:00:00")])
        assert [r.name for r in source.list_ready()] == [ref.name]  # still the same file
        staged = source.fetch(ref, tmp_path / "spool.tmp")
        data = staged.read_bytes()
        assert data.decode().splitlines()[1].startswith("1,A-1,1,")
        assert staged.sha256 == hashlib.sha256(data).hexdigest()
        assert source.stat(ref) is not None
        source.remove(ref)
        assert source.stat(ref) is None


def test_an_unreachable_database_is_a_clear_temporary_failure(tmp_path: Path) -> None:
    from tradelane.errors import SourceUnavailable

    project = source_project(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/test",
                             "{connection: erp, table: nowhere, watermark: exported_at}")
    with _source(project) as source:
        try:
            source.list_ready()
        except SourceUnavailable as exc:
            assert "cannot read postgresql+psycopg://postgres@127.0.0.1:1/test" in str(exc)
        else:
            raise AssertionError("listing an unreachable database must fail")
    summary = project.run()
    assert summary.exit_code == 4 and summary.results == [], summary
