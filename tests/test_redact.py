"""Secrets are masked in every form a server, a library or a log line may carry them in."""

from __future__ import annotations

import base64
import html
import json
import logging
import textwrap
from urllib.parse import quote, quote_plus

import pytest

from tradelane import redact
from tradelane.redact import MASK, Redactor

PASSWORD = 'pa55 w/rd:"ü+&=%~'
USER = "acme"
TOKEN = "tok-SECRET-1234567890abcdef"


def b64(data: str, *, urlsafe: bool = False, pad: bool = True) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    text = encode(data.encode()).decode()
    return text if pad else text.rstrip("=")


def forms(secret: str, user: str | None = USER) -> dict[str, str]:
    """Every encoding of ``secret`` the redactor must recognise (and of ``user:secret``, the
    pair HTTP Basic sends, unless ``user`` is None)."""
    raw = secret.encode()
    out = {
        "plain": secret,
        "quote": quote(secret),
        "quote_safe_none": quote(secret, safe=""),
        "quote_plus": quote_plus(secret),
        "percent_every_byte": "".join(f"%{b:02X}" for b in raw),
        "percent_lower": quote(secret, safe="").lower(),
        "json": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json_ascii": json.dumps(secret, ensure_ascii=True)[1:-1],
        "json_slashes": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "html": html.escape(secret),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }
    texts = [("secret", secret)] + ([("pair", f"{user}:{secret}")] if user else [])
    for name, text in texts:
        for urlsafe in (False, True):
            for pad in (True, False):
                out[f"b64_{name}_{'url' if urlsafe else 'std'}_{'pad' if pad else 'nopad'}"] \
                    = b64(text, urlsafe=urlsafe, pad=pad)
    for offset in (1, 2):  # inside a bigger base64 blob, at each alignment
        blob = base64.b64encode(b"x" * offset + raw + b"tail").decode()
        out[f"b64_inside_{offset}"] = blob
    return out


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor()
    r.add(PASSWORD, TOKEN)
    r.add_basic(USER, PASSWORD)
    return r


def _leftover(text: str, secret_forms: dict[str, str], longest: int = 3) -> list[str]:
    """Pieces longer than ``longest`` characters of any form still in ``text`` (of a form
    inside a bigger base64 blob, only the characters that depend on the secret alone)."""
    found = []
    for name, form in secret_forms.items():
        core = form[4:-8] if name.startswith("b64_inside") else form
        size = longest + 1
        hit = next((core[i:i + size] for i in range(len(core) - size + 1)
                    if core[i:i + size] in text), None)
        if hit:
            found.append(f"{name}: {hit!r}")
    return found


@pytest.mark.parametrize("name", list(forms(PASSWORD)))
def test_each_form_is_masked(redactor: Redactor, name: str) -> None:
    form = forms(PASSWORD)[name]
    text = f"the server said: [{form}] (HTTP 400)"
    out = redactor.redact(text)
    assert MASK in out and out.startswith("the server said: [") and out.endswith("(HTTP 400)")
    assert form not in out
    if not name.startswith("b64_inside"):
        assert out == f"the server said: [{MASK}] (HTTP 400)"


def test_the_token_in_every_form(redactor: Redactor) -> None:
    text = "\n".join(f"{n}={form}" for n, form in enumerate(forms(TOKEN, None).values()))
    out = redactor.redact(text)
    assert _leftover(out, forms(TOKEN, None)) == []


@pytest.mark.parametrize("separator", ["\n", "\r\n", "\n    ", "\\n", "\\r\\n"])
def test_a_secret_split_over_lines(redactor: Redactor, separator: str) -> None:
    wrapped = separator.join(textwrap.wrap(b64(f"{USER}:{PASSWORD}") * 1, 8))
    for text in (wrapped, TOKEN[:9] + separator + TOKEN[9:]):
        out = redactor.redact(f"echo: {text} end")
        assert out == f"echo: {MASK} end", repr(out)


def test_base64_wrapped_like_mime(redactor: Redactor) -> None:
    before = b"header " * 20  # 140 bytes: the secret starts at the third byte of a group
    blob = base64.encodebytes(before + f"{USER}:{PASSWORD}".encode() + b" trailer").decode()
    out = redactor.redact(blob).replace("\n", "")
    assert MASK in out
    assert base64.b64encode(before).decode()[:100] in out  # the rest is left alone
    inside = base64.b64encode(b"xx" + f"{USER}:{PASSWORD}".encode() + b"tail").decode()
    assert _leftover(out, {"b64_inside_2": inside}) == []


@pytest.mark.parametrize("name", ["plain", "quote_plus", "b64_pair_std_pad", "hex", "json"])
def test_a_text_cut_in_the_middle_of_a_secret_keeps_at_most_three_characters(
        redactor: Redactor, name: str) -> None:
    form = forms(PASSWORD)[name]
    for cut in range(1, len(form)):
        for text in (f"body: {form[:cut]}", f"body: {form[:cut]}…", f"body: {form[:cut]}...",
                     f"{form[-cut:]} rest of the body"):
            out = redactor.redact(text)
            kept = out.replace("body: ", "").replace(" rest of the body", "")
            kept = kept.replace(MASK, "").rstrip(".…")
            assert len(kept) <= 3, (cut, text, out)


def test_a_whole_value_is_not_taken_for_the_cut_off_part_of_a_passphrase() -> None:
    """A page prints values whole: ``console:olga`` starts with the last word of the
    passphrase ``a password for the console`` and a CSV line ends with ``open``, the start of
    ``open sesame``; neither is a piece of the secret. A mark still says where a cut is."""
    redactor = Redactor(["a password for the console", "open sesame"])
    for value in ("console:olga", "PO-1;5;9,50;01.12.2026;open"):
        assert redactor.redact(value, whole=True) == value
        assert redactor.redact(value) != value  # a text from outside may be a cut-off piece
    assert redactor.redact("PO-1;open ses…", whole=True) == f"PO-1;{MASK}…"
    assert redactor.redact("login with open sesame please", whole=True) \
        == f"login with {MASK} please"


@pytest.mark.parametrize("name", ["plain", "quote_plus", "b64_pair_std_pad", "hex", "json"])
def test_a_whole_text_cut_at_a_mark_keeps_at_most_three_characters(
        redactor: Redactor, name: str) -> None:
    form = forms(PASSWORD)[name]
    for cut in range(1, len(form)):
        for text in (f"body: {form[:cut]}…", f"body: {form[:cut]}..."):
            out = redactor.redact(text, whole=True)
            kept = out.replace("body: ", "").replace(MASK, "").rstrip(".…")
            assert len(kept) <= 3, (cut, text, out)


def test_text_without_secrets_is_unchanged(redactor: Redactor) -> None:
    text = ("quarantined orders_0412.csv (validate): 3 problems in the data; first at row 2"
            " (line 3)\nAuthorization: Basic *** and a password field that is empty")
    assert redactor.redact(text) == text
    assert redactor.redact("") == ""


def test_short_values_are_not_secrets() -> None:
    r = Redactor()
    r.add("ab", "", "x")
    assert r.redact("ab x abc") == "ab x abc"


def test_the_longest_match_wins() -> None:
    r = Redactor()
    r.add("secret-one", "secret-one-and-more")
    assert r.redact("a secret-one-and-more b secret-one c") == f"a {MASK} b {MASK} c"


def test_a_url_from_the_environment() -> None:
    r = Redactor()
    r.add_url("https://hooks.example.com/services/T000/B000/XXXXsecretXXXX?key=abc123def")
    out = r.redact("POST https://hooks.example.com/services/T000/B000/XXXXsecretXXXX?"
                   "key=abc123def failed; path /services/T000/B000/XXXXsecretXXXX?key=abc123def")
    assert "XXXXsecret" not in out and "abc123def" not in out
    assert "hooks.example.com" in r.redact("host hooks.example.com")


def test_settings_name_their_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from support.project import ProjectDir

    monkeypatch.setenv("HOOK_URL_X", "https://hooks.example/T0/B0/hook-secret-9876")
    monkeypatch.setenv("SMTP_PW_X", "smtp-secret-5432")
    monkeypatch.setenv("ROUTE_PW_X", "route-secret-1098")
    project = ProjectDir(tmp_path / "p")
    project.settings("""\
        alerts:
          webhook: {url_env: HOOK_URL_X}
          smtp: {host: localhost, from: a@example.com, to: [b@example.com], user: tl,
                 password_env: SMTP_PW_X}
        """)
    project.route("x", """\
        source: {folder: inbox/x, pattern: "*.csv"}
        format: {type: csv}
        fields: {a: {source: A}}
        target: {http: {url: "http://127.0.0.1:1/x", auth: {basic_user: u1,
                 basic_password_env: ROUTE_PW_X}}}
        """)
    r = Redactor()
    r.add_project(project.load())
    text = ("hook https://hooks.example/T0/B0/hook-secret-9876 smtp smtp-secret-5432 "
            f"route route-secret-1098 basic {b64('u1:route-secret-1098')}")
    out = r.redact(text)
    assert "secret" not in out and b64("u1:route-secret-1098") not in out, out


# -- the process-wide registry and the log ----------------------------------------------------


def test_every_log_record_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    value = "Zq9xK2-vT7wP4-mR8jL5"
    redact.register(value)
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("tradelane.test")
    log.warning("as an argument: %s", value)
    log.warning(f"in the message itself: {quote_plus(value)}")
    log.warning("inside an object: %s", ValueError(f"bad key {b64(value)}"))
    log.warning("as a mapping: %(key)s", {"key": value.encode().hex()})
    try:
        raise RuntimeError(f"token={value}")
    except RuntimeError:
        log.exception("with a traceback")
    logging.getLogger("some.library").error("split %s", value[:10] + "\n" + value[10:])
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert _leftover(text, forms(value, None), longest=5) == [], text
    assert text.count(MASK) >= 6


def test_log_records_keep_their_arguments(caplog: pytest.LogCaptureFixture) -> None:
    # uvicorn's access log formatter unpacks record.args: the shape must survive
    redact.register("some-secret-value")
    caplog.set_level(logging.INFO)
    logging.getLogger("tradelane.test.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1", "GET",
                                             "/login", "1.1", 200)
    [record] = caplog.records
    assert record.args == ("127.0.0.1", "GET", "/login", "1.1", 200)
