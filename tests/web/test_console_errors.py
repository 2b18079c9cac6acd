"""Every error the console answers: a plain page with the security headers, never a traceback.

File ids come from the URL, so anything can arrive: ids that are not numbers, that overflow
the database's integers, or that no file has. Each is "not found", on every route that takes
an id.
"""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from support.console import PASSWORD, LiveConsole, log_in, token_in
from support.project import ProjectDir

BAD_IDS = ["99999999999999999999999", "9223372036854775808", "2147483648", "0", "-1",
           "00000000000000000000000000000000001x", "abc", "1.5", "1e3", "%C2%B2", "%D9%A1",
           "%20"]


def assert_secure(response: httpx.Response) -> None:
    """The headers every page carries, error pages included."""
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, csp
    assert "script-src" not in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cache-control"] == "no-store"
    assert "Traceback" not in response.text and 'File "' not in response.text


# -- ids -----------------------------------------------------------------------------------


@pytest.mark.parametrize("file_id", [*BAD_IDS, "999"])
def test_an_unknown_or_overflowing_id_is_not_found(ops: httpx.Client, file_id: str) -> None:
    response = ops.get(f"/files/{file_id}")
    assert response.status_code == 404, response.text
    assert "No such file" in response.text
    assert_secure(response)


@pytest.mark.parametrize("action", ["reprocess", "discard"])
@pytest.mark.parametrize("file_id", ["99999999999999999999999", "2147483648", "abc", "999"])
def test_actions_on_an_unknown_id_are_not_found(ops: httpx.Client, ops_project: ProjectDir,
                                                action: str, file_id: str) -> None:
    token = token_in(ops.get("/").text)
    response = ops.post(f"/files/{file_id}/{action}",
                        data={"csrf_token": token, "reason": "gone"})
    assert response.status_code == 404, response.text
    assert_secure(response)
    with ops_project.ledger() as ledger:
        assert [r.state.value for r in ledger.files()] == ["quarantined"]


@pytest.mark.parametrize("file_id", ["2147483648", "99999999999999999999999", "2"])
def test_ids_on_each_ledger_backend(backend_live: LiveConsole, file_id: str) -> None:
    # PostgreSQL's INTEGER stops at 2147483647, SQLite's at 2**63 - 1
    with backend_live.client() as ops:
        log_in(ops)
        token = token_in(ops.get("/").text)
        for response in (ops.get(f"/files/{file_id}"),
                         ops.post(f"/files/{file_id}/reprocess", data={"csrf_token": token})):
            assert response.status_code == 404, response.text
            assert_secure(response)
        assert f"No file {file_id}" in ops.get("/history", params={"q": file_id}).text
        assert ops.get("/files/1").status_code == 200


def test_an_id_is_looked_up_only_after_login(client: httpx.Client) -> None:
    response = client.get("/files/99999999999999999999999")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


@pytest.mark.parametrize("q", ["99999999999999999999999", "2147483648", "²", "١٢"])
def test_history_of_an_impossible_id_finds_nothing(ops: httpx.Client, q: str) -> None:
    response = ops.get("/history", params={"q": q})
    assert response.status_code == 200
    assert f"No file {q} in the ledger" in response.text
    assert_secure(response)


# -- every error page keeps the headers -----------------------------------------------------


def test_unknown_page(ops: httpx.Client) -> None:
    response = ops.get("/no/such/page")
    assert response.status_code == 404
    assert_secure(response)


def test_method_not_allowed(ops: httpx.Client) -> None:
    response = ops.get("/logout")
    assert response.status_code == 405
    assert_secure(response)


def test_a_form_that_does_not_validate(ops: httpx.Client) -> None:
    # FastAPI's 422 (a request that does not fit the form), answered as a page
    response = ops.get("/history", params={"q": "x" * 501})
    assert response.status_code in (400, 422)
    assert "q" in response.text
    assert_secure(response)


def test_csrf_failure(ops: httpx.Client) -> None:
    response = ops.post("/files/1/reprocess", data={"csrf_token": "forged"})
    assert response.status_code == 403
    assert_secure(response)


def test_host_refused(live: LiveConsole) -> None:
    response = httpx.get(live.url + "/login", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert_secure(response)


def test_too_large(ops: httpx.Client) -> None:
    token = token_in(ops.get("/").text)
    response = ops.post("/files/1/discard", data={"csrf_token": token, "reason": "x" * 70_000})
    assert response.status_code == 413
    assert_secure(response)


def test_too_large_without_a_declared_length(ops: httpx.Client,
                                             ops_project: ProjectDir) -> None:
    token = token_in(ops.get("/").text)

    def chunks():  # sent chunked: no Content-Length to refuse it by
        yield f"csrf_token={token}&reason=".encode()
        for _ in range(100):
            yield b"x" * 1000

    response = ops.post("/files/1/discard", content=chunks(),
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert_secure(response)
    with ops_project.ledger() as ledger:
        assert ledger.get(1).state.value == "quarantined"


def test_redirects_and_the_login_page(client: httpx.Client) -> None:
    assert_secure(client.get("/"))
    assert_secure(client.get("/login"))
    response = log_in(client, password="wrong")
    assert response.status_code == 401
    assert_secure(response)


def test_a_broken_configuration(ops: httpx.Client, ops_project: ProjectDir) -> None:
    ops_project.settings("console: {user: ops}\nmax_reason_errors: -1\n")
    response = ops.get("/")
    assert response.status_code == 500
    assert "max_reason_errors" in response.text
    assert_secure(response)


def test_an_internal_error_is_a_plain_page(ops: httpx.Client, ops_project: ProjectDir) -> None:
    # a real fault in the database under the console: the table the status page reads is gone
    with sqlite3.connect(ops_project.root / ".tradelane" / "ledger.db") as db:
        db.execute("DROP TABLE runs")
    response = ops.get("/")
    assert response.status_code == 500
    assert "The ledger is damaged" in response.text  # in words, not a traceback
    assert "runs" not in response.text  # nothing of the database's message either
    assert_secure(response)
    assert PASSWORD not in response.text
