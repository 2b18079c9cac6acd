"""``tradelane prune [--dry-run] [--json]``: apply the retention rules now."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradelane.cli.output import LazyConsole
from tradelane.cli.tables import Column, render

console = LazyConsole(highlight=False)

_COLUMNS = (Column("route", 0, min=8, cut="middle"),
            Column("runs", 0, cut=None, justify="right"),
            Column("events", 0, cut=None, justify="right"),
            Column("archived", 0, cut=None, justify="right"),
            Column("quarantined", 0, cut=None, justify="right"),
            Column("kept for", 1))


def prune(
    project: Annotated[Path, typer.Option(
        "--project", "-C", envvar="TRADELANE_HOME",
        help="Project folder (holds tradelane.yaml and mappings/).")] = Path("."),
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Count what would go; change nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Forget runs and history, delete archived and quarantined files older than the
    retention: ages of tradelane.yaml and each route (unset: kept for ever). Deletes go in
    batches of 1,000 rows, each its own short transaction; serve's leader does this daily."""
    from tradelane.cli.main import _ledger, _print_json
    from tradelane.retention import prune as run_prune

    with _ledger(project) as (loaded, ledger):
        report = run_prune(loaded, ledger, dry_run=dry_run)
    if as_json:
        _print_json(report.as_dict())
        return
    render(console, _COLUMNS, [(
        r.route, str(r.runs), str(r.events), str(r.archive), str(r.quarantine),
        " / ".join(r.ages[k] or "ever" for k in ("runs", "events", "archive", "quarantine")))
        for r in report.routes], title="Pruned (dry run)" if dry_run else "Pruned")
    console.print("kept for: runs / events / archived / quarantined (ever: no limit set)")
    console.print(report.summary())
