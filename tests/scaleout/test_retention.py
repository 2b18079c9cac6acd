"""Retention (issue 18): ``tradelane prune`` forgets old runs and history and deletes old
archived and quarantined files, in batches, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from support.orders import orders_route
from support.project import ProjectDir
from support.serving import TRADELANE
from tradelane.ledger.store import utcnow
from tradelane.ledger.tables import events, files, runs
from tradelane.retention import prune

GOOD = "id,qty\nA1,1\n"
BAD = "id,qty\nA1,many\n"
ROUTE = orders_route("{folder: outbox/orders, format: json, name: \"{stem}.json\"}")


@pytest.fixture(params=["sqlite", "postgresql"])
def aged(request: pytest.FixtureRequest, tmp_path: Path) -> ProjectDir:
    """A project whose ledger has three delivered and two quarantined files, made 40 days
    old, and one of each from today."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    project = ProjectDir(tmp_path / "p", ledger_url=url)
    ledger_line = f"ledger: '{url}'\n" if url else ""
    project.settings(ledger_line + "retention: {runs: 30d, events: 30d, archive: 30d,"
                     " quarantine: 60d}\n")
    project.route("orders", ROUTE + "    retention: {quarantine: 30d}\n")
    for i in range(3):
        project.drop("orders", f"old{i}.csv", GOOD.replace("A1", f"A{i}"))
    for i in range(2):
        project.drop("orders", f"oldbad{i}.csv", BAD.replace("A1", f"B{i}"))
    project.run()
    then = utcnow() - timedelta(days=40)
    with project.ledger() as ledger, ledger.begin() as conn:
        conn.execute(update(files).values(updated_at=then, received_at=then))
        conn.execute(update(events).values(at=then))
        conn.execute(update(runs).values(started_at=then))
    project.drop("orders", "new.csv", GOOD.replace("A1", "N1"))
    project.drop("orders", "newbad.csv", BAD.replace("A1", "N2"))
    project.run()
    return project


def _count(project: ProjectDir, query: object) -> int:
    with project.ledger() as ledger, ledger.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())  # type: ignore[call-overload]


def _cli(project: ProjectDir, *args: str) -> dict[str, object]:
    done = subprocess.run([str(TRADELANE), "prune", "-C", str(project.root), "--json", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_prune_dry_run_counts_then_prune_deletes_only_what_is_old(aged: ProjectDir) -> None:
    root = aged.root
    archived = sorted(p.name for p in (root / "archive").rglob("*.csv"))
    quarantined = sorted(p.name for p in (root / "quarantine").rglob("*.csv"))
    assert len(archived) == 4 and len(quarantined) == 3
    events_before = _count(aged, select(func.count()).select_from(events))

    dry = _cli(aged, "--dry-run")
    [orders] = dry["routes"]  # type: ignore[misc]
    assert dry["dry_run"] is True
    assert (orders["archive"], orders["quarantine"]) == (3, 2)
    assert orders["runs"] >= 1 and orders["events"] >= 5 * 3
    # the route's quarantine age wins over the global one, the others come from tradelane.yaml
    assert orders["ages"] == {"runs": "30d", "events": "30d", "archive": "30d",
                              "quarantine": "30d"}
    assert sorted(p.name for p in (root / "archive").rglob("*.csv")) == archived
    assert _count(aged, select(func.count()).select_from(events)) == events_before

    with aged.ledger() as ledger:
        report = prune(aged.load(), ledger, batch=2)  # several batches
    [done] = report.routes
    assert (done.archive, done.quarantine, done.events) == (3, 2, orders["events"])
    assert [p.name.split("-", 1)[1] for p in (root / "archive").rglob("*.csv")] == ["new.csv"]
    left = sorted(p.name for p in (root / "quarantine").rglob("*") if p.is_file())
    assert [n.split("-", 1)[1] for n in left if n.endswith(".csv")] == ["newbad.csv"]
    assert not any("oldbad" in n for n in left)  # reason files went too
    with aged.ledger() as ledger:
        by_name = {r.name: r for r in ledger.files()}
        assert by_name["oldbad0.csv"].state.value == "discarded"
        assert by_name["oldbad0.csv"].path is None
        assert by_name["old0.csv"].state.value == "archived" and by_name["old0.csv"].path is None
        assert by_name["new.csv"].path is not None
        # the pruning itself is the one event an old file keeps: what was deleted, where
        assert [e.detail for e in ledger.events(by_name["old0.csv"].id)] == [
            f"retention: archived original deleted ({archived_path(aged, 'old0.csv')})"]
        assert len(ledger.events(by_name["new.csv"].id)) >= 3
    again = _cli(aged)
    assert sum(r["archive"] + r["quarantine"] + r["events"] + r["runs"]
               for r in again["routes"]) == 0  # type: ignore[union-attr]


def archived_path(project: ProjectDir, name: str) -> str:
    with project.ledger() as ledger, ledger.engine.connect() as conn:
        detail = conn.execute(select(events.c.detail).join(files, files.c.id == events.c.file_id)
                              .where(files.c.name == name)).scalar_one()
    return detail.split("(", 1)[1].rstrip(")")


def test_nothing_is_pruned_without_retention(tmp_path: Path) -> None:
    project = ProjectDir(tmp_path / "p")
    project.route("orders", ROUTE)
    project.drop("orders", "a.csv", GOOD)
    project.run()
    with project.ledger() as ledger:
        report = prune(project.load(), ledger, now=utcnow() + timedelta(days=3650))
    assert report.total == 0
    assert len(list((project.root / "archive").rglob("*-a.csv"))) == 1
