"""A quarantined file (possibly fixed by hand) as a one-file source, for reprocessing.

Its post-actions do nothing: once the file is delivered the pipeline moves the quarantined copy
to the archive (the ``release`` step), and a rejected copy simply stays in quarantine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from tradelane.abc import PostAction
from tradelane.errors import SourceUnavailable
from tradelane.models import Entry, FileRef
from tradelane.paths import FolderSyncs
from tradelane.sources.readiness import Listing
from tradelane.staging import Staged, stage_file

if TYPE_CHECKING:
    from tradelane.ledger import FileRecord


class QuarantinedCopy:
    """The file as it sits in quarantine (possibly fixed by hand), as a one-file source."""

    def __init__(self, path: Path):
        self.path = path
        self.uri = path.parent.as_uri()

    def __enter__(self) -> QuarantinedCopy:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def entries(self) -> list[Entry]:
        return []

    def list_ready(self) -> Listing:
        return Listing()

    def fetch(self, ref: FileRef, dest: Path) -> Staged:
        try:
            return stage_file(self.path, dest)
        except OSError as exc:
            raise SourceUnavailable(
                f"cannot read the quarantined file {self.path}: {exc.strerror or exc}") from exc

    def stat(self, ref: FileRef) -> Entry | None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return None
        return Entry(self.path.name, "file", st.st_size, st.st_mtime_ns)

    def remove(self, ref: FileRef) -> None:
        return None

    def move_to(self, ref: FileRef, folder: str, syncs: FolderSyncs | None = None) -> str:
        return str(self.path)

    def after_delivery(self, record: FileRecord, staged: Staged | None, archive_to: Path,
                       syncs: FolderSyncs | None = None) -> PostAction:
        return PostAction("kept in quarantine until it is released")

    def after_reject(self, record: FileRecord) -> PostAction:
        return PostAction("kept in quarantine")
