"""Implementation guides: a partner's narrowing of a UN/EDIFACT message, as YAML next to the route.

A route names its guide (``format.guide: guides/eancom_invoic.yaml``, relative to the mapping
file and inside the mappings folder). The guide names the message type it narrows and the
directory it rests on (its own ``directory``, or the route's ``format.directory``; an EANCOM
subset such as EAN97 is a directory like any other, so a guide stacks on top of it)::

    message: INVOIC
    directory: EAN97
    segments:
      SG2: {mandatory: true, max: 4}          # a group, by its name
      SG2/NAD:                                # a segment, by its place in the structure
        elements:
          "3035": {codes: [BY, SU, DP, IV]}   # restrict a code list
          C082.3039: {mandatory: true, length: 13}
      SG2/FII: {forbidden: true}
      SG17/QTY: {max: 2}                      # lower a repeat limit

What the guide changes is checked against the directory when it is loaded (``narrow``): a
segment, group, element or code the directory does not have, a repeat limit above the
standard's, or forbidding what the standard makes mandatory is refused, with "did you mean".

The guide is applied as a transformation of the message definition (``narrow`` returns a
``GuidedMessage``), before the state machine and the element checkers are compiled from it:
the hot path is the same, compiled once per (directory, message, guide). The nodes and
elements the guide changed are remembered (``Provenance``), so a violation of a guide rule
says so: its rule is ``guide_<rule>`` (severity: the guide's ``severity``) and its text names
the guide and the place.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from tradelane.edi.directory import (
    UNBOUNDED,
    Codes,
    Component,
    DataElement,
    GroupNode,
    MessageDef,
    Node,
    Position,
    SegmentDef,
    SegmentNode,
    UnknownDirectory,
    load,
)
from tradelane.edi.errors import RULES, DirectoryViolation
from tradelane.edi.options import DirectoryName
from tradelane.errors import ConfigError
from tradelane.paths import beside_mapping
from tradelane.spec._base import Strict

#: A guide's violations carry this prefix before their rule: ``guide_code_list``.
PREFIX = "guide_"
_CODE = re.compile(r"^[^\s]+$")


class _Loader(yaml.SafeLoader):
    """YAML where only true/false are booleans and every other scalar is text: YAML 1.1 reads
    ON (order number), NO (Norway) and Y as booleans, 044 as an octal number and 2.10 as
    2.1, and a guide is full of such codes and element positions."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                              re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_STEP = re.compile(r"^(SG\d+|[A-Z0-9]{3})(?:#(\d+))?$")


class ElementRule(Strict):
    """What a guide says about one data element or component of a segment."""

    mandatory: bool = Field(False, description="The element (or component) must be there;"
                            " a component's composite becomes mandatory with it.")
    forbidden: bool = Field(False, description="The element (or component) must be empty.")
    codes: list[str] | None = Field(
        None, min_length=1, description="The only codes accepted, each one the directory's"
        " code list holds (e.g. [BY, SU, DP, IV] for NAD 3035).")
    length: int | None = Field(None, ge=1, description="Exact length (e.g. 13 for a GLN).")
    min_length: int | None = Field(None, ge=1, description="Shortest accepted length.")
    max_length: int | None = Field(None, ge=1, description="Longest accepted length.")

    @field_validator("codes")
    @classmethod
    def _one_word(cls, value: list[str] | None) -> list[str] | None:
        for code in value or []:
            if not _CODE.match(code):
                raise ValueError(f"{code!r} is not a code (codes have no spaces)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> ElementRule:
        if self.mandatory and self.forbidden:
            raise ValueError("cannot be both mandatory and forbidden")
        if self.forbidden and (self.codes or self.length or self.min_length
                               or self.max_length):
            raise ValueError("a forbidden element has no codes or lengths")
        if self.length and (self.min_length or self.max_length):
            raise ValueError("give length, or min_length/max_length, not both")
        if self.min_length and self.max_length and self.min_length > self.max_length:
            raise ValueError("min_length is above max_length")
        return self

    @property
    def lengths(self) -> tuple[int, int] | None:
        """(min, max) the guide sets; 0 where it says nothing."""
        if self.length:
            return self.length, self.length
        if self.min_length or self.max_length:
            return self.min_length or 0, self.max_length or 0
        return None


class SegmentRule(Strict):
    """What a guide says about one segment or segment group in its place."""

    mandatory: bool = Field(False, description="Conditional in the standard, mandatory here"
                            " (a segment: in every instance of its group).")
    forbidden: bool = Field(False, description="Must not occur (only what the standard makes"
                            " conditional; for a group's first segment, forbid the group).")
    max: int | None = Field(None, ge=1, description="A lower repeat limit than the standard's.")
    elements: dict[str, ElementRule] = Field(
        default_factory=dict, description="Rules per element, by number or position: '3035',"
        " 'C082.3039', '2.1'.")

    @model_validator(mode="after")
    def _coherent(self) -> SegmentRule:
        if self.mandatory and self.forbidden:
            raise ValueError("cannot be both mandatory and forbidden")
        if self.forbidden and (self.max or self.elements):
            raise ValueError("a forbidden segment has no max or elements")
        return self


class GuideSpec(Strict):
    """An implementation guide: one message type, narrowed."""

    description: str = Field("", description="What the guide is, for people.")
    message: str = Field(..., pattern=r"^[A-Z0-9]{6}$", description="The message type it"
                         " narrows (UNH 0065), e.g. INVOIC.")
    directory: DirectoryName | None = Field(
        None, description="The directory or EANCOM subset it narrows (EAN97...); default the"
        " route's format.directory. Messages of its type are validated against it.")
    severity: Literal["reject", "warn", "off"] = Field(
        "reject", description="What a violation of a guide rule does: reject (quarantine),"
        " warn (deliver with a note) or off.")
    segments: dict[str, SegmentRule] = Field(
        default_factory=dict, description="Rules per segment or group, by place: 'BGM',"
        " 'SG2', 'SG2/NAD', 'SG17/SG22/PAC'; 'TAG#2' for the second TAG of the same group.")

    @field_validator("segments", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value  # "segments:" with nothing under it yet


@dataclass(frozen=True)
class Guide:
    """A loaded guide, as a route uses it. Equal (and cached) by name, content and directory."""

    name: str  # as the route names it: "guides/eancom_invoic.yaml"
    digest: str
    directory: str
    spec: GuideSpec = field(compare=False, hash=False)

    @property
    def message(self) -> str:
        return self.spec.message

    def severities(self) -> dict[str, str]:
        """The severity of each guide rule, to merge with the route's."""
        return {PREFIX + rule: self.spec.severity for rule in RULES}

    def narrowed(self) -> GuidedMessage:
        """The guide's message in its directory, narrowed; ConfigError if it does not fit."""
        return narrow(self, load(self.directory, self.message))


# -- finding a guide ------------------------------------------------------------------------------


def resolve(relative: str, base_dir: Path | None) -> Path:
    """The guide's file: relative to the mapping file, never outside its folder."""
    return beside_mapping(relative, base_dir, "guide", "guides/partner_invoic.yaml")


def load_guide(relative: str, base_dir: Path | None, route_directory: str | None = None,
               route_messages: list[str] | None = None) -> Guide:
    """Read, validate and check a route's guide; ConfigError with every problem, each as
    ``guides/x.yaml: segments.SG2/NAD: ...``."""
    path = resolve(relative, base_dir)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{relative}: cannot read the guide: {exc.strerror or exc}") from exc
    guide = _parse(relative, data, route_directory)
    problems = []
    if route_messages and guide.message not in route_messages:
        problems.append(f"{relative}: message: {guide.message} is not one of format.messages"
                        f" ({', '.join(route_messages)})")
    problems.extend(_misfits(guide))
    if problems:
        raise ConfigError(problems)
    return guide


@lru_cache(maxsize=32)
def _misfits(guide: Guide) -> tuple[str, ...]:
    """Where the guide does not fit its directory; checked once per guide content (a route
    loads its guide for every file it reads)."""
    try:
        guide.narrowed()
    except UnknownDirectory as exc:  # the message type: the directory was validated
        return (f"{guide.name}: message: {exc}",)
    except ConfigError as exc:
        return tuple(exc.problems)
    return ()


@lru_cache(maxsize=32)
def _parse(relative: str, data: bytes, route_directory: str | None) -> Guide:
    where = relative
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{where}: {at}not a readable YAML guide"
                          f" ({getattr(exc, 'problem', None) or exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the guide must hold a mapping of options (message,"
                          " directory, segments)")
    try:
        spec = GuideSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([
            f"{where}: {'.'.join(str(p) for p in e['loc']) or '(top)'}:"
            f" {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]) from exc
    directory = spec.directory or (route_directory.upper() if route_directory else None)
    if directory is None:
        raise ConfigError(f"{where}: directory: say which directory the guide narrows"
                          " ('directory: EAN97' in the guide, or format.directory)")
    if spec.directory and route_directory and spec.directory != route_directory.upper():
        raise ConfigError(f"{where}: directory: the guide narrows {spec.directory} but"
                          f" format.directory is {route_directory.upper()}")
    return Guide(relative, hashlib.sha256(data).hexdigest()[:16], directory, spec)


# -- the narrowed message --------------------------------------------------------------------------


@dataclass
class Provenance:
    """What a guide changed, by the narrowed objects' identity, to say so in violations."""

    guide: str
    #: id(node) -> {finding kind ("missing", "repeats", "group_repeats"): what the guide says}
    nodes: dict[int, dict[str, str]] = field(default_factory=dict)
    #: (id(segment node), element position, component or 0) -> {fault kind: what it says}
    elements: dict[tuple[int, int, int], dict[str, str]] = field(default_factory=dict)
    #: tag -> what the guide says, for segments it forbids (a forbidden group: its trigger)
    forbidden: dict[str, str] = field(default_factory=dict)
    #: the keys in ``elements`` whose "code" fault means "must be empty"
    empty: set[tuple[int, int, int]] = field(default_factory=set)
    #: the standard's code list where the guide restricts one: a value outside it breaks the
    #: standard, not (only) the guide, and is reported as the standard's
    standard_codes: dict[tuple[int, int, int], Codes] = field(default_factory=dict)

    def structural(self, violation: DirectoryViolation, node: Node | None,
                   kind: str) -> DirectoryViolation:
        """The violation, marked as the guide's if the guide made the rule it breaks."""
        if kind == "unexpected":
            said = self.forbidden.get(violation.tag)
            if said is None:
                return violation
            return _relabel(violation, f"{violation.tag} is not allowed here: the guide"
                            f" {self.guide} {said}")
        said = self.nodes.get(id(node), {}).get(kind) if node is not None else None
        return violation if said is None else _relabel(
            violation, f"{violation.why}; the guide {self.guide} {said}")

    def element(self, violation: DirectoryViolation, node: Node, kind: str
                ) -> DirectoryViolation:
        key = (id(node), violation.position, violation.component or 0)
        said = self.elements.get(key, {}).get(kind)
        if said is None:
            return violation
        standard = self.standard_codes.get(key)
        if kind == "code" and standard is not None and violation.value not in standard:
            return violation
        if kind == "code" and key in self.empty:
            return _relabel(violation, f"{_place(violation)} must be empty: the guide"
                            f" {self.guide} {said}")
        return _relabel(violation, f"{violation.why}; the guide {self.guide} {said}")


@dataclass(frozen=True, slots=True)
class GuidedMessage(MessageDef):
    """A message definition narrowed by a guide, with what the guide changed."""

    provenance: Provenance = field(default_factory=lambda: Provenance(""), compare=False,
                                   hash=False)


def _relabel(v: DirectoryViolation, why: str) -> DirectoryViolation:
    out = type(v)(why, message=v.message_number, position=v.segment_position, tag=v.tag,
                  element=v.position, component=v.component, value=v.value,
                  data_element=v.data_element, segment_index=v.segment_index,
                  byte_offset=v.byte_offset)
    out.rule = PREFIX + v.rule
    out.issues = [out.issue()]
    return out


def _place(v: DirectoryViolation) -> str:
    return f"{v.tag} {v.data_element}" if v.data_element else v.field_path()


def narrow(guide: Guide, message: MessageDef) -> GuidedMessage:
    """``message`` as ``guide`` narrows it; ConfigError listing every rule that does not fit."""
    return _Narrowing(guide, message).run()


class _Narrowing:
    def __init__(self, guide: Guide, message: MessageDef):
        self.guide = guide
        self.message = message
        self.problems: list[str] = []
        self.prov = Provenance(guide.name)
        self.plan: dict[int, tuple[str, SegmentRule]] = {}  # id(original node) -> rule
        self.codes_of: dict[int, Codes] = {}  # id(what a rule says) -> the standard's codes

    def say(self, where: str, text: str) -> None:
        self.problems.append(f"{self.guide.name}: {where}: {text}")

    def run(self) -> GuidedMessage:
        for address, rule in self.guide.spec.segments.items():
            node = self._find(address)
            if node is None:
                continue
            if id(node) in self.plan:
                self.say(f"segments.{address}", f"the same place as {self.plan[id(node)][0]}")
                continue
            self.plan[id(node)] = (address, rule)
        structure = self._nodes(self.message.structure, forbidden_above=None)
        if self.problems:
            raise ConfigError(self.problems)
        m = self.message
        return GuidedMessage(m.directory, m.base, m.type, m.name, structure, self.prov)

    # -- addresses -------------------------------------------------------------------------------

    def _find(self, address: str) -> Node | None:
        where = f"segments.{address}"
        what = f"{self.message.type} in {self.message.directory}"
        steps = address.strip().upper().split("/")
        container: tuple[Node, ...] = self.message.structure
        inside = "the message level"
        node: Node | None = None
        for k, step in enumerate(steps):
            match = _STEP.match(step)
            if match is None:
                self.say(where, f"{step!r} is neither a segment tag (NAD) nor a group (SG2)")
                return None
            name, nth = match.group(1), int(match.group(2) or 0)
            if k == 0 and name.startswith("SG"):  # group names are unique in a message
                node = self.message.group(name)
                if node is None:
                    groups = [n.name for _, n in self.message.walk()
                              if isinstance(n, GroupNode)]
                    self.say(where, f"{name} is not a group of {what}{_hint(name, groups)}")
                    return None
            else:
                node = self._child(container, name, nth, inside, where, what, k == 0)
                if node is None:
                    return None
            if k < len(steps) - 1:
                if not isinstance(node, GroupNode):
                    self.say(where, f"{name} is a segment; only a group has segments inside")
                    return None
                container, inside = node.children, node.name
        return node

    def _child(self, nodes: tuple[Node, ...], name: str, nth: int, inside: str, where: str,
               what: str, top: bool) -> Node | None:
        found = [n for n in nodes if (n.name if isinstance(n, GroupNode) else n.tag) == name]
        if not found:
            places = [path[-1] + "/" + name if path else name
                      for path, n in self.message.walk()
                      if (n.name if isinstance(n, GroupNode) else n.tag) == name]
            if places:
                self.say(where, f"{name} is not in {inside}; did you mean"
                         f" {', '.join(dict.fromkeys(places[:3]))}?")
            else:
                known = self.message.tags() if top else [
                    n.name if isinstance(n, GroupNode) else n.tag for n in nodes]
                self.say(where, f"{name} is not a segment of {what}{_hint(name, known)}")
            return None
        if nth == 0 and len(found) > 1:
            self.say(where, f"{inside} has {name} {len(found)} times: write {name}#1 ..."
                     f" {name}#{len(found)}")
            return None
        if nth > len(found):
            self.say(where, f"{inside} has {name} {len(found)} time(s); there is no #{nth}")
            return None
        return found[max(nth, 1) - 1]

    # -- the structure ---------------------------------------------------------------------------

    def _nodes(self, nodes: tuple[Node, ...], forbidden_above: str | None) -> tuple[Node, ...]:
        out: list[Node] = []
        for k, node in enumerate(nodes):
            address, rule = self.plan.get(id(node), ("", None))
            if rule is not None and forbidden_above:
                self.say(f"segments.{address}", f"it is inside {forbidden_above}, which the"
                         " guide forbids")
                continue
            if rule is not None and rule.forbidden:
                if self._may_forbid(node, k, address):
                    trigger = node.trigger if isinstance(node, GroupNode) else node.tag
                    self.prov.forbidden[trigger] = f"forbids {address}"
                    if isinstance(node, GroupNode):  # rules inside it are mistakes
                        self._nodes(node.children, address)
                continue
            out.append(self._node(node, address, rule, forbidden_above))
        return tuple(out)

    def _may_forbid(self, node: Node, k: int, address: str) -> bool:
        where = f"segments.{address}.forbidden"
        if k == 0 and isinstance(node, SegmentNode) and "/" in address:
            group = address.rsplit("/", 1)[0]
            self.say(where, f"{node.tag} starts its group: forbid the group ({group}) instead")
            return False
        if node.min_occurs > 0:
            self.say(where, f"{address} is mandatory in {self.message.directory}; a guide can"
                     " only forbid what the standard makes conditional")
            return False
        return True

    def _node(self, node: Node, address: str, rule: SegmentRule | None,
              forbidden_above: str | None) -> Node:
        said: dict[str, str] = {}
        low, high = node.min_occurs, node.max_occurs
        if rule is not None:
            if rule.mandatory and low == 0:
                low = 1
                said["missing"] = f"makes {address} mandatory"
            if rule.max is not None:
                if high != UNBOUNDED and rule.max > high:
                    self.say(f"segments.{address}.max", f"{rule.max} is above the standard's"
                             f" limit of {high} for {address} in {self.message.directory}")
                elif high == UNBOUNDED or rule.max < high:
                    high = rule.max
                    kind = "group_repeats" if isinstance(node, GroupNode) else "repeats"
                    said[kind] = f"allows {address} at most {rule.max} times"
        if isinstance(node, GroupNode):
            if rule is not None and rule.elements:
                self.say(f"segments.{address}.elements", f"{address} is a group: name a"
                         f" segment in it, e.g. {address}/{node.trigger}")
            new: Node = GroupNode(node.name, low, high,
                                  self._nodes(node.children, forbidden_above))
        else:
            segment = node.segment
            elements: dict[tuple[int, int], dict[str, str]] = {}
            empty: set[tuple[int, int]] = set()
            if rule is not None and rule.elements:
                segment = self._segment(segment, address, rule.elements, elements, empty)
            new = SegmentNode(segment, low, high)
            for (pos, comp), kinds in elements.items():
                self.prov.elements[(id(new), pos, comp)] = kinds
                if id(kinds) in self.codes_of:
                    self.prov.standard_codes[(id(new), pos, comp)] = self.codes_of[id(kinds)]
            self.prov.empty |= {(id(new), pos, comp) for pos, comp in empty}
        if said:
            self.prov.nodes[id(new)] = said
        return new

    # -- elements ------------------------------------------------------------------------------

    def _segment(self, segment: SegmentDef, address: str, rules: dict[str, ElementRule],
                 said: dict[tuple[int, int], dict[str, str]],
                 empty: set[tuple[int, int]]) -> SegmentDef:
        positions = list(segment.positions)
        for key, rule in rules.items():
            where = f"segments.{address}.elements.{key}"
            target = self._element_at(segment, key, where)
            if target is None:
                continue
            pos_no, comp_no = target
            pos = positions[pos_no - 1]
            name = f"{address} {key}"
            if comp_no == 0:
                positions[pos_no - 1] = self._position(pos, rule, name, where, said, empty)
            else:
                assert pos.composite is not None
                parts = list(pos.composite.components)
                part = parts[comp_no - 1]
                element = part.element
                mandatory = part.mandatory
                if rule.mandatory:
                    if not part.mandatory:
                        said.setdefault((pos_no, comp_no), {})["missing"] = \
                            f"makes {name} mandatory"
                    mandatory = True
                    if not pos.mandatory:  # the component needs its composite
                        said.setdefault((pos_no, 0), {})["missing"] = f"makes {name} mandatory"
                        pos = replace(pos, mandatory=True)
                if rule.forbidden:
                    if part.mandatory:
                        self.say(where, f"{key} is mandatory in {self.message.directory}"
                                 f" whenever {pos.number} is there: forbid {pos.number}")
                        continue
                    element = _empty(element)
                    said.setdefault((pos_no, comp_no), {})["code"] = f"forbids {name}"
                    empty.add((pos_no, comp_no))
                element = self._value(element, rule, name, where,
                                      said.setdefault((pos_no, comp_no), {}))
                parts[comp_no - 1] = Component(element, mandatory)
                positions[pos_no - 1] = replace(
                    pos, composite=replace(pos.composite, components=tuple(parts)))
        return replace(segment, positions=tuple(positions))

    def _position(self, pos: Position, rule: ElementRule, name: str, where: str,
                  said: dict[tuple[int, int], dict[str, str]],
                  empty: set[tuple[int, int]]) -> Position:
        here = said.setdefault((pos.position, 0), {})
        if rule.mandatory and not pos.mandatory:
            pos = replace(pos, mandatory=True)
            here["missing"] = f"makes {name} mandatory"
        if rule.forbidden:
            if pos.mandatory:
                self.say(where, f"{pos.number} is mandatory in {self.message.directory}")
                return pos
            if pos.composite is not None:
                parts = tuple(Component(_empty(c.element), c.mandatory)
                              for c in pos.composite.components)
                for k in range(1, len(parts) + 1):
                    said.setdefault((pos.position, k), {})["code"] = f"forbids {name}"
                    empty.add((pos.position, k))
                return replace(pos, composite=replace(pos.composite, components=parts))
            here["code"] = f"forbids {name}"
            empty.add((pos.position, 0))
            return replace(pos, element=_empty(pos.element))  # type: ignore[arg-type]
        if rule.codes or rule.lengths:
            if pos.composite is not None:
                self.say(where, f"{pos.number} is a composite: name one of its components,"
                         f" e.g. {pos.number}.{pos.composite.components[0].element.number}")
                return pos
            assert pos.element is not None
            pos = replace(pos, element=self._value(pos.element, rule, name, where, here))
        return pos

    def _value(self, el: DataElement, rule: ElementRule, name: str, where: str,
               said: dict[str, str]) -> DataElement:
        if rule.codes:
            if el.codes is not None:
                self.codes_of[id(said)] = el.codes
                known = el.codes
                for code in rule.codes:
                    if code not in known:
                        self.say(f"{where}.codes", f"{code!r} is not a code of {el.number}"
                                 f" ({el.name}) in {self.message.directory}"
                                 f"{_hint(code, sorted(known))}")
            el = replace(el, codes=Codes(" ".join(rule.codes)))
            said["code"] = f"allows only {', '.join(rule.codes)} in {name}"
        lengths = rule.lengths
        if lengths:
            if el.codes is not None and not rule.codes:
                self.say(where, f"{el.number} is coded: restrict its codes instead of its"
                         " length")
                return el
            low, high = lengths
            if el.max_length and max(low, high) > el.max_length:
                self.say(where, f"{max(low, high)} is above the standard's maximum length"
                         f" of {el.max_length} for {el.number} ({el.name})")
                return el
            if low and el.min_length and low < el.min_length:
                self.say(where, f"{low} is below the standard's minimum length of"
                         f" {el.min_length} for {el.number} ({el.name})")
                return el
            new_low, new_high = low or el.min_length, high or el.max_length
            text = f"{new_low}" if new_low == new_high else f"{new_low or 1}..{new_high}"
            el = replace(el, min_length=new_low, max_length=new_high)
            said["long"] = said["short"] = f"sets the length of {name} to {text}"
        return el

    def _element_at(self, segment: SegmentDef, key: str, where: str
                    ) -> tuple[int, int] | None:
        """(element position, component position or 0) that ``key`` names."""
        parts = key.strip().upper().split(".")
        if len(parts) > 2 or not all(parts):
            self.say(where, "name an element as '3035', 'C082.3039', '2' or '2.1'")
            return None
        positions = segment.positions
        pos_no = _pick(parts[0], [p.number for p in positions],
                       lambda why: self.say(where, f"{segment.tag}: {why}"))
        if pos_no is None:
            return None
        if len(parts) == 1:
            return pos_no, 0
        pos = positions[pos_no - 1]
        if pos.composite is None:
            self.say(where, f"{segment.tag} {pos.number} is a simple element; it has no"
                     " components")
            return None
        comp_no = _pick(parts[1], [c.element.number for c in pos.composite.components],
                        lambda why: self.say(where, f"{segment.tag} {pos.number}: {why}"))
        return None if comp_no is None else (pos_no, comp_no)


def _pick(step: str, numbers: list[str], say: Any) -> int | None:
    """The 1-based place of ``step`` (a position like '2' or a number like 'C082')."""
    if step.isdigit() and len(step) <= 2:
        n = int(step)
        if not 1 <= n <= len(numbers):
            say(f"there is no position {n}; it has {len(numbers)}")
            return None
        return n
    places = [k for k, number in enumerate(numbers, start=1) if number == step]
    if not places:
        say(f"{step} is not one of its elements ({', '.join(numbers)})"
            f"{_hint(step, numbers)}")
        return None
    if len(places) > 1:
        say(f"{step} is at positions {', '.join(map(str, places))}: give the position")
        return None
    return places[0]


def _empty(el: DataElement) -> DataElement:
    """An element no value fits: its only code is the empty text, which is never checked."""
    return replace(el, codes=Codes(""))


def _hint(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def route_guide(fmt: Any, base_dir: Path | None) -> Guide | None:
    """The guide a route's format names, loaded and checked; None without one."""
    relative = getattr(fmt, "guide", None)
    if not relative:
        return None
    return load_guide(relative, base_dir, getattr(fmt, "directory", None),
                      getattr(fmt, "messages", None))


def check_guide(route: Any, label: str, problems: list[str]) -> None:
    """``tradelane check``: the route's guide loads and fits its directory."""
    try:
        route_guide(route.format, route.base_dir)
    except UnknownDirectory as exc:
        problems.append(f"{label}: format.guide: {exc}")
    except ConfigError as exc:
        problems.extend(f"{label}: format.guide: {p}" for p in exc.problems)
