"""EDI segments to fields, for EDIFACT and X12 alike: which values a section of a message
holds (the header before the first record, or each record), addressed by the paths both
readers share: ``TAG[QUALIFIER].element.component``, positions 1-based.

A segment gets a qualifier when it appears with more than one first value in one section
(``NAD[BY]`` and ``NAD[SU]``); the qualifier itself is then no field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tradelane.draft.model import FieldDraft
from tradelane.draft.values import Marks, dates_match, field_name, profile
from tradelane.formats.edifact_tokens import Repeated

#: A segment: its tag and its elements, each a list of components.
Segment = tuple[str, list[list[str]]]


@dataclass(frozen=True)
class Position:
    """What a directory says of one element position: its name and kind."""

    name: str
    composite: bool | None  # None: not known
    numeric: bool | None  # of a simple element
    components: tuple[tuple[str, bool], ...] = ()  # (name, numeric) of each component


Describe = Callable[[str, int], Position | None]
#: Whether a segment's first values are codes that may qualify it: (tag, the values seen)
Coded = Callable[[str, set[str]], bool]
#: A special type for a value: (tag, element, component, the segment) -> (type, format)
Special = Callable[[str, int, int, list[list[str]]], tuple[str, str] | None]


def _qualified(sections: Sequence[Sequence[Segment]], coded: Coded
               ) -> set[str]:
    """Tags that appear more than once in one section with different first values."""
    out: set[str] = set()
    for section in sections:
        firsts: dict[str, set[str]] = {}
        for tag, elements in section:
            firsts.setdefault(tag, set()).add(elements[0][0] if elements and elements[0]
                                              else "")
        out |= {tag for tag, values in firsts.items() if len(values) > 1 and "" not in values}
    return {tag for tag in out if coded(tag, {e[0][0] for t, e in _all(sections, tag) if e})}


def section_fields(sections: Sequence[Sequence[Segment]], describe: Describe,
                   coded: Coded, taken: set[str], *, limit: int,
                   special: Special | None = None, header: bool = False
                   ) -> tuple[list[FieldDraft], list[str]]:
    """The fields of these sections (each a list of segments), at most ``limit``; and the
    paths left out."""
    qualified = _qualified(sections, coded)
    values: dict[tuple[str, str, int, int], list[str | None]] = {}
    kinds: dict[tuple[str, str, int, int], set[tuple[str, str] | None]] = {}
    for n, section in enumerate(sections):
        seen: set[tuple[str, str]] = set()
        for tag, elements in section:
            q = elements[0][0] if tag in qualified and elements and elements[0] else ""
            if (tag, q) in seen:
                continue  # a reader takes the first of a path: so does the profile
            seen.add((tag, q))
            for e, element in enumerate(elements, start=1):
                for c, value in enumerate(element, start=1):
                    if not value or (q and e == 1 and c == 1):
                        continue
                    key = (tag, q, e, c)
                    column = values.setdefault(key, [])
                    column.extend([None] * (n - len(column)))
                    column.append(value)
                    if special is not None:
                        kinds.setdefault(key, set()).add(special(tag, e, c, elements))
    fields: list[FieldDraft] = []
    left: list[str] = []
    for (tag, q, e, c), column in values.items():
        column.extend([None] * (len(sections) - len(column)))
        pos = describe(tag, e)
        composite = pos.composite if pos and pos.composite is not None else (
            c > 1 or any(_components(s, tag, q, e) for s in sections))
        path = f"{tag}[{q}]" if q else tag
        path += f".{e}.{c}" if composite else f".{e}"
        if not composite and c > 1:
            continue  # a component the definition does not have: the reader cannot reach it
        if len(fields) >= limit:
            left.append(path)
            continue
        what, numeric = (pos.name, pos.numeric) if pos else ("", True)
        if pos and composite and c <= len(pos.components):
            what, numeric = pos.components[c - 1]
        label = f"{tag} {q} {what}" if what else f"{tag} {q} {e} {c if composite else ''}"
        field = profile(field_name(label, taken), path, column, Marks(), numbers=bool(numeric))
        found = kinds.get((tag, q, e, c), set())
        if len(found) == 1 and None not in found:
            kind, fmt = next(iter(found))  # type: ignore[misc]
            present = [v for v in column if v]
            if all(dates_match(present, fmt)):
                field.type, field.format = kind, fmt
                field.why = (f"100% of {len(present)} values are dated {fmt}, as their format"
                             f" qualifier says; {field.why.split('; ')[-1]}")
        if what:
            field.why = f"{what}: {field.why}"
        if header or len(sections) < 2:
            field.required = False
        fields.append(field)
    return fields, left


def _all(sections: Sequence[Sequence[Segment]], tag: str) -> list[Segment]:
    return [seg for section in sections for seg in section if seg[0] == tag]


def _components(section: Sequence[Segment], tag: str, q: str, e: int) -> bool:
    for t, elements in section:
        if t == tag and e <= len(elements) and len(elements[e - 1]) > 1 and (
                not q or (elements[0] and elements[0][0] == q)):
            return True
    return False


def as_components(element: Any) -> list[str]:
    """An element as the EDIFACT tokenizer gives it (a value, its components, or a
    ``Repeated`` of those) -> the components of its first repetition."""
    if isinstance(element, Repeated):
        element = element[0] if element else ""
    if isinstance(element, list):
        return [str(x) for x in element]
    return [str(element) if element is not None else ""]


def split_records(segments: Sequence[Segment], record: str | None, skip: frozenset[str],
                  ends: frozenset[str]) -> tuple[list[Segment], list[list[Segment]]]:
    """A message's (or transaction set's) header segments and its records: a record runs
    from its ``record`` tag to the next, or to one of ``ends``; ``skip`` (the envelope) is
    left out."""
    head: list[Segment] = []
    records: list[list[Segment]] = []
    current: list[Segment] | None = None
    for tag, elements in segments:
        if tag in skip:
            continue
        if record and tag == record:
            current = []
            records.append(current)
        elif tag in ends:
            current = None
            continue
        (current if current is not None else head).append((tag, elements))
    return head, records
