"""A database table as a target (PostgreSQL, MariaDB/MySQL) through SQLAlchemy Core.

Exactly once: every load writes a marker row into ``tradelane_deliveries`` in the target
database, in the same transaction as the rows. The marker's key is the sha256 of the file's
content, the route and the table, so a retry after a crash (rows committed, the ledger not
told) finds it and loads nothing. The marker is inserted *first*: a second worker loading the
same file waits on its primary key and then finds it taken.

``commit: batch`` gives each batch its own transaction and marker (the file's batches are cut
the same way on every retry), and a last marker for the whole file: a retry skips the
batches already committed and loads the rest.

Insert mode on PostgreSQL streams the file with ``COPY ... FROM STDIN`` (psycopg), in the
binary format where every column has an exact encoder (``pgbinary``), else in CSV; every
other case uses ``executemany`` (SQLAlchemy's multi-row VALUES) per batch.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    inspect,
    select,
    tuple_,
)
from sqlalchemy import types as sqltypes
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    NoSuchTableError,
    SQLAlchemyError,
)

from tradelane.abc import DeliveryContext
from tradelane.crashpoints import crash_point
from tradelane.database import connect, database_url, marker_key, markers_table, shown
from tradelane.errors import DeliveryRejected, TargetUnavailable
from tradelane.models import Delivery, Document, Issue

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from tradelane.spec import RouteSpec, Settings
    from tradelane.spec.database import TableLoad

log = logging.getLogger(__name__)

#: Column classes a table may have for each field type of a route.
_NUMBERS = (sqltypes.Numeric, sqltypes.Float)  # Float is no Numeric in SQLAlchemy 2.1
COMPATIBLE: dict[str, tuple[type, ...]] = {
    "string": (sqltypes.String,),
    "integer": (sqltypes.Integer, *_NUMBERS),
    "decimal": _NUMBERS,
    "date": (sqltypes.Date, sqltypes.DateTime),
    "datetime": (sqltypes.DateTime,),
    # MariaDB has no boolean: BOOLEAN is TINYINT(1)
    "boolean": (sqltypes.Boolean, sqltypes.Integer),
}


class TableNotReady(TargetUnavailable):
    """The table is missing or does not fit the route's output (a column missing, a type
    that cannot hold the values): our configuration, not the partner's data. The file stays
    pending and ops are alerted."""

    alert = True

    def __init__(self, table: str, problems: Sequence[str]):
        self.table, self.problems = table, list(problems)
        super().__init__(f"table {table} does not fit the route: {'; '.join(problems)}; the"
                         " file stays pending until the table is fixed")


def field_type(arrow: pa.DataType) -> str:
    """The route's field type an Arrow column carries."""
    if pa.types.is_boolean(arrow):
        return "boolean"
    if pa.types.is_integer(arrow):
        return "integer"
    if pa.types.is_decimal(arrow) or pa.types.is_floating(arrow):
        return "decimal"
    if pa.types.is_date(arrow):
        return "date"
    if pa.types.is_timestamp(arrow):
        return "datetime"
    return "string"


def fit_problems(columns: dict[str, Any], wanted: dict[str, str | None]) -> list[str]:
    """Every output column the table lacks or cannot hold; ``columns`` as the inspector gives
    them (name -> SQLAlchemy type), ``wanted`` output name -> field type (None: any)."""
    problems = []
    lowered = {name.lower(): kind for name, kind in columns.items()}
    for name, kind in wanted.items():
        have = columns.get(name, lowered.get(name.lower()))
        if have is None:
            problems.append(f"column {name!r} is missing")
        elif kind is not None and not isinstance(have, COMPATIBLE[kind]):
            problems.append(f"column {name!r} is {have} but the route writes {kind} values")
    return problems


def column_type(kind: str, arrow: pa.DataType | None, dialect: str, keyed: bool,
                scale: int | None = None) -> Any:
    if kind == "integer":
        return BigInteger()
    if kind == "decimal":  # exact, as the route's decimals are
        if arrow is not None and pa.types.is_decimal(arrow):
            return Numeric(max(arrow.precision, 18), arrow.scale)
        return Numeric(18, 6 if scale is None else scale)
    if kind == "date":
        return Date()
    if kind == "datetime":
        return DateTime()
    if kind == "boolean":
        return Boolean()
    # MariaDB cannot index TEXT: a key column gets a VARCHAR
    return String(255) if keyed and dialect != "postgresql" else Text()


class TableTarget:
    def __init__(self, route: RouteSpec, settings: Settings, *, engine: Engine | None = None):
        self.route = route
        self.spec: TableLoad = route.target.table  # type: ignore[attr-defined]
        url = engine.url if engine is not None else database_url(settings,
                                                                  self.spec.connection)
        self.dialect = url.get_backend_name()  # the engine's dialect.name, without its import
        self.name = f"{self.spec.db_schema}.{self.spec.table}" if self.spec.db_schema \
            else self.spec.table
        self.uri = f"{shown(url)}#{self.name}"
        self._table: Table | None = None
        self._markers: Table | None = None
        # The driver's and the dialect's imports (psycopg: about 0.1 s of CPU) run in a helper
        # thread while the poll claims, stages and starts reading the file (hashing and
        # Arrow's reader release the interpreter lock). Nothing connects before a delivery
        # or a check: a preview never reaches the database.
        self._engine = engine
        self._making = None if engine is not None else _Background(
            connect, settings, self.spec.connection, url, name="table-engine", daemon=False)

    @property
    def engine(self) -> Engine:
        """The connection's engine; an error making it (an unknown or missing driver) is
        raised here, at the first delivery or check."""
        if self._engine is None:
            assert self._making is not None
            self._engine = self._making.result()
        return self._engine

    # -- delivery --------------------------------------------------------------------------

    def deliver(self, batches: Iterable[Document], ctx: DeliveryContext) -> Delivery:
        try:
            count = self._deliver(batches, ctx)
        except TargetUnavailable:
            raise
        except DBAPIError as exc:
            kind = _category(exc)
            if kind == "data":  # the values themselves do not fit: the partner's data
                raise DeliveryRejected(
                    f"table {self.name} refused the rows: {_first_line(exc)}",
                    issues=[Issue(location="", field="", value="", rule="table",
                                  message=_first_line(exc))]) from None
            if kind == "table":
                raise TableNotReady(self.name, [_first_line(exc)]) from None
            raise TargetUnavailable(f"database {shown(self.engine.url)} is unavailable:"
                                    f" {_first_line(exc)}") from None
        except SQLAlchemyError as exc:
            raise TargetUnavailable(f"table {self.name}: {_first_line(exc)}") from None
        return Delivery(target=self.uri, records=count,
                        details={"table": self.name, "mode": self.spec.mode})

    def _deliver(self, batches: Iterable[Document], ctx: DeliveryContext) -> int:
        per_file = self.spec.commit == "file"
        # one transaction per file: the reader's batches go on as they come (cut to the
        # batch size, never held back to fill one), so the COPY starts with the first
        pieces = _pieces(batches, self.spec.batch, fill=not per_file)
        file_key = marker_key(ctx.sha256, ctx.route, self.name)
        with contextlib.ExitStack() as held:
            # the database's round trips (connecting, the table's columns, the marker's
            # lookup and, one transaction per file, its insert) overlap the reading of the
            # first batch: a big file's first batch takes a few tenths of a second
            lookup = _Background(self._look_up, file_key, ctx if per_file else None)
            try:
                first = next(pieces, None)
            finally:
                lookup.join()
                found = lookup.value
                if found is not None and found.conn is not None:  # rolled back unless
                    held.enter_context(found.conn)  # committed below
            if first is None:
                return 0
            found = lookup.result()
            table = self._target_table(first)
            markers = self._marker_table()
            if found.done is not None:  # an earlier attempt committed it: the ledger was
                log.info("%s was loaded into %s before (marker %s): nothing to do",  # not told
                         ctx.original_name, self.name, file_key[:12])
                return found.done
            if per_file:
                conn = found.conn
                assert conn is not None
                if not found.marked:
                    return 0
                count, deleted = 0, set()
                if self._copies():  # one COPY for the whole file: the server parses
                    count = self._copy(conn, table,  # as we read
                                       _sliced(_chain(first, pieces), COPY_ROWS))
                for piece in _chain(first, pieces) if not count else ():
                    if self.spec.mode == "replace":
                        self._delete_partition(conn, table, piece, deleted)
                    count += self._load(conn, table, piece)
                conn.execute(markers.update().where(markers.c.key == file_key)
                             .values(records=count))
                conn.commit()
                crash_point("table-committed")
                return count
        count = 0
        for number, piece in enumerate(_chain(first, pieces)):
            key = marker_key(ctx.sha256, ctx.route, self.name, number)
            with self.engine.begin() as conn:
                if self._mark(conn, markers, key, ctx, number, len(piece)):
                    self._load(conn, table, piece)
            crash_point("table-batch-committed")
            count += len(piece)
        with self.engine.begin() as conn:
            self._mark(conn, markers, file_key, ctx, -1, count)
        crash_point("table-committed")
        return count

    def _look_up(self, file_key: str, ctx: DeliveryContext | None) -> _Found:
        """The records of the file's marker (None: not loaded yet); the table is reflected
        and the marker table made on the way, so the first batch finds them ready. With
        ``ctx`` (one transaction per file) the marker is inserted too, in the transaction
        the rows will go in (a second worker loading the same file waits here, on its key,
        while its first batch is read); the connection is returned with it open."""
        markers = self._marker_table()
        if self._table is None:
            with contextlib.suppress(NoSuchTableError):  # created or reported with the batch
                self._table = self._reflect()
        if ctx is None:
            with self.engine.connect() as conn:
                done = conn.execute(select(markers.c.records)
                                    .where(markers.c.key == file_key)).scalar()
            return _Found(None if done is None else int(done))
        conn = self.engine.connect()
        try:
            conn.begin()
            done = conn.execute(select(markers.c.records).where(markers.c.key == file_key)) \
                .scalar()
            if done is not None:
                return _Found(int(done), conn)
            return _Found(None, conn, marked=self._mark(conn, markers, file_key, ctx, -1))
        except BaseException:
            conn.close()
            raise

    def _mark(self, conn: Connection, markers: Table, key: str, ctx: DeliveryContext,
              batch: int, records: int = 0) -> bool:
        """Insert the marker; False if it is there already (this batch or file was loaded)."""
        if conn.execute(select(markers.c.key).where(markers.c.key == key)).first():
            return False
        try:
            with conn.begin_nested():
                conn.execute(markers.insert().values(
                    key=key, route=ctx.route, table_name=self.name, file_id=ctx.file_id,
                    sha256=ctx.sha256, batch=batch, records=records,
                    delivered_at=datetime.now(UTC).replace(tzinfo=None)))
        except IntegrityError:  # another worker committed it while we waited on its key
            return False
        return True

    def _delete_partition(self, conn: Connection, table: Table, piece: pa.Table,
                          deleted: set[tuple[Any, ...]]) -> None:
        cols = self.spec.partition
        values = {tuple(row[c] for c in cols) for row in piece.select(cols).to_pylist()}
        todo = sorted(values - deleted, key=repr)
        if todo:
            keys = tuple_(*(table.c[c] for c in cols)) if len(cols) > 1 else table.c[cols[0]]
            wanted = todo if len(cols) > 1 else [v[0] for v in todo]
            conn.execute(table.delete().where(keys.in_(wanted)))
            deleted.update(todo)

    def _copies(self) -> bool:
        return self.spec.mode == "insert" and self.dialect == "postgresql" \
            and self.engine.driver == "psycopg"

    def _load(self, conn: Connection, table: Table, piece: pa.Table) -> int:
        if self._copies():
            return self._copy(conn, table, iter([piece]))
        rows = piece.to_pylist()
        if self.spec.mode == "upsert":
            conn.execute(self._upsert(table, piece.column_names), rows)
        else:
            conn.execute(table.insert(), rows)
        return len(rows)

    def _copy(self, conn: Connection, table: Table, pieces: Iterator[pa.Table]) -> int:
        """COPY FROM STDIN, in PostgreSQL's binary format where every column has an exact
        binary encoder (the server parses it faster), else in CSV (an unquoted empty field
        is NULL, a quoted one is ''). A writer thread sends each piece while the next one
        is read and encoded."""
        import psycopg
        from psycopg.copy import QueuedLibpqWriter

        from tradelane.targets import pgbinary

        quote = self.engine.dialect.identifier_preparer.quote
        target = self.engine.dialect.identifier_preparer.format_table(table)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        count, statement = 0, ""
        coders: list[pgbinary.Encoder] | None = None
        try:
            with contextlib.ExitStack() as stack:  # the COPY ends (or aborts) on leaving
                for piece in pieces:
                    if not statement:
                        first = piece.schema
                        coders = self._binary_coders(table, first)
                        names = ", ".join(quote(c) for c in piece.column_names)
                        form = "binary" if coders is not None else "csv"
                        statement = f"COPY {target} ({names}) FROM STDIN (FORMAT {form})"
                        copy = stack.enter_context(
                            cursor.copy(statement, writer=QueuedLibpqWriter(cursor)))
                        if coders is not None:
                            copy.write(pgbinary.HEADER)
                    if coders is not None:
                        if piece.schema != first:  # the encoders were chosen for the first
                            piece = piece.cast(first)
                        copy.write(pgbinary.encode(piece, coders))
                    else:
                        buffer = io.BytesIO()
                        pacsv.write_csv(piece, buffer,
                                        pacsv.WriteOptions(include_header=False))
                        copy.write(buffer.getbuffer())
                    count += len(piece)
                if coders is not None:
                    copy.write(pgbinary.TRAILER)
        except psycopg.Error as exc:  # as SQLAlchemy would have wrapped it
            raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
        return count

    def _binary_coders(self, table: Table, schema: pa.Schema) -> list[Any] | None:
        """Binary encoders for the columns, if the route declares every column's type (so
        each batch has the same Arrow types) and each pair has an exact encoder."""
        from tradelane.targets import pgbinary

        declared = output_types(self.route)
        if any(declared.get(name) is None for name in schema.names) \
                or any(name not in table.c for name in schema.names):
            return None
        return pgbinary.encoders(schema.types, [table.c[name].type for name in schema.names])

    def _upsert(self, table: Table, columns: list[str]) -> Any:
        others = [c for c in columns if c not in self.spec.key]
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(table)
            if not others:
                return stmt.on_conflict_do_nothing(index_elements=self.spec.key)
            return stmt.on_conflict_do_update(
                index_elements=self.spec.key, set_={c: stmt.excluded[c] for c in others})
        from sqlalchemy.dialects.mysql import insert as my_insert

        stmt = my_insert(table)
        update = others or self.spec.key[:1]  # a no-op update keeps the row
        return stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in update})

    # -- the table ---------------------------------------------------------------------------

    def _marker_table(self) -> Table:
        if self._markers is None:
            self._markers = markers_table(MetaData(), self.spec.db_schema)
            self._markers.create(self.engine, checkfirst=True)
        return self._markers

    def _target_table(self, sample: pa.Table) -> Table:
        """The table, reflected once per poll, checked against the batch's columns."""
        wanted = {name: field_type(sample.schema.field(name).type)
                  for name in sample.column_names}
        if self._table is None:
            try:
                self._table = self._reflect()
            except NoSuchTableError:
                if not self.spec.create:
                    raise TableNotReady(self.name, ["the table does not exist (create it, or"
                                                    " set create: true)"]) from None
                self._table = self._create(sample)
        have = {c.name: c.type for c in self._table.columns}
        problems = fit_problems(have, wanted)
        problems += [f"key column {c!r} is not among the route's output columns"
                     for c in [*self.spec.key, *self.spec.partition] if c not in wanted]
        if problems:
            self._table = None  # look again on the next file: ops may be fixing it
            raise TableNotReady(self.name, problems)
        return self._table

    def _reflect(self) -> Table:
        """The table's columns and their types: all a load needs (a full reflection also
        reads indexes, constraints and comments, several catalog queries per file)."""
        columns = inspect(self.engine).get_columns(self.spec.table, schema=self.spec.db_schema)
        return Table(self.spec.table, MetaData(),
                     *(Column(c["name"], c["type"]) for c in columns), schema=self.spec.db_schema)

    def _create(self, sample: pa.Table) -> Table:
        keyed = set(self.spec.key) | set(self.spec.partition)
        declared = output_types(self.route)  # the route's types; the batch's where unknown
        scales = self.route.target.decimals
        columns = [Column(f.name, column_type(declared.get(f.name) or field_type(f.type),
                                              f.type, self.dialect, f.name in keyed,
                                              scales.get(f.name)),
                          primary_key=f.name in self.spec.key)
                   for f in sample.schema]
        table = Table(self.spec.table, MetaData(), *columns, schema=self.spec.db_schema)
        table.create(self.engine, checkfirst=True)
        log.info("created table %s with columns %s", self.name, ", ".join(sample.column_names))
        return table

    def verify(self) -> list[str]:
        """``tradelane check``: connect, and list what keeps the table from taking the route's
        output (nothing is written)."""
        wanted = output_types(self.route)
        try:
            inspector = inspect(self.engine)
            if not inspector.has_table(self.spec.table, schema=self.spec.db_schema):
                return [] if self.spec.create else [
                    f"table {self.name} does not exist (create it, or set create: true)"]
            have = {c["name"]: c["type"] for c in
                    inspector.get_columns(self.spec.table, schema=self.spec.db_schema)}
        except SQLAlchemyError as exc:
            return [f"cannot reach database {shown(self.engine.url)}: {_first_line(exc)}"]
        problems = [f"table {self.name}: {p}" for p in fit_problems(have, wanted)]
        if self.spec.mode == "upsert":
            problems += self._unique_problems(inspector)
        return problems

    def _unique_problems(self, inspector: Any) -> list[str]:
        key = set(self.spec.key)
        uniques = [set(inspector.get_pk_constraint(self.spec.table, schema=self.spec.db_schema)
                       .get("constrained_columns") or [])]
        uniques += [set(u["column_names"]) for u in
                    inspector.get_unique_constraints(self.spec.table, schema=self.spec.db_schema)]
        uniques += [set(i["column_names"]) for i in
                    inspector.get_indexes(self.spec.table, schema=self.spec.db_schema)
                    if i.get("unique")]
        if key not in uniques:
            return [f"table {self.name}: upsert key {sorted(key)} is not its primary key or a"
                    " unique index, so rows would be added instead of updated"]
        return []

    def preview(self, batches: Sequence[Document], route: RouteSpec) -> str:
        rows = sum(len(b.records) for b in batches)
        return f"would {self.spec.mode} {rows} rows into table {self.name} ({self.uri})"

    def close(self) -> None:
        if self._making is not None and self._engine is None:
            self._making.join()  # made, never used: no connection to close
            return
        self.engine.dispose()


def output_types(route: RouteSpec) -> dict[str, str | None]:
    """The route's output columns and the field type each carries (None: not known before a
    file is read, e.g. a hook's column)."""
    t = route.transform
    types: dict[str, str | None] = {n: f.type for n, f in route.fields.items()}
    types |= {n: getattr(f, "type", None) for n, f in route.header.items()}
    types |= {n: "string" for n in t.copy_header if types.get(n) is None}
    types |= {lk.field: "string" for lk in t.lookups}
    types |= {n: "decimal" if d.expr else "string" for n, d in t.derive.items()}
    types |= {n: _constant_type(v) for n, v in t.constants.items()}
    renamed = {t.rename.get(n, n): kind for n, kind in types.items()}
    if t.output is not None:
        return {n: renamed.get(n) for n in t.output}
    return renamed


def _constant_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "decimal" if isinstance(value, float) else "string"


#: Rows per write of a COPY: the server starts on the first ones while the rest are encoded,
#: and what it still has to parse after the last write (the wait at the end) is this small.
COPY_ROWS = 32_768


def _pieces(batches: Iterable[Document], size: int, *, fill: bool = True
            ) -> Iterator[pa.Table]:
    """The file's records cut into tables of ``size`` rows (the same cuts on every retry);
    ``fill=False``: each batch as it comes, cut to at most ``size`` rows."""
    if not fill:
        for doc in batches:
            yield from _sliced(iter([doc.records]), size)
        return
    held: list[pa.Table] = []
    rows = 0
    for doc in batches:
        table = doc.records
        while len(table):
            take = min(size - rows, len(table))
            held.append(table.slice(0, take))
            table, rows = table.slice(take), rows + take
            if rows == size:
                yield pa.concat_tables(held) if len(held) > 1 else held[0]
                held, rows = [], 0
    if held:
        yield pa.concat_tables(held) if len(held) > 1 else held[0]


@dataclass
class _Found:
    """What ``_look_up`` found: the records of the file's marker (None: not loaded yet) and,
    one transaction per file, the connection with the transaction open and whether this
    load's marker is in it (False: another worker committed it meanwhile)."""

    done: int | None
    conn: Connection | None = None
    marked: bool = False


class _Background:
    """A call run in a helper thread (keeping the caller's log context); ``result`` returns
    its value or raises its exception in the caller."""

    def __init__(self, call: Callable[..., Any], *args: Any, name: str = "table-lookup",
                 daemon: bool = True):
        self._value: Any = None
        self._error: BaseException | None = None
        self._done = False

        def run() -> None:
            try:
                self._value = call(*args)
            except BaseException as exc:  # raised in the caller by result()
                self._error = exc
            self._done = True

        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(run,),
                                        name=name, daemon=daemon)
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    @property
    def value(self) -> Any:
        """The call's value once it returned (None while it runs or if it raised)."""
        return self._value if self._done and self._error is None else None

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _sliced(tables: Iterator[pa.Table], size: int) -> Iterator[pa.Table]:
    """Each table in slices of at most ``size`` rows (no copy)."""
    for table in tables:
        for start in range(0, len(table), size):
            yield table.slice(start, size)


def _chain(first: pa.Table, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    yield first
    yield from rest


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: MariaDB/MySQL server errors: the table does not fit / the server is busy or going away
_MYSQL_TABLE = {1054, 1142, 1143, 1146}
_MYSQL_BUSY = {1040, 1053, 1205, 1213, 1927}


def _category(exc: DBAPIError) -> str:
    """What a database error means for the file: ``unavailable`` (retry), ``table`` (the
    table does not fit the route: retry with an alert) or ``data`` (quarantine)."""
    if exc.connection_invalidated:
        return "unavailable"
    state = getattr(exc.orig, "sqlstate", None)  # psycopg
    if isinstance(state, str):
        if state[:2] in ("22", "23"):
            return "data"
        if state[:2] == "42":
            return "table"
        return "unavailable"
    args = getattr(exc.orig, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    if code in _MYSQL_TABLE:
        return "table"
    if code is None or code >= 2000 or code in _MYSQL_BUSY:  # 2xxx: the client lost the server
        return "unavailable"
    return "data"
