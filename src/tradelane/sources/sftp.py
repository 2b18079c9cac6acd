"""A partner's SFTP folder as a ``Source``: one connection per poll, reused for every file.

Readiness is the shared policy (``sources.readiness``) applied to the server's listing, whose
mtimes have whole seconds. Names are listed as bytes: a Latin-1 name is still seen, and
quarantined under a safe name. After delivery, ``after: archive`` keeps the snapshot in the
local archive and then deletes the remote file (``sources.base``), only while the remote file
still has the size and mtime it was listed with.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import queue
import stat
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from tradelane.errors import FileNotReady, SourceUnavailable
from tradelane.hashing_writer import NEVER, HashingWriter
from tradelane.models import Entry, EntryKind, FileRef, decode_name
from tradelane.paths import FolderSyncs, check_listed_name
from tradelane.sftp_client import (
    SftpSession,
    listdir_raw,
    read_pipelined,
    rename_over,
    sftp_errors,
)
from tradelane.sources.base import PolledSource
from tradelane.spec import SftpSource as SftpSourceSpec
from tradelane.staging import IN_MEMORY_BYTES, Staged, stage_chunks

if TYPE_CHECKING:
    import paramiko
    from paramiko.sftp_attr import SFTPAttributes

    from tradelane.spec import RouteSpec, Settings

log = logging.getLogger(__name__)

#: Outstanding read requests per download: ~8 MB in flight at 255 KiB each. With the
#: channel window this bounds the memory one transfer uses.
PREFETCH_REQUESTS = 32
#: Files larger than this are written to the spool by a helper thread.
BACKGROUND_WRITE_FROM = 4 << 20


class SftpSource(PolledSource):
    def __init__(self, route: RouteSpec, settings: Settings, *,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(route)
        spec = route.source
        assert isinstance(spec, SftpSourceSpec)
        connection = settings.connections[spec.sftp].sftp  # type: ignore[attr-defined]
        self.conn = connection
        self.session = SftpSession(spec.sftp, connection, settings.root)
        self.folder = spec.path
        self.uri = f"sftp://{spec.sftp}{posixpath.join('/', spec.path)}"
        self._clock = clock
        self.readiness.clock = clock

    def __enter__(self) -> SftpSource:
        with sftp_errors(self.session.name, "connecting", SourceUnavailable):
            self.session.client  # noqa: B018 - opens the connection for this poll
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    # -- listing ----------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        with sftp_errors(self.session.name, f"listing {self.folder}", SourceUnavailable):
            return [_entry(raw, attrs)
                    for raw, attrs in listdir_raw(self.session.client, self.folder)]

    def stat(self, ref: FileRef) -> Entry | None:
        remote = self._remote(ref)
        with sftp_errors(self.session.name, f"looking at {ref.name}", SourceUnavailable):
            try:
                attrs = self.session.client.lstat(remote)
            except FileNotFoundError:
                return None
        return _entry(ref.name_bytes, attrs)

    def remove(self, ref: FileRef) -> None:
        remote = self._remote(ref)
        with sftp_errors(self.session.name, f"deleting {ref.name}", SourceUnavailable):
            try:
                self.session.client.remove(remote)
            except FileNotFoundError:
                return

    def move_to(self, ref: FileRef, folder: str, syncs: FolderSyncs | None = None) -> str:
        remote = self._remote(ref)
        moved = posixpath.join(folder.encode(), ref.name_bytes)
        with sftp_errors(self.session.name, f"moving {ref.name} to {folder}",
                         SourceUnavailable):
            rename_over(self.session.client, remote, moved)  # type: ignore[arg-type]
        return posixpath.join(folder, ref.name)

    # -- transfer ---------------------------------------------------------------------------

    def fetch(self, ref: FileRef, dest: Path, *,
              client: paramiko.SFTPClient | None = None) -> Staged:
        remote = self._remote(ref)
        deadline = self._clock() + self.conn.transfer_deadline.total_seconds()
        client = client or self.session.client
        try:
            with sftp_errors(self.session.name, f"downloading {ref.name}", SourceUnavailable):
                self._check_is_listed(client, remote, ref)
                staged = self._download(client, remote, dest, deadline, ref.size)
                self._check_is_listed(client, remote, ref, staged)
                return staged
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    def _check_is_listed(self, client: paramiko.SFTPClient, remote: bytes, ref: FileRef,
                         staged: Staged | None = None) -> None:
        """The remote file is the regular file that was listed (size, mtime), before the
        download starts and once it is complete; else it is taken again on a later poll."""
        try:
            now = _entry(ref.name_bytes, client.lstat(remote))  # type: ignore[arg-type]
        except FileNotFoundError:
            raise FileNotReady(ref.name, "it disappeared before it could be read") from None
        if now.kind != "file":
            raise FileNotReady(ref.name, f"it is now a {now.kind}, not a regular file; it is"
                                         " never read")
        got = staged.size if staged is not None else now.size
        if (now.size, now.mtime_ns, got) != (ref.size, ref.mtime_ns, ref.size):
            raise FileNotReady(ref.name, f"it changed since it was listed ({ref.size} ->"
                                         f" {now.size} bytes)")

    def fetch_all(self, items: Sequence[tuple[FileRef, Path]], *,
                  deadline: float | None = None) -> list[Staged | Exception | None]:
        """``fetch`` for many files at once, over ``parallel`` SFTP channels of this connection.

        Small files are dominated by round trips (open, read, stat, close), so several
        channels in flight hide the latency. Per item, in order: the snapshot, the exception
        that item raised (one failure does not stop the others), or None where it was not
        started: after ``deadline`` (``time.monotonic()``), because the connection dropped
        (``fetch`` then reconnects for it), or because there are too few to share out.
        """
        workers = min(self.conn.parallel, len(items) // 4)
        if workers < 2:
            return [None] * len(items)  # too few to gain from more channels: one by one
        with sftp_errors(self.session.name, "connecting", SourceUnavailable):
            self.session.client  # noqa: B018 - the extra channels need the transport
        work: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(items)):
            work.put(index)
        results: list[Staged | Exception | None] = [None] * len(items)

        def worker() -> None:
            try:
                with sftp_errors(self.session.name, "opening an SFTP channel",
                                 SourceUnavailable):
                    client = self.session.open_channel()
            except SourceUnavailable:
                return  # its files stay None: fetched one by one, reconnecting
            try:
                while deadline is None or time.monotonic() <= deadline:
                    try:
                        index = work.get_nowait()
                    except queue.Empty:
                        return
                    ref, dest = items[index]
                    try:
                        results[index] = self.fetch(ref, dest, client=client)
                    except Exception as exc:  # the file's outcome, decided by the caller
                        results[index] = exc
                        if not self.session.alive:
                            return  # the rest would fail alike; fetch() reconnects
            finally:
                with contextlib.suppress(Exception):
                    client.close()

        with ThreadPoolExecutor(workers, thread_name_prefix="sftp-fetch") as pool:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()
        return results

    def _download(self, client: paramiko.SFTPClient, remote: bytes, dest: Path,
                  deadline: float, size: int) -> Staged:
        chunks = self._until_deadline(deadline, remote, size, read_pipelined(
            client, remote, size, request_size=self.session.read_size,  # type: ignore[arg-type]
            in_flight=PREFETCH_REQUESTS))
        try:
            if size <= IN_MEMORY_BYTES:
                return stage_chunks(chunks, dest)
            # a large file is written and hashed behind paramiko's packet work
            behind = 0 if size > BACKGROUND_WRITE_FROM else NEVER
            with open(dest, "wb") as out, HashingWriter(out, behind_from=behind, queued=16,
                                                        name="sftp-spool") as spool:
                for data in chunks:
                    spool.write(data)
            return Staged(size=spool.size, sha256=spool.hexdigest(), path=dest, in_spool=True)
        except EOFError:  # the server's "end of file" before the listed size: it shrank
            raise FileNotReady(os.fsdecode(posixpath.basename(remote)),
                               "it shrank while it was read") from None

    def _until_deadline(self, deadline: float, remote: bytes, size: int,
                        chunks: Generator[bytes, None, None]) -> Iterator[bytes]:
        """``chunks``, cut off with SourceUnavailable once ``transfer_deadline`` has passed."""
        written = 0
        for data in chunks:
            yield data
            written += len(data)
            if self._clock() > deadline:
                chunks.close()
                self.session.close()  # requests are still in flight: start afresh
                raise SourceUnavailable(
                    f"sftp {self.session.name}: downloading {os.fsdecode(remote)} did not finish"
                    f" within transfer_deadline ({self.conn.transfer_deadline});"
                    f" {written} of {size} bytes arrived"
                )

    def _remote(self, ref: FileRef) -> bytes:
        """The remote path of a listed name; a name that could leave the folder is refused
        (a hostile server can list anything)."""
        check_listed_name(ref.name)
        return posixpath.join(self.folder.encode(), ref.name_bytes)


def _entry(raw: bytes, attrs: SFTPAttributes) -> Entry:
    name, undecodable = decode_name(raw)
    mode = attrs.st_mode or 0
    if stat.S_ISREG(mode):
        kind: EntryKind = "file"
    elif stat.S_ISDIR(mode):
        kind = "directory"
    elif stat.S_ISLNK(mode):
        kind = "symlink"
    elif stat.S_ISFIFO(mode):
        kind = "fifo"
    elif attrs.st_mode is None:
        kind = "file"  # servers that send no mode only list files
    else:
        kind = "other"
    return Entry(name, kind, attrs.st_size or 0, (attrs.st_mtime or 0) * 1_000_000_000,
                 None, undecodable)
