"""A stream that hashes what is written through it, and from a size on hands hashing and
writing to a helper thread.

sha256 and file writes release the interpreter lock, so with the helper they overlap with
whatever makes the bytes: paramiko's packet work for an SFTP download (OpenSSH gets the same
overlap from its separate ssh and sftp processes), Arrow formatting the next rows for a
folder target. A bounded queue keeps memory bounded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from typing import BinaryIO

from typing_extensions import Buffer

#: ``behind_from`` for a stream that never starts the helper.
NEVER = 1 << 62


class HashingWriter:
    """Writes to ``inner`` and hashes what passes; past ``behind_from`` bytes both happen in a
    helper thread, at most ``queued`` chunks behind. With ``writeback`` the helper has the
    kernel start writing every ``WRITEBACK_BYTES`` (an output fsynced at the end; not a
    spool copy that may never need the disk).

    Used as a context manager, it waits for the helper on the way out and raises what the
    helper met; ``hexdigest`` and any other attribute (``flush``, ``tell``, delegated to
    ``inner``) wait for it too.
    """

    #: With ``writeback``, the helper has the kernel start writing back every this many bytes.
    WRITEBACK_BYTES = 8 << 20

    def __init__(self, inner: BinaryIO, *, behind_from: int, queued: int,
                 writeback: bool = False, name: str = "hash-and-write"):
        self._inner = inner
        self._hash = hashlib.sha256()
        self.size = 0
        self._behind_from, self._queued = behind_from, queued
        self._writeback, self._name = writeback, name
        self._queue: queue.Queue[bytes | None] | None = None
        self._helper: threading.Thread | None = None
        self._error: BaseException | None = None
        self._inline = True  # False while the helper takes the writes

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._join()
        if exc[0] is None and self._error is not None:
            raise self._error

    def write(self, data: Buffer) -> int:
        size = memoryview(data).nbytes
        self.size += size
        if self._helper is None and self.size > self._behind_from:
            self._queue = queue.Queue(maxsize=self._queued)
            self._helper = threading.Thread(target=self._hash_and_write,
                                            args=(self.size - size,),  # written inline
                                            daemon=True, name=self._name)
            self._helper.start()
            self._inline = False
        if self._inline:
            self._hash.update(data)
            self._inner.write(data)
            return size
        if self._error is not None:
            raise self._error
        assert self._queue is not None
        # bytes never change; anything else is copied (Arrow's writer reuses its buffer)
        self._queue.put(data if isinstance(data, bytes) else bytes(data))
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
                    if self._writeback and written - advised >= self.WRITEBACK_BYTES:
                        self._start_writeback(advised, written - advised)
                        advised = written
                except BaseException as exc:
                    self._error = exc

    def _start_writeback(self, offset: int, length: int) -> None:
        """Have the kernel start writing these bytes to disk now, without waiting: the fsync
        that makes the file durable then has little left to wait for (a 50 MB output's took
        31-34 ms, 1.5 ms after this; the calls cost 2 ms). On Linux, POSIX_FADV_DONTNEED
        starts the writeback of dirty pages; elsewhere it is a hint, and its failure is none
        of the writer's business (a failure to write is)."""
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
