"""Many files in one poll: claimed and recorded in chunks (group commit), and spread over
worker processes for a route with ``workers: N``. Each file must still be delivered once,
with its own steps in the ledger, whatever else is in its chunk."""

from __future__ import annotations

import json
import logging

import pytest

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir
from tradelane.models import FileState, Outcome
from tradelane.runner import PROCESSES_FROM


def good(i: int) -> str:
    return f"Order;Qty;Price;ShipDate;Status\nPO-{i};{i % 7 + 1};{i},50;01.12.2026;open\n"


def drop_many(project: ProjectDir, count: int) -> None:
    for i in range(count):
        project.drop("orders", f"order-{i:04}.csv", good(i), age=120 + count - i)


@pytest.fixture
def orders(project: ProjectDir) -> ProjectDir:
    return project.route("orders", CSV_ROUTE)


def test_a_poll_of_many_files_records_each_file_step_by_step(orders: ProjectDir) -> None:
    drop_many(orders, 300)
    orders.drop("orders", "order-0150.csv", "Order;Qty;Price;ShipDate;Status\nPO-1;x;;;\n")
    orders.drop("orders", "order-0200.csv", good(10))  # the content of order-0010.csv again
    summary = orders.run()
    outcomes = {r.name: r.outcome for r in summary.results}
    assert len(outcomes) == 300
    assert outcomes.pop("order-0150.csv") == Outcome.QUARANTINED
    assert outcomes.pop("order-0200.csv") == Outcome.DUPLICATE
    assert set(outcomes.values()) == {Outcome.DELIVERED}
    assert len(orders.outputs("orders")) == 298
    assert orders.inbox("orders") == []
    with orders.ledger() as ledger:
        records = {r.name: r for r in ledger.files()}
        for name in outcomes:
            assert records[name].state == FileState.ARCHIVED
            steps = [e.to_state for e in ledger.events(records[name].id)]
            assert steps == ["claimed", "staged", "delivered", "archived"], name
        original = records["order-0010.csv"].id
    [reason] = (orders.root / "quarantine" / "orders").rglob("*order-0200.csv.reason.json")
    assert f"already delivered as file {original}" in json.loads(reason.read_text())["message"]


def test_the_same_content_twice_in_one_poll_is_delivered_once(orders: ProjectDir) -> None:
    orders.drop("orders", "monday.csv", GOOD_CSV, age=200)
    orders.drop("orders", "monday-resend.csv", GOOD_CSV, age=100)
    summary = orders.run()
    assert [(r.name, r.outcome) for r in summary.results] == [
        ("monday.csv", Outcome.DELIVERED), ("monday-resend.csv", Outcome.DUPLICATE)]
    assert [p.name for p in orders.outputs("orders")] == ["monday.json"]


def test_two_files_of_one_chunk_never_overwrite_each_others_output(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE.replace('name: "{stem}.json"', 'name: "daily.json"'))
    project.drop("orders", "first.csv", good(1), age=200)
    project.drop("orders", "second.csv", good(2), age=100)
    summary = project.run()
    assert [(r.name, r.outcome) for r in summary.results] == [
        ("first.csv", Outcome.DELIVERED), ("second.csv", Outcome.PENDING)]
    assert "already exists with different content" in summary.results[1].message
    [daily] = project.outputs("orders")
    assert json.loads(daily.read_text())[0]["order_id"] == "PO-1"


def test_workers_spread_a_big_poll_over_processes(project: ProjectDir,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    project.route("orders", CSV_ROUTE + "    workers: 2\n")
    count = PROCESSES_FROM * 3
    drop_many(project, count)
    # the oldest file: in the first task, which goes to the worker process
    project.drop("orders", "order-0007.csv", "Order;Qty;Price;ShipDate;Status\nPO-7;0;1;;\n",
                 age=10_000)
    with caplog.at_level(logging.WARNING):
        summary = project.run()
    assert summary.exit_code == 3
    assert summary.count(Outcome.DELIVERED) == count - 1
    assert [r.name for r in summary.results if r.outcome == Outcome.QUARANTINED] == [
        "order-0007.csv"]
    assert len(project.outputs("orders")) == count - 1
    assert project.inbox("orders") == []
    with project.ledger() as ledger:
        actors = {e.actor for r in ledger.files() for e in ledger.events(r.id)}
    # this process and one worker process shared the work, each under its own name
    worker = actors - {"test"}
    assert "test" in actors and len(worker) == 1 and worker.pop().startswith("test/"), actors
    # the worker's log records reach this process's logging, with the route they were about
    [warning] = [r for r in caplog.records
                 if r.getMessage().startswith("quarantined order-0007.csv")]
    assert getattr(warning, "route", None) == "orders"
    assert project.run().results == []


def test_files_a_slow_chunk_hands_back_are_taken_in_the_same_run(orders: ProjectDir) -> None:
    """A chunk stops starting files at a third of the lease (so no claim outlives it); the
    rest must come in this same pass, not be left silently for tomorrow's run --once."""
    orders.settings("lease: 0.5ms\n")  # chunks run past a third of the lease
    drop_many(orders, 40)
    summary = orders.run()
    assert sorted(r.name for r in summary.results) == [f"order-{i:04}.csv" for i in range(40)]
    assert {r.outcome for r in summary.results} == {Outcome.DELIVERED}
    assert len(orders.outputs("orders")) == 40 and orders.inbox("orders") == []
    with orders.ledger() as ledger:
        assert {f.state for f in ledger.files()} == {FileState.ARCHIVED}
        handed_back = [e for f in ledger.files() for e in ledger.events(f.id)
                       if e.to_state == "discovered"]
    assert handed_back, "no chunk ran past its deadline: the test proves nothing"
