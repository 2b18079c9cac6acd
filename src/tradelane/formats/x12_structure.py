"""An X12 transaction set checked against a route's own segment rules (``x12_ruleset``),
compiled once per route (``x12_segment_rules`` applies them as the reader reads).

The structure becomes the state machine EDIFACT messages walk (``edi.structure``: a loop is
a segment group entered by its first segment), framed by ST and SE, so a set costs a dict
lookup per segment, or one lookup when a set of the same shape was seen before. Each segment
tag with element rules gets a checker that walks its elements; a segment text found valid is
remembered (a bounded set), so repeated lines cost a set lookup.

Every violation is a ``RuleFinding`` (the HIPAA ``Finding`` with its rule): the segment's
number in the file and byte, its tag and position in the set (IK302), the element, component,
value, the 999 code (IK304 1-8 or IK403 1-13) and the rule, whose severity the rules file
sets.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tradelane.edi.directory import GroupNode, MessageDef
from tradelane.edi.structure import Finding as Step
from tradelane.edi.structure import StructureMachine
from tradelane.formats.x12_hipaa import Finding
from tradelane.formats.x12_ruleset import RULES, ElementRule, RuleSet, SegmentRules

if TYPE_CHECKING:
    from tradelane.formats.x12_envelope import Transaction
    from tradelane.formats.x12_syntax import X12Delimiters

#: Texts of valid segments remembered per segment tag.
GOOD_TEXTS = 4096
_NUMBER = re.compile(r"-?\d+")
_REAL = re.compile(r"-?(?:\d+\.?\d*|\.\d+)")
#: Separators with which a value could split more than one way: no fast pattern.
_AMBIGUOUS = frozenset("0123456789.-")


@dataclass(frozen=True, slots=True)
class RuleFinding(Finding):
    """A finding with the rule it breaks (a severity is set per rule)."""

    rule: str = ""


# -- the compiled rules --------------------------------------------------------------------------


class SetChecker:
    """A rule set compiled: its state machine and a checker per segment tag."""

    def __init__(self, rules: RuleSet):
        self.rules = rules
        self.machine = StructureMachine(MessageDef("rules", "", rules.transaction, rules.name,
                                                   rules.structure))
        self.known = set(self.machine.tag)
        self.segments = {tag: _SegmentChecker(r) for tag, r in rules.segments.items()}
        self.off = {rule for rule, level in rules.severity.items() if level == "off"}

    def check(self, tx: Transaction) -> list[RuleFinding]:
        """Every violation of one set (rules set off left out), in the set's order."""
        block = tx.block
        nodes, steps = self.machine.run(block.tags)
        out = [self._structural(tx, step) for step in steps]
        segments, last = self.segments, len(nodes) - 1
        tags, segs, delims = block.tags, block.segs, block.delims
        for k in range(1, last):  # ST and SE: the envelope's
            node = nodes[k]
            checker = segments.get(tags[k])
            if checker is None or node < 0:  # no rules, or not in its place (reported)
                continue
            text = segs[k]
            if text in checker.good or checker.valid(text, delims):
                continue
            found = checker.faults(text, delims)
            if not found:
                continue
            where = block.where(k)
            loop = self._loop(node)
            out.extend(RuleFinding("element", code, why, where["segment_index"],
                                   block.tags[k], k + 1, loop, pos, comp, 0, number, value,
                                   where["byte_offset"], rule)
                       for rule, code, why, pos, comp, number, value in found)
        if self.off:
            out = [f for f in out if f.rule not in self.off]
        out.sort(key=lambda f: (f.position, f.element, f.component))
        return out

    def _loop(self, node: int) -> str:
        path = self.machine.group_path(node)
        return path[-1] if path else ""

    def _structural(self, tx: Transaction, step: Step) -> RuleFinding:
        block, k = tx.block, step.segment
        tag = block.tags[k]
        where = block.where(k)
        node = self.machine.nodes[step.node] if step.node >= 0 else None

        def found(rule: str, why: str, subject: str = tag, loop: str = "") -> RuleFinding:
            return RuleFinding("segment", RULES[rule][1], why, where["segment_index"],
                               subject, k + 1, loop, value="" if subject != tag else tag,
                               byte=where["byte_offset"], rule=rule)

        if step.kind == "missing":
            assert node is not None
            loop = self._loop(step.node)
            if isinstance(node, GroupNode):
                return found("segment_missing", f"mandatory {node.name} loop is missing"
                             f" before {tag}", node.trigger, loop)
            return found("segment_missing", f"mandatory segment {node.tag} is missing"
                         f" before {tag}", node.tag, loop)
        if step.kind == "unexpected":
            if tag not in self.known:
                return found("segment_unknown", f"{tag} is not a segment of the"
                             f" {self.rules.transaction} as {self.rules.name} defines it")
            state = self.machine.segment_node(step.node)
            after = state.tag if state is not None else "ST"
            return found("segment_unexpected", f"{tag} is not allowed here (after {after}):"
                         f" {self.rules.name} has no place for it")
        assert node is not None
        if step.kind == "repeats":
            return found("segment_repeats", f"{tag} occurs {step.count} times; at most"
                         f" {node.max_occurs}", loop=self._loop(step.node))
        assert isinstance(node, GroupNode)
        return found("loop_repeats", f"the {node.name} loop occurs {step.count} times; at"
                     f" most {node.max_occurs}", node.trigger, self._loop(step.node))


#: (rule, 999 code, why, element position, component, data element number, value)
Fault = tuple[str, str, str, int, int, str, str]


class _SegmentChecker:
    """One segment tag's element rules: a regular expression per set of delimiters says
    whether a text keeps them (``valid``), the few values it captures (codes, decimals,
    dates, times) looked up; ``faults`` walks a text that does not, to say how."""

    def __init__(self, rules: SegmentRules):
        self.rules = rules
        self.good: set[str] = set()
        self.composite = {pos for pos, comp in rules.elements if comp}
        self._fast: dict[tuple[str, str], re.Pattern[str] | None] = {}
        self.tests: list[tuple[int, Callable[[str], bool]]] = []
        self.noted = sorted({p for n in rules.notes for p in n.positions})
        self._at = operator.itemgetter(*(p - 1 for p in self.noted)) if len(self.noted) > 1 \
            else (lambda values: (values[self.noted[0] - 1],))
        self._signatures: dict[tuple[bool, ...], bool] = {}
        self._delims: X12Delimiters | None = None
        self._pattern: re.Pattern[str] | None = None

    def valid(self, text: str, d: X12Delimiters) -> bool:
        """True when ``text`` keeps every rule; False: ``faults`` says what is wrong."""
        if d is not self._delims:  # one set of delimiters per interchange, most often
            key = (d.element, d.component)
            if key not in self._fast:
                self._fast[key] = self._compile(*key)
            self._delims, self._pattern = d, self._fast[key]
        fast = self._pattern
        if fast is None:
            return False
        match = fast.fullmatch(text)
        if match is None:
            return False
        values = match.groups() if self.tests or self.noted else ()
        for i, test in self.tests:
            value = values[i]
            if value and not test(value):
                return False
        if self.noted:
            there = tuple(map(bool, self._at(values)))
            ok = self._signatures.get(there)
            if ok is None:
                ok = self._signatures[there] = self._notes_kept(there)
            if not ok:
                return False
        if len(self.good) < GOOD_TEXTS:
            self.good.add(text)
        return True

    def _notes_kept(self, there: tuple[bool, ...]) -> bool:
        values = [""] * max(self.noted)
        for p, here in zip(self.noted, there, strict=True):
            values[p - 1] = "x" if here else ""
        return all(_note(self.rules.tag, n.kind, n.positions, values, "") is None
                   for n in self.rules.notes)

    def _compile(self, e: str, c: str) -> re.Pattern[str] | None:
        """The segment's pattern: a group per element position up to the last one ruled or
        noted; None when the delimiters could make a value split two ways (a digit, sign or
        point as a separator), or for composites (walked)."""
        rules = self.rules
        if self.composite or _AMBIGUOUS & {e, c}:
            return None
        last = max([p for p, _ in rules.elements] + self.noted, default=0)
        plain = f"[^{re.escape(e + c)}]"
        sep = re.escape(e)
        tests: list[tuple[int, Callable[[str], bool]]] = []
        if rules.max_elements:
            rest = f"(?:{sep}[^{re.escape(e)}]*){{0,{rules.max_elements - last}}}"
        else:
            rest = f"(?:{sep}[^{re.escape(e)}]*)*"
        optional = True
        for p in range(last, 0, -1):
            rule = rules.elements.get((p, 0))
            if rule is None:
                body = f"([^{re.escape(e)}]*)"
            else:
                value, test = _pattern(rule, plain)
                if test is not None:
                    tests.append((p - 1, test))
                body = f"({value})" if rule.mandatory else f"((?:{value})?)"
            if optional and (rule is None or not rule.mandatory):
                rest = f"(?:{sep}{body}{rest})?"
            else:
                rest, optional = f"{sep}{body}{rest}", False
        self.tests = tests
        return re.compile(re.escape(rules.tag) + rest)

    def faults(self, text: str, d: X12Delimiters) -> list[Fault]:
        values = text.split(d.element)[1:]
        while values and values[-1] == "":
            values.pop()
        out: list[Fault] = []
        rules = self.rules
        tag = rules.tag
        if rules.max_elements and len(values) > rules.max_elements:
            pos = rules.max_elements + 1
            out.append(("element_count", "3", f"{tag} has {len(values)} elements; at most"
                        f" {rules.max_elements}", pos, 0, "", values[pos - 1][:99]))
        for (pos, comp), rule in rules.elements.items():
            raw = values[pos - 1] if pos <= len(values) else ""
            if comp:
                parts = raw.split(d.component)
                value = parts[comp - 1] if comp <= len(parts) else ""
                if raw == "":
                    continue  # a component's rules apply when its composite is there
            else:
                if d.component in raw and pos not in self.composite:
                    out.append(("element_count", "13", f"{rule.name} is a simple element;"
                                " it has no components", pos, 0, rule.number, raw[:99]))
                    continue
                value = raw
            fault = _value(rule, value)
            if fault is not None:
                out.append((fault[0], RULES[fault[0]][1], fault[1], pos, comp, rule.number,
                            value[:99]))
        for note in rules.notes:
            fault2 = _note(tag, note.kind, note.positions, values, note.name)
            if fault2 is not None:
                out.append(fault2)
        if not out and len(self.good) < GOOD_TEXTS:
            self.good.add(text)
        return out


def _pattern(rule: ElementRule, plain: str) -> tuple[str, Callable[[str], bool] | None]:
    """A value of ``rule`` as a pattern, and a test of what the pattern cannot say."""
    low, high = rule.min, rule.max
    count = f"{{{low},{high}}}" if high else f"{{{low},}}"
    kind = rule.type
    if kind == "ID" and rule.codes is not None:  # longest first: a code may start another
        codes = sorted(rule.codes, key=lambda code: (-len(code), code))
        return "(?:" + "|".join(map(re.escape, codes)) + ")", None
    if kind == "N":
        return rf"-?\d{count}", None
    if kind == "R":  # the lookahead counts the digits, not the sign or the point
        return (rf"(?=-?(?:\.?\d){count}\.?(?![\d.]))-?(?:\d+\.?\d*|\.\d+)", None)
    if kind in ("DT", "TM"):
        check = _date if kind == "DT" else _time
        return rf"\d{count}", check
    return f"{plain}{count}", None


def _value(rule: ElementRule, value: str) -> tuple[str, str] | None:
    """(rule broken, why) for one value, or None."""
    name = rule.name
    if value == "":
        return ("element_missing", f"mandatory {name} is missing") if rule.mandatory else None
    kind = rule.type
    length = len(value)
    if kind == "ID" and rule.codes is not None:
        if value not in rule.codes:
            shown = ", ".join(sorted(rule.codes)[:12])
            return "code_list", f"{value!r} is not a code of {name} ({shown})"
        return None
    if kind == "N":
        if not _NUMBER.fullmatch(value):
            return "representation", f"{name} is a number (N{rule.decimals}): digits only"
        length = len(value.lstrip("-"))
    elif kind == "R":
        if not _REAL.fullmatch(value):
            return "representation", f"{name} is a decimal number (R)"
        length = sum(ch.isdigit() for ch in value)
    elif kind == "DT" and not _date(value):
        return "date", f"{name} is not a date (CCYYMMDD or YYMMDD)"
    elif kind == "TM" and not _time(value):
        return "time", f"{name} is not a time (HHMM, HHMMSS, HHMMSSd..)"
    if rule.max and length > rule.max:
        return "too_long", f"{name} is {length} characters long; at most {rule.max}"
    if length < rule.min:
        return "too_short", f"{name} is {length} characters long; at least {rule.min}"
    return None


@functools.lru_cache(maxsize=4096)  # the dates of a file repeat
def _date(text: str) -> bool:
    if not text.isdigit() or len(text) not in (6, 8):
        return False
    try:
        datetime.strptime(text, "%Y%m%d" if len(text) == 8 else "%y%m%d")
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=4096)
def _time(text: str) -> bool:
    if not text.isdigit() or not 4 <= len(text) <= 8:
        return False
    ok = int(text[:2]) < 24 and int(text[2:4]) < 60
    return ok and (len(text) < 6 or int(text[4:6]) < 60)


def _note(tag: str, kind: str, positions: tuple[int, ...], values: list[str],
          name: str) -> Fault | None:
    """A broken syntax note as a fault at its first element concerned (IK403 2 or 10)."""
    there = [p <= len(values) and values[p - 1] != "" for p in positions]
    names = [f"{tag}{p:02d}" for p in positions]
    first, rest = there[0], there[1:]
    if kind == "P" and any(there) and not all(there):
        lack = names[there.index(False)]
        return _broken(name, f"{lack} is missing: {' and '.join(names)} go together",
                       "2", positions[there.index(False)])
    if kind == "R" and not any(there):
        return _broken(name, f"at least one of {', '.join(names)} is required",
                       "2", positions[0])
    if kind == "C" and first and not all(rest):
        k = 1 + rest.index(False)
        return _broken(name, f"{names[k]} is required when {names[0]} is there",
                       "2", positions[k])
    if kind == "L" and first and not any(rest):
        return _broken(name, f"one of {', '.join(names[1:])} is required when"
                       f" {names[0]} is there", "2", positions[1])
    if kind == "E" and sum(there) > 1:
        k = [i for i, here in enumerate(there) if here][1]
        return ("syntax_note", "10", f"only one of {', '.join(names)} may be there (syntax"
                f" note {name})", positions[k], 0, "", values[positions[k] - 1][:99])
    return None


def _broken(note: str, why: str, code: str, pos: int) -> Fault:
    return ("syntax_note", code, f"{why} (syntax note {note})", pos, 0, "", "")
