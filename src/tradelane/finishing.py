"""The steps after a delivery or a quarantine is recorded: each idempotent, each redone after
a crash.

The pipeline records these steps (``ledger.Followup``) in the very transaction that says
``delivered`` or ``quarantined``; then ``Finisher`` takes them, in order:

- ``split``: register the records split out of a delivered file (``on_invalid: split``) as a
  quarantined file of their own, and write its reason file. The rejects file itself was made
  durable, at a name derived from the parent, before the delivery was recorded.
- ``ack``: write a CONTRL or 997 (its bytes are in the step); an identical file already there
  is the step done.
- ``sent`` / ``ack_received``: record an interchange an EDIFACT target sent, or the
  acknowledgements a file brought, in ``ledger.interchanges`` (idempotent inserts).
- ``original``: the route's ``after:`` on a delivered original (``Source.after_delivery``);
  recorded with the file's move to ``archived``.
- ``reject_original``: take a quarantined file's original out of the inbox
  (``Source.after_reject``).
- ``release``: a delivered reprocess attempt's quarantine copy goes to the archive.

Events about the outcome (``events:``) are not steps: they wait in ``event_outbox`` and are
published after the steps, and on every poll, without holding up the file (``events``).

A step that fails (a full disk, a server that is down) stays recorded, raises an alert once,
and is tried again on the next poll; the file is never processed again meanwhile.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tradelane.crashpoints import crash_point
from tradelane.errors import TradelaneError, TransientError
from tradelane.events.publishing import publish_due
from tradelane.ledger import FileRecord, Followup, Move, clip
from tradelane.ledger.alerts import Incidents
from tradelane.ledger.followups import Followups, Step
from tradelane.models import FileRef, FileState
from tradelane.paths import FolderSyncs, atomic_writer, sha256_of
from tradelane.quarantine import release, write_reason

if TYPE_CHECKING:
    from tradelane.abc import Source
    from tradelane.ledger import Ledger
    from tradelane.ledger.busy import Busy
    from tradelane.staging import Staged

log = logging.getLogger("tradelane")


@dataclass
class Finishing:
    """One file's steps, taken together with other files of a chunk."""

    record: FileRecord
    steps: list[Step]
    staged: Staged | None = None  # the snapshot, when the file is still in hand
    done: list[Step] = field(default_factory=list)
    move: Move | None = None  # the state change the steps complete, if any
    failed: str | None = None


class Finisher:
    """Takes recorded follow-up steps for a route, with its open source."""

    def __init__(self, ledger: Ledger, source: Source):
        self.ledger = ledger
        self.source = source
        self.followups = Followups(ledger)
        self.incidents = Incidents(ledger)

    def finish(self, items: Sequence[Finishing]) -> list[Finishing]:
        """Take every step of ``items`` in order (a file stops at its first failing step);
        record the steps done and the state changes they complete in one transaction."""
        syncs = FolderSyncs()
        for item in items:
            for step in item.steps:
                try:
                    self._take(item, step, syncs)
                except (TradelaneError, OSError) as exc:
                    self._failed(item, step, exc)
                    break
                item.done.append(step)
        try:
            syncs.flush()
        except OSError as exc:  # the archive renames are not durable: they are redone
            for item in items:
                if item.move is not None:
                    original = next(s for s in item.done if s.step in ("original", "release"))
                    item.done.remove(original)
                    item.move = None
                    self._failed(item, original, exc)
        moving = [i for i in items if i.move is not None]
        if moving:
            crash_point("original-moved")
        outcomes = self.followups.done([s for i in items for s in i.done],
                                       [i.move for i in moving if i.move is not None])
        for item, outcome in zip(moving, outcomes, strict=True):
            if isinstance(outcome, TradelaneError):
                log.warning("%s: %s", item.record.name, outcome)
        if moving:
            crash_point("archived-committed")
        publish_due(self.ledger, {i.record.route for i in items})  # events recorded with them
        return list(items)

    def recover(self, route: str, adopt: Callable[[FileRecord], list[Followup]],
                busy: Busy | None = None) -> list[Finishing]:
        """Steps left by a worker that stopped (or failed) after recording an outcome;
        ``adopt`` gives the steps of a delivered file that has none recorded. ``busy`` (what
        the pass found waiting) spares the queries of a route that has nothing waiting."""
        # events left waiting (a crash, a broker down)
        publish_due(self.ledger, [route], busy=busy.events if busy is not None else None)
        if busy is not None and route not in busy.followups:
            return []
        due = self.followups.take_due(route, adopt=adopt)
        if not due:
            return []
        for record, steps in due:
            log.info("finishing %s (file %d): %s left from an earlier run", record.name,
                     record.id, ", ".join(s.step for s in steps))
        return self.finish([Finishing(record, steps) for record, steps in due])

    # -- the steps ---------------------------------------------------------------------------

    def _take(self, item: Finishing, step: Step, syncs: FolderSyncs) -> None:
        take = getattr(self, f"_{step.step}")
        take(item, step, syncs)

    def _split(self, item: Finishing, step: Step, syncs: FolderSyncs) -> None:
        d = step.detail
        parent = item.record
        child = self.ledger.register(
            FileRef(parent.route, f"split:{parent.id}", d["name"], d["size"], parent.id),
            state=FileState.QUARANTINED, parent_id=parent.id,
            detail=f"{d['records']} invalid records split out of file {parent.id}",
            sha256=d["sha256"], mapping_version=d["mapping_version"], stage=d["stage"],
            error_count=d["error_count"], message=d["message"], path=d["path"])
        reason = json.loads(step.data or b"{}")
        reason.update(file_id=child.id, reprocess=f"tradelane quarantine reprocess {child.id}")
        write_reason(Path(d["path"]), reason)
        crash_point("split-written")

    def _ack(self, item: Finishing, step: Step, syncs: FolderSyncs) -> None:
        path = Path(step.detail["path"])
        data = step.data or b""
        if not _holds(path, data):
            with atomic_writer(path) as fh:
                fh.write(data)
            log.info("acknowledged %s: %s", item.record.name, path.name)
        crash_point("ack-written")

    def _sent(self, item: Finishing, step: Step, syncs: FolderSyncs) -> None:
        from tradelane.acks import record_sent

        record_sent(self.ledger, item.record, step.detail)
        crash_point("sent-recorded")

    def _ack_received(self, item: Finishing, step: Step, syncs: FolderSyncs) -> None:
        from tradelane.acks import record_received

        record_received(self.ledger, item.record, step.detail)
        crash_point("ack-recorded")

    def _original(self, item: Finishing, step: Step, syncs: FolderSyncs) -> None:
        record = item.record
        after = self.source.after_delivery(record, item.staged, Path(step.detail["archive_to"]),
                                           syncs)
        item.move = Move(record.id, (FileState.DELIVERED,), FileState.ARCHIVED,
                         f"original {after.done}",
                         fields={"path": str(after.kept) if after.kept else None},
                         fence=record.fence)

    def _reject_original(self, item: Finishing, step: Step, syncs: FolderSyncs) -> None:
        after = self.source.after_reject(item.record)
        self.ledger.note(item.record.id, f"original {after.done}")
        crash_point("rejected-original-gone")

    def _release(self, item: Finishing, step: Step, syncs: FolderSyncs) -> None:
        copy, archive = Path(step.detail["from"]), Path(step.detail["archive_dir"])
        kept = archive / copy.name
        if copy.exists():
            kept = release(copy, archive)
        item.move = Move(item.record.id, (FileState.DELIVERED,), FileState.ARCHIVED,
                         f"original archived to {kept}", fields={"path": str(kept)},
                         fence=item.record.fence)

    # -- failures ------------------------------------------------------------------------------

    def _failed(self, item: Finishing, step: Step, exc: BaseException) -> None:
        why = str(exc) if isinstance(exc, TradelaneError) else (
            f"{getattr(exc, 'strerror', None) or exc}")
        item.failed = why
        self.followups.failed(step, why)
        record = item.record
        what = {"split": "the records split out could not be recorded",
                "ack": "the acknowledgement could not be written",
                "sent": "the interchange sent could not be recorded",
                "ack_received": "the acknowledgement received could not be recorded",
                "original": "the original could not be archived/removed",
                "reject_original": "the original could not be removed from the inbox",
                "release": "the quarantined copy could not be archived"}.get(step.step, step.step)
        message = clip(f"{record.name} (file {record.id}): {what}: {why}; it is tried again on"
                       " the next poll, and the file is not processed again meanwhile", 500)
        if self.incidents.open(f"followup:{step.id}", "followup", message, route=record.route,
                               file_id=record.id):
            log.error("ALERT %s", message)
        if not isinstance(exc, TransientError | OSError):
            log.error("step %s of %s failed: %s", step.step, record.name, exc)


def _holds(path: Path, data: bytes) -> bool:
    """``path`` already holds exactly ``data`` (a step done before a crash)."""
    try:
        import hashlib

        return path.stat().st_size == len(data) and \
            sha256_of(path) == hashlib.sha256(data).hexdigest()
    except OSError:
        return False
