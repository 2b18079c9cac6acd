"""What the routes take from a request: the console, and a file id from the URL.

A file id in a URL is whatever someone typed. Anything that cannot be the id of a file (not
plain ASCII digits, zero, or too big for the ledger's integer column) is
``NotFound`` right here, before it reaches the database, where a number too big for the
column is an error of its own on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tradelane.errors import NotFound
from tradelane.ledger.store import MAX_ID
from tradelane.web.state import Console


def console(request: Request) -> Console:
    return request.app.state.console


def parse_file_id(text: str) -> int | None:
    """The id ``text`` spells, or None if it spells no possible file id."""
    digits = text.lstrip("0")
    if not (text.isascii() and text.isdigit()) or not digits or len(digits) > 10:
        return None
    value = int(digits)
    return value if value <= MAX_ID else None


def file_id(file_id: str) -> int:
    """The ``{file_id}`` of the path, or NotFound."""
    value = parse_file_id(file_id)
    if value is None:
        raise NotFound(file_id[:40])
    return value


ConsoleDep = Annotated[Console, Depends(console)]
FileId = Annotated[int, Depends(file_id)]
