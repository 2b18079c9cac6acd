"""The UN/EDIFACT directories (D93A..D10B) and EANCOM subsets, as the engine reads them.

``load("D96A", "ORDERS")`` returns a :class:`MessageDef`: the message's structure (segments
and segment groups in order, each with its minimum and maximum occurrences, nested), every
segment's data elements and composites in position (mandatory or conditional, representation
``a``/``n``/``an``, minimum and maximum length, element number and name) and code lists.

The data is compiled from the MIT-licensed XML schemas of microsoft/Integration by
``scripts/compile_edifact_directories.py`` into ``edi/directories/<KEY>.json.gz`` (one file per
directory, tables shared by its messages). Directories are read lazily, on first use, and
each message is built once and cached. EANCOM subsets have their own keys: ``EAN94`` (on
D93A), ``EAN97`` (D96A), ``EAN02`` (D01B, syntax 3) and ``EAN02S4`` (D01B, syntax 4).
"""

from __future__ import annotations

import difflib
import gzip
import json
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from tradelane.errors import ConfigError

#: EANCOM subset per base directory, chosen when UNH 0057 names an EANCOM version (EAN...).
EANCOM_BY_BASE = {"D93A": "EAN94", "D96A": "EAN97", "D01B": "EAN02"}
UNBOUNDED = 0  # a max of 0 in ``max_occurs`` / ``repeats`` means no limit


class Codes(AbstractSet[str]):
    """A code list, split from its text when first used (most are never used)."""

    __slots__ = ("_set", "_text")

    def __init__(self, text: str):
        self._text = text
        self._set: frozenset[str] | None = None

    def frozen(self) -> frozenset[str]:
        if self._set is None:
            self._set = frozenset(self._text.split(" "))
        return self._set

    def __contains__(self, code: object) -> bool:
        return code in self.frozen()

    def __iter__(self) -> Iterator[str]:
        return iter(self.frozen())

    def __len__(self) -> int:
        return len(self.frozen())

    def __hash__(self) -> int:
        return hash(self._text)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Codes):
            return self._text == other._text
        return AbstractSet.__eq__(self, other)

    def __repr__(self) -> str:
        return f"Codes({self._text[:40]!r}…)" if len(self._text) > 40 else f"Codes({self._text!r})"


@dataclass(frozen=True, slots=True)
class DataElement:
    number: str  # "1004"; "" where the schema gives none
    name: str
    representation: str  # "a", "n" or "an"
    min_length: int  # 0: not stated
    max_length: int  # 0: not stated
    codes: Codes | None  # the code list, for coded elements that have one


@dataclass(frozen=True, slots=True)
class Component:
    element: DataElement
    mandatory: bool


@dataclass(frozen=True, slots=True)
class Composite:
    number: str  # "C082"
    name: str
    components: tuple[Component, ...]


@dataclass(frozen=True, slots=True)
class Position:
    """One data element position of a segment (1-based), simple or composite."""

    position: int
    mandatory: bool
    repeats: int  # how often it may repeat (syntax 4); 1 for most
    element: DataElement | None = None
    composite: Composite | None = None

    @property
    def number(self) -> str:
        return self.composite.number if self.composite else self.element.number  # type: ignore[union-attr]

    @property
    def name(self) -> str:
        return self.composite.name if self.composite else self.element.name  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class SegmentDef:
    tag: str
    name: str
    positions: tuple[Position, ...]


@dataclass(frozen=True, slots=True)
class SegmentNode:
    """A segment in its place in the message structure."""

    segment: SegmentDef
    min_occurs: int
    max_occurs: int  # UNBOUNDED (0) for no limit

    @property
    def tag(self) -> str:
        return self.segment.tag


@dataclass(frozen=True, slots=True)
class GroupNode:
    """A segment group (``SG25``); its first child is its trigger segment."""

    name: str
    min_occurs: int
    max_occurs: int
    children: tuple[SegmentNode | GroupNode, ...]

    @property
    def trigger(self) -> str:
        first = self.children[0]
        return first.tag if isinstance(first, SegmentNode) else first.trigger


Node = SegmentNode | GroupNode


@dataclass(frozen=True, slots=True)
class MessageDef:
    directory: str  # the key it was loaded from: "D96A", "EAN97"
    base: str  # the UN directory it rests on: "D96A"
    type: str  # "ORDERS"
    name: str  # "Purchase order message"
    structure: tuple[Node, ...]

    def walk(self) -> list[tuple[tuple[str, ...], Node]]:
        """Every node in order with the names of the groups around it."""
        out: list[tuple[tuple[str, ...], Node]] = []

        def visit(nodes: tuple[Node, ...], path: tuple[str, ...]) -> None:
            for node in nodes:
                out.append((path, node))
                if isinstance(node, GroupNode):
                    visit(node.children, (*path, node.name))

        visit(self.structure, ())
        return out

    def segments(self, tag: str) -> list[SegmentDef]:
        """Each distinct definition of ``tag`` in this message (most have one)."""
        found: list[SegmentDef] = []
        for _path, node in self.walk():
            if isinstance(node, SegmentNode) and node.tag == tag and node.segment not in found:
                found.append(node.segment)
        return found

    def tags(self) -> list[str]:
        seen: dict[str, None] = {}
        for _path, node in self.walk():
            if isinstance(node, SegmentNode):
                seen.setdefault(node.tag)
        return list(seen)

    def group(self, name: str) -> GroupNode | None:
        for _path, node in self.walk():
            if isinstance(node, GroupNode) and node.name == name:
                return node
        return None


class UnknownDirectory(ConfigError):
    """A directory (or a message of one) that tradelane does not ship, with 'did you mean'."""

    def __init__(self, what: str, name: str, known: list[str]):
        self.what = what
        self.name = name
        close = difflib.get_close_matches(name.upper(), known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        super().__init__(f"unknown EDIFACT {what} {name!r}{hint}")


def _data_dir() -> Any:
    return resources.files("tradelane.edi") / "directories"


@lru_cache(maxsize=1)
def index() -> dict[str, dict[str, Any]]:
    """{directory key: {"base": "D96A", "messages": [...], "bytes": n}} for every shipped one."""
    return json.loads((_data_dir() / "index.json").read_text(encoding="utf-8"))


def directories() -> list[str]:
    return list(index())


def messages(directory: str) -> list[str]:
    return list(_entry(directory)["messages"])


def _entry(directory: str) -> dict[str, Any]:
    entry = index().get(directory.upper())
    if entry is None:
        raise UnknownDirectory("directory", directory, directories())
    return entry


@lru_cache(maxsize=8)
def _raw(directory: str) -> dict[str, Any]:
    data = (_data_dir() / f"{directory}.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))


class _Builder:
    """Turns one directory's shared tables into value objects, each built once."""

    def __init__(self, raw: dict[str, Any]):
        self.raw = raw
        self.codes: dict[int, Codes] = {}
        self.elements: dict[int, DataElement] = {}
        self.composites: dict[int, Composite] = {}
        self.segments: dict[int, SegmentDef] = {}

    def element(self, i: int) -> DataElement:
        if i not in self.elements:
            number, name, rep, low, high, codes = self.raw["elements"][i]
            if codes >= 0 and codes not in self.codes:
                self.codes[codes] = Codes(self.raw["codes"][codes])
            self.elements[i] = DataElement(number, name, rep, low, high,
                                           self.codes[codes] if codes >= 0 else None)
        return self.elements[i]

    def composite(self, i: int) -> Composite:
        if i not in self.composites:
            number, name, parts = self.raw["composites"][i]
            self.composites[i] = Composite(number, name, tuple(
                Component(self.element(e), bool(m)) for e, m in parts))
        return self.composites[i]

    def segment(self, i: int) -> SegmentDef:
        if i not in self.segments:
            tag, name, rows = self.raw["segments"][i]
            positions = tuple(
                Position(n, bool(mand), UNBOUNDED if rep < 0 else rep,
                         composite=self.composite(x) if kind else None,
                         element=None if kind else self.element(x))
                for n, (kind, x, mand, rep) in enumerate(rows, start=1))
            self.segments[i] = SegmentDef(tag, name, positions)
        return self.segments[i]

    def nodes(self, raw_nodes: list[Any]) -> tuple[Node, ...]:
        out: list[Node] = []
        for name, low, high, body in raw_nodes:
            high = UNBOUNDED if high < 0 else high
            if isinstance(body, list):
                out.append(GroupNode(name, low, high, self.nodes(body)))
            else:
                out.append(SegmentNode(self.segment(body), low, high))
        return tuple(out)


@lru_cache(maxsize=256)
def load(directory: str, message: str) -> MessageDef:
    """The definition of ``message`` in ``directory`` (``"D96A"``, ``"EAN97"``...), cached."""
    key = directory.upper()
    entry = _entry(key)
    raw = _raw(key)
    body = raw["messages"].get(message.upper())
    if body is None:
        raise UnknownDirectory(f"message type in {key}", message, list(entry["messages"]))
    name, structure = json.loads(body)  # each message's structure is a JSON text of its own
    return MessageDef(key, raw["base"], message.upper(), name, _Builder(raw).nodes(structure))


def directory_for(version: str, release: str, association: str = "",
                  syntax_version: str = "") -> str:
    """The directory key a UNH names: 0052 ``D`` + 0054 ``96A``; EANCOM when 0057 says EAN..."""
    base = f"{version.strip().upper()}{release.strip().upper()}"
    if association.strip().upper().startswith("EAN"):
        subset = EANCOM_BY_BASE.get(base)
        if subset is not None:
            return "EAN02S4" if subset == "EAN02" and syntax_version.strip() == "4" else subset
    return base
