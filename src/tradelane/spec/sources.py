"""Where a route's files come from, and when a file counts as completely written.

``SourceOptions`` are the readiness rules every kind of source shares (one policy applies them,
``sources/readiness.py``); each kind adds where its folder is. The built-in kinds are
registered here, beside their specs.
"""

from datetime import timedelta
from typing import Annotated, Literal, Self

from pydantic import (
    Field,
    model_validator,
)

from tradelane.registry import SOURCES, SourcePlugin
from tradelane.spec._base import Duration, Strict


class SourceOptions(Strict):
    """When a file in the source folder counts as completely written, and what happens to it
    after delivery. Shared by every kind of source."""

    kind: str = Field(..., description="Kind of source; implied by its own key (folder, sftp).")
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
        description="What happens to the original after delivery: archive (a copy of what was"
        " delivered is kept in archive/<route>/<date>/ and the original removed), move (into"
        " move_to, on the source itself), delete, or leave (the ledger alone prevents"
        " reprocessing).",
    )
    move_to: str | None = Field(None, description="Folder for after: move, on the source.")
    order: Literal["oldest", "name"] = Field(
        "oldest", description="Processing order within one poll: oldest mtime first, or by name."
    )
    max_size: int | None = Field(
        None, description="Reject files larger than this many bytes.", gt=0
    )

    @model_validator(mode="after")
    def _move_needs_a_folder(self) -> Self:
        if self.after == "move" and not self.move_to:
            raise ValueError("after: move needs 'move_to', the folder to move files into")
        plugin = SOURCES.get(self.kind)
        if self.after not in plugin.after:
            raise ValueError(f"a {self.kind} source cannot do after: {self.after} (it can do"
                             f" {', '.join(sorted(plugin.after))})")
        return self

    @property
    def plugin(self) -> SourcePlugin:
        return SOURCES.get(self.kind)

    @property
    def local_folder(self) -> str | None:
        """The folder on this host that a watcher can watch (kinds that are ``watchable``)."""
        return None


class FolderSource(SourceOptions):
    """A local (or mounted) folder."""

    kind: Literal["folder"] = "folder"
    folder: str = Field(
        ..., description="Local folder to poll, relative to the project root or absolute."
    )

    @property
    def local_folder(self) -> str:
        return self.folder


class SftpSource(SourceOptions):
    """A folder on a partner's SFTP server."""

    kind: Literal["sftp"] = "sftp"
    sftp: str = Field(..., description="Name of an SFTP connection in tradelane.yaml.")
    path: str = Field(..., description="Remote folder on the SFTP connection.")


class FtpSource(SourceOptions):
    """A folder on a partner's FTP or FTPS server."""

    kind: Literal["ftp"] = "ftp"
    ftp: str = Field(..., description="Name of an FTP connection in tradelane.yaml.")
    path: str = Field(..., description="Remote folder on the FTP connection.")


SOURCES.register(SourcePlugin("folder", FolderSource, "tradelane.sources.local:LocalSource",
                              local=True, watchable=True))
SOURCES.register(SourcePlugin("sftp", SftpSource, "tradelane.sources.sftp:SftpSource",
                              connection="sftp"))

SOURCES.register(SourcePlugin("ftp", FtpSource, "tradelane.sources.ftp:FtpSource",
                              connection="ftp"))

#: A route's ``source:``: validated against the spec model of its kind.
SourceSpec = Annotated[SourceOptions, SOURCES.annotation()]
