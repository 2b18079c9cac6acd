"""Frozen value types passed between the stages of the pipeline."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd


class FileState(enum.StrEnum):
    """Ledger states of one received file.

    ``discovered -> claimed -> staged -> delivered -> archived``; a failure leads to
    ``quarantined`` (bad data), ``duplicate`` (already delivered) or ``pending`` (transient,
    retried). ``quarantined -> claimed`` is a reprocess attempt; ``discarded`` is final.
    ``lost``: the ledger's copy of a file (its quarantined copy) is gone from the disk; ops
    discard it or have the partner send it again.
    """

    DISCOVERED = "discovered"
    CLAIMED = "claimed"
    STAGED = "staged"
    DELIVERED = "delivered"
    ARCHIVED = "archived"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"
    PENDING = "pending"
    DISCARDED = "discarded"
    LOST = "lost"


#: States that ops must look at (listed by ``tradelane quarantine list``).
QUARANTINE_STATES = frozenset({FileState.QUARANTINED, FileState.DUPLICATE, FileState.LOST})


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file seen in a source listing, before it is claimed.

    ``route, source, name, size, mtime_ns`` identify a sighting of the file. ``token`` is the
    source's cheap change detector where it has one (a local file's inode and ctime: any
    write changes it), used to tell a rewritten file from the one already processed.
    ``raw_name`` holds the name's bytes when they are not UTF-8 (``name`` is then a
    readable, escaped form); such a file is quarantined under a safe name.
    """

    route: str
    source: str  # URI of the folder: file:///srv/inbox/acme or sftp://acme/outbound
    name: str  # name inside the source folder, exactly as the partner wrote it
    size: int
    mtime_ns: int
    token: str | None = None
    raw_name: bytes | None = None

    @property
    def uri(self) -> str:
        return f"{self.source.rstrip('/')}/{self.name}"

    @property
    def name_bytes(self) -> bytes:
        """The name as the source has it (for opening, moving and deleting the file)."""
        return self.raw_name if self.raw_name is not None else self.name.encode("utf-8")


EntryKind = Literal["file", "directory", "symlink", "fifo", "device", "socket", "other"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a source folder as listed, before any readiness rule: its kind comes
    from an ``lstat`` (a symlink is a symlink, never what it points to)."""

    name: str
    kind: EntryKind
    size: int
    mtime_ns: int
    token: str | None = None
    raw_name: bytes | None = None

    def ref(self, route: str, source: str) -> FileRef:
        return FileRef(route, source, self.name, self.size, self.mtime_ns, self.token,
                       self.raw_name)


def decode_name(raw: bytes) -> tuple[str, bytes | None]:
    """(the name as text, the raw bytes if they are not UTF-8)."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), raw


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a file, as it appears in the reason file."""

    location: str  # "row 17 (line 18)", "segment 42 (byte 1302)", "/Order/cac:OrderLine[3]"
    field: str
    value: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {
            "location": self.location,
            "field": self.field,
            "value": self.value,
            "rule": self.rule,
            "message": self.message,
        }


def _default_locate(row: int) -> str:
    return f"record {row + 1}"


@dataclass(frozen=True)
class Document:
    """One batch of a parsed file: header fields plus a table of records.

    ``records`` has one column per field of the route (raw strings after reading, typed values
    after validation). Its index is the record number within the whole file (0-based), so a
    file read in several batches keeps stable row numbers. ``locate(row)`` turns a record number
    into a location a person can find in the original file.

    A header value is usually one scalar per batch. It may also be a ``pd.Series`` aligned
    with ``records`` when the batch spans several messages with headers of their own (EDIFACT
    reads many messages per batch): validation then checks it per record, and ``copy_header``
    copies it as a column.
    """

    header: Mapping[str, Any]
    records: pd.DataFrame
    locate: Callable[[int], str] = _default_locate
    notes: tuple[str, ...] = ()  # warnings worth reporting that are not errors
    source_rows: Any = None  # format-specific originals, for splitting out invalid records
    #: EDI envelope identity (sender, recipient, control reference): the pipeline refuses an
    #: interchange the ledger has already seen on this route.
    interchange: tuple[str, str, str] | None = None

    def with_records(self, records: pd.DataFrame, **changes: Any) -> Document:
        return Document(
            header=changes.get("header", self.header),
            records=records,
            locate=self.locate,
            notes=self.notes,
            source_rows=self.source_rows,
            interchange=self.interchange,
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a target made durable for one file."""

    target: str  # URI of the output (file:///srv/outbox/x.json, sftp://..., https://...)
    records: int
    size: int = 0
    sha256: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


# -- what a run did ---------------------------------------------------------------------------


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"
    PENDING = "pending"
    LOST = "lost"  # its only copy is gone: ops must discard it or get it again
    FAILED = "failed"  # a bug: the file stays in the ledger as not delivered


@dataclass
class FileResult:
    file_id: int
    route: str
    name: str
    outcome: Outcome
    message: str
    outputs: list[str] = field(default_factory=list)
    records: int = 0


@dataclass
class RunSummary:
    results: list[FileResult] = field(default_factory=list)
    source_errors: dict[str, str] = field(default_factory=dict)
    config_errors: dict[str, str] = field(default_factory=dict)  # e.g. a key env var unset
    internal_errors: dict[str, str] = field(default_factory=dict)  # a bug in a route's poll

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def exit_code(self) -> int:
        """0 all delivered, 3 some quarantined, 4 some pending, 2 configuration, 1 a bug."""
        from tradelane.errors import exit_status

        return exit_status((r.outcome for r in self.results),
                           config_errors=bool(self.config_errors),
                           source_errors=bool(self.source_errors),
                           internal_errors=bool(self.internal_errors))
