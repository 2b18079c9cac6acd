"""The field-path checks a mapping has passed, remembered across processes.

Checking a route's field paths compiles each one with its format's engine: an XPath with
lxml, an EDIFACT path against its directory and group plan (numpy), an X12 path with the X12
reader. Each process that loads the project would import all of them, though a cron's
``run --once`` with nothing to do reads no file: a pass is remembered instead, keyed by the
mapping file's bytes and by tradelane's own code (the checks, the directories they read), so
that any change to either checks again. Only a pass is remembered: a problem is found, and
said, every time. A cache that cannot be read or written only costs the time it saves.

The verdicts are empty files in ``$XDG_CACHE_HOME/tradelane/checked`` (``~/.cache`` by
default; ``TRADELANE_CACHE`` names another folder, ``TRADELANE_CACHE=off`` turns it off).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent.parent
CODE = ("spec", "edi", "formats")  # the checks, and the code and data they compile paths with


def folder() -> Path | None:
    chosen = os.environ.get("TRADELANE_CACHE")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen) / "checked"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tradelane" / "checked"


@cache
def _code() -> bytes:
    """Every file of the checking code and its data, by name, size and modification time:
    an upgrade or an edit of tradelane checks every mapping again."""
    digest = hashlib.sha256()
    for part in CODE:
        for top, dirs, files in os.walk(PACKAGE / part):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                st = os.stat(os.path.join(top, name))
                digest.update(f"{top}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.digest()


def verdict(route: Any, check: str, *also: Path) -> Path | None:
    """Where a pass of ``check`` on ``route`` is (or would be) remembered, for its mapping
    file and the files in ``also`` (its guide) as they are now; None when it cannot be (no
    cache, a file that cannot be read)."""
    where = folder()
    spec_path = getattr(route, "spec_path", None)
    if where is None or spec_path is None:
        return None
    digest = hashlib.sha256(_code() + check.encode())
    try:
        for path in (Path(spec_path), *also):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    except OSError:
        return None
    return where / digest.hexdigest()


def passed(path: Path | None) -> bool:
    return path is not None and path.is_file()


def remember(path: Path | None) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError):  # read-only home, full disk: just not remembered
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch()
