"""Folder watching for ``watch: true`` routes. Events only *wake* a poll of the route.

The periodic rescan stays the source of truth: events get lost (inotify queue overflow,
network mounts, files that landed before start-up), and a poll finds those files anyway.

inotify is used where it works. A folder on a network file system (NFS, SMB, sshfs, ...)
does not report other machines' writes through inotify, and a full inotify watch table
makes watching fail: both fall back to watchdog's ``PollingObserver``, with the reason logged.

A file that just landed is not ready until it is ``min_age`` old, so each event wakes the
route twice: soon (``debounce``), and once the file can be ready (after ``min_age``). Wake
times are rounded up to a ``debounce`` grid, so a burst of events makes one wake per slot.
"""

from __future__ import annotations

import errno
import heapq
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from tradelane.sources.readiness import Readiness
from tradelane.spec import RouteSpec, Settings

log = logging.getLogger("tradelane.watch")

#: File systems whose changes inotify does not see (or sees only for local writers).
NETWORK_FS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre",
    "davfs", "fuse.sshfs", "fuse.glusterfs", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse",
    "fuse.cephfs", "fuse.davfs2",
})
#: Slack after min_age before the second wake (mtime granularity, clock steps).
_READY_SLACK = 0.05


def fs_type(path: Path, mounts: Path = Path("/proc/mounts")) -> str | None:
    """The file system type of the mount holding ``path`` (longest mount point wins)."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].encode().decode("unicode_escape")  # \040 is a space
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, parts[2]
    return kind


class Waker:
    """Calls ``wake(route, why)`` at requested times; one thread, requests deduplicated."""

    def __init__(self, wake: Callable[[str, str], None], grid: float):
        self._wake = wake
        self._grid = max(grid, 0.01)
        self._heap: list[tuple[float, str, str]] = []
        self._pending: set[tuple[float, str]] = set()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="watch-waker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self, route: str, delay: float, why: str) -> None:
        slot = math.ceil((time.monotonic() + delay) / self._grid) * self._grid
        with self._cond:
            if (slot, route) in self._pending:
                return
            self._pending.add((slot, route))
            heapq.heappush(self._heap, (slot, route, why))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (
                        not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                slot, route, why = heapq.heappop(self._heap)
                self._pending.discard((slot, route))
            self._wake(route, why)


class _Handler(FileSystemEventHandler):
    def __init__(self, route: RouteSpec, folder: Path, waker: Waker, debounce: float):
        self.route = route
        self.folder = str(folder)
        self.waker = waker
        self.debounce = debounce
        self.min_age = route.source.min_age.total_seconds()
        self.readiness = Readiness(route.source)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        path = event.dest_path if event.event_type == "moved" else event.src_path
        name = os.path.basename(os.fsdecode(path))
        if not (self.readiness.wanted(name) or self.readiness.is_marker(name)):
            return
        if os.path.dirname(os.fsdecode(path)) != self.folder:
            return  # moved out of the folder (our own archiving): nothing new here
        self.waker.request(self.route.name, self.debounce, f"{event.event_type} {name}")
        if self.min_age > 0:
            self.waker.request(self.route.name, self.min_age + _READY_SLACK,
                               f"{name} ready (min_age)")



class FolderWatcher:
    """Watches the source folders of ``watch: true`` routes and wakes their polls."""

    def __init__(self, settings: Settings, wake: Callable[[str, str], None], *,
                 observer_factory: Callable[[], BaseObserver] = Observer,
                 mounts: Path = Path("/proc/mounts")):
        self.settings = settings
        self.debounce = settings.serve.debounce.total_seconds()
        self.waker = Waker(wake, self.debounce)
        self._observer_factory = observer_factory
        self._mounts = mounts
        self._native: BaseObserver | None = None
        self._polling: BaseObserver | None = None
        self.modes: dict[str, str] = {}

    def add(self, route: RouteSpec) -> str:
        """Watch the route's folder; return how ('inotify' or 'polling: <why>')."""
        assert route.source.local_folder
        folder = self.settings.path(route.source.local_folder).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        handler = _Handler(route, folder, self.waker, self.debounce)
        kind = fs_type(folder, self._mounts)
        why = None
        if kind in NETWORK_FS:
            why = f"{folder} is on a network file system ({kind})"
        else:
            try:
                if self._native is None:
                    self._native = self._observer_factory()
                    self._native.start()
                self._native.schedule(handler, str(folder), recursive=False)
            except OSError as exc:
                why = _inotify_trouble(exc)
        if why:
            if self._polling is None:
                self._polling = PollingObserver(timeout=max(self.debounce, 0.5))
                self._polling.start()
            self._polling.schedule(handler, str(folder), recursive=False)
            log.warning("route %s: watching %s by polling: %s", route.name, folder, why,
                        extra={"route": route.name})
            mode = f"polling: {why}"
        else:
            mode = "inotify"
        self.modes[route.name] = mode
        return mode

    def start(self) -> None:
        self.waker.start()

    def stop(self) -> None:
        self.waker.stop()
        for observer in (self._native, self._polling):
            if observer is not None:
                observer.stop()
        for observer in (self._native, self._polling):
            if observer is not None and observer.is_alive():
                observer.join(timeout=2)


def _inotify_trouble(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return ("the inotify watch limit is reached (raise fs.inotify.max_user_watches, "
                "e.g. sysctl fs.inotify.max_user_watches=524288)")
    if exc.errno == errno.EMFILE:
        return ("the inotify instance limit is reached (raise "
                "fs.inotify.max_user_instances)")
    return f"inotify failed: {exc.strerror or exc}"
