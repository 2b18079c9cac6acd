"""The ``tradelane`` command. Presentation only: every decision is made in the engine.

Exit codes: 0 ok, 1 crash (a bug), 2 configuration or usage error, 3 some files quarantined
(or a file is invalid, for ``validate``), 4 some files left pending after temporary failures.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tradelane import ops
from tradelane.cli.console import console as console_command
from tradelane.cli.edi import edi_app
from tradelane.cli.serve import serve
from tradelane.cli.sftp import sftp_app
from tradelane.cli.spec import spec as spec_command
from tradelane.errors import (
    ConfigError,
    InvalidRoute,
    LedgerUnavailable,
    RequestError,
    TradelaneError,
    bulk_status,
    exit_status,
)
from tradelane.ledger import Ledger
from tradelane.models import FileResult, Outcome, RunSummary
from tradelane.spec import Project, load_project

if TYPE_CHECKING:
    from tradelane.runner import Runner

app = typer.Typer(
    help="tradelane: pick up partner files, validate, transform, deliver; quarantine the rest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
quarantine_app = typer.Typer(help="Inspect, fix and reprocess files that failed.",
                             no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(sftp_app, name="sftp")
app.add_typer(edi_app, name="edi")
app.command("serve")(serve)
app.command("console")(console_command)
app.command("spec")(spec_command)

console = Console()
err = Console(stderr=True)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"tradelane {version('tradelane')}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """tradelane: pick up partner files, validate, transform, deliver; quarantine the rest."""

ProjectOpt = Annotated[Path, typer.Option(
    "--project", "-C", envvar="TRADELANE_HOME",
    help="Project folder (holds tradelane.yaml and mappings/).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

_STYLE = {Outcome.DELIVERED: "green", Outcome.QUARANTINED: "red", Outcome.DUPLICATE: "yellow",
          Outcome.PENDING: "yellow", Outcome.LOST: "bold red", Outcome.FAILED: "bold red"}


@contextmanager
def _ledger(project_dir: Path) -> Iterator[tuple[Project, Ledger]]:
    """The project and its ledger. A ledger that cannot be opened or used is one line naming
    it and the cause (exit 2 if it is damaged, 4 if it is unavailable), never a traceback."""
    project = _load(project_dir)
    settings = project.settings
    try:
        with Ledger(settings.ledger_url, worker=settings.worker,
                    lease=settings.lease) as ledger:
            yield project, ledger
    except (LedgerUnavailable, ConfigError) as exc:
        err.print(f"[red]{exc}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(exit_status(error=exc)) from None


@contextmanager
def _engine(project_dir: Path) -> Iterator[tuple[Project, Runner]]:
    # the engine (pandas, Arrow) is loaded only by the commands that process files: the
    # others answer in half the time
    from tradelane.runner import Runner

    with _ledger(project_dir) as (project, ledger), Runner(project, ledger) as pipeline:
        yield project, pipeline


def _load(project_dir: Path, *, isolate: bool = True) -> Project:
    """The project; a route whose mapping is wrong is left out (``Project.invalid``) so that
    it never stops the others. Only ``check`` asks for every route to be right."""
    try:
        return load_project(project_dir, isolate=isolate)
    except ConfigError as exc:
        _config_failure(exc)
        raise  # unreachable


def _config_failure(exc: ConfigError) -> None:
    err.print(f"[bold red]The configuration has {len(exc.problems)} problem(s):[/]")
    for problem in exc.problems:  # one line each, never wrapped: people grep them
        err.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _setup_logging(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


# -- run ----------------------------------------------------------------------------------------


@app.command()
def run(
    project: ProjectOpt = Path("."),
    once: Annotated[bool, typer.Option("--once", help="One pass over every ready file.")] = False,
    route: Annotated[list[str] | None,
                     typer.Option("--route", "-r", help="Only this route.")] = None,
    as_json: JsonOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Process every ready file once, then exit (0 delivered, 3 quarantined, 4 pending)."""
    if not once:
        err.print("Use [bold]tradelane run --once[/] for one pass, or [bold]tradelane serve[/] "
                  "to keep running on schedules.")
        raise typer.Exit(2)
    _setup_logging(verbose)
    with _engine(project) as (proj, pipeline):
        for name in route or []:
            _or_exit(lambda name=name: proj.route(name))
        summary = _run_with_progress(pipeline, route, quiet=as_json)
    if as_json:
        _print_json(ops.run_report(summary))
    else:
        problems = {name: f"source unavailable: {message}"
                    for name, message in summary.source_errors.items()}
        _print_summary(summary.results, {**problems, **summary.config_errors})
    raise typer.Exit(summary.exit_code)


def _run_with_progress(pipeline: Runner, routes: list[str] | None, *, quiet: bool) -> Any:
    if quiet or not console.is_terminal:
        return pipeline.run_once(routes)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def listed(route: str, count: int) -> None:
            if count >= 10:
                tasks[route] = progress.add_task(f"{route}", total=count)

        def done(result: FileResult) -> None:
            if result.route in tasks:
                progress.advance(tasks[result.route])

        return pipeline.run_once(routes, on_file=done, on_listed=listed)


def _details(result: FileResult) -> str:
    """Delivered files: where to, as a path relative to here when it is a local file."""
    if result.outcome != Outcome.DELIVERED or not result.outputs:
        return result.message
    where = result.outputs[0]
    if where.startswith("file://"):
        path = Path(where.removeprefix("file://"))
        with contextlib.suppress(ValueError):
            where = str(path.relative_to(Path.cwd()))
    return f"{result.records} records -> {where}"


def _print_summary(results: list[FileResult], route_problems: dict[str, str]) -> None:
    if not results and not route_problems:
        console.print("Nothing to do: no file is ready.")
        return
    table = Table(title="This run", title_justify="left")
    for column in ("id", "route", "file", "outcome", "details"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(str(r.file_id), r.route, r.name, f"[{_STYLE[r.outcome]}]{r.outcome}[/]",
                      _details(r), style=None)
    console.print(table)
    for route, message in route_problems.items():
        console.print(f"[yellow]route {route}: {message}[/]", highlight=False)
    counts = {o: sum(r.outcome == o for r in results) for o in Outcome}
    console.print(", ".join(f"{n} {o}" for o, n in counts.items() if n) or "no files")
    if counts[Outcome.QUARANTINED] or counts[Outcome.DUPLICATE]:
        first = next(r for r in results if r.outcome in (Outcome.QUARANTINED, Outcome.DUPLICATE))
        console.print(f"See why with: [bold]tradelane quarantine show {first.file_id}[/]")


# -- check / validate -------------------------------------------------------------------------


@app.command()
def check(project: ProjectOpt = Path(".")) -> None:
    """Validate tradelane.yaml and every mapping; print every problem (exit 0 or 2)."""
    proj = _load(project, isolate=False)
    console.print(f"[green]OK[/]: {len(proj.routes)} route(s): {', '.join(sorted(proj.routes))}")


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="The file to check.", exists=True, dir_okay=False)],
    route: Annotated[str, typer.Option("--route", "-r", help="Route whose mapping applies.")],
    project: ProjectOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Dry run: parse, validate and transform FILE with no side effects (exit 0 valid, 3 not)."""
    proj = _load(project)
    report = _or_exit(lambda: ops.dry_run(proj, proj.route(route), file))
    if as_json:
        _print_json(report)
    else:
        if report["valid"]:
            console.print(f"[green]valid[/]: {report['records']} records would be delivered")
        else:
            console.print(f"[red]invalid[/] ({report['stage']}): {report['message']}")
            _issues_table(report["errors"])
            if report["error_count"] > len(report["errors"]):
                console.print(f"… and {report['error_count'] - len(report['errors'])} more")
        for note in report["notes"]:
            console.print(f"[yellow]note[/]: {note}")
        if report.get("preview"):
            console.print(report["preview"], markup=False, highlight=False)
    raise typer.Exit(0 if report["valid"] else 3)


def _issues_table(errors: list[dict[str, Any]]) -> None:
    table = Table()
    for column in ("location", "field", "value", "rule", "message"):
        table.add_column(column, overflow="fold")
    for e in errors:
        table.add_row(e["location"], e["field"], e["value"], e["rule"], e["message"])
    console.print(table)


# -- quarantine -------------------------------------------------------------------------------


@quarantine_app.command("list")
def quarantine_list(
    project: ProjectOpt = Path("."),
    route: Annotated[str | None, typer.Option("--route", "-r")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Files waiting for a fix, newest last."""
    with _ledger(project) as (proj, ledger):
        rows = _or_exit(lambda: ops.quarantined(ledger, route, proj))
    if as_json:
        _print_json(rows)
        return
    if not rows:
        console.print("The quarantine is empty.")
        return
    table = Table(title=f"Quarantine ({len(rows)})", title_justify="left")
    for column in ("id", "route", "file", "stage", "errors", "attempt", "since", "why"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), r["route"], r["name"], r["stage"] or "",
                      str(r["error_count"] or ""), str(r["attempt"]), r["since"][:16],
                      r["message"] or "")
    console.print(table)
    console.print("Details: [bold]tradelane quarantine show ID[/]")


@quarantine_app.command("show")
def quarantine_show(
    file_id: Annotated[int, typer.Argument(help="File id from 'quarantine list'.")],
    project: ProjectOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Why a file was quarantined: every error with its location."""
    with _ledger(project) as (proj, ledger):
        reason = _or_exit(lambda: ops.reason(ledger, file_id))
    reason["lines"] = ops.offending_lines(proj, reason)
    if as_json:
        _print_json(reason)
        return
    console.print(f"[bold]{reason.get('original_name')}[/] (file {file_id}, route "
                  f"{reason.get('route')}, attempt {reason.get('attempt')})")
    console.print(f"stage: {reason.get('stage')}   quarantined: {reason.get('quarantined_at')}")
    console.print(f"[red]{reason.get('message')}[/]", markup=True, highlight=False)
    if reason.get("errors"):
        _issues_table(reason["errors"])
    total, shown = reason.get("error_count", 0), len(reason.get("errors", []))
    if total > shown:
        console.print(f"… {total - shown} more problems not listed (error_count = {total})")
    if reason["lines"]:
        console.print("in the file:")
        for item in reason["lines"]:
            console.print(f"  {item['line']:>6} | {item['text']}", markup=False,
                          highlight=False)
    console.print(f"file: {reason.get('path')}")
    console.print(f"after fixing: [bold]{reason.get('reprocess')}[/]")


@quarantine_app.command("reprocess")
def quarantine_reprocess(
    file_ids: Annotated[list[int] | None, typer.Argument(help="File ids.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every quarantined file.")] = False,
    route: Annotated[str | None, typer.Option("--route", "-r", help="With --all.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Deliver even a duplicate.")] = False,
    project: ProjectOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Run quarantined files again, after fixing the file (in place) or the mapping."""
    if not file_ids and not all_:
        err.print("Give file ids, or --all.")
        raise typer.Exit(2)
    with _engine(project) as (_p, pipeline):
        ledger = pipeline.ledger
        ids = list(file_ids or []) + ([r["id"] for r in ops.quarantined(ledger, route)]
                                      if all_ else [])
        results: list[FileResult] = []
        refused: list[RequestError] = []
        for file_id in ids:  # one file refused never stops the others
            try:
                results.append(pipeline.reprocess(file_id, force=force))
            except RequestError as exc:
                refused.append(exc)
                err.print(f"[yellow]{exc}[/]", highlight=False)
    summary = RunSummary(results=results)
    code = bulk_status((r.outcome for r in results), refused)
    if as_json:
        _print_json(ops.run_report(summary, refused, exit_code=code))
    else:
        _print_summary(summary.results, {})
    raise typer.Exit(code)


@quarantine_app.command("discard")
def quarantine_discard(
    file_id: Annotated[int, typer.Argument()],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")],
    project: ProjectOpt = Path("."),
) -> None:
    """Give up on a quarantined file: it moves to archive/<route>/discarded/, with the reason."""
    with _ledger(project) as (proj, ledger):
        where = _or_exit(lambda: ops.discard(proj, ledger, file_id, reason))
    console.print(f"file {file_id} discarded; kept at {where}")


# -- history / status -------------------------------------------------------------------------


@app.command()
def history(
    key: Annotated[str, typer.Argument(help="File id or file name.")],
    project: ProjectOpt = Path("."),
    as_json: JsonOpt = False,
) -> None:
    """Every step a file went through."""
    with _ledger(project) as (_p, ledger):
        trail = _or_exit(lambda: ops.history(ledger, key))
    if as_json:
        _print_json(trail)
        return
    for item in trail:
        f = item["file"]
        console.print(f"[bold]file {f['id']}[/]: {f['name']} (route {f['route']}, "
                      f"{f['state']}, attempt {f['attempt']}, sha256 {(f['sha256'] or '')[:12]})")
        table = Table()
        for column in ("when (UTC)", "who", "from", "to", "detail"):
            table.add_column(column, overflow="fold")
        for e in item["events"]:
            table.add_row(e["at"][:19].replace("T", " "), e["actor"], e["from_state"] or "",
                          e["to_state"], e["detail"] or "")
        console.print(table)
        if item["batches"]:  # HTTP pushes: what the receiver was sent, batch by batch
            batches = Table(title="HTTP batches", title_justify="left")
            for column in ("batch", "records", "status", "attempts", "last answer", "key"):
                batches.add_column(column, overflow="fold")
            for b in item["batches"]:
                first = b["first_record"] + 1
                batches.add_row(str(b["index"] + 1),
                                f"{first}-{first + b['record_count'] - 1}", b["status"],
                                str(b["attempts"]), str(b["last_code"] or b["last_error"] or ""),
                                b["key"])
            console.print(batches)


@app.command()
def status(project: ProjectOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Per route: last run, counts, pending and quarantined files."""
    with _ledger(project) as (proj, ledger):
        rows = ops.status(proj, ledger)
    if as_json:
        _print_json(rows)
        return
    table = Table(title="Routes", title_justify="left")
    for column in ("route", "last run", "last result", "delivered", "quarantined", "pending",
                   "last arrival", "schedule", "next run", "overdue"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["route"], (r["last_run"] or "never")[:16], r["last_result"] or "",
                      str(r["delivered"]), str(r["quarantined"]), str(r["pending"]),
                      (r["last_arrival"] or "never")[:16], r["schedule"],
                      (r["next_run"] or "")[:16],
                      f"[red]since {r['overdue_since'][:16]}[/]" if r["overdue_since"] else "")
    console.print(table)
    beat = rows[0]["serve_heartbeat"] if rows else None
    console.print(f"serve: {beat['worker']} {beat['state']}, heartbeat {beat['age_s']:.0f}s ago"
                  if beat else "serve: no heartbeat yet (tradelane serve has not run)")


def _or_exit(action: Any) -> Any:
    """The action's result; an error is one message and its exit code, never a traceback."""
    try:
        return action()
    except InvalidRoute as exc:
        err.print(f"[red]{exc}[/]", highlight=False, soft_wrap=True)
        for problem in exc.problems:
            err.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(exit_status(error=exc)) from None
    except TradelaneError as exc:
        err.print(f"[red]{exc}[/]", highlight=False, soft_wrap=True)
        raise typer.Exit(exit_status(error=exc)) from None
    except Exception as exc:  # a bug: said in one line, with what to report
        logging.getLogger("tradelane").debug("internal error", exc_info=True)
        err.print(f"[bold red]internal error[/] ({type(exc).__name__}: {exc}); please report"
                  " it (run with TRADELANE_DEBUG=1 for the traceback)", highlight=False,
                  soft_wrap=True)
        if os.environ.get("TRADELANE_DEBUG"):
            raise
        raise typer.Exit(exit_status(error=exc)) from None


def main() -> None:  # pragma: no cover - console script
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
