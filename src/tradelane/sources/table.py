"""A database table (or query) as a source: each poll's new rows become one file.

A poll that finds no file waiting runs the query and writes its rows, in the route's format
(CSV or JSON Lines), into the route's folder under the spool (``<spool>/tables/<route>/``),
atomically, with a sidecar holding what delivering the file moves on: the new watermark, or
the keys of the rows whose status changes. From there the file is listed, claimed, staged,
validated and delivered like any other, and keeps its history; a reject goes to quarantine and
can be reprocessed from there.

The watermark (a small JSON file beside the snapshots) or the rows' status is updated only in
``after_delivery``/``after_reject``, which the pipeline records as pending work in the
delivery's transaction: a crash before it leaves the step to be redone on restart, and it is
idempotent (the same watermark written again, the same rows set from ``ready`` to ``done``).
Until it is done, the snapshot stays in the folder and is listed again, as the file the ledger
already finished, so its rows are never delivered twice; and a snapshot lost with the disk
would be read again with the same content, which the ledger takes as a duplicate.

One worker per route: the watermark lives on this host.
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
from tradelane.database import connect, shown
from tradelane.errors import ConfigError, SourceUnavailable
from tradelane.models import Entry, FileRef
from tradelane.paths import FolderSyncs, atomic_writer
from tradelane.sources.base import PolledSource
from tradelane.sources.readiness import Listing
from tradelane.staging import Staged, stage_file

if TYPE_CHECKING:
    from tradelane.ledger import FileRecord
    from tradelane.spec import RouteSpec, Settings
    from tradelane.spec.database import TableRead

META = ".meta.json"  # the sidecar of a snapshot: what its delivery moves on
STATE = "watermark.json"


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

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()

    # -- listing: a waiting snapshot, else a new one from the database -----------------------

    def list_ready(self) -> Listing:
        entries = self.entries()
        return Listing(e.ref(self.route, self.uri) for e in entries)

    def entries(self) -> list[Entry]:
        waiting = self._snapshots()
        if not waiting:
            self._poll()
            waiting = self._snapshots()
        return [self._entry(path) for path in waiting]

    def _snapshots(self) -> list[Path]:
        return sorted(p for p in self.folder.glob(f"*.{self.extension}")
                      if (p.parent / (p.name + META)).exists())

    def _entry(self, path: Path) -> Entry:
        st = path.stat()
        return Entry(path.name, "file", st.st_size, st.st_mtime_ns)

    def _poll(self) -> None:
        """Run the query; write its rows (if any) as the next snapshot, then its sidecar."""
        watermark = self._watermark()
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(
                    *self._statement(watermark))
                columns = list(result.keys())
                tmp = self.folder / ".poll.tradelane.tmp"
                rows, last, keys = self._write(tmp, columns, result)
        except SQLAlchemyError as exc:
            raise SourceUnavailable(f"cannot read {self.uri}: {_first_line(exc)}") from None
        if not rows:
            tmp.unlink(missing_ok=True)
            return
        digest = _sha256(tmp)
        name = f"{self.route}-{digest[:12]}.{self.extension}"
        meta = {"rows": rows, "watermark": _tagged(last), "keys": keys}
        with atomic_writer(self.folder / (name + META)) as out:
            out.write(json.dumps(meta, default=str).encode())
        os.replace(tmp, self.folder / name)  # listed only once both are there

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
        if moved is None:  # done before a restart: the snapshot is gone
            return PostAction("the rows' watermark/status was already moved on")
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
        return PostAction(moved or "the rows' watermark/status was already moved on")

    def _advance(self, record: FileRecord, *, done: bool) -> str | None:
        """Move the watermark past the snapshot's rows, or set their status: idempotent."""
        meta_path = self.folder / (record.name + META)
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            return None
        spec = self.read
        if spec.status is not None:
            status = spec.status
            table = self._table()
            key = tuple_(*(table.c[k] for k in status.key)) if len(status.key) > 1 \
                else table.c[status.key[0]]
            wanted = [tuple(k) for k in meta["keys"]] if len(status.key) > 1 \
                else [k[0] for k in meta["keys"]]
            new = status.done if done else status.rejected
            try:
                with self.engine.begin() as conn:
                    for start in range(0, len(wanted), 1000):
                        conn.execute(update(table).where(
                            key.in_(bindparam("keys", expanding=True)),
                            table.c[status.column] == status.ready).values(
                                {status.column: new}), {"keys": wanted[start:start + 1000]})
            except SQLAlchemyError as exc:
                raise SourceUnavailable(f"cannot set the status of {meta['rows']} rows in"
                                        f" {self.uri}: {_first_line(exc)}") from None
            return f"{meta['rows']} rows set to status {new!r}"
        state = self.folder / STATE
        with atomic_writer(state) as out:
            out.write(json.dumps({"watermark": meta["watermark"]}).encode())
        return f"watermark {spec.watermark} moved to {meta['watermark']['value']}"

    def _watermark(self) -> Any:
        try:
            tagged = json.loads((self.folder / STATE).read_text())["watermark"]
        except FileNotFoundError:
            return self.read.start  # None: every row (a table); a query needs a start
        return _untagged(tagged)


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
