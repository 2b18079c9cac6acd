"""The table target against the real PostgreSQL and MariaDB: insert, upsert, replace, a
table that does not fit, and a second delivery of the same file."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from helpers import csv_rows, make_table, table_project, table_rows
from sqlalchemy import Engine, MetaData, text

from tradelane.database import marker_key, markers_table
from tradelane.ledger.alerts import Incidents

TRADELANE = Path(sys.executable).parent / "tradelane"
ROWS = [("A-1", 1, "1.50", "2026-11-25"), ("A-2", 2, "", "2026-11-25")]


def test_insert_loads_every_row_once(tmp_path: Path, db: tuple[str, Engine],
                                     table_name: str) -> None:
    url, engine = db
    make_table(engine, table_name)
    project = table_project(tmp_path, url, table_name, "mode: insert")
    project.drop("items", "a.csv", csv_rows(ROWS))
    summary = project.run()
    assert summary.exit_code == 0, summary
    assert table_rows(engine, table_name) == [
        ("A-1", 1, Decimal("1.50"), date(2026, 11, 25)), ("A-2", 2, None, date(2026, 11, 25))]
    with engine.connect() as conn:
        marker = conn.execute(text("SELECT records FROM tradelane_deliveries WHERE route ="
                                   " 'items' AND table_name = :t"), {"t": table_name}).all()
    assert marker == [(2,)]


def test_the_same_content_again_is_not_loaded_twice(tmp_path: Path, db: tuple[str, Engine],
                                                    table_name: str) -> None:
    """Even when the ledger forgot the delivery (a fresh ledger), the marker row stops it."""
    url, engine = db
    make_table(engine, table_name)
    project = table_project(tmp_path, url, table_name, "mode: insert")
    project.drop("items", "a.csv", csv_rows(ROWS))
    assert project.run().exit_code == 0
    (tmp_path / ".tradelane" / "ledger.db").unlink()
    project.drop("items", "a.csv", csv_rows(ROWS))
    assert project.run().exit_code == 0
    assert len(table_rows(engine, table_name)) == 2


def test_upsert_updates_by_key(tmp_path: Path, db: tuple[str, Engine], table_name: str) -> None:
    url, engine = db
    make_table(engine, table_name, key=True)
    project = table_project(tmp_path, url, table_name, "mode: upsert, key: [sku]")
    project.drop("items", "a.csv", csv_rows(ROWS))
    assert project.run().exit_code == 0
    project.drop("items", "b.csv", csv_rows([("A-2", 7, "9.99", "2026-11-26"),
                                             ("A-3", 3, "3.00", "2026-11-26")]))
    assert project.run().exit_code == 0
    assert table_rows(engine, table_name) == [
        ("A-1", 1, Decimal("1.50"), date(2026, 11, 25)),
        ("A-2", 7, Decimal("9.99"), date(2026, 11, 26)),
        ("A-3", 3, Decimal("3.00"), date(2026, 11, 26))]


def test_replace_swaps_the_partition_of_the_file(tmp_path: Path, db: tuple[str, Engine],
                                                 table_name: str) -> None:
    url, engine = db
    make_table(engine, table_name)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {table_name} VALUES ('OLD', 5, 1, '2026-11-25'),"
                          " ('KEEP', 6, 1, '2026-11-24')"))
    project = table_project(tmp_path, url, table_name, "mode: replace, partition: [day]")
    project.drop("items", "a.csv", csv_rows(ROWS))
    assert project.run().exit_code == 0
    assert [r[0] for r in table_rows(engine, table_name)] == ["A-1", "A-2", "KEEP"]


def test_a_missing_column_keeps_the_file_pending_with_an_alert(
        tmp_path: Path, db: tuple[str, Engine], table_name: str) -> None:
    url, engine = db
    make_table(engine, table_name, drop="price")
    project = table_project(tmp_path, url, table_name, "mode: insert")
    project.drop("items", "a.csv", csv_rows(ROWS))
    summary = project.run()
    assert summary.exit_code == 4, summary  # pending, not quarantined
    assert project.quarantined("items") == []
    assert table_rows(engine, table_name) == []
    with project.ledger() as ledger:
        alerts = [a.message for a in Incidents(ledger).open_incidents("items")]
    assert any("'price' is missing" in a for a in alerts), alerts
    # fixed by ops: the retry loads it
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table_name} ADD COLUMN price NUMERIC(12,2)"))
    with project.ledger() as ledger, ledger.engine.begin() as conn:
        conn.execute(text("UPDATE files SET next_attempt_at = NULL"))
    assert project.run().exit_code == 0
    assert len(table_rows(engine, table_name)) == 2


def test_a_driver_that_is_not_installed_keeps_the_file_pending(
        tmp_path: Path, db: tuple[str, Engine], table_name: str) -> None:
    """The engine is made in a helper thread; its error reaches the delivery, not a crash."""
    url, _engine = db
    project = table_project(tmp_path, url.replace("+", "+nosuch", 1), table_name,
                            "mode: insert")
    project.drop("items", "a.csv", csv_rows(ROWS))
    summary = project.run()
    assert summary.exit_code == 4, summary  # pending, not quarantined
    assert project.quarantined("items") == []
    assert "Can't load plugin" in summary.results[0].message, summary


def test_a_value_the_column_cannot_hold_quarantines_the_file(
        tmp_path: Path, db: tuple[str, Engine], table_name: str) -> None:
    url, engine = db
    make_table(engine, table_name)
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table_name} ADD CONSTRAINT pos_{table_name}"
                          " CHECK (qty > 0)"))
    project = table_project(tmp_path, url, table_name, "mode: insert")
    project.drop("items", "a.csv", csv_rows([("A-1", 1, "1", "2026-11-25"),
                                             ("A-2", -1, "1", "2026-11-25")]))
    assert project.run().exit_code == 3
    assert table_rows(engine, table_name) == []  # all or nothing


def test_check_reports_a_missing_column_and_a_wrong_type(
        tmp_path: Path, db: tuple[str, Engine], table_name: str) -> None:
    url, engine = db
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table_name} (sku VARCHAR(20), qty DATE, day DATE)"))
    table_project(tmp_path, url, table_name, "mode: upsert, key: [sku]")
    done = subprocess.run([str(TRADELANE), "check"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line.strip() for line in done.stderr.splitlines()]
    assert f"items: target: table {table_name}: column 'price' is missing" in lines
    assert any(line.startswith(f"items: target: table {table_name}: column 'qty' is DATE")
               and "integer" in line for line in lines), lines
    assert any("upsert key ['sku'] is not its primary key" in line for line in lines), lines
    assert not any("day" in line for line in lines)


def test_check_passes_for_a_fitting_table_and_never_shows_the_password(
        tmp_path: Path, db: tuple[str, Engine], table_name: str) -> None:
    url, engine = db
    make_table(engine, table_name)
    project = table_project(tmp_path, url, table_name, "mode: insert")
    settings = (tmp_path / "tradelane.yaml").read_text()
    project.settings(settings.replace('"}\n', '", password_file: secret.txt}\n'))
    assert "password_file" in (tmp_path / "tradelane.yaml").read_text()
    (tmp_path / "secret.txt").write_text("s3cret-pw\n")
    done = subprocess.run([str(TRADELANE), "check"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    if url.startswith("postgresql"):  # trust auth ignores the password: the table fits
        assert done.returncode == 0, done.stdout + done.stderr
    else:  # MariaDB's root has no password: one given is refused, and reported
        assert done.returncode == 2 and "cannot reach database" in done.stderr, done.stderr
        assert "***" in done.stderr  # the URL is shown with its password masked
    assert "s3cret-pw" not in done.stdout + done.stderr


def test_a_file_invalid_at_its_end_leaves_the_table_untouched(
        tmp_path: Path, db: tuple[str, Engine], table_name: str) -> None:
    url, engine = db
    make_table(engine, table_name)
    project = table_project(tmp_path, url, table_name, "mode: insert, batch: 1")
    rows = [(f"A-{i}", i, "1", "2026-11-25") for i in range(1, 50)] + [("Z", "x", "1", "bad")]
    content = project.drop("items", "a.csv", csv_rows(rows)).read_bytes()
    assert project.run().exit_code == 3
    assert table_rows(engine, table_name) == []
    assert len(project.quarantined("items")) == 1
    # the file's marker (inserted while its first batch was read) was rolled back and is
    # not held: the same content can be loaded at once (2 s: a held key would time out)
    key = marker_key(hashlib.sha256(content).hexdigest(), "items", table_name)
    wait = ("SET LOCAL lock_timeout = '2s'" if engine.dialect.name == "postgresql"
            else "SET SESSION innodb_lock_wait_timeout = 2")
    with engine.connect() as conn:
        conn.execute(text(wait))
        conn.execute(markers_table(MetaData()).insert().values(
            key=key, route="items", table_name=table_name, file_id=1, sha256="-", batch=-1,
            records=0, delivered_at=datetime(2026, 11, 25)))
        assert conn.execute(text("SELECT COUNT(*) FROM tradelane_deliveries WHERE"
                                 " table_name = :t"), {"t": table_name}).scalar() == 1
        conn.rollback()


def test_a_password_variable_that_is_not_set_is_named_by_check(
        tmp_path: Path, db: tuple[str, Engine], table_name: str) -> None:
    url, _engine = db
    project = table_project(tmp_path, url, table_name, "mode: insert")
    settings = (tmp_path / "tradelane.yaml").read_text()
    project.settings(settings.replace('"}\n', '", password_env: WH_TEST_PASSWORD}\n'))
    env = {k: v for k, v in os.environ.items() if k != "WH_TEST_PASSWORD"}
    done = subprocess.run([str(TRADELANE), "check"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "the environment variable WH_TEST_PASSWORD (its password) is not set" in done.stderr
    assert "Traceback" not in done.stderr
