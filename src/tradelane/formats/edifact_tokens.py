"""EDIFACT tokens in pydifact's shape, and the tokenizers that build them one delimiter at a
time: ``slow_elements`` (the fallback for data holding a placeholder character) and
``pydifact_elements`` (pydifact's parser, the reference of the differential tests).
"""

from __future__ import annotations

import functools
import re

from pydifact.control import Characters
from pydifact.parser import Parser
from pydifact.segments import SegmentFactory

from tradelane.formats.edifact_una import Delimiters


class Repeated(list):  # type: ignore[type-arg]
    """A data element sent more than once (repetition separator): one entry per repetition,
    each a value or a list of components. Paths without an index read the first."""

    __slots__ = ()


#: pydifact's shape of an element: a value, or its components; or a ``Repeated`` of those.
Element = str | list[str]


def slow_elements(text: str, d: Delimiters) -> list[list[Element]]:
    """Tokenize complete segments one delimiter at a time: [tag, element, ...] per segment,
    in ``Block.elements``' shape. The fallback for text whose data hold a placeholder."""
    out: list[list[Element]] = []
    seg: list[Element] = []
    rep: list[Element] = []
    comps: list[str] = []
    value: list[str] = []

    def close_element() -> None:
        comps.append("".join(value))
        value.clear()
        while len(comps) > 1 and comps[-1] == "":
            comps.pop()
        rep.append(list(comps) if len(comps) > 1 else comps[0])
        comps.clear()

    def close_repeated() -> None:
        close_element()
        while len(rep) > 1 and rep[-1] == "":
            rep.pop()
        seg.append(Repeated(rep) if len(rep) > 1 else rep[0])
        rep.clear()

    for m in _slow_pattern(d).finditer(text):
        released, sep, plain = m.group(1), m.group(2), m.group(3)
        if plain is not None:
            value.append(plain)
        elif released is not None:
            value.append(released)
        elif sep == d.component:
            comps.append("".join(value))
            value.clear()
        elif sep == d.repetition:
            close_element()
        elif sep == d.element:
            close_repeated()
        else:  # the segment terminator
            close_repeated()
            out.append(seg)
            seg = []
    return out


@functools.cache
def _slow_pattern(d: Delimiters) -> re.Pattern[str]:
    seps = "".join(re.escape(c) for c in (d.component, d.element, d.repetition, d.segment)
                   if c)
    rel = re.escape(d.release) if d.release else None
    stop = seps + (rel or "")
    released = f"{rel}([\\s\\S])|" if rel else "(?!)()|"
    return re.compile(f"{released}([{seps}])|([^{stop}]+)")


def pydifact_elements(text: str, d: Delimiters) -> list[list[Element]]:
    """Tokenize complete segments with pydifact's parser: [tag, element, ...] per segment.
    The reference of the differential tests (pydifact knows no repetition separator)."""
    chars = Characters(d.component, d.element, d.decimal, d.release or "\ufdd9",
                       d.repetition or " ", d.segment)
    factory = _PlainFactory()
    parser = Parser(factory=factory, characters=chars)
    return [[seg.tag, *seg.elements] for seg in parser.parse(text, chars)]


class _PlainFactory(SegmentFactory):
    """pydifact's segments without its per-directory validation (we only want the tokens)."""

    @staticmethod
    def create_segment(name: str, *elements: Element, validate: bool = True,
                       version: str = "", directory: str = "") -> object:
        from pydifact.segments import Segment

        return Segment(name, *elements)
