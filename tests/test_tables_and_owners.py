"""80-column tables (COLUMNS=80) and route owners, as a user sees them (issue 16)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap

from hypothesis import example, given, settings
from hypothesis import strategies as st

from support.project import CSV_ROUTE, GOOD_CSV, ProjectDir
from tradelane.cli.tables import Column, Styled, layout, plain_table, render, shorten

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


# -- a table to a pipe: written without rich, as rich writes it ------------------------------

_CELL = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=70)
_ANY_CELL = st.one_of(_CELL, st.text(max_size=30),  # non-ASCII, control characters
                      st.sampled_from(["[bold]x[/]", "a :smile: b", "C:/x:y", "", "…", " a"]))


@st.composite
def _tables(draw: st.DrawFn, cells: st.SearchStrategy[str] = _CELL
            ) -> tuple[list[Column], list[list[str | Styled]], str | None]:
    columns = [Column(draw(st.sampled_from(["id", "route", "file", "outcome", "details"])),
                      draw(st.integers(0, 3)), draw(st.integers(1, 16)),
                      draw(st.sampled_from(["middle", "end", None])),
                      draw(st.sampled_from(["left", "right"])))
               for _ in range(draw(st.integers(1, 6)))]
    rows: list[list[str | Styled]] = [
        [Styled(text, "green") if draw(st.booleans()) else text
         for text in draw(st.lists(cells, min_size=len(columns), max_size=len(columns)))]
        for _ in range(draw(st.integers(0, 4)))]
    title = draw(st.one_of(st.none(), st.just("This run"), cells))
    return columns, rows, title


def _rich_writes(columns: list[Column], rows: list[list[str | Styled]],
                 title: str | None) -> str:
    """What ``render`` prints through rich to a pipe at rich's pipe width (80)."""
    from rich.console import Console

    out = io.StringIO()
    render(Console(file=out, width=80), columns, rows, title=title)
    return out.getvalue()


_RUN = [Column("id", 0, cut=None, justify="right"), Column("route", 2, min=8, cut="middle"),
        Column("file", 0, min=14, cut="middle"), Column("outcome", 0, cut=None),
        Column("details", 1, min=12)]


@settings(max_examples=300, deadline=None)
@given(_tables())
@example(([*_RUN], [["12", "orders", LONG, Styled("delivered", "green"), "x" * 90]], "This run"))
@example(([*_RUN], [["7", "a-route-with-a-long-name" * 2, LONG, Styled("quarantined", "red"),
                     "the header row is empty"]], "This run"))  # a column left out
def test_a_table_written_to_a_pipe_without_rich_is_what_rich_writes(
        table: tuple[list[Column], list[list[str | Styled]], str | None]) -> None:
    """The run summary of a cron job is printed without importing rich (a fifth of a
    second's start-up, bench/startup.py); every line must still be rich's own."""
    columns, rows, title = table
    lines = plain_table(columns, rows, title=title, width=80)
    if lines is not None:  # None: rich is needed (checked below, for what makes it so)
        hidden = "".join(f"(not shown: {', '.join(lines.hidden)}; --wide for every column)\n"
                         for _ in lines.hidden[:1])
        assert "".join(f"{line}\n" for line in lines) + hidden == \
            _rich_writes(columns, rows, title)


@settings(max_examples=200, deadline=None)
@given(_tables(_ANY_CELL))
def test_markup_emoji_codes_and_wide_characters_are_left_to_rich(
        table: tuple[list[Column], list[list[str | Styled]], str | None]) -> None:
    columns, rows, title = table
    texts = [c.text if isinstance(c, Styled) else c for row in rows for c in row]
    odd = [t for t in [*texts, title or ""]
           if not t.isascii() or not t.isprintable() or "[" in t or re.search(r":\S*?:", t)
           or t != t.strip(" ")]
    lines = plain_table(columns, rows, title=title, width=80)
    if odd:
        assert lines is None, odd
    elif lines is not None:
        assert "".join(f"{line}\n" for line in lines) in _rich_writes(columns, rows, title)


def test_a_delivered_file_s_summary_line_is_plain_and_the_same(project: ProjectDir) -> None:
    """The run summary to a pipe, without rich, against the same summary through rich (a
    terminal width forced by COLUMNS=80 makes the command use rich)."""
    project.route("orders", ROUTE)
    project.drop("orders", "a.csv", GOOD_CSV)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TRADELANE_HOME")}
    plain = subprocess.run([sys.executable, "-c", _RUN_THEN_SAY_IF_RICH, str(project.root)],
                           capture_output=True, text=True, timeout=120, env=env)
    assert plain.returncode == 0, plain.stderr
    *printed, rich_loaded = plain.stdout.splitlines(keepends=True)
    assert rich_loaded == "rich loaded: False\n"
    assert "delivered" in "".join(printed) and printed[-1] == "1 delivered\n"
    project.drop("orders", "b.csv", GOOD_CSV.replace("PO-1", "PO-3"))
    again = tradelane(project, "run", "--once")  # COLUMNS=80: through rich
    assert again.returncode == 0, again.stderr
    assert [len(line) for line in again.stdout.splitlines()[:4]] == \
        [len(line) for line in "".join(printed).splitlines()[:4]]


_RUN_THEN_SAY_IF_RICH = """
import sys
sys.argv = ["tradelane", "run", "--once", "-C", sys.argv[1]]
from tradelane.cli import app
try:
    app()
except SystemExit as exc:
    assert not exc.code, exc.code
print("rich loaded:", "rich" in sys.modules)
"""
