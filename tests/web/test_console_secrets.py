"""The console shows no secret and logs none: its own password, and the engine's."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote_plus

import httpx
import pytest

from support.console import PASSWORD, LiveConsole, log_in
from support.project import ProjectDir

TOKEN = "crm-token-5f4e3d2c1b0a"


def test_a_password_typed_as_the_user_name_is_not_logged(
        client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert log_in(client, user=PASSWORD, password="ops").status_code == 401
    assert "failed login as" in caplog.text
    assert PASSWORD not in caplog.text and quote_plus(PASSWORD) not in caplog.text


def test_a_secret_that_reached_the_ledger_is_not_shown(
        ops_project: ProjectDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_TOKEN", TOKEN)
    ops_project.route("crm", """\
        source: {folder: inbox/crm}
        format: {type: csv}
        fields: {a: {source: A}}
        target: {http: {url: "http://127.0.0.1:9/x", auth: {bearer_env: CRM_TOKEN}}}
        """)
    with ops_project.ledger() as ledger:  # as if some path had let it through
        ledger.note(1, f"echo: {TOKEN} / {base64.b64encode(TOKEN.encode()).decode()}")
    server = LiveConsole(ops_project.root)
    try:
        with server.client() as ops:
            log_in(ops)
            for path in ("/files/1", "/history?q=1"):
                page = ops.get(path).text
                assert "echo: ***" in page, path
                assert TOKEN not in page and base64.b64encode(TOKEN.encode()).decode() \
                    not in page
    finally:
        server.stop()
