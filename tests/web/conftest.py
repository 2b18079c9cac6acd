"""A project with a quarantined CSV, and the ops console served by a real uvicorn."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from support.console import BAD_CSV, PASSWORD, LiveConsole, log_in
from support.project import CSV_ROUTE, ProjectDir
from tradelane.models import FileState


def _one_quarantined(project: ProjectDir) -> None:
    project.settings("console: {user: ops, bind: 127.0.0.1}\n")
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "orders_0412.csv", BAD_CSV)
    summary = project.run()
    assert [r.outcome for r in summary.results] == ["quarantined"]


@pytest.fixture(scope="session")
def thousand_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ops_project`` then 1,000 more bad files run into quarantine, made once: the run takes
    30-40 s under load, and each bulk test starts from a copy of it (see ``moved``)."""
    project = ProjectDir(tmp_path_factory.mktemp("thousand") / "project")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("TRADELANE_LEDGER_URL", raising=False)
        _one_quarantined(project)
        for i in range(1000):
            project.drop("orders", f"o_{i:04d}.csv", BAD_CSV.replace("PO-1", f"PO-{i + 10}"))
        project.run()
    return project.root


def moved(template: Path, root: Path) -> None:
    """A copy of the project ``template`` at ``root``, as if it had been made there: the
    ledger and the reasons name files by absolute path, so every mention is rewritten."""
    shutil.copytree(template, root, dirs_exist_ok=True)
    old, new = str(template), str(root)
    for reason in root.rglob("*.reason.json"):
        reason.write_text(reason.read_text().replace(old, new))
    with closing(sqlite3.connect(root / ".tradelane" / "ledger.db")) as db, db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in db.execute(f'PRAGMA table_info("{table}")').fetchall():
                name = column[1]
                db.execute(f'UPDATE "{table}" SET "{name}" = replace("{name}", ?, ?) '
                           f'WHERE typeof("{name}") = \'text\' AND instr("{name}", ?) > 0',
                           (old, new, old))


@pytest.fixture
def ops_project(project: ProjectDir, monkeypatch: pytest.MonkeyPatch,
                request: pytest.FixtureRequest) -> ProjectDir:
    """Route ``orders`` with one bad file in quarantine (file 1): row 2's qty is HTML."""
    monkeypatch.setenv("TRADELANE_CONSOLE_PASSWORD", PASSWORD)
    monkeypatch.delenv("TRADELANE_LEDGER_URL", raising=False)
    if "thousand" in request.fixturenames:
        # before the console starts on it (``live``): ``thousand``'s files come from a copy
        moved(request.getfixturevalue("thousand_template"), project.root)
    else:
        _one_quarantined(project)
    return project


@pytest.fixture
def thousand(ops_project: ProjectDir) -> ProjectDir:
    """``ops_project`` with 1,000 more files in quarantine (o_0000.csv ... o_0999.csv, files
    2-1001), copied from ``thousand_template`` by ``ops_project``."""
    with ops_project.ledger() as ledger:
        records = list(ledger.files())
    assert sum(r.state == FileState.QUARANTINED for r in records) == 1001
    # the test's own files, not the template's
    assert all(r.path and r.path.startswith(f"{ops_project.root}/") for r in records)
    return ops_project


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
