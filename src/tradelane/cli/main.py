"""The ``tradelane`` command. Presentation only: every decision is made in the engine.

Exit codes: 0 ok, 1 crash (a bug), 2 configuration or usage error, 3 some files quarantined
(or a file is invalid, for ``validate``), 4 some files left pending after temporary failures.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import importlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradelane.cli.acks import acks as acks_command
from tradelane.cli.acks import late_acks
from tradelane.cli.console import console as console_command
from tradelane.cli.draft import draft as draft_command
from tradelane.cli.drift import drift as drift_command
from tradelane.cli.edi import edi_app
from tradelane.cli.output import LazyConsole
from tradelane.cli.partners import partners as partners_command
from tradelane.cli.prune import prune as prune_command
from tradelane.cli.serve import serve
from tradelane.cli.sftp import sftp_app
from tradelane.cli.spec import spec as spec_command
from tradelane.cli.tables import Column, Styled, render
from tradelane.cli.users import user_app
from tradelane.errors import (
    EXIT_CONFLICT,
    ConfigError,
    InvalidRoute,
    LedgerUnavailable,
    TradelaneError,
    bulk_status,
    exit_status,
)
from tradelane.models import FileResult, Outcome, RunSummary


class _Deferred:
    """A module imported at its first use, so that a command pays only for what it uses."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


if TYPE_CHECKING:
    from tradelane import ops
    from tradelane.ledger import Ledger
    from tradelane.runner import Runner
    from tradelane.spec import Project
else:
    # the operations bring the ledger (SQLAlchemy) and the spec models (pydantic): --version,
    # --help, spec and edi answer without them
    ops = _Deferred("tradelane.ops")

class _Tradelane(typer.Typer):
    """The app as the ``tradelane`` script (and ``python -m tradelane``) starts it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Start-up makes some 170,000 objects the collector tracks (the spec's models,
        # SQLAlchemy's) and keeps them all: collecting among them was a sixth of an empty
        # run --once. Paused until the project is loaded (``_started``), or until a command
        # that loads none begins.
        gc.disable()
        whole = args or "args" in kwargs  # called with its arguments: not the command line
        return typer.Typer.__call__(self if whole else self._only(sys.argv[1:2]),
                                    *args, **kwargs)

    def _only(self, name: list[str]) -> typer.Typer:
        """The app with only the command (or group) ``name`` names: Typer builds the options
        of every command it holds on each start (about 30 ms for all of them); help on the
        whole app, or a name that is not a command, gets the whole app."""
        commands = [c for c in self.registered_commands if c.callback is not None and (
            c.name or typer.main.get_command_name(c.callback.__name__)) in name]
        groups = [g for g in self.registered_groups if g.name in name]
        if not commands and not groups:
            return self
        only = copy.copy(self)
        only.registered_commands, only.registered_groups = commands, groups
        return only


app = _Tradelane(
    help="tradelane: pick up partner files, validate, transform, deliver; quarantine the rest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # a docstring's paragraph flows as one sentence in the command list (rich mode keeps its
    # line breaks); write placeholders as NAME, never <name>, which markdown takes for a tag
    rich_markup_mode="markdown",
)
quarantine_app = typer.Typer(help="Inspect, fix and reprocess files that failed.",
                             no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(sftp_app, name="sftp")
app.add_typer(edi_app, name="edi")
app.add_typer(user_app, name="user")
app.command("serve")(serve)
app.command("console")(console_command)
app.command("spec")(spec_command)
app.command("draft")(draft_command)
app.command("drift")(drift_command)
app.command("acks")(acks_command)
app.command("partners")(partners_command)
app.command("prune")(prune_command)

console = LazyConsole()
err = LazyConsole(stderr=True)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.line(f"tradelane {version('tradelane')}", highlight=False)
        raise typer.Exit(0)


#: The commands that load the project through ``_load``, which ends their start-up.
_LOADS_PROJECT = {"run", "check", "validate", "quarantine", "history", "status"}


@app.callback()
def _options(ctx: typer.Context, version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """tradelane: pick up partner files, validate, transform, deliver; quarantine the rest."""
    if ctx.invoked_subcommand not in _LOADS_PROJECT:
        _started()  # serve, console...: long lives, whose start-up is not what counts

ProjectOpt = Annotated[Path, typer.Option(
    "--project", "-C", envvar="TRADELANE_HOME",
    help="Project folder (holds tradelane.yaml and mappings/).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
WideOpt = Annotated[bool, typer.Option(
    "--wide", help="Every column in full, however wide (default: fit the terminal).")]

_STYLE = {Outcome.DELIVERED: "green", Outcome.QUARANTINED: "red", Outcome.DUPLICATE: "yellow",
          Outcome.PENDING: "yellow", Outcome.LOST: "bold red", Outcome.FAILED: "bold red"}


@contextmanager
def _ledger(project_dir: Path) -> Iterator[tuple[Project, Ledger]]:
    """The project and its ledger. A ledger that cannot be opened or used is one line naming
    it and the cause (exit 2 if it is damaged, 4 if it is unavailable), never a traceback."""
    from tradelane.ledger import Ledger

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
    from tradelane.spec import load_project

    try:
        return load_project(project_dir, isolate=isolate)
    except ConfigError as exc:
        _config_failure(exc)
        raise  # unreachable
    finally:
        _started()


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
    wide: WideOpt = False,
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
        _print_summary(summary.results, {**problems, **summary.config_errors}, wide=wide)
    raise typer.Exit(summary.exit_code)


def _run_with_progress(pipeline: Runner, routes: list[str] | None, *, quiet: bool) -> Any:
    if quiet or not console.is_terminal:
        return pipeline.run_once(routes)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console.rich, transient=True) as progress:
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
    split = f"; {result.split_out} split out to quarantine" if result.split_out else ""
    where = result.outputs[0]
    if where.startswith("file://"):
        path = Path(where.removeprefix("file://"))
        with contextlib.suppress(ValueError):
            where = str(path.relative_to(Path.cwd()))
    return f"{result.records} records -> {where}{split}"


_RUN_COLUMNS = (Column("id", 0, cut=None, justify="right"), Column("route", 2, min=8,
                cut="middle"), Column("file", 0, min=14, cut="middle"),
                Column("outcome", 0, cut=None), Column("details", 1, min=12))


def _print_summary(results: list[FileResult], route_problems: dict[str, str], *,
                   wide: bool = False) -> None:
    if not results and not route_problems:
        console.line("Nothing to do: no file is ready.")
        return
    if results:
        render(console, _RUN_COLUMNS,
               [(str(r.file_id), r.route, r.name, Styled(str(r.outcome), _STYLE[r.outcome]),
                 _details(r)) for r in results], title="This run", wide=wide)
    for route, message in route_problems.items():
        console.print(f"[yellow]route {route}: {message}[/]", highlight=False)
    counts = {o: sum(r.outcome == o for r in results) for o in Outcome}
    split = sum(r.split_out for r in results)
    console.line(", ".join([f"{n} {o}" for o, n in counts.items() if n]
                           + ([f"{split} records split out"] if split else [])) or "no files")
    if split:
        routes = sorted({r.route for r in results if r.split_out})
        console.print(f"Split-out records: [bold]tradelane quarantine list --route"
                      f" {routes[0]}[/]", highlight=False)
    if counts[Outcome.QUARANTINED] or counts[Outcome.DUPLICATE]:
        first = next(r for r in results if r.outcome in (Outcome.QUARANTINED, Outcome.DUPLICATE))
        console.print(f"See why with: [bold]tradelane quarantine show {first.file_id}[/]")


# -- check / validate -------------------------------------------------------------------------


@app.command()
def check(project: ProjectOpt = Path("."), owners: Annotated[bool, typer.Option(
        "--owners", help="Also list every route's owner, and the routes with none.")] = False,
          ) -> None:
    """Validate tradelane.yaml and every mapping; print every problem (exit 0 or 2)."""
    proj = _load(project, isolate=False)
    from rich.text import Text

    from tradelane.spec.checks import Advice, check_far_side

    far = check_far_side(proj)  # a table's columns, AS2 and PGP keys: looked at, not used
    for advice in (f for f in far if isinstance(f, Advice)):
        err.print(Text.assemble(("warning", "yellow"), f": {advice}"), soft_wrap=True)
    problems = [f for f in far if not isinstance(f, Advice)]
    if problems:
        _config_failure(ConfigError(problems))
    console.print(f"[green]OK[/]: {len(proj.routes)} route(s): {', '.join(sorted(proj.routes))}")
    if owners:
        listing = ops.owners(proj)
        for r in listing:
            console.print(f"  {r['route']}: {r['owner'] or '[yellow]no owner[/]'}",
                          highlight=False)
        unowned = [r["route"] for r in listing if not r["owner"]]
        console.print(f"routes with no owner: {', '.join(unowned)}" if unowned
                      else "every route has an owner", highlight=False)


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
        if report["steps"]:  # what the reader was given: the file after these
            console.print(f"before_read steps applied: {', then '.join(report['steps'])}",
                          markup=False, highlight=False)
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
    from rich.table import Table

    table = Table()
    for column in ("location", "field", "value", "rule", "message"):
        table.add_column(column, overflow="fold")
    for e in errors:
        # split-out rejects: the place in this file, then where the original had it
        where = e["location"] + (f" (original: {e['original_location']})"
                                 if e.get("original_location") else "")
        table.add_row(where, e["field"], e["value"], e["rule"], e["message"])
    console.print(table)


# -- quarantine -------------------------------------------------------------------------------


@quarantine_app.command("list")
def quarantine_list(
    project: ProjectOpt = Path("."),
    route: Annotated[str | None, typer.Option("--route", "-r")] = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
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
    columns = (Column("id", 0, cut=None, justify="right"),
               Column("route", 3, min=8, cut="middle"), Column("file", 0, min=14, cut="middle"),
               Column("stage", 4, cut=None), Column("errors", 5, cut=None, justify="right"),
               Column("attempt", 6, cut=None, justify="right"),
               Column("since", 5, cut=None), Column("why", 1, min=12))
    render(console, columns, [
        (str(r["id"]), r["route"], r["name"], r["stage"] or "", str(r["error_count"] or ""),
         str(r["attempt"]), r["since"][:16].replace("T", " "), r["message"] or "")
        for r in rows], title=f"Quarantine ({len(rows)})", wide=wide)
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
    wide: WideOpt = False,
) -> None:
    """Run quarantined files again, after fixing the file (in place) or the mapping."""
    if not file_ids and not all_:
        err.print("Give file ids, or --all.")
        raise typer.Exit(2)
    with _engine(project) as (_p, pipeline):
        ledger = pipeline.ledger
        ids = list(file_ids or []) + ([r["id"] for r in ops.quarantined(ledger, route)]
                                      if all_ else [])
        done = ops.reprocess_many(
            pipeline, ids, force=force,
            on_refused=lambda exc: err.print(f"[yellow]{exc}[/]", highlight=False))
        results, refused = done.results, done.refused
    summary = RunSummary(results=results)
    code = bulk_status((r.outcome for r in results), refused)
    if as_json:
        _print_json(ops.run_report(summary, refused, exit_code=code))
    else:
        _print_summary(summary.results, {}, wide=wide)
    raise typer.Exit(code)


@quarantine_app.command("edit")
def quarantine_edit(
    file_id: Annotated[int, typer.Argument(help="File id from 'quarantine list'.")],
    from_file: Annotated[Path | None, typer.Option(
        "--from", help="Take the fixed text from this file instead of opening $EDITOR.",
        exists=True, dir_okay=False)] = None,
    project: ProjectOpt = Path("."),
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Fix a quarantined text file and reprocess it: opens $EDITOR on a copy (or takes
    --from FILE). The original stays in quarantine; the change is kept in the history as a
    diff (exit 0 delivered, 3 still quarantined, 6 refused: not text, too big, unchanged)."""
    with _engine(project) as (proj, pipeline):
        current = _or_exit(lambda: ops.editable(proj, pipeline.ledger.get(file_id)))
        if from_file is not None:
            text = _or_exit(lambda: _read_fix(from_file, current.encoding, file_id))
        else:
            text = _edit_in_editor(current.text)
        user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
        result, diff = _or_exit(lambda: ops.resubmit(pipeline, file_id, text,
                                                     base_sha256=current.sha256, who=user))
    if as_json:
        _print_json(ops.run_report(RunSummary(results=[result])) | {"diff": diff})
    else:
        console.print(diff, markup=False, highlight=False)
        _print_summary([result], {}, wide=wide)
    raise typer.Exit(bulk_status([result.outcome], []))


def _read_fix(path: Path, encoding: str, file_id: int) -> str:
    try:
        return path.read_bytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise ops.NotEditable(file_id, f"{path} is not text in the route's encoding,"
                                       f" {encoding} (byte {exc.start})") from None


def _edit_in_editor(text: str) -> str:
    """``text`` after the user's $EDITOR (or $VISUAL, else vi) has changed it."""
    import shlex
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="tradelane-edit-") as folder:
        path = Path(folder) / "file.txt"
        path.write_bytes(text.encode("utf-8"))  # as it is: line ends untouched
        if subprocess.call([*shlex.split(editor), str(path)]) != 0:
            err.print(f"The editor ({editor}) failed; nothing was changed.")
            raise typer.Exit(EXIT_CONFLICT)
        return path.read_bytes().decode("utf-8", errors="replace")


@quarantine_app.command("discard")
def quarantine_discard(
    file_ids: Annotated[list[int] | None, typer.Argument(help="File ids.")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")] = "",
    all_: Annotated[bool, typer.Option("--all", help="Every quarantined file (with the"
                                       " filters).")] = False,
    route: Annotated[str | None, typer.Option("--route", "-r", help="With --all.")] = None,
    stage: Annotated[str | None, typer.Option(
        "--stage", help="With --all: read, validate, transform, deliver or duplicate.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="--all without asking.")] = False,
    project: ProjectOpt = Path("."),
) -> None:
    """Give up on quarantined files: each moves to archive/ROUTE/discarded/, with the
    reason (exit 5 none found, 6 refused, 7 some discarded and some refused)."""
    if not reason.strip() or not (file_ids or all_):
        err.print("Give file ids (or --all with --route/--stage) and --reason TEXT.")
        raise typer.Exit(2)
    with _ledger(project) as (proj, ledger):
        ids = list(file_ids or []) + (
            _or_exit(lambda: ops.quarantined_ids(ledger, proj, route, stage)) if all_ else [])
        if all_ and not yes and ids and not typer.confirm(
                f"Discard {len(ids)} file(s) ({', '.join(map(str, ids[:10]))}"
                f"{'…' if len(ids) > 10 else ''})?", default=False):
            console.print("Nothing discarded.")
            raise typer.Exit(EXIT_CONFLICT)
        done, refused = ops.discard_many(proj, ledger, ids, reason)
    for file_id, where in done:
        console.print(f"file {file_id} discarded; kept at {where}", highlight=False)
    for exc in refused:
        err.print(f"[yellow]{exc}[/]", highlight=False, soft_wrap=True)
    if not ids:
        console.print("Nothing to discard.")
    raise typer.Exit(bulk_status([], refused, done=len(done)))


# -- history / status -------------------------------------------------------------------------


@app.command()
def history(
    key: Annotated[str, typer.Argument(help="File id or file name.")],
    project: ProjectOpt = Path("."),
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Every step a file went through."""
    with _ledger(project) as (_p, ledger):
        trail = _or_exit(lambda: ops.history(ledger, key))
        _as2_messages(ledger, trail)
    if as_json:
        _print_json(trail)
        return
    from rich.table import Table

    for item in trail:
        f = item["file"]
        console.print(f"[bold]file {f['id']}[/]: {f['name']} (route {f['route']}, "
                      f"{f['state']}, attempt {f['attempt']}, sha256 {(f['sha256'] or '')[:12]})")
        columns = (Column("when (UTC)", 0, cut=None), Column("who", 3, min=8, cut="middle"),
                   Column("from", 2, cut=None), Column("to", 0, cut=None),
                   Column("detail", 1, min=12))
        render(console, columns, [
            (e["at"][:19].replace("T", " "), e["actor"], e["from_state"] or "", e["to_state"],
             e["detail"] or "") for e in item["events"]], wide=wide)
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
        _as2_received(item.get("as2_received") or [])
        if item.get("as2"):  # AS2 messages: the id the partner knows, and its MDN
            messages = Table(title="AS2 messages", title_justify="left")
            for column in ("message id", "partner", "state", "MDN", "MDN at (UTC)"):
                messages.add_column(column, overflow="fold")
            for m in item["as2"]:
                messages.add_row(m["message_id"], m["partner"], m["state"],
                                 m["mdn_status"] or "", _when(m["mdn_at"], ""))
            console.print(messages)


def _as2_messages(ledger: Any, trail: list[dict[str, Any]]) -> None:
    """Add each file's AS2 messages (sent by an as2 target, or received as it) to its
    history."""
    from tradelane.as2.ledger import add_to_history

    add_to_history(ledger.engine, trail)


def _as2_received(messages: list[dict[str, Any]]) -> None:
    for m in messages:
        mdn = m["mdn"]
        answered = "no MDN was asked for" if mdn is None else (
            f"we answered with a {'signed' if mdn['signed'] else 'unsigned'} MDN:"
            f" {mdn['disposition']}")
        console.print(
            f"received over AS2: message {m['message_id']} from {m['from']} to"
            f" {m['to'] or '?'} at {_when(m['received_at'])}, signature"
            f" {'verified' if m['signature_verified'] else 'none (unsigned message)'};"
            f" {answered}", markup=False, highlight=False, soft_wrap=True)


_STATUS_COLUMNS = (
    Column("route", 0, min=10, cut="middle"), Column("last run", 3, cut=None),
    Column("last result", 2, min=12), Column("last files", 4, min=12),
    Column("ok", 0, cut=None, justify="right"), Column("quar", 0, cut=None, justify="right"),
    Column("dup", 1, cut=None, justify="right"), Column("pend", 0, cut=None, justify="right"),
    Column("alerts", 1, cut=None, justify="right"), Column("overdue", 2, cut=None),
    Column("acks late", 2, cut=None, justify="right"),
    Column("owner", 5, min=8), Column("next run", 6, cut=None),
    Column("schedule", 7, min=8), Column("last arrival", 7, cut=None))


def _when(value: str | None, never: str = "never") -> str:
    return (value or never)[:16].replace("T", " ")


@app.command()
def status(project: ProjectOpt = Path("."), as_json: JsonOpt = False,
           wide: WideOpt = False) -> None:
    """Per route: last run and last run with files, counts (duplicates apart), open alerts,
    interchanges sent still waiting for their acknowledgement past ack_within (acks late),
    owner; routes disabled by an invalid mapping."""
    with _ledger(project) as (proj, ledger):
        rows = ops.status(proj, ledger)
        late_acks(ledger, rows)
        from tradelane.ledger.leader import who

        leader = who(ledger.engine)  # the worker doing the cluster-wide duties
        for row in rows:
            row["serve_leader"] = leader
    if as_json:
        _print_json(rows)
        return
    from rich.text import Text

    render(console, _STATUS_COLUMNS, [(
        r["route"] if r["mapping"] == "ok" else Text(f"{r['route']} (disabled)", style="red")
        if r["mapping"] == "disabled" else Text(f"{r['route']} (invalid)", style="yellow"),
        _when(r["last_run"]), r["last_result"] or "",
        f"{_when(r['last_files_run'])} {r['last_files_result']}".strip(),
        str(r["delivered"]), str(r["quarantined"]), str(r["duplicates"]), str(r["pending"]),
        Text(str(r["open_alerts"]), style="red") if r["open_alerts"] else "0",
        Text(f"since {_when(r['overdue_since'])}", style="red") if r["overdue_since"] else "",
        Text(str(r["acks_late"]), style="red") if r["acks_late"] else "",
        r["owner"] or Text("none", style="yellow"), _when(r["next_run"], ""),
        r["schedule"], _when(r["last_arrival"])) for r in rows], title="Routes", wide=wide)
    for r in rows:
        if r["mapping"] != "ok":
            console.print(f"[red]route {r['route']}: mapping {r['mapping']}[/]",
                          highlight=False)
            for problem in r["mapping_problems"]:
                console.print(f"  {problem}", markup=False, highlight=False)
    unowned = [r["route"] for r in rows if not r["owner"] and r["mapping"] == "ok"]
    if unowned:
        console.print(f"no owner: {', '.join(unowned)} (set owner: {{name, email}} in the"
                      " mapping)", highlight=False)
    beat = rows[0]["serve_heartbeat"] if rows else None
    console.print(f"serve: {beat['worker']} {beat['state']}, heartbeat {beat['age_s']:.0f}s ago"
                  if beat else "serve: no heartbeat yet (tradelane serve has not run)")
    if beat:
        console.print(f"leader (alerts, expected arrivals, retention): {leader or 'none now'}",
                      highlight=False)


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


def _started() -> None:
    """The command's start-up (its imports, the project's models) is over: the collector
    runs again, and never scans what start-up made, which lives as long as the process (the
    few thousand objects of cyclic garbage it left, under a megabyte, are kept with it:
    collecting them would cost the 100 ms saved)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def main() -> None:  # pragma: no cover - console script
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
