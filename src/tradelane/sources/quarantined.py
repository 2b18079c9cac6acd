"""A quarantined file (possibly fixed by hand) as a one-file source, for reprocessing."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from tradelane.errors import SourceUnavailable
from tradelane.models import FileRef


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

    def fetch(self, ref: FileRef, dest: Path) -> str:
        if not self.path.exists():
            raise SourceUnavailable(f"the quarantined file {self.path} is missing")
        shutil.copyfile(self.path, dest)
        return hashlib.sha256(dest.read_bytes()).hexdigest()

    def finish(self, ref: FileRef, action: str, archive_to: str | None = None) -> None:
        return None
