"""A partner's FTP or FTPS folder as a ``Source``: one control connection per poll.

Readiness is the shared policy (``sources.readiness``) applied to the server's listing: MLSD
where the server has it, else LIST with MDTM for each file's mtime (to the second, the
server's UTC clock). Before a download the file is looked at again (it must still be the
regular file that was listed: a symlink or FIFO put in its place is never read), and after
it the size and mtime are checked once more. A broken transfer is never resumed.
"""

from __future__ import annotations

import hashlib
import posixpath
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tradelane.errors import FileNotReady, RejectError, SourceUnavailable, TransientError
from tradelane.ftp_client import BLOCK, FtpSession, ftp_errors
from tradelane.models import Entry, FileRef
from tradelane.paths import FolderSyncs, check_listed_name
from tradelane.sources.base import PolledSource
from tradelane.spec.sources import FtpSource as FtpSourceSpec
from tradelane.staging import Staged, stage_chunks

if TYPE_CHECKING:
    from tradelane.spec import RouteSpec, Settings

Chunk = TypeVar("Chunk", bytes, memoryview)

#: Files larger than this go into reused buffers, and a helper thread writes them to the spool.
BACKGROUND_FROM = 4 << 20


class FtpSource(PolledSource):
    def __init__(self, route: RouteSpec, settings: Settings, *,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(route)
        spec = route.source
        assert isinstance(spec, FtpSourceSpec)
        connection = settings.connections[spec.ftp].ftp  # type: ignore[attr-defined]
        self.conn = connection
        self.session = FtpSession(spec.ftp, connection, settings.root)
        self.folder = spec.path.encode()
        self.uri = f"ftp://{spec.ftp}{posixpath.join('/', spec.path)}"
        self._clock = clock
        self.readiness.clock = clock

    def __enter__(self) -> FtpSource:
        with ftp_errors(self.session.name, "connecting", SourceUnavailable):
            self.session.ftp  # noqa: B018 - opens the connection for this poll
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    # -- listing ----------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        with ftp_errors(self.session.name, f"listing {self.folder.decode(errors='replace')}",
                        SourceUnavailable):
            return self.session.list_folder(self.folder)

    def stat(self, ref: FileRef) -> Entry | None:
        name = self._name(ref)
        with ftp_errors(self.session.name, f"looking at {ref.name}", SourceUnavailable):
            return self.session.stat(self.folder, name)

    def remove(self, ref: FileRef) -> None:
        path = self._remote(ref)
        with ftp_errors(self.session.name, f"deleting {ref.name}", SourceUnavailable):
            self.session.delete(path)

    def move_to(self, ref: FileRef, folder: str, syncs: FolderSyncs | None = None) -> str:
        path = self._remote(ref)
        moved = posixpath.join(folder.encode(), ref.name_bytes)
        with ftp_errors(self.session.name, f"moving {ref.name} to {folder}",
                        SourceUnavailable):
            self.session.delete(moved)  # RNTO over an existing file is refused by some servers
            self.session.rename(path, moved)
        return posixpath.join(folder, ref.name)

    # -- transfer ---------------------------------------------------------------------------

    def fetch(self, ref: FileRef, dest: Path) -> Staged:
        with ftp_errors(self.session.name, f"downloading {ref.name}", SourceUnavailable):
            now = self.session.stat(self.folder, self._name(ref))
        return self._fetch(ref, dest, now)

    def fetch_all(self, items: Sequence[tuple[FileRef, Path]], *,
                  deadline: float | None = None) -> list[Staged | Exception | None]:
        """``fetch`` for many files, with one listing of the folder as every file's look
        before its download (a LIST per file costs a data connection, a TLS handshake on
        FTPS). Per item: its snapshot, the error it met, or None once ``deadline`` (a
        ``time.monotonic()`` value) has passed."""
        with ftp_errors(self.session.name, "listing before downloading",
                        SourceUnavailable):
            listed = {_raw(e): e for e in self.session.list_folder(self.folder)}
        results: list[Staged | Exception | None] = []
        for ref, dest in items:
            if deadline is not None and time.monotonic() > deadline and results:
                results.append(None)
                continue
            try:
                results.append(self._fetch(ref, dest, listed.get(ref.name_bytes)))
            except (TransientError, RejectError) as exc:
                results.append(exc)
        return results

    def _fetch(self, ref: FileRef, dest: Path, now: Entry | None) -> Staged:
        """Download a file whose current entry is ``now``, checked before and after."""
        path = self._remote(ref)
        try:
            with ftp_errors(self.session.name, f"downloading {ref.name}", SourceUnavailable):
                self._check_is_listed(ref, now)
                deadline = self._clock() + self.conn.transfer_deadline.total_seconds()
                if ref.size > BACKGROUND_FROM:
                    pool = _Buffers()
                    staged = _stage_behind(self._until_deadline(
                        deadline, ref, self.session.download_into(path, pool.take)), dest,
                        pool.give)
                else:
                    staged = stage_chunks(self._until_deadline(
                        deadline, ref, self.session.download(path, ref.size)), dest)
                after = self.session.size(path), self.session.mdtm(path)
                if staged.size != ref.size or after != (ref.size, ref.mtime_ns):
                    staged.discard()
                    raise FileNotReady(ref.name, f"it changed since it was listed ({ref.size}"
                                                 f" -> {after[0]} bytes)")
                return staged
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    def _check_is_listed(self, ref: FileRef, now: Entry | None) -> None:
        if now is None:
            raise FileNotReady(ref.name, "it disappeared before it could be read")
        if now.kind != "file":
            raise FileNotReady(ref.name, f"it is now a {now.kind}, not a regular file; it is"
                                         " never read")
        if (now.size, now.mtime_ns) != (ref.size, ref.mtime_ns):
            raise FileNotReady(ref.name, f"it changed since it was listed ({ref.size} ->"
                                         f" {now.size} bytes)")

    def _until_deadline(self, deadline: float, ref: FileRef,
                        chunks: Iterator[Chunk]) -> Generator[Chunk, None, None]:
        received = 0
        for data in chunks:
            received += len(data)
            if self._clock() > deadline:
                chunks.close()  # type: ignore[attr-defined]
                raise SourceUnavailable(
                    f"ftp {self.session.name}: downloading {ref.name} did not finish within"
                    f" transfer_deadline ({self.conn.transfer_deadline}); {received} of"
                    f" {ref.size} bytes arrived")
            yield data

    def _name(self, ref: FileRef) -> bytes:
        """A listed name; one that could leave the folder is refused (a hostile server can
        list anything)."""
        check_listed_name(ref.name)
        return ref.name_bytes

    def _remote(self, ref: FileRef) -> bytes:
        return posixpath.join(self.folder, self._name(ref))


def _raw(entry: Entry) -> bytes:
    return entry.raw_name if entry.raw_name is not None else entry.name.encode("utf-8")


class _Buffers:
    """The blocks a large download is received into, reused: no block is allocated, set to
    zero or copied per MB, and at most ``count`` are in flight (the memory bound)."""

    def __init__(self, count: int = 8, size: int = BLOCK):
        self.free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(count):
            self.free.put(bytearray(size))

    def take(self) -> memoryview:
        return memoryview(self.free.get())

    def give(self, block: memoryview) -> None:
        self.free.put(block.obj)  # type: ignore[arg-type]


def _stage_behind(blocks: Generator[memoryview, None, None], dest: Path,
                  release: Callable[[memoryview], None]) -> Staged:
    """``stage_chunks`` into the spool for a large file, on two threads: this one receives
    and hashes each block while it is still in this core's cache (the sha256 is the heaviest
    part), a helper writes it to the spool and hands the buffer back with ``release``. A slow
    write (the disk's journal, other writers) then stalls neither receiving nor hashing, and
    both the hash and the write release the GIL."""
    writing: queue.Queue[memoryview | None] = queue.Queue()
    digest = hashlib.sha256()
    failed: list[BaseException] = []
    size = 0

    def write_blocks() -> None:
        while (block := writing.get()) is not None:
            try:
                if not failed:
                    out.write(block)
            except BaseException as exc:  # handed to the receiving thread
                failed.append(exc)
            finally:
                release(block)

    with open(dest, "wb") as out:
        writer = threading.Thread(target=write_blocks, name="ftp-spool", daemon=True)
        writer.start()
        try:
            for block in blocks:
                if failed:
                    raise failed[0]
                digest.update(block)
                size += len(block)
                writing.put(block)
        finally:
            blocks.close()  # an early exit ends the transfer now, not when collected
            writing.put(None)
            writer.join()
    if failed:
        raise failed[0]
    return Staged(size=size, sha256=digest.hexdigest(), path=dest, in_spool=True)
