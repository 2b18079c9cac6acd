"""A pass that finds nothing costs the ledger almost nothing (issue 19): what waits is asked
once for every route (``ledger.busy.Busy``), the empty polls are recorded in one statement,
and a route with nothing waiting is never named in a query of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir
from tradelane.ledger import Ledger
from tradelane.models import Outcome
from tradelane.runner import Runner

ROUTES = [f"r{i:02d}" for i in range(10)]
#: the one query of what waits, the runs of the empty polls, and SQLite's BEGINs
MOST = 5


@pytest.fixture(params=["sqlite", "postgresql"])
def ten(request: pytest.FixtureRequest, tmp_path: Any) -> ProjectDir:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    project = ProjectDir(tmp_path / "project", ledger_url=url)
    for name in ROUTES:
        project.route(name, CSV_ROUTE.replace("orders", name)
                      + f"    events: {{nats: 'nats://127.0.0.1:4222', subject: tl.{name}}}\n")
        (project.root / "inbox" / name).mkdir(parents=True)
    return project


@contextmanager
def statements(ledger: Ledger) -> Iterator[list[tuple[str, Any]]]:
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        sent.append((statement, parameters))

    event.listen(ledger.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(ledger.engine, "before_cursor_execute", record)


def naming(sent: list[tuple[str, Any]], route: str) -> list[str]:
    """The statements whose parameters name ``route``."""
    return [statement for statement, parameters in sent if route in repr(parameters)]


def test_an_empty_pass_over_ten_routes_sends_a_handful_of_statements(ten: ProjectDir) -> None:
    project = ten.load()
    with ten.ledger() as ledger, Runner(project, ledger) as runner:
        runner.run_once()  # the first pass creates the tables
        with statements(ledger) as sent:
            summary = runner.run_once()
        assert summary.results == []
        assert len(sent) <= MOST, "\n".join(s for s, _ in sent)
        for name in ROUTES:  # its empty poll recorded, with the others'
            assert [s.split()[:3] for s in naming(sent, name)] == [["INSERT", "INTO", "runs"]]
        last = ledger.last_runs()
    assert sorted(last) == ROUTES
    assert all(r["finished_at"] is not None and r["delivered"] == 0 for r in last.values())


def test_routes_with_nothing_waiting_cost_nothing_beside_a_busy_one(ten: ProjectDir) -> None:
    """r00 delivers a file (its steps, its event, its run); the nine others only have their
    empty polls recorded."""
    project = ten.load()
    with ten.ledger() as ledger, Runner(project, ledger) as runner:
        runner.run_once()
        ten.drop("r00", "a.csv", GOOD_CSV)
        with statements(ledger) as sent:
            summary = runner.run_once()
        assert [r.outcome for r in summary.results] == [Outcome.DELIVERED]
        assert naming(sent, "r00")  # the busy route does its work
        for name in ROUTES[1:]:
            assert [s.split()[:3] for s in naming(sent, name)] == [["INSERT", "INTO", "runs"]]
        last = ledger.last_runs()
    assert last["r00"]["delivered"] == 1 and last["r01"]["delivered"] == 0
