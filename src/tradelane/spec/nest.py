"""Hierarchical output: a route's ``nest:`` block, and what ``check`` refuses in one.

A nest block turns a file's flat output records into one document per key (an order with
its ``lines`` and each line's ``packages``). The grouping itself is ``tradelane.nest``; here
are its options and the checks that need the rest of the route (output columns, format,
target).
"""

import re
from typing import TYPE_CHECKING

from pydantic import Field
from typing_extensions import TypeAliasType

from tradelane.spec._base import Strict

if TYPE_CHECKING:
    from tradelane.spec.route import RouteSpec

#: Keys that are not output fields: the EDI message (UNH or ST) or interchange (UNB or ISA)
#: a record came from, or the whole file.
SPECIAL_KEYS = {"_message": "the EDI message (UNH..UNT, ST..SE) a record came from",
                "_interchange": "the EDI interchange (UNB..UNZ, ISA..IEA) a record came from",
                "_file": "the whole file"}
_EDI_KEYS = ("_message", "_interchange")
_EDI_INPUTS = ("edifact", "x12")
#: Output formats that can carry a document with lists inside it.
NESTING_FORMATS = ("json", "jsonl", "xml")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


class NestLevel(Strict):
    """One level of a nested document: its fields, and the lists of children inside it."""

    by: str | None = Field(
        None, description="Field whose value identifies an entry of this list within its"
        " parent: records with the same value become one entry (e.g. line_no). Without it,"
        " every record is an entry of its own. A record without a value adds no entry.")
    fields: list[str] = Field(
        default_factory=list, description="Output fields written at this level, in this"
        " order; each must have one value per entry (a record that disagrees is an error).")
    children: "Children" = Field(
        default_factory=dict, description="Lists inside each entry, by name, each a level"
        " like this one, e.g. {packages: {by: sscc, fields: [sscc]}}.")
    element: str | None = Field(
        None, description="XML: the element of each entry inside the list's element;"
        " default the list's name without a final 's' (lines -> line), else 'item'.")


# An alias, so that the reference documents one level (nest.children.*) and stops there.
Children = TypeAliasType("map of text -> a level like nest.children.*",  # type: ignore[misc]
                         "dict[str, NestLevel]")
NestLevel.model_rebuild()


class NestSpec(NestLevel):
    """One document per key instead of flat rows, e.g. an order with its lines and their
    packages. Works on the output records (after transform), whatever the input format."""

    by: str = Field(  # type: ignore[assignment]
        ..., description="One document per value of this output field, or per _message (EDI"
        " message), _interchange (EDI interchange) or _file (the whole file). A document's"
        " records must follow each other in the file, as an EDI message's do.")
    fields: list[str] = Field(
        default_factory=list, description="Document-level fields, e.g. [order_number,"
        " buyer_gln]: each must have one value in the whole document; a record that"
        " disagrees is a located error and the file is quarantined.")
    children: dict[str, NestLevel] = Field(
        default_factory=dict, description="Lists inside each document, by name, e.g. {lines:"
        " {by: line_no, fields: [line_no, gtin], children: {packages: {fields: [sscc]}}}}.")
    element: str | None = Field(
        None, description="XML: the element of each document; default target.xml.record.")
    per_document: str | None = Field(
        None, description="Write each document to a file of its own (folder targets, json or"
        " xml), named by this template: the target's name placeholders, {n} (the document's"
        " position, from 1) and the document's fields, e.g. '{stem}-{order_number}.{ext}'."
        " Without it, every document of a file goes into one output file.")


def check_nest(route: "RouteSpec", label: str, problems: list[str]) -> None:
    """The nest block fits the route: every field it names is an output field, none is used
    twice, every output field has a place, and the target can carry nested documents."""
    nest = route.__dict__.get("nest")
    target = route.__dict__.get("target")
    http = getattr(target, "http", None)
    if nest is None:
        if http is not None and getattr(http, "per_document", False):
            problems.append(f"{label}: target.http.per_document: sends one nested document"
                            " per request, but the route has no nest block")
        return
    if target is not None:
        _check_target(route, label, problems)
    fmt = route.__dict__.get("format")
    kind = getattr(fmt, "type", None)
    outputs = _outputs(route)
    used: dict[str, str] = {}

    def visit(level: NestLevel, where: str) -> None:
        names = [("by", level.by)] if level.by else []
        names += [(f"fields.{i}", name) for i, name in enumerate(level.fields)]
        for place, name in names:
            at = f"{label}: {where}.{place}"
            if name in SPECIAL_KEYS:
                if place != "by" or where != "nest":
                    problems.append(f"{at}: {name} is {SPECIAL_KEYS[name]}, not a field;"
                                    " it can only be the document's key (nest.by)")
                elif name in _EDI_KEYS and kind is not None and kind not in _EDI_INPUTS:
                    problems.append(f"{at}: {name} needs EDIFACT or X12 input; this route"
                                    f" reads {kind}: group by one of its fields instead")
                continue
            if outputs is not None and name not in outputs:
                problems.append(f"{at}: {name!r} is not an output field (known:"
                                f" {', '.join(sorted(outputs))})")
                continue
            earlier = used.get(name)
            if earlier == where and not (place.startswith("fields") and level.by == name):
                problems.append(f"{at}: {name!r} is named twice at this level")
            elif earlier is not None and earlier != where:
                problems.append(f"{at}: {name!r} is already used at {earlier}; a field"
                                " belongs to one level of the document")
            used.setdefault(name, where)
        if not level.fields and not level.children:
            problems.append(f"{label}: {where}: give 'fields' or 'children': an entry"
                            " with neither would be empty")
        for child, spec in level.children.items():
            if not _NAME.match(child):
                problems.append(f"{label}: {where}.children.{child}: use letters, digits,"
                                " '_' and '-' (a JSON key and an XML element name)")
            if child in level.fields:
                problems.append(f"{label}: {where}.children.{child}: the name is also a"
                                " field of this level; one would hide the other")
            visit(spec, f"{where}.children.{child}")

    visit(nest, "nest")
    if route.__dict__.get("on_invalid") == "split" and nest.by not in _EDI_KEYS:
        problems.append(f"{label}: on_invalid: 'split' would deliver a document without its"
                        " invalid records (an order, say, without some of its lines); use"
                        " 'reject', or nest by _message, whose messages are split out whole")
    for element in _elements(nest, "nest"):
        name, where = element
        if not _NAME.match(name):
            problems.append(f"{label}: {where}: {name!r} is not a safe XML element name")
    if outputs is not None:
        left = sorted(outputs - set(used))
        if left:
            problems.append(f"{label}: nest: the output field(s) {', '.join(left)} have no"
                            " place in the documents and would be lost: add them to a level's"
                            " fields, or leave them out with transform.output")


def _check_target(route: "RouteSpec", label: str, problems: list[str]) -> None:
    target = route.target
    http = getattr(target, "http", None)
    if http is not None:
        if http.per_record:
            problems.append(f"{label}: target.http.per_record: with a nest block the API"
                            " gets documents, not records: use per_document (one document"
                            " per request) or batch (documents per request)")
        if route.nest is not None and route.nest.per_document:
            problems.append(f"{label}: nest.per_document: files are for folder targets; an"
                            " HTTP target sends one document per request with"
                            " target.http.per_document")
        return
    if target.format not in NESTING_FORMATS:
        problems.append(f"{label}: nest: {target.format} output is flat rows and cannot"
                        " carry documents with lists inside them; write json, jsonl or xml,"
                        " or remove the nest block")
    nest = route.nest
    if nest is None or nest.per_document is None:
        return
    from tradelane.targets.per_document import NAME_PLACEHOLDERS, template_names

    where = f"{label}: nest.per_document"
    if target.kind != "folder":
        problems.append(f"{where}: one file per document is written into local folders"
                        f" only, not to a {target.kind} target")
    elif target.format not in ("json", "xml"):
        problems.append(f"{where}: a file per document is written as json or xml, not"
                        f" {target.format}")
    try:
        used = template_names(nest.per_document)
    except ValueError as exc:
        problems.append(f"{where}: {nest.per_document!r} is not a name template ({exc})")
        return
    unknown = used - NAME_PLACEHOLDERS - set(nest.fields)
    if unknown:
        problems.append(f"{where}: unknown placeholder(s) {', '.join(sorted(unknown))}; use"
                        f" the document's fields ({', '.join(nest.fields) or 'none'}) or"
                        f" {', '.join(sorted(NAME_PLACEHOLDERS))}")
    if "/" in nest.per_document or "\\" in nest.per_document:
        problems.append(f"{where}: the name may not contain a path separator")


def _elements(level: NestLevel, where: str) -> list[tuple[str, str]]:
    found = [(level.element, f"{where}.element")] if level.element else []
    for child, spec in level.children.items():
        found += _elements(spec, f"{where}.children.{child}")
    return found


def _outputs(route: "RouteSpec") -> set[str] | None:
    """The route's output columns, or None when a hook decides them at run time."""
    transform = route.__dict__.get("transform")
    if transform is None or transform.hook or not {"fields", "header"} <= set(route.__dict__):
        return None
    if transform.output:
        return set(transform.output)
    known = set(route.fields) | set(transform.copy_header) | set(transform.constants)
    known |= {lk.field for lk in transform.lookups} | set(transform.derive)
    return {transform.rename.get(k, k) for k in known}


def element_name(name: str, level: NestLevel) -> str:
    """The XML element of each entry of the list ``name``."""
    if level.element:
        return level.element
    return name[:-1] if len(name) > 1 and name.endswith("s") else "item"


__all__ = ["NESTING_FORMATS", "SPECIAL_KEYS", "NestLevel", "NestSpec", "check_nest",
           "element_name"]
