"""``tradelane console``: the ops web console (registered on the main app in cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradelane.errors import ConfigError


def console(
    project: Annotated[Path, typer.Option(
        "--project", "-C", envvar="TRADELANE_HOME",
        help="Project folder (holds tradelane.yaml and mappings/).")] = Path("."),
    port: Annotated[int | None, typer.Option(
        "--port", help="Port to listen on (default: console.port in tradelane.yaml, 8470).",
        min=1, max=65535)] = None,
) -> None:
    """Serve the ops web console (login required; binds to console.bind, 127.0.0.1)."""
    import uvicorn

    from tradelane.spec import load_project
    from tradelane.web import create_app

    try:
        app = create_app(project)
        spec = load_project(project).settings.console
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"configuration: {problem}", err=True)
        raise typer.Exit(2) from None
    port = port or spec.port
    typer.echo(f"ops console on http://{spec.bind}:{port}/ (user {spec.user}); Ctrl-C stops it")
    uvicorn.run(app, host=spec.bind, port=port, log_level="info", proxy_headers=False,
                server_header=False, date_header=False)
