"""A partner's SFTP folder as a ``Source``: one connection per poll, reused for every file.

Readiness, on top of ``pattern``/``ignore`` and the temp names that are never listed:

- by default a file is ready once its mtime is at least ``min_age`` old (server clock);
- ``stable: true`` also requires size and mtime unchanged across two listings at least
  ``min_age`` apart; the previous listing is kept in this object from poll to poll, so the
  caller must reuse the source object (use it when the server's clock cannot be trusted);
- ``done_marker`` takes a file as soon as its marker exists (plus the stability rule when
  ``stable`` is on). A zero-byte file is held until ``min_age`` in every case, then listed
  (the pipeline quarantines it as empty).

For ``after: archive`` the pipeline keeps the staged copy in the local archive and then asks
for ``delete``; ``finish(ref, "archive")`` itself leaves the remote file alone.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import logging
import posixpath
import queue
import stat
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tradelane.errors import SourceUnavailable, TransientError
from tradelane.models import FileRef
from tradelane.paths import FolderSyncs, check_partner_name, is_temp_name
from tradelane.sftp_client import (
    SftpSession,
    listdir_raw,
    read_pipelined,
    rename_over,
    sftp_errors,
)
from tradelane.staging import IN_MEMORY_BYTES, Staged, stage_chunks

if TYPE_CHECKING:
    import paramiko

    from tradelane.spec import RouteSpec, Settings

log = logging.getLogger(__name__)

#: Outstanding read requests per download: ~8 MB in flight at 255 KiB each. With the
#: channel window this bounds the memory one transfer uses.
PREFETCH_REQUESTS = 32
#: Files larger than this are written to the spool by a helper thread.
BACKGROUND_WRITE_FROM = 4 << 20


@dataclass(frozen=True, slots=True)
class _Sighting:
    size: int
    mtime: int
    since: float  # monotonic time of the first listing that showed this size and mtime


class SftpSource:
    def __init__(self, route: RouteSpec, settings: Settings, *,
                 clock: Callable[[], float] = time.monotonic):
        spec = route.source
        assert spec.sftp and spec.path
        connection = settings.connections[spec.sftp].sftp
        assert connection is not None
        self.route = route.name
        self.spec = spec
        self.conn = connection
        self.session = SftpSession(spec.sftp, connection, settings.root)
        self.folder = spec.path
        self.uri = f"sftp://{spec.sftp}{posixpath.join('/', spec.path)}"
        self._clock = clock
        self._seen: dict[str, _Sighting] = {}

    def __enter__(self) -> SftpSource:
        with sftp_errors(self.session.name, "connecting", SourceUnavailable):
            self.session.client  # noqa: B018 - opens the connection for this poll
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    # -- listing ----------------------------------------------------------------------------

    def list_ready(self) -> list[FileRef]:
        with sftp_errors(self.session.name, f"listing {self.folder}", SourceUnavailable):
            entries = self._list_files()
        names = set(entries)
        markers = {self._marker(n) for n in names} if self.spec.done_marker else set()
        now, wall = self._clock(), time.time()
        min_age = self.spec.min_age.total_seconds()
        ready = []
        for name, attrs in entries.items():
            if name in markers or not self._wanted(name):
                continue
            size, mtime = attrs.st_size or 0, attrs.st_mtime or 0
            old_enough = wall - mtime >= min_age
            if self.spec.done_marker:
                ok = self._marker(name) in names and (size > 0 or old_enough)
            else:
                ok = old_enough
            if self.spec.stable:
                ok = ok and self._unchanged(name, size, mtime, now, min_age)
            if ok:
                ready.append(FileRef(self.route, self.uri, name, size, mtime * 1_000_000_000))
        for gone in self._seen.keys() - names:
            del self._seen[gone]
        if self.spec.order == "name":
            return sorted(ready, key=lambda r: r.name)
        return sorted(ready, key=lambda r: (r.mtime_ns, r.name))

    def _list_files(self) -> dict[str, paramiko.SFTPAttributes]:
        files = {}
        for raw, attrs in listdir_raw(self.session.client, self.folder):
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                log.warning("sftp %s: skipping %r in %s: the name is not UTF-8",
                            self.session.name, raw, self.folder)
                continue
            if attrs.st_mode is not None and stat.S_ISREG(attrs.st_mode):
                files[name] = attrs
        return files

    def _wanted(self, name: str) -> bool:
        if is_temp_name(name):
            return False
        if any(fnmatch.fnmatchcase(name, p) for p in self.spec.ignore):
            return False
        return fnmatch.fnmatchcase(name, self.spec.pattern)

    def _unchanged(self, name: str, size: int, mtime: int, now: float, min_age: float) -> bool:
        seen = self._seen.get(name)
        if seen is None or (seen.size, seen.mtime) != (size, mtime):
            self._seen[name] = _Sighting(size, mtime, now)
            return False
        return now - seen.since >= min_age

    def _marker(self, name: str) -> str:
        assert self.spec.done_marker
        return self.spec.done_marker.format(name=name, stem=posixpath.splitext(name)[0])

    # -- transfer ---------------------------------------------------------------------------

    def fetch(self, ref: FileRef, dest: Path, *,
              client: paramiko.SFTPClient | None = None) -> Staged:
        remote = self._remote(ref.name)
        deadline = self._clock() + self.conn.transfer_deadline.total_seconds()
        try:
            with sftp_errors(self.session.name, f"downloading {remote}", SourceUnavailable):
                # The listed size drives the read requests; the stat afterwards catches a
                # file that changed since it was listed.
                return self._download(client or self.session.client, remote, dest, deadline,
                                      ref.size)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    def fetch_all(self, items: Sequence[tuple[FileRef, Path]]) -> list[Staged | TransientError]:
        """``fetch`` for many files at once, over ``parallel`` SFTP channels of this connection.

        Small files are dominated by round trips (open, read, stat, close), so several
        channels in flight hide the latency. Returns, per item in order, the snapshot or the
        ``SourceUnavailable`` that item raised: one failure does not stop the others.
        """
        with sftp_errors(self.session.name, "connecting", SourceUnavailable):
            self.session.client  # noqa: B018 - the extra channels need the transport
        work: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(items)):
            work.put(index)
        results: list[Staged | TransientError] = [
            SourceUnavailable("not fetched")] * len(items)

        def worker() -> None:
            with sftp_errors(self.session.name, "opening an SFTP channel", SourceUnavailable):
                client = self.session.open_channel()
            try:
                while True:
                    try:
                        index = work.get_nowait()
                    except queue.Empty:
                        return
                    ref, dest = items[index]
                    try:
                        results[index] = self.fetch(ref, dest, client=client)
                    except TransientError as exc:
                        results[index] = exc
            finally:
                client.close()

        workers = min(self.conn.parallel, max(1, len(items) // 4))
        with ThreadPoolExecutor(workers, thread_name_prefix="sftp-fetch") as pool:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()
        return results

    def _download(self, client: paramiko.SFTPClient, remote: str, dest: Path,
                  deadline: float, size: int) -> Staged:
        chunks = self._until_deadline(deadline, remote, size, read_pipelined(
            client, remote, size, request_size=self.session.read_size,
            in_flight=PREFETCH_REQUESTS))
        try:
            if size <= IN_MEMORY_BYTES:
                staged = stage_chunks(chunks, dest)
            else:
                with _Spool(dest, threaded=size > BACKGROUND_WRITE_FROM) as spool:
                    for data in chunks:
                        spool.write(data)
                staged = Staged(size=spool.size, sha256=spool.hexdigest, path=dest,
                                in_spool=True)
            changed = client.stat(remote).st_size != size
        except EOFError:  # the server's "end of file" before the listed size: it shrank
            changed = True
        if changed:
            raise SourceUnavailable(
                f"sftp {self.session.name}: {remote} changed since it was listed; it will be"
                " fetched again"
            )
        return staged

    def _until_deadline(self, deadline: float, remote: str, size: int,
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
                    f"sftp {self.session.name}: downloading {remote} did not finish"
                    f" within transfer_deadline ({self.conn.transfer_deadline});"
                    f" {written} of {size} bytes arrived"
                )

    def finish(self, ref: FileRef, action: str, archive_to: str | None = None,
               syncs: FolderSyncs | None = None) -> None:
        if action in ("leave", "archive"):
            return
        remote = self._remote(ref.name)
        client = self.session.client
        if action == "delete":
            with sftp_errors(self.session.name, f"deleting {remote}", SourceUnavailable):
                client.remove(remote)
        elif action == "move":
            folder = archive_to or self.spec.move_to
            if not folder:
                raise ValueError("after: move needs move_to")
            moved = posixpath.join(folder, ref.name)
            with sftp_errors(self.session.name, f"moving {remote} to {folder}",
                             SourceUnavailable):
                rename_over(client, remote, moved)
        else:
            raise ValueError(f"unknown post-action {action!r}")
        if self.spec.done_marker:
            with contextlib.suppress(OSError):
                client.remove(self._remote(self._marker(ref.name)))

    def _remote(self, name: str) -> str:
        """The remote path of a listed name; a name that could escape the folder is refused."""
        check_partner_name(name)
        return posixpath.join(self.folder, name)



class _Spool:
    """Writes and hashes downloaded chunks into the spool file.

    For large files this happens in a helper thread: file writes and sha256 release the GIL,
    so they overlap with paramiko's packet work instead of taking turns with it (OpenSSH gets
    the same overlap from its separate ssh and sftp processes). The queue bounds memory.
    """

    def __init__(self, dest: Path, *, threaded: bool):
        self._out = open(dest, "wb")  # noqa: SIM115 - closed in __exit__
        self._hash = hashlib.sha256()
        self.size = 0
        self._queue: queue.Queue[bytes | None] | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(maxsize=16)
            self._thread = threading.Thread(target=self._drain, name="sftp-spool", daemon=True)
            self._thread.start()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._queue is None:
            self._hash.update(data)
            self._out.write(data)
            return
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def _drain(self) -> None:
        assert self._queue is not None
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._hash.update(data)
                    self._out.write(data)
                except BaseException as exc:  # handed to the downloading thread
                    self._error = exc

    @property
    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._queue is not None and self._thread is not None:
                self._queue.put(None)
                self._thread.join()
        finally:
            self._out.close()
        if self._error is not None:
            raise self._error
