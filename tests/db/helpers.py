"""A project whose route loads a CSV file into a table."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from support.project import ProjectDir


def table_project(root: Path, url: str, table: str, load: str, *,
                  extra_fields: str = "") -> ProjectDir:
    project = ProjectDir(root)
    project.settings(f"""\
        lease: 100ms
        retry_backoff: 0s
        connections:
          wh:
            database: {{url: "{url}"}}
        """)
    project.route("items", f"""\
        source: {{folder: inbox/items, pattern: "*.csv", min_age: 1s}}
        format: {{type: csv, delimiter: ";"}}
        fields:
          sku:   {{source: Sku, required: true}}
          qty:   {{source: Qty, type: integer, required: true}}
          price: {{source: Price, type: decimal}}
          day:   {{source: Day, type: date, required: true}}
        {extra_fields}
        target:
          table: {{connection: wh, table: {table}, {load}}}
        """)
    return project


def csv_rows(rows: list[tuple[str, int, str, str]]) -> str:
    return "Sku;Qty;Price;Day\n" + "".join(f"{s};{q};{p};{d}\n" for s, q, p, d in rows)


def make_table(engine: Engine, table: str, *, key: bool = False, drop: str = "") -> None:
    text_type = "VARCHAR(64)"
    columns = [f"sku {text_type}{' PRIMARY KEY' if key else ''}", "qty BIGINT",
               "price NUMERIC(12,2)", "day DATE"]
    columns = [c for c in columns if not c.startswith(f"{drop} ")] if drop else columns
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} ({', '.join(columns)})"))


def table_rows(engine: Engine, table: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY sku, day"))]
