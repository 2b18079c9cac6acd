"""A local folder as a target: temp name, fsync, rename."""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Iterable, Sequence
from typing import BinaryIO

from typing_extensions import Buffer

from tradelane.abc import DeliveryContext
from tradelane.errors import TargetUnavailable
from tradelane.formats import writer_for
from tradelane.models import Delivery, Document
from tradelane.paths import atomic_writer, sha256_of
from tradelane.spec import RouteSpec, Settings
from tradelane.targets.naming import output_name

#: Output written inline before a helper thread takes over hashing and writing: a small file
#: never pays for the thread.
HANDOFF_BYTES = 4 << 20
#: Chunks (Arrow hands over 1-2 MB each) waiting for the helper at most: bounded memory.
HANDOFF_CHUNKS = 8
#: The helper has the kernel start writing back every this many bytes (``_start_writeback``).
WRITEBACK_BYTES = 8 << 20


class FolderTarget:
    def __init__(self, route: RouteSpec, settings: Settings):
        assert route.target.folder
        self.route = route
        self.folder = settings.path(route.target.folder).resolve()
        self.writer = writer_for(route.target.format, route.target)
        self.uri = self.folder.as_uri()

    def deliver(self, batches: Iterable[Document], ctx: DeliveryContext) -> Delivery:
        nest = self.route.nest
        if nest is not None and nest.per_document:  # a file per nested document
            from tradelane.targets.per_document import deliver_documents

            return deliver_documents(self.route, self.folder, batches, ctx)
        name = output_name(self.route.target.name, ctx, self.writer.extension)
        path = self.folder / name
        try:
            if ctx.syncs is not None and ctx.syncs.pending(path):
                ctx.syncs.flush()  # an output of this chunk has the same name: let it land
            earlier = sha256_of(path) if path.exists() else None
            with atomic_writer(path, syncs=ctx.syncs) as out, _Hashing(out) as sink:
                count = self.writer.write(batches, sink, self.route)
                digest = sink.hexdigest()
                if earlier not in (None, digest):
                    raise TargetUnavailable(
                        f"{path} already exists with different content (an earlier file with"
                        " the same output name has not been collected yet); will retry")
        except OSError as exc:
            raise TargetUnavailable(
                f"cannot write {name} into {self.folder}: {exc.strerror or exc}") from exc
        return Delivery(target=path.as_uri(), records=count, size=sink.size, sha256=digest)

    def preview(self, batches: Sequence[Document], route: RouteSpec) -> str:
        return f"would write {sum(len(b.records) for b in batches)} records to {self.folder}"

    def close(self) -> None:
        return None


class _Hashing:
    """A write-only stream that hashes what passes through it.

    Past ``HANDOFF_BYTES``, hashing and writing go to a helper thread, so that the writer
    formats the next rows meanwhile: both release the interpreter lock. Used as a context
    manager, it waits for the helper on the way out and raises what the helper met.
    """

    def __init__(self, inner: BinaryIO):
        self._inner = inner
        self._hash = hashlib.sha256()
        self.size = 0
        self._queue: queue.Queue[bytes | None] | None = None
        self._helper: threading.Thread | None = None
        self._error: BaseException | None = None
        self._inline = True  # False while the helper takes the writes

    def __enter__(self) -> _Hashing:
        return self

    def __exit__(self, *exc: object) -> None:
        self._join()
        if exc[0] is None and self._error is not None:
            raise self._error

    def write(self, data: Buffer) -> int:
        size = memoryview(data).nbytes
        self.size += size
        if self._helper is None and self.size > HANDOFF_BYTES:
            self._queue = queue.Queue(maxsize=HANDOFF_CHUNKS)
            self._helper = threading.Thread(target=self._hash_and_write,
                                            args=(self.size - size,),  # written inline
                                            daemon=True, name="hash-and-write")
            self._helper.start()
            self._inline = False
        if self._inline:
            self._hash.update(data)
            self._inner.write(data)
            return size
        if self._error is not None:
            raise self._error
        assert self._queue is not None
        self._queue.put(bytes(data))  # a copy: Arrow's writer reuses the buffer it hands over
        return size

    def _hash_and_write(self, written: int) -> None:
        assert self._queue is not None
        advised = 0
        while (chunk := self._queue.get()) is not None:
            if self._error is None:  # after a failure, only drained: the writer is told
                try:
                    self._hash.update(chunk)
                    self._inner.write(chunk)
                    written += len(chunk)
                    if written - advised >= WRITEBACK_BYTES:
                        self._start_writeback(advised, written - advised)
                        advised = written
                except BaseException as exc:
                    self._error = exc

    def _start_writeback(self, offset: int, length: int) -> None:
        """Have the kernel start writing these bytes to disk now, without waiting: the fsync
        that makes the file durable then has little left to wait for (a 50 MB output's took
        31-34 ms, 1.5 ms after this; the calls cost 2 ms). On Linux, POSIX_FADV_DONTNEED
        starts the writeback of dirty pages; elsewhere it is a hint, and its failure is none
        of the delivery's business (a failure to write is)."""
        self._inner.flush()  # the bytes in the kernel's hands first
        with contextlib.suppress(OSError, AttributeError, ValueError):
            os.posix_fadvise(self._inner.fileno(), offset, length, os.POSIX_FADV_DONTNEED)

    def _join(self) -> None:
        """Every byte handed over is hashed and written; later writes are made inline."""
        self._inline = True
        if self._helper is not None and self._helper.is_alive():
            assert self._queue is not None
            self._queue.put(None)
            self._helper.join()

    def hexdigest(self) -> str:
        self._join()
        if self._error is not None:
            raise self._error
        return self._hash.hexdigest()

    def __getattr__(self, name: str) -> object:
        self._join()  # anything else (flush, tell) sees every byte written
        return getattr(self._inner, name)
