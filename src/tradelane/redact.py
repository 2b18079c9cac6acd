"""Masking of secrets, in every form they may come back in.

A server that refuses a request often echoes what it got: the password URL-encoded, the
``Authorization`` header base64-encoded, the token inside a JSON string, wrapped over lines,
or cut off in the middle. A ``Redactor`` knows the secret values and masks each of them in
all of these forms:

- as it is, and HTML-escaped;
- URL-encoded (``quote``, ``quote_plus``, every byte as ``%XX``; hex digits in any case);
- base64, standard and URL-safe, with and without padding, on its own or inside a bigger
  base64 text at any of the three byte alignments (``user:password`` of HTTP Basic too),
  also JSON-escaped first (a secret inside a base64-encoded JSON document);
- JSON-escaped (``\\u00fc``, ``\\"``, ``\\/``), and hex;
- split over lines (line breaks, with indentation, or as ``\\n`` escapes in a JSON string);
- cut off: a text that ends (or stops at ``…`` / ``...``) in the middle of a secret, or
  starts in the middle of one, keeps at most ``PARTIAL - 1`` of its characters. A text
  known to be whole (``whole=True``: a value a page prints as stored) is cut only where a
  mark says so: its own start and end are not the middle of a secret.

Forms are compared without regard to ASCII case (hex and percent-encoding come in both):
a value that differs from a secret only in case is masked too, which costs nothing.

The engine keeps one registry for the whole process (``register``, ``redact``): whatever
reads a secret registers it, and ``tradelane.logs`` masks every log record with it.
Values shorter than ``SHORTEST`` characters are not taken as secrets: masking them would
mask ordinary text.
"""

from __future__ import annotations

import base64
import bisect
import functools
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from enum import Enum
from pathlib import PurePath
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import quote, quote_plus, urlsplit

MASK = "***"
SHORTEST = 3
#: A cut-off piece of a secret this long or longer is masked; shorter ones say too little.
PARTIAL = 4
#: Forms shorter than this are only masked whole, never as a cut-off piece or a base64 core.
_PARTIAL_FORM = 8

# Line breaks (and the indentation after them), real or escaped inside a JSON string, and
# JSON's optional escape of "/": what may sit inside a secret as it is shown.
_NOISE = re.compile(r"(?:\r\n|\r|\n|\\r\\n|\\n|\\r)[ \t]*|\\/")
# Where a text was cut off: its end, or a mark saying it was shortened.
_CUT = re.compile(r"\ufffd*(?:…|\.\.\.|\Z)")
# Where a text known to be whole (a value shown as it was stored) shows it was shortened.
_MARKED_CUT = re.compile(r"\ufffd*(?:…|\.\.\.)|\ufffd+\Z")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class _Forms:
    """Every form of every secret, in ASCII lower case (so hex and percent-encoding match in
    either case), found through their first (and last) ``PARTIAL`` characters."""

    by_start: dict[str, tuple[str, ...]]  # first characters -> forms, the longest first
    by_end: dict[str, tuple[str, ...]]  # last characters -> forms long enough to be cut
    starts: re.Pattern[str] | None
    ends: re.Pattern[str] | None
    longest: int

    @classmethod
    def build(cls, forms: set[str]) -> _Forms:
        by_start: dict[str, list[str]] = {}
        by_end: dict[str, list[str]] = {}
        for form in sorted(forms, key=lambda f: (-len(f), f)):  # the longest match wins
            by_start.setdefault(form[:PARTIAL], []).append(form)
            if len(form) >= _PARTIAL_FORM:
                by_end.setdefault(form[-PARTIAL:], []).append(form)
        return cls({k: tuple(v) for k, v in by_start.items()},
                   {k: tuple(v) for k, v in by_end.items()},
                   _trie(by_start), _trie(by_end), max(map(len, forms), default=0))

    def spans(self, view: str, complete: bool = False) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        if self.starts is None:
            return spans
        cuts: list[int] | None = None
        pos = 0
        while (anchor := self.starts.search(view, pos)) is not None:
            at = pos = anchor.start()
            pos += 1  # the next search may find an anchor overlapping this one
            forms = [f for size in (PARTIAL, SHORTEST)
                     for f in self.by_start.get(view[at:at + size], ())]
            whole = next((f for f in forms if view.startswith(f, at)), None)
            if whole is not None:
                spans.append((at, at + len(whole)))
                continue
            if cuts is None:
                cuts = [c.start() for c in (_MARKED_CUT if complete else _CUT).finditer(view)]
            cut = self._cut_off(view, at, forms, cuts)
            if cut:
                spans.append((at, cut))
        begun = 0 if complete else self._begun(view)
        if begun:
            spans.append((0, begun))
        return spans

    @staticmethod
    def _cut_off(view: str, at: int, forms: list[str], cuts: list[int]) -> int:
        """Where the text is cut off in the middle of a form starting at ``at``; 0 if not."""
        first = bisect.bisect_left(cuts, at + PARTIAL)
        for form in forms:
            if len(form) < _PARTIAL_FORM:
                continue
            for end in cuts[first:]:
                if end >= at + len(form):
                    break
                if form.startswith(view[at:end]):
                    return end
        return 0

    def _begun(self, view: str) -> int:
        """How much of the text's start is the end of a form cut off before it; 0 if none."""
        if self.ends is None:
            return 0
        best, pos, stop = 0, 0, min(len(view), self.longest - 1)
        while (anchor := self.ends.search(view, pos, stop)) is not None:
            pos = anchor.start() + 1
            end = anchor.end()
            if any(len(f) > end and f.endswith(view[:end]) for f in self.by_end[anchor.group()]):
                best = end
        return best


def _trie(literals: Iterable[str]) -> re.Pattern[str] | None:
    """A regex matching any of ``literals``, as a trie: ``ab(?:c|d)`` rather than
    ``abc|abd``, which the regex engine scans about three times faster."""
    root: dict[str, dict] = {}
    for literal in literals:
        node = root
        for ch in literal:
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(ch) + pattern(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if "" in node else body

    return re.compile(pattern(root)) if root else None


class Redactor:
    """Knows secret values and masks them in text. Safe to share between threads."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._forms = _Forms.build(set())
        self.add(*secrets)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def add(self, *secrets: str | None) -> None:
        """Mask these values from now on (None, empty and short values are ignored)."""
        new = {s for s in secrets if s and len(s) >= SHORTEST} - self._secrets
        if not new:
            return
        with self._lock:
            self._secrets |= new
            forms = set().union(*map(_forms, self._secrets))
            # built aside, then swapped in: a redact() running meanwhile sees one or the other
            self._forms = _Forms.build(forms)

    def add_basic(self, user: str, password: str | None) -> None:
        """An HTTP Basic password, and the ``user:password`` pair the header encodes."""
        if password:
            self.add(password, f"{user}:{password}")

    def add_url(self, url: str | None) -> None:
        """A URL that is itself a secret (a webhook): whole, its password, its path and query
        (the token is usually there), but not its host, which logs may name."""
        if not url:
            return
        parts = urlsplit(url)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        pieces = [url, parts.password, tail, parts.query]
        if len(parts.path) >= _PARTIAL_FORM:
            pieces.append(parts.path)
        self.add(*pieces)

    def add_project(self, project: Any, environ: Mapping[str, str] | None = None) -> None:
        """Every secret the project's settings and routes name (see ``secrets_named``)."""
        environ = environ if environ is not None else _environ()
        self.add_settings(project.settings, environ)
        for route in project.routes.values():
            self.add_settings(route, environ)

    def add_settings(self, model: Any, environ: Mapping[str, str] | None = None) -> None:
        """The values of the variables a spec model names as secrets, at any depth."""
        environ = environ if environ is not None else _environ()
        for kind, value, owner in secrets_named(model):
            secret = environ.get(value)
            if kind == "url_env":
                self.add_url(secret)
            elif kind == "basic_password_env":
                self.add_basic(getattr(owner, "basic_user", None) or "", secret)
            else:
                self.add(secret)

    def redact(self, text: str, *, whole: bool = False) -> str:
        """``text`` with every form of every known secret replaced by ``MASK``.

        ``whole``: the text is complete, as stored (a value a page shows), so its start and end
        are not cuts; only a mark (``…``, ``...``, U+FFFD) is. Otherwise a value that merely
        ends with a secret's first characters (``…;open`` and the passphrase ``open sesame``)
        or starts with its last ones would be masked as if cut off."""
        if not text or not self._secrets:
            return text
        view = _View.of(text)
        spans = self._forms.spans(view.text.translate(_ASCII_LOWER), whole)
        if not spans:
            return text
        out, done = [], 0
        for start, end in _merged(spans):
            start, end = view.original(start, end)
            out += [text[done:start], MASK]
            done = end
        out.append(text[done:])
        return "".join(out)


def _forms(secret: str) -> set[str]:
    """The forms of ``secret``, as ``_View`` shows them, in ASCII lower case."""
    import html  # its entities' table (2,000 names) only once a secret is known

    escaped = {json.dumps(secret, ensure_ascii=False)[1:-1], json.dumps(secret)[1:-1]}
    raw = secret.encode("utf-8")
    forms = {secret, html.escape(secret), html.escape(secret, quote=False), *escaped,
             quote(secret), quote(secret, safe=""), quote_plus(secret),
             quote_plus(secret, safe="/"), "".join(f"%{b:02x}" for b in raw), raw.hex()}
    # base64 of the secret, and of the secret inside a JSON document (a token's payload)
    for text in {secret, *escaped}:
        forms |= _base64_forms(text.encode("utf-8"))
    return {_View.of(f).text.translate(_ASCII_LOWER) for f in forms}


def _base64_forms(raw: bytes) -> set[str]:
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        forms |= {whole, whole.rstrip("=")}
        for offset in range(3):  # the same bytes deeper in a base64 text
            shifted = encode(b"\0" * offset + raw).decode()
            stable = shifted[4 if offset else 0: 4 * ((offset + len(raw)) // 3)]
            if len(stable) >= _PARTIAL_FORM:
                forms.add(stable)
    return forms


@dataclass(frozen=True, slots=True)
class _View:
    """``text`` without its line breaks and with ``\\/`` as ``/``, and the way back to
    positions in the original."""

    text: str
    starts: list[int]  # each piece's position in the view
    origins: list[int]  # ... and in the original
    widths: list[int]  # characters of the original per view character: 1, or 2 for "\/"

    @classmethod
    def of(cls, original: str) -> _View:
        if _NOISE.search(original) is None:
            return cls(original, [0], [0], [1])
        parts: list[str] = []
        starts, origins, widths = [], [], []
        at = done = 0
        for noise in _NOISE.finditer(original):
            if noise.start() > done:
                starts.append(at)
                origins.append(done)
                widths.append(1)
                parts.append(original[done:noise.start()])
                at += noise.start() - done
            if noise.group() == "\\/":
                starts.append(at)
                origins.append(noise.start())
                widths.append(2)
                parts.append("/")
                at += 1
            done = noise.end()
        starts.append(at)
        origins.append(done)
        widths.append(1)
        parts.append(original[done:])
        return cls("".join(parts), starts, origins, widths)

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original that view[start:end] came from."""
        return self._at(start), self._at(end - 1) + self.widths[self._piece(end - 1)]

    def _piece(self, i: int) -> int:
        return bisect.bisect_right(self.starts, i) - 1

    def _at(self, i: int) -> int:
        k = self._piece(i)
        return self.origins[k] + (i - self.starts[k]) * self.widths[k]


def _merged(spans: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    spans.sort()
    start, end = spans[0]
    for s, e in spans[1:]:
        if s <= end:
            end = max(end, e)
        else:
            yield start, end
            start, end = s, e
    yield start, end


def secrets_named(model: Any) -> Iterator[tuple[str, str, Any]]:
    """(option, variable, the model holding it) for every secret a spec names, at any
    depth: the settings' convention is that an option ending in ``_env`` names a variable
    holding a secret, and so does an ``{env: NAME}`` header value."""
    if getattr(type(model), "model_fields", None) is None:
        return
    for name, names_a_variable in _walked(type(model)):
        value = getattr(model, name, None)
        if names_a_variable and isinstance(value, str):
            yield name, value, model
        else:
            for item in _children(value):
                yield from secrets_named(item)


@functools.cache
def _walked(model: type) -> tuple[tuple[str, bool], ...]:
    """The fields of a model class that may hold a secret's name: (field, it names a variable
    itself). A field whose type holds only plain values (str, numbers, paths, literals...)
    holds no model, so the walk skips it: an empty pass walked 1,134 models for a handful of
    secrets."""
    return tuple((name, name.endswith("_env") or name == "env")
                 for name, info in model.model_fields.items()
                 if name.endswith("_env") or name == "env" or not _plain(info.annotation))


_PLAIN = (str, int, float, bytes, bool, type(None), PurePath, date, time, timedelta, Enum)


def _plain(annotation: Any) -> bool:
    """Whether a value of this type is sure to be neither a model nor hold one (an unknown
    type is not: it is walked)."""
    if get_origin(annotation) is Literal:
        return True
    if isinstance(annotation, type) and get_origin(annotation) is None:
        return issubclass(annotation, _PLAIN)
    args = get_args(annotation)
    if get_origin(annotation) is Annotated:
        return _plain(args[0])
    return bool(args) and get_origin(annotation) in _CONTAINERS and all(
        a is Ellipsis or _plain(a) for a in args)


_CONTAINERS = (list, tuple, set, frozenset, dict, Mapping, Union, UnionType)


def _children(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        return value.values()
    if isinstance(value, list | tuple):
        return value
    return (value,) if hasattr(type(value), "model_fields") else ()


def _environ() -> Mapping[str, str]:
    return os.environ


# -- values we do not know, by their shape ------------------------------------------------------

# What a credential echoed in an error body looks like, whatever its value.
_SCHEME_TOKEN = re.compile(r"(?i)\b(bearer|basic|token|apikey)(\s+)[A-Za-z0-9._~+/=-]{4,}")
_SECRET_FIELD = re.compile(
    r"""(?ix)
    (["']?(?:access_token|refresh_token|id_token|token|api[_-]?key|apikey|secret|client_secret
         |password|passwd|authorization|x-api-key)["']?\s*[:=]\s*["']?
     (?:(?:bearer|basic|token)\s+)?)
    ([^"'\s,&;}]+)
    """
)


def credential_shapes(text: str) -> str:
    """``text`` with every value that looks like a credential masked: ``Bearer xyz``,
    ``"token": "xyz"``, ``password=xyz``. For what servers answer, not for log lines, where
    "token" and "key" are ordinary words."""
    text = _SCHEME_TOKEN.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    return _SECRET_FIELD.sub(lambda m: f"{m[1]}{MASK}", text)


# -- the process-wide registry ---------------------------------------------------------------

_known = Redactor()
#: Variable names that, by convention, hold secrets even where no setting names them.
_SECRET_NAME = re.compile(r"PASSW|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|PASSPHRASE|CREDENTIAL"
                          r"|WEBHOOK", re.IGNORECASE)


def _mask_log_records() -> None:
    """A process that knows a secret masks every log record it makes, whatever it imported
    before: an empty run once logged unmasked after its start-up stopped importing the
    module that installs the masking (``tradelane.logs``) on the way."""
    from tradelane.logs import redact_records

    redact_records()


def register(*secrets: str | None) -> None:
    """Mask these values everywhere from now on: logs, reason files, messages, pages."""
    _mask_log_records()
    _known.add(*secrets)


def register_basic(user: str, password: str | None) -> None:
    _mask_log_records()
    _known.add_basic(user, password)


def register_url(url: str | None) -> None:
    _mask_log_records()
    _known.add_url(url)


def register_project(project: Any, environ: Mapping[str, str] | None = None) -> None:
    _mask_log_records()
    _known.add_project(project, environ)


def register_environment(environ: Mapping[str, str] | None = None) -> None:
    """Variables whose names say they hold a secret (``*PASSWORD*``, ``*TOKEN*``,
    ``*WEBHOOK*`` ...), and the password of any URL in a variable (a database URL): a
    safety net for the secrets no setting names."""
    _mask_log_records()
    for name, value in (environ if environ is not None else _environ()).items():
        if _SECRET_NAME.search(name):
            if "://" in value:
                _known.add_url(value)
            else:
                _known.add(value)
        elif "://" in value:
            try:
                _known.add(urlsplit(value).password)
            except ValueError:
                continue  # not a URL after all


def redact(text: str, *, whole: bool = False) -> str:
    """``text`` with every registered secret masked, in every form (``Redactor.redact``)."""
    return _known.redact(text, whole=whole)


def active() -> bool:
    """Whether any secret is registered (when none is, nothing needs masking)."""
    return bool(_known)


__all__ = ["MASK", "Redactor", "active", "credential_shapes", "redact", "register",
           "register_basic", "register_environment", "register_project", "register_url",
           "secrets_named"]
