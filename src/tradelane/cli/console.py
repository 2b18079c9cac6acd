"""``tradelane console``: the ops web console (registered on the main app in cli.py)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from tradelane.errors import EXIT_REFUSED, ConfigError


def is_loopback(host: str) -> bool:
    """Only this machine can connect (a host name other than localhost counts as not)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def console(
    project: Annotated[Path, typer.Option(
        "--project", "-C", envvar="TRADELANE_HOME",
        help="Project folder (holds tradelane.yaml and mappings/).")] = Path("."),
    port: Annotated[int | None, typer.Option(
        "--port", help="Port to listen on (default: console.port in tradelane.yaml, 8470).",
        min=1, max=65535)] = None,
) -> None:
    """Serve the ops web console (login required; binds to console.bind, 127.0.0.1).

    Beyond loopback it needs console users (tradelane user add): one shared password on a
    network is refused (exit 6)."""
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
    users = len(app.state.console.accounts.users.list())
    if not users and not is_loopback(spec.bind):
        app.state.console.close()
        typer.echo(f"refused: console.bind is {spec.bind}, reachable from other machines, and"
                   " the console has no users, only the single shared password. Add users"
                   " (tradelane user add NAME --role admin) or bind to 127.0.0.1.", err=True)
        raise typer.Exit(EXIT_REFUSED)
    port = port or spec.port
    who = f"{users} console user(s)" if users else f"user {spec.user}"
    typer.echo(f"ops console on http://{spec.bind}:{port}/ ({who}); Ctrl-C stops it")
    uvicorn.run(app, host=spec.bind, port=port, log_level="info", proxy_headers=False,
                server_header=False, date_header=False)
