"""The interfaces between the pipeline and its pluggable parts, documented once here.

Implementations live in ``sources/``, ``formats/`` and ``targets/`` and do not repeat these
docstrings. ``pipeline.py`` is the only caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

from tradelane.models import Delivery, Document, FileRef
from tradelane.paths import FolderSyncs
from tradelane.staging import Staged

if TYPE_CHECKING:
    from tradelane.spec import RouteSpec


@runtime_checkable
class Source(Protocol):
    """A folder somewhere (local or remote) that partners drop files into.

    Used as a context manager around one poll: remote sources open one connection on
    ``__enter__`` and reuse it for every call until ``__exit__``.
    """

    uri: str

    def __enter__(self) -> Source: ...

    def __exit__(self, *exc: object) -> None: ...

    def list_ready(self) -> list[FileRef]:
        """Files that are completely written (readiness rules of the route), oldest first.

        Temp names (``*.part``, ``*.tmp``, ``*.filepart``, dot-files) are never listed. A name
        that cannot be decoded is skipped with a warning, never stopping the listing.
        Raises ``SourceUnavailable`` when the folder cannot be listed at all.
        """
        ...

    def fetch(self, ref: FileRef, dest: Path) -> Staged:
        """Take the file's snapshot, with its sha256: in memory when it is small, else copied
        into ``dest`` (its place in the local spool), in bounded memory (see ``staging``).

        On failure no partial ``dest`` is left behind.
        Raises ``SourceUnavailable`` on I/O or network failure.
        """
        ...

    def finish(self, ref: FileRef, action: str, archive_to: str | None = None,
               syncs: FolderSyncs | None = None) -> None:
        """Post-action after the ledger says delivered: ``delete``, ``move`` or ``leave``.

        ``move`` renames the original into ``archive_to``, a folder on the same source (the
        route's ``move_to``). ``archive`` (local folders) moves it to ``archive_to``, the full
        path the engine chose under ``archive/<route>/<day>/``. Local renames leave their
        folder's fsync to ``syncs`` when given (one per chunk of files).
        Raises ``SourceUnavailable`` when the server refuses; the ledger then keeps the file
        from being processed again.
        """
        ...


class Reader(Protocol):
    """Parses a file's snapshot into one or more ``Document`` batches. Pure: no side effects.

    Every malformed input becomes a ``RejectError`` (usually ``MalformedInput``) with a
    location; a reader never lets a parser's own exception escape. Records come out as raw
    strings keyed by field name; typing is validation's job.
    """

    def read(self, source: Staged, route: RouteSpec) -> Iterator[Document]: ...


class Writer(Protocol):
    """Serialises transformed batches to an output stream."""

    extension: str

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        """Write every batch to ``out`` and return the number of records written."""
        ...


@dataclass(frozen=True)
class DeliveryContext:
    """What a target needs to know about the file it delivers: names are derived from it."""

    file_id: int
    route: str
    original_name: str
    sha256: str
    received_at: datetime
    attempt: int = 1
    ledger: Any = None  # the Ledger, for targets that keep an outbox (HTTP)
    #: local writes leave their folder's fsync to this; the pipeline flushes it once per
    #: chunk of files, before recording the deliveries
    syncs: FolderSyncs | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Target(Protocol):
    """Where transformed records go: a folder, an SFTP server, an HTTP API."""

    uri: str

    def deliver(self, batches: Iterable[Document], ctx: DeliveryContext) -> Delivery:
        """Make the output durable, or raise.

        ``batches`` is a generator that may raise ``RejectError`` after its last batch (the
        file turned out invalid): a target must then leave nothing visible behind. Output
        names are deterministic for a given ``ctx``, and writing is atomic (temp name, then
        rename), so a retry after a crash never yields a second, different output. A target
        that cannot take back what it sent (HTTP) must consume ``batches`` fully before
        sending anything.

        Raises ``TargetUnavailable`` for temporary failures, ``DeliveryRejected`` when the
        receiver refuses the data itself.
        """
        ...

    def preview(self, batches: Sequence[Document], route: RouteSpec) -> str:
        """A short human-readable description of what would be delivered (dry run)."""
        ...
