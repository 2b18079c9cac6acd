"""Sessions live in the ledger: the cookie names one, and logging out ends it on the server.

A copied cookie (from a shared computer, a proxy log, a stolen backup) must stop working the
moment its user logs out, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time

import httpx
from sqlalchemy import func, select

from support.console import PASSWORD, LiveConsole, log_in, token_in
from support.project import ProjectDir
from tradelane.ledger.sessions import console_sessions

COOKIE = "tradelane_console"


def _cookie(client: httpx.Client) -> str:
    value = client.cookies.get(COOKIE)
    assert value, "no session cookie"
    return value


def _rows(project: ProjectDir) -> list[dict]:
    with project.ledger() as ledger, ledger.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(console_sessions).order_by(console_sessions.c.created_at))]


def test_a_cookie_copied_before_logout_no_longer_works(backend_live: LiveConsole,
                                                      backend_project: ProjectDir) -> None:
    with backend_live.client() as ops:
        assert log_in(ops).status_code == 303
        stolen = _cookie(ops)
        assert ops.get("/files/1").status_code == 200
        token = token_in(ops.get("/").text)
        assert ops.post("/logout", data={"csrf_token": token}).status_code == 303
    with backend_live.client() as thief:
        thief.cookies.set(COOKIE, stolen)
        for path in ("/", "/quarantine", "/files/1", "/history?q=1"):
            response = thief.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login")
        # nor can it act: the token of the old session means nothing now
        response = thief.post("/files/1/discard", data={"csrf_token": token, "reason": "x"})
        assert response.status_code == 403
    with backend_project.ledger() as ledger:
        assert ledger.get(1).state.value == "quarantined"
    [row] = _rows(backend_project)
    assert row["user_name"] == "ops" and row["revoked_at"] is not None


def test_the_cookie_carries_only_the_session_id(backend_live: LiveConsole,
                                               backend_project: ProjectDir) -> None:
    with backend_live.client() as ops:
        log_in(ops)
        value = _cookie(ops)
        page = ops.get("/files/1").text
    session_id, _, signature = value.partition(".")
    assert len(session_id) >= 32 and signature
    assert "ops" not in value and token_in(page) not in value
    [row] = _rows(backend_project)
    assert row["id"] != session_id  # the ledger keeps a hash, not the id a cookie needs
    assert row["expires_at"] > row["created_at"] and row["last_seen_at"] is not None
    assert row["address"] == "127.0.0.1"


def test_a_forged_or_unknown_session_is_refused(live: LiveConsole) -> None:
    with live.client() as ops:
        log_in(ops)
        session_id, _, signature = _cookie(ops).partition(".")
    for forged in (f"{session_id}.{signature[::-1]}", f"{session_id[::-1]}.{signature}",
                   session_id, "", "a.b.c"):
        with live.client() as other:
            other.cookies.set(COOKIE, forged)
            assert other.get("/quarantine").status_code == 303, forged


def test_a_session_expires_on_the_server(ops_project: ProjectDir) -> None:
    ops_project.settings("console: {user: ops, session_max_age: 2s}\n")
    server = LiveConsole(ops_project.root)
    try:
        with server.client() as ops:
            log_in(ops)
            assert ops.get("/quarantine").status_code == 200
            time.sleep(2.2)
            assert ops.get("/quarantine").status_code == 303
    finally:
        server.stop()


def test_logging_in_again_starts_a_new_session(live: LiveConsole,
                                               ops_project: ProjectDir) -> None:
    with live.client() as ops:
        anonymous = token_in(ops.get("/login").text)
        log_in(ops)
        first = _cookie(ops)
        assert token_in(ops.get("/").text) != anonymous  # no token from before the login
    with live.client() as again:
        log_in(again)
        assert _cookie(again) != first
    with live.client() as old:
        old.cookies.set(COOKIE, first)
        assert old.get("/").status_code == 200  # another login does not end the first one


def test_ended_and_expired_sessions_are_cleaned_up(ops_project: ProjectDir) -> None:
    ops_project.settings("console: {user: ops, session_max_age: 2s}\n")
    server = LiveConsole(ops_project.root)
    try:
        clients = [server.client() for _ in range(3)]
        for c in clients:
            log_in(c)
        for c in clients[:2]:
            c.post("/logout", data={"csrf_token": token_in(c.get("/").text)})
        rows = _rows(ops_project)
        assert len(rows) == 3 and sum(r["revoked_at"] is not None for r in rows) == 2
        time.sleep(2.2)  # the third expires while nobody looks
        with server.client() as ops:
            log_in(ops)  # a login clears out what has ended
        [row] = _rows(ops_project)
        assert row["revoked_at"] is None
        for c in clients:
            c.close()
    finally:
        server.stop()


def test_a_flash_message_is_shown_once(ops: httpx.Client, ops_project: ProjectDir) -> None:
    token = token_in(ops.get("/files/1").text)
    ops.post("/files/1/discard", data={"csrf_token": token, "reason": " "})
    assert "Say why the file is discarded" in ops.get("/files/1").text
    assert "Say why the file is discarded" not in ops.get("/files/1").text


def test_the_logout_page_says_so(ops: httpx.Client) -> None:
    response = ops.post("/logout", data={"csrf_token": token_in(ops.get("/").text)})
    assert "You are logged out" in ops.get(response.headers["location"]).text


def test_many_anonymous_visits_store_nothing(live: LiveConsole,
                                             ops_project: ProjectDir) -> None:
    for _ in range(20):
        with live.client() as visitor:
            visitor.get("/login")
            visitor.get("/")
    with ops_project.ledger() as ledger, ledger.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(console_sessions)).scalar_one()
    assert count == 0


def test_behind_tls_the_cookie_is_secure_only(ops_project: ProjectDir) -> None:
    ops_project.settings("console: {user: ops, secure_cookie: true}\n")
    server = LiveConsole(ops_project.root)
    try:
        with server.client() as browser:
            page = browser.get("/login")
            anonymous = page.headers["set-cookie"]
            # over plain HTTP a client keeps a Secure cookie to itself: send it as a TLS
            # proxy would pass it on
            cookie = anonymous.split(";")[0]
            response = browser.post("/login", headers={"cookie": cookie}, data={
                "csrf_token": token_in(page.text), "username": "ops", "password": PASSWORD,
                "next": "/"})
        assert response.status_code == 303
        for header in (anonymous, response.headers["set-cookie"]):
            assert "; Secure" in header and "HttpOnly" in header and "SameSite=Strict" in header
        assert "Max-Age=28800" in response.headers["set-cookie"]  # 8 hours, like the server
    finally:
        server.stop()
