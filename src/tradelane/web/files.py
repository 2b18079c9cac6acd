"""``/files``: one list over the whole ledger, a page at a time.

The filter lives in the query string (bookmarkable, and what a bulk action over "every file
matching" posts back: ``FileFilter.parse``). The database does the work: a WHERE built from
the filter, ``ORDER BY`` a column (newest received first) and the id, ``LIMIT``/``OFFSET``,
one ``COUNT``; each filter has an index (migration 0007), so the first page of 100,000 files
costs a few milliseconds (``bench/console.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import ColumnElement, Engine, Select, and_, func, select

from tradelane.ledger.tables import files
from tradelane.models import QUARANTINE_STATES, FileState
from tradelane.web.params import ConsoleDep
from tradelane.web.render import render
from tradelane.web.roles import Role, User, require

router = APIRouter()

PER_PAGE = (25, 50, 100, 200)
#: ``state=attention``: every state ops must look at (the quarantine list).
ATTENTION = "attention"
_STATES = tuple(s.value for s in FileState)
_HEX = frozenset("0123456789abcdef")
#: What the list can be sorted by, each with the id as tie-breaker (a stable page order);
#: newest received first unless asked.
SORTS: dict[str, Any] = {
    "id": files.c.id, "received": files.c.received_at, "updated": files.c.updated_at,
    "name": files.c.name, "route": files.c.route, "state": files.c.state,
    "size": files.c.size,
}
_COLUMNS = (files.c.id, files.c.route, files.c.name, files.c.state, files.c.attempt,
            files.c.size, files.c.sha256, files.c.received_at, files.c.updated_at,
            files.c.stage, files.c.message, files.c.error_count)


@dataclass(frozen=True)
class FileFilter:
    """Which files, in which order, which page. Dates are UTC days, ``until`` included."""

    route: str = ""
    states: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    name: str = ""
    sha: str = ""
    sort: str = "received"
    descending: bool = True
    page: int = 1
    per: int = 50
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def parse(cls, query: str | list[tuple[str, str]]) -> FileFilter:
        """The filter a query string spells. What cannot be understood is left out of the
        filter and named in ``problems`` (field: what is wrong), never an exception."""
        pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else query
        values: dict[str, str] = {}
        states: list[str] = []
        for key, value in pairs:
            if key == "state":
                states.append(value.strip())
            else:
                values.setdefault(key, value.strip())
        problems: list[str] = []
        chosen: list[str] = []
        for state in filter(None, states):
            if state == ATTENTION:
                chosen.extend(sorted(s.value for s in QUARANTINE_STATES))
            elif state in _STATES:
                chosen.append(state)
            else:
                problems.append(f"state: {state[:40]!r} is not a state (one of"
                                f" {', '.join(_STATES)}, or {ATTENTION})")
        since = _day(values.get("since", ""), "since", problems)
        until = _day(values.get("until", ""), "until", problems)
        if since and until and until < since:
            problems.append("until: the range ends before it starts")
            since = until = None
        sha = values.get("sha256", "").lower()
        if sha and (len(sha) > 64 or not set(sha) <= _HEX):
            problems.append("sha256: a prefix of the hash is hex digits (0-9, a-f), at most"
                            " 64 of them")
            sha = ""
        name = values.get("name", "")
        if len(name) > 200:
            problems.append("name: at most 200 characters")
            name = ""
        sort = values.get("sort", "received")
        if sort not in SORTS:
            problems.append(f"sort: choose one of {', '.join(SORTS)}")
            sort = "received"
        order = values.get("order", "desc")
        if order not in ("asc", "desc"):
            problems.append("order: asc or desc")
            order = "desc"
        return cls(route=values.get("route", "")[:64], states=tuple(dict.fromkeys(chosen)),
                   since=since, until=until, name=name, sha=sha, sort=sort,
                   descending=order == "desc",
                   page=_number(values.get("page", ""), 1, 1, 10**6, "page", problems),
                   per=_per(values.get("per", ""), problems), problems=tuple(problems))

    def where(self) -> list[ColumnElement[bool]]:
        """The conditions; each one can use an index of migration 0007, the name aside."""
        out: list[ColumnElement[bool]] = []
        if self.route:
            out.append(files.c.route == self.route)
        if self.states:
            out.append(files.c.state.in_(self.states))
        if self.since:
            out.append(files.c.received_at >= _midnight(self.since))
        if self.until and self.until < date.max:
            out.append(files.c.received_at < _midnight(self.until + timedelta(days=1)))
        if self.sha:  # a range, not LIKE: a plain index serves it on every backend
            upper = self.sha[:-1] + chr(ord(self.sha[-1]) + 1)
            out.append(and_(files.c.sha256 >= self.sha, files.c.sha256 < upper))
        if self.name:
            pattern = self.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            out.append(files.c.name.ilike(f"%{pattern}%", escape="\\"))
        return out

    def filtered(self) -> bool:
        return bool(self.route or self.states or self.since or self.until or self.name
                    or self.sha)

    def query(self, **changes: Any) -> str:
        """This filter as a query string, with ``changes`` (the page, the order) applied."""
        f = replace(self, **changes)
        pairs: list[tuple[str, str]] = []
        if f.route:
            pairs.append(("route", f.route))
        pairs.extend(("state", s) for s in f.states)
        for key, value in (("since", f.since), ("until", f.until)):
            if value:
                pairs.append((key, value.isoformat()))
        if f.name:
            pairs.append(("name", f.name))
        if f.sha:
            pairs.append(("sha256", f.sha))
        if (f.sort, f.descending) != ("received", True):
            pairs += [("sort", f.sort), ("order", "desc" if f.descending else "asc")]
        if f.per != 50:
            pairs.append(("per", str(f.per)))
        if f.page != 1:
            pairs.append(("page", str(f.page)))
        return urlencode(pairs)


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int  # files matching the filter, on every page
    filter: FileFilter  # with the page number actually shown

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.filter.per))

    @property
    def first(self) -> int:  # the number of the first row shown, from 1
        return (self.filter.page - 1) * self.filter.per + 1 if self.rows else 0


def _select(f: FileFilter) -> Select[Any]:
    return select(*_COLUMNS).where(*f.where())


def file_page(engine: Engine, f: FileFilter) -> Page:
    """One page of the files ``f`` matches; a page past the end shows the last one."""
    key = SORTS[f.sort]
    order = [key.desc(), files.c.id.desc()] if f.descending else [key.asc(), files.c.id.asc()]
    if f.sort == "id":
        order = order[1:]
    with engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(files)
                                 .where(*f.where())).scalar_one())
        last = max(1, math.ceil(total / f.per))
        f = replace(f, page=min(f.page, last))
        rows = conn.execute(_select(f).order_by(*order).limit(f.per)
                            .offset((f.page - 1) * f.per)).all()
    return Page([dict(r._mapping) for r in rows], total, f)


def matching_ids(engine: Engine, f: FileFilter, most: int) -> list[int]:
    """The ids of the files ``f`` matches, oldest first, at most ``most`` (bulk actions)."""
    with engine.connect() as conn:
        return list(conn.execute(select(files.c.id).where(*f.where())
                                 .order_by(files.c.id).limit(most)).scalars())


@router.get("/files", response_class=HTMLResponse)
def files_page(request: Request, con: ConsoleDep,
               user: Annotated[User, Depends(require(Role.viewer, "see the console"))]
               ) -> HTMLResponse:
    f = FileFilter.parse(request.url.query)
    page = file_page(con.ledger.engine, f)
    routes = sorted(set(con.project().routes) | ({f.route} if f.route else set()))
    return render(request, "files.html", 400 if f.problems else 200, nav="files", page=page,
                  f=page.filter, routes=routes, states=_STATES, attention=ATTENTION,
                  can_act=user.role >= Role.operator, sorts=SORTS,
                  quarantine_states=sorted(s.value for s in QUARANTINE_STATES))


def _day(text: str, name: str, problems: list[str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(f"{name}: {text[:20]!r} is not a date; write it as YYYY-MM-DD")
        return None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _number(text: str, default: int, low: int, high: int, name: str,
            problems: list[str]) -> int:
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        problems.append(f"{name}: a whole number from {low} to {high}")
        return default
    return int(text)


def _per(text: str, problems: list[str]) -> int:
    if text and text not in {str(n) for n in PER_PAGE}:
        problems.append(f"per: files per page is one of {', '.join(map(str, PER_PAGE))}")
        return 50
    return int(text) if text else 50
