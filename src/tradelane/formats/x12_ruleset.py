"""A route's own segment rules for an X12 transaction set, as a partner's implementation guide
states them: read from YAML (inline in ``format.rules``, or a file beside the route) and
checked, every problem at its place with "did you mean".

ASC X12 holds the rights to the standards' definitions, so none ship; a route declares what
its partner's guide says::

    transaction: "850"
    severity: {default: reject, code_list: warn}
    segments:                          # between ST and SE, in order
      - BEG: {min: 1, max: 1}          # min/max use (default 0 and 1)
      - REF: {max: 12}
      - N1 loop: [N1, N3, N4]          # a loop: its first segment starts each instance
        max: 200
      - PO1 loop: [PO1, {PID: {max: 1000}}, PO4]
        min: 1
        max: 100000
      - CTT loop: [CTT]
    elements:
      BEG:
        BEG01: {type: ID, min: 2, max: 2, mandatory: true}
        BEG05: {type: DT, mandatory: true}
      PO1:
        PO102: {type: R, max: 15}
        PO107: {type: AN, max: 48}
        syntax: [P0607]                # X12 syntax notes: P, R, C, E, L
        max_elements: 25
    codes:
      BEG01: ["00", "05"]
      PO103: [EA, CS, BX]              # only on ID elements

Types: AN, ID, N0..N9 (N: N0; implied decimals), R, DT (CCYYMMDD or YYMMDD), TM (HHMM..).
A rule file is read with every scalar as text (YAML 1.1 would read 00 as 0 and NO as false).
``load`` returns a ``RuleSet`` with the structure as ``edi.directory`` nodes, which
``x12_structure`` compiles into a state machine once per route.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from tradelane.edi.directory import UNBOUNDED, GroupNode, Node, SegmentDef, SegmentNode
from tradelane.errors import ConfigError
from tradelane.paths import beside_mapping

#: rule name -> (IK3 or IK4 level, its 999 code, what it checks); a route sets a severity per
#: rule (``severity:``), reject by default.
RULES: dict[str, tuple[str, str, str]] = {
    "segment_missing": ("segment", "3", "a mandatory segment or loop is missing"),
    "segment_unexpected": ("segment", "2", "a segment of the set where it has no place"),
    "segment_unknown": ("segment", "6", "a segment the set does not have"),
    "segment_repeats": ("segment", "5", "a segment more often than its max use"),
    "loop_repeats": ("segment", "4", "a loop more often than its max"),
    "element_missing": ("element", "1", "a mandatory element is empty"),
    "element_count": ("element", "3", "more elements (3) or components (13) than defined"),
    "too_short": ("element", "4", "a value shorter than its min length"),
    "too_long": ("element", "5", "a value longer than its max length"),
    "representation": ("element", "6", "a value that is not of its type (N, R)"),
    "code_list": ("element", "7", "a code not in the element's code list"),
    "date": ("element", "8", "not a date (CCYYMMDD, YYMMDD)"),
    "time": ("element", "9", "not a time (HHMM, HHMMSS, HHMMSSd..)"),
    "syntax_note": ("element", "2", "a syntax note broken (P, R, C, L: 2; E: 10)"),
}
SEVERITIES = ("reject", "warn", "off")
TYPES = ("AN", "ID", "R", "DT", "TM", *(f"N{k}" for k in range(10)))

_TAG = re.compile(r"^[A-Z0-9]{2,3}$")
_LOOP = re.compile(r"^([A-Z0-9]{1,6}) loop$")
_ELEMENT = re.compile(r"^([A-Z0-9]{2,3}?)(\d{2})(?:-(\d{1,2}))?$")
_NOTE = re.compile(r"^([PRCEL])((?:\d{2}){2,})$")
_TOP = ("description", "transaction", "severity", "segments", "elements", "codes")
_USE = ("min", "max")
_ELEMENT_KEYS = ("type", "min", "max", "mandatory", "number")
_SEGMENT_KEYS = ("syntax", "max_elements")


@dataclass(frozen=True, slots=True)
class ElementRule:
    """One element (or component) of a segment, as the guide defines it."""

    name: str  # PO103, SV101-2
    position: int
    component: int  # 0: the element itself
    type: str  # AN, ID, N, R, DT, TM
    decimals: int  # implied decimals of an N type
    min: int
    max: int  # 0: no maximum
    mandatory: bool
    codes: frozenset[str] | None = None
    number: str = ""  # the data element reference number, for IK402


@dataclass(frozen=True, slots=True)
class SyntaxNote:
    """An X12 syntax note: ``P0102`` paired, ``R0203`` at least one, ``C0405`` conditional,
    ``E0405`` exclusion, ``L040506`` list conditional."""

    kind: str
    positions: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.kind + "".join(f"{p:02d}" for p in self.positions)


@dataclass(frozen=True)
class SegmentRules:
    tag: str
    elements: dict[tuple[int, int], ElementRule] = field(default_factory=dict)
    max_elements: int = 0  # 0: not stated
    notes: tuple[SyntaxNote, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    """A transaction set's rules, as a route uses them. Equal (and cached) by name and content."""

    name: str  # rules/x12_850.yaml, or format.rules for inline rules
    digest: str
    transaction: str = field(compare=False)
    structure: tuple[Node, ...] = field(compare=False)
    segments: dict[str, SegmentRules] = field(compare=False, hash=False)
    severity: dict[str, str] = field(compare=False, hash=False)


class _Text(yaml.SafeLoader):
    """Every scalar is text, except an empty value (null): codes such as 00 or NO stay as
    written. Numbers and true/false are converted where a rule expects them."""


_Text.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


# -- finding and loading ------------------------------------------------------------------------


def resolve(relative: str, base_dir: Path | None) -> Path:
    """The rules file: relative to the mapping file, never outside its folder."""
    return beside_mapping(relative, base_dir, "rules file", "rules/partner_850.yaml")


def route_rules(fmt: Any, base_dir: Path | None) -> RuleSet | None:
    """The rules ``format.rules`` names or holds, loaded and checked; None without any."""
    given = getattr(fmt, "rules", None)
    if not given:
        return None
    transactions = getattr(fmt, "transactions", None)
    if isinstance(given, dict):
        rules = _inline(yaml.safe_dump(given, sort_keys=True).encode())
    else:
        path = resolve(given, base_dir)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{given}: cannot read the rules: {exc.strerror or exc}") from exc
        rules = _parse(given, data)
    if transactions and rules.transaction not in transactions:
        raise ConfigError(f"{rules.name}: transaction: {rules.transaction} is not one of"
                          f" format.transactions ({', '.join(transactions)})")
    return rules


@lru_cache(maxsize=32)
def _parse(name: str, data: bytes) -> RuleSet:
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=_Text)  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{name}: {at}not readable YAML"
                          f" ({getattr(exc, 'problem', None) or exc})") from exc
    return _build(name, data, raw)


@lru_cache(maxsize=32)
def _inline(data: bytes) -> RuleSet:
    """Rules written in the route's ``format.rules`` (as the route's YAML read them: a code
    written 00 without quotes is a number there, and refused)."""
    return _build("format.rules", data, yaml.safe_load(data))


def _build(name: str, data: bytes, raw: Any) -> RuleSet:
    return _Reading(name, hashlib.sha256(data).hexdigest()[:16]).run(raw)


def check_rules(route: Any, label: str, problems: list[str]) -> None:
    """``tradelane check``: the route's segment rules load, each problem at its place."""
    try:
        route_rules(route.format, route.base_dir)
    except ConfigError as exc:
        problems.extend(f"{label}: format.rules: {p}" for p in exc.problems)


# -- reading ------------------------------------------------------------------------------------


class _Reading:
    def __init__(self, name: str, digest: str):
        self.name, self.digest = name, digest
        self.problems: list[str] = []
        self.tags: dict[str, str] = {}  # tag -> where it is declared

    def say(self, where: str, text: str) -> None:
        self.problems.append(f"{self.name}: {where}: {text}")

    def run(self, raw: Any) -> RuleSet:
        if not isinstance(raw, dict):
            raise ConfigError(f"{self.name}: the rules must be a mapping of options"
                              f" ({', '.join(_TOP)})")
        self._keys(raw, _TOP, "(top)")
        transaction = self._transaction(raw.get("transaction"))
        severity = self._severity(raw.get("severity"))
        structure = self._items(raw.get("segments"), "segments", top=True)
        segments = self._elements(raw.get("elements"))
        self._codes(raw.get("codes"), segments)
        if self.problems:
            raise ConfigError(self.problems)
        framed = (SegmentNode(SegmentDef("ST", "transaction set header", ()), 1, 1),
                  *structure,
                  SegmentNode(SegmentDef("SE", "transaction set trailer", ()), 1, 1))
        return RuleSet(self.name, self.digest, transaction, framed, segments, severity)

    def _keys(self, raw: dict[Any, Any], known: tuple[str, ...], where: str) -> None:
        for key in raw:
            if str(key) not in known:
                self.say(where if where != "(top)" else str(key),
                         f"unknown key {key!r}{_hint(str(key), list(known))}"
                         f" (known: {', '.join(known)})")

    def _transaction(self, value: Any) -> str:
        text = "" if value is None else str(value)
        if not re.fullmatch(r"\d{3}", text):
            self.say("transaction", "say which transaction set the rules are for, as its"
                     " three digits (ST01), e.g. \"850\"")
        return text

    def _severity(self, value: Any) -> dict[str, str]:
        out = dict.fromkeys(RULES, "reject")
        if value is None:
            return out
        if not isinstance(value, dict):
            self.say("severity", "a mapping of rule: reject | warn | off (and default)")
            return out
        default = value.get("default", "reject")
        for key, level in value.items():
            where = f"severity.{key}"
            if key != "default" and key not in RULES:
                self.say(where, f"unknown rule{_hint(str(key), list(RULES))} (rules:"
                         f" {', '.join(RULES)})")
            elif level not in SEVERITIES:
                self.say(where, f"{level!r} is not reject, warn or off")
        if default in SEVERITIES:
            out = dict.fromkeys(RULES, default)
        out.update({k: v for k, v in value.items() if k in RULES and v in SEVERITIES})
        return out

    # -- the structure --------------------------------------------------------------------------

    def _items(self, value: Any, where: str, *, top: bool = False) -> tuple[Node, ...]:
        if value is None and top:
            self.say(where, "list the segments of the set between ST and SE, in order")
            return ()
        if not isinstance(value, list) or not value:
            self.say(where, "a list of segments (BEG, {REF: {max: 12}}) and loops"
                     " ({N1 loop: [N1, N3, N4], max: 200})")
            return ()
        out: list[Node] = []
        for k, item in enumerate(value):
            node = self._item(item, f"{where}.{k}")
            if node is not None:
                out.append(node)
        return tuple(out)

    def _item(self, item: Any, where: str) -> Node | None:
        if isinstance(item, str):
            return self._segment(item, None, where)
        if not isinstance(item, dict) or not item:
            self.say(where, f"{item!r} is neither a segment (BEG, or BEG: {{min: 1}}) nor a"
                     " loop (PO1 loop: [PO1, PID])")
            return None
        heads = [k for k in item if str(k) not in _USE]
        loops = [h for h in heads if _LOOP.match(str(h))]
        if len(loops) == 1 and len(heads) > 1:  # a misspelt min or max beside a loop
            for key in heads:
                if key not in loops:
                    self.say(f"{where} ({loops[0]})", f"unknown key {key!r}"
                             f"{_hint(str(key), list(_USE))} (a loop takes min and max)")
            return None
        if len(heads) != 1:
            self.say(where, "one segment or loop per list item (got"
                     f" {', '.join(map(str, heads)) or 'only min/max'})")
            return None
        head = str(heads[0])
        loop = _LOOP.match(head)
        if loop is None:
            if len(item) > 1:
                self.say(where, f"{head}: put min and max inside it ({head}: {{min: 1}})")
            return self._segment(head, item[heads[0]], where)
        here = f"{where} ({head})"
        use = {k: v for k, v in item.items() if k in _USE}
        low, high = self._use(use, here)
        children = self._items(item[heads[0]], here)
        if not children:
            return None
        first = children[0]
        if not isinstance(first, SegmentNode):
            self.say(here, "a loop starts with a segment (its trigger), not a loop")
            return None
        # every instance of a loop starts with its first segment
        children = (SegmentNode(first.segment, 1, first.max_occurs), *children[1:])
        return GroupNode(loop.group(1), low, high, children)

    def _segment(self, tag: str, options: Any, where: str) -> SegmentNode | None:
        if not _TAG.match(tag):
            hint = _hint(tag.replace(" ", ""), [f"{tag.split()[0]} loop"]) if " " in tag else ""
            self.say(where, f"{tag!r} is not a segment tag (2 or 3 upper-case letters or"
                     f" digits) nor a loop ('PO1 loop'){hint}")
            return None
        if tag in ("ST", "SE"):
            self.say(where, "ST and SE frame every set: list the segments between them")
            return None
        if options is None:
            options = {}
        if not isinstance(options, dict):
            self.say(f"{where}.{tag}", "give min and max use, e.g. {min: 1, max: 1}")
            return None
        self._keys(options, _USE, f"{where}.{tag}")
        low, high = self._use(options, f"{where}.{tag}")
        self.tags.setdefault(tag, where)
        return SegmentNode(SegmentDef(tag, tag, ()), low, high)

    def _use(self, options: dict[Any, Any], where: str) -> tuple[int, int]:
        low = self._int(options.get("min", 0), f"{where}.min", lowest=0)
        high_raw = options.get("max", 1)
        if str(high_raw).lower() in (">1", "unbounded"):
            return low, UNBOUNDED
        high = self._int(high_raw, f"{where}.max", lowest=1)
        if high and low > high:
            self.say(where, f"min {low} is above max {high}")
        return low, high

    def _int(self, value: Any, where: str, *, lowest: int) -> int:
        if isinstance(value, bool) or not str(value).isdigit() or int(value) < lowest:
            self.say(where, f"{value!r} is not a whole number of at least {lowest}")
            return lowest
        return int(value)

    # -- elements ------------------------------------------------------------------------------

    def _elements(self, value: Any) -> dict[str, SegmentRules]:
        out: dict[str, SegmentRules] = {}
        if value is None:
            return out
        if not isinstance(value, dict):
            self.say("elements", "a mapping of segment tag to its elements (BEG: {BEG01:"
                     " {type: ID, mandatory: true}})")
            return out
        for tag, rules in value.items():
            where = f"elements.{tag}"
            if tag not in self.tags:
                self.say(where, f"{tag} is not a segment of the set's structure"
                         f"{_hint(str(tag), list(self.tags))}")
                continue
            if not isinstance(rules, dict):
                self.say(where, f"a mapping of {tag}01.. to their rules")
                continue
            out[tag] = self._segment_rules(tag, rules, where)
        return out

    def _segment_rules(self, tag: str, rules: dict[Any, Any], where: str) -> SegmentRules:
        elements: dict[tuple[int, int], ElementRule] = {}
        for key, spec in rules.items():
            if key in _SEGMENT_KEYS:
                continue
            at = f"{where}.{key}"
            place = self._place(str(key), tag, at, rules)
            if place is None:
                continue
            rule = self._element(str(key), place, spec, at)
            if rule is not None:
                elements[place] = rule
        most = self._int(rules.get("max_elements", 0), f"{where}.max_elements", lowest=0)
        for (pos, _comp), rule in elements.items():
            if most and pos > most:
                self.say(f"{where}.{rule.name}", f"is beyond max_elements ({most})")
        for pos in {p for p, c in elements if c}:
            if (pos, 0) in elements:
                self.say(f"{where}.{tag}{pos:02d}", "has rules of its own and of its"
                         " components: give only its components' rules")
        notes = self._notes(rules.get("syntax"), f"{where}.syntax", most)
        return SegmentRules(tag, elements, most, notes)

    def _place(self, key: str, tag: str, where: str, siblings: dict[Any, Any]
               ) -> tuple[int, int] | None:
        match = _ELEMENT.match(key)
        if match is None or match.group(1) != tag:
            known = [*_SEGMENT_KEYS, *(str(k) for k in siblings if str(k) != key)]
            self.say(where, f"{key!r} is not an element of {tag} ({tag}01, {tag}02, ..., or"
                     f" {tag}01-1 for a component) nor {' or '.join(_SEGMENT_KEYS)}"
                     f"{_hint(key, known)}")
            return None
        pos, comp = int(match.group(2)), int(match.group(3) or 0)
        if pos == 0 or (match.group(3) and comp == 0):
            self.say(where, "positions count from 01 (components from 1)")
            return None
        return pos, comp

    def _element(self, name: str, place: tuple[int, int], spec: Any, where: str
                 ) -> ElementRule | None:
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            self.say(where, "give its rules, e.g. {type: AN, min: 1, max: 35, mandatory: true}")
            return None
        self._keys(spec, _ELEMENT_KEYS, where)
        kind = str(spec.get("type", "AN")).upper()
        if kind == "N":
            kind = "N0"
        if kind not in TYPES:
            self.say(f"{where}.type", f"{kind!r} is not an X12 type{_hint(kind, list(TYPES))}"
                     " (AN, ID, N0..N9, R, DT, TM)")
            kind = "AN"
        low = self._int(spec.get("min", 1), f"{where}.min", lowest=1)
        high = self._int(spec.get("max", 0), f"{where}.max", lowest=0)
        if high and low > high:
            self.say(where, f"min {low} is above max {high}")
        if kind == "DT" and not {6, 8} & set(range(low, (high or 8) + 1)):
            self.say(where, "a DT date is 6 (YYMMDD) or 8 (CCYYMMDD) characters long")
        mandatory = spec.get("mandatory", False)
        if str(mandatory).lower() not in ("true", "false"):
            self.say(f"{where}.mandatory", f"{mandatory!r} is not true or false")
        decimals = int(kind[1]) if kind[0] == "N" else 0
        return ElementRule(name, place[0], place[1], "N" if kind[0] == "N" else kind, decimals,
                           low, high, str(mandatory).lower() == "true",
                           number=str(spec.get("number", "") or ""))

    def _notes(self, value: Any, where: str, most: int) -> tuple[SyntaxNote, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.say(where, "a list of syntax notes, e.g. [P0102, R0203]")
            return ()
        out = []
        for k, text in enumerate(value):
            match = _NOTE.match(str(text).strip().upper())
            if match is None:
                self.say(f"{where}.{k}", f"{text!r} is not a syntax note: P (paired), R"
                         " (at least one), C (conditional), E (exclusion) or L (list), then"
                         " two or more 2-digit positions, e.g. P0102")
                continue
            digits = match.group(2)
            positions = tuple(int(digits[i:i + 2]) for i in range(0, len(digits), 2))
            if 0 in positions or len(set(positions)) != len(positions):
                self.say(f"{where}.{k}", f"{text}: positions count from 01, each once")
                continue
            if match.group(1) in "CL" and len(positions) < 2:
                continue
            if most and max(positions) > most:
                self.say(f"{where}.{k}", f"{text}: position {max(positions):02d} is beyond"
                         f" max_elements ({most})")
                continue
            out.append(SyntaxNote(match.group(1), positions))
        return tuple(out)

    def _codes(self, value: Any, segments: dict[str, SegmentRules]) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            self.say("codes", "a mapping of element to its codes, e.g. BEG02: [SA, NE]")
            return
        for key, codes in value.items():
            where = f"codes.{key}"
            match = _ELEMENT.match(str(key))
            tag = match.group(1) if match else ""
            if match is None or tag not in self.tags:
                self.say(where, f"{key!r} is not an element of a segment of the set (BEG02,"
                         f" PO103){_hint(str(key)[:3], list(self.tags))}")
                continue
            if not isinstance(codes, list) or not codes:
                self.say(where, "a list of the codes accepted, e.g. [SA, NE]")
                continue
            bad = [c for c in codes if not isinstance(c, str) or not c.strip()
                   or c != c.strip()]
            if bad:
                self.say(where, f"{bad[0]!r} is not a code: write codes as text, quoted when"
                         " they look like numbers (\"00\")")
                continue
            place = (int(match.group(2)), int(match.group(3) or 0))
            found = segments.setdefault(tag, SegmentRules(tag))
            rule = found.elements.get(place)
            if rule is None:  # a code list alone makes the element an ID
                rule = ElementRule(str(key), *place, "ID", 0, 1, 0, False)
            elif rule.type != "ID":
                self.say(where, f"{key} is of type {rule.type if rule.type != 'N' else 'N'}"
                         f"{rule.decimals if rule.type == 'N' else ''}: a code list needs an"
                         " ID element (type: ID)")
                continue
            found.elements[place] = ElementRule(
                rule.name, rule.position, rule.component, rule.type, rule.decimals, rule.min,
                rule.max, rule.mandatory, frozenset(codes), rule.number)


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""
