"""Exit codes of every command, as a script sees them (issue 16): a subprocess each."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir
from support.serving import Serve, wait_for


def tradelane(project: ProjectDir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradelane", *args, "-C", str(project.root)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def quarantined(project: ProjectDir) -> tuple[ProjectDir, int]:
    """A project with one file quarantined (qty 0 breaks min: 1)."""
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "bad.csv", "Order;Qty;Price;ShipDate;Status\nPO-1;0;1;;open\n")
    result = tradelane(project, "run", "--once", "--json")
    assert result.returncode == 3, result.stderr
    return project, json.loads(result.stdout)["files"][0]["file_id"]


@pytest.mark.parametrize("args", [
    ["run", "--once", "--route", "nope"],
    ["validate", "README.md", "--route", "nope"],
    ["history", "999"],
    ["quarantine", "show", "999"],
    ["quarantine", "discard", "999", "--reason", "x"],
    ["quarantine", "reprocess", "999"],
    ["quarantine", "list", "--route", "nope"],
    ["sftp", "test", "nope"],
])
def test_not_found_is_5_never_2(quarantined: tuple[ProjectDir, int], args: list[str]) -> None:
    project, _ = quarantined
    if args[0] == "validate":
        args = ["validate", str(project.root / "mappings" / "orders.yaml"), *args[2:]]
    result = tradelane(project, *args)
    assert result.returncode == 5, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


def test_reprocess_and_run_json_have_one_shape_and_partial_is_7(
        quarantined: tuple[ProjectDir, int]) -> None:
    project, file_id = quarantined
    run = json.loads(tradelane(project, "run", "--once", "--json").stdout)
    # the mapping was too strict: fixed, the file goes through; 999 is not there
    project.route("orders", CSV_ROUTE.replace("min: 1", "min: 0"))
    result = tradelane(project, "quarantine", "reprocess", str(file_id), "999", "--json")
    assert result.returncode == 7, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == set(run)
    assert [f["outcome"] for f in report["files"]] == ["delivered"]
    assert report["refused"] == [{"message": "no file 999 in the ledger", "exit_code": 5}]
    assert report["exit_code"] == 7
    # refused: it is not in quarantine any more
    again = tradelane(project, "quarantine", "reprocess", str(file_id))
    assert again.returncode == 6, again.stderr


def test_check_status_and_version(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    assert tradelane(project, "check").returncode == 0
    assert tradelane(project, "status").returncode == 0
    project.drop("orders", "good.csv", GOOD_CSV)
    assert tradelane(project, "run", "--once").returncode == 0
    project.route("broken", "source: {folder: x}\n")
    assert tradelane(project, "check").returncode == 2


def test_first_start_logs_no_alembic_lines(project: ProjectDir) -> None:
    # serve logs at INFO: the first start creates the ledger's tables through Alembic
    project.route("orders", CSV_ROUTE)
    server = Serve(project)
    try:
        wait_for(lambda: "serving 1 route(s)" in server.log.read_text(), 30, "serve up")
    finally:
        assert server.stop() == 0
    text = server.log.read_text()
    assert "alembic" not in text.lower(), text


def test_discard_several_ids_or_all_with_filters(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    project.route("stock", CSV_ROUTE.replace("orders", "stock"))
    bad = "Order;Qty;Price;ShipDate;Status\nPO-1;0;1;;open\n"
    for name in ("a.csv", "b.csv", "c.csv"):
        project.drop("orders", name, bad.replace("PO-1", f"PO-{name[0]}"))
    project.drop("stock", "s.csv", bad)
    assert tradelane(project, "run", "--once").returncode == 3
    ids = {q["name"] + q["route"]: q["id"] for q in json.loads(
        tradelane(project, "quarantine", "list", "--json").stdout)}
    # two ids at once, one of them unknown: partial
    result = tradelane(project, "quarantine", "discard", str(ids["a.csvorders"]), "999",
                       "--reason", "resent")
    assert result.returncode == 7, result.stderr
    assert "no file 999" in result.stderr
    # the same again: refused, it is not in quarantine any more
    again = tradelane(project, "quarantine", "discard", str(ids["a.csvorders"]),
                      "--reason", "resent")
    assert again.returncode == 6 and "not in quarantine" in again.stderr
    # --all with a route filter leaves the other route's file alone
    result = tradelane(project, "quarantine", "discard", "--all", "--route", "orders",
                       "--reason", "partner resent the batch", "--yes")
    assert result.returncode == 0, result.stderr
    left = json.loads(tradelane(project, "quarantine", "list", "--json").stdout)
    assert [(q["route"], q["name"]) for q in left] == [("stock", "s.csv")]
    assert tradelane(project, "quarantine", "discard", "--reason", "x").returncode == 2
