"""A segment's data elements checked against its definition, compiled once per definition.

Each segment definition becomes one regular expression over the segment's text (as the
tokenizer keeps it: released characters are single placeholder characters, so lengths count
right): element and component counts, mandatory elements and components, representation and
lengths. Coded values and decimal numbers are captured, then looked up in the code list's set
or their digits counted. A segment that matches is valid; its text is remembered, so a segment
seen before costs a set lookup. One that does not match (or that holds repetitions, or that the
slow tokenizer already split) is walked element by element to say what is wrong and where.

Numbers take either decimal mark, ``,`` or ``.``; the sign and the mark are not counted in the
length, and a mark needs a digit on each side (ISO 9735).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tradelane.edi.directory import DataElement, Position, SegmentDef
from tradelane.formats.edifact_tokens import Element, Repeated

#: (violation kind, element position, component or None, value, why, data element number)
Fault = tuple[str, int, int | None, str, str, str]

_NUMBER = re.compile(r"-?(\d*)(?:[.,](\d*))?")


def _quant(low: int, high: int) -> str:
    low = max(low, 1)
    return f"{{{low},{high}}}" if high else f"{{{low},}}"


class SegmentChecker:
    """Checks segments of one definition written with one set of delimiters."""

    def __init__(self, segment: SegmentDef, element_sep: str, component_sep: str,
                 repetition_sep: str | None):
        self.segment = segment
        self.e, self.c, self.r = element_sep, component_sep, repetition_sep
        # what each capture group must be, in order: a code list, or (min, max) digits
        self.rules: list[frozenset[str] | tuple[int, int]] = []
        self.good: set[str] = set()  # texts already found valid (bounded)
        self._named: dict[str, frozenset[str] | tuple[int, int]] = {}
        seps = element_sep + component_sep + (repetition_sep or "")
        self.plain = f"[^{re.escape(seps)}]"
        self.not_digit = f"[^{re.escape(seps)}0-9]"
        rest = ""
        tail_optional = True
        for pos in reversed(segment.positions):
            body = self._position(pos)
            if tail_optional and not pos.mandatory:
                rest = f"(?:{re.escape(element_sep)}{body}{rest})?"
            else:
                rest = f"{re.escape(element_sep)}{body}{rest}"
                tail_optional = False
        self.fast = re.compile(re.escape(segment.tag) + rest)
        order = sorted(self.fast.groupindex.items(), key=lambda item: item[1])
        self.rules = [self._named[name] for name, _ in order]

    def valid(self, text: str) -> bool:
        """True when the segment's text is valid (the fast path); False: walk it. Callers
        look in ``good`` first."""
        match = self.fast.fullmatch(text)
        if match is None:
            return False
        if self.rules:
            for value, rule in zip(match.groups(), self.rules, strict=True):
                if value is None:
                    continue
                if isinstance(rule, frozenset):
                    if value not in rule:
                        return False
                elif not rule[0] <= len(value) - 1 <= rule[1]:  # digits of a decimal
                    return False
        if len(self.good) < 4096:
            self.good.add(text)
        return True

    # -- the compiled pattern ---------------------------------------------------------------

    def _value(self, el: DataElement) -> str:
        if el.codes:  # captured, then looked up in the code list's set
            name = f"c{len(self._named)}"
            self._named[name] = el.codes.frozen()
            return f"(?P<{name}>{self.plain}+)"
        if el.representation == "n":  # a decimal is captured: its digits are counted after
            name = f"c{len(self._named)}"
            self._named[name] = (max(el.min_length, 1), el.max_length or 1 << 30)
            return rf"-?(?:\d{_quant(el.min_length, el.max_length)}|(?P<{name}>\d+[.,]\d+))"
        cls = self.not_digit if el.representation == "a" else self.plain
        return cls + _quant(el.min_length, el.max_length)

    def _position(self, pos: Position) -> str:
        if pos.element is not None:
            value = self._value(pos.element)
            return value if pos.mandatory else f"(?:{value})?"
        assert pos.composite is not None
        comp = re.escape(self.c)
        rest = ""
        tail_optional = True
        parts = pos.composite.components
        for k in range(len(parts) - 1, 0, -1):
            part = parts[k]
            value = self._value(part.element)
            value = value if part.mandatory else f"(?:{value})?"
            if tail_optional and not part.mandatory:
                rest = f"(?:{comp}{value}{rest})?"
            else:
                rest = f"{comp}{value}{rest}"
                tail_optional = False
        first = self._value(parts[0].element)
        if parts[0].mandatory:
            body = f"{first}{rest}"
        elif pos.mandatory:  # present: not only empty components
            body = f"(?!(?:{comp})*(?:{re.escape(self.e)}|$))(?:{first})?{rest}"
        else:
            body = f"(?:{first})?{rest}"
        return body if pos.mandatory else f"(?:{body})?"

    # -- the slow walk ----------------------------------------------------------------------

    def faults(self, elements: list[Element]) -> Iterator[Fault]:
        """Every fault of a segment split into elements (pydifact's shape, tag first)."""
        positions = self.segment.positions
        values = elements[1:]
        while values and values[-1] in ("", []):
            values.pop()
        if len(values) > len(positions):
            extra = values[len(positions)]
            yield ("count", len(positions) + 1, None, _text(extra, self.c),
                   f"{self.segment.tag} has {len(positions)} elements; this is one more", "")
        for pos, value in zip(positions, values, strict=False):
            yield from self._position_faults(pos, value)
        for pos in positions[len(values):]:
            if pos.mandatory:
                yield ("missing", pos.position, None, "", f"mandatory {_name(pos)} is missing",
                       pos.number)

    def _position_faults(self, pos: Position, value: Element) -> Iterator[Fault]:
        reps = value if isinstance(value, Repeated) else [value]
        if isinstance(value, Repeated) and pos.repeats and len(reps) > pos.repeats:
            yield ("count", pos.position, None, "", f"{_name(pos)} is repeated {len(reps)}"
                   f" times; at most {pos.repeats}", pos.number)
        for rep in reps:
            comps = rep if isinstance(rep, list) else [rep]
            if all(c == "" for c in comps):
                if pos.mandatory:
                    yield ("missing", pos.position, None, "",
                           f"mandatory {_name(pos)} is missing", pos.number)
                continue
            if pos.element is not None:
                if len(comps) > 1:
                    yield ("count", pos.position, 2, comps[1], f"{_name(pos)} is a simple data"
                           " element; it has no components", pos.number)
                yield from _value_faults(pos.element, comps[0], pos.position, None)
                continue
            assert pos.composite is not None
            parts = pos.composite.components
            if len(comps) > len(parts):
                yield ("count", pos.position, len(parts) + 1, comps[len(parts)],
                       f"{_name(pos)} has {len(parts)} components; this is one more",
                       pos.number)
            for k, part in enumerate(parts, start=1):
                text = comps[k - 1] if k <= len(comps) else ""
                if text == "":
                    if part.mandatory:
                        yield ("missing", pos.position, k, "", f"mandatory component"
                               f" {_el_name(part.element)} of {_name(pos)} is missing",
                               part.element.number)
                    continue
                yield from _value_faults(part.element, text, pos.position, k)


def _value_faults(el: DataElement, text: str, position: int,
                  component: int | None) -> Iterator[Fault]:
    what = _el_name(el)
    if el.codes:
        if text not in el.codes:
            yield ("code", position, component, text, f"{text!r} is not a code of {what}",
                   el.number)
        return
    length = len(text)
    if el.representation == "n":
        match = _NUMBER.fullmatch(text)
        if match is None:
            yield ("characters", position, component, text, f"{what} is numeric", el.number)
            return
        whole, fraction = match.group(1), match.group(2)
        if fraction is not None and (not whole or not fraction):
            yield ("decimal", position, component, text, f"{what}: a decimal mark needs a"
                   " digit on each side", el.number)
            return
        length = len(whole) + len(fraction or "")
    elif el.representation == "a" and any(ch.isdigit() for ch in text):
        yield ("characters", position, component, text, f"{what} is alphabetic", el.number)
        return
    if el.max_length and length > el.max_length:
        yield ("long", position, component, text, f"{what} is {length} characters long;"
               f" at most {el.max_length}", el.number)
    elif el.min_length and length < el.min_length:
        yield ("short", position, component, text, f"{what} is {length} characters long;"
               f" at least {el.min_length}", el.number)


def _el_name(el: DataElement) -> str:
    return f"{el.number} ({el.name})" if el.number else el.name


def _name(pos: Position) -> str:
    number = pos.number
    return f"{number} ({pos.name})" if number else pos.name


def _text(element: Element, component_sep: str) -> str:
    if isinstance(element, list):
        return component_sep.join(element)
    return str(element)
