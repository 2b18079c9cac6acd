"""An SFTP server as a target: upload under a temp name, verify the size, then rename.

The temp name is ``.<name>.<file_id>.part``: a dot-file with a temp suffix, which partners'
pollers skip, and deterministic, so a retry after a crash overwrites its own leftover. The
final name comes from the route's ``name`` template, so a retry replaces the same file (with
posix-rename@openssh.com, atomically) and never leaves a second one.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tradelane.abc import DeliveryContext
from tradelane.errors import TargetUnavailable
from tradelane.formats import writer_for
from tradelane.models import Delivery, Document
from tradelane.sftp_client import (
    SftpSession,
    read_pipelined,
    rename_over,
    sftp_errors,
)
from tradelane.targets.naming import output_name
from tradelane.targets.upload import UploadSink

if TYPE_CHECKING:
    import paramiko

    from tradelane.spec import RouteSpec, Settings

_BUFFER = 1 << 20


class SftpTarget:
    def __init__(self, route: RouteSpec, settings: Settings):
        spec = route.target
        assert spec.sftp and spec.path
        connection = settings.connections[spec.sftp].sftp
        assert connection is not None
        self.route = route
        self.conn = connection
        self.session = SftpSession(spec.sftp, connection, settings.root)
        self.folder = spec.path
        self.writer = writer_for(spec.format, spec)  # the edifact template, the fixed layout
        self.uri = f"sftp://{spec.sftp}{posixpath.join('/', spec.path)}"

    def __enter__(self) -> SftpTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def deliver(self, batches: Iterable[Document], ctx: DeliveryContext) -> Delivery:
        name = output_name(self.route.target.name, ctx, self.writer.extension)
        final = posixpath.join(self.folder, name)
        temp = posixpath.join(self.folder, f".{name}.{ctx.file_id}.part")
        try:
            with sftp_errors(self.session.name, f"uploading {final}", TargetUnavailable):
                client = self.session.client
                count, size, digest = self._upload(client, batches, temp)
                uploaded = client.stat(temp).st_size
                if uploaded != size:
                    raise TargetUnavailable(
                        f"sftp {self.session.name}: {temp} has {uploaded} bytes on the server"
                        f" after uploading {size}; will retry"
                    )
                self._check_existing(client, final, digest)
                rename_over(client, temp, final)
        except BaseException:
            with contextlib.suppress(Exception):
                if self.session.alive:
                    self.session.client.remove(temp)
            raise
        finally:
            self.session.close()  # one connection per delivery: nothing idles between files
        return Delivery(target=f"sftp://{self.session.name}{posixpath.join('/', final)}",
                        records=count, size=size, sha256=digest)

    def _upload(self, client: paramiko.SFTPClient, batches: Iterable[Document],
                temp: str) -> tuple[int, int, str]:
        deadline = time.monotonic() + self.conn.transfer_deadline.total_seconds()
        remote = client.open(temp, "wb", bufsize=_BUFFER)
        try:
            remote.MAX_REQUEST_SIZE = self.session.read_size  # fewer, larger writes
            remote.set_pipelined(True)  # do not wait for each write's answer
            sink = UploadSink(remote.write, deadline, temp)
            count = self.writer.write(batches, sink, self.route)
            sink.flush()
            remote.flush()
        finally:
            remote.close()  # also collects the answers to every pipelined write
        return count, sink.size, sink.hash.hexdigest()

    def _check_existing(self, client: paramiko.SFTPClient, final: str, digest: str) -> None:
        """Replace a same-named file only if it is ours (a retry), never a different file."""
        try:
            existing = client.stat(final).st_size or 0
        except FileNotFoundError:
            return
        earlier = hashlib.sha256()
        for data in read_pipelined(client, final, existing, request_size=self.session.read_size,
                                   in_flight=16):
            earlier.update(data)
        if earlier.hexdigest() != digest:
            raise TargetUnavailable(
                f"sftp {self.session.name}: {final} already exists with different content (an"
                " earlier file with the same output name has not been collected yet); will retry"
            )

    def preview(self, batches: Sequence[Document], route: RouteSpec) -> str:
        records = sum(len(b.records) for b in batches)
        return f"would upload {records} records as {self.writer.extension} to {self.uri}"
