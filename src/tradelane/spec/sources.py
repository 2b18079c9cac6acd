"""Where a route's files come from, and when a file counts as completely written."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from tradelane.spec._base import Duration, Strict


class SourceSpec(Strict):
    """Where the route's files come from, and when a file counts as completely written."""

    folder: str | None = Field(
        None, description="Local folder to poll, relative to the project root or absolute."
    )
    sftp: str | None = Field(None, description="Name of an SFTP connection in tradelane.yaml.")
    path: str | None = Field(None, description="Remote folder on the SFTP connection.")
    pattern: str = Field("*", description="Glob that file names must match, e.g. 'ORD*.csv'.")
    ignore: list[str] = Field(
        default_factory=list,
        description="Extra globs to skip, on top of *.part, *.tmp, *.filepart and dot-files.",
    )
    min_age: Duration = Field(
        timedelta(seconds=5),
        description="Ignore files modified more recently: they may still be uploading.",
    )
    stable: bool = Field(
        False,
        description="Also require size and mtime unchanged across two listings min_age apart.",
    )
    done_marker: str | None = Field(
        None,
        description="Only take a file once this marker exists, e.g. '{name}.done' or '{stem}.ok'."
        " The marker is removed with the file.",
    )
    after: Literal["archive", "delete", "leave", "move"] = Field(
        "archive",
        description="What happens to the original after delivery: archive (local: into"
        " archive/<route>/<date>/), move (SFTP: into move_to), delete, or leave (the ledger"
        " alone prevents reprocessing).",
    )
    move_to: str | None = Field(None, description="Remote folder for after: move.")
    order: Literal["oldest", "name"] = Field(
        "oldest", description="Processing order within one poll: oldest mtime first, or by name."
    )
    max_size: int | None = Field(
        None, description="Reject files larger than this many bytes.", gt=0
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SourceSpec:
        if bool(self.folder) == bool(self.sftp):
            raise ValueError("give exactly one of 'folder' or 'sftp'")
        if self.sftp and not self.path:
            raise ValueError("an sftp source needs 'path', the remote folder")
        if self.after == "move" and not self.move_to:
            raise ValueError("after: move needs 'move_to', the folder to move files into")
        return self
