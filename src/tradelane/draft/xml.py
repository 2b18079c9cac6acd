"""XML: the record element (the element that repeats most and has children of its own), the
namespaces and their prefixes, the values inside a record and the document-level ones.

Parsed as the engine parses partners' XML: entities, DTDs and the network off.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from lxml import etree

from tradelane.draft.errors import UnusableSample
from tradelane.draft.model import MAX_RECORDS, Draft, FieldDraft, Guess
from tradelane.draft.sniff import Sample
from tradelane.draft.values import Marks, field_name, profile

_SAFE = {"resolve_entities": False, "load_dtd": False, "no_network": True,
         "huge_tree": False, "remove_comments": True, "remove_pis": True}
_MAX_FIELDS = 60


def _events(sample: Sample) -> Iterator[tuple[str, Any]]:
    context = etree.iterparse(io.BytesIO(sample.data), events=("start", "end", "start-ns"),
                              **_SAFE)
    try:
        yield from context
    except etree.XMLSyntaxError as exc:
        if not sample.truncated:  # a cut file ends badly; a whole one must not
            raise UnusableSample(sample.path, f"it is not well-formed XML: {exc}") from None


class _Names:
    """Prefixes for namespace URIs: the document's own, and 'ns' for a default one."""

    def __init__(self) -> None:
        self.prefixes: dict[str, str] = {}  # uri -> prefix

    def declare(self, prefix: str | None, uri: str) -> None:
        if uri in self.prefixes:
            return
        if not prefix:
            word = re.sub(r"[^a-z]", "", re.split(r"[:/]", uri.rstrip("/:"))[-1].lower())[:8]
            prefix = word if word and word[0].isalpha() else "ns"
        base, n = prefix, 2
        while prefix in self.prefixes.values():
            prefix, n = f"{base}{n}", n + 1
        self.prefixes[uri] = prefix

    def name(self, tag: str) -> str:
        q = etree.QName(tag)
        if q.namespace is None:
            return q.localname
        if q.namespace not in self.prefixes:
            self.declare(None, q.namespace)
        return f"{self.prefixes[q.namespace]}:{q.localname}"


def _leaves(elem: Any, names: _Names, out: dict[str, str | None], path: str = "") -> None:
    for attr, value in elem.attrib.items():
        key = f"{path}/@{names.name(attr)}" if path else f"@{names.name(attr)}"
        out.setdefault(key, value)
    children = [c for c in elem if isinstance(c.tag, str)]
    if not children:
        if path:
            out.setdefault(path, (elem.text or "").strip() or None)
        return
    for child in children:
        step = names.name(child.tag)
        _leaves(child, names, out, f"{path}/{step}" if path else step)


def draft_xml(sample: Sample) -> Draft:
    draft = Draft(kind="xml", truncated=sample.truncated)
    if re.search(rb"<!DOCTYPE", sample.data[:65536], re.IGNORECASE):
        draft.notes.append("the sample declares a DOCTYPE: tradelane refuses such files (DTDs"
                           " and entities are a security risk); ask for files without one")
    names = _Names()
    counts: Counter[tuple[str, ...]] = Counter()
    parents: set[tuple[str, ...]] = set()
    path: list[str] = []
    for event, item in _events(sample):
        if event == "start-ns":
            names.declare(*item)
        elif event == "start":
            path.append(item.tag)
            counts[tuple(path)] += 1
            if len(path) > 1:
                parents.add(tuple(path[:-1]))
        else:
            path.pop()
            if len(path) > 1:
                item.clear()
    if not counts:
        raise UnusableSample(sample.path, "it holds no XML element")
    record_path, count = _record_path(counts, parents)
    record = names.name(record_path[-1])
    others = sorted(((n, p) for p, n in counts.items() if p in parents and len(p) > 1
                     and p != record_path), reverse=True)[:2]
    also = "; next: " + ", ".join(f"{names.name(p[-1])} ({n})" for n, p in others) \
        if others else ""
    draft.format.append(Guess("records", record, f"{count} <{record}> element(s) with"
                              f" children of their own{also}"))
    _fields(sample, draft, names, record_path)
    used = {p.split(":", 1)[0] for f in [*draft.fields, *draft.header]
            for p in re.findall(r"[\w.-]+:[\w.-]+", f.source)}
    used.add(record.split(":", 1)[0] if ":" in record else "")
    draft.format.append(Guess("namespaces", {p: uri for uri, p in names.prefixes.items()
                                             if p in used},
                              "as the document declares them ('" + "', '".join(
                                  p for p in names.prefixes.values() if p in used)
                              + "'); a default namespace gets a prefix of its own"))
    return draft


_LINE = re.compile(r"(Line|Item|Record|Row|Entry)$")


def _record_path(counts: Counter[tuple[str, ...]], parents: set[tuple[str, ...]]
                 ) -> tuple[tuple[str, ...], int]:
    """The record element: among elements with children of their own, one named like a
    line (InvoiceLine, OrderLine), then the one repeated most under a single parent, then
    the shallowest."""
    def score(path: tuple[str, ...]) -> tuple[bool, bool, int, int]:
        single_parent = counts.get(path[:-1], 0) == 1
        return (bool(_LINE.search(etree.QName(path[-1]).localname)) and single_parent,
                single_parent and counts[path] > 1, counts[path], -len(path))

    candidates = [p for p in counts if p in parents and len(p) > 1]
    if not candidates:
        candidates = [p for p in counts if len(p) == 1]
    best = max(candidates, key=score)
    return best, counts[best]


def _fields(sample: Sample, draft: Draft, names: _Names, record_path: tuple[str, ...]) -> None:
    rows: list[dict[str, str | None]] = []
    header: dict[str, str | None] = {}
    path: list[str] = []
    for event, item in _events(sample):
        if event == "start":
            path.append(item.tag)
            continue
        if event != "end":
            continue
        here = tuple(path)
        path.pop()
        if here == record_path and len(rows) < MAX_RECORDS:
            row: dict[str, str | None] = {}
            _leaves(item, names, row)
            rows.append(row)
            item.clear()
        elif len(here) == 2 and here != record_path[:2]:  # a document-level value
            if len(item):
                _leaves(item, names, header, names.name(item.tag))
            else:
                header.setdefault(names.name(item.tag), (item.text or "").strip() or None)
            item.clear()
    draft.records_seen = len(rows)
    order: dict[str, None] = {}
    for row in rows:
        order.update(dict.fromkeys(row))
    taken: set[str] = set()
    for key in list(order)[:_MAX_FIELDS]:
        values = [row.get(key) for row in rows]
        draft.fields.append(profile(field_name(_label(key), taken), key, values, Marks()))
    if len(order) > _MAX_FIELDS:
        draft.notes.append(f"{len(order) - _MAX_FIELDS} more values in a record are not"
                           f" mapped: {', '.join(list(order)[_MAX_FIELDS:][:5])} …")
    for key, value in list(header.items())[:20]:
        field = profile(field_name(_label(key), taken), key, [value], Marks())
        field.why = f"once per document: {field.why.split(';')[0]}"
        field.required = False
        draft.header.append(field)
    if not draft.fields:
        draft.fields.append(FieldDraft("text", ".", why="the record element has no values"))


def _label(path: str) -> str:
    """A field name's words from an XPath: 'cac:Item/cbc:Name' -> 'item name'."""
    return " ".join(step.split(":")[-1].lstrip("@") for step in path.split("/"))
