"""``tradelane sftp test NAME`` and ``tradelane sftp trust NAME``: check and trust a server.

Exit codes: 0 ok; 2 a configuration problem (an unknown or changed host key, a refused login,
a missing key file, a different key already trusted); 4 the server cannot be reached now;
5 no connection of that name; 6 you declined to trust the key. The message says what and
why. Never 1: a failed test is an answer, not a crash.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradelane.cli.output import LazyConsole
from tradelane.errors import (
    EXIT_CONFIG,
    EXIT_CONFLICT,
    EXIT_NOT_FOUND,
    EXIT_PENDING,
    ConfigError,
)

if TYPE_CHECKING:
    from tradelane.sftp_client import SftpSession
    from tradelane.spec import SftpConnection

# paramiko and the SFTP client are imported by these commands only: every other command
# starts 0.1 s sooner without them

sftp_app = typer.Typer(
    help="Check SFTP connections and trust their host keys.", no_args_is_help=True
)
out = LazyConsole(highlight=False)
err = LazyConsole(stderr=True, highlight=False)

ProjectOpt = Annotated[Path, typer.Option(
    "--project", "-C", envvar="TRADELANE_HOME",
    help="Project folder (holds tradelane.yaml).")]
NameArg = Annotated[str, typer.Argument(help="Connection name in tradelane.yaml.")]


def _session(project: Path, name: str) -> SftpSession:
    from tradelane.sftp_client import SftpSession
    from tradelane.spec import load_project

    try:
        settings = load_project(project).settings
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(problem, markup=False)
        raise typer.Exit(2) from None
    conn = settings.connections.get(name)
    if conn is None or conn.sftp is None:
        known = ", ".join(n for n, c in settings.connections.items() if c.sftp) or "none"
        err.print(f"tradelane.yaml: connections: no sftp connection named {name!r}"
                  f" (sftp connections: {known})", markup=False)
        raise typer.Exit(EXIT_NOT_FOUND)  # a name that is not there: not a broken config
    return SftpSession(name, conn.sftp, settings.root)


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]FAILED[/] {message}")
    return typer.Exit(code)


def _network_problem(conn: SftpConnection, exc: BaseException) -> str:
    from tradelane.sftp_client import describe

    where = f"{conn.host}:{conn.port}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return (f"no answer from {where} in time (timeout). Is the host right, and does a"
                " firewall let us through?")
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where}: nothing listens on that port."
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {conn.host!r}: check the host name."
    return f"cannot talk SSH with {where}: {describe(exc)}"


@sftp_app.command("test")
def test(name: NameArg, project: ProjectOpt = Path(".")) -> None:
    """Connect, verify the host key, log in and list the home folder."""
    import paramiko

    from tradelane.sftp_client import fingerprint_of, listdir_raw

    session = _session(project, name)
    conn = session.conn
    out.print(f"Connecting to {conn.host}:{conn.port} as {conn.user} ...")
    try:
        with session:
            client = session.client
            key = session.server_key
            out.print(f"  host key {key.get_name()} {fingerprint_of(key)}: trusted")
            out.print("  login: accepted")
            home = client.normalize(".")
            entries = sum(1 for _ in listdir_raw(client, "."))
            out.print(f"  home folder {home}: {entries} entries")
    except ConfigError as exc:  # host key, login, key file
        raise _fail("\n".join(exc.problems), EXIT_CONFIG) from None
    except PermissionError:
        raise _fail("logged in, but the server denied listing the home folder"
                    " (permission denied).", EXIT_CONFIG) from None
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise _fail(_network_problem(conn, exc), EXIT_PENDING) from None
    out.print(f"[green]OK[/] sftp connection {name!r} works.")


@sftp_app.command("trust")
def trust(
    name: NameArg,
    project: ProjectOpt = Path("."),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Trust without asking (scripts).")]
    = False,
) -> None:
    """Show the server's host key fingerprint and add it to known_hosts after confirmation.

    Compare the fingerprint with the one the partner gives you over another channel (phone,
    e-mail, their documentation) before you confirm.
    """
    import paramiko

    from tradelane.sftp_client import fingerprint_of, known_hosts_name

    session = _session(project, name)
    conn = session.conn
    try:
        key = session.offered_host_key()
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise _fail(_network_problem(conn, exc), EXIT_PENDING) from None
    offered = fingerprint_of(key)
    out.print(f"{conn.host}:{conn.port} offers host key {key.get_name()} {offered}")
    if conn.fingerprint:
        verdict = "matches" if offered == conn.fingerprint else "does NOT match"
        err.print(f"This connection pins fingerprint {conn.fingerprint}, which {verdict} the"
                  " offered key; edit 'fingerprint' in tradelane.yaml to change it.")
        raise typer.Exit(0 if offered == conn.fingerprint else EXIT_CONFIG)
    host = known_hosts_name(conn.host, conn.port)
    known = session.known_host_keys().lookup(host) or {}
    if any(fingerprint_of(k) == offered for k in known.values()):
        out.print(f"[green]Already trusted[/] in {conn.known_hosts}.")
        return
    if known:
        old = ", ".join(f"{k.get_name()} {fingerprint_of(k)}" for k in known.values())
        raise _fail(
            f"{conn.known_hosts} already trusts a different key for {host} ({old}). If the"
            " partner confirms the server's key changed, remove the old entry first:"
            f" ssh-keygen -R '{host}' -f {conn.known_hosts}", EXIT_CONFIG
        )
    if not yes and not typer.confirm(f"Trust this key for {host}?", default=False):
        out.print("Not trusted; nothing changed.")
        raise typer.Exit(EXIT_CONFLICT)
    path = session.trust(key)
    out.print(f"[green]Trusted[/]: added {host} {key.get_name()} to {path}.")
