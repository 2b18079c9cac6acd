"""A local (or mounted) folder as a source.

Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked with ``fstat`` before and after
reading: a name swapped for a symlink is never followed, a FIFO never blocks the run, and a
file that changed since it was listed is read again on the next poll. Names are listed as
bytes, so a name that is not UTF-8 is still seen (and quarantined under a safe name).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tradelane.abc import PostAction
from tradelane.errors import FileNotReady, SourceUnavailable
from tradelane.models import Entry, EntryKind, FileRef, decode_name
from tradelane.paths import FolderSyncs, move_durably, split_name
from tradelane.sources.base import PolledSource
from tradelane.spec import FolderSource, RouteSpec, Settings
from tradelane.staging import CHUNK, Staged, stage_chunks

if TYPE_CHECKING:
    from tradelane.ledger import FileRecord

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LocalSource(PolledSource):
    def __init__(self, route: RouteSpec, settings: Settings, *, folder: str | None = None):
        super().__init__(route)
        if folder is None:
            assert isinstance(route.source, FolderSource)
            folder = route.source.folder
        self.folder = settings.path(folder).resolve()
        self.uri = self.folder.as_uri()
        self._root = settings.root

    def entries(self) -> list[Entry]:
        try:
            with os.scandir(os.fsencode(self.folder)) as listing:
                raw = list(listing)
        except FileNotFoundError:
            raise SourceUnavailable(f"folder {self.folder} does not exist") from None
        except OSError as exc:
            raise SourceUnavailable(f"cannot list {self.folder}: {exc.strerror}") from exc
        found = []
        for item in raw:
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue  # vanished between listing and stat: the next poll sees the truth
            found.append(_entry(item.name, st))
        return found

    def fetch(self, ref: FileRef, dest: Path) -> Staged:
        path = self._path(ref)
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            raise _not_ready(ref, exc) from exc
        try:
            before = os.fstat(fd)
            _check_is_listed(ref, before)
            try:
                staged = stage_chunks(_chunks(fd, before.st_size), dest)
            except OSError as exc:
                raise SourceUnavailable(f"cannot read {ref.name}: {exc.strerror or exc}") \
                    from exc
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) \
                or staged.size != before.st_size:
            staged.discard()
            raise FileNotReady(ref.name, f"it changed while it was read ({before.st_size} ->"
                                         f" {after.st_size} bytes)")
        return staged

    def stat(self, ref: FileRef) -> Entry | None:
        try:
            return _entry(ref.name_bytes, os.lstat(self._path(ref)))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SourceUnavailable(f"cannot look at {ref.name}: {exc.strerror}") from exc

    def remove(self, ref: FileRef) -> None:
        try:
            os.unlink(self._path(ref))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise SourceUnavailable(f"cannot delete {ref.name} in {self.folder}:"
                                    f" {exc.strerror or exc}") from exc

    def move_to(self, ref: FileRef, folder: str, syncs: FolderSyncs | None = None) -> str:
        dest = _free_name(self._resolve(folder), ref)
        try:
            move_durably(Path(os.fsdecode(self._path(ref))), dest, syncs)
        except OSError as exc:
            raise SourceUnavailable(f"cannot move {ref.name} to {folder}:"
                                    f" {exc.strerror or exc}") from exc
        return str(dest)

    def _archive(self, record: FileRecord, staged: Staged | None, archive_to: Path,
                 syncs: FolderSyncs | None) -> PostAction:
        """On this host the original itself becomes the archive copy: one rename."""
        ref = record.ref
        move_durably(Path(os.fsdecode(self._path(ref))), archive_to, syncs)
        self._remove_marker(ref)
        return PostAction(f"archived to {archive_to}", archive_to)

    def _path(self, ref: FileRef) -> bytes:
        return os.path.join(os.fsencode(self.folder), ref.name_bytes)

    def _resolve(self, folder: str) -> Path:
        path = Path(folder)
        return path if path.is_absolute() else self.folder.parent / path


def _chunks(fd: int, size: int) -> Iterator[bytes]:
    """The bytes of the open file ``fd`` of ``size`` bytes (as fstat said), to its end: a
    small file in one read of its size and a one-byte read that finds the end. Reading
    through a buffered file object instead cost a small file five more system calls and
    three 1 MiB buffers (each an mmap, a page fault and a munmap)."""
    total = 0
    want = min(size + 1, CHUNK)
    while chunk := os.read(fd, want):
        total += len(chunk)
        yield chunk
        # at the size fstat gave, one byte more tells whether the file goes on (it grew:
        # the sizes compared after reading then send it back to wait)
        want = 1 if total == size else CHUNK


def _entry(raw: bytes, st: os.stat_result) -> Entry:
    name, undecodable = decode_name(raw)
    return Entry(name, _kind(st.st_mode), st.st_size, st.st_mtime_ns,
                 f"{st.st_ino}:{st.st_ctime_ns}", undecodable)


def _kind(mode: int) -> EntryKind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "other"


def _check_is_listed(ref: FileRef, st: os.stat_result) -> None:
    kind = _kind(st.st_mode)
    if kind != "file":
        raise FileNotReady(ref.name, f"it is now a {kind}, not a regular file; it is never read")
    token = f"{st.st_ino}:{st.st_ctime_ns}"
    if (st.st_size, st.st_mtime_ns) != (ref.size, ref.mtime_ns) \
            or (ref.token is not None and token != ref.token):
        raise FileNotReady(ref.name, f"it changed since it was listed ({ref.size} ->"
                                     f" {st.st_size} bytes)")


def _not_ready(ref: FileRef, exc: OSError) -> Exception:
    if exc.errno == errno.ELOOP:
        return FileNotReady(ref.name, "it is now a symbolic link; links are never followed")
    if exc.errno == errno.ENOENT:
        return FileNotReady(ref.name, "it disappeared before it could be read")
    return SourceUnavailable(f"cannot read {ref.name}: {exc.strerror or exc}")


def _free_name(folder: Path, ref: FileRef) -> Path:
    """``folder/name``, or beside it with the file's mtime in the name if that is taken."""
    path = folder / os.fsdecode(ref.name_bytes)
    if not os.path.lexists(path):
        return path
    stem, ext = split_name(path.name)
    return path.with_name(f"{stem}.{ref.mtime_ns}{'.' + ext if ext else ''}")
