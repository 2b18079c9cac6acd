"""Database tables as targets and sources, and the ``database`` connection they name.

A ``database:`` connection of ``tradelane.yaml`` holds a SQLAlchemy URL without its password;
the password comes from an environment variable or a file, and is never logged. The kinds are
registered here, beside their specs.
"""

import re
from datetime import timedelta
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from tradelane.registry import (
    SOURCES,
    TARGETS,
    TRANSPORTS,
    SourcePlugin,
    TargetPlugin,
    TransportPlugin,
)
from tradelane.spec._base import Duration, Strict
from tradelane.spec.settings import ConnectionOptions
from tradelane.spec.sources import SourceOptions
from tradelane.spec.targets import TargetOptions, _env_name

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
DIALECTS = ("postgresql", "mysql", "mariadb")


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a plain table or column name (letters, digits, _)")
    return value


class DatabaseConnection(Strict):
    """A PostgreSQL or MariaDB/MySQL server. The URL carries no password: it is read from
    ``password_env`` or ``password_file`` when the connection is opened."""

    url: str = Field(..., description="SQLAlchemy URL without a password, e.g."
                     " postgresql+psycopg://loader@db.example:5432/warehouse or"
                     " mysql+pymysql://loader@db.example:3306/erp.")
    password_env: str | None = Field(None, description="Environment variable holding the"
                                     " password.")
    password_file: str | None = Field(None, description="File holding the password (first"
                                      " line; relative to the project root).")
    connect_timeout: int = Field(10, ge=1, le=300, description="Seconds to wait for the server"
                                 " when connecting.")

    _env = field_validator("password_env")(classmethod(lambda cls, v: _env_name(v)))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db")\
                from None
        if url.get_backend_name() not in DIALECTS:
            raise ValueError(f"database {url.get_backend_name()!r} is not supported; use one of"
                             f" {', '.join(DIALECTS)}")
        if url.password is not None:
            raise ValueError("no password in the URL: use password_env or password_file")
        return value

    @model_validator(mode="after")
    def _one_password(self) -> Self:
        if self.password_env and self.password_file:
            raise ValueError("give only one of 'password_env' or 'password_file'")
        return self


class DatabaseConnectionEntry(ConnectionOptions):
    kind: Literal["database"] = "database"
    database: DatabaseConnection = Field(..., description="A PostgreSQL or MariaDB server.")


class TableLoad(Strict):
    """How records are loaded into a table."""

    connection: str = Field(..., description="Name of a database connection in tradelane.yaml.")
    table: str = Field(..., description="Table to load into.")
    db_schema: str | None = Field(None, alias="schema", description="Schema (PostgreSQL) or"
                                  " database (MariaDB) of the table; default: the connection's.")
    mode: Literal["insert", "upsert", "replace"] = Field(
        "insert", description="insert: add the rows; upsert: insert or update rows by 'key';"
        " replace: delete the rows whose 'partition' columns have a value found in the file,"
        " then insert the file's rows.")
    key: list[str] = Field(default_factory=list, description="upsert: the columns of the"
                           " table's primary key or unique index that identify a row.")
    partition: list[str] = Field(default_factory=list, description="replace: the columns"
                                 " identifying a file's share of the table, e.g. [export_date].")
    batch: int = Field(10_000, ge=1, le=1_000_000, description="Rows sent per statement.")
    commit: Literal["file", "batch"] = Field(
        "file", description="file: one transaction for the whole file (all or nothing);"
        " batch: a transaction per batch, for big files. A file interrupted then has some of"
        " its batches in the table, each recorded with a marker row: the retry skips them and"
        " loads the rest, so no row is loaded twice. (replace needs 'file'.)")
    create: bool = Field(False, description="Create the table from the route's output fields"
                         " if it does not exist (column types from the field types).")

    _names = field_validator("table", "db_schema")(
        classmethod(lambda cls, v: v if v is None else _identifier(v)))

    @field_validator("key", "partition")
    @classmethod
    def _columns(cls, value: list[str]) -> list[str]:
        return [_identifier(v) for v in value]

    @model_validator(mode="after")
    def _mode_needs(self) -> Self:
        if self.mode == "upsert" and not self.key:
            raise ValueError("mode upsert needs 'key': the columns that identify a row")
        if self.mode == "replace" and not self.partition:
            raise ValueError("mode replace needs 'partition': the columns whose values in the"
                             " file say which rows it replaces")
        if self.mode == "replace" and self.commit == "batch":
            raise ValueError("mode replace deletes and inserts in one transaction: leave"
                             " 'commit' at file")
        return self


class TableTarget(TargetOptions):
    """Records loaded into a database table, exactly once per file (a marker row in the
    table's database, ``tradelane_deliveries``, is written in the same transaction)."""

    kind: Literal["table"] = "table"
    table: TableLoad = Field(..., description="The table and how rows are loaded.")


class TableStatus(Strict):
    """A staging table whose rows carry a status: rows in ``ready`` are taken, and set to
    ``done`` (or ``rejected``) once their file is delivered (or quarantined)."""

    column: str = Field(..., description="The status column, e.g. status.")
    key: list[str] = Field(..., min_length=1, description="Columns identifying a row, e.g."
                           " [id], used to update the status of exactly the rows taken.")
    ready: str = Field("new", description="Status of rows waiting to be taken.")
    done: str = Field("done", description="Status set once the rows' file is delivered.")
    rejected: str = Field("quarantined", description="Status set once the rows' file is"
                          " quarantined (it is then in quarantine, to fix and reprocess).")

    _names = field_validator("column")(classmethod(lambda cls, v: _identifier(v)))

    @field_validator("key")
    @classmethod
    def _columns(cls, value: list[str]) -> list[str]:
        return [_identifier(v) for v in value]


class TableRead(Strict):
    """What a table source reads on each poll. Give a ``query`` with a ``:watermark``
    parameter and the ``watermark`` column, or a ``table`` with either a ``watermark``
    column or a ``status``."""

    connection: str = Field(..., description="Name of a database connection in tradelane.yaml.")
    query: str | None = Field(None, description="SELECT returning the new rows, with a"
                              " :watermark parameter, e.g. SELECT * FROM exports WHERE"
                              " exported_at > :watermark ORDER BY exported_at.")
    table: str | None = Field(None, description="Table to read (instead of a query).")
    db_schema: str | None = Field(None, alias="schema", description="Schema (PostgreSQL) or"
                                  " database (MariaDB) of the table.")
    watermark: str | None = Field(None, description="Column whose greatest value delivered is"
                                  " remembered; the next poll asks for rows above it.")
    start: str | int | None = Field(None, description="Watermark of the very first poll"
                                    " (default: every row), e.g. '2026-01-01'.")
    status: TableStatus | None = Field(None, description="Take rows by a status column"
                                       " instead of a watermark.")
    max_rows: int = Field(100_000, ge=1, description="Most rows in one poll's file (status"
                          " mode and table watermark mode; the rest come next poll).")

    _names = field_validator("table", "db_schema", "watermark")(
        classmethod(lambda cls, v: v if v is None else _identifier(v)))

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if bool(self.query) == bool(self.table):
            raise ValueError("give exactly one of 'query' or 'table'")
        if self.query is not None:
            if self.watermark is None or ":watermark" not in self.query or self.start is None:
                raise ValueError("a query needs 'watermark' (the column), a :watermark"
                                 " parameter in its WHERE and 'start' (the first poll's"
                                 " watermark)")
            if self.status is not None:
                raise ValueError("'status' works on a 'table', not a query")
        elif (self.watermark is None) == (self.status is None):
            raise ValueError("a table source needs exactly one of 'watermark' or 'status'")
        return self


class TableSource(SourceOptions):
    """Rows read from a database table or query: each poll's new rows become one file (CSV or
    JSON Lines, the route's format) with a history and quarantine like any other. The
    watermark (or the rows' status) moves on only after the file is delivered."""

    kind: Literal["table"] = "table"
    table: TableRead = Field(..., description="The table or query, and how new rows are found.")
    min_age: Duration = Field(timedelta(0), description="Not used: a poll's file is complete"
                              " when it is written.")


TRANSPORTS.register(TransportPlugin("database", DatabaseConnectionEntry,
                                    "tradelane.database:connect"))
TARGETS.register(TargetPlugin("table", TableTarget, "tradelane.targets.table:TableTarget",
                              connection="database", writes_files=False))
SOURCES.register(SourcePlugin("table", TableSource, "tradelane.sources.table:TableSource",
                              connection="database", after=frozenset({"archive", "delete"})))

__all__ = ["DatabaseConnection", "DatabaseConnectionEntry", "TableLoad", "TableRead",
           "TableSource", "TableStatus", "TableTarget"]
