"""A database table (or query) as a source: each poll's new rows become one file.

A poll writes the query's rows, in the route's format (CSV or JSON Lines), into the route's
folder under the spool (``<spool>/tables/<route>/``), atomically, with a sidecar. From there
the file is listed, claimed, staged, validated and delivered like any other, and keeps its
history; a reject goes to quarantine and can be reprocessed from there.

Where the route stands is kept in the ledger (``source_marks``, shared by every worker): the
watermark, the snapshot in flight and a lease, so one worker at a time polls a route and two
workers never export the same rows. The watermark moves with the ledger's record of the
snapshot's outcome: the transaction that says ``delivered`` (or ``quarantined``) is what the
next poll reads first. A status column is set in the source database only after that, in
``after_delivery``/``after_reject`` (pending work the pipeline records with the outcome) or,
if the worker died, by the next poll of any worker; setting ``ready`` rows to ``done`` again
is harmless, so it is redone after a crash. A watermark file left by an earlier version
(``watermark.json``) is taken into the ledger on first use.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, Table, bindparam, select, text, tuple_, update
from sqlalchemy.exc import SQLAlchemyError

from tradelane.abc import PostAction
from tradelane.crashpoints import crash_point
from tradelane.database import connect, shown
from tradelane.errors import ConfigError, SourceUnavailable
from tradelane.models import Entry, FileRef
from tradelane.paths import FolderSyncs, atomic_writer
from tradelane.sources.base import PolledSource
from tradelane.sources.readiness import Listing
from tradelane.sources.table_marks import Marks, legacy_state
from tradelane.staging import Staged, stage_file

if TYPE_CHECKING:
    from tradelane.ledger import FileRecord, Ledger
    from tradelane.spec import RouteSpec, Settings
    from tradelane.spec.database import TableRead

META = ".meta.json"  # the sidecar of a snapshot: what its delivery moves on
STATE = "watermark.json"  # where earlier versions kept the watermark (taken into the ledger)


class TableSource(PolledSource):
    def __init__(self, route: RouteSpec, settings: Settings):
        super().__init__(route)
        self.read: TableRead = route.source.table  # type: ignore[attr-defined]
        self.format = route.format
        self.engine = connect(settings, self.read.connection)
        self.folder = settings.path(settings.folders.spool) / "tables" / route.name
        self.folder.mkdir(parents=True, exist_ok=True)
        what = self.read.table or "query"
        self.uri = f"{shown(self.engine.url)}#{what}"
        if self.format.type not in ("csv", "jsonl"):
            raise ConfigError(f"route {route.name}: a table source writes its rows as csv or"
                              f" jsonl, not {self.format.type}")
        self.extension = self.format.type
        self.settings = settings
        self._marks: Marks | None = None
        self._ledger: Ledger | None = None

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()
        if self._ledger is not None:
            self._ledger.engine.dispose()

    @property
    def marks(self) -> Marks:
        """The route's row in the ledger (its own engine on the ledger's database: a
        source is made without the runner's ledger)."""
        if self._marks is None:
            from tradelane.ledger import Ledger

            settings = self.settings
            self._ledger = Ledger(settings.ledger_url, worker=settings.worker,
                                  lease=settings.lease)
            self._marks = Marks(self._ledger, self.route, self.uri, self.folder,
                                settings.lease.total_seconds())
        return self._marks

    # -- listing: a waiting snapshot, else a new one from the database -----------------------

    def list_ready(self) -> Listing:
        entries = self.entries()
        return Listing(e.ref(self.route, self.uri) for e in entries)

    def entries(self) -> list[Entry]:
        for _ in range(5):  # settling a finished snapshot, then the turn after it
            local = {p.name for p in self._snapshots()}
            legacy = legacy_state(self.folder, STATE, META, self.extension)
            turn = self.marks.turn(local, legacy)
            if legacy is not None:  # the ledger has it now
                with contextlib.suppress(FileNotFoundError):
                    (self.folder / STATE).rename(self.folder / (STATE + ".migrated"))
            if turn.kind == "settle":
                assert turn.mark.snapshot is not None
                self._finish(turn.mark.snapshot, turn.mark.keys, turn.mark.rows,
                             done=turn.done)
                continue
            if turn.kind == "busy":
                return []  # another worker exports this route now
            for stale in local - {turn.mark.snapshot}:  # not (or no longer) the one in flight
                self.remove(FileRef(self.route, self.uri, stale, 0, 0))
            if turn.kind == "ours":
                assert turn.mark.snapshot is not None
                return [self._entry(self.folder / turn.mark.snapshot)]
            name = self._poll(turn.mark.watermark)
            return [] if name is None else [self._entry(self.folder / name)]
        return []

    def _snapshots(self) -> list[Path]:
        return sorted(p for p in self.folder.glob(f"*.{self.extension}")
                      if (p.parent / (p.name + META)).exists())

    def _entry(self, path: Path) -> Entry:
        st = path.stat()
        return Entry(path.name, "file", st.st_size, st.st_mtime_ns)

    def _poll(self, tagged: Any) -> str | None:
        """Run the query from the watermark; write its rows (if any) as the next snapshot,
        record it in the ledger as the poll in flight, then make it visible. Its name."""
        watermark = self.read.start if tagged is None else _untagged(tagged)
        try:
            try:
                with self.engine.connect() as conn:
                    result = conn.execution_options(stream_results=True).execute(
                        *self._statement(watermark))
                    columns = list(result.keys())
                    tmp = self.folder / ".poll.tradelane.tmp"
                    rows, last, keys = self._write(tmp, columns, result)
            except SQLAlchemyError as exc:
                raise SourceUnavailable(f"cannot read {self.uri}: {_first_line(exc)}") from None
        except BaseException:
            self.marks.release()
            raise
        if not rows:
            tmp.unlink(missing_ok=True)
            self.marks.release()
            return None
        digest = _sha256(tmp)
        name = f"{self.route}-{digest[:12]}.{self.extension}"
        meta = {"rows": rows, "watermark": _tagged(last) if last is not None else tagged,
                "keys": keys}
        with atomic_writer(self.folder / (name + META)) as out:
            out.write(json.dumps(meta, default=str).encode())
        status = self.read.status is not None
        if not self.marks.polled(name, meta["watermark"], keys if status else None, rows):
            tmp.unlink(missing_ok=True)  # the lease ran out meanwhile: another worker has it
            return None
        os.replace(tmp, self.folder / name)  # listed only once the ledger has it
        return name

    def _statement(self, watermark: Any) -> tuple[Any, ...]:
        spec = self.read
        if spec.query is not None:
            return (text(spec.query), {"watermark": watermark})
        table = self._table()
        if spec.status is not None:
            return (select(table).where(table.c[spec.status.column] == spec.status.ready)
                    .order_by(*(table.c[k] for k in spec.status.key)).limit(spec.max_rows),)
        assert spec.watermark is not None
        column = table.c[spec.watermark]
        stmt = select(table).order_by(column)
        if watermark is not None:
            stmt = stmt.where(column > watermark)
        return (stmt.limit(spec.max_rows),)

    def _table(self) -> Table:
        assert self.read.table is not None
        return Table(self.read.table, MetaData(), schema=self.read.db_schema,
                     autoload_with=self.engine)

    def _write(self, path: Path, columns: list[str], result: Any) -> tuple[int, Any, list[Any]]:
        """Stream the rows into ``path``: (rows, the greatest watermark, the status keys)."""
        spec = self.read
        mark = columns.index(spec.watermark) if spec.watermark in columns else None
        key_at = [columns.index(k) for k in spec.status.key] if spec.status else []
        rows, last, keys = 0, None, []
        with path.open("wb") as raw:
            if self.extension == "csv":
                out = io.TextIOWrapper(raw, encoding=self.format.encoding, newline="")
                writer = csv.writer(out, delimiter=self.format.delimiter,
                                    quotechar=self.format.quote)
                writer.writerow(columns)
            else:
                out = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
            for row in result.yield_per(5000) if hasattr(result, "yield_per") else result:
                if self.extension == "csv":
                    writer.writerow([_text(v, self.format.decimal) for v in row])
                else:
                    out.write(json.dumps(dict(zip(columns, (_json(v) for v in row),
                                                  strict=True))) + "\n")
                rows += 1
                if mark is not None and row[mark] is not None \
                        and (last is None or row[mark] > last):
                    last = row[mark]
                if key_at:
                    keys.append([_json(row[i]) for i in key_at])
            out.flush()
            os.fsync(raw.fileno())
            out.detach()
        if mark is None and spec.watermark is not None and rows:
            raise SourceUnavailable(f"{self.uri}: the query returns no column"
                                    f" {spec.watermark!r} (the watermark)")
        return rows, last, keys

    # -- reading and finishing ----------------------------------------------------------------

    def fetch(self, ref: FileRef, dest: Path) -> Staged:
        path = self.folder / ref.name
        if not path.is_file():
            raise SourceUnavailable(f"the snapshot {ref.name} of {self.uri} is gone")
        return stage_file(path, dest)

    def stat(self, ref: FileRef) -> Entry | None:
        path = self.folder / ref.name
        return self._entry(path) if path.is_file() else None

    def remove(self, ref: FileRef) -> None:
        for path in (self.folder / (ref.name + META), self.folder / ref.name):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def move_to(self, ref: FileRef, folder: str, syncs: FolderSyncs | None = None) -> str:
        raise SourceUnavailable("a table source cannot move its snapshots")

    def after_delivery(self, record: FileRecord, staged: Staged | None, archive_to: Path,
                       syncs: FolderSyncs | None = None) -> PostAction:
        moved = self._advance(record, done=True)
        kept = None
        path = self.folder / record.name
        if self.spec.after == "archive" and path.exists():
            Staged.file(path).keep(archive_to)
            kept = archive_to
        self.remove(record.ref)
        return PostAction(moved + (f"; archived to {archive_to}" if kept else ""), kept)

    def after_reject(self, record: FileRecord) -> PostAction:
        moved = self._advance(record, done=False)
        self.remove(record.ref)  # the quarantined copy is the file now
        return PostAction(moved)

    def _advance(self, record: FileRecord, *, done: bool) -> str:
        """The snapshot's outcome is recorded: set its rows' status, move the watermark."""
        mark = self.marks.current()
        if mark is None or mark.snapshot != record.name:
            return "the rows' watermark/status was already moved on"
        return self._finish(record.name, mark.keys, mark.rows, done=done)

    def _finish(self, name: str, keys: list[Any] | None, rows: int | None, *,
                done: bool) -> str:
        """Set the snapshot's rows' status (if the route has one), then settle it in the
        ledger; both idempotent, so a crash between them is redone."""
        spec = self.read
        if spec.status is not None:
            new = self._set_status(keys or [], rows or 0, done=done)
            crash_point("table-source-status-set")
            self.marks.settle(name)
            return f"{rows} rows set to status {new!r}"
        crash_point("table-source-settling")
        self.marks.settle(name)
        current = self.marks.current()
        value = current.watermark["value"] if current and current.watermark else None
        return f"watermark {spec.watermark} moved to {value}"

    def _set_status(self, keys: list[Any], rows: int, *, done: bool) -> str:
        status = self.read.status
        assert status is not None
        table = self._table()
        key = tuple_(*(table.c[k] for k in status.key)) if len(status.key) > 1 \
            else table.c[status.key[0]]
        wanted = [tuple(k) for k in keys] if len(status.key) > 1 else [k[0] for k in keys]
        new = status.done if done else status.rejected
        try:
            with self.engine.begin() as conn:
                for start in range(0, len(wanted), 1000):
                    conn.execute(update(table).where(
                        key.in_(bindparam("keys", expanding=True)),
                        table.c[status.column] == status.ready).values(
                            {status.column: new}), {"keys": wanted[start:start + 1000]})
        except SQLAlchemyError as exc:
            raise SourceUnavailable(f"cannot set the status of {rows} rows in"
                                    f" {self.uri}: {_first_line(exc)}") from None
        return new


def _tagged(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    for kind in (datetime, date, Decimal, int, float, str):
        if isinstance(value, kind):
            return {"type": kind.__name__,
                    "value": value.isoformat() if isinstance(value, date) else str(value)}
    return {"type": "str", "value": str(value)}


def _untagged(tagged: dict[str, Any] | None) -> Any:
    if tagged is None:
        return None
    kind, value = tagged["type"], tagged["value"]
    return {"datetime": datetime.fromisoformat, "date": date.fromisoformat, "Decimal": Decimal,
            "int": int, "float": float}.get(kind, str)(value)


def _text(value: Any, decimal: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | float):
        return str(value).replace(".", decimal)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _first_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__
