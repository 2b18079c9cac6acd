"""The interfaces between the engine and its pluggable parts, documented once here.

Implementations live in ``sources/``, ``formats/``, ``targets/`` and ``validators/`` (and in
plug-ins of other packages, see ``tradelane.registry``) and do not repeat these docstrings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

from tradelane.models import Delivery, Document, Entry, FileRef, FileState, Issue
from tradelane.paths import FolderSyncs
from tradelane.staging import Staged

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from tradelane.ledger import FileRecord, Move
    from tradelane.sources.readiness import Listing
    from tradelane.spec import RouteSpec


@dataclass(frozen=True)
class PostAction:
    """What happened to an original after delivery (or rejection): words for its history,
    and where the delivered bytes are kept locally, if they are."""

    done: str
    kept: Path | None = None


@runtime_checkable
class Source(Protocol):
    """A folder somewhere (local, SFTP, FTP, …) that partners drop files into.

    Used as a context manager around one poll: remote sources open one connection on
    ``__enter__`` and reuse it for every call until ``__exit__``. ``sources.base.PolledSource``
    implements the policy methods (``list_ready``, ``after_delivery``, ``after_reject``) once for
    every kind, on top of the four primitives a kind provides (``entries``, ``fetch``, ``stat``,
    ``remove``/``move_to``).
    """

    uri: str

    def __enter__(self) -> Source: ...

    def __exit__(self, *exc: object) -> None: ...

    # -- primitives: what each kind implements ----------------------------------------------

    def entries(self) -> list[Entry]:
        """Every entry of the folder with its kind from an ``lstat`` (symlinks are not
        followed), size and mtime, and the name's bytes where they are not UTF-8.
        Raises ``SourceUnavailable`` when the folder cannot be listed at all."""
        ...

    def fetch(self, ref: FileRef, dest: Path) -> Staged:
        """Take the file's snapshot, with its sha256: in memory when it is small, else copied
        into ``dest`` (its place in the local spool), in bounded memory (see ``staging``).

        Opened safely: a symlink is never followed and a FIFO never blocks; the file must be a
        regular file with the listed size and mtime, before and after reading, or
        ``FileNotReady`` says what it is now. On failure no partial ``dest`` is left behind.
        Raises ``SourceUnavailable`` on I/O or network failure.
        """
        ...

    def stat(self, ref: FileRef) -> Entry | None:
        """The entry of ``ref``'s name as it is now, or None if it is gone."""
        ...

    def remove(self, ref: FileRef) -> None:
        """Delete the original (gone already is fine). Raises ``SourceUnavailable``."""
        ...

    def move_to(self, ref: FileRef, folder: str, syncs: FolderSyncs | None = None) -> str:
        """Move the original into ``folder`` on the source itself (``after: move``), keeping
        its name unless that is taken; returns where it went. Local renames leave their
        folder's fsync to ``syncs`` when given. Raises ``SourceUnavailable``."""
        ...

    # -- policy: provided once by sources.base.PolledSource ------------------------------------

    def list_ready(self) -> Listing:
        """Files that are completely written (the readiness rules of the route, see
        ``sources.readiness``), in processing order; ``.unusual`` lists symlinks, FIFOs and
        devices that would have matched (never read). Raises ``SourceUnavailable``."""
        ...

    def after_delivery(self, record: FileRecord, staged: Staged | None, archive_to: Path,
                       syncs: FolderSyncs | None = None) -> PostAction:
        """The route's ``after:`` for a delivered file: archive, move, delete or leave.

        The original is touched only if it is still exactly what was delivered (size, mtime
        and, where the source has one, its change token; else its sha256). If it changed,
        it stays where it is (its new content is a new file for the next poll) and the
        delivered bytes are archived from ``staged`` when there is a snapshot. ``archive``
        keeps a copy of the delivered bytes at ``archive_to`` before the original goes.
        Raises ``SourceUnavailable`` (or ``OSError`` for the local archive); the caller keeps
        the step as pending work and retries it.
        """
        ...

    def after_reject(self, record: FileRecord) -> PostAction:
        """Take a quarantined file's original out of the inbox (``after: leave`` leaves it;
        ``move`` moves it), if it is still exactly the file that was quarantined."""
        ...


class Reader(Protocol):
    """Parses a file's snapshot into one or more ``Document`` batches. Pure: no side effects.

    Every malformed input becomes a ``RejectError`` (usually ``MalformedInput``) with a
    location; a reader never lets a parser's own exception escape, never passes the route's
    ``limits``, and reads big files in bounded memory. Records come out as raw strings keyed by
    field name; typing is validation's job.
    """

    def read(self, source: Staged, route: RouteSpec) -> Iterator[Document]: ...


@dataclass
class Findings:
    """What one validation step found in a file.

    ``issues`` are the first problems (capped by the caller's limit), each located: ``line
    L, column C`` (XML), ``line L`` plus a JSON path (JSON Lines) or a JSON path alone;
    ``rule`` names the step and rule (``xsd``, ``schematron:BR-CO-10``,
    ``json_schema:required``). ``count`` is the true number of problems. ``records`` are the
    0-based numbers of the records at fault when the step checks record by record (JSON
    Lines), so ``on_invalid: split`` can set them apart; None when the document is checked
    whole. ``warnings`` are problems the rules themselves flag as warnings (Schematron
    ``flag="warning"``): reported, never a reason to reject.
    """

    issues: list[Issue]
    count: int = 0
    records: Any = None  # numpy int64 array of record numbers, or None
    warnings: list[Issue] | None = None


class Validator(Protocol):
    """A step of a route's ``validate:`` list: a compiled schema (XSD, Schematron, JSON
    Schema) that a file is checked against before its fields are mapped.

    Built from its step's spec and the project root; every file it loads (the schema, its
    imports and includes, ``$ref`` targets) must lie in the project's ``schemas/`` folder,
    and is read with the network and external entities off.
    """

    def compile(self) -> list[Path]:
        """Load and compile the schema; return every file it was built from (a cache key:
        their paths, sizes and mtimes). Raises ``ConfigError`` naming the schema and what is
        wrong with it (a broken schema, or one that reaches outside ``schemas/``)."""
        ...

    def files(self) -> list[Path]:
        """The files ``compile`` would read (the schema and everything it pulls in), found
        without compiling: they are part of the route's mapping version, so a changed schema
        is a new version. Raises ``ConfigError`` like ``compile``."""
        ...

    def validate(self, staged: Staged, route: RouteSpec, *, limit: int) -> Findings:
        """Check the file, in bounded memory (a file too big to check raises
        ``LimitExceeded``; one that cannot be parsed raises ``MalformedInput``)."""
        ...


class Writer(Protocol):
    """Serialises transformed batches to an output stream."""

    extension: str

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        """Write every batch to ``out`` and return the number of records written."""
        ...


class Step(Protocol):
    """A processing step on the file itself (a route's ``steps:``): decrypt, decompress,
    sign... ``extension`` is what it adds to an output name (``gz``, ``pgp``; empty for
    input steps)."""

    extension: str

    def apply(self, staged: Staged, dest: Path) -> Staged:
        """The transformed file: in memory, or streamed to ``dest`` (a spool file the caller
        discards). A received file the step refuses raises ``RejectError`` (quarantine); a
        problem on our side (a missing key) raises ``TransientError``."""
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
    #: the ledger, for targets that keep an outbox of their requests (HTTP)
    ledger: Ledger | None = None
    #: local writes leave their folder's fsync to this; the pipeline flushes it once per
    #: chunk of files, before recording the deliveries
    syncs: FolderSyncs | None = None


class Target(Protocol):
    """Where transformed records go: a folder, an SFTP server, an HTTP API.

    What a kind can do is declared once, on its plug-in (``registry.TargetPlugin``): one that
    may refuse single records after taking the others (``partial_rejects``) raises
    ``RecordsRejected`` for them.
    """

    uri: str

    def deliver(self, batches: Iterable[Document], ctx: DeliveryContext) -> Delivery:
        """Make the output durable, or raise.

        ``batches`` is a generator that may raise ``RejectError`` after its last batch (the
        file turned out invalid): a target must then leave nothing visible behind. Output
        names are deterministic for a given ``ctx``, and writing is atomic (temp name, then
        rename), so a retry after a crash never yields a second, different output, and a
        second delivery of the same output is a no-op. A target that cannot take back what
        it sent (HTTP) must consume ``batches`` fully before sending anything.

        Raises ``TargetUnavailable`` for temporary failures, ``DeliveryRejected`` when the
        receiver refuses the data itself.
        """
        ...

    def preview(self, batches: Sequence[Document], route: RouteSpec) -> str:
        """A short human-readable description of what would be delivered (dry run)."""
        ...

    def close(self) -> None:
        """Release connections once the poll is over (the target is not used again)."""
        ...


class Ledger(Protocol):
    """The record of every file and every step (``tradelane.ledger.Ledger``: SQLite or
    PostgreSQL). Every transition is guarded by the expected previous state and logs an event;
    a guard that does not match is a ``Conflict`` for that file alone."""

    engine: Engine
    worker: str
    lease: timedelta

    def claim_many(self, refs: Sequence[FileRef]) -> list[FileRecord | None]:
        """Take listed files for processing, in one transaction: a record per file claimed,
        None where another worker has it or it is finished."""
        ...

    def apply(self, moves: Sequence[Move]) -> list[Any]:
        """Every move in one transaction, each guarded on its own: per move the new record,
        or the ``Conflict``/``NotFound`` that stopped it."""
        ...

    def transition(self, file_id: int, expect: FileState | Iterable[FileState], to: FileState,
                   detail: str = "", **fields: Any) -> FileRecord:
        """One guarded move; raises ``Conflict`` (or ``NotFound``) if the guard fails."""
        ...

    def note(self, file_id: int, detail: str) -> None:
        """An event that does not change the file's state."""
        ...

    def get(self, file_id: int) -> FileRecord:
        """Raises ``NotFound``."""
        ...
