"""A real API that echoes our credentials back, encoded every way it can, in a 400 body.

The refusal is quarantined with its reason, and the credential reaches none of the places
ops read: the reason file, the ledger (every table), the log, the command's output.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import select

from support.http_server import RecordingServer
from support.project import ProjectDir
from tradelane.ledger import metadata

USER = "acme"
PASSWORD = 'pa55 w/rd:"ü+&=%~x9'
TOKEN = "tok-SECRET-0123456789abcdef"
TRADELANE = Path(sys.executable).parent / "tradelane"


def b64(text: str, *, urlsafe: bool = False, pad: bool = True) -> str:
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(text.encode())
    return encoded.decode() if pad else encoded.decode().rstrip("=")


def echoes(secret: str, pair: str | None) -> dict[str, str]:
    """What a server may send back of ``secret`` (and of the Basic ``user:password``)."""
    raw = secret.encode()
    out = {
        "plain": secret, "quote": quote(secret), "quote_all": quote(secret, safe=""),
        "quote_plus": quote_plus(secret), "percent_lower": quote(secret, safe="").lower(),
        "json": json.dumps(secret)[1:-1], "json_utf8": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json_slash": json.dumps(secret)[1:-1].replace("/", "\\/"), "html": html.escape(secret),
        "hex": raw.hex(), "b64": b64(secret), "b64_nopad": b64(secret, pad=False),
        "b64_url": b64(secret, urlsafe=True), "b64_url_nopad": b64(secret, urlsafe=True, pad=False),
        "b64_in_json": base64.b64encode(json.dumps({"password": secret}).encode()).decode(),
        "wrapped": "\n".join(textwrap.wrap(b64(secret * 3), 12)),
        "cut_by_server": f"{secret[:len(secret) // 2 + 2]}…",
    }
    if pair:
        out |= {"basic": f"Basic {b64(pair)}", "basic_nopad": b64(pair, pad=False),
                "basic_url": b64(pair, urlsafe=True, pad=False),
                "basic_cut": f"Basic {b64(pair)[:14]}...",
                "basic_wrapped": "\r\n ".join(textwrap.wrap(b64(pair), 7))}
    return out


def _secret(auth: str) -> tuple[str, str | None]:
    return (PASSWORD, f"{USER}:{PASSWORD}") if auth == "basic" else (TOKEN, None)


def _route(url: str, auth: str) -> str:
    auth_spec = ("{basic_user: acme, basic_password_env: RED_PASSWORD}" if auth == "basic"
                 else "{bearer_env: RED_TOKEN}")
    return f"""\
        source: {{folder: inbox/crm, pattern: "*.csv", min_age: 1s}}
        format: {{type: csv, delimiter: ";"}}
        fields:
          order_id: {{source: Order, required: true}}
        target:
          http: {{url: "{url}/orders", batch: 10, auth: {auth_spec},
                  retry: {{attempts: 2, backoff: 10ms}}}}
        """


def _ledger_text(project: ProjectDir) -> str:
    with project.ledger() as ledger, ledger.engine.connect() as conn:
        return "\n".join(" ".join(map(str, row)) for table in metadata.sorted_tables
                         for row in conn.execute(select(table)))


def _leaks(text: str, secret: str, forms: dict[str, str]) -> list[str]:
    """Forms (or the secret) found in ``text``, and pieces of more than 5 characters of the
    secret or of its base64 (which hold it even when cut)."""
    found = [name for name, form in forms.items() if form.rstrip(".…") in text]
    for value in (secret, b64(secret), b64(secret).rstrip("=")):
        found += [f"piece {value[i:i + 6]!r}" for i in range(len(value) - 5)
                  if value[i:i + 6] in text]
    return found


@pytest.fixture(autouse=True)
def _variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RED_PASSWORD", PASSWORD)
    monkeypatch.setenv("RED_TOKEN", TOKEN)


@pytest.fixture(params=["basic", "bearer"])
def auth(request: pytest.FixtureRequest) -> str:
    return request.param


def _quarantine_one(server: RecordingServer, tmp_path: Path, auth: str,
                    body: str) -> tuple[ProjectDir, str]:
    server.when(status=400, body=body, times=10)
    project = ProjectDir(tmp_path / "p")
    project.route("crm", _route(server.url, auth))
    project.drop("crm", "orders.csv", "Order\nPO-1\nPO-2\n")
    [result] = project.run().results
    assert result.outcome == "quarantined", result
    [reason] = (project.root / "quarantine").rglob("*.reason.json")
    return project, reason.read_text(encoding="utf-8")


def test_a_credential_echoed_url_encoded_and_base64_encoded(
        server: RecordingServer, tmp_path: Path, auth: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret, pair = _secret(auth)
    forms = echoes(secret, pair)
    body = json.dumps({"error": "bad credentials", "got": forms["quote_plus"],
                       "decoded": forms["b64"], "header": forms.get("basic", "")})
    project, reason = _quarantine_one(server, tmp_path, auth, body)
    [request] = server.requests[:1]
    assert (request.headers["authorization"] == f"Basic {b64(pair)}" if pair
            else request.headers["authorization"] == f"Bearer {TOKEN}")
    assert "bad credentials" in reason  # the refusal is shown, its secrets are not
    for where, text in {"reason file": reason, "ledger": _ledger_text(project),
                        "log": caplog.text}.items():
        assert _leaks(text, secret, forms) == [], where


@pytest.mark.parametrize(("auth", "form"), [
    (auth, form) for auth in ("basic", "bearer") for form in sorted(echoes(*_secret(auth)))])
def test_every_encoding_of_the_credential(server: RecordingServer, tmp_path: Path, auth: str,
                                          form: str, caplog: pytest.LogCaptureFixture) -> None:
    secret, pair = _secret(auth)
    forms = echoes(secret, pair)
    caplog.set_level(logging.DEBUG)
    body = f'{{"error": "unauthorized", "echo": "{forms[form]}", "hint": "check the key"}}'
    if form == "plain":  # and once more where our own cut (500 characters) falls
        body += " " * (495 - len(body)) + secret
    project, reason = _quarantine_one(server, tmp_path, auth, body)
    assert "unauthorized" in reason and "check the key" in reason
    for where, text in {"reason file": reason, "ledger": _ledger_text(project),
                        "log": caplog.text}.items():
        assert _leaks(text, secret, forms) == [], (where, text)


def test_the_command_shows_none_of_it(server: RecordingServer, tmp_path: Path) -> None:
    forms = echoes(PASSWORD, f"{USER}:{PASSWORD}")
    server.when(status=400, body=" | ".join(forms.values())[:1800], times=10)
    project = ProjectDir(tmp_path / "p")
    project.route("crm", _route(server.url, "basic"))
    project.drop("crm", "orders.csv", "Order\nPO-1\n")
    env = {**os.environ, "RED_PASSWORD": PASSWORD}
    outputs = []
    for command in (["run", "--once", "-v"], ["quarantine", "list"], ["quarantine", "show", "1"],
                    ["history", "1", "--json"]):
        done = subprocess.run([str(TRADELANE), *command, "-C", str(project.root)], env=env,
                              capture_output=True, text=True, timeout=120)
        outputs.append(done.stdout + done.stderr)
    assert "HTTP 400" in outputs[2]
    assert _leaks("\n".join(outputs), PASSWORD, forms) == []
