"""Schema drift: a route with ``drift: warn|reject`` pins the shape of the first file it saw,
and each later file is compared with it before any record is read.

A shape is what a partner's system decides and a mapping silently depends on: a CSV or
fixed-width file's columns (record layouts), a JSON record's keys (as paths), an XML record's
child elements, the segment tags of each EDIFACT message type or X12 transaction set. It is
taken from the first ``PREFIX`` bytes of the file (the header, the first records or
messages), so its cost does not grow with the file.

A CSV header is compared both ways (a new or a missing column). The others are compared for
what is new only: a record or message that leaves out an optional key or segment is normal,
and the first records of a file cannot show every optional one.

A drift opens one alert per route (``drift:<route>``), resolved when a file has the pinned
shape again or when ops accept the new one (``tradelane drift accept ROUTE``). Under
``reject`` the file is quarantined with the changes as its reason. Pinning, noting the drifted
shape and the alert are each idempotent, so a crash between them and the file's outcome
repeats them harmlessly.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from tradelane.errors import NotFound, RejectError, RequestError
from tradelane.ledger import Ledger, utcnow
from tradelane.ledger.alerts import Incidents
from tradelane.ledger.store import insert_ignore
from tradelane.ledger.tables import route_shapes
from tradelane.models import Issue
from tradelane.spec import RouteSpec
from tradelane.staging import Staged

log = logging.getLogger("tradelane")

#: Bytes of a file its shape is taken from.
PREFIX = 64 << 10
#: Names kept per group: a runaway JSON document does not grow the ledger row without end.
MAX_NAMES = 1000
#: Changes named in a message; the rest are counted.
SHOWN = 10
#: How long a process trusts its copy of a pinned shape: a ledger query per file would cost
#: more than taking the shape (0.8 ms against 0.01 ms for a small CSV). A drift is always
#: confirmed against the ledger, so a ``drift accept`` elsewhere is seen at once there.
CACHE_SECONDS = 5.0

Shape = dict[str, list[str]]  # group (columns, records, a message type) -> names


class SchemaDrift(RejectError):
    """The file's columns, keys or segments differ from the shape the route pinned."""

    def __init__(self, route: str, changes: list[str]):
        self.route, self.changes = route, changes
        super().__init__(
            f"schema drift: {_listed(changes)} (compared with the shape route {route} pinned;"
            f" if the partner changed it on purpose: tradelane drift accept {route}, then"
            " reprocess)",
            issues=[Issue("file shape", "", "", "drift", change) for change in changes],
            stage="read")


class NotDrifted(RequestError):
    """``drift accept`` of a route whose files have their pinned shape (refused: exit 6)."""

    def __init__(self, route: str):
        self.route = route
        super().__init__(f"route {route} has not drifted from its pinned shape: nothing to"
                         " accept")


# -- taking a shape ---------------------------------------------------------------------------


def shape_of(route: RouteSpec, staged: Staged) -> Shape | None:
    """The file's shape, or None when it cannot be told (the reader then says why)."""
    kind = route.format.type
    take = _TAKERS.get(kind)
    if take is None:
        return None
    with staged.open() as fh:
        head = fh.read(PREFIX)
    whole = len(head) >= staged.size
    try:
        shape = take(route, head, whole, staged)
    except (RejectError, ValueError, UnicodeError, LookupError):
        return None
    if not shape:
        return None
    return {group: sorted(names)[:MAX_NAMES] if kind != "csv" else names[:MAX_NAMES]
            for group, names in shape.items()}


def _text(head: bytes, encoding: str) -> str:
    """The prefix as text; a character cut at its end is left out."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return decoder.decode(head, final=False).removeprefix("\ufeff")


def _csv(route: RouteSpec, head: bytes, whole: bool, staged: Staged) -> Shape | None:
    from tradelane.formats.csv import _header  # the reader's own header parsing

    fmt = route.format
    if not getattr(fmt, "header", False):
        return None  # the columns are the mapping's own (format.columns)
    return {"columns": [c.strip() for c in _header(staged, fmt, route.limits)]}  # type: ignore[arg-type]


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


def _json(route: RouteSpec, head: bytes, whole: bool, staged: Staged) -> Shape | None:
    """Key paths of the records (``lines[].sku``), from a scan of the prefix's tokens: no
    parse of the whole document, and a record cut at the end gives what it has."""
    fmt = route.format
    text = _text(head, getattr(fmt, "encoding", "utf-8"))
    if fmt.type == "jsonl":
        prefix: tuple[str, ...] = ()
    else:
        records = getattr(fmt, "records", "")
        prefix = (*records.split("."), "[]") if records else ("[]",)
    keys: set[str] = set()
    stack: list[list[Any]] = []  # [path, is object, current key]
    expect_key = False
    for match in _JSON_TOKEN.finditer(text):
        tok = match.group()
        if tok in "{[":
            if not stack:
                path: tuple[str, ...] = ()
            else:
                parent = stack[-1]
                path = (*parent[0], parent[2] if parent[1] else "[]")
            stack.append([path, tok == "{", ""])
            expect_key = tok == "{"
        elif tok in "}]":
            if stack:
                stack.pop()
            expect_key = False
        elif tok == ",":
            expect_key = bool(stack) and stack[-1][1]
        elif tok == ":":
            expect_key = False
        elif expect_key and stack:
            key = json.loads(tok) if "\\" in tok else tok[1:-1]
            stack[-1][2] = key
            full = (*stack[-1][0], key)
            if full[:len(prefix)] == prefix and len(full) > len(prefix):
                keys.add(".".join(full[len(prefix):]).replace(".[]", "[]"))
                if len(keys) >= MAX_NAMES:
                    break
            expect_key = False
    return {"records": sorted(keys)} if keys else None


def _xml(route: RouteSpec, head: bytes, whole: bool, staged: Staged) -> Shape | None:
    """Child element names of the record elements in the prefix (parsed with entities, DTDs
    and the network off; a document with a DOCTYPE is the reader's to refuse)."""
    from lxml import etree

    fmt = route.format
    if b"<!DOCTYPE" in head:
        return None
    namespaces: dict[str, str] = getattr(fmt, "namespaces", {})
    records: str = getattr(fmt, "records", "")
    prefix, _, local = records.rpartition(":")
    tag = f"{{{namespaces[prefix]}}}{local}" if prefix in namespaces else local
    names = {uri: p for p, uri in namespaces.items()}
    parser = etree.XMLPullParser(events=("start", "end"), resolve_entities=False,
                                 no_network=True, load_dtd=False, remove_comments=True)
    children: set[str] = set()
    depth, record_depth = 0, -1
    try:
        parser.feed(head)
        events: Iterator[tuple[str, Any]] = parser.read_events()
        for event, elem in events:
            if event == "start":
                depth += 1
                if record_depth < 0 and elem.tag == tag:
                    record_depth = depth
                elif record_depth > 0 and depth == record_depth + 1:
                    qname = etree.QName(elem)
                    p = names.get(qname.namespace or "")
                    children.add(f"{p}:{qname.localname}" if p else qname.localname)
            else:
                if depth == record_depth:
                    record_depth = -1
                depth -= 1
                if record_depth < 0:
                    elem.clear()
    except etree.XMLSyntaxError:
        pass  # the prefix ends inside an element, or the file is not XML (the reader says)
    return {records: sorted(children)} if children else None


def _edi_segments(text: str, terminator: str, release: str | None) -> Iterator[str]:
    """The complete segments of ``text`` (one cut at the end is left out)."""
    t = re.escape(terminator)
    if release:
        r = re.escape(release)
        pattern = re.compile(f"(?:[^{r}{t}]|{r}.)*{t}", re.S)
    else:
        pattern = re.compile(f"[^{t}]*{t}")
    for match in pattern.finditer(text):
        yield match.group()[:-1].strip()


def _edifact(route: RouteSpec, head: bytes, whole: bool, staged: Staged) -> Shape | None:
    """Segment tags per message type (UNH to UNT)."""
    text = head.decode("latin-1").lstrip("\ufeff\r\n\t ")  # tags and UNH are plain ASCII
    component, data, release, terminator = ":", "+", "?", "'"
    if text.startswith("UNA") and len(text) >= 9:
        component, data, release, terminator = text[3], text[4], text[6], text[8]
        text = text[9:]
    release_char = release if release.strip() else None
    return _tags_per_unit(_edi_segments(text, terminator, release_char), data,
                          lambda elements: elements[2].split(component)[0]
                          if len(elements) > 2 else "?", "UNH", "UNT")


def _x12(route: RouteSpec, head: bytes, whole: bool, staged: Staged) -> Shape | None:
    """Segment tags per transaction set (ST to SE)."""
    text = head.decode("latin-1")
    at = text.find("ISA")
    if at < 0 or len(text) < at + 106:
        return None
    element, terminator = text[at + 3], text[at + 105]
    return _tags_per_unit(_edi_segments(text[at:], terminator, None), element,
                          lambda elements: elements[1] if len(elements) > 1 else "?",
                          "ST", "SE")


def _tags_per_unit(segments: Iterator[str], separator: str, unit_type: Any,
                   start: str, end: str) -> Shape | None:
    shape: dict[str, set[str]] = {}
    current: set[str] | None = None
    for segment in segments:
        elements = segment.split(separator)
        tag = elements[0]
        if tag == start:
            current = shape.setdefault(unit_type(elements), set())
        elif tag == end:
            current = None
        elif current is not None and tag and len(current) < MAX_NAMES:
            current.add(tag)
    return {k: sorted(v) for k, v in shape.items()} or None


def _fixed(route: RouteSpec, head: bytes, whole: bool, staged: Staged) -> Shape | None:
    """Record layouts: each record type with the widths of its lines."""
    from tradelane.formats.fixed import _match  # the reader's own record type rule

    fmt = route.format
    text = _text(head, getattr(fmt, "encoding", "utf-8"))
    lines = text.splitlines()
    if not whole and lines:
        lines.pop()  # cut at the end
    types = sorted(fmt.record_types.items(), key=lambda kv: -len(kv[1].prefix))  # type: ignore[union-attr]
    layouts: set[str] = set()
    for line in lines:
        if not line.strip():
            continue
        kind = _match(types, line)
        layouts.add(f"{kind}: {len(line)} characters" if kind else "lines of no record type")
        if len(layouts) >= MAX_NAMES:
            break
    return {"layouts": sorted(layouts)} if layouts else None


_TAKERS = {"csv": _csv, "json": _json, "jsonl": _json, "xml": _xml, "edifact": _edifact,
           "x12": _x12, "fixed": _fixed}


# -- comparing -------------------------------------------------------------------------------


def changes(kind: str, pinned: Shape, seen: Shape) -> list[str]:
    """What differs, each in words: ``new column 'discount'``, ``new segment FTX in ORDERS
    messages``. A CSV header is compared both ways, the rest for what is new."""
    out: list[str] = []
    for group, names in seen.items():
        before = pinned.get(group)
        if before is None and kind in ("edifact", "x12"):
            unit = "message type" if kind == "edifact" else "transaction set"
            out.append(f"new {unit} {group} (segments {', '.join(names)})")
            continue
        known = set(before or ())
        new = [n for n in names if n not in known]
        out.extend(f"new {_item(kind, group, n)}" for n in new)
        if kind == "csv":
            there = set(names)
            out.extend(f"column {n!r} is missing" for n in before or () if n not in there)
    return out


def _item(kind: str, group: str, name: str) -> str:
    if kind == "csv":
        return f"column {name!r}"
    if kind in ("json", "jsonl"):
        return f"key {name!r} in the records"
    if kind == "xml":
        return f"element {name!r} in {group}"
    if kind == "edifact":
        return f"segment {name} in {group} messages"
    if kind == "x12":
        return f"segment {name} in {group} transaction sets"
    return f"record layout {name!r}"


def accepted(kind: str, pinned: Shape, seen: Shape) -> Shape:
    """The shape pinned once ``seen`` is accepted: a CSV header as it is now, the others
    with the new names added (an optional key the new file left out stays known)."""
    if kind == "csv":
        return seen
    out = {g: set(n) for g, n in pinned.items()}
    for group, names in seen.items():
        out.setdefault(group, set()).update(names)
    return {g: sorted(n) for g, n in out.items()}


def _listed(items: list[str]) -> str:
    shown = "; ".join(items[:SHOWN])
    return shown + (f"; and {len(items) - SHOWN} more changes" if len(items) > SHOWN else "")


# -- the ledger's side ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pinned:
    route: str
    format: str
    shape: Shape
    pinned_at: datetime
    pinned_from: int | None
    seen: Shape | None
    seen_from: int | None
    seen_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Pinned:
        data = dict(row._mapping)
        data["shape"] = json.loads(data["shape"])
        data["seen"] = json.loads(data["seen"]) if data["seen"] else None
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return {"route": self.route, "format": self.format, "shape": self.shape,
                "pinned_at": self.pinned_at.isoformat(), "pinned_from": self.pinned_from,
                "drifted": changes(self.format, self.shape, self.seen) if self.seen else [],
                "seen_from": self.seen_from,
                "seen_at": self.seen_at.isoformat() if self.seen_at else None}


class Drift:
    """Pins, compares and accepts route shapes, and keeps the drift alerts."""

    def __init__(self, ledger: Ledger):
        self.engine = ledger.engine
        self.incidents = Incidents(ledger)
        self._cache: dict[str, tuple[float, Pinned | None]] = {}

    def check(self, route: RouteSpec, staged: Staged, file_id: int) -> str | None:
        """Compare the file with the route's pinned shape (pinning it if it is the first).
        Returns a note for the file's history under ``warn``; raises SchemaDrift under
        ``reject``."""
        if route.drift == "off":
            return None
        shape = shape_of(route, staged)
        if shape is None:
            return None
        kind = route.format.type
        pinned = self._cached(route.name)
        if pinned is not None and changes(kind, pinned.shape, shape):
            pinned = self._cached(route.name, fresh=True)  # confirm with the ledger
        if pinned is None or pinned.format != kind:  # the first file, or a new format
            self._pin(route.name, kind, shape, file_id, replace=pinned is not None)
            self._cache.pop(route.name, None)
            return None
        found = changes(kind, pinned.shape, shape)
        if not found:
            if pinned.seen is not None:  # the shape came back: the drift is over
                with self.engine.begin() as conn:
                    conn.execute(update(route_shapes).where(route_shapes.c.route == route.name)
                                 .values(seen=None, seen_from=None, seen_at=None))
                self.incidents.resolve_others("drift", set(), route=route.name)
                self._cache.pop(route.name, None)
            return None
        self._cache.pop(route.name, None)
        with self.engine.begin() as conn:
            conn.execute(update(route_shapes).where(route_shapes.c.route == route.name).values(
                seen=json.dumps(shape), seen_from=file_id, seen_at=utcnow()))
        message = f"route {route.name}: schema drift in file {file_id}: {_listed(found)}"
        if self.incidents.open(f"drift:{route.name}", "drift", message, route=route.name,
                               file_id=file_id):
            log.error("ALERT %s", message)
        if route.drift == "reject":
            raise SchemaDrift(route.name, found)
        return f"schema drift: {_listed(found)}"

    def _cached(self, route: str, *, fresh: bool = False) -> Pinned | None:
        hit = self._cache.get(route)
        if hit is not None and not fresh and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        pinned = self.pinned(route)
        self._cache[route] = (time.monotonic(), pinned)
        return pinned

    def pinned(self, route: str) -> Pinned | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(route_shapes)
                               .where(route_shapes.c.route == route)).first()
        return Pinned.from_row(row) if row is not None else None

    def all(self) -> list[Pinned]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(route_shapes).order_by(route_shapes.c.route)).all()
        return [Pinned.from_row(r) for r in rows]

    def accept(self, route: str) -> Pinned:
        """Pin the last drifted shape; the route's drift alert is resolved."""
        pinned = self.pinned(route)
        if pinned is None:
            raise NotFound(route, "pinned shape for route")
        if pinned.seen is None:
            raise NotDrifted(route)
        shape = accepted(pinned.format, pinned.shape, pinned.seen)
        with self.engine.begin() as conn:
            conn.execute(update(route_shapes).where(route_shapes.c.route == route).values(
                shape=json.dumps(shape), pinned_at=utcnow(), pinned_from=pinned.seen_from,
                seen=None, seen_from=None, seen_at=None))
        self.incidents.resolve_others("drift", set(), route=route)
        accepted_now = self.pinned(route)
        assert accepted_now is not None
        return accepted_now

    def _pin(self, route: str, kind: str, shape: Shape, file_id: int, *,
             replace: bool) -> None:
        values = {"format": kind, "shape": json.dumps(shape), "pinned_at": utcnow(),
                  "pinned_from": file_id, "seen": None, "seen_from": None, "seen_at": None}
        with self.engine.begin() as conn:
            if replace:
                conn.execute(update(route_shapes).where(route_shapes.c.route == route)
                             .values(**values))
            else:  # two workers' first files at once: the first insert wins
                conn.execute(insert_ignore(route_shapes, self.engine.dialect.name)
                             .values(route=route, **values))
