"""An FTP or FTPS server as a target: upload under a temp name, check the size, then rename.

The temp name is ``.<name>.<file_id>.part`` (a dot-file with a temp suffix, which partners'
pollers skip; deterministic, so a retry overwrites its own leftover). The final name comes
from the route's ``name`` template, so a retry replaces the same file, and only when the file
already there has exactly the bytes being delivered (it is ours, from an earlier attempt).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import posixpath
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tradelane.abc import DeliveryContext
from tradelane.errors import TargetUnavailable
from tradelane.formats import writer_for
from tradelane.ftp_client import FtpSession, ftp_errors
from tradelane.models import Delivery, Document
from tradelane.targets.naming import output_name
from tradelane.targets.upload import UploadSink

if TYPE_CHECKING:
    from tradelane.spec import RouteSpec, Settings

_BUFFER = 1 << 20


class FtpTarget:
    def __init__(self, route: RouteSpec, settings: Settings):
        spec = route.target
        name = spec.ftp  # type: ignore[attr-defined]
        self.route = route
        self.conn = settings.connections[name].ftp  # type: ignore[attr-defined]
        self.session = FtpSession(name, self.conn, settings.root)
        self.folder: str = spec.path  # type: ignore[attr-defined]
        self.writer = writer_for(spec.format, spec)
        self.uri = f"ftp://{name}{posixpath.join('/', self.folder)}"

    def __enter__(self) -> FtpTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def deliver(self, batches: Iterable[Document], ctx: DeliveryContext) -> Delivery:
        name = output_name(self.route.target.name, ctx, self.writer.extension)
        final = posixpath.join(self.folder, name).encode()
        temp = posixpath.join(self.folder, f".{name}.{ctx.file_id}.part").encode()
        session = self.session
        try:
            with ftp_errors(session.name, f"uploading {final.decode()}", TargetUnavailable):
                count, size, digest = self._upload(batches, temp)
                uploaded = session.size(temp)
                if uploaded != size:
                    raise TargetUnavailable(
                        f"ftp {session.name}: {temp.decode()} has {uploaded} bytes on the"
                        f" server after uploading {size}; will retry")
                if self._existing_is_ours(final, digest):
                    session.delete(temp)  # a retry of a delivery that had completed
                else:
                    session.rename(temp, final)
        except BaseException:
            with contextlib.suppress(Exception):
                if session.alive:
                    session.delete(temp)
            raise
        finally:
            session.close()  # one connection per delivery: nothing idles between files
        return Delivery(target=f"ftp://{session.name}{posixpath.join('/', final.decode())}",
                        records=count, size=size, sha256=digest)

    def _upload(self, batches: Iterable[Document], temp: bytes) -> tuple[int, int, str]:
        deadline = time.monotonic() + self.conn.transfer_deadline.total_seconds()
        data = self.session.upload(temp)
        sink = UploadSink(data.write, deadline, temp.decode(errors="replace"),
                           interrupted=lambda: data.closed)
        try:
            buffered = io.BufferedWriter(sink, _BUFFER)
            count = self.writer.write(batches, buffered, self.route)
            buffered.flush()
            data.finish()
        finally:
            data.abort()
            with contextlib.suppress(TargetUnavailable, ValueError):
                buffered.close()  # nothing left to write once aborted
        return count, sink.size, sink.hash.hexdigest()

    def _existing_is_ours(self, final: bytes, digest: str) -> bool:
        """Replace a same-named file only if it holds what we deliver (a retry), never a
        different file; False when there is none."""
        if self.session.size(final) is None:
            return False
        earlier = hashlib.sha256()
        for data in self.session.download(final):
            earlier.update(data)
        if earlier.hexdigest() != digest:
            raise TargetUnavailable(
                f"ftp {self.session.name}: {final.decode()} already exists with different"
                " content (an earlier file with the same output name has not been collected"
                " yet); will retry")
        return True

    def preview(self, batches: Sequence[Document], route: RouteSpec) -> str:
        records = sum(len(b.records) for b in batches)
        return f"would upload {records} records as {self.writer.extension} to {self.uri}"
