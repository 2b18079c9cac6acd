"""Start-up of the ``tradelane`` command (issue 19): what a cron's empty ``run --once`` loads,
that the command Typer builds alone behaves as in the whole app, and the alerts' partial
unique index, now declared in the migrations only."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir, copy_partners
from tradelane.ledger import Ledger
from tradelane.ledger.alerts import Incidents
from tradelane.spec import load_project

REPO = Path(__file__).resolve().parents[1]

#: Never needed by a pass that finds nothing to do, once its mappings' paths were checked.
NOT_FOR_AN_EMPTY_RUN = {
    "pandas", "pyarrow", "numpy", "polars", "paramiko", "httpx", "fastapi", "starlette",
    "jinja2", "uvicorn", "lxml", "pydifact", "jsonschema", "saxonche", "duckdb",
    "alembic",  # the ledger is at the newest revision: its version row says so
    "sqlalchemy.dialects.postgresql",  # the ledger is SQLite
    "rich",  # one plain line to a pipe (cli.output.LazyConsole): rich would add nothing
    "multiprocessing", "ctypes",  # worker processes: for a route with workers and files
    "tradelane.pipeline", "tradelane.formats", "tradelane.targets.folder",
    # the console's users and sessions, the outbox's batches: their tables are declared when
    # the ledger's ``metadata`` is asked for (migrations), not by a pass
    "tradelane.ledger.users", "tradelane.ledger.sessions", "tradelane.ledger.outbox",
    "tradelane.spec.reference",  # the option reference: for a mapping with an unknown key
}

_PROBE = """
import atexit, gc, sys
watched = {watched!r}
def report():
    sys.stderr.write("LOADED %r\\n" % sorted(set(watched) & set(sys.modules)))
    sys.stderr.write("GC %r %r\\n" % (gc.isenabled(), gc.get_freeze_count() > 0))
atexit.register(report)
sys.argv = ["tradelane", *{argv!r}]
from tradelane.cli import app  # what the installed ``tradelane`` script runs
sys.exit(app())
"""


def _tradelane(argv: list[str], cwd: Path, env: dict[str, str],
               watched: set[str] = frozenset()) -> tuple[int, str, list[str], str]:
    """Exit status, output, the ``watched`` modules loaded and the collector's state at exit
    of a whole ``tradelane ARGV`` process, started as the console script starts it."""
    done = subprocess.run([sys.executable, "-c", _PROBE.format(watched=sorted(watched),
                                                               argv=argv)],
                          cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, **env})
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED ")]
    gc = [line for line in done.stderr.splitlines() if line.startswith("GC ")]
    assert len(loaded) == 1 and len(gc) == 1, done.stderr
    return (done.returncode, done.stdout + done.stderr,
            ast.literal_eval(loaded[0].removeprefix("LOADED ")), gc[0])


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The demo's settings and mappings, every inbox there and empty, and a verdict cache
    of the test's own."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "tradelane.yaml", root / "tradelane.yaml")
    shutil.copytree(REPO / "mappings", root / "mappings")
    copy_partners(root)
    project = load_project(root, isolate=True)
    for route in project.routes.values():
        project.settings.path(route.source.folder).mkdir(parents=True, exist_ok=True)
    return root, {"TRADELANE_CACHE": str(tmp_path / "cache")}


def test_an_empty_run_loads_only_the_ledger_and_collects_again_after_start_up(
        demo: tuple[Path, dict[str, str]]) -> None:
    root, env = demo
    _tradelane(["run", "--once"], root, env)  # checks the mappings' paths, remembers them
    status, output, loaded, gc = _tradelane(["run", "--once"], root, env,
                                            NOT_FOR_AN_EMPTY_RUN | {"sqlalchemy"})
    assert status == 0 and "Nothing to do" in output, output
    assert loaded == ["sqlalchemy"], output
    # paused while the command started, then on again, start-up's objects set aside
    assert gc == "GC True True", output


def test_the_edifact_directories_load_only_for_a_route_that_names_one(
        demo: tuple[Path, dict[str, str]]) -> None:
    """The directories' index is read to check a route's ``format.directory``; a project
    without one (the demo less its two EANCOM routes) never loads them, nor does ``tradelane
    --help``, which lists the ``edi`` commands."""
    root, env = demo
    for name in ("eancom_invoic.yaml", "edifact_desadv.yaml"):
        (root / "mappings" / name).unlink()
    _tradelane(["run", "--once"], root, env)
    status, output, loaded, _ = _tradelane(["run", "--once"], root, env,
                                           {"tradelane.edi.directory"})
    assert status == 0 and "Nothing to do" in output, output
    assert loaded == [], output
    status, output, loaded, _ = _tradelane(["--help"], root, env, {"tradelane.edi.directory"})
    assert status == 0 and "edi" in output and loaded == [], output


#: A CSV route that reads and writes no interchange needs none of the EDI code.
NOT_FOR_A_CSV_ROUTE = {
    "pandas", "lxml", "pydifact", "tradelane.formats.ack_reading",
    "tradelane.formats.edifact_envelope", "tradelane.formats.edifact_syntax",
    "tradelane.formats.x12", "tradelane.edi.directory",
}


def test_a_csv_file_through_a_csv_route_loads_no_edi_reader_nor_pandas(
        project: ProjectDir, tmp_path: Path) -> None:
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "a.csv", GOOD_CSV)
    status, output, loaded, _ = _tradelane(
        ["run", "--once"], project.root, {"TRADELANE_CACHE": str(tmp_path / "cache")},
        NOT_FOR_A_CSV_ROUTE)
    assert status == 0 and (project.root / "outbox" / "orders" / "a.json").exists(), output
    assert loaded == [], output


def test_the_version_is_one_plain_line_without_rich(demo: tuple[Path, dict[str, str]]) -> None:
    root, env = demo
    status, output, loaded, _ = _tradelane(["--version"], root, env, {"rich", "sqlalchemy"})
    assert status == 0 and output.splitlines()[0].startswith("tradelane "), output
    assert loaded == [], output


@pytest.mark.parametrize("text", ["Nothing to do: no file is ready.", "tradelane 0.1.0",
                                  "[bold]not markup[/] :smile: 1,234 'x' https://e.org/a",
                                  "a long line " * 10])
def test_a_line_to_a_pipe_is_what_rich_writes_there(
        text: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from tradelane.cli.output import LazyConsole

    for hint in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS"):
        monkeypatch.delenv(hint, raising=False)
    LazyConsole().line(text)
    LazyConsole(stderr=True).line(text, highlight=False)
    out, err = capsys.readouterr()
    Console().print(text, markup=False, emoji=False)  # rich itself, to the same pipe
    Console(stderr=True).print(text, markup=False, emoji=False, highlight=False)
    assert capsys.readouterr() == (out, err)
    assert out.startswith(text.split()[0])


@pytest.mark.parametrize("argv", [["spec"], ["edi", "describe", "ORDERS", "--directory", "D96A"]])
def test_commands_that_load_no_project_collect_garbage_as_usual(
        argv: list[str], demo: tuple[Path, dict[str, str]]) -> None:
    root, env = demo
    status, output, _, gc = _tradelane(argv, root, env)
    assert status == 0, output
    assert gc == "GC True True", output


def test_the_command_built_alone_behaves_as_in_the_whole_app(
        demo: tuple[Path, dict[str, str]]) -> None:
    """Only the named command (or group) is built; help, errors and groups are unchanged."""
    root, env = demo
    status, output, _, _ = _tradelane(["run", "--help"], root, env)
    assert status == 0 and "Usage: tradelane run [OPTIONS]" in output and "--once" in output
    status, output, _, _ = _tradelane(["run", "--nope"], root, env)
    assert status == 2 and "No such option" in output, output
    status, output, _, _ = _tradelane(["quarantine", "list"], root, env)
    assert status == 0 and "The quarantine is empty" in output, output
    status, output, _, _ = _tradelane(["quarantine", "nope"], root, env)
    assert status == 2 and "No such command" in output, output
    status, output, _, _ = _tradelane(["--help"], root, env)
    assert status == 0 and all(name in output for name in ("run", "quarantine", "serve",
                                                           "history", "status")), output
    status, output, _, _ = _tradelane(["nope"], root, env)
    assert status == 2 and "No such command" in output, output


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("pg_url")


def test_an_incident_is_open_once_and_opens_again_after_it_was_resolved(
        ledger_url: str) -> None:
    """The unique index on alerts.key holds for open incidents only (the migrations' partial
    index, which tables.py no longer repeats for PostgreSQL)."""
    with Ledger(ledger_url) as ledger:
        incidents = Incidents(ledger)
        assert incidents.open("unreachable:orders", "unreachable", "down", route="orders")
        assert not incidents.open("unreachable:orders", "unreachable", "down", route="orders")
        assert [i.key for i in incidents.resolve_others("unreachable", set())] == [
            "unreachable:orders"]
        assert incidents.open("unreachable:orders", "unreachable", "down again",
                              route="orders")
        assert [i.message for i in incidents.open_incidents()] == ["down again"]
