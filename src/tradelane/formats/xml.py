"""XML with lxml's ``iterparse``: entities, DTDs and network access off, DOCTYPE rejected.

Each element named by ``format.records`` is one record; field sources are XPath expressions
relative to it (``cbc:ID``, ``cac:Item/cbc:Name``, ``cbc:Quantity/@unitCode``). Header fields
are XPath expressions relative to the root, evaluated once the records have been taken out,
so memory holds the extracted strings, not the tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
from lxml import etree

from tradelane.errors import LimitExceeded, MalformedInput
from tradelane.formats.input_checks import refuse_compressed
from tradelane.formats.json import records_of
from tradelane.formats.xml_prune import HeaderNeeds, Keep
from tradelane.models import Document, records_table
from tradelane.spec import RouteSpec, XmlFormat
from tradelane.staging import Staged

_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_PROLOG_BYTES = 64 * 1024
#: Every parse of a partner's XML: entities, DTDs and the network off, no huge trees.
_SAFE = {"resolve_entities": False, "load_dtd": False, "no_network": True,
         "dtd_validation": False, "huge_tree": False}


class XmlReader:
    def read(self, staged: Staged, route: RouteSpec) -> Iterator[Document]:
        fmt = route.format
        assert isinstance(fmt, XmlFormat)
        refuse_compressed(staged)
        _refuse_doctype(staged)
        tag = _clark(fmt.records, fmt.namespaces)
        fields = {name: _xpath(spec.source or name, fmt.namespaces, name)
                  for name, spec in route.fields.items()}
        needs = HeaderNeeds([spec.source or name for name, spec in route.header.items()],
                            fmt.namespaces)
        most = route.limits.max_field_bytes
        record_path = f"//{fmt.records}"
        columns: dict[str, list[str | None]] = {name: [] for name in fields}
        lines: list[int] = []
        root = None
        open_parts: list[Keep | None] = []  # per open element; None inside a record
        in_record = 0
        try:
            with staged.open() as fh:
                context = etree.iterparse(fh, events=("start", "end"), remove_comments=True,
                                          **_SAFE)
                for event, elem in context:
                    if root is None:
                        root = elem
                        record_path = f"/{etree.QName(root).localname}//{fmt.records}"
                        if elem.getroottree().docinfo.doctype:
                            raise MalformedInput("the XML declares a DOCTYPE; DTDs and entities"
                                                 " are refused for safety", location="line 1",
                                                 rule="doctype")
                        open_parts.append(needs.root())
                        continue
                    if event == "start":
                        if elem.tag == tag:
                            in_record += 1
                        parent = open_parts[-1]
                        open_parts.append(None if in_record or parent is None
                                          else needs.child(parent, elem.tag))
                        continue
                    part = open_parts.pop() if elem is not root else None
                    if elem.tag == tag:
                        in_record -= 1
                        for name, find in fields.items():
                            value = _text(find(elem))
                            if value is not None and len(value) > most:
                                where = (f"line {elem.sourceline or 0} ({record_path}"
                                         f"[{len(lines) + 1}]), {name}")
                                raise LimitExceeded("max_field_bytes", most, len(value),
                                                    location=where, what="a value")
                            columns[name].append(value)
                        lines.append(elem.sourceline or 0)
                        _drop(elem)
                    elif part is not None and elem is not root:
                        if part.needed:  # the header reads it: its container stays too
                            holder = open_parts[-1]
                            if holder is not None:
                                holder.holds = True
                        else:
                            _drop(elem)
        except etree.XMLSyntaxError as exc:
            message, (line, column) = exc.msg, exc.position if exc.position else (0, 0)
            # iterparse may report only its summary ("no element found", line 0): lxml's own
            # first error says what and where (an undefined entity at line 3, column 18)
            first = next((e for e in exc.error_log if e.line), None)
            if first is not None and (not line or message == "no element found"):
                message, line, column = first.message, first.line, first.column
            raise MalformedInput(f"the file is not well-formed XML: {message}",
                                 location=f"line {line}, column {column}") from None
        if root is None:
            raise MalformedInput("the file holds no XML element", location="line 1")
        if _has_entity_refs(root):
            raise MalformedInput("the XML uses entity references; entities are refused for "
                                 "safety", location="document", rule="entity")
        header = {name: _text(_xpath(spec.source or name, fmt.namespaces, name)(root))
                  for name, spec in route.header.items()}
        table = records_table({k: pa.array(v, pa.string()) for k, v in columns.items()},
                              len(lines))
        yield Document(header=header, records=table, locate=_Lines(lines, record_path),
                       source_rows=[SourceRecord(staged, i) for i in range(len(lines))]
                       if route.on_invalid == "split" else None)


def _drop(elem: Any) -> None:
    """Free an element the reader is done with; an entity reference in it is refused first,
    as it would be anywhere else in the document."""
    if next(elem.iter(etree.Entity), None) is not None:
        raise MalformedInput("the XML uses entity references; entities are refused for "
                             "safety", location=f"line {elem.sourceline or 0}", rule="entity")
    parent = elem.getparent()
    elem.clear()
    if parent is not None:
        parent.remove(elem)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """The ``index``-th record element (in document order of their ends) of a file."""

    staged: Staged
    index: int


def subset(rows: list[SourceRecord], fmt: XmlFormat) -> bytes:
    """The original document without the records that were delivered: everything else (the
    root, its namespaces, the document-level elements the header reads) stays, so the file
    can be fixed and run through the same route."""
    if not rows:
        return b""
    keep = {row.index for row in rows}
    with rows[0].staged.open() as fh:
        tree = etree.parse(fh, _safe_parser())
    tag = _clark(fmt.records, fmt.namespaces)
    records = [elem for _, elem in etree.iterwalk(tree, events=("end",), tag=tag)]
    for index, elem in enumerate(records):
        parent = elem.getparent()
        if index not in keep and parent is not None:
            parent.remove(elem)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(**_SAFE)


def _refuse_doctype(staged: Staged) -> None:
    with staged.open() as fh:
        prolog = fh.read(_PROLOG_BYTES)
    match = _DOCTYPE.search(prolog)
    if match:
        line = prolog[: match.start()].count(b"\n") + 1
        raise MalformedInput("the XML declares a DOCTYPE; DTDs and entities are refused for "
                             "safety", location=f"line {line}", rule="doctype")


def _has_entity_refs(root: Any) -> bool:
    return any(isinstance(node, etree._Entity) for node in root.iter())


def _clark(name: str, namespaces: dict[str, str]) -> str:
    if ":" in name:
        prefix, local = name.split(":", 1)
        return f"{{{namespaces[prefix]}}}{local}"
    return name


def _xpath(expr: str, namespaces: dict[str, str], field: str) -> Any:
    try:
        return etree.XPath(expr, namespaces=namespaces, smart_strings=False)
    except etree.XPathSyntaxError as exc:  # specs are checked at load; this is a safety net
        raise MalformedInput(f"field {field}: bad XPath {expr!r}: {exc}") from None


def _text(found: Any) -> str | None:
    if isinstance(found, list):
        if not found:
            return None
        found = found[0]
    if found is None:
        return None
    if isinstance(found, str | bytes):
        return found.decode() if isinstance(found, bytes) else found
    if isinstance(found, bool | float):
        return str(found)
    return "".join(found.itertext())


class _Lines:
    def __init__(self, lines: list[int], record_path: str):
        self.lines, self.record_path = lines, record_path

    def __call__(self, row: int) -> str:
        line = self.lines[row] if row < len(self.lines) else 0
        return f"line {line} ({self.record_path}[{row + 1}])"


class XmlWriter:
    extension = "xml"

    def write(self, batches: Iterable[Document], out: BinaryIO, route: RouteSpec) -> int:
        if route.nest is not None:  # one element per document, with its lists inside
            from tradelane.formats.nested import NestedXmlWriter

            return NestedXmlWriter().write(batches, out, route)
        opts = route.target.xml
        formats = route.output_formats()
        count = 0
        with etree.xmlfile(out, encoding="utf-8") as xf:
            xf.write_declaration()
            with xf.element(opts.root):
                for doc in batches:
                    for record in records_of(doc, formats):
                        elem = etree.Element(opts.record)
                        for key, value in record.items():
                            child = etree.SubElement(elem, xml_name(key))
                            if value is not None:
                                child.text = xml_text(value)
                        xf.write(elem)
                        count += 1
        return count


_NAME_BAD = re.compile(r"[^\w.-]")
_XML_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def xml_name(key: str) -> str:
    """A safe element name for an output field or list."""
    name = _NAME_BAD.sub("_", str(key)) or "field"
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def xml_text(value: Any) -> str:
    """A value as element text (characters XML cannot carry replaced)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_BAD_CHARS.sub("\ufffd", str(value))
