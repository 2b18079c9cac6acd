"""Quarantine: write the reason file first, then move the reject next to it.

Layout: ``quarantine/<route>/<YYYY-MM-DD>/<file id>-<safe name>`` plus
``<that name>.reason.json``. The ledger id in the name means two files with the same name on
different days (or the same day) never collide.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tradelane.crashpoints import crash_point
from tradelane.errors import RejectError
from tradelane.ledger import FileRecord, clip, utcnow
from tradelane.models import Issue
from tradelane.paths import atomic_writer, move_durably, safe_component
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


def release(quarantined: Path, archive_dir: Path) -> Path:
    """Move a quarantined file and its reason into ``archive_dir`` once it has been resolved."""
    dest = move_durably(quarantined, archive_dir / quarantined.name)
    reason = reason_path(quarantined)
    if reason.exists():
        move_durably(reason, archive_dir / reason.name)
    return dest
