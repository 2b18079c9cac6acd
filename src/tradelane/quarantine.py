"""Quarantine: write the reason file first, then move the reject next to it.

Layout: ``quarantine/<route>/<YYYY-MM-DD>/<file id>-<safe name>`` plus
``<that name>.reason.json``. The ledger id in the name means two files with the same name on
different days (or the same day) never collide.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tradelane.crashpoints import crash_point
from tradelane.errors import RejectError
from tradelane.ledger import FileRecord, utcnow
from tradelane.models import Issue
from tradelane.paths import atomic_writer, move_durably, safe_component
from tradelane.staging import Staged

REASON_SUFFIX = ".reason.json"


def quarantine_path(root: Path, record: FileRecord, when: datetime | None = None) -> Path:
    day = (when or utcnow()).strftime("%Y-%m-%d")
    return root / record.route / day / f"{record.id}-{safe_component(record.name)}"


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
        "message": error.message,
        "errors": [i.as_dict() for i in issues],
        "error_count": error.error_count,
        "errors_shown": len(issues),
        "notes": list(notes),
        "attempt": record.attempt,
        "received_at": record.received_at.isoformat(),
        "quarantined_at": utcnow().isoformat(),
        "mapping_version": mapping_version,
        "reprocess": f"tradelane quarantine reprocess {record.id}"
        + (" --force" if error.stage == "duplicate" else ""),
    }


def quarantine(staged: Staged, dest: Path, reason: dict[str, Any]) -> Path:
    """Write ``dest``'s reason file, then put the file's snapshot at ``dest``."""
    write_reason(dest, reason)
    crash_point("reason-written")
    staged.keep(dest)
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
