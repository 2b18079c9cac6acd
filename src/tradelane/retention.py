"""Retention: forget old runs and history, delete old archived and quarantined files
(``retention:`` in tradelane.yaml and per route; ``tradelane prune``; daily by serve's leader).

Deletes go in batches of ``BATCH`` rows, one short transaction each: a long transaction on
the ledger would hold back PostgreSQL's vacuum and make the claim queries crawl. A file on
disk is removed only after the transaction that forgets it committed: a crash in between
leaves a file nothing points to (harmless), never a row pointing to nothing. Only files
inside the project's archive or quarantine folder are ever deleted.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from tradelane.ledger import Ledger, utcnow
from tradelane.ledger.store import FINISHED, Move
from tradelane.ledger.tables import events, files, runs
from tradelane.models import FileState
from tradelane.paths import is_inside
from tradelane.quarantine import reason_path
from tradelane.spec import Project
from tradelane.spec.route import RetentionSpec

log = logging.getLogger("tradelane.retention")

#: Rows per transaction.
BATCH = 1000
_KINDS = ("runs", "events", "archive", "quarantine")


@dataclass
class Pruned:
    """What one route lost (or would lose, on a dry run), and the ages applied."""

    route: str
    runs: int = 0
    events: int = 0
    archive: int = 0  # archived originals deleted
    quarantine: int = 0  # quarantined files deleted (their files discarded)
    ages: dict[str, str | None] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.runs + self.events + self.archive + self.quarantine


@dataclass
class PruneReport:
    dry_run: bool
    routes: list[Pruned]

    @property
    def total(self) -> int:
        return sum(r.total for r in self.routes)

    def summary(self) -> str:
        verb = "would forget" if self.dry_run else "forgot"
        sums = {k: sum(getattr(r, k) for r in self.routes) for k in _KINDS}
        return (f"{verb} {sums['runs']} runs and {sums['events']} history events; "
                f"{'would delete' if self.dry_run else 'deleted'} {sums['archive']} archived"
                f" and {sums['quarantine']} quarantined files")

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "routes": [asdict(r) for r in self.routes]}


def effective(project: Project, route: str) -> RetentionSpec:
    """The route's retention: its own keys, the global ones where it sets none."""
    merged = project.settings.retention.model_dump()
    spec = project.routes[route].retention if route in project.routes else None
    if spec is not None:
        merged.update({k: v for k, v in spec.model_dump().items() if v is not None})
    return RetentionSpec(**merged)


def prune(project: Project, ledger: Ledger, *, dry_run: bool = False,
          now: datetime | None = None, batch: int = BATCH) -> PruneReport:
    now = now or utcnow()
    settings = project.settings
    archive_root = settings.path(settings.folders.archive)
    quarantine_root = settings.path(settings.folders.quarantine)
    out = []
    for name in sorted(project.routes):
        keep = effective(project, name)
        done = Pruned(name, ages={k: _age(getattr(keep, k)) for k in _KINDS})
        if keep.runs is not None:
            done.runs = _rows(ledger, runs, select(runs.c.id).where(
                runs.c.route == name, runs.c.started_at < now - keep.runs), dry_run, batch)
        if keep.events is not None:
            finished = select(files.c.id).where(files.c.route == name, files.c.state.in_(
                [s.value for s in FINISHED]))
            done.events = _rows(ledger, events, select(events.c.id).where(
                events.c.file_id.in_(finished), events.c.at < now - keep.events),
                dry_run, batch)
        if keep.archive is not None:
            done.archive = _files(ledger, name, (FileState.ARCHIVED,), now - keep.archive,
                                  archive_root, None, dry_run, batch)
        if keep.quarantine is not None:
            done.quarantine = _files(ledger, name, (FileState.QUARANTINED, FileState.DUPLICATE),
                                     now - keep.quarantine, quarantine_root,
                                     FileState.DISCARDED, dry_run, batch)
        out.append(done)
    report = PruneReport(dry_run, out)
    if report.total and not dry_run:
        log.info("retention: %s", report.summary())
    return report


def _rows(ledger: Ledger, table: Any, ids: Any, dry_run: bool, batch: int) -> int:
    """Delete the rows ``ids`` selects, ``batch`` per transaction; their number."""
    if dry_run:
        with ledger.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ids.subquery())
                                    ).scalar_one())
    total = 0
    while True:
        with ledger.begin() as conn:
            chunk = conn.execute(ids.limit(batch)).scalars().all()
            if chunk:
                conn.execute(delete(table).where(table.c.id.in_(chunk)))
        total += len(chunk)
        if len(chunk) < batch:
            return total


def _files(ledger: Ledger, route: str, states: tuple[FileState, ...], before: datetime,
           root: Path, to: FileState | None, dry_run: bool, batch: int) -> int:
    """Files of ``route`` in ``states`` since before ``before`` whose copy lies in ``root``:
    their row forgets the copy (and moves to ``to``), then the copy is deleted."""
    query = (select(files.c.id, files.c.state, files.c.path)
             .where(files.c.route == route, files.c.state.in_([s.value for s in states]),
                    files.c.path.is_not(None), files.c.updated_at < before)
             .order_by(files.c.id))
    total, after = 0, 0
    while True:
        with ledger.engine.connect() as conn:
            rows = conn.execute(query.where(files.c.id > after).limit(batch)).all()
        if not rows:
            return total
        after = rows[-1].id
        # a path outside the folder (a kept original, a moved project) is never deleted
        mine = [r for r in rows if is_inside(Path(r.path), root)]
        total += len(mine)
        if dry_run or not mine:
            continue
        what = "quarantined copy" if to is not None else "archived original"
        results = ledger.apply([Move(
            r.id, (FileState(r.state),), to or FileState(r.state),
            f"retention: {what} deleted ({r.path})", fields={"path": None}) for r in mine])
        for row, result in zip(mine, results, strict=True):
            if isinstance(result, Exception):  # moved meanwhile (reprocessed): keep it
                total -= 1
                continue
            path = Path(row.path)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            if to is not None:
                with contextlib.suppress(FileNotFoundError):
                    reason_path(path).unlink()


def _age(value: timedelta | None) -> str | None:
    if value is None:
        return None
    days = value / timedelta(days=1)
    return f"{days:g}d" if days >= 1 else f"{value.total_seconds():g}s"
