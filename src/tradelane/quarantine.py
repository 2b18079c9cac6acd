"""Quarantine: write the reason file first, then move the reject next to it.

Layout: ``quarantine/<route>/<YYYY-MM-DD>/<file id>-<safe name>`` plus
``<that name>.reason.json``. The ledger id in the name means two files with the same name on
different days (or the same day) never collide.
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tradelane.crashpoints import crash_point
from tradelane.errors import RejectError
from tradelane.ledger import FileRecord, clip, utcnow
from tradelane.models import Issue
from tradelane.paths import FolderSyncs, atomic_writer, move_durably, safe_component
from tradelane.staging import Staged

REASON_SUFFIX = ".reason.json"
#: A reason file stays small whatever the file holds: each text is cut (saying how long it
#: was), and the lists are capped (``error_count`` keeps the true number of problems).
MAX_FIELD, MAX_NOTES = 1000, 20


def quarantine_path(root: Path, record: FileRecord, *, name: str | None = None) -> Path:
    """Where a file goes in quarantine: by the day it was received, so that a retry after a
    crash (on another day) puts it in the same place."""
    day = record.received_at.strftime("%Y-%m-%d")
    return root / record.route / day / (name or f"{record.id}-{safe_component(record.name)}")


def reason_path(quarantined: Path) -> Path:
    return quarantined.with_name(quarantined.name + REASON_SUFFIX)


def build_reason(record: FileRecord, error: RejectError, *, mapping_version: str,
                 max_errors: int, notes: Sequence[str] = ()) -> dict[str, Any]:
    """The reason file's content: what is wrong, where, and the command to run after a fix."""
    issues: list[Issue] = error.issues[:max_errors]
    return {
        "file_id": record.id,
        "route": record.route,
        "original_name": record.name,
        "source": record.ref.uri,
        "sha256": record.sha256,
        "size": record.size,
        "stage": error.stage,
        "message": clip(error.message, MAX_FIELD),
        "errors": [{k: clip(v, MAX_FIELD) for k, v in i.as_dict().items()} for i in issues],
        "error_count": error.error_count,
        "errors_shown": len(issues),
        "notes": [clip(n, MAX_FIELD) for n in notes[:MAX_NOTES]],
        "attempt": record.attempt,
        "received_at": record.received_at.isoformat(),
        "quarantined_at": utcnow().isoformat(),
        "mapping_version": mapping_version,
        "reprocess": f"tradelane quarantine reprocess {record.id}"
        + (" --force" if error.stage == "duplicate" else ""),
        **({"original_name_hex": record.raw_name.hex()} if record.raw_name is not None else {}),
    }


def quarantine(staged: Staged, dest: Path, reason: dict[str, Any]) -> Path:
    """Write ``dest``'s reason file, then put the file's snapshot at ``dest``. If the file
    cannot be put there (a full or read-only disk), the reason file goes too: a reason never
    sits without its file."""
    write_reason(dest, reason)
    crash_point("reason-written")
    try:
        staged.keep(dest)
    except BaseException:
        reason_path(dest).unlink(missing_ok=True)
        raise
    return dest


def write_reason(quarantined: Path, reason: dict[str, Any]) -> None:
    with atomic_writer(reason_path(quarantined)) as fh:
        fh.write(json.dumps(reason, indent=2, ensure_ascii=False).encode("utf-8"))


def read_reason(quarantined: Path) -> dict[str, Any]:
    try:
        return json.loads(reason_path(quarantined).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


#: An edited copy sits next to the original as ``<original name>.edit-<sha256 prefix>``: the
#: name follows from the bytes, so writing it again after a crash writes the same file.
EDIT_MARK = ".edit-"
_EDITED = re.compile(r"\.edit-[0-9a-f]{12}$")


def edit_path(original: Path, data: bytes) -> Path:
    """Where the edited ``data`` of the quarantined ``original`` is kept."""
    return original.with_name(f"{original.name}{EDIT_MARK}{hashlib.sha256(data).hexdigest()[:12]}")


def original_of(copy: Path) -> Path:
    """The file as it came in, for a quarantined copy that may be an edit of it."""
    return copy.with_name(_EDITED.sub("", copy.name))


def kept_copies(copy: Path) -> list[Path]:
    """``copy`` and, when it is an edit, the original and its other edits (those on disk):
    what goes to the archive together when the file is given up. (An original is not
    searched for edits: listing a folder of thousands per file would make a bulk discard
    quadratic, and an edit the ledger never recorded, left by a crash, is not the file's.)"""
    original = original_of(copy)
    if original == copy:
        return [copy]
    edits = sorted(p for p in original.parent.glob(glob.escape(original.name) + EDIT_MARK + "*")
                   if _EDITED.search(p.name))
    return [copy] + [p for p in (original, *edits) if p != copy and p.is_file()]


def write_edit(original: Path, data: bytes) -> Path:
    """Keep ``data`` (a fix typed by ops) durably next to ``original``, which stays as it is.
    The ledger hears of it afterwards; a crash in between leaves an unused copy that the
    same edit, made again, writes over."""
    dest = edit_path(original, data)
    with atomic_writer(dest) as fh:
        fh.write(data)
    return dest


def release(quarantined: Path, archive_dir: Path, syncs: FolderSyncs | None = None) -> Path:
    """Move a quarantined file and its reason into ``archive_dir`` once it has been resolved
    (with ``syncs``, durable at its next flush: many files, one fsync per folder). An edit
    takes its original and the other edits along, those first: the copy itself goes last,
    so a step retried after a crash (it runs while the copy is there) finishes the rest."""
    _copy, *others = kept_copies(quarantined)
    for path in [*others, quarantined]:
        move_durably(path, archive_dir / path.name, syncs)
        reason = reason_path(path)
        if reason.exists():
            move_durably(reason, archive_dir / reason.name, syncs)
    return archive_dir / quarantined.name


class SplitPlaces:
    """Where the records split out of a file (``on_invalid: split``) were in the original,
    so that the rejects file's reason can point into the rejects file itself and still say
    where each record came from.

    ``inputs`` wraps the reader's batches, ``outputs`` the checked batches that go to the
    target: each input batch gives one output batch, and the record numbers missing from it
    are the ones split out, in the order the rejects file has them. Only the places the
    reason's errors name are kept (``wanted``), so memory stays bounded by the reason file.
    """

    def __init__(self, wanted: Callable[[], Iterable[Issue]]):
        self._wanted = wanted
        self._last: Any = None
        self.count = 0  # records split out so far
        self.index: dict[str, int] = {}  # original location -> position in the rejects

    def inputs(self, docs: Iterable[Any]) -> Iterator[Any]:
        for doc in docs:
            self._last = doc
            yield doc

    def outputs(self, batches: Iterable[Any]) -> Iterator[Any]:
        import numpy as np

        for out in batches:
            doc, self._last = self._last, None
            if doc is not None:
                gone = doc.numbers[~np.isin(doc.numbers, out.numbers)]
                if len(gone):
                    wanted = {i.location for i in self._wanted()}
                    for k, number in enumerate(gone.tolist(), start=self.count):
                        where = doc.locate(number)
                        if where in wanted:
                            self.index.setdefault(where, k)
                    self.count += len(gone)
            yield out

    def relocate(self, route: Any, data: bytes, errors: list[dict[str, Any]]) -> bool:
        """Point ``errors`` into the rejects file ``data`` (``original_location`` keeps the
        original's place). False, with ``errors`` untouched, when the rejects file does not
        hold the records counted (a hook dropped rows, a target refused some): then the
        original's places are all there is."""
        from tradelane.formats import reader_for

        wanted = {self.index[e["location"]] for e in errors if e["location"] in self.index}
        if not wanted:
            return False
        places: dict[int, str] = {}
        total = 0
        try:
            for doc in reader_for(route).read(Staged(size=len(data), data=data), route):
                total += doc.records.num_rows
                for number in doc.numbers.tolist():
                    if number in wanted:
                        places[number] = doc.locate(number)
        except RejectError:
            return False
        if total != self.count or len(places) != len(wanted):
            return False
        for error in errors:
            k = self.index.get(error["location"])
            if k is not None:
                error["original_location"] = error["location"]
                error["location"] = places[k]
        return True
