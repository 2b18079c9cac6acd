"""Frozen value types passed between the stages of the pipeline."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


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
    """One batch of a parsed file: header fields plus an Arrow table of records.

    ``records`` has one column per field of the route (raw strings after reading, typed values
    after validation, the output columns after transform).

    ``numbers`` holds each row's record number: its 0-based position in the whole file, so a
    file read in several batches keeps stable numbers, and rows left out (``on_invalid:
    split``) do not renumber the others. It defaults to 0..n-1, a file read in one batch.
    ``locate(number)`` turns a record number into a location a person can find in the
    original file.

    A header value is usually one scalar per batch. It may also be a ``pa.Array`` aligned
    with ``records`` when the batch spans several messages with headers of their own (EDIFACT
    reads many messages per batch): validation then checks it per record, and ``copy_header``
    copies it as a column.

    ``failed`` are messages the reader isolated (EDIFACT ``isolate_messages``): each has an
    ``issue`` and a ``message``, is quarantined whole and never mapped. ``units`` gives each
    record the unit it belongs to (EDI: its message number), when a unit goes whole or not
    at all; None means every record stands alone.
    """

    header: Mapping[str, Any]
    records: pa.Table
    locate: Callable[[int], str] = _default_locate
    notes: tuple[str, ...] = ()  # warnings worth reporting that are not errors
    source_rows: Any = None  # format-specific originals, for splitting out invalid records
    #: EDI envelope identity (sender, recipient, control reference): the pipeline refuses an
    #: interchange the ledger has already seen on this route.
    interchange: tuple[str, str, str] | None = None
    numbers: np.ndarray | None = None  # never None once built: see __post_init__
    failed: tuple[Any, ...] = ()
    units: np.ndarray | None = None
    #: Where the interchange starts in the file (its header's segment, 1-based): tells the
    #: batches of one interchange from a repeat of it with the same ``interchange`` key.
    interchange_segment: int | None = None
    #: Control references of the batch's units (EDI messages, transaction sets), kept in the
    #: ledger history with their interchange.
    unit_refs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rows = self.records.num_rows
        if self.numbers is None:
            import numpy

            object.__setattr__(self, "numbers", numpy.arange(rows, dtype=numpy.int64))
        elif len(self.numbers) != rows:  # a bug in a reader or transform: fail loudly
            raise ValueError(f"{len(self.numbers)} record numbers for {rows} records")

    def with_records(self, records: pa.Table, numbers: np.ndarray | None = None,
                     **changes: Any) -> Document:
        """The same document with other records (and their numbers: by default the same)."""
        return replace(self, records=records,
                       numbers=self.numbers if numbers is None else numbers, **changes)

    def filter(self, keep: np.ndarray) -> Document:
        """Only the rows where ``keep`` is True, with their numbers, header columns and
        units."""
        import pyarrow as pa

        mask = pa.array(keep, pa.bool_())
        header = {k: v.filter(mask) if isinstance(v, pa.Array) else v
                  for k, v in self.header.items()}
        assert self.numbers is not None
        return replace(self, records=self.records.filter(mask), numbers=self.numbers[keep],
                       header=header, units=None if self.units is None else self.units[keep])


def records_table(columns: Mapping[str, pa.Array | pa.ChunkedArray], rows: int) -> pa.Table:
    """A table of ``columns``, all ``rows`` long; it keeps its length with no column at all
    (a route whose fields are all header fields)."""
    import pyarrow as pa

    if columns:
        return pa.Table.from_arrays(list(columns.values()), names=list(columns))
    return pa.Table.from_arrays([pa.nulls(rows)], names=["_"]).drop_columns(["_"])


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
    #: records split out of a delivered file into quarantine (on_invalid: split)
    split_out: int = 0


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
        """0 all delivered, 3 some quarantined, 4 some pending, 1 a bug; 2 only when the
        failures are all configuration errors (a disabled route must not hide the
        quarantines of the routes that ran)."""
        from tradelane.errors import EXIT_CONFIG, EXIT_OK, exit_status

        # records split out into quarantine count as a quarantine: someone must look
        outcomes = [r.outcome for r in self.results]
        outcomes += [Outcome.QUARANTINED for r in self.results if r.split_out]
        code = exit_status(outcomes,
                           source_errors=bool(self.source_errors),
                           internal_errors=bool(self.internal_errors))
        return EXIT_CONFIG if code == EXIT_OK and self.config_errors else code
