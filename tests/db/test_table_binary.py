"""The binary COPY of the table target against the real PostgreSQL: the rows it stores are
the rows the CSV COPY stores, and values a column refuses still quarantine the file."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from helpers import csv_rows, table_project, table_rows
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.dialects.postgresql import (
    BIGINT,
    BOOLEAN,
    DATE,
    DOUBLE_PRECISION,
    NUMERIC,
    TEXT,
    TIMESTAMP,
    VARCHAR,
)

from tradelane.targets import pgbinary

URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
COLUMNS = ("id BIGINT, s TEXT, v VARCHAR(20), p NUMERIC(12,2), q NUMERIC(10,0),"
           " r NUMERIC(14,5), d DATE, t TIMESTAMP, f DOUBLE PRECISION, ok BOOLEAN")
TYPES = [BIGINT(), TEXT(), VARCHAR(20), NUMERIC(12, 2), NUMERIC(10, 0), NUMERIC(14, 5), DATE(),
         TIMESTAMP(), DOUBLE_PRECISION(), BOOLEAN()]
#: doubles whose rounding to the column's scale is a tie in their decimal text
TIES = [1.005, -2.005, 0.125, 0.135, 2.675, -0.004, 99999999.995, 1e-9, 123.45, float("nan")]


@pytest.fixture
def pg() -> Iterator[Engine]:
    engine = create_engine(URL)
    yield engine
    engine.dispose()


def _sample(nulls: bool, same_lengths: bool) -> pa.Table:
    n = 400
    rnd = np.random.default_rng(20)
    places = rnd.integers(0, 6, n - len(TIES))
    prices = np.concatenate([TIES, np.round(rnd.uniform(-1e6, 1e6, n - len(TIES))
                                            * 10.0 ** places) / 10.0 ** places])
    words = [f"x{i:04d}" if same_lengths else ("é" * (i % 7) + "a,\"b'\\\n" if i % 3 else "")
             for i in range(n)]
    columns = {
        "id": pa.array(np.arange(n) - 200), "s": pa.array(words), "v": pa.array(words),
        "p": pa.array(prices), "q": pa.array(prices), "r": pa.array(prices),
        "d": pa.array(np.arange(n) * 97 - 20_000, pa.int32()).cast(pa.date32()),
        "t": pa.array(np.arange(n, dtype=np.int64) * 93_600_123_457 - 10**15,
                      pa.timestamp("us")),
        "f": pa.array(rnd.normal(size=n) * 10.0 ** rnd.integers(-300, 300, n)),
        "ok": pa.array(np.arange(n) % 2 == 0)}
    if nulls:
        every_fifth = pa.array(np.arange(n) % 5 == 1)
        columns = {k: pc.if_else(every_fifth, pa.nulls(n, c.type), c)
                   for k, c in columns.items()}
    return pa.table(columns).slice(3)  # a slice: the buffers start past their offsets


@pytest.mark.parametrize("same_lengths", [False, True], ids=["texts-vary", "texts-same"])
@pytest.mark.parametrize("nulls", [False, True], ids=["no-nulls", "nulls"])
def test_binary_rows_are_the_rows_csv_stores(pg: Engine, nulls: bool,
                                             same_lengths: bool) -> None:
    sample = _sample(nulls, same_lengths)
    coders = pgbinary.encoders(sample.schema.types, TYPES)
    assert coders is not None
    stored = {}
    with pg.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for form in ("csv", "binary"):
            cursor.execute(f"CREATE TEMP TABLE rt_{form} ({COLUMNS})")
            with cursor.copy(f"COPY rt_{form} FROM STDIN (FORMAT {form})") as copy:
                if form == "csv":
                    buffer = io.BytesIO()
                    pacsv.write_csv(sample, buffer, pacsv.WriteOptions(include_header=False))
                    copy.write(buffer.getvalue())
                else:  # in two pieces, as the target sends batches
                    copy.write(pgbinary.HEADER)
                    copy.write(pgbinary.encode(sample.slice(0, 150), coders))
                    copy.write(pgbinary.encode(sample.slice(150), coders))
                    copy.write(pgbinary.TRAILER)
            # repr: Decimal('NaN') is not equal to itself
            stored[form] = [repr(r) for r in cursor.execute(
                f"SELECT * FROM rt_{form} ORDER BY id").fetchall()]
        conn.rollback()
    assert len(stored["csv"]) == sample.num_rows
    assert stored["binary"] == stored["csv"]
    assert "Decimal('0.14')" in stored["binary"][0]  # 0.135: half away from zero


def test_types_without_an_exact_encoder_stay_in_csv() -> None:
    assert pgbinary.encoders([pa.int64()], [NUMERIC(12, 2)]) is None
    assert pgbinary.encoders([pa.float64()], [NUMERIC()]) is None  # no scale
    assert pgbinary.encoders([pa.float64()], [NUMERIC(30, 2)]) is None
    assert pgbinary.encoders([pa.timestamp("ns")], [TIMESTAMP()]) is None
    assert pgbinary.encoders([pa.string()], [TEXT()]) is not None


def _make(engine: Engine, table: str, sku: str = "VARCHAR(64)", qty: str = "BIGINT") -> None:
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (sku {sku}, qty {qty}, price NUMERIC(12,2),"
                          " day DATE)"))


@pytest.fixture
def table(pg: Engine) -> Iterator[str]:
    name = "bin_" + np.random.default_rng().bytes(6).hex()
    yield name
    with pg.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


def _encodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows each binary piece carried (the route's COPY went binary if any)."""
    calls: list[int] = []
    encode = pgbinary.encode

    def counted(piece: pa.Table, coders: list[pgbinary.Encoder]) -> object:
        calls.append(piece.num_rows)
        return encode(piece, coders)

    monkeypatch.setattr(pgbinary, "encode", counted)
    return calls


def test_a_route_loads_in_binary_with_the_decimal_rounding_of_csv(
        tmp_path: Path, pg: Engine, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _encodes(monkeypatch)
    _make(pg, table)
    project = table_project(tmp_path, URL, table, "mode: insert")
    project.drop("items", "a.csv", csv_rows([("A-1", 1, "1.005", "2026-11-25"),
                                             ("A-2", 2, "", "1999-12-31"),
                                             ("A-3", -3, "-2.675", "2000-01-01")]))
    assert project.run().exit_code == 0
    assert calls == [3]
    assert table_rows(pg, table) == [
        ("A-1", 1, Decimal("1.01"), date(2026, 11, 25)), ("A-2", 2, None, date(1999, 12, 31)),
        ("A-3", -3, Decimal("-2.68"), date(2000, 1, 1))]


@pytest.mark.parametrize(("row", "sku"), [
    (("A-1000", 1, "1", "2026-11-25"), "VARCHAR(3)"),  # value too long
    (("A-1", 1, "12345678901", "2026-11-25"), "VARCHAR(64)"),  # numeric field overflow
], ids=["too-long", "overflow"])
def test_a_value_the_column_refuses_quarantines_the_file(
        tmp_path: Path, pg: Engine, table: str, monkeypatch: pytest.MonkeyPatch,
        row: tuple[str, int, str, str], sku: str) -> None:
    calls = _encodes(monkeypatch)
    _make(pg, table, sku=sku)
    project = table_project(tmp_path, URL, table, "mode: insert")
    project.drop("items", "a.csv", csv_rows([("A-2", 2, "1", "2026-11-25"), row]))
    assert project.run().exit_code == 3
    assert calls == [2]
    assert table_rows(pg, table) == []


def test_a_column_without_a_binary_encoder_loads_in_csv(
        tmp_path: Path, pg: Engine, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _encodes(monkeypatch)
    _make(pg, table, qty="INTEGER")
    project = table_project(tmp_path, URL, table, "mode: insert")
    project.drop("items", "a.csv", csv_rows([("A-1", 1, "1.50", "2026-11-25")]))
    assert project.run().exit_code == 0
    assert calls == []
    assert table_rows(pg, table) == [("A-1", 1, Decimal("1.50"), date(2026, 11, 25))]


#: values at the edges of a base-10000 digit, each sent as a batch of its own (each batch
#: gets as many digits as its biggest value needs)
EDGES = [0.0, -0.0, 0.01, -0.01, 0.005, 9999.99, 9999.995, 10000.0, -10000.0, 99999999.99,
         123456789.0, 12345678901.0, float("inf"), 1e300]


@pytest.mark.parametrize("value", EDGES)
def test_decimals_at_digit_edges_are_stored_as_csv_stores_them(pg: Engine,
                                                               value: float) -> None:
    sample = pa.table({"p": pa.array([value, 1.5]), "r": pa.array([value, 2.25])})
    coders = pgbinary.encoders(sample.schema.types, [NUMERIC(12, 2), NUMERIC(14, 5)])
    assert coders is not None
    outcome = {}
    with pg.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for form in ("csv", "binary"):
            cursor.execute(f"CREATE TEMP TABLE edge_{form} (p NUMERIC(12,2), r NUMERIC(14,5))")
            cursor.execute("SAVEPOINT before")
            try:
                with cursor.copy(f"COPY edge_{form} FROM STDIN (FORMAT {form})") as copy:
                    if form == "csv":
                        buffer = io.BytesIO()
                        pacsv.write_csv(sample, buffer,
                                        pacsv.WriteOptions(include_header=False))
                        copy.write(buffer.getvalue())
                    else:
                        copy.write(pgbinary.HEADER)
                        copy.write(pgbinary.encode(sample.slice(0, 1), coders))
                        copy.write(pgbinary.encode(sample.slice(1), coders))
                        copy.write(pgbinary.TRAILER)
                outcome[form] = cursor.execute(f"SELECT p, r FROM edge_{form}").fetchall()
            except psycopg.Error as exc:  # the refusal is compared below
                cursor.execute("ROLLBACK TO SAVEPOINT before")
                outcome[form] = getattr(exc, "sqlstate", None)
        conn.rollback()
    assert outcome["binary"] == outcome["csv"]
    if value in (12345678901.0, float("inf"), 1e300):
        assert outcome["csv"] == "22003"  # numeric field overflow, in both formats
