"""Nested documents (a route's ``nest:`` block) written as JSON, JSON Lines or XML.

``tradelane.nest`` groups the records; here each finished document is encoded and written
before the next is built, so memory holds one document. Values are encoded as the flat
writers encode them: JSON cells come from ``json_values`` (exact decimals, ISO dates, the
fields' ``output_format``), XML texts from ``records_of`` with the same escaping.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from lxml import etree

from tradelane.formats.json_rows import json_values
from tradelane.models import Document
from tradelane.nest import Entry, Nested, Nester, entries
from tradelane.spec import RouteSpec
from tradelane.spec.nest import NestLevel, NestSpec, element_name


def json_documents(batches: Iterable[Document], route: RouteSpec) -> Iterator[Nested]:
    """The route's documents with JSON value texts as cells."""
    assert route.nest is not None
    formats = route.output_formats()
    nester = Nester(route.nest, lambda doc: json_values(doc.records, formats), null="null")
    return nester.documents(batches)


def document_json(doc: Nested, spec: NestSpec, indent: int | None = None) -> str:
    """One document as a JSON object text, compact or indented like ``json.dumps``."""
    return _object(doc.root, spec, indent, 0)


def _object(entry: Entry, level: NestLevel, indent: int | None, depth: int) -> str:
    items = [(_key(name), value) for name, value in entry.values.items()]
    for name, child in level.children.items():
        inner = [_object(e, child, indent, depth + 2) for e in entries(entry, name)]
        items.append((_key(name), _array(inner, indent, depth + 1)))
    if not items:
        return "{}"
    if indent is None:
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    pad, end = "\n" + " " * (indent * (depth + 1)), "\n" + " " * (indent * depth)
    return "{" + ",".join(f"{pad}{k}: {v}" for k, v in items) + end + "}"


def _array(items: list[str], indent: int | None, depth: int) -> str:
    if not items:
        return "[]"
    if indent is None:
        return "[" + ",".join(items) + "]"
    pad, end = "\n" + " " * (indent * (depth + 1)), "\n" + " " * (indent * depth)
    return "[" + ",".join(pad + item for item in items) + end + "]"


@functools.cache
def _key(name: str) -> str:
    """A key's JSON text: field and list names are few, documents many."""
    return json.dumps(name, ensure_ascii=False)


class NestedJsonWriter:
    """A JSON array of documents."""

    extension = "json"

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        assert route.nest is not None
        indent = route.target.json_indent
        count = documents = 0
        out.write(b"[")
        for doc in json_documents(batches, route):
            text = _object(doc.root, route.nest, indent, 0)
            out.write(((",\n" if documents else "\n") + text).encode())
            documents += 1
            count += len(doc.records)
        out.write(b"\n]\n" if documents else b"]\n")
        return count


class NestedJsonLinesWriter:
    """One compact document per line."""

    extension = "jsonl"

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        assert route.nest is not None
        count = 0
        for doc in json_documents(batches, route):
            out.write((_object(doc.root, route.nest, None, 0) + "\n").encode())
            count += len(doc.records)
        return count


def xml_documents(batches: Iterable[Document], route: RouteSpec) -> Iterator[Nested]:
    """The route's documents with XML texts as cells (None for a missing value)."""
    from tradelane.formats.json import records_of
    from tradelane.formats.xml import xml_text

    assert route.nest is not None
    formats = route.output_formats()

    def cells(doc: Document) -> dict[str, list[str | None]]:
        rows = records_of(doc, formats)
        return {name: [None if r[name] is None else xml_text(r[name]) for r in rows]
                for name in doc.records.column_names}

    return Nester(route.nest, cells).documents(batches)


def xml_element(doc: Nested, route: RouteSpec) -> Any:
    """One document (from ``xml_documents``) as an element with its lists inside."""
    assert route.nest is not None
    return _element(route.nest.element or route.target.xml.record, doc.root, route.nest)


def _element(tag: str, entry: Entry, level: NestLevel) -> Any:
    from tradelane.formats.xml import xml_name

    elem = etree.Element(xml_name(tag))
    for name, value in entry.values.items():
        child = etree.SubElement(elem, xml_name(name))
        if value is not None:
            child.text = value
    for name, child_level in level.children.items():
        holder = etree.SubElement(elem, xml_name(name))
        item = element_name(name, child_level)
        for sub in entries(entry, name):
            holder.append(_element(item, sub, child_level))
    return elem


class NestedXmlWriter:
    """One element per document under the root, its lists as elements of entries:
    ``<order><order_number>..</order_number><lines><line>..</line></lines></order>``."""

    extension = "xml"

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        count = 0
        with etree.xmlfile(out, encoding="utf-8") as xf:
            xf.write_declaration()
            with xf.element(route.target.xml.root):
                for doc in xml_documents(batches, route):
                    xf.write(xml_element(doc, route))
                    count += len(doc.records)
        return count


__all__ = ["NestedJsonLinesWriter", "NestedJsonWriter", "NestedXmlWriter", "document_json",
           "json_documents", "xml_documents", "xml_element"]
