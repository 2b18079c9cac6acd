"""``PolledSource``: the policy every kind of source shares, written once.

A kind of source implements the primitives of ``abc.Source`` (``entries``, ``fetch``,
``stat``, ``remove``, ``move_to``); this base class turns them into what the pipeline asks
for: the files ready now (``sources.readiness``), and the route's ``after:`` for a delivered
or a quarantined file, done only while the original is still exactly the file that was
processed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tradelane.abc import PostAction
from tradelane.errors import TransientError
from tradelane.models import Entry, FileRef
from tradelane.paths import FolderSyncs, sha256_of
from tradelane.sources.readiness import Listing, Readiness
from tradelane.staging import Staged

if TYPE_CHECKING:
    from tradelane.ledger import FileRecord
    from tradelane.spec import RouteSpec


class PolledSource:
    """Base of every source: readiness and post-actions on top of the kind's primitives."""

    uri: str

    def __init__(self, route: RouteSpec):
        self.route = route.name
        self.spec = route.source
        self.readiness = Readiness(route.source)

    def __enter__(self) -> PolledSource:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    # -- primitives (each kind) ----------------------------------------------------------------

    def entries(self) -> list[Entry]:
        raise NotImplementedError

    def fetch(self, ref: FileRef, dest: Path) -> Staged:
        raise NotImplementedError

    def fetch_all(self, items: Sequence[tuple[FileRef, Path]], *,
                  deadline: float | None = None) -> list[Staged | Exception | None]:
        """Snapshots of many files taken together, for kinds where that is faster than one by
        one (SFTP: several channels hide the round trips). Per item, in order: its snapshot,
        the exception ``fetch`` raised for it, or None where it was not taken (after
        ``deadline``, a ``time.monotonic()`` value): the caller fetches those itself. This
        default takes none."""
        return [None] * len(items)

    def stat(self, ref: FileRef) -> Entry | None:
        raise NotImplementedError

    def remove(self, ref: FileRef) -> None:
        raise NotImplementedError

    def move_to(self, ref: FileRef, folder: str, syncs: FolderSyncs | None = None) -> str:
        raise NotImplementedError

    # -- policy ----------------------------------------------------------------------------------

    def list_ready(self) -> Listing:
        return self.readiness.select(self.entries(), self.route, self.uri)

    def after_delivery(self, record: FileRecord, staged: Staged | None, archive_to: Path,
                       syncs: FolderSyncs | None = None) -> PostAction:
        action = self.spec.after
        if action == "leave":
            return PostAction("left in place")
        ref = record.ref
        current = self.stat(ref)
        if current is None:  # a crash after the original went, before the ledger heard of it
            if action == "archive" and _holds(archive_to, record.sha256):
                return PostAction(f"archived to {archive_to} (found there after a restart)",
                                  archive_to)
            return PostAction("the original was already gone"
                              + (" (not archived: nothing was kept)" if action == "archive"
                                 else ""))
        if not _same(current, record):
            kept = None
            if action == "archive" and staged is not None and staged.sha256 == record.sha256:
                staged.keep(archive_to)  # archive what was delivered, never the new bytes
                kept = archive_to
            return PostAction(_changed(current, "delivered"), kept)
        if action == "archive":
            return self._archive(record, staged, archive_to, syncs)
        if action == "move":
            assert self.spec.move_to
            done = f"moved to {self.move_to(ref, self.spec.move_to, syncs)}"
        else:
            self.remove(ref)
            done = "deleted"
        self._remove_marker(ref)
        return PostAction(done)

    def after_reject(self, record: FileRecord) -> PostAction:
        action = self.spec.after
        if action == "leave":
            return PostAction("left in place")
        ref = record.ref
        current = self.stat(ref)
        if current is None:
            return PostAction("the original was already gone")
        if not _same(current, record):
            return PostAction(_changed(current, "quarantined"))
        if action == "move":
            assert self.spec.move_to
            done = f"moved to {self.move_to(ref, self.spec.move_to)}"
        else:
            self.remove(ref)
            done = "removed from the source (the quarantined copy is the file now)"
        self._remove_marker(ref)
        return PostAction(done)

    def _archive(self, record: FileRecord, staged: Staged | None, archive_to: Path,
                 syncs: FolderSyncs | None) -> PostAction:
        """Keep the delivered bytes at ``archive_to``, durably, then remove the original. A
        local source renames the original instead (``LocalSource``)."""
        if not _holds(archive_to, record.sha256):
            snapshot = staged
            if snapshot is None:  # a file delivered before a crash: fetch it again
                spool = archive_to.with_name(f".{archive_to.name}.fetch.tradelane.tmp")
                spool.parent.mkdir(parents=True, exist_ok=True)
                snapshot = self.fetch(record.ref, spool)
            if snapshot.sha256 != record.sha256:
                snapshot.discard()
                return PostAction("left in place: its content is not what was delivered;"
                                  " it is taken as a new file")
            snapshot.keep(archive_to)  # durable now, not with the chunk: the original goes next
        self.remove(record.ref)
        self._remove_marker(record.ref)
        return PostAction(f"archived to {archive_to}", archive_to)

    def _remove_marker(self, ref: FileRef) -> None:
        if not self.spec.done_marker:
            return
        marker = FileRef(ref.route, ref.source, self.readiness.marker(ref.name), 0, 0)
        with contextlib.suppress(TransientError, OSError):
            self.remove(marker)


def _same(now: Entry, record: FileRecord) -> bool:
    """The original is still the file that was processed: a regular file with the size, mtime
    and (where the source has one) change token it had then."""
    if now.kind != "file" or (now.size, now.mtime_ns) != (record.size, record.mtime_ns):
        return False
    return record.token is None or now.token is None or now.token == record.token


def _changed(now: Entry, what: str) -> str:
    when = datetime.fromtimestamp(now.mtime_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
    kind = "" if now.kind == "file" else f"a {now.kind}, "
    return (f"left in place: it changed after it was {what} (now {kind}{now.size} bytes,"
            f" modified {when} UTC); its new content is taken as a new file")


def _holds(path: Path, sha256: str | None) -> bool:
    try:
        return sha256 is not None and path.is_file() and sha256_of(path) == sha256
    except OSError:
        return False

