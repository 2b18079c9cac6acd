"""``tradelane draft --sample FILE``: a route spec drafted from a sample, for a human to finish.
Presentation only: the profiling is ``tradelane.draft``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from tradelane.cli.output import LazyConsole
from tradelane.draft.errors import DraftExists
from tradelane.errors import EXIT_BUG, EXIT_CONFIG, RequestError, exit_status

console = LazyConsole(highlight=False)
err = LazyConsole(stderr=True, highlight=False)


def draft(
    sample: Annotated[Path, typer.Option(
        "--sample", help="A real file of the feed, as the partner sends it.", exists=True,
        dir_okay=False)],
    name: Annotated[str | None, typer.Option(
        "--name", help="Route name (default: from the sample's file name).")] = None,
    stdout: Annotated[bool, typer.Option(
        "--stdout", help="Print the draft instead of writing mappings/NAME.yaml.")] = False,
    schema: Annotated[bool, typer.Option(
        "--schema", help="JSON and JSON Lines samples: also write schemas/NAME.schema.json, a"
        " JSON Schema (2020-12) of the records as the sample shows them (types, the keys"
        " in every record, date formats, clear code lists), and a validate: step naming"
        " it. Off by default: one sample is narrower than what a partner may send, so a"
        " schema is a choice to review, not a guess to apply silently.")] = False,
    project: Annotated[Path, typer.Option(
        "--project", "-C", envvar="TRADELANE_HOME",
        help="Project folder (holds tradelane.yaml and mappings/).")] = Path("."),
) -> None:
    """Profile a sample file and write a route spec to finish: format, encoding, delimiter,
    record path or segment, fields with types, each guess with its evidence (exit 6 if the
    mapping exists: a draft never writes over one)."""
    from tradelane.spec._base import ROUTE_NAME  # the spec models: only when drafting

    if name is not None and not ROUTE_NAME.match(name):
        err.print(f"--name {name!r}: use lower-case letters, digits, '_' and '-' (at most 64)")
        raise typer.Exit(EXIT_CONFIG)
    if schema and stdout:
        err.print("--schema writes schemas/NAME.schema.json beside the route: use it without"
                  " --stdout")
        raise typer.Exit(EXIT_CONFIG)
    target = None if stdout else _mappings(project) / f"{name or _default(sample)}.yaml"
    if target is not None and target.exists():  # before profiling: say it at once
        _fail(DraftExists(target))
    from tradelane.draft.drafting import draft_route, schema_file  # Arrow, lxml: to draft

    schema_path = project.resolve() / schema_file(name or _default(sample)) if schema else None
    if schema_path is not None and schema_path.exists():
        _fail(DraftExists(schema_path, "schema"))
    try:
        route, text, schema_text = draft_route(sample, name, schema=schema)
    except RequestError as exc:
        _fail(exc)
    except Exception as exc:  # a bug: one line, with what to report, never a traceback
        err.print(f"[bold red]internal error[/] ({type(exc).__name__}: {exc}) while drafting"
                  f" from {sample}; please report it (TRADELANE_DEBUG=1 shows the traceback)",
                  soft_wrap=True)
        if os.environ.get("TRADELANE_DEBUG"):
            raise
        raise typer.Exit(EXIT_BUG) from None
    if target is None:
        sys.stdout.write(text)
        return
    if schema_path is not None and schema_text is not None:
        schema_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with schema_path.open("x", encoding="utf-8") as fh:
                fh.write(schema_text)
        except FileExistsError:
            _fail(DraftExists(schema_path, "schema"))
        console.print(f"wrote {_shown(schema_path)}: the JSON Schema of its records",
                      soft_wrap=True)
    try:
        with target.open("x", encoding="utf-8") as fh:  # "x": never over a file
            fh.write(text)
    except FileExistsError:  # written by someone else in the meantime
        _fail(DraftExists(target))
    fields = text.count("{source: ")
    console.print(f"wrote {_shown(target)}: route {route}, {fields} fields drafted from"
                  f" {sample.name}", soft_wrap=True)
    console.print("Read the comments (each guess says why), finish the TODOs, then:")
    console.print(f"  tradelane check && tradelane validate {sample} --route {route}",
                  soft_wrap=True)


def _default(sample: Path) -> str:
    from tradelane.draft.drafting import route_name

    return route_name(sample.stem)


def _mappings(project: Path) -> Path:
    """The project's mappings folder, as tradelane.yaml names it (created if missing)."""
    import yaml
    from pydantic import ValidationError

    from tradelane.spec.settings import Settings

    root = project.resolve()
    config = root / "tradelane.yaml"
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) if config.exists() else {}
        settings = Settings.model_validate({**(data or {}), "root": root})
    except (yaml.YAMLError, ValidationError, TypeError) as exc:
        err.print(f"{config}: cannot be read ({type(exc).__name__}); run tradelane check")
        raise typer.Exit(EXIT_CONFIG) from None
    folder = settings.path(settings.mappings)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _fail(exc: RequestError) -> None:
    err.print(f"[red]{exc}[/]", soft_wrap=True)
    raise typer.Exit(exit_status(error=exc))
