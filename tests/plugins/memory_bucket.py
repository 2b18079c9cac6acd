"""An in-tree test plug-in: a whole new source kind and target kind in one module, added
through the public registration API only (the README's "Extending tradelane" shows it).

- ``mirror``: a local folder under another kind name; it reuses ``LocalSource`` for the work,
  as a plug-in for another store would reuse the base class's readiness and post-actions.
- ``bucket``: an in-memory object store, standing in for one that makes an object visible
  only once it is complete (S3, Azure Blob). ``BUCKETS`` is what its consumers see.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import Field

from tradelane.abc import DeliveryContext
from tradelane.errors import TargetUnavailable
from tradelane.formats import writer_for
from tradelane.models import Delivery, Document
from tradelane.registry import SOURCES, TARGETS, SourcePlugin, TargetPlugin
from tradelane.sources.local import LocalSource
from tradelane.spec import RouteSpec, Settings, SourceOptions, TargetOptions
from tradelane.targets.naming import output_name

#: bucket name -> object name -> bytes: what the bucket's consumers see
BUCKETS: dict[str, dict[str, bytes]] = {}


class MirrorSourceSpec(SourceOptions):
    kind: Literal["mirror"] = "mirror"
    mirror: str = Field(..., description="The folder to poll.")

    @property
    def local_folder(self) -> str:
        return self.mirror


class MirrorSource(LocalSource):
    def __init__(self, route: RouteSpec, settings: Settings):
        assert isinstance(route.source, MirrorSourceSpec)
        super().__init__(route, settings, folder=route.source.mirror)


class BucketTargetSpec(TargetOptions):
    kind: Literal["bucket"] = "bucket"
    bucket: str = Field(..., description="Name of the bucket.")


class BucketTarget:
    def __init__(self, route: RouteSpec, settings: Settings):
        assert isinstance(route.target, BucketTargetSpec)
        self.route = route
        self.bucket = route.target.bucket
        self.writer = writer_for(route.target.format, route.target)
        self.uri = f"bucket://{self.bucket}"

    def deliver(self, batches: Iterable[Document], ctx: DeliveryContext) -> Delivery:
        name = output_name(self.route.target.name, ctx, self.writer.extension)
        out = io.BytesIO()
        count = self.writer.write(batches, out, self.route)  # raises before anything is seen
        data = out.getvalue()
        objects = BUCKETS.setdefault(self.bucket, {})
        if objects.get(name, data) != data:
            raise TargetUnavailable(f"{name} exists in {self.bucket} with other content")
        objects[name] = data
        return Delivery(f"{self.uri}/{name}", count, len(data), hashlib.sha256(data).hexdigest())

    def preview(self, batches: Sequence[Document], route: RouteSpec) -> str:
        return f"would put {sum(len(b.records) for b in batches)} records into {self.uri}"

    def close(self) -> None:
        return None


SOURCES.register(SourcePlugin("mirror", MirrorSourceSpec, MirrorSource, local=True,
                              watchable=True))
TARGETS.register(TargetPlugin("bucket", BucketTargetSpec, BucketTarget))
