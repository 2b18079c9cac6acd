"""80-column tables (COLUMNS=80) and route owners, as a user sees them (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir
from tradelane.cli.tables import Column, layout, shorten

ROUTE = textwrap.dedent(CSV_ROUTE)
LONG = "ORDERS_20261207_ACME_GMBH_HAMBURG_WAREHOUSE_NORTH_0815.csv"


def tradelane(project: ProjectDir, *args: str, columns: int = 80
              ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    env.pop("TRADELANE_HOME", None)
    return subprocess.run([sys.executable, "-m", "tradelane", *args, "-C", str(project.root)],
                          capture_output=True, text=True, timeout=120, env=env)


def test_names_are_shortened_in_the_middle() -> None:
    assert shorten(LONG, 20) == "ORDERS_202…_0815.csv"
    assert shorten("short.csv", 20) == "short.csv"
    assert shorten("a long sentence of prose", 10, "end") == "a long se…"
    assert shorten("12345", 3, None) == "12345"  # ids are never cut


def test_layout_drops_the_least_important_columns_first() -> None:
    columns = [Column("id", 0, cut=None), Column("file", 0, min=14, cut="middle"),
               Column("extra", 5, min=10), Column("why", 1, min=10)]
    rows = [("1", LONG, "x" * 40, "y" * 60)]
    widths = layout(columns, rows, 80)
    assert set(widths) == {0, 1, 3}  # 'extra' went first
    assert sum(w + 3 for w in widths.values()) + 1 <= 80
    assert layout(columns, rows, 400) == {0: 2, 1: len(LONG), 2: 40, 3: 60}


def test_run_status_quarantine_and_history_fit_80_columns(project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    project.drop("orders", LONG, GOOD_CSV.replace("PO-1;5", "PO-1;0"))  # min: 1 fails
    project.drop("orders", "good.csv", GOOD_CSV)
    outputs = {
        "run": tradelane(project, "run", "--once"),
        "status": tradelane(project, "status"),
        "quarantine list": tradelane(project, "quarantine", "list"),
        "history": tradelane(project, "history", "1"),
    }
    for what, result in outputs.items():
        assert result.returncode in (0, 3), (what, result.stderr)
        lines = result.stdout.splitlines()
        too_wide = [line for line in lines if len(line) > 80]
        assert too_wide == [], (what, too_wide)
        # never wrapped letter by letter: no line holds a lone fragment of the name
        assert not any(line.strip() in {"O", "OR", "ORD", "csv"} for line in lines), what
    for what in ("run", "quarantine list"):
        text = outputs[what].stdout
        assert LONG not in text and "ORDERS_20" in text and "…" in text, (what, text)
        assert any("ORDERS_20" in line and "0815.csv" in line for line in text.splitlines())
    wide = tradelane(project, "quarantine", "list", "--wide")
    assert LONG in wide.stdout


def test_owners_in_check_status_and_the_spec(project: ProjectDir) -> None:
    project.route("orders", ROUTE + "owner: {name: ERP team, webhook_env: ERP_HOOK}\n"
                  "description: Orders from the shop ERP\n")
    project.route("stock", ROUTE.replace("orders", "stock"))
    result = tradelane(project, "check", "--owners")
    assert result.returncode == 0, result.stderr
    assert "orders: ERP team" in result.stdout
    assert "routes with no owner: stock" in result.stdout
    rows = {r["route"]: r for r in json.loads(tradelane(project, "status", "--json").stdout)}
    assert rows["orders"]["owner"] == "ERP team" and rows["stock"]["owner"] is None
    assert rows["orders"]["description"] == "Orders from the shop ERP"
    assert "no owner: stock" in tradelane(project, "status").stdout
    # an owner must be reachable; mail needs the mail server of alerts.smtp
    project.route("stock", ROUTE.replace("orders", "stock")
                  + "owner: {name: Stock team}\n")
    project.route("orders", ROUTE + "owner: {name: ERP, email: erp@example.com}\n")
    bad = tradelane(project, "check")
    assert bad.returncode == 2
    assert "mappings/stock.yaml: owner: give 'email', 'webhook' or 'webhook_env'" in bad.stderr
    assert "mappings/orders.yaml: owner.email: mailing erp@example.com needs alerts.smtp" \
        in bad.stderr


def test_status_keeps_the_last_run_with_files_and_counts_duplicates_apart(
        project: ProjectDir) -> None:
    project.route("orders", CSV_ROUTE)
    project.drop("orders", "a.csv", GOOD_CSV)
    project.drop("orders", "copy.csv", GOOD_CSV, age=60)  # the same content: a duplicate
    project.drop("orders", "bad.csv", "Order;Qty\nPO-1;x\n")
    assert tradelane(project, "run", "--once").returncode == 3
    assert tradelane(project, "run", "--once").returncode == 0  # an empty poll
    [row] = json.loads(tradelane(project, "status", "--json").stdout)
    assert row["last_result"] == "no files"
    assert row["last_files_result"] == "1 delivered, 1 quarantined, 0 pending, 1 duplicates"
    assert (row["delivered"], row["quarantined"], row["duplicates"]) == (1, 1, 1)
    assert row["open_alerts"] == 0
    table = tradelane(project, "status").stdout
    assert " ok " in table and " dup " in table and " alerts " in table
