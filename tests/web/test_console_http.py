"""The ops console over real HTTP: login, CSRF, actions, escaping, and its configuration."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from typer.testing import CliRunner

from support.console import BAD_CSV, GOOD_CSV, PASSWORD, LiveConsole, log_in, token_in
from support.project import ProjectDir
from tradelane.cli import app as cli
from tradelane.errors import ConfigError
from tradelane.models import FileState
from tradelane.web import create_app


def _state(project: ProjectDir, file_id: int = 1) -> tuple[FileState, int]:
    with project.ledger() as ledger:
        record = ledger.get(file_id)
    return record.state, record.attempt


# -- login ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/quarantine", "/files/1", "/history?q=1"])
def test_every_page_needs_login(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert "orders_0412" not in response.text


def test_login_then_back_where_you_were(client: httpx.Client) -> None:
    location = client.get("/files/1").headers["location"]
    assert location == "/login?next=%2Ffiles%2F1"
    page = client.get(location)
    assert 'name="next" value="/files/1"' in page.text
    response = client.post("/login", data={"csrf_token": token_in(page.text), "username": "ops",
                                           "password": PASSWORD, "next": "/files/1"})
    assert response.status_code == 303 and response.headers["location"] == "/files/1"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "orders_0412.csv" in client.get("/files/1").text


@pytest.mark.parametrize(("user", "password"), [("ops", "wrong"), ("admin", PASSWORD),
                                                ("ops", "")])
def test_wrong_credentials_are_refused_slowly(client: httpx.Client, user: str,
                                              password: str) -> None:
    started = time.monotonic()
    response = log_in(client, password=password, user=user)
    assert response.status_code == 401
    assert "Wrong user name or password" in response.text
    assert time.monotonic() - started >= 0.45  # a short sleep on every failure
    assert client.get("/").status_code == 303  # still not logged in


def test_login_form_needs_its_csrf_token(client: httpx.Client) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "ops", "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/",
                                    "/\t/evil.example", "/\\evil.example"])
def test_no_open_redirect_after_login(client: httpx.Client, target: str) -> None:
    token = token_in(client.get("/login").text)
    response = client.post("/login", data={"csrf_token": token, "username": "ops",
                                           "password": PASSWORD, "next": target})
    assert response.headers["location"] == "/"


def test_parallel_guesses_queue_up(live: LiveConsole) -> None:
    def guess() -> int:
        with live.client() as c:
            return log_in(c, password="guess").status_code

    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        codes = list(pool.map(lambda _: guess(), range(3)))
    assert codes == [401, 401, 401]
    assert time.monotonic() - started >= 0.5 + 1.0 + 1.5 - 0.1  # one after the other


def test_large_bodies_are_refused_unread(ops: httpx.Client, ops_project: ProjectDir) -> None:
    token = token_in(ops.get("/files/1").text)
    response = ops.post("/files/1/discard", data={"csrf_token": token, "reason": "x" * 70_000})
    assert response.status_code == 413
    assert _state(ops_project) == (FileState.QUARANTINED, 1)


def test_logout_ends_the_session(ops: httpx.Client) -> None:
    token = token_in(ops.get("/").text)
    assert ops.post("/logout", data={"csrf_token": token}).status_code == 303
    assert ops.get("/quarantine").status_code == 303


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example",
                                  "[::1].evil.example", "[::2]:8080", "", "["])
def test_unknown_host_header_is_refused(live: LiveConsole, host: str) -> None:
    # DNS rebinding: a page on another name that resolves to 127.0.0.1
    response = httpx.get(live.url + "/login", headers={"Host": host})
    assert response.status_code == 400


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "LocalHost:443", "[::1]:8080",
                                  "[::1]"])
def test_the_loopback_names_are_served(live: LiveConsole, host: str) -> None:
    response = httpx.get(live.url + "/login", headers={"Host": host})
    assert response.status_code == 200 and "password" in response.text


def test_allowed_hosts_accept_their_names_and_subdomains(ops_project: ProjectDir) -> None:
    ops_project.settings("console:\n  user: ops\n  bind: 0.0.0.0\n  allowed_hosts:"
                         " [Tradelane.example, '*.ops.example', '2001:db8::7']\n")
    server = LiveConsole(ops_project.root)
    try:
        def status(host: str) -> int:
            return httpx.get(server.url + "/login", headers={"Host": host}).status_code

        for host in ("tradelane.example:8443", "a.ops.example", "b.a.ops.example",
                     "[2001:db8::7]:8080"):
            assert status(host) == 200, host
        for host in ("ops.example", "evil-tradelane.example", "127.0.0.1", "[2001:db8::8]"):
            assert status(host) == 400, host
    finally:
        server.stop()


def test_security_headers(ops: httpx.Client) -> None:
    headers = ops.get("/quarantine").headers
    assert "script-src" not in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"


# -- CSRF ----------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["reprocess", "discard"])
@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_actions_without_the_right_token_are_refused(ops: httpx.Client, ops_project: ProjectDir,
                                                     action: str, token: str | None) -> None:
    ops_project.file("quarantine/orders/fixed-meanwhile.txt", "")  # unrelated; nothing moves
    data = {"reason": "test", "force": "1"}
    if token is not None:
        data["csrf_token"] = token
    response = ops.post(f"/files/1/{action}", data=data)
    assert response.status_code == 403
    assert "did not come from the console" in response.text
    assert _state(ops_project) == (FileState.QUARANTINED, 1)
    assert len(ops_project.quarantined("orders")) == 2  # the file and the unrelated one
    assert ops_project.outputs("orders") == []


def test_a_token_from_another_session_is_refused(live: LiveConsole, ops: httpx.Client,
                                                 ops_project: ProjectDir) -> None:
    with live.client() as other:
        log_in(other)
        foreign = token_in(other.get("/files/1").text)
    assert foreign != token_in(ops.get("/files/1").text)
    response = ops.post("/files/1/reprocess", data={"csrf_token": foreign})
    assert response.status_code == 403
    assert _state(ops_project) == (FileState.QUARANTINED, 1)


def test_post_without_login_changes_nothing(client: httpx.Client,
                                            ops_project: ProjectDir) -> None:
    token = token_in(client.get("/login").text)  # a valid token, but not logged in
    response = client.post("/files/1/discard", data={"csrf_token": token, "reason": "x"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert _state(ops_project) == (FileState.QUARANTINED, 1)


# -- actions -------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   \n "])
def test_discard_requires_a_reason(ops: httpx.Client, ops_project: ProjectDir,
                                   reason: str) -> None:
    token = token_in(ops.get("/files/1").text)
    response = ops.post("/files/1/discard", data={"csrf_token": token, "reason": reason})
    assert response.status_code == 303 and response.headers["location"] == "/files/1"
    assert "Say why the file is discarded" in ops.get("/files/1").text
    assert _state(ops_project) == (FileState.QUARANTINED, 1)


def test_discard_with_a_reason(ops: httpx.Client, ops_project: ProjectDir) -> None:
    token = token_in(ops.get("/files/1").text)
    response = ops.post("/files/1/discard",
                        data={"csrf_token": token, "reason": "partner resent it fixed"})
    assert response.headers["location"] == "/quarantine"
    page = ops.get("/quarantine").text
    assert "File 1 was discarded" in page and "The quarantine is empty" in page
    assert _state(ops_project)[0] == FileState.DISCARDED
    kept = list((ops_project.root / "archive" / "orders" / "discarded").iterdir())
    assert [p.name for p in kept if p.name.endswith(".csv")]
    history = ops.get("/history", params={"q": "orders_0412.csv"}).text
    assert "discarded: partner resent it fixed" in history
    assert "console:ops" in history  # who did it


def test_reprocess_a_file_still_bad(ops: httpx.Client, ops_project: ProjectDir) -> None:
    token = token_in(ops.get("/files/1").text)
    response = ops.post("/files/1/reprocess", data={"csrf_token": token})
    assert response.headers["location"] == "/files/1"
    page = ops.get("/files/1").text
    assert "is still in quarantine" in page and "Fix it and try again" in page
    assert _state(ops_project) == (FileState.QUARANTINED, 2)


def test_reprocess_after_a_fix(ops: httpx.Client, ops_project: ProjectDir) -> None:
    [quarantined] = ops_project.quarantined("orders")
    quarantined.write_text(GOOD_CSV)
    token = token_in(ops.get("/files/1").text)
    response = ops.post("/files/1/reprocess", data={"csrf_token": token})
    assert response.headers["location"] == "/quarantine"
    page = ops.get("/quarantine").text
    assert "was delivered: 2 record(s)" in page
    assert [p.name for p in ops_project.outputs("orders")] == ["orders_0412.json"]
    assert _state(ops_project)[1] == 2


def test_a_duplicate_is_delivered_again_only_when_forced(ops: httpx.Client,
                                                         ops_project: ProjectDir) -> None:
    ops_project.drop("orders", "again_a.csv", GOOD_CSV)
    ops_project.run()
    ops_project.drop("orders", "again_b.csv", GOOD_CSV)
    [result] = ops_project.run().results
    assert result.outcome == "duplicate"
    page = ops.get(f"/files/{result.file_id}").text
    assert "deliver even if duplicate" in page
    token = token_in(page)
    ops.post(f"/files/{result.file_id}/reprocess", data={"csrf_token": token})
    assert "Tick &#39;deliver even if duplicate&#39;" in ops.get(f"/files/{result.file_id}").text
    response = ops.post(f"/files/{result.file_id}/reprocess",
                        data={"csrf_token": token, "force": "1"})
    assert response.headers["location"] == "/quarantine"
    assert "again_b.csv) was delivered" in ops.get("/quarantine").text


def test_unknown_file(ops: httpx.Client) -> None:
    response = ops.get("/files/999")
    assert response.status_code == 404 and "no file 999" in response.text


# -- what pages show -----------------------------------------------------------------------


def test_list_detail_status_and_history(ops: httpx.Client) -> None:
    listing = ops.get("/quarantine").text
    assert "orders_0412.csv" in listing and "qty.type" in listing
    assert "orders_0412.csv" in ops.get("/quarantine", params={"route": "orders"}).text
    assert "The quarantine is empty" in ops.get("/quarantine", params={"route": "x"}).text
    detail = ops.get("/files/1").text
    assert "row 2 (line 3)" in detail and "<td>qty</td>" in detail
    assert "1 problem(s) in all" in detail
    assert "PO-1;5;9,50;01.12.2026;open" in detail  # the preview
    status = ops.get("/").text
    assert "<td>orders</td>" in status and "1 quarantined" in status
    history = ops.get("/history", params={"q": "1"}).text
    assert "picked up" in history and "quarantined" in history
    assert "No file nope.csv" in ops.get("/history", params={"q": "nope.csv"}).text


def test_html_in_names_and_values_is_escaped(ops: httpx.Client,
                                             ops_project: ProjectDir) -> None:
    # A file name cannot hold '/', so '</script>' is out; these tags run script just as well.
    name = '<img src=x onerror=alert(1)><script>alert(1)<script>.csv'
    ops_project.drop("orders", name, BAD_CSV.replace("PO-1;5", 'PO-1;"<svg onload=alert(2)>"'))
    [result] = ops_project.run().results
    pages = [ops.get("/quarantine").text, ops.get(f"/files/{result.file_id}").text,
             ops.get("/history", params={"q": name}).text,
             ops.get("/files/1").text]
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "<svg" not in page and "<b>zwei</b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;" in pages[0]
    assert "&lt;svg onload=alert(2)&gt;" in pages[1]
    assert "&lt;b&gt;zwei&lt;/b&gt;" in pages[3]


def test_the_password_is_never_rendered(ops: httpx.Client) -> None:
    for path in ("/", "/quarantine", "/files/1", "/history?q=1", "/login"):
        assert PASSWORD not in ops.get(path).text


# -- configuration -------------------------------------------------------------------------


def test_no_password_no_console(ops_project: ProjectDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADELANE_CONSOLE_PASSWORD")
    with pytest.raises(ConfigError, match="needs a password"):
        create_app(ops_project.root)
    result = CliRunner().invoke(cli, ["console", "-C", str(ops_project.root)])
    assert result.exit_code == 2
    assert "TRADELANE_CONSOLE_PASSWORD" in result.output


def test_password_from_a_file(ops_project: ProjectDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRADELANE_CONSOLE_PASSWORD")
    ops_project.file("secrets/console", "from-a-file\n")
    ops_project.settings("console: {user: ops, password_file: secrets/console}\n")
    server = LiveConsole(ops_project.root)
    try:
        with server.client() as c:
            assert log_in(c, password="from-a-file").status_code == 303
            assert c.get("/quarantine").status_code == 200
    finally:
        server.stop()


def test_console_settings_are_checked(ops_project: ProjectDir) -> None:
    ops_project.settings("console: {port: 0, pasword: oops}\n")
    with pytest.raises(ConfigError) as caught:
        ops_project.load()
    problems = "\n".join(caught.value.problems)
    assert "console.port" in problems and "console.pasword" in problems
