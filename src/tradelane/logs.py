"""Logging for long-running commands: JSON lines for journald/log shippers, plain text on a TTY.

Context (``route``, ``file``, ``stage``) is bound once with ``bind(...)`` and lands on every
record logged inside, in any module, through a ``contextvars`` filter::

    with bind(route="orders"):
        log.info("polling")        # {"msg": "polling", "route": "orders", ...}

Secrets never reach a record: importing this module makes every log record of the process,
whoever logs it, pass through ``tradelane.redact`` as it is made (message, arguments,
traceback), so every handler (ours, pytest's, uvicorn's, ``basicConfig``'s) gets it masked.
Our formatters also mask the bound fields, and values whose key looks like a secret.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO

from tradelane import redact

_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "tradelane_log_context", default=MappingProxyType({}))
_FIELDS = ("route", "file", "stage", "alert")
_SECRET_WORDS = ("password", "secret", "token", "authorization", "key")


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Attach fields to every record logged in this block (this thread or task only)."""
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    """Copies the bound context onto each record (as attributes, for both formatters)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _CONTEXT.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the bound fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in (*_FIELDS, *getattr(record, "extra_keys", ())):
            value = getattr(record, key, None)
            if value is not None:
                out[key] = _mask(key, value)
        if record.exc_info:
            out["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """``12:00:01 WARNING [orders ORD1.csv] quarantined ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        ctx = " ".join(str(getattr(record, k)) for k in ("route", "file", "stage")
                       if getattr(record, k, None) is not None)
        line = f"{when} {record.levelname:<7} {f'[{ctx}] ' if ctx else ''}{record.getMessage()}"
        if record.exc_info:
            line += "\n" + (record.exc_text or self.formatException(record.exc_info))
        return redact.redact(line)


def setup(stream: TextIO | None = None, *, level: int = logging.INFO,
          json_lines: bool | None = None) -> logging.Handler:
    """Install one handler on the root logger (JSON unless ``stream`` is a terminal), and
    take the secrets the environment's variable names announce (``redact``)."""
    redact.register_environment(os.environ)
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not (hasattr(stream, "isatty") and stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json_lines else HumanFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("apscheduler", "watchdog", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def _mask(key: str, value: Any) -> Any:
    if any(word in key.lower() for word in _SECRET_WORDS):
        return redact.MASK
    return redact.redact(value) if isinstance(value, str) else value


# -- every record, masked as it is made ---------------------------------------------------------

_TRACEBACKS = logging.Formatter()


def redact_records() -> None:
    """Make every log record of this process pass through ``redact`` when it is created
    (idempotent; kept when someone else wraps the factory after us)."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacts", False):
        logging.setLogRecordFactory(_redacting(current))


def _redacting(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        if redact.active():
            _redact(record)
        return record

    make.redacts = True  # type: ignore[attr-defined]
    return make


def _redact(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when the record is written
        return
    clean = redact.redact(message)
    if clean != message:
        # keep the record's shape (some formatters read its args), masking each part; if a
        # secret spans the parts, the whole message is masked instead
        msg = redact.redact(record.msg) if isinstance(record.msg, str) else record.msg
        args: Any = record.args
        if isinstance(args, tuple):
            args = tuple(_redact_arg(a) for a in args)
        elif isinstance(args, Mapping):
            args = {k: _redact_arg(v) for k, v in args.items()}
        record.msg, record.args = msg, args
        try:
            whole = record.getMessage() == clean
        except Exception:
            whole = False
        if not whole:
            record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact.redact(_TRACEBACKS.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact.redact(record.stack_info)


def _redact_arg(value: Any) -> Any:
    if isinstance(value, str):
        return redact.redact(value)
    if value is None or isinstance(value, int | float):
        return value
    text = str(value)
    clean = redact.redact(text)
    return value if clean == text else clean


redact_records()
