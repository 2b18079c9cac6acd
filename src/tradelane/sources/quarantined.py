"""A quarantined file (possibly fixed by hand) as a one-file source, for reprocessing."""

from __future__ import annotations

from pathlib import Path

from tradelane.errors import SourceUnavailable
from tradelane.models import FileRef
from tradelane.paths import FolderSyncs
from tradelane.staging import Staged, stage_file


class QuarantinedCopy:
    """The file as it sits in quarantine (possibly fixed by hand), as a one-file source."""

    def __init__(self, path: Path):
        self.path = path
        self.uri = path.parent.as_uri()

    def __enter__(self) -> QuarantinedCopy:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def list_ready(self) -> list[FileRef]:
        return []

    def fetch(self, ref: FileRef, dest: Path) -> Staged:
        try:
            return stage_file(self.path, dest)
        except OSError as exc:
            raise SourceUnavailable(
                f"cannot read the quarantined file {self.path}: {exc.strerror or exc}") from exc

    def finish(self, ref: FileRef, action: str, archive_to: str | None = None,
               syncs: FolderSyncs | None = None) -> None:
        return None
