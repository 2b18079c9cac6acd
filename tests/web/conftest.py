"""A project with a quarantined CSV, and the ops console served by a real uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.console import BAD_CSV, PASSWORD, LiveConsole, log_in
from support.project import CSV_ROUTE, ProjectDir


@pytest.fixture
def ops_project(project: ProjectDir, monkeypatch: pytest.MonkeyPatch) -> ProjectDir:
    """Route ``orders`` with one bad file in quarantine (file 1): row 2's qty is HTML."""
    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.delenv("TRADELANE_LEDGER_URL", raising=False)
    project.settings("console: {user: ops, bind: 127.0.0.1}\n")
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "orders_0412.csv", BAD_CSV)
    summary = project.run()
    assert [r.outcome for r in summary.results] == ["quarantined"]
    return project


@pytest.fixture
def live(ops_project: ProjectDir) -> Iterator[LiveConsole]:
    server = LiveConsole(ops_project.root)
    yield server
    server.stop()


@pytest.fixture
def client(live: LiveConsole) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


@pytest.fixture
def ops(client: httpx.Client) -> httpx.Client:
    """A client logged in as the ops user."""
    response = log_in(client)
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return client


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_project(request: pytest.FixtureRequest, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> ProjectDir:
    """The ops project with one quarantined file, on each ledger backend."""
    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.delenv("TRADELANE_LEDGER_URL", raising=False)
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    project = ProjectDir(tmp_path / "ops", ledger_url=url)
    project.settings("console: {user: ops}\n" + (f"ledger: '{url}'\n" if url else ""))
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "orders_0412.csv", BAD_CSV)
    assert [r.outcome for r in project.run().results] == ["quarantined"]
    return project


@pytest.fixture
def backend_live(backend_project: ProjectDir) -> Iterator[LiveConsole]:
    server = LiveConsole(backend_project.root)
    yield server
    server.stop()
