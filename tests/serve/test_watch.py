"""Folder watching with a real watchdog observer: events wake polls, readiness, fallbacks."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver

from support.project import ProjectDir
from tradelane.sources.watch import FolderWatcher, Waker, fs_type

ROUTE = """\
    source: {{folder: inbox/orders, pattern: "*.csv", min_age: {min_age}}}
    format: {{type: csv}}
    fields: {{a: {{source: A}}}}
    target: {{folder: outbox/orders}}
    watch: true
"""


class Wakes:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, route: str, why: str) -> None:
        with self.lock:
            self.calls.append((time.monotonic(), route, why))

    def wait(self, count: int, timeout: float = 5) -> list[tuple[float, str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.calls) >= count:
                    return list(self.calls)
            time.sleep(0.01)
        raise AssertionError(f"{len(self.calls)} wakes, wanted {count}: {self.calls}")


def watcher_for(project: ProjectDir, min_age: str = "0s", **kw: object
                ) -> tuple[FolderWatcher, Wakes, Path]:
    project.route("orders", ROUTE.format(min_age=min_age)).settings(
        "serve: {debounce: 100ms}\n")
    proj = project.load()
    wakes = Wakes()
    watcher = FolderWatcher(proj.settings, wakes, **kw)  # type: ignore[arg-type]
    watcher.add(proj.route("orders"))
    watcher.start()
    return watcher, wakes, project.root / "inbox" / "orders"


def test_a_new_file_wakes_its_route_within_the_debounce(project: ProjectDir) -> None:
    watcher, wakes, inbox = watcher_for(project)
    try:
        assert watcher.modes["orders"] == "inotify"
        landed = time.monotonic()
        (inbox / "A.csv").write_text("A\n1\n")
        at, route, why = wakes.wait(1)[0]
        assert route == "orders" and "A.csv" in why
        assert at - landed < 1.0
        (inbox / "ignored.txt").write_text("x")  # does not match the pattern
        (inbox / ".B.csv.part").write_text("x")  # a temp name
        time.sleep(0.4)
        assert len(wakes.calls) == 1
    finally:
        watcher.stop()


def test_a_burst_makes_few_wakes(project: ProjectDir) -> None:
    watcher, wakes, inbox = watcher_for(project)
    try:
        for i in range(500):
            (inbox / f"F{i}.csv").write_text("A\n1\n")
        time.sleep(0.5)
        assert 1 <= len(wakes.calls) < 50  # a few per debounce slot, not one per file
    finally:
        watcher.stop()


def test_a_file_moved_in_wakes_and_one_moved_out_does_not(project: ProjectDir,
                                                          tmp_path: Path) -> None:
    watcher, wakes, inbox = watcher_for(project)
    try:
        outside = tmp_path / "upload.csv"
        outside.write_text("A\n1\n")
        os.rename(outside, inbox / "upload.csv")
        wakes.wait(1)
        time.sleep(0.3)
        before = len(wakes.calls)
        os.rename(inbox / "upload.csv", tmp_path / "archived.csv")
        time.sleep(0.4)
        assert len(wakes.calls) == before
    finally:
        watcher.stop()


def test_min_age_schedules_a_second_wake_once_the_file_can_be_ready(
        project: ProjectDir) -> None:
    watcher, wakes, inbox = watcher_for(project, min_age="1s")
    try:
        landed = time.monotonic()
        (inbox / "A.csv").write_text("A\n1\n")
        calls = wakes.wait(2, timeout=5)
        assert calls[0][0] - landed < 0.5
        assert calls[1][0] - landed >= 1.0 and "ready" in calls[1][2]
    finally:
        watcher.stop()


def test_network_mount_falls_back_to_polling(project: ProjectDir, tmp_path: Path) -> None:
    inbox = project.root / "inbox" / "orders"
    inbox.mkdir(parents=True)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\n"
                      f"srv:/export {project.root / 'inbox'} nfs4 rw 0 0\n")
    watcher, wakes, inbox = watcher_for(project, mounts=mounts)
    try:
        assert watcher.modes["orders"].startswith("polling: ")
        assert "nfs4" in watcher.modes["orders"]
        (inbox / "A.csv").write_text("A\n1\n")
        wakes.wait(1, timeout=5)  # the polling observer still sees it
    finally:
        watcher.stop()


def test_inotify_limit_falls_back_to_polling(project: ProjectDir) -> None:
    class Exhausted(BaseObserver):
        def __init__(self) -> None:
            super().__init__(emitter_class=object)  # type: ignore[arg-type]

        def schedule(self, *args: object, **kw: object) -> object:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    watcher, wakes, inbox = watcher_for(project, observer_factory=Exhausted)
    try:
        assert "max_user_watches" in watcher.modes["orders"]
        (inbox / "A.csv").write_text("A\n1\n")
        wakes.wait(1, timeout=5)
    finally:
        watcher.stop()


def test_fs_type_picks_the_longest_mount_point(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/sda1 / ext4 rw 0 0\n"
                      "//nas/share /mnt/partner\\040files cifs rw 0 0\n")
    assert fs_type(Path("/mnt/partner files/acme"), mounts) == "cifs"
    assert fs_type(Path("/mnt/partner"), mounts) == "ext4"
    assert fs_type(Path("/tmp"), tmp_path / "missing") is None


@pytest.mark.parametrize("delay", [0.0, 0.2])
def test_waker_deduplicates_requests_in_one_slot(delay: float) -> None:
    wakes = Wakes()
    waker = Waker(wakes, grid=0.1)
    waker.start()
    try:
        for _ in range(100):
            waker.request("r", delay, "event")
        wakes.wait(1)
        time.sleep(0.3)
        assert len(wakes.calls) <= 2  # the requests straddle at most two slots
    finally:
        waker.stop()
