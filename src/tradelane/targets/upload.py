"""The stream a writer writes an upload to, shared by the remote targets (SFTP, FTP)."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable

from tradelane.errors import TargetUnavailable


class UploadSink(io.RawIOBase):
    """Counts, hashes and enforces the transfer deadline, handing each chunk to ``send``.

    A real ``io`` stream, because writers may hand it to pyarrow, which checks ``closed``.
    ``interrupted`` says whether the connection under it has gone.
    """

    def __init__(self, send: Callable[[bytes], object], deadline: float, path: str,
                 interrupted: Callable[[], bool] = lambda: False):
        super().__init__()
        self.send = send
        self.interrupted = interrupted
        self.deadline = deadline
        self.path = path
        self.size = 0
        self.hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if time.monotonic() > self.deadline:
            raise TargetUnavailable(f"uploading {self.path} did not finish within"
                                    " transfer_deadline; will retry")
        if self.interrupted():
            raise TargetUnavailable(f"uploading {self.path} was interrupted; will retry")
        chunk = bytes(data)
        self.hash.update(chunk)
        self.send(chunk)
        self.size += len(chunk)
        return len(chunk)
