"""A file's snapshot for one pass through the pipeline: what ``Source.fetch`` returns and
every ``Reader`` reads.

The snapshot is taken once, hashed on the way, and the pipeline never looks at the partner's
file again until it archives it. A file of up to ``IN_MEMORY_BYTES`` is held in memory:
writing, reading back and deleting a spool copy cost more than parsing a one-kilobyte file
(about 0.5 ms per file on this project's disk). A larger one is streamed into the spool, so
memory stays bounded.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tradelane.paths import atomic_writer, move_durably

IN_MEMORY_BYTES = 1 << 20
CHUNK = 1 << 20
#: Chunks waiting for the staging's hashing thread at most (memory stays bounded).
HANDOFF_CHUNKS = 8


@dataclass(frozen=True)
class Staged:
    """The bytes of a file (``data``), or a file on disk (``path``): its copy in the spool
    (``in_spool``), or the file itself, read where it is."""

    size: int
    sha256: str | None = None
    data: bytes | None = None
    path: Path | None = None
    in_spool: bool = False
    #: Seen while staging: every byte is ASCII and none is NUL, so the bytes are text in
    #: UTF-8 and in every encoding that extends ASCII (False: not known to be).
    ascii: bool = False

    @classmethod
    def file(cls, path: Path) -> Staged:
        """A file on disk read where it is (``tradelane validate``, a quarantined copy)."""
        return cls(size=path.stat().st_size, path=path)

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    def keep(self, dest: Path) -> None:
        """Put the snapshot at ``dest`` for good, durably: a spool copy is moved there, anything
        else is written there atomically."""
        if self.in_spool:
            assert self.path is not None
            move_durably(self.path, dest)
            return
        with self.open() as src, atomic_writer(dest) as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)

    def discard(self) -> None:
        """Remove the spool copy, if there is one (never a file read where it is)."""
        if self.in_spool and self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def stage_chunks(chunks: Iterable[bytes], spool: Path) -> Staged:
    """Hash ``chunks`` and hold them in memory, or stream them into ``spool`` once they pass
    ``IN_MEMORY_BYTES``. No fsync: a spool copy can always be made again from its original.
    On failure no spool copy is left behind."""
    seen = _Fingerprint()
    held: list[bytes] = []
    size = 0
    out: BinaryIO | None = None
    try:
        for chunk in chunks:
            seen.add(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
                continue
            held.append(chunk)
            if size > IN_MEMORY_BYTES:
                out = open(spool, "wb")  # noqa: SIM115 - closed below
                out.writelines(held)
                held = []
                seen.hand_off()
        seen.close()
        if out is None:
            return Staged(size=size, sha256=seen.digest.hexdigest(), data=b"".join(held),
                          ascii=seen.ascii)
        out.close()
        return Staged(size=size, sha256=seen.digest.hexdigest(), path=spool, in_spool=True,
                      ascii=seen.ascii)
    except BaseException:
        seen.close()
        if out is not None:
            out.close()
            with contextlib.suppress(FileNotFoundError):
                spool.unlink()
        raise


class _Fingerprint:
    """The sha256 of a file's chunks, and whether every byte is ASCII and none NUL (0.1 ms per
    MB here saves a reader a pass over the file, 0.4 ms per MB).

    Once ``hand_off`` is called (the file goes to the spool), a helper thread takes the
    chunks while the caller reads and writes the next ones: hashing releases the interpreter
    lock. Staging the 47 MB file of ``bench/csv_route.py`` took 52 ms with the hash inline.
    """

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.ascii = True
        self._queue: queue.Queue[bytes | None] | None = None
        self._helper: threading.Thread | None = None

    def add(self, chunk: bytes) -> None:
        if self._queue is None:
            self._take(chunk)
        else:
            self._queue.put(chunk)  # bytes: never changed after, no copy needed

    def hand_off(self) -> None:
        self._queue = queue.Queue(maxsize=HANDOFF_CHUNKS)
        self._helper = threading.Thread(target=self._drain, daemon=True, name="hash-staged")
        self._helper.start()

    def close(self) -> None:
        """Every chunk given is taken into account (the helper, if any, has finished)."""
        if self._helper is not None and self._helper.is_alive():
            assert self._queue is not None
            self._queue.put(None)
            self._helper.join()

    def _take(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.ascii = self.ascii and chunk.isascii() and b"\0" not in chunk

    def _drain(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            self._take(chunk)


def stage_file(src: Path, spool: Path) -> Staged:
    """``stage_chunks`` over a local file."""
    with open(src, "rb") as fh:
        return stage_chunks(iter(lambda: fh.read(CHUNK), b""), spool)
