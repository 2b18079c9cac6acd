"""The one readiness policy: which listed entries are complete files to take now.

Every source lists its folder (``Source.entries``) and this policy decides, the same way for
local folders, SFTP and every later kind:

- temp names (``*.part``, ``*.tmp``, ``*.filepart``, dot-files) are never taken; ``pattern``
  must match and no ``ignore`` glob may; done markers themselves are not files to take;
- only regular files are read. A symlink, FIFO, device or socket whose name would be taken is
  *unusual*: the source never opens it, and the pipeline raises one alert for it;
- ``min_age``: the file's mtime (the server's clock) is at least that old;
- ``stable: true``: size and mtime unchanged for at least ``min_age`` across listings of
  this same policy object (for servers whose clock cannot be trusted), so the caller keeps
  one ``Readiness`` per route from poll to poll;
- ``done_marker``: a file is taken as soon as its marker exists, whatever its age (the marker
  says the upload is complete); a zero-byte file still waits ``min_age`` (the pipeline then
  quarantines it as empty), and ``stable`` still applies;
- ``order``: oldest mtime first (ties by name), or by name.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tradelane.models import Entry, FileRef
from tradelane.paths import is_temp_name, split_name
from tradelane.spec import SourceOptions

#: Entry kinds that are never read, only reported.
UNUSUAL = frozenset({"symlink", "fifo", "device", "socket", "other"})


@dataclass(frozen=True, slots=True)
class _Sighting:
    size: int
    mtime_ns: int
    since: float  # monotonic time of the first listing that showed this size and mtime


class Listing(list[FileRef]):
    """The files ready now, in processing order; ``unusual`` holds the entries that would
    have been taken had they been regular files (never read, reported once)."""

    def __init__(self, ready: Iterable[FileRef] = (), unusual: Iterable[Entry] = ()):
        super().__init__(ready)
        self.unusual: list[Entry] = list(unusual)


@dataclass
class Readiness:
    """Applies a route's ``source:`` readiness options to listings of its folder."""

    spec: SourceOptions
    clock: Callable[[], float] = time.monotonic  # for ``stable``
    wall: Callable[[], float] = time.time  # compared with mtimes, for ``min_age``
    _seen: dict[str, _Sighting] = field(default_factory=dict)

    def select(self, entries: Iterable[Entry], route: str, source: str) -> Listing:
        spec = self.spec
        entries = list(entries)
        names = {e.name for e in entries}
        markers = {self.marker(n) for n in names} if spec.done_marker else set()
        now, wall_ns = self.clock(), int(self.wall() * 1e9)
        min_age_ns = int(spec.min_age.total_seconds() * 1e9)
        ready: list[FileRef] = []
        unusual: list[Entry] = []
        for entry in entries:
            if entry.kind == "directory" or entry.name in markers \
                    or not self.wanted(entry.name):
                continue
            if entry.kind in UNUSUAL:
                unusual.append(entry)
                continue
            old_enough = wall_ns - entry.mtime_ns >= min_age_ns
            if spec.done_marker:
                ok = self.marker(entry.name) in names and (entry.size > 0 or old_enough)
            else:
                ok = old_enough
            if spec.stable:
                ok = self._unchanged(entry, now) and ok
            if ok:
                ready.append(entry.ref(route, source))
        for gone in self._seen.keys() - names:
            del self._seen[gone]
        if spec.order == "name":
            ready.sort(key=lambda r: r.name)
        else:
            ready.sort(key=lambda r: (r.mtime_ns, r.name))
        return Listing(ready, unusual)

    def wanted(self, name: str) -> bool:
        """The name is one this route takes (temp names, pattern, ignore, markers)."""
        spec = self.spec
        if is_temp_name(name) or not fnmatch.fnmatchcase(name, spec.pattern):
            return False
        if self.is_marker(name):
            return False
        return not any(fnmatch.fnmatchcase(name, pattern) for pattern in spec.ignore)

    def marker(self, name: str) -> str:
        """The done marker that belongs to ``name``."""
        assert self.spec.done_marker
        stem, _ = split_name(name)
        return self.spec.done_marker.format(name=name, stem=stem)

    def is_marker(self, name: str) -> bool:
        """``name`` has the shape of a done marker of this route."""
        template = self.spec.done_marker or ""
        suffix = template.replace("{name}", "").replace("{stem}", "")
        return bool(suffix) and name.endswith(suffix)

    def _unchanged(self, entry: Entry, now: float) -> bool:
        seen = self._seen.get(entry.name)
        if seen is None or (seen.size, seen.mtime_ns) != (entry.size, entry.mtime_ns):
            self._seen[entry.name] = _Sighting(entry.size, entry.mtime_ns, now)
            return False
        return now - seen.since >= self.spec.min_age.total_seconds()
