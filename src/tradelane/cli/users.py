"""``tradelane user ...``: the ops console's users and their roles, kept in the ledger.

Passwords are never arguments (they would land in the shell history and in ``ps``): they are
asked twice on a terminal, or read from the first line of stdin with ``--password-stdin``.
Exit codes: 2 a bad name, role or password, 5 no such user, 6 the name is taken.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from tradelane.cli.output import LazyConsole
from tradelane.cli.tables import Column, render
from tradelane.errors import EXIT_CONFIG, EXIT_NOT_FOUND

user_app = typer.Typer(help="Console users and their roles (viewer, operator, admin).",
                       no_args_is_help=True)
console = LazyConsole(highlight=False)
err = LazyConsole(stderr=True, highlight=False)

ProjectOpt = Annotated[Path, typer.Option(
    "--project", "-C", envvar="TRADELANE_HOME",
    help="Project folder (holds tradelane.yaml and mappings/).")]
NameArg = Annotated[str, typer.Argument(help="The user's name (letters, digits, . _ @ -).")]
RoleHelp = ("viewer: reads; operator: also reprocesses, forces, discards and edits files;"
            " admin: also manages users.")
StdinOpt = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of stdin (for scripts).")]

_COLUMNS = (Column("user", 0, min=8, cut="middle"), Column("role", 0, cut=None),
            Column("since (UTC)", 1, cut=None), Column("changed (UTC)", 2, cut=None))


def _usage(message: str) -> typer.Exit:
    err.print(message, markup=False, soft_wrap=True)
    return typer.Exit(EXIT_CONFIG)


def _name(name: str) -> str:
    from tradelane.ledger.users import check_name

    try:
        return check_name(name)
    except ValueError as exc:
        raise _usage(str(exc)) from None


def _role(role: str) -> str:
    from tradelane.web.roles import Role

    try:
        return Role.parse(role).name
    except ValueError as exc:
        raise _usage(str(exc)) from None


def _password_hash(from_stdin: bool) -> str:
    """The hash of a new password, read without echo (twice) or from stdin's first line."""
    from tradelane.web.accounts import hash_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise _usage("the two passwords differ; nothing was changed")
    else:
        raise _usage("no terminal to ask the password on: pipe it in with --password-stdin")
    try:
        return hash_password(password)
    except ValueError as exc:
        raise _usage(f"{exc}; nothing was changed") from None


@user_app.command("add")
def add(name: NameArg,
        role: Annotated[str, typer.Option("--role", help=RoleHelp)] = "viewer",
        password_stdin: StdinOpt = False, project: ProjectOpt = Path(".")) -> None:
    """Add a console user (the first one ends the single-password mode and its sessions)."""
    from tradelane.cli.main import _ledger, _or_exit
    from tradelane.ledger.users import Users

    name, role = _name(name), _role(role)
    with _ledger(project) as (_p, ledger):
        users = Users(ledger)
        first = not users.any()
        hashed = _password_hash(password_stdin)
        _or_exit(lambda: users.add(name, role, hashed))
    console.print(f"user {name} added ({role}).")
    if first:
        console.print("The console now asks for a user name and password: the single"
                      " console password no longer logs in.", soft_wrap=True)


@user_app.command("list")
def list_users(project: ProjectOpt = Path("."),
               as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")
                                  ] = False) -> None:
    """The console users and their roles."""
    from tradelane.cli.main import _ledger, _print_json
    from tradelane.ledger.users import Users

    with _ledger(project) as (_p, ledger):
        rows = Users(ledger).list()
    if as_json:
        _print_json([{"name": r.name, "role": r.role, "created_at": r.created_at.isoformat(),
                      "updated_at": r.updated_at.isoformat()} for r in rows])
        return
    if not rows:
        console.print("no console users: the console uses the single password of"
                      " tradelane.yaml (add one with: tradelane user add NAME --role admin)",
                      soft_wrap=True)
        return
    render(console, _COLUMNS, [(r.name, r.role, f"{r.created_at:%Y-%m-%d %H:%M}",
                                f"{r.updated_at:%Y-%m-%d %H:%M}") for r in rows],
           title="Console users")


@user_app.command("remove")
def remove(name: NameArg, project: ProjectOpt = Path(".")) -> None:
    """Remove a user; their open sessions end at once."""
    from tradelane.cli.main import _ledger, _or_exit
    from tradelane.ledger.users import Users

    name = _name(name)
    with _ledger(project) as (_p, ledger):
        users = Users(ledger)
        _or_exit(lambda: users.remove(name))
        left = users.any()
    console.print(f"user {name} removed; their sessions are ended.")
    if not left:
        console.print("No console users are left: the console is back to its single"
                      " password (console.password_env).", soft_wrap=True)


@user_app.command("passwd")
def passwd(name: NameArg, password_stdin: StdinOpt = False,
           project: ProjectOpt = Path(".")) -> None:
    """Set a user's password; their open sessions end (they log in again)."""
    from tradelane.cli.main import _ledger, _or_exit
    from tradelane.ledger.users import UserNotFound, Users

    name = _name(name)
    with _ledger(project) as (_p, ledger):
        users = Users(ledger)
        if users.role(name) is None:  # said before asking for a password
            err.print(f"[red]{UserNotFound(name)}[/]", soft_wrap=True)
            raise typer.Exit(EXIT_NOT_FOUND)
        hashed = _password_hash(password_stdin)
        _or_exit(lambda: users.set_password(name, hashed))
    console.print(f"password of {name} changed; their sessions are ended.")


@user_app.command("role")
def set_role(name: NameArg,
             role: Annotated[str, typer.Argument(help=RoleHelp)],
             project: ProjectOpt = Path(".")) -> None:
    """Change a user's role; it applies at their next click."""
    from tradelane.cli.main import _ledger, _or_exit
    from tradelane.ledger.users import Users

    name, role = _name(name), _role(role)
    with _ledger(project) as (_p, ledger):
        users = Users(ledger)
        _or_exit(lambda: users.set_role(name, role))
    console.print(f"{name} is now {role}.")
