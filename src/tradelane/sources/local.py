"""A local (or mounted) folder as a source."""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import time
from pathlib import Path

from tradelane.errors import SourceUnavailable
from tradelane.models import FileRef
from tradelane.paths import (
    FolderSyncs,
    is_temp_name,
    move_durably,
    split_name,
)
from tradelane.spec import RouteSpec, Settings
from tradelane.staging import Staged, stage_file

log = logging.getLogger(__name__)


class LocalSource:
    def __init__(self, route: RouteSpec, settings: Settings):
        assert route.source.folder
        self.route = route
        self.spec = route.source
        self.folder = settings.path(route.source.folder).resolve()
        self.uri = self.folder.as_uri()
        self._last_seen: dict[str, tuple[int, int]] = {}

    def __enter__(self) -> LocalSource:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def list_ready(self) -> list[FileRef]:
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            raise SourceUnavailable(f"folder {self.folder} does not exist") from None
        except OSError as exc:
            raise SourceUnavailable(f"cannot list {self.folder}: {exc.strerror}") from exc
        names = {e.name for e in entries}
        now_ns = time.time_ns()
        min_age_ns = int(self.spec.min_age.total_seconds() * 1e9)
        seen: dict[str, tuple[int, int]] = {}
        ready: list[FileRef] = []
        for entry in entries:
            name = entry.name
            if not self._wanted(name):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # vanished between listing and stat: next poll sees the truth
            seen[name] = (st.st_size, st.st_mtime_ns)
            if now_ns - st.st_mtime_ns < min_age_ns:
                continue
            if self.spec.stable and self._last_seen.get(name) != seen[name]:
                continue
            if self.spec.done_marker and self._marker(name) not in names:
                continue
            ready.append(FileRef(self.route.name, self.uri, name, st.st_size, st.st_mtime_ns))
        self._last_seen = seen
        if self.spec.order == "name":
            return sorted(ready, key=lambda r: r.name)
        return sorted(ready, key=lambda r: (r.mtime_ns, r.name))

    def fetch(self, ref: FileRef, dest: Path) -> Staged:
        try:
            return stage_file(self.folder / ref.name, dest)
        except OSError as exc:
            raise SourceUnavailable(f"cannot read {ref.name}: {exc.strerror or exc}") from exc

    def finish(self, ref: FileRef, action: str, archive_to: str | None = None,
               syncs: FolderSyncs | None = None) -> None:
        path = self.folder / ref.name
        try:
            if action == "delete":
                path.unlink(missing_ok=True)
            elif action == "archive" and archive_to:  # the engine's archive: a full file path
                move_durably(path, Path(archive_to), syncs)
            elif action == "move" and archive_to:  # the route's move_to folder, name kept
                move_durably(path, _free_name(self._resolve(archive_to) / ref.name,
                                              ref.mtime_ns), syncs)
            if action != "leave" and self.spec.done_marker:
                with contextlib.suppress(FileNotFoundError):
                    (self.folder / self._marker(ref.name)).unlink()
        except OSError as exc:
            raise SourceUnavailable(
                f"cannot {action} {ref.name} in {self.folder}: {exc.strerror or exc}"
            ) from exc

    def _resolve(self, folder: str) -> Path:
        path = Path(folder)
        return path if path.is_absolute() else self.folder.parent / path

    def _wanted(self, name: str) -> bool:
        if is_temp_name(name) or not fnmatch.fnmatchcase(name, self.spec.pattern):
            return False
        if self.spec.done_marker and self._is_marker(name):
            return False
        return not any(fnmatch.fnmatchcase(name, pat) for pat in self.spec.ignore)

    def _marker(self, name: str) -> str:
        assert self.spec.done_marker
        stem, _ = split_name(name)
        return self.spec.done_marker.format(name=name, stem=stem)

    def _is_marker(self, name: str) -> bool:
        template = self.spec.done_marker or ""
        suffix = template.replace("{name}", "").replace("{stem}", "")
        return bool(suffix) and name.endswith(suffix)


def _free_name(path: Path, mtime_ns: int) -> Path:
    """``path``, or beside it with the file's mtime in the name if that is taken."""
    if not path.exists():
        return path
    stem, ext = split_name(path.name)
    return path.with_name(f"{stem}.{mtime_ns}{'.' + ext if ext else ''}")
