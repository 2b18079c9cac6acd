"""``tradelane spec [PATH]``: the option reference, generated from the spec declarations."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tradelane.cli.output import LazyConsole
from tradelane.errors import EXIT_NOT_FOUND

err = LazyConsole(stderr=True, highlight=False)


def spec(
    path: Annotated[str, typer.Argument(
        help="A section (tradelane.yaml, route, format.csv, source.sftp, target.http,"
        " connection.sftp), or an option in one (route.expect.by). Empty: everything.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="As docs/reference.md (tradelane spec --markdown >"
        " docs/reference.md).")] = False,
) -> None:
    """Every option of tradelane.yaml and of a route: type, default, description, example
    (exit 5 if PATH names nothing)."""
    # the spec models (pydantic) load only for this command, not for every other one
    from tradelane.spec.reference import reference, sections
    from tradelane.spec.reference_docs import render_json, render_markdown, render_text

    try:
        options = reference(path)
    except KeyError as exc:
        err.print(exc.args[0], markup=False, soft_wrap=True)
        err.print(f"sections: {', '.join(sections())}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_NOT_FOUND) from None
    render = render_json if as_json else render_markdown if markdown else render_text
    sys.stdout.write(render(options))
