"""A segment's data elements checked against its definition, compiled once per definition.

Each segment definition becomes one regular expression over the segment's text (as the
tokenizer keeps it: released characters are single placeholder characters, so lengths count
right): element and component counts, mandatory elements and components, representation and
lengths. Coded values and decimal numbers are captured, then looked up in the code list's set
or their digits counted. A segment that matches is valid; the validator remembers its text for
the file, so a segment seen before costs a set lookup. One that does not match (or that holds
repetitions, or that the slow tokenizer already split) is walked element by element to say
what is wrong and where.

A second pattern (``exact``) holds the code lists (as a trie of alternatives) and the digit
counts of decimals as well, so that a match alone says valid. ``invalid(texts)`` runs it once
over many segments joined by line breaks, each segment an atomic group (a bad one costs no
backtracking into the others): a batch of valid segments is one regex call, in C. It is built
only when no separator is a digit, sign or decimal mark, so that a segment splits one way
and both patterns read the same values; a segment it refuses is tried by the first pattern.

Numbers take either decimal mark, ``,`` or ``.``; the sign and the mark are not counted in the
length, and a mark needs a digit on each side (ISO 9735).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from functools import cached_property
from itertools import islice

from tradelane.edi.directory import DataElement, Position, SegmentDef
from tradelane.formats.edifact_tokens import Element, Repeated

#: (violation kind, element position, component or None, value, why, data element number)
Fault = tuple[str, int, int | None, str, str, str]

_NUMBER = re.compile(r"-?(\d*)(?:[.,](\d*))?")
#: Separators with which a segment could split more than one way: no ``exact`` pattern.
_AMBIGUOUS = frozenset("0123456789.,-")
#: Joins the segments of a batch. The tokenizer drops line breaks; a text holding one anyway
#: makes the batch's count of them wrong, and each text is then checked alone.
_JOIN = "\n"
#: Texts of valid segments remembered per definition.
GOOD_TEXTS = 4096


def _quant(low: int, high: int) -> str:
    low = max(low, 1)
    return f"{{{low},{high}}}" if high else f"{{{low},}}"


def _trie(codes: Collection[str]) -> str:
    """A pattern matching exactly ``codes``: alternatives sharing a prefix share its test."""
    if not codes:
        return "(?!)"
    root: dict[str, dict] = {}
    for code in codes:
        node = root
        for ch in code:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        ends = "" in node
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else f"(?:{'|'.join(alts)})"
        return f"(?:{body}|)" if ends else body  # "|)": see SegmentChecker._maybe

    return emit(root)


class SegmentChecker:
    """Checks segments of one definition written with one set of delimiters."""

    def __init__(self, segment: SegmentDef, element_sep: str, component_sep: str,
                 repetition_sep: str | None):
        self.segment = segment
        self.e, self.c, self.r = element_sep, component_sep, repetition_sep
        # what each capture group must be, in order: a code list, or (min, max) digits
        self.rules: list[frozenset[str] | tuple[int, int]] = []
        self._named: dict[str, frozenset[str] | tuple[int, int]] = {}
        seps = element_sep + component_sep + (repetition_sep or "")
        self._exact = False
        self.plain = f"[^{re.escape(seps)}]"
        self.not_digit = f"[^{re.escape(seps)}0-9]"
        self.end = "$"
        self.fast = re.compile(re.escape(segment.tag) + self._segment_body())
        order = sorted(self.fast.groupindex.items(), key=lambda item: item[1])
        self.rules = [self._named[name] for name, _ in order]
        self._exact_text = ""
        if not _AMBIGUOUS & set(seps):
            # the same pattern, self-contained; its values never take a line break
            self._exact = True
            self.plain = f"[^{re.escape(seps + _JOIN)}]"
            self.not_digit = f"[^{re.escape(seps + _JOIN)}0-9]"
            self.end = f"(?:{_JOIN}|\\Z)"
            self._exact_text = re.escape(segment.tag) + self._segment_body()

    # compiled when first used (milliseconds each for long code lists; a route in
    # isolate_messages mode never needs the batch one)
    @cached_property
    def exact(self) -> re.Pattern[str] | None:
        return re.compile(self._exact_text) if self._exact_text else None

    @cached_property
    def batch(self) -> re.Pattern[str] | None:
        return re.compile(f"(?>{self._exact_text}{_JOIN})*+") if self._exact_text else None

    def valid(self, text: str) -> bool:
        """True when the segment's text is valid (the fast path); False: walk it."""
        exact = self.exact
        return (exact is not None and exact.fullmatch(text) is not None) or self._valid(text)

    def _valid(self, text: str) -> bool:
        match = self.fast.fullmatch(text)
        if match is None:
            return False
        for value, rule in zip(match.groups(), self.rules, strict=True):
            if value is None:
                continue
            if isinstance(rule, frozenset):
                if value not in rule:
                    return False
            elif not rule[0] <= len(value) - 1 <= rule[1]:  # digits of a decimal
                return False
        return True

    def invalid(self, texts: Collection[str], good: set[str]) -> list[str]:
        """The texts among ``texts`` that are not valid segments (each once, in no order).
        ``good`` holds texts known to be valid; it takes some of the new ones (bounded)."""
        new = set(texts)
        new -= good
        if not new:
            return []
        if self.batch is None:
            return [t for t in new if not self.valid(t)]
        joined = _JOIN.join(new) + _JOIN
        if joined.count(_JOIN) != len(new):
            return [t for t in new if not self.valid(t)]
        bad: list[str] = []
        match, pos, end = self.batch.match, 0, len(joined)
        while True:
            pos = match(joined, pos).end()  # type: ignore[union-attr]  # matches, if empty
            if pos == end:
                break
            stop = joined.index(_JOIN, pos)
            if not self._valid(joined[pos:stop]):
                bad.append(joined[pos:stop])
            pos = stop + 1
        room = GOOD_TEXTS - len(good)
        if room > 0 and not bad:
            good.update(islice(new, room))
        return bad

    # -- the compiled patterns --------------------------------------------------------------

    def _segment_body(self) -> str:
        rest = ""
        tail_optional = True
        element = re.escape(self.e)
        for pos in reversed(self.segment.positions):
            body = self._position(pos)
            if tail_optional and not pos.mandatory:
                rest = self._maybe(f"{element}{body}{rest}")
            else:
                rest = f"{element}{body}{rest}"
                tail_optional = False
        return rest

    def _value(self, el: DataElement) -> str:
        if el.codes:  # captured, then looked up in the code list's set
            if self._exact:
                seps = set(self.e + self.c + (self.r or "") + _JOIN)
                return _trie([c for c in el.codes.frozen() if c and not seps & set(c)])
            name = f"c{len(self._named)}"
            self._named[name] = el.codes.frozen()
            return f"(?P<{name}>{self.plain}+)"
        if el.representation == "n":  # a decimal is captured: its digits are counted after
            low, high = max(el.min_length, 1), el.max_length or 1 << 30
            if self._exact:  # the run of digits and mark is one longer than its digits
                run = f"{{{low + 1},{high + 1}}}" if el.max_length else f"{{{low + 1},}}"
                decimal = rf"(?=[\d.,]{run}(?![\d.,]))\d+[.,]\d+"
            else:
                name = f"c{len(self._named)}"
                self._named[name] = (low, high)
                decimal = rf"(?P<{name}>\d+[.,]\d+)"
            return rf"-?(?:\d{_quant(el.min_length, el.max_length)}|{decimal})"
        cls = self.not_digit if el.representation == "a" else self.plain
        return cls + _quant(el.min_length, el.max_length)

    def _position(self, pos: Position) -> str:
        if pos.element is not None:
            value = self._value(pos.element)
            return value if pos.mandatory else self._maybe(value)
        assert pos.composite is not None
        comp = re.escape(self.c)
        rest = ""
        tail_optional = True
        parts = pos.composite.components
        for k in range(len(parts) - 1, 0, -1):
            part = parts[k]
            value = self._value(part.element)
            value = value if part.mandatory else self._maybe(value)
            if tail_optional and not part.mandatory:
                rest = self._maybe(f"{comp}{value}{rest}")
            else:
                rest = f"{comp}{value}{rest}"
                tail_optional = False
        first = self._value(parts[0].element)
        if parts[0].mandatory:
            body = f"{first}{rest}"
        elif pos.mandatory:  # present: not only empty components
            body = f"(?!(?:{comp})*(?:{re.escape(self.e)}|{self.end})){self._maybe(first)}{rest}"
        else:
            body = f"{self._maybe(first)}{rest}"
        return body if pos.mandatory else self._maybe(body)

    def _maybe(self, pattern: str) -> str:
        """``pattern`` or nothing. The self-contained pattern writes it ``(?:x|)``, the same
        match as ``(?:x)?``, which Python's engine runs several times faster (a branch, not a
        repeat that saves its state)."""
        return f"(?:{pattern}|)" if self._exact else f"(?:{pattern})?"

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
