"""Console users and roles: who may log in, what each role may do, and what the history says.

Users are managed the way ops manage them, with ``tradelane user ...``, while the console runs;
the console notices at the next request.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import termios
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from typer.testing import CliRunner

from support.console import PASSWORD, LiveConsole, log_in, token_in
from support.project import ProjectDir
from support.serving import TRADELANE
from tradelane.cli import app as cli
from tradelane.ledger.users import console_users
from tradelane.models import FileState
from tradelane.web.roles import Role, route_role

PASSWORDS = {"alice": "alice's long password", "olga": "olga operates daily",
             "vic": "vic only looks around"}


def user_cli(project: ProjectDir, *args: str, password: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["user", *args, "-C", str(project.root)],
                                input=None if password is None else password + "\n")
    return result.exit_code, result.output


def _add(project: ProjectDir, name: str, role: str) -> None:
    code, output = user_cli(project, "add", name, "--role", role, "--password-stdin",
                            password=PASSWORDS[name])
    assert code == 0, output


def _state(project: ProjectDir, file_id: int = 1) -> tuple[FileState, int]:
    with project.ledger() as ledger:
        record = ledger.get(file_id)
    return record.state, record.attempt


def _post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    token = token_in(client.get("/files/1").text)
    return client.post(path, data={"csrf_token": token, **data})


@pytest.fixture
def team(ops_project: ProjectDir, live: LiveConsole) -> ProjectDir:
    """alice (admin), olga (operator) and vic (viewer), added while the console runs."""
    for name, role in (("alice", "admin"), ("olga", "operator"), ("vic", "viewer")):
        _add(ops_project, name, role)
    return ops_project


@pytest.fixture
def as_user(live: LiveConsole, team: ProjectDir) -> Iterator[dict[str, httpx.Client]]:
    clients = {name: live.client() for name in PASSWORDS}
    for name, client in clients.items():
        response = log_in(client, password=PASSWORDS[name], user=name)
        assert response.status_code == 303, response.text[:300]
    yield clients
    for client in clients.values():
        client.close()


# -- what each role may do -------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_reprocess_or_discard(as_user: dict[str, httpx.Client],
                                                        team: ProjectDir) -> None:
    vic = as_user["vic"]
    assert "orders_0412.csv" in vic.get("/files/1").text
    refused = _post(vic, "/files/1/reprocess")
    assert refused.status_code == 403
    assert "Your role (viewer) cannot reprocess files; ask an operator." in refused.text
    refused = _post(vic, "/files/1/discard", reason="not needed")
    assert refused.status_code == 403
    assert "Your role (viewer) cannot discard files; ask an operator." in refused.text
    assert _state(team) == (FileState.QUARANTINED, 1)


def test_an_operator_acts_and_the_history_names_them(as_user: dict[str, httpx.Client],
                                                     team: ProjectDir) -> None:
    olga = as_user["olga"]
    response = _post(olga, "/files/1/reprocess")
    assert response.status_code == 303
    assert _state(team) == (FileState.QUARANTINED, 2)
    response = _post(olga, "/files/1/discard", reason="partner resent it")
    assert response.headers["location"] == "/quarantine"
    assert _state(team)[0] == FileState.DISCARDED
    with team.ledger() as ledger:
        events = ledger.events(1)
    actors = {e.to_state: e.actor for e in events}
    assert actors["discarded"] == "console:olga"
    assert "console:olga" in as_user["vic"].get("/history", params={"q": "1"}).text


PUBLIC = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout"),
          ("GET", "/static/console.css"),
          ("GET", "/metrics")}  # a bearer token or a login: test_metrics.py


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every route, including those of included routers (FastAPI includes them lazily)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        else:
            assert isinstance(route, APIRoute), f"{route}: not a route the test can check"
            yield route


def _needs(app: Any) -> dict[tuple[str, str], Role | None]:
    return {(method, route.path): route_role(route)
            for route in _routes(app.routes) for method in route.methods - {"HEAD"}}


def test_every_route_states_the_role_it_needs(live: LiveConsole) -> None:
    """A new page without ``require(...)`` fails here. Reading needs a viewer, changing
    anything an operator, managing users an admin; only PUBLIC is open to anyone."""
    needs = _needs(live.app)
    assert len(needs) >= 10
    for (method, path), needed in needs.items():
        where = f"{method} {path}"
        if (method, path) in PUBLIC:
            assert needed is None, f"{where} is meant to be open"
            continue
        assert needed is not None, f"{where} has no require(Role...) dependency"
        least = (Role.admin if path.startswith("/users")
                 else Role.viewer if method == "GET" else Role.operator)
        assert needed >= least, f"{where} needs only {needed.name}"
    assert needs["POST", "/files/{file_id}/reprocess"] == Role.operator
    assert needs["GET", "/quarantine"] == Role.viewer


def test_every_route_refuses_who_may_not_use_it(live: LiveConsole,
                                                as_user: dict[str, httpx.Client],
                                                team: ProjectDir) -> None:
    """What the last test reads from the routes holds over HTTP: anonymous visitors are sent
    to log in, a role one below the one needed is refused, and nothing changes."""
    below = {Role.operator: "vic", Role.admin: "olga"}
    with live.client() as anonymous:
        for (method, path), needed in _needs(live.app).items():
            if needed is None:
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            token = token_in(anonymous.get("/login").text)
            response = anonymous.request(method, url, data={"csrf_token": token}
                                         if method != "GET" else None)
            assert response.status_code == 303, f"{method} {path} as nobody"
            assert response.headers["location"].startswith("/login")
            if needed in below:
                name = below[needed]
                client = as_user[name]
                token = token_in(client.get("/files/1").text)
                response = client.request(method, url, data={"csrf_token": token}
                                          if method != "GET" else None)
                assert response.status_code == 403, f"{method} {path} as {name}"
                assert "Your role (" in response.text
    assert _state(team) == (FileState.QUARANTINED, 1)


# -- logging in ------------------------------------------------------------------------------


def test_once_users_exist_each_logs_in_by_name(live: LiveConsole, team: ProjectDir) -> None:
    with live.client() as client:
        assert log_in(client).status_code == 401  # the single password no longer works
        assert log_in(client, password=PASSWORDS["vic"], user="olga").status_code == 401
        assert log_in(client, password=PASSWORDS["olga"], user="nobody").status_code == 401
        assert client.get("/").status_code == 303
        assert log_in(client, password=PASSWORDS["olga"], user="Olga").status_code == 303
        page = client.get("/").text
        assert "olga" in page


def test_the_first_user_ends_the_single_password_sessions(ops: httpx.Client,
                                                          ops_project: ProjectDir) -> None:
    assert ops.get("/").status_code == 200
    _add(ops_project, "alice", "admin")
    response = ops.get("/quarantine")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_a_removed_user_is_logged_out_at_the_next_request(
        as_user: dict[str, httpx.Client], team: ProjectDir) -> None:
    assert as_user["olga"].get("/").status_code == 200
    assert user_cli(team, "remove", "olga") == (0, "user olga removed; their sessions are"
                                                   " ended.\n")
    response = as_user["olga"].get("/")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert log_in(as_user["olga"], password=PASSWORDS["olga"], user="olga").status_code == 401


def test_a_demoted_operator_loses_the_right_at_once(as_user: dict[str, httpx.Client],
                                                    team: ProjectDir) -> None:
    olga = as_user["olga"]
    assert user_cli(team, "role", "olga", "viewer")[0] == 0
    refused = _post(olga, "/files/1/reprocess")
    assert refused.status_code == 403 and "Your role (viewer)" in refused.text
    assert _state(team) == (FileState.QUARANTINED, 1)
    assert user_cli(team, "role", "olga", "operator")[0] == 0
    assert _post(olga, "/files/1/reprocess").status_code == 303
    assert _state(team) == (FileState.QUARANTINED, 2)


def test_a_new_password_ends_the_sessions(as_user: dict[str, httpx.Client],
                                          team: ProjectDir) -> None:
    code, _ = user_cli(team, "passwd", "vic", "--password-stdin", password="a brand new one")
    assert code == 0
    assert as_user["vic"].get("/").status_code == 303
    assert log_in(as_user["vic"], password=PASSWORDS["vic"], user="vic").status_code == 401
    assert log_in(as_user["vic"], password="a brand new one", user="vic").status_code == 303


def test_passwords_are_stored_as_argon2id_hashes(team: ProjectDir) -> None:
    with team.ledger() as ledger, ledger.engine.connect() as conn:
        hashes = dict(conn.execute(console_users.select().with_only_columns(
            console_users.c.name, console_users.c.password_hash)).all())
    assert set(hashes) == set(PASSWORDS)
    for name, stored in hashes.items():
        assert stored.startswith("$argon2id$") and PASSWORDS[name] not in stored
    database = (team.root / ".tradelane" / "ledger.db").read_bytes()
    assert not any(p.encode() in database for p in PASSWORDS.values())


# -- the user command ------------------------------------------------------------------------


def test_user_command_answers_and_exit_codes(ops_project: ProjectDir) -> None:
    assert user_cli(ops_project, "list") == (0, "no console users: the console uses the single"
                 " password of tradelane.yaml (add one with: tradelane user add NAME --role"
                 " admin)\n")
    _add(ops_project, "alice", "admin")
    assert user_cli(ops_project, "add", "alice", "--password-stdin",
                    password="another password")[0] == 6  # taken
    code, output = user_cli(ops_project, "add", "bob", "--password-stdin", password="short")
    assert code == 2 and "too short" in output
    code, output = user_cli(ops_project, "add", "bob", "--password-stdin")  # no TTY, no stdin
    assert code == 2
    code, output = user_cli(ops_project, "add", "../bob", "--password-stdin", password="x" * 9)
    assert code == 2 and "invalid user name" in output
    code, output = user_cli(ops_project, "add", "bob", "--role", "boss", "--password-stdin",
                            password="x" * 9)
    assert code == 2 and "choose viewer, operator or admin" in output
    assert user_cli(ops_project, "remove", "carol")[0] == 5
    assert user_cli(ops_project, "role", "carol", "viewer")[0] == 5
    assert user_cli(ops_project, "passwd", "carol", "--password-stdin",
                    password="x" * 9)[0] == 5
    assert user_cli(ops_project, "role", "alice", "operator")[0] == 0
    code, output = user_cli(ops_project, "list", "--json")
    assert code == 0
    [row] = json.loads(output)
    assert (row["name"], row["role"]) == ("alice", "operator")
    code, output = user_cli(ops_project, "list")
    assert code == 0 and "alice" in output and "operator" in output
    assert max(len(line) for line in output.splitlines()) <= 80


def test_console_refuses_a_network_address_without_users(ops_project: ProjectDir) -> None:
    ops_project.settings("console: {user: ops, bind: 0.0.0.0}\n")
    result = CliRunner().invoke(cli, ["console", "-C", str(ops_project.root)])
    assert result.exit_code == 6
    assert "refused: console.bind is 0.0.0.0" in result.output
    assert "tradelane user add" in result.output


def test_no_password_is_needed_once_users_exist(ops_project: ProjectDir,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _add(ops_project, "alice", "admin")
    monkeypatch.delenv("TRADELANE_CONSOLE_PASSWORD")
    server = LiveConsole(ops_project.root)
    try:
        with server.client() as client:
            assert log_in(client, password=PASSWORD).status_code == 401
            assert log_in(client, password=PASSWORDS["alice"], user="alice").status_code == 303
    finally:
        server.stop()


# -- PostgreSQL ------------------------------------------------------------------------------


def test_roles_on_each_backend(backend_project: ProjectDir, backend_live: LiveConsole) -> None:
    _add(backend_project, "olga", "operator")
    _add(backend_project, "vic", "viewer")
    with backend_live.client() as vic, backend_live.client() as olga:
        assert log_in(vic, password=PASSWORDS["vic"], user="vic").status_code == 303
        assert log_in(olga, password=PASSWORDS["olga"], user="olga").status_code == 303
        assert _post(vic, "/files/1/discard", reason="no").status_code == 403
        assert _post(olga, "/files/1/discard", reason="resent").status_code == 303
        assert user_cli(backend_project, "remove", "vic")[0] == 0
        assert vic.get("/").status_code == 303
    with backend_project.ledger() as ledger:
        assert ledger.events(1)[-1].actor == "console:olga"


# -- the users page --------------------------------------------------------------------------


def _admin_post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    token = token_in(client.get("/users").text)
    return client.post(path, data={"csrf_token": token, **data})


def test_an_admin_changes_roles_and_removes_users(as_user: dict[str, httpx.Client],
                                                  team: ProjectDir) -> None:
    alice, vic = as_user["alice"], as_user["vic"]
    page = alice.get("/users").text
    assert all(name in page for name in PASSWORDS) and "alice (you)" in page
    assert _admin_post(alice, "/users/vic/role", role="operator").status_code == 303
    assert "vic is now operator" in alice.get("/users").text
    assert user_cli(team, "list", "--json")[1].count('"operator"') == 2
    assert _post(vic, "/files/1/reprocess").status_code == 303  # at vic's next click
    _admin_post(alice, "/users/alice/role", role="viewer")
    assert "cannot take away your own admin role" in alice.get("/users").text
    _admin_post(alice, "/users/alice/remove")
    assert "cannot remove yourself" in alice.get("/users").text
    _admin_post(alice, "/users/vic/role", role="boss")
    assert "Unknown role" in alice.get("/users").text
    assert _admin_post(alice, "/users/vic/remove").status_code == 303
    assert "vic is removed" in alice.get("/users").text
    assert vic.get("/").status_code == 303  # logged out
    _admin_post(alice, "/users/vic/remove")
    assert "There is no user vic" in alice.get("/users").text


def test_only_admins_see_the_users_page(as_user: dict[str, httpx.Client]) -> None:
    response = as_user["olga"].get("/users")
    assert response.status_code == 403
    assert "Your role (operator) cannot manage users; ask an admin." in response.text
    assert 'id="users"' not in response.text  # no list of users
    assert 'href="/users"' not in as_user["olga"].get("/history").text
    assert 'href="/users"' in as_user["alice"].get("/history").text  # in the menu


def _on_a_terminal(project: ProjectDir, answers: list[str], *args: str) -> tuple[int, str]:
    """``tradelane user ARGS`` with a real terminal (a pty) as its stdin, typing ``answers``
    one after each prompt."""
    main, replica = os.openpty()
    def take_the_terminal() -> None:  # getpass reads /dev/tty: the pty must be it
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([str(TRADELANE), "user", *args, "-C", str(project.root)],
                            stdin=replica, stdout=replica, stderr=replica, close_fds=True,
                            start_new_session=True, preexec_fn=take_the_terminal)
    os.close(replica)
    seen = b""
    try:
        for answer in answers:
            prompt = b""
            while not prompt.rstrip().endswith(b":"):  # this answer's own prompt
                prompt += os.read(main, 1024)
            seen += prompt
            os.write(main, answer.encode() + b"\n")
        code = proc.wait(60)
        with contextlib.suppress(OSError):  # EIO once the process has closed the terminal
            while chunk := os.read(main, 1024):
                seen += chunk
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    return code, seen.decode(errors="replace")


def test_the_password_is_asked_twice_on_a_terminal(ops_project: ProjectDir) -> None:
    code, output = _on_a_terminal(ops_project, ["one password", "another one"],
                                  "add", "anna", "--role", "admin")
    assert code == 2 and "the two passwords differ; nothing was changed" in output
    assert "one password" not in output  # never echoed
    assert user_cli(ops_project, "list", "--json")[1].strip() == "[]"
    code, output = _on_a_terminal(ops_project, ["the same password"] * 2,
                                  "add", "anna", "--role", "admin")
    assert code == 0 and "user anna added (admin)" in output
    assert "the same password" not in output
