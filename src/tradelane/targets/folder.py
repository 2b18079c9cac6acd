"""A local folder as a target: temp name, fsync, rename."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tradelane.abc import DeliveryContext
from tradelane.errors import TargetUnavailable
from tradelane.formats import writer_for
from tradelane.hashing_writer import HashingWriter
from tradelane.models import Delivery, Document
from tradelane.paths import atomic_writer, sha256_of
from tradelane.spec import RouteSpec, Settings
from tradelane.targets.naming import output_name

#: Output written inline before a helper thread takes over hashing and writing: a small file
#: never pays for the thread.
HANDOFF_BYTES = 4 << 20
#: Chunks (Arrow hands over 1-2 MB each) waiting for the helper at most: bounded memory.
HANDOFF_CHUNKS = 8


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
            with atomic_writer(path, syncs=ctx.syncs) as out, \
                    HashingWriter(out, behind_from=HANDOFF_BYTES, queued=HANDOFF_CHUNKS,
                                  writeback=True) as sink:
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
