"""Fixtures for the serve tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from support.project import ProjectDir
from support.serving import Serve


@pytest.fixture
def serve(project: ProjectDir) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def start(*args: str) -> Serve:
        s = Serve(project, *args)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
