"""An ``exports`` table read by a table source (watermark or status column) and the worker
projects that export it, for the tests of several workers and of crashes."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, text

from support.project import ProjectDir


def exports_project(root: Path, url: str, table: str, *, ledger: str | None = None,
                    status: bool = False, lease: str = "5s") -> ProjectDir:
    """A worker exporting ``table`` of the database at ``url`` as JSON files, 4 rows at most
    each, by its ``exported_at`` watermark or (``status``) its status column."""
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


def add_exports(engine: Engine, table: str, ids: range) -> None:
    """Rows ``ids``, status 'new', row i exported at 10:00 plus i seconds."""
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {table} VALUES (:id, :sku, :at, 'new')"),
                     [{"id": i, "sku": f"A-{i}", "at": f"2026-11-25 10:{i // 60:02d}:{i % 60:02d}"}
                      for i in ids])


def delivered_ids(*projects: ProjectDir) -> list[int]:
    """The ids in the projects' output files, sorted (a row delivered twice shows twice)."""
    ids: list[int] = []
    for project in projects:
        for path in project.outputs("exports"):
            ids.extend(r["id"] for r in json.loads(path.read_text()))
    return sorted(ids)
