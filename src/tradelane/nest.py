"""Flat output records -> one nested document per key (a route's ``nest:`` block). Pure.

Records are taken in their order. A document is the run of consecutive records with the same
key (an EDI message's records always follow each other); it is handed on as soon as a record
with another key comes, so memory holds one batch and one document, plus the keys already
seen, to refuse a document whose records are scattered through the file. Inside a document,
children with the same ``by`` value are one entry, wherever their records are.

A field written at a level must have one value per entry: a record that disagrees is an
``Issue`` at its own location. Problems are all counted; ``InvalidRecords`` is raised after
the last batch, and no document is handed on after the first problem (the file is going to
quarantine, so nothing of it may be written).

Values are the writer's own cells (JSON value texts, XML texts): ``cells(doc)`` turns a batch
into one list per column, and equality of cells is what "the same value" means.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradelane.errors import ConfigError, InvalidRecords
from tradelane.models import Document, Issue
from tradelane.spec import RouteSpec
from tradelane.spec.nest import NestLevel, NestSpec

#: Issues kept for the reason file; every one is counted.
MAX_ISSUES = 100
_SHOWN = 80  # characters of a value quoted in a message

Cells = Callable[[Document], dict[str, Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class At:
    """Where a record is, put in words only when a message needs it (locating a CSV row
    reads the file)."""

    locate: Callable[[int], str]
    number: int

    def __str__(self) -> str:
        return self.locate(self.number)


@dataclass(slots=True)
class Entry:
    """One entry of a level: its field values, where it began, and its lists of children."""

    values: dict[str, Any]
    first: At  # where its first record is, for messages about the others
    children: dict[str, dict[Any, Entry] | list[Entry]] = field(default_factory=dict)


@dataclass
class Nested:
    """One finished document and the record numbers (of the file) it carries."""

    root: Entry
    records: list[int]


class Nester:
    """Groups batches of output records into documents, as ``spec`` declares."""

    def __init__(self, spec: NestSpec, cells: Cells, null: Any = None):
        self.spec = spec
        self.cells = cells
        self.null = null  # the cell of a missing value
        self.issues: list[Issue] = []
        self.error_count = 0
        self._names = _field_names(spec)
        self._current: Nested | None = None  # the document being built
        self._key: Any = None  # its key
        #: keys of finished documents, to refuse one that comes again (EDI keys never do)
        self._done: set[Any] = set()
        self._tracked = spec.by not in ("_message", "_interchange", "_file")

    def documents(self, batches: Iterable[Document]) -> Iterator[Nested]:
        """Every document, each as soon as the next begins; ``InvalidRecords`` after the
        last batch if any record broke a rule (no document is handed on after the first)."""
        for doc in batches:
            yield from self.feed(doc)
        yield from self.finish()

    def feed(self, doc: Document) -> list[Nested]:
        """Take one batch; the documents it finished."""
        finished: list[Nested] = []
        columns = self.cells(doc)
        missing = [n for n in self._names if n not in columns]
        if missing:  # only a hook can do this: check knows the other output columns
            raise ConfigError(f"nest: the output has no field(s) {', '.join(missing)}"
                              " (the transform hook left them out)")
        keys = self._keys(doc, columns)
        assert doc.numbers is not None
        by, tracked, done = self.spec.by, self._tracked, self._done
        for row, number in enumerate(doc.numbers.tolist()):
            where = At(doc.locate, number)
            here = keys[row]
            if here == self.null and tracked:
                self._issue(where, by, "", "key",
                            f"{by} is empty: the record belongs to no document")
                continue
            current = self._current
            if current is None or here != self._key:
                if current is not None:
                    if tracked:
                        done.add(self._key)
                    if not self.error_count:
                        finished.append(current)
                if here in done:
                    self._issue(where, by, _text(here), "together",
                                f"the records of {by} {_text(here)} do not follow each"
                                f" other: another document came between them; sort the"
                                f" file by {by}")
                self._key = here
                current = self._current = Nested(
                    Entry(self._values(self.spec, columns, row), where), [])
            else:
                self._agree(self.spec, current.root, columns, row, where)
            current.records.append(number)
            self._add_children(self.spec, current.root, columns, row, where)
        return finished

    def finish(self) -> list[Nested]:
        """The last document, or ``InvalidRecords`` with every problem found."""
        if self.error_count:
            raise InvalidRecords(self.issues, error_count=self.error_count, stage="transform")
        last, self._current = self._current, None
        return [last] if last is not None else []

    # -- one record ----------------------------------------------------------------------------

    def _keys(self, doc: Document, columns: dict[str, Sequence[Any]]) -> Sequence[Any]:
        by = self.spec.by
        rows = doc.records.num_rows
        if by == "_file":
            return [0] * rows
        if by == "_interchange":
            if doc.interchange is None:
                raise ConfigError("nest.by: _interchange needs EDIFACT or X12 input")
            return [(doc.interchange, doc.interchange_segment)] * rows
        if by == "_message":
            if doc.units is None:
                raise ConfigError("nest.by: _message needs EDIFACT or X12 input")
            if len(doc.units) != rows:
                raise ConfigError("nest.by: _message: the transform hook added or removed"
                                  " records, so they can no longer be told to a message")
            return doc.units.tolist()
        return columns[by]

    def _values(self, level: NestLevel, columns: dict[str, Sequence[Any]],
                row: int) -> dict[str, Any]:
        return {name: columns[name][row] for name in level.fields}

    def _agree(self, level: NestLevel, entry: Entry, columns: dict[str, Sequence[Any]],
               row: int, where: At, list_name: str = "", key: Any = None) -> None:
        """The record's values at this level are the entry's (``list_name``: the entry is in
        a list of children, else the document)."""
        values = entry.values
        for name in level.fields:
            value = columns[name][row]
            first = values[name]
            if value != first:
                what, kind = (f"{list_name} entry ({level.by} {_text(key)})",
                              f"a field of {list_name}") if list_name else (
                              "document", "a document-level field")
                self._issue(where, name, _text(value), "one_value",
                            f"{name} is {_text(value)} here but {_text(first)} at"
                            f" {entry.first}, in the same {what}: {kind} must have one"
                            " value")

    def _add_children(self, level: NestLevel, parent: Entry,
                      columns: dict[str, Sequence[Any]], row: int, where: At) -> None:
        for name, child in level.children.items():
            if child.by is not None:
                key = columns[child.by][row] if child.by in columns else None
                if key == self.null or key is None:
                    continue  # the record has no entry in this list (a line without packages)
                keyed = parent.children.setdefault(name, {})
                assert isinstance(keyed, dict)
                entry = keyed.get(key)
                if entry is None:
                    entry = keyed[key] = Entry(self._values(child, columns, row), where)
                else:
                    self._agree(child, entry, columns, row, where, name, key)
            else:
                values = self._values(child, columns, row)
                if child.fields and all(v == self.null for v in values.values()):
                    continue
                listed = parent.children.setdefault(name, [])
                assert isinstance(listed, list)
                entry = Entry(values, where)
                listed.append(entry)
            if child.children:
                self._add_children(child, entry, columns, row, where)

    def _issue(self, where: At, name: str, value: str, rule: str, message: str) -> None:
        self.error_count += 1
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(Issue(str(where), name, value, f"nest.{rule}", message))


def checked_nesting(batches: Iterable[Document], route: RouteSpec) -> Iterator[Document]:
    """The batches unchanged, grouped on the side as the writer groups them, so that a dry
    run (``tradelane validate``) finds what a run would refuse. Nothing is kept but the
    document in hand."""
    from tradelane.formats.json_rows import json_values

    if route.nest is None:
        yield from batches
        return
    formats = route.output_formats()
    nester = Nester(route.nest, lambda doc: json_values(doc.records, formats), null="null")
    for doc in batches:
        nester.feed(doc)
        yield doc
    nester.finish()


def entries(entry: Entry, name: str) -> list[Entry]:
    """The entries of one of ``entry``'s lists, in the order they first came."""
    found = entry.children.get(name)
    if found is None:
        return []
    return list(found.values()) if isinstance(found, dict) else found


def _field_names(level: NestLevel) -> list[str]:
    names = [level.by] if level.by and not level.by.startswith("_") else []
    names += level.fields
    for child in level.children.values():
        names += _field_names(child)
    return list(dict.fromkeys(names))


def _text(value: Any) -> str:
    """A cell as a person reads it in a message."""
    text = "empty" if value is None or value == "null" else str(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


__all__ = ["At", "Entry", "Nested", "Nester", "checked_nesting", "entries"]
